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

    /// The entries of `ps`, newest first, as parsed JSON (`system df`).
    pub fn list(&self, opts: &ListOptions) -> Vec<Value> {
        serde_json::from_slice(&self.list_json(opts)).unwrap_or_default()
    }

    /// The body of `GET /containers/json`: the entries of `ps`, newest first, as one JSON
    /// array. Each entry is serialized straight from the record under its lock (no copy of the
    /// record, no intermediate `Value` tree), so a list of hundreds of containers costs little
    /// more than writing its bytes.
    pub fn list_json(&self, opts: &ListOptions) -> Vec<u8> {
        let mut all = self.all();
        all.reverse();
        let now = SystemTime::now();
        // `before`/`since` name containers: resolve them once, before any record is locked.
        let created_of = |key: &str| -> Option<Vec<Option<String>>> {
            opts.filters.get(key).filter(|v| !v.is_empty()).map(|v| {
                v.iter()
                    .map(|name| self.get(name).ok().map(|c| c.created()))
                    .collect()
            })
        };
        let bounds = Bounds {
            before: created_of("before"),
            since: created_of("since"),
        };
        let status_filter = has_filter(opts, "status");
        let mut out = Vec::with_capacity(1024 * all.len().max(1));
        out.push(b'[');
        let mut n = 0;
        for c in &all {
            if opts.limit > 0 && n >= opts.limit {
                break;
            }
            c.with_record(|r| {
                if !(opts.all || r.state.status.is_running() || status_filter)
                    || !matches_filters(r, &opts.filters)
                    || !self.matches_engine_filters(r, &opts.filters, &bounds)
                {
                    return;
                }
                if n > 0 {
                    out.push(b',');
                }
                n += 1;
                let (ports, network_settings) = self.list_network(r);
                let entry = ListEntry::of(r, now, ports, network_settings, self);
                // Writing plain data into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut out, &entry);
            });
        }
        out.extend_from_slice(b"]\n");
        out
    }
}

/// The creation times of the containers `before` and `since` name (None: no such container).
struct Bounds {
    before: Option<Vec<Option<String>>>,
    since: Option<Vec<Option<String>>>,
}

/// One entry of `GET /containers/json`, borrowed from the record, in dockerd's field order.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListEntry<'a> {
    id: &'a str,
    names: [String; 1],
    image: &'a str,
    #[serde(rename = "ImageID")]
    image_id: &'a str,
    command: String,
    created: i64,
    ports: Value,
    labels: &'a BTreeMap<String, String>,
    state: &'static str,
    status: String,
    host_config: ListHostConfig<'a>,
    network_settings: Value,
    mounts: Value,
}

#[derive(serde::Serialize)]
struct ListHostConfig<'a> {
    #[serde(rename = "NetworkMode")]
    network_mode: &'a str,
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> ListEntry<'a> {
    fn of(
        r: &'a Record,
        now: SystemTime,
        ports: Value,
        network_settings: Value,
        engine: &Engine,
    ) -> ListEntry<'a> {
        let created = api::time::parse_rfc3339(&r.created).unwrap_or(now);
        let network_mode = if r.host_config.network_mode.is_empty() {
            "default"
        } else {
            &r.host_config.network_mode
        };
        ListEntry {
            id: &r.id,
            names: [format!("/{}", r.name)],
            image: &r.config.image,
            image_id: &r.image,
            command: command_line(&r.path, &r.args),
            created: api::time::unix_seconds(created),
            ports,
            labels: r.config.labels.as_ref().unwrap_or(&NO_LABELS),
            state: r.state.status.as_str(),
            status: status_text(r, now),
            host_config: ListHostConfig { network_mode },
            network_settings,
            mounts: engine.mounts_json(&r.mount_points),
        }
    }
}

impl Engine {
    /// The `ps` filters that need more than the record: `volume`, `network`, `before`,
    /// `since` (the last two name containers).
    fn matches_engine_filters(
        &self,
        r: &Record,
        filters: &BTreeMap<String, Vec<String>>,
        bounds: &Bounds,
    ) -> bool {
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
                        let nets = self.network_names(r);
                        values.iter().any(|v| {
                            nets.iter()
                                .any(|(name, id)| name == v || id.starts_with(v.as_str()))
                        })
                    }
                    "before" => bounds
                        .before
                        .iter()
                        .flatten()
                        .all(|t| t.as_deref().is_some_and(|t| r.created.as_str() < t)),
                    "since" => bounds
                        .since
                        .iter()
                        .flatten()
                        .all(|t| t.as_deref().is_some_and(|t| r.created.as_str() > t)),
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

/// Values of one key match if any does, except `label`, whose values must all match (dockerd's
/// `MatchKVList`: docker-compose finds a service's containers with several `label` filters).
fn matches_filters(r: &Record, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(key, values)| {
        if key == "label" {
            let labels = r.config.labels.as_ref().unwrap_or(&NO_LABELS);
            return crate::filters::labels_match(labels, values);
        }
        values.is_empty()
            || values.iter().any(|v| match key.as_str() {
                "status" => r.state.status.as_str() == v,
                "name" => r.name.contains(v.trim_start_matches('/')),
                "id" => r.id.starts_with(v),
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

/// The `Status` column of `ps`: `Up 5 minutes`, `Exited (3) 2 seconds ago`, ...
fn status_text(r: &Record, now: SystemTime) -> String {
    let since = |t: &Option<String>| {
        t.as_deref()
            .and_then(api::time::parse_rfc3339)
            .map(|t| api::time::human_duration(now.duration_since(t).unwrap_or_default()))
    };
    match r.state.status {
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
    }
}

/// argv joined the way a shell would need it quoted (`sh -c 'echo hi'`), without copying it.
fn command_line(path: &str, args: &[String]) -> String {
    let mut out =
        String::with_capacity(path.len() + args.iter().map(|a| a.len() + 3).sum::<usize>());
    for (i, a) in std::iter::once(path)
        .chain(args.iter().map(String::as_str))
        .enumerate()
    {
        if i > 0 {
            out.push(' ');
        }
        push_quoted(&mut out, a);
    }
    out
}

/// Appends `a`, single-quoted when a shell would need it.
fn push_quoted(out: &mut String, a: &str) {
    if !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        out.push_str(a);
    } else {
        out.push('\'');
        out.push_str(&a.replace('\'', "'\"'\"'"));
        out.push('\'');
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn commands_are_quoted_like_a_shell() {
        let args: Vec<String> = ["-c", "echo hi; exit 3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(super::command_line("sh", &args), "sh -c 'echo hi; exit 3'");
        assert_eq!(super::command_line("it's", &[]), "'it'\"'\"'s'");
        assert_eq!(super::command_line("", &[]), "''");
    }
}
