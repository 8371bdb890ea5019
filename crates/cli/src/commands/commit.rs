//! `commit`, `export`, `diff`.

use std::io::IsTerminal;

use hyper::Method;
use serde_json::Value;

use super::{println, Ctx};
use crate::args::{CommitArgs, DiffArgs, ExportArgs};
use crate::client::{empty_body, json_body, read_json, Query};
use crate::error::StatusError;

/// `berth commit [-a] [-c] [-m] [-p] CONTAINER [REPOSITORY[:TAG]]`: prints the new image id.
pub async fn commit(ctx: &Ctx, args: CommitArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let mut q = Query::new();
    q.add("container", &args.container);
    if let Some(r) = &args.reference {
        let parsed: api::ImageRef = r.parse().map_err(|e| {
            StatusError::new(
                1,
                format!("Error parsing reference: {r:?} is not a valid repository/tag: {e}"),
            )
        })?;
        q.add("repo", parsed.familiar_name());
        q.add("tag", parsed.tag().unwrap_or("latest"));
    }
    if let Some(m) = &args.message {
        q.add("comment", m);
    }
    if let Some(a) = &args.author {
        q.add("author", a);
    }
    for c in &args.change {
        q.add("changes", c);
    }
    q.add("pause", if args.pause { "1" } else { "0" });
    let resp = client
        .request(
            Method::POST,
            "/commit",
            &q,
            json_body(&Value::Null),
            &[("content-type", "application/json")],
        )
        .await?;
    let v: Value = read_json(resp).await?;
    println(v["Id"].as_str().unwrap_or_default())?;
    Ok(0)
}

/// `berth export [-o FILE] CONTAINER`.
pub async fn export(ctx: &Ctx, args: ExportArgs) -> anyhow::Result<i32> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(StatusError::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        )
        .into());
    }
    let client = ctx.client().await?;
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{}/export", args.container),
            &Query::new(),
            empty_body(),
            &[],
        )
        .await?;
    super::archive::write_output(
        resp.into_body(),
        args.output.as_deref(),
        "failed to export container",
    )
    .await?;
    Ok(0)
}

/// `berth diff CONTAINER`: `C /etc`, `A /etc/x`, `D /tmp/y`.
pub async fn diff(ctx: &Ctx, args: DiffArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let v: Value = client
        .get_json(
            &format!("/containers/{}/changes", args.container),
            &Query::new(),
        )
        .await?;
    for c in v.as_array().cloned().unwrap_or_default() {
        let kind = match c["Kind"].as_u64() {
            Some(0) => 'C',
            Some(1) => 'A',
            Some(2) => 'D',
            _ => '?',
        };
        println(&format!(
            "{kind} {}",
            c["Path"].as_str().unwrap_or_default()
        ))?;
    }
    Ok(0)
}
