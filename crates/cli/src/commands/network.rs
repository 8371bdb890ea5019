//! `berth network create|ls|inspect|rm|connect|disconnect|prune` and `berth port`, with
//! docker's requests and output.

use hyper::Method;
use serde_json::{json, Value};

use super::{for_each, print, println, Ctx};
use crate::args::{
    NetworkCommand, NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs,
    NetworkInspectArgs, NetworkLsArgs, NetworkPruneArgs, NetworkRmArgs, PortArgs,
};
use crate::client::{json_body, read_bytes, Query};
use crate::error::StatusError;
use crate::format::{short_id, ListFormat};
use crate::opts::indent_json;
use crate::template::Template;

/// Template fields of the network formatter.
const FIELDS: [&str; 8] = [
    "ID",
    "Name",
    "Driver",
    "Scope",
    "IPv6",
    "Internal",
    "Labels",
    "CreatedAt",
];
const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

/// `berth network ...`.
pub async fn network(ctx: &Ctx, cmd: NetworkCommand) -> anyhow::Result<i32> {
    match cmd {
        NetworkCommand::Create(a) => create(ctx, a).await,
        NetworkCommand::Ls(a) => ls(ctx, a).await,
        NetworkCommand::Inspect(a) => inspect(ctx, a).await,
        NetworkCommand::Rm(a) => rm(ctx, a).await,
        NetworkCommand::Connect(a) => connect(ctx, a).await,
        NetworkCommand::Disconnect(a) => disconnect(ctx, a).await,
        NetworkCommand::Prune(a) => prune(ctx, a).await,
    }
}

fn key_values(list: &[String]) -> serde_json::Map<String, Value> {
    list.iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            (k.to_string(), json!(v))
        })
        .collect()
}

async fn create(ctx: &Ctx, a: NetworkCreateArgs) -> anyhow::Result<i32> {
    if a.gateway.len() > a.subnet.len() {
        return Err(StatusError::new(
            1,
            "every ip-range or gateway must have a corresponding subnet",
        )
        .into());
    }
    let config: Vec<Value> = a
        .subnet
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut c = json!({"Subnet": s});
            if let Some(g) = a.gateway.get(i) {
                c["Gateway"] = json!(g);
            }
            c
        })
        .collect();
    let body = json!({
        "Driver": a.driver, "Scope": "",
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": a.internal, "Attachable": a.attachable, "Ingress": false, "ConfigOnly": false,
        "ConfigFrom": null, "Options": key_values(&a.opt), "Labels": key_values(&a.label),
        "Name": a.name,
    });
    let client = ctx.client().await?;
    let resp: Value = client
        .post_json("/networks/create", &Query::new(), &body)
        .await?;
    println(resp["Id"].as_str().unwrap_or_default())?;
    Ok(0)
}

async fn ls(ctx: &Ctx, a: NetworkLsArgs) -> anyhow::Result<i32> {
    let filters = crate::opts::filters_json(&a.filter).map_err(|e| StatusError::new(1, e))?;
    let format = ListFormat::choose(
        a.format.as_deref(),
        a.quiet.then_some("{{.ID}}"),
        DEFAULT_TABLE,
    );
    let mut q = Query::new();
    if let Some(f) = filters {
        q.add("filters", f);
    }
    let client = ctx.client().await?;
    let mut list: Vec<Value> = client.get_json("/networks", &q).await?;
    list.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let rows: Vec<Value> = list
        .iter()
        .map(|n| {
            let id = s(&n["Id"]);
            let labels = n["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            json!({
                "ID": if a.no_trunc { id.clone() } else { short_id(&id) },
                "Name": s(&n["Name"]), "Driver": s(&n["Driver"]), "Scope": s(&n["Scope"]),
                "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
                "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
                "Labels": labels, "CreatedAt": s(&n["Created"]),
            })
        })
        .collect();
    let headers = json!({"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"});
    print(&format.render(&FIELDS, &headers, &rows)?)?;
    Ok(0)
}

async fn inspect(ctx: &Ctx, a: NetworkInspectArgs) -> anyhow::Result<i32> {
    let template = a
        .format
        .as_deref()
        .filter(|f| !f.is_empty())
        .map(|f| Template::parse(f, None))
        .transpose()
        .map_err(|e| StatusError::new(1, format!("{e}")))?;
    let client = ctx.client().await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in &a.networks {
        match client
            .get_raw(&format!("/networks/{n}"), &Query::new())
            .await
        {
            Ok(b) => found.push(b),
            Err(e) => errors.push(e.to_string()),
        }
    }
    match template {
        Some(t) => {
            for raw in &found {
                let v: Value = serde_json::from_slice(raw)?;
                println(
                    &t.render(&v)
                        .map_err(|e| StatusError::new(1, e.to_string()))?,
                )?;
            }
        }
        None => {
            let mut parts = Vec::new();
            for raw in &found {
                let indented = indent_json(raw, "    ", "    ")
                    .map_err(|e| anyhow::anyhow!("invalid JSON from the daemon: {e}"))?;
                parts.push(format!("    {indented}"));
            }
            if parts.is_empty() {
                println("[]")?;
            } else {
                print(&format!("[\n{}\n]\n", parts.join(",\n")))?;
            }
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

async fn rm(ctx: &Ctx, a: NetworkRmArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let force = a.force;
    for_each(&a.networks, |name| {
        let client = client.clone();
        async move {
            match client
                .delete(&format!("/networks/{name}"), &Query::new())
                .await
            {
                Ok(_) => Ok(Some(name)),
                Err(e) if force && e.is_not_found() => Ok(None),
                Err(e) => Err(e),
            }
        }
    })
    .await
}

async fn post_empty(ctx: &Ctx, path: &str, body: Value) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let resp = client
        .request(
            Method::POST,
            path,
            &Query::new(),
            json_body(&body),
            &[("content-type", "application/json")],
        )
        .await?;
    read_bytes(resp).await?;
    Ok(0)
}

async fn connect(ctx: &Ctx, a: NetworkConnectArgs) -> anyhow::Result<i32> {
    let mut endpoint =
        json!({"Aliases": if a.alias.is_empty() { Value::Null } else { json!(a.alias) }});
    if let Some(ip) = &a.ip {
        endpoint["IPAMConfig"] = json!({"IPv4Address": ip});
    }
    post_empty(
        ctx,
        &format!("/networks/{}/connect", a.network),
        json!({"Container": a.container, "EndpointConfig": endpoint}),
    )
    .await
}

async fn disconnect(ctx: &Ctx, a: NetworkDisconnectArgs) -> anyhow::Result<i32> {
    post_empty(
        ctx,
        &format!("/networks/{}/disconnect", a.network),
        json!({"Container": a.container, "Force": a.force}),
    )
    .await
}

async fn prune(ctx: &Ctx, a: NetworkPruneArgs) -> anyhow::Result<i32> {
    if !a.force {
        use std::io::BufRead;
        eprint!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let mut q = Query::new();
    if let Some(f) = crate::opts::filters_json(&a.filter).map_err(|e| StatusError::new(1, e))? {
        q.add("filters", f);
    }
    let client = ctx.client().await?;
    let resp = client.post("/networks/prune", &q).await?;
    let v: Value = serde_json::from_slice(&read_bytes(resp).await?)?;
    let names: Vec<&str> = v["NetworksDeleted"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !names.is_empty() {
        print(&format!("Deleted Networks:\n{}\n\n", names.join("\n")))?;
    }
    Ok(0)
}

/// `berth port`: the container's published ports from inspect, docker's lines.
pub async fn port(ctx: &Ctx, a: PortArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let c: Value = client
        .get_json(&format!("/containers/{}/json", a.container), &Query::new())
        .await?;
    let lines = port_lines(&c["NetworkSettings"]["Ports"], a.port.as_deref());
    match (lines, &a.port) {
        (Ok(lines), _) => {
            for l in lines {
                println(&l)?;
            }
            Ok(0)
        }
        (Err(key), _) => Err(StatusError::new(
            1,
            format!(
                "Error: No public port '{key}' published for {}",
                a.container
            ),
        )
        .into()),
    }
}

/// Lines of `port`: all mappings (`80/tcp -> 0.0.0.0:8080`), or the host sides of one port;
/// Err(the key) when a requested port has no mapping.
fn port_lines(ports: &Value, want: Option<&str>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let want = want.map(|w| {
        if w.contains('/') {
            w.to_string()
        } else {
            format!("{w}/tcp")
        }
    });
    let mut keys: Vec<(&String, &Value)> = ports
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    keys.sort_by_key(|(k, _)| {
        let (p, proto) = k.split_once('/').unwrap_or((k, ""));
        (p.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    for (key, bindings) in keys {
        if want.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for b in bindings.as_array().into_iter().flatten() {
            let host = format!(
                "{}:{}",
                b["HostIp"].as_str().unwrap_or(""),
                b["HostPort"].as_str().unwrap_or("")
            );
            out.push(match want {
                Some(_) => host,
                None => format!("{key} -> {host}"),
            });
        }
    }
    match want {
        Some(w) if out.is_empty() => Err(w),
        _ => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_lines_like_docker() {
        let p = json!({"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": null,
            "443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}]});
        assert_eq!(
            port_lines(&p, None).unwrap(),
            vec!["80/tcp -> 127.0.0.1:8080", "443/tcp -> 0.0.0.0:32768"]
        );
        assert_eq!(port_lines(&p, Some("80")).unwrap(), vec!["127.0.0.1:8080"]);
        assert_eq!(port_lines(&p, Some("53/udp")).unwrap_err(), "53/udp");
    }
}
