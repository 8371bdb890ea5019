//! `tag`, `history`, `save` and `load`.

use std::io::{IsTerminal, Write};
use std::time::SystemTime;

use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Map, Value};
use tokio::io::AsyncWriteExt;

use super::{print, Ctx};
use crate::args::{HistoryArgs, LoadArgs, SaveArgs, TagArgs};
use crate::client::{next_chunk, ChannelBody, Query};
use crate::error::StatusError;
use crate::format::{ago, ellipsis, human_size, short_id, ListFormat};

/// `berth tag SOURCE TARGET`: `POST /images/{source}/tag?repo=<normalised>&tag=<tag>`.
pub async fn tag(ctx: &Ctx, args: TagArgs) -> anyhow::Result<i32> {
    let target: api::ImageRef = args.target.parse().map_err(|_| {
        StatusError::new(
            1,
            format!(
                "Error parsing reference: {:?} is not a valid repository/tag: invalid reference format",
                args.target
            ),
        )
    })?;
    if target.digest().is_some() {
        return Err(StatusError::new(1, "refusing to create a tag with a digest reference").into());
    }
    let client = ctx.client().await?;
    let mut q = Query::new();
    q.add("repo", target.repository());
    q.add("tag", target.tag().unwrap_or("latest"));
    client
        .post(&format!("/images/{}/tag", args.source), &q)
        .await?;
    Ok(0)
}

/// Template fields of the history formatter.
pub const HISTORY_FIELDS: [&str; 6] = [
    "ID",
    "CreatedSince",
    "CreatedAt",
    "CreatedBy",
    "Size",
    "Comment",
];

/// The rows of `docker history` for the daemon's answer.
pub fn history_rows(list: &[Value], trunc: bool, now: SystemTime) -> Vec<Value> {
    list.iter()
        .map(|h| {
            let id = h["Id"].as_str().unwrap_or_default();
            let created = h["Created"].as_i64().unwrap_or(0);
            let created_by = h["CreatedBy"]
                .as_str()
                .unwrap_or_default()
                .replace('\t', " ");
            let mut m = Map::new();
            m.insert(
                "ID".into(),
                if trunc && id != "<missing>" {
                    short_id(id)
                } else {
                    id.to_string()
                }
                .into(),
            );
            m.insert("CreatedSince".into(), ago(created, now).into());
            m.insert(
                "CreatedAt".into(),
                crate::format::go_time_string(created).into(),
            );
            m.insert(
                "CreatedBy".into(),
                if trunc {
                    ellipsis(&created_by, 45)
                } else {
                    created_by
                }
                .into(),
            );
            m.insert(
                "Size".into(),
                human_size(h["Size"].as_i64().unwrap_or(0) as f64, 3).into(),
            );
            m.insert(
                "Comment".into(),
                h["Comment"].as_str().unwrap_or_default().into(),
            );
            Value::Object(m)
        })
        .collect()
}

fn history_headers() -> Value {
    json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    })
}

/// `berth history IMAGE`.
pub async fn history(ctx: &Ctx, args: HistoryArgs) -> anyhow::Result<i32> {
    let format = ListFormat::choose(
        args.format.as_deref(),
        args.quiet.then_some("{{.ID}}"),
        "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    );
    let client = ctx.client().await?;
    let list: Vec<Value> = client
        .get_json(&format!("/images/{}/history", args.image), &Query::new())
        .await?;
    let rows = history_rows(&list, !args.no_trunc, SystemTime::now());
    print(&format.render(&HISTORY_FIELDS, &history_headers(), &rows)?)?;
    Ok(0)
}

/// `berth save [-o FILE] IMAGE...`: streams `GET /images/get?names=..` to the file or stdout.
pub async fn save(ctx: &Ctx, args: SaveArgs) -> anyhow::Result<i32> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(StatusError::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        )
        .into());
    }
    let client = ctx.client().await?;
    let mut q = Query::new();
    for n in &args.images {
        q.add("names", n);
    }
    let resp = client
        .request(
            Method::GET,
            "/images/get",
            &q,
            crate::client::empty_body(),
            &[],
        )
        .await?;
    write_output(
        resp.into_body(),
        args.output.as_deref(),
        "failed to save image",
    )
    .await?;
    Ok(0)
}

/// Streams a response body to `output` (atomically: written next to it, then renamed, so a
/// failure leaves no partial file) or to stdout.
pub async fn write_output(
    mut body: hyper::body::Incoming,
    output: Option<&str>,
    what: &str,
) -> anyhow::Result<()> {
    match output {
        Some(path) => {
            let tmp = format!("{path}.berth-tmp");
            let result = async {
                let mut f = tokio::fs::File::create(&tmp)
                    .await
                    .map_err(|e| StatusError::new(1, format!("{what}: {e}")))?;
                while let Some(chunk) = next_chunk(&mut body).await? {
                    f.write_all(&chunk).await?;
                }
                f.sync_all().await?;
                tokio::fs::rename(&tmp, path).await?;
                Ok::<_, anyhow::Error>(())
            }
            .await;
            if result.is_err() {
                let _ = tokio::fs::remove_file(&tmp).await;
            }
            result
        }
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = next_chunk(&mut body).await? {
                out.write_all(&chunk)?;
            }
            out.flush()?;
            Ok(())
        }
    }
}

/// `berth load [-i FILE] [-q]`: streams the archive as a chunked body to
/// `POST /images/load` and prints the JSON message stream.
pub async fn load(ctx: &Ctx, args: LoadArgs) -> anyhow::Result<i32> {
    let reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match &args.input {
        Some(path) => Box::new(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| StatusError::new(1, format!("open {path}: {}", io_text(&e))))?,
        ),
        None => {
            if std::io::stdin().is_terminal() {
                return Err(
                    StatusError::new(1, "requested load from stdin, but stdin is empty").into(),
                );
            }
            Box::new(tokio::io::stdin())
        }
    };
    let client = ctx.client().await?;
    let mut q = Query::new();
    // Like docker: quiet (no progress) unless stdout is a terminal.
    q.add(
        "quiet",
        if args.quiet || !std::io::stdout().is_terminal() {
            "1"
        } else {
            "0"
        },
    );
    let (tx, body) = ChannelBody::new();
    let pump = tokio::spawn(crate::client::feed(reader, tx, 256 * 1024));
    let resp = client
        .request(
            Method::POST,
            "/images/load",
            &q,
            body.boxed(),
            &[("content-type", "application/x-tar")],
        )
        .await?;
    let code = super::images::print_json_stream(resp.into_body()).await?;
    pump.abort();
    Ok(code)
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn history_table_like_docker() {
        let list = json!([
            {"Id":"sha256:7500976335999636efd32c5d9bf58dc9075dc13dbcfd39ba1be6e87e7395c505","Created":1000,
             "CreatedBy":"/bin/sh -c #(nop)  CMD [\"sh\"]\twith a very long tail that goes on","Tags":["busybox:latest"],"Size":0,"Comment":""},
            {"Id":"<missing>","Created":1000,"CreatedBy":"","Tags":null,"Size":1982319,"Comment":"Imported from -"}
        ]);
        let now = UNIX_EPOCH + Duration::from_secs(1000 + 3 * 86400);
        let rows = history_rows(list.as_array().unwrap(), true, now);
        let out = ListFormat::choose(
            None,
            None,
            "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        )
        .render(&HISTORY_FIELDS, &history_headers(), &rows)
        .unwrap();
        assert_eq!(
            out,
            "IMAGE          CREATED      CREATED BY                                      SIZE      COMMENT\n\
             750097633599   3 days ago   /bin/sh -c #(nop)  CMD [\"sh\"] with a very lo…   0B        \n\
             <missing>      3 days ago                                                   1.98MB    Imported from -\n"
        );
    }
}
