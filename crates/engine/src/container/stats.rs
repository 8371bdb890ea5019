//! `top` and `stats`: the container's processes and resource usage. The shim reads the
//! container's cgroup (v1 or v2, `api::shim::Request::Stats`); the daemon adds what the host
//! knows (`/proc/<pid>` for `top`'s columns, `/proc/stat` for the system CPU time, the init's
//! `/proc/<pid>/net/dev` for its network namespace) and renders Docker's JSON.

use std::time::SystemTime;

use api::shim::{CgroupStats, Request};
use serde_json::{json, Value};

use super::{Container, Engine};
use crate::error::EngineError;
use crate::shim_client;

/// Kernel clock ticks per second (`USER_HZ`).
const HZ: u64 = 100;

/// One stats sample: the JSON's `cpu_stats` is kept to become the next sample's
/// `precpu_stats`.
#[derive(Debug, Clone)]
pub struct StatsSample {
    /// Docker's stats object.
    pub json: Value,
    read: String,
    cpu: Value,
}

impl Engine {
    /// The cgroup's usage and the init's pid, from the shim. A container that is not running
    /// is a 409 (`Container <id> is not running`).
    async fn cgroup_stats(&self, c: &Container) -> Result<(i32, CgroupStats), EngineError> {
        if !c.status().is_running() {
            return Err(EngineError::NotRunning(c.id.to_string()));
        }
        let sock = self.paths.shim_socket(c.id.as_str());
        let resp = shim_client::request(&sock, &Request::Stats)
            .await
            .map_err(|e| EngineError::Shim {
                id: c.id.to_string(),
                message: e.to_string(),
            })?;
        match (resp.ok, resp.stats) {
            (true, Some(s)) => Ok((resp.pid.unwrap_or(0), s)),
            _ => Err(EngineError::NotRunning(c.id.to_string())),
        }
    }

    /// `GET /containers/{id}/top`: Docker's `ps -ef` columns from `/proc` for the pids in the
    /// container's cgroup, or the host's `ps` with `ps_args`, filtered to those pids.
    pub async fn top(&self, name_or_id: &str, ps_args: Option<&str>) -> Result<Value, EngineError> {
        let c = self.get(name_or_id)?;
        let (_, stats) = self.cgroup_stats(&c).await?;
        let mut pids = stats.pids;
        pids.sort_unstable();
        match ps_args.map(str::trim).filter(|a| !a.is_empty()) {
            None => Ok(top_from_proc(&pids)),
            Some(args) => top_from_ps(args, &pids).await,
        }
    }

    /// One stats sample of a container; `prev` fills `precpu_stats` and `preread`. A container
    /// that is not running gives Docker's zero sample.
    pub async fn stats_sample(&self, c: &Container, prev: Option<&StatsSample>) -> StatsSample {
        let read = api::time::rfc3339_nano(SystemTime::now());
        let rec = c.record();
        let (pid, s): (i32, CgroupStats) = self.cgroup_stats(c).await.unwrap_or_default();
        let running = pid > 0;
        let (system, cpus, mem_total) = host_cpu_and_memory();
        let cpu = if running {
            let mut usage = json!({
                "total_usage": s.cpu_total,
                "usage_in_kernelmode": s.cpu_system,
                "usage_in_usermode": s.cpu_user,
            });
            if !s.cpu_percpu.is_empty() {
                usage["percpu_usage"] = json!(s.cpu_percpu);
            }
            json!({
                "cpu_usage": usage,
                "system_cpu_usage": system,
                "online_cpus": cpus,
                "throttling_data": {
                    "periods": s.throttling[0],
                    "throttled_periods": s.throttling[1],
                    "throttled_time": s.throttling[2],
                },
            })
        } else {
            json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                   "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}})
        };
        let precpu = prev.map(|p| p.cpu.clone()).unwrap_or_else(|| {
            json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                   "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}})
        });
        let limit = if s.memory_limit == 0 || s.memory_limit > mem_total {
            mem_total
        } else {
            s.memory_limit
        };
        let memory = if running {
            let mut m = json!({
                "usage": s.memory_usage,
                "stats": s.memory_stat,
                "limit": limit,
            });
            if s.memory_max_usage > 0 {
                m["max_usage"] = json!(s.memory_max_usage);
            }
            m
        } else {
            json!({})
        };
        let io: Vec<Value> = s
            .io_bytes
            .iter()
            .map(|(major, minor, op, value)| {
                json!({"major": major, "minor": minor, "op": op, "value": value})
            })
            .collect();
        let mut out = json!({
            "read": read,
            "preread": prev.map(|p| p.read.clone()).unwrap_or_else(|| api::time::ZERO_TIME.to_string()),
            "pids_stats": if running { json!({"current": s.pids_current, "limit": s.pids_limit}) } else { json!({}) },
            "blkio_stats": {
                "io_service_bytes_recursive": if io.is_empty() { Value::Null } else { json!(io) },
                "io_serviced_recursive": null,
                "io_queue_recursive": null,
                "io_service_time_recursive": null,
                "io_wait_time_recursive": null,
                "io_merged_recursive": null,
                "io_time_recursive": null,
                "sectors_recursive": null,
            },
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": cpu,
            "precpu_stats": precpu,
            "memory_stats": memory,
            "name": format!("/{}", rec.name),
            "id": rec.id,
        });
        if running {
            let nets = networks(pid);
            if !nets.is_empty() {
                out["networks"] = Value::Object(nets);
            }
        }
        StatsSample {
            json: out,
            read,
            cpu,
        }
    }
}

/// (system CPU time in ns, online CPUs, total memory in bytes) of the host.
fn host_cpu_and_memory() -> (u64, usize, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut system = 0;
    let mut cpus = 0;
    for line in stat.lines() {
        if let Some(rest) = line.strip_prefix("cpu ") {
            // user nice system idle iowait irq softirq steal (guest time is inside user).
            let ticks: u64 = rest
                .split_whitespace()
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum();
            system = ticks * (1_000_000_000 / HZ);
        } else if line.starts_with("cpu") {
            cpus += 1;
        }
    }
    let mem = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    (system, cpus.max(1), mem)
}

/// Interfaces of the init's network namespace except `lo`, in Docker's shape.
fn networks(pid: i32) -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({
                "rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11],
            }),
        );
    }
    out
}

/// What `top` shows of one process, from `/proc/<pid>`.
struct ProcInfo {
    uid: u32,
    ppid: i32,
    tty: String,
    cpu_ticks: u64,
    start_ticks: u64,
    cmd: String,
}

fn proc_info(pid: i32) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Some(ProcInfo {
        uid,
        ppid: num(1) as i32,
        tty: tty_name(num(4)),
        cpu_ticks: num(11) + num(12),
        start_ticks: num(19),
        cmd: if cmd.is_empty() {
            format!("[{comm}]")
        } else {
            cmd
        },
    })
}

/// `ps`'s TTY column for a `tty_nr`.
fn tty_name(tty_nr: u64) -> String {
    if tty_nr == 0 {
        return "?".into();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => "?".into(),
    }
}

/// User names of the host's `/etc/passwd` (ps shows host names).
fn user_name(uid: u32, passwd: &str) -> String {
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

fn top_from_proc(pids: &[i32]) -> Value {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let btime: u64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let today = &api::time::rfc3339_nano(SystemTime::now())[..10];
    let mut rows = Vec::new();
    for &pid in pids {
        let Some(p) = proc_info(pid) else { continue };
        let start = btime + p.start_ticks / HZ;
        let elapsed = now.saturating_sub(start).max(1);
        let c = p.cpu_ticks * 100 / HZ / elapsed;
        let started =
            api::time::rfc3339_nano(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(start));
        let stime = if &started[..10] == today {
            started[11..16].to_string()
        } else {
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let month: usize = started[5..7].parse().unwrap_or(1);
            format!("{}{}", MONTHS[(month - 1) % 12], &started[8..10])
        };
        let secs = p.cpu_ticks / HZ;
        rows.push(vec![
            user_name(p.uid, &passwd),
            pid.to_string(),
            p.ppid.to_string(),
            c.to_string(),
            stime,
            p.tty,
            format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
            p.cmd,
        ]);
    }
    json!({
        "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "Processes": rows,
    })
}

/// Runs the host's `ps` with the user's options and keeps the container's rows (Docker's
/// approach): the `PID` column picks the rows, the last column keeps its spaces.
async fn top_from_ps(args: &str, pids: &[i32]) -> Result<Value, EngineError> {
    let out = tokio::process::Command::new("ps")
        .args(args.split_whitespace())
        .output()
        .await
        .map_err(EngineError::io("run ps"))?;
    if !out.status.success() {
        return Err(EngineError::Invalid(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    let Some(pid_col) = titles.iter().position(|t| t == "PID") else {
        return Err(EngineError::Invalid(
            "Couldn't find PID field in ps output".into(),
        ));
    };
    let mut rows = Vec::new();
    for line in lines {
        let mut fields: Vec<String> = Vec::new();
        let mut rest = line.trim_start();
        while fields.len() + 1 < titles.len() && !rest.is_empty() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
        if !rest.is_empty() {
            fields.push(rest.to_string());
        }
        let pid: Option<i32> = fields.get(pid_col).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            rows.push(fields);
        }
    }
    Ok(json!({"Titles": titles, "Processes": rows}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tty_names_like_ps() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((136 << 8) | 3), "pts/3");
        assert_eq!(tty_name((4 << 8) | 1), "tty1");
    }

    #[test]
    fn host_user_names() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
        assert_eq!(user_name(0, passwd), "root");
        assert_eq!(user_name(65534, passwd), "nobody");
        assert_eq!(user_name(42, passwd), "42");
    }

    #[test]
    fn top_of_this_process() {
        let v = top_from_proc(&[std::process::id() as i32]);
        let row = &v["Processes"][0];
        assert_eq!(row[1], std::process::id().to_string());
        assert_eq!(v["Titles"].as_array().unwrap().len(), 8);
    }
}
