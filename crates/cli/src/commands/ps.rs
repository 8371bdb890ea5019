//! `berth ps`: `GET /containers/json`, rendered with docker's container formatter.

use std::time::SystemTime;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
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
    let client = ctx.lazy_client();
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
    let body = client.get_raw("/containers/json", &q).await?;
    let list: Vec<Summary> =
        serde_json::from_slice(&body).map_err(|source| crate::client::ClientError::Decode {
            what: "container list",
            source,
        })?;
    let now = SystemTime::now();
    let plain = format.plain_fields();
    let wanted = |f: &str| match &plain {
        Some(p) => p.contains(&f),
        None => true,
    };
    let rows: Vec<Value> = list
        .iter()
        .map(|c| row(c, !args.no_trunc, now, &wanted))
        .collect();
    print(&format.render(&FIELDS, &headers(), &rows)?)?;
    Ok(0)
}

/// The parts of a `GET /containers/json` entry the formatter uses; the rest of the entry is
/// skipped while parsing, and strings without escapes are borrowed from the answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Summary<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    names: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    image: Cow<'a, str>,
    #[serde(borrow)]
    command: Cow<'a, str>,
    created: i64,
    ports: Vec<Port<'a>>,
    #[serde(borrow)]
    labels: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(borrow)]
    state: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    network_settings: Option<NetworkSettings>,
    mounts: Option<Vec<Mount<'a>>>,
    size_rw: Option<i64>,
    size_root_fs: Option<i64>,
}

/// One of a summary's `Ports`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Port<'a> {
    #[serde(rename = "IP", borrow)]
    ip: Option<Cow<'a, str>>,
    #[serde(rename = "PrivatePort")]
    private_port: u64,
    #[serde(rename = "PublicPort")]
    public_port: Option<u64>,
    #[serde(rename = "Type", borrow)]
    kind: Option<Cow<'a, str>>,
}

/// A summary's `NetworkSettings`: only the network names matter.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NetworkSettings {
    #[serde(rename = "Networks")]
    networks: Option<BTreeMap<String, IgnoredAny>>,
}

/// One of a summary's `Mounts`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Mount<'a> {
    #[serde(rename = "Name", borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(rename = "Source", borrow)]
    source: Option<Cow<'a, str>>,
}

/// One container summary as the formatter's string fields; fields `wanted` says no to are left
/// empty (they are not printed).
pub fn row(c: &Summary, trunc: bool, now: SystemTime, wanted: &dyn Fn(&str) -> bool) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, f: &dyn Fn() -> String| {
        let v = if wanted(k) { f() } else { String::new() };
        m.insert(k.to_string(), Value::String(v));
    };
    put("ID", &|| {
        if trunc {
            short_id(&c.id)
        } else {
            c.id.to_string()
        }
    });
    put("Image", &|| {
        let image = &*c.image;
        if trunc {
            if image.starts_with("sha256:") {
                return short_id(image);
            } else if let Some((name, _)) = image.split_once('@') {
                return name.to_string();
            }
        }
        image.to_string()
    });
    put("Command", &|| {
        go_quote(&if trunc {
            ellipsis(&c.command, 20)
        } else {
            c.command.to_string()
        })
    });
    put("CreatedAt", &|| go_time_string(c.created));
    put("RunningFor", &|| ago(c.created, now));
    put("Ports", &|| ports(&c.ports));
    put("State", &|| c.state.to_string());
    put("Status", &|| c.status.to_string());
    put("Size", &|| match (c.size_rw, c.size_root_fs) {
        (Some(rw), Some(rootfs)) => format!(
            "{} (virtual {})",
            crate::format::human_size(rw as f64, 3),
            crate::format::human_size(rootfs as f64, 3)
        ),
        _ => String::new(),
    });
    put("Names", &|| {
        c.names
            .iter()
            .map(|n| n.strip_prefix('/').unwrap_or(n))
            .filter(|n| !trunc || !n.contains('/'))
            .collect::<Vec<_>>()
            .join(",")
    });
    put("Labels", &|| {
        c.labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    });
    put("Mounts", &|| {
        c.mounts
            .iter()
            .flatten()
            .map(|m| {
                let name = m.name.as_deref().filter(|n| !n.is_empty());
                let src = name.or(m.source.as_deref()).unwrap_or_default();
                if trunc {
                    ellipsis(src, 15)
                } else {
                    src.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    });
    put("Networks", &|| {
        c.network_settings
            .iter()
            .flat_map(|n| n.networks.iter().flatten())
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(",")
    });
    put("LocalVolumes", &|| "0".to_string());
    Value::Object(m)
}

/// docker's port column: `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp`, or `80/tcp` when unpublished.
pub fn ports(list: &[Port]) -> String {
    let mut out: Vec<String> = Vec::new();
    for p in list {
        let kind = p.kind.as_deref().unwrap_or("tcp");
        let private = p.private_port;
        let entry = match (p.ip.as_deref(), p.public_port) {
            (Some(ip), Some(public)) if public != 0 => {
                if ip.contains(':') {
                    format!("[{ip}]:{public}->{private}/{kind}")
                } else {
                    format!("{ip}:{public}->{private}/{kind}")
                }
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
        let c = c.to_string();
        let c: Summary = serde_json::from_str(&c).unwrap();
        let r = row(&c, true, now, &|_| true);
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
    fn only_printed_columns_are_computed_and_escapes_decode() {
        let body = r#"[{"Id":"cc13eb82962b840ac98a1d70569631b6ee243029e89c6f9c14eb09ea0523e676",
            "Names":["/a\"b"],"Image":"busybox","Command":"echo \u00e9","Created":1000,
            "Labels":{"k":"v"},"NetworkSettings":{"Networks":{"bridge":{"IPAddress":"x"}}},
            "Mounts":[{"Name":"","Source":"/src"}],"Extra":{"deep":[1,2,{"x":null}]}}]"#;
        let list: Vec<Summary> = serde_json::from_str(body).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1005);
        let all = row(&list[0], false, now, &|_| true);
        assert_eq!(all["Names"], "a\"b");
        assert_eq!(all["Command"], "\"echo é\"");
        assert_eq!(all["Labels"], "k=v");
        assert_eq!(all["Networks"], "bridge");
        assert_eq!(all["Mounts"], "/src");
        assert_eq!(all["LocalVolumes"], "0");
        let some = row(&list[0], true, now, &|f| f == "ID");
        assert_eq!(some["ID"], "cc13eb82962b");
        assert_eq!(some["Labels"], "");
    }

    #[test]
    fn published_ports() {
        let p = json!([{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
                       {"IP":"::","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
                       {"PrivatePort":53,"Type":"udp"}]);
        let p = p.to_string();
        let p: Vec<Port> = serde_json::from_str(&p).unwrap();
        assert_eq!(ports(&p), "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 53/udp");
    }
}
