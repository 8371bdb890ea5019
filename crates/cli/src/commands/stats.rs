//! `top` and `stats`, rendered like docker's CLI.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{print, Ctx};
use crate::args::{StatsArgs, TopArgs};
use crate::client::{empty_body, next_chunk, Client, ClientError, Query};
use crate::format::{bytes_size, human_size, tabwrite};

/// `berth top`: docker prints it with a tabwriter of minimum width 20 and padding 3.
pub async fn top(ctx: &Ctx, args: TopArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let mut q = Query::new();
    if !args.ps_args.is_empty() {
        q.add("ps_args", args.ps_args.join(" "));
    }
    let v: Value = client
        .get_json(&format!("/containers/{}/top", args.container), &q)
        .await?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut rows = vec![strings(&v["Titles"])];
    for p in v["Processes"].as_array().into_iter().flatten() {
        rows.push(strings(p));
    }
    print(&pad_table(&rows, 20))?;
    Ok(0)
}

/// Go's `tabwriter.NewWriter(w, min, 1, 3, ' ', 0)` over rows; every line ends with a newline.
fn pad_table(rows: &[Vec<String>], min: usize) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            if widths.len() <= i {
                widths.resize(i + 1, 0);
            }
            widths[i] = widths[i].max((c.chars().count() + 3).max(min));
        }
    }
    let mut out = String::new();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                out.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// One row of the stats table.
fn stats_row(v: &Value, no_trunc: bool) -> String {
    let u = |p: &Value| p.as_u64().unwrap_or(0) as f64;
    let id = v["id"].as_str().unwrap_or_default();
    let id = if no_trunc {
        id
    } else {
        &id[..id.len().min(12)]
    };
    let name = v["name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/');
    let cpu = &v["cpu_stats"];
    let pre = &v["precpu_stats"];
    let cpu_delta = u(&cpu["cpu_usage"]["total_usage"]) - u(&pre["cpu_usage"]["total_usage"]);
    let sys_delta = u(&cpu["system_cpu_usage"]) - u(&pre["system_cpu_usage"]);
    let cpus = match u(&cpu["online_cpus"]) {
        0.0 => cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(1.0, |a| a.len().max(1) as f64),
        n => n,
    };
    let cpu_pct = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * cpus * 100.0
    } else {
        0.0
    };
    let mem = &v["memory_stats"];
    let usage = u(&mem["usage"]);
    let inactive = mem["stats"]
        .get("total_inactive_file")
        .or_else(|| mem["stats"].get("inactive_file"))
        .map(u)
        .unwrap_or(0.0);
    let used = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    let limit = u(&mem["limit"]);
    let mem_pct = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = v["networks"].as_object() {
        for n in nets.values() {
            rx += u(&n["rx_bytes"]);
            tx += u(&n["tx_bytes"]);
        }
    }
    let (mut read, mut write) = (0.0, 0.0);
    for e in v["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match e["op"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "read" => read += u(&e["value"]),
            "write" => write += u(&e["value"]),
            _ => {}
        }
    }
    format!(
        "{id}\t{name}\t{cpu_pct:.2}%\t{} / {}\t{mem_pct:.2}%\t{} / {}\t{} / {}\t{}",
        bytes_size(used),
        bytes_size(limit),
        human_size(rx, 3),
        human_size(tx, 3),
        human_size(read, 3),
        human_size(write, 3),
        v["pids_stats"]["current"].as_u64().unwrap_or(0)
    )
}

const HEADER: &str =
    "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS";

fn table(rows: &[String]) -> String {
    let mut text = String::from(HEADER);
    for r in rows {
        text.push('\n');
        text.push_str(r);
    }
    tabwrite(&text) + "\n"
}

/// The containers to show: those named, or every running one (`-a`: every one).
async fn targets(client: &Client, args: &StatsArgs) -> Result<Vec<String>, ClientError> {
    if !args.containers.is_empty() {
        return Ok(args.containers.clone());
    }
    let mut q = Query::new();
    q.flag("all", args.all);
    let list: Vec<Value> = client.get_json("/containers/json", &q).await?;
    Ok(list
        .iter()
        .filter_map(|c| c["Id"].as_str().map(|s| s[..s.len().min(12)].to_string()))
        .collect())
}

/// `berth stats`: one sample per container with `--no-stream`, else a table redrawn every
/// second from one streaming request per container.
pub async fn stats(ctx: &Ctx, args: StatsArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let names = targets(&client, &args).await?;
    if args.no_stream {
        let mut tasks = Vec::new();
        for n in &names {
            let client = client.clone();
            let path = format!("/containers/{n}/stats");
            tasks.push(tokio::spawn(async move {
                let mut q = Query::new();
                q.add("stream", "0");
                client.get_json::<Value>(&path, &q).await
            }));
        }
        let mut rows = Vec::new();
        let mut failed = false;
        for t in tasks {
            match t.await? {
                Ok(v) => rows.push(stats_row(&v, args.no_trunc)),
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                }
            }
        }
        print(&table(&rows))?;
        return Ok(if failed { 1 } else { 0 });
    }
    let latest: Arc<Mutex<BTreeMap<usize, String>>> = Arc::default();
    for (i, n) in names.iter().enumerate() {
        let client = client.clone();
        let latest = latest.clone();
        let path = format!("/containers/{n}/stats");
        let no_trunc = args.no_trunc;
        tokio::spawn(async move {
            let mut q = Query::new();
            q.add("stream", "1");
            let Ok(resp) = client
                .request(hyper::Method::GET, &path, &q, empty_body(), &[])
                .await
            else {
                return;
            };
            let mut body = resp.into_body();
            let mut buf = Vec::new();
            while let Ok(Some(chunk)) = next_chunk(&mut body).await {
                buf.extend_from_slice(&chunk);
                while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&line) {
                        latest
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(i, stats_row(&v, no_trunc));
                    }
                }
            }
        });
    }
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let rows: Vec<String> = latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        print(&format!("\x1b[2J\x1b[H{}", table(&rows)))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_like_dockers() {
        let v = serde_json::json!({
            "id": "7bf3324de13e315a3219ae96c0ade51f73690d14fdcd74b1c5b414a6e808fe5b",
            "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000u64}, "system_cpu_usage": 1_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000u64}, "system_cpu_usage": 900_000_000u64},
            "memory_stats": {"usage": 2_097_152u64, "limit": 1_073_741_824u64, "stats": {"total_inactive_file": 1_048_576u64}},
            "pids_stats": {"current": 2},
            "blkio_stats": {"io_service_bytes_recursive": null},
        });
        assert_eq!(
            stats_row(&v, false),
            "7bf3324de13e\tweb\t2.00%\t1MiB / 1GiB\t0.10%\t0B / 0B\t0B / 0B\t2"
        );
    }

    #[test]
    fn top_pads_to_twenty() {
        let rows = vec![
            vec!["UID".to_string(), "CMD".to_string()],
            vec!["root".to_string(), "sleep 1".to_string()],
        ];
        assert_eq!(
            pad_table(&rows, 20),
            format!("UID{}CMD\nroot{}sleep 1\n", " ".repeat(17), " ".repeat(16))
        );
    }
}
