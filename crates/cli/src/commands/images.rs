//! `images`, `rmi` and `import`.

use std::time::SystemTime;

use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Map, Value};

use super::{print, println, Ctx};
use crate::args::{ImagesArgs, ImportArgs, RmiArgs};
use crate::client::{next_chunk, ChannelBody, ClientError, Query};
use crate::error::StatusError;
use crate::format::{ago, go_time_string, human_size, short_id, ListFormat};

/// Template fields of the image formatter.
pub const FIELDS: [&str; 11] = [
    "ID",
    "Repository",
    "Tag",
    "Digest",
    "CreatedSince",
    "CreatedAt",
    "Size",
    "Containers",
    "SharedSize",
    "UniqueSize",
    "VirtualSize",
];

fn headers() -> Value {
    json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "VirtualSize": "VIRTUAL SIZE",
    })
}

/// `berth image SUBCOMMAND`.
pub async fn image(ctx: &Ctx, args: crate::args::ImageArgs) -> anyhow::Result<i32> {
    use crate::args::ImageCommand as C;
    match args.command {
        C::Ls(a) => images(ctx, a).await,
        C::Inspect(mut a) => {
            a.kind = Some("image".into());
            super::inspect::inspect(ctx, a).await
        }
        C::Rm(a) => rmi(ctx, a).await,
        C::Prune(a) => prune(ctx, a).await,
        C::Pull(a) => super::distribution::pull(ctx, a).await,
        C::Push(a) => super::distribution::push(ctx, a).await,
        C::Tag(a) => super::archive::tag(ctx, a).await,
        C::Save(a) => super::archive::save(ctx, a).await,
        C::Load(a) => super::archive::load(ctx, a).await,
        C::History(a) => super::archive::history(ctx, a).await,
        C::Import(a) => import(ctx, a).await,
    }
}

/// `berth image prune [-a] [-f] [--filter]`.
pub async fn prune(ctx: &Ctx, args: crate::args::ImagePruneArgs) -> anyhow::Result<i32> {
    let mut filters = args.filter.clone();
    if args.all {
        filters.push("dangling=false".into());
    } else {
        filters.push("dangling=true".into());
    }
    if !args.force {
        let warning = if args.all {
            "WARNING! This will remove all images without at least one container associated to them."
        } else {
            "WARNING! This will remove all dangling images."
        };
        if !crate::opts::confirm(warning)? {
            return Ok(0);
        }
    }
    let filters = crate::opts::filters_json(&filters).map_err(|e| StatusError::new(125, e))?;
    let client = ctx.client().await?;
    let mut q = Query::new();
    if let Some(f) = filters {
        q.add("filters", f);
    }
    let resp = client
        .request(
            Method::POST,
            "/images/prune",
            &q,
            crate::client::empty_body(),
            &[],
        )
        .await?;
    let v: Value = crate::client::read_json(resp).await?;
    let lines: Vec<String> = v["ImagesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| {
            let untagged = d["Untagged"].as_str().map(|t| format!("untagged: {t}"));
            let deleted = d["Deleted"].as_str().map(|t| format!("deleted: {t}"));
            untagged.into_iter().chain(deleted)
        })
        .collect();
    super::print_prune("Deleted Images:", &lines, &v["SpaceReclaimed"])?;
    Ok(0)
}

/// `berth images`.
pub async fn images(ctx: &Ctx, args: ImagesArgs) -> anyhow::Result<i32> {
    let mut filters = args.filter.clone();
    if let Some(r) = &args.reference {
        filters.push(format!("reference={r}"));
    }
    let filters = crate::opts::filters_json(&filters).map_err(|e| StatusError::new(125, e))?;
    let default = if args.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let format = ListFormat::choose(
        args.format.as_deref(),
        args.quiet.then_some("{{.ID}}"),
        default,
    );
    let client = ctx.client().await?;
    let mut q = Query::new();
    q.flag("all", args.all);
    if let Some(f) = filters {
        q.add("filters", f);
    }
    let list: Vec<Value> = client.get_json("/images/json", &q).await?;
    let now = SystemTime::now();
    let mut rows = Vec::new();
    for img in &list {
        rows.extend(rows_for(img, !args.no_trunc, now));
    }
    if args.quiet && args.format.is_none() {
        rows.dedup_by(|a, b| a["ID"] == b["ID"]);
    }
    print(&format.render(&FIELDS, &headers(), &rows)?)?;
    Ok(0)
}

/// The rows docker shows for one image summary: one per tag, `<none>` when dangling.
pub fn rows_for(img: &Value, trunc: bool, now: SystemTime) -> Vec<Value> {
    let id = img["Id"].as_str().unwrap_or_default();
    let created = img["Created"].as_i64().unwrap_or(0);
    let size = img["Size"].as_i64().unwrap_or(0);
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let tags: Vec<String> = strs(&img["RepoTags"])
        .into_iter()
        .filter(|t| t != "<none>:<none>")
        .collect();
    let digests: Vec<String> = strs(&img["RepoDigests"])
        .into_iter()
        .filter(|d| d != "<none>@<none>")
        .collect();
    let digest_for = |repo: &str| {
        digests
            .iter()
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, h)| h.to_string())
            })
            .unwrap_or_else(|| "<none>".to_string())
    };
    let mut pairs: Vec<(String, String, String)> = Vec::new();
    for t in &tags {
        let (repo, tag) = match t.rfind(':') {
            Some(i) if !t[i + 1..].contains('/') => (&t[..i], &t[i + 1..]),
            _ => (t.as_str(), "<none>"),
        };
        pairs.push((repo.to_string(), tag.to_string(), digest_for(repo)));
    }
    if pairs.is_empty() {
        for d in &digests {
            if let Some((repo, h)) = d.split_once('@') {
                pairs.push((repo.to_string(), "<none>".to_string(), h.to_string()));
            }
        }
    }
    if pairs.is_empty() {
        pairs.push(("<none>".into(), "<none>".into(), "<none>".into()));
    }
    let shown_id = if trunc { short_id(id) } else { id.to_string() };
    let count = |k: &str| match img[k].as_i64() {
        Some(n) if n >= 0 => n.to_string(),
        _ => "N/A".to_string(),
    };
    pairs
        .into_iter()
        .map(|(repo, tag, digest)| {
            let mut m = Map::new();
            m.insert("ID".into(), shown_id.clone().into());
            m.insert("Repository".into(), repo.into());
            m.insert("Tag".into(), tag.into());
            m.insert("Digest".into(), digest.into());
            m.insert("CreatedSince".into(), ago(created, now).into());
            m.insert("CreatedAt".into(), go_time_string(created).into());
            m.insert("Size".into(), human_size(size as f64, 3).into());
            m.insert("Containers".into(), count("Containers").into());
            m.insert(
                "SharedSize".into(),
                match img["SharedSize"].as_i64() {
                    Some(n) if n >= 0 => human_size(n as f64, 3),
                    _ => "N/A".to_string(),
                }
                .into(),
            );
            m.insert("UniqueSize".into(), "N/A".into());
            m.insert("VirtualSize".into(), human_size(size as f64, 3).into());
            Value::Object(m)
        })
        .collect()
}

/// `berth rmi`.
pub async fn rmi(ctx: &Ctx, args: RmiArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let mut q = Query::new();
    q.flag("force", args.force).flag("noprune", args.no_prune);
    let mut failed = false;
    for name in &args.images {
        match client.delete(&format!("/images/{name}"), &q).await {
            Ok(v) => {
                for item in v.as_array().into_iter().flatten() {
                    if let Some(u) = item["Untagged"].as_str() {
                        println(&format!("Untagged: {u}"))?;
                    }
                    if let Some(d) = item["Deleted"].as_str() {
                        println(&format!("Deleted: {d}"))?;
                    }
                }
            }
            Err(e @ (ClientError::Connect { .. } | ClientError::PermissionDenied { .. })) => {
                return Err(e.into())
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// `berth import`: streams the tarball as a chunked `text/plain` body to
/// `POST /images/create?fromSrc=-` and prints the status lines of the JSON answer.
pub async fn import(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<i32> {
    let is_url = args.source.starts_with("http://") || args.source.starts_with("https://");
    let mut reader: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>> = if is_url {
        None
    } else if args.source == "-" {
        Some(Box::new(tokio::io::stdin()))
    } else {
        let f = tokio::fs::File::open(&args.source)
            .await
            .map_err(|e| StatusError::new(1, format!("open {}: {}", args.source, io_text(&e))))?;
        Some(Box::new(f))
    };
    let client = ctx.client().await?;
    let mut q = Query::new();
    q.add("fromSrc", if is_url { args.source.as_str() } else { "-" });
    q.add("repo", args.reference.clone().unwrap_or_default());
    for c in &args.change {
        q.add("changes", c);
    }
    if let Some(m) = &args.message {
        q.add("message", m);
    }
    if let Some(p) = &args.platform {
        q.add("platform", p);
    }
    let (tx, body) = ChannelBody::new();
    let pump = reader
        .take()
        .map(|r| tokio::spawn(crate::client::feed(r, tx, 256 * 1024)));
    let body = if pump.is_some() {
        body.boxed()
    } else {
        crate::client::empty_body()
    };
    let resp = client
        .request(
            Method::POST,
            "/images/create",
            &q,
            body,
            &[("content-type", "text/plain")],
        )
        .await?;
    let code = print_json_stream(resp.into_body()).await?;
    if let Some(p) = pump {
        p.abort();
    }
    Ok(code)
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        _ => e.to_string(),
    }
}

/// Prints a daemon JSON message stream (`status`, `stream`, `error`) and returns the exit code.
pub async fn print_json_stream(mut body: hyper::body::Incoming) -> anyhow::Result<i32> {
    let mut pending: Vec<u8> = Vec::new();
    let mut code = 0;
    let mut handle = |line: &[u8]| -> anyhow::Result<()> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let v: Value = serde_json::from_str(text)?;
        if let Some(e) = v["errorDetail"]["message"].as_str().or(v["error"].as_str()) {
            eprintln!("{e}");
            code = 1;
        } else if let Some(s) = v["stream"].as_str() {
            print(s)?;
        } else if let Some(s) = v["status"].as_str() {
            match v["id"].as_str() {
                Some(id) if !id.is_empty() => println(&format!("{id}: {s}"))?,
                _ => println(s)?,
            }
        }
        Ok(())
    };
    while let Some(chunk) = next_chunk(&mut body).await? {
        pending.extend_from_slice(&chunk);
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            handle(&line)?;
        }
    }
    handle(&pending)?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn image_rows_like_docker_images() {
        let img = json!({"Containers":-1,"Created":1000,"Id":"sha256:7500976335999636efd32c5d9bf58dc9075dc13dbcfd39ba1be6e87e7395c505",
            "RepoDigests":null,"RepoTags":["busybox:latest","127.0.0.1:5000/bb:2"],"SharedSize":-1,"Size":1982319});
        let now = UNIX_EPOCH + Duration::from_secs(1000 + 3 * 86400);
        let rows = rows_for(&img, true, now);
        let out = ListFormat::choose(
            None,
            None,
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
        )
        .render(&FIELDS, &headers(), &rows)
        .unwrap();
        assert_eq!(
            out,
            "REPOSITORY          TAG       IMAGE ID       CREATED      SIZE\n\
             busybox             latest    750097633599   3 days ago   1.98MB\n\
             127.0.0.1:5000/bb   2         750097633599   3 days ago   1.98MB\n"
        );
        let dangling = json!({"Id":"sha256:abc","Created":1000,"Size":0,"RepoTags":["<none>:<none>"],"RepoDigests":["<none>@<none>"]});
        let r = rows_for(&dangling, true, now);
        assert_eq!(r[0]["Repository"], "<none>");
        assert_eq!(r[0]["Tag"], "<none>");
    }
}
