//! Docker's JSON views of a container: `inspect` (`GET /containers/{id}/json`) and the list
//! entries of `ps` (`GET /containers/json`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{json, Value};

use super::record::{Record, Status};
use super::{Container, Engine};

/// Options of `GET /containers/json`.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Include stopped containers.
    pub all: bool,
    /// Docker's filters: key -> accepted values.
    pub filters: BTreeMap<String, Vec<String>>,
    /// Only the N most recent (0 = no limit).
    pub limit: usize,
}

impl Engine {
    /// `inspect` of one container.
    pub fn inspect(&self, c: &Container) -> Value {
        let r = c.record();
        let s = &r.state;
        let data_dir = self.paths.data_dir(&r.id);
        let network_settings = self.network_settings(&r);
        let exec_ids = Some(self.exec_ids(&r.id)).filter(|v| !v.is_empty());
        json!({
            "Id": r.id,
            "Created": r.created,
            "Path": r.path,
            "Args": r.args,
            "State": {
                "Status": s.status.as_str(),
                "Running": s.status.is_running(),
                "Paused": s.status == Status::Paused,
                "Restarting": s.status == Status::Restarting,
                "OOMKilled": s.oom_killed,
                "Dead": s.status == Status::Dead,
                "Pid": s.pid,
                "ExitCode": s.exit_code,
                "Error": s.error,
                "StartedAt": s.started_at.clone().unwrap_or_else(|| api::time::ZERO_TIME.into()),
                "FinishedAt": s.finished_at.clone().unwrap_or_else(|| api::time::ZERO_TIME.into()),
                "Health": s.health,
            },
            "Image": r.image,
            "ResolvConfPath": data_dir.join("resolv.conf"),
            "HostnamePath": data_dir.join("hostname"),
            "HostsPath": data_dir.join("hosts"),
            "LogPath": self.paths.log_path(&r.id),
            "Name": format!("/{}", r.name),
            "RestartCount": r.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": exec_ids,
            "HostConfig": r.host_config,
            "GraphDriver": {"Name": "overlay2", "Data": null},
            "Mounts": self.mounts_json(&r.mount_points),
            "Config": r.config,
            "NetworkSettings": network_settings,
        })
    }

    /// The entries of `ps`, newest first.
    pub fn list(&self, opts: &ListOptions) -> Vec<Value> {
        let mut all = self.all();
        all.reverse();
        let now = SystemTime::now();
        let mut out: Vec<Value> = all
            .iter()
            .map(|c| c.record())
            .filter(|r| opts.all || r.state.status.is_running() || has_filter(opts, "status"))
            .filter(|r| matches_filters(r, &opts.filters))
            .filter(|r| self.matches_engine_filters(r, &opts.filters))
            .map(|r| {
                let mut v = list_entry(&r, now);
                v["Ports"] = self.list_ports(&r);
                v["NetworkSettings"] = json!({"Networks": self.network_settings(&r)["Networks"]});
                v["Mounts"] = self.mounts_json(&r.mount_points);
                v
            })
            .collect();
        if opts.limit > 0 {
            out.truncate(opts.limit);
        }
        out
    }
}

impl Engine {
    /// The `ps` filters that need more than the record: `volume`, `network`, `before`,
    /// `since` (the last two name containers).
    fn matches_engine_filters(&self, r: &Record, filters: &BTreeMap<String, Vec<String>>) -> bool {
        let created_of = |name: &str| self.get(name).ok().map(|c| c.record().created);
        filters.iter().all(|(key, values)| {
            values.is_empty()
                || match key.as_str() {
                    "volume" => values.iter().any(|v| {
                        r.mount_points.iter().any(|m| {
                            m.destination == *v
                                || (m.kind == "volume" && m.source == *v)
                                || (m.kind == "bind" && m.source == *v)
                        })
                    }),
                    "network" => {
                        let nets = self.network_settings(r)["Networks"].clone();
                        values.iter().any(|v| {
                            nets.as_object().is_some_and(|o| {
                                o.iter().any(|(name, n)| {
                                    name == v
                                        || n["NetworkID"]
                                            .as_str()
                                            .is_some_and(|id| id.starts_with(v.as_str()))
                                })
                            })
                        })
                    }
                    "before" => values
                        .iter()
                        .all(|v| created_of(v).is_some_and(|t| r.created < t)),
                    "since" => values
                        .iter()
                        .all(|v| created_of(v).is_some_and(|t| r.created > t)),
                    _ => true,
                }
        })
    }
}

/// The filters `ps` accepts.
pub const PS_FILTERS: [&str; 14] = [
    "status", "name", "id", "label", "ancestor", "exited", "volume", "network", "before", "since",
    "health", "is-task", "publish", "expose",
];

fn has_filter(opts: &ListOptions, key: &str) -> bool {
    opts.filters.get(key).is_some_and(|v| !v.is_empty())
}

fn matches_filters(r: &Record, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(key, values)| {
        values.is_empty()
            || values.iter().any(|v| match key.as_str() {
                "status" => r.state.status.as_str() == v,
                "name" => r.name.contains(v.trim_start_matches('/')),
                "id" => r.id.starts_with(v),
                "label" => {
                    let labels = r.config.labels.clone().unwrap_or_default();
                    match v.split_once('=') {
                        Some((k, val)) => labels.get(k).is_some_and(|x| x == val),
                        None => labels.contains_key(v),
                    }
                }
                "ancestor" => {
                    r.config.image == *v
                        || r.image == *v
                        || r.image.trim_start_matches("sha256:").starts_with(v)
                }
                "exited" => r.state.status == Status::Exited && r.state.exit_code.to_string() == *v,
                _ => true,
            })
    })
}

fn list_entry(r: &Record, now: SystemTime) -> Value {
    let created = api::time::parse_rfc3339(&r.created).unwrap_or(now);
    let since = |t: &Option<String>| {
        t.as_deref()
            .and_then(api::time::parse_rfc3339)
            .map(|t| api::time::human_duration(now.duration_since(t).unwrap_or_default()))
    };
    let status = match r.state.status {
        Status::Running => format!(
            "Up {}{}",
            since(&r.state.started_at).unwrap_or_default(),
            super::health::ps_suffix(r.state.health.as_ref())
        ),
        Status::Paused => format!(
            "Up {} (Paused)",
            since(&r.state.started_at).unwrap_or_default()
        ),
        Status::Exited => match since(&r.state.finished_at) {
            Some(ago) => format!("Exited ({}) {ago} ago", r.state.exit_code),
            None => format!("Exited ({})", r.state.exit_code),
        },
        Status::Created => "Created".to_string(),
        Status::Restarting => "Restarting".to_string(),
        Status::Removing => "Removal In Progress".to_string(),
        Status::Dead => "Dead".to_string(),
    };
    let mut argv = vec![r.path.clone()];
    argv.extend(r.args.iter().cloned());
    let network_mode = if r.host_config.network_mode.is_empty() {
        "default"
    } else {
        &r.host_config.network_mode
    };
    json!({
        "Id": r.id,
        "Names": [format!("/{}", r.name)],
        "Image": r.config.image,
        "ImageID": r.image,
        "Command": shell_join(&argv),
        "Created": api::time::unix_seconds(created),
        "Ports": [],
        "Labels": r.config.labels.clone().unwrap_or_default(),
        "State": r.state.status.as_str(),
        "Status": status,
        "HostConfig": {"NetworkMode": network_mode},
        "Mounts": [],
    })
}

/// Joins argv the way a shell would need it quoted (`sh -c 'echo hi'`).
pub fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\"'\"'"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn commands_are_quoted_like_a_shell() {
        let argv: Vec<String> = ["sh", "-c", "echo hi; exit 3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(super::shell_join(&argv), "sh -c 'echo hi; exit 3'");
    }
}
