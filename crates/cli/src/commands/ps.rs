//! `berth ps`: `GET /containers/json`, rendered with docker's container formatter.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use super::{print, Ctx};
use crate::args::PsArgs;
use crate::client::Query;
use crate::error::StatusError;
use crate::format::{ago, ellipsis, go_quote, go_time_string, short_id, ListFormat};

/// Template fields of the container formatter.
pub const FIELDS: [&str; 14] = [
    "ID",
    "Image",
    "Command",
    "CreatedAt",
    "RunningFor",
    "Ports",
    "State",
    "Status",
    "Size",
    "Names",
    "Labels",
    "Mounts",
    "Networks",
    "LocalVolumes",
];

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

fn headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
        "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
    })
}

/// `berth ps`.
pub async fn ps(ctx: &Ctx, args: PsArgs) -> anyhow::Result<i32> {
    let filters = crate::opts::filters_json(&args.filter).map_err(|e| StatusError::new(125, e))?;
    let format = ListFormat::choose(
        args.format.as_deref(),
        args.quiet.then_some("{{.ID}}"),
        DEFAULT_TABLE,
    );
    let client = ctx.client().await?;
    let mut q = Query::new();
    q.flag("all", args.all);
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    if limit > 0 {
        q.add("limit", limit.to_string());
    }
    if let Some(f) = filters {
        q.add("filters", f);
    }
    let list: Vec<Value> = client.get_json("/containers/json", &q).await?;
    let now = SystemTime::now();
    let rows: Vec<Value> = list.iter().map(|c| row(c, !args.no_trunc, now)).collect();
    print(&format.render(&FIELDS, &headers(), &rows)?)?;
    Ok(0)
}

/// One container summary as the formatter's string fields.
pub fn row(c: &Value, trunc: bool, now: SystemTime) -> Value {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let id = s(&c["Id"]);
    let mut image = s(&c["Image"]);
    if trunc {
        if image.starts_with("sha256:") {
            image = short_id(&image);
        } else if let Some((name, _)) = image.split_once('@') {
            image = name.to_string();
        }
    }
    let command = s(&c["Command"]);
    let names: Vec<String> = c["Names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.strip_prefix('/').unwrap_or(n).to_string())
                .filter(|n| !trunc || !n.contains('/'))
                .collect()
        })
        .unwrap_or_default();
    let created = c["Created"].as_i64().unwrap_or(0);
    let labels = c["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let networks = c["NetworkSettings"]["Networks"]
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    let mounts = c["Mounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    let name = m["Name"].as_str().filter(|n| !n.is_empty());
                    let src = name.or(m["Source"].as_str()).unwrap_or_default();
                    if trunc {
                        ellipsis(src, 15)
                    } else {
                        src.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let size = match (c["SizeRw"].as_i64(), c["SizeRootFs"].as_i64()) {
        (Some(rw), Some(rootfs)) => format!(
            "{} (virtual {})",
            crate::format::human_size(rw as f64, 3),
            crate::format::human_size(rootfs as f64, 3)
        ),
        _ => String::new(),
    };
    let mut m = Map::new();
    m.insert("ID".into(), (if trunc { short_id(&id) } else { id }).into());
    m.insert("Image".into(), image.into());
    m.insert(
        "Command".into(),
        go_quote(&if trunc {
            ellipsis(&command, 20)
        } else {
            command
        })
        .into(),
    );
    m.insert("CreatedAt".into(), go_time_string(created).into());
    m.insert("RunningFor".into(), ago(created, now).into());
    m.insert("Ports".into(), ports(&c["Ports"]).into());
    m.insert("State".into(), s(&c["State"]).into());
    m.insert("Status".into(), s(&c["Status"]).into());
    m.insert("Size".into(), size.into());
    m.insert("Names".into(), names.join(",").into());
    m.insert("Labels".into(), labels.into());
    m.insert("Mounts".into(), mounts.into());
    m.insert("Networks".into(), networks.into());
    m.insert("LocalVolumes".into(), "0".into());
    Value::Object(m)
}

/// docker's port column: `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp`, or `80/tcp` when unpublished.
pub fn ports(ports: &Value) -> String {
    let Some(list) = ports.as_array() else {
        return String::new();
    };
    let mut out = Vec::new();
    for p in list {
        let private = p["PrivatePort"].as_u64().unwrap_or(0);
        let kind = p["Type"].as_str().unwrap_or("tcp");
        let entry = match (p["IP"].as_str(), p["PublicPort"].as_u64()) {
            (Some(ip), Some(public)) if public != 0 => {
                let ip = if ip.contains(':') {
                    format!("[{ip}]")
                } else {
                    ip.to_string()
                };
                format!("{ip}:{public}->{private}/{kind}")
            }
            _ => format!("{private}/{kind}"),
        };
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn summary_renders_like_docker_ps() {
        let c = json!({"Id":"cc13eb82962b840ac98a1d70569631b6ee243029e89c6f9c14eb09ea0523e676",
            "Names":["/exited"],"Image":"busybox","Command":"sh -c 'echo out; echo err >&2; exit 3'",
            "Created":1000,"Ports":[],"Labels":{},"State":"exited","Status":"Exited (3) 2 seconds ago"});
        let now = UNIX_EPOCH + Duration::from_secs(1005);
        let r = row(&c, true, now);
        let out = ListFormat::choose(None, None, DEFAULT_TABLE)
            .render(&FIELDS, &headers(), &[r])
            .unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS                     PORTS     NAMES\n\
             cc13eb82962b   busybox   \"sh -c 'echo out; ec…\"   5 seconds ago   Exited (3) 2 seconds ago             exited\n"
        );
    }

    #[test]
    fn published_ports() {
        let p = json!([{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
                       {"IP":"::","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
                       {"PrivatePort":53,"Type":"udp"}]);
        assert_eq!(ports(&p), "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 53/udp");
    }
}
