//! `berth events`: streams `GET /events` in docker's line format or a `--format` template.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::Method;
use serde_json::Value;

use super::{println, Ctx};
use crate::args::EventsArgs;
use crate::client::{empty_body, next_chunk, Query};
use crate::error::StatusError;
use crate::template::Template;

/// Docker's default line: `2023-11-20T10:00:00.123456789Z container start ID (k=v, ...)`.
fn line(v: &Value) -> String {
    let nanos = v["timeNano"].as_i64().unwrap_or(0);
    let t = UNIX_EPOCH + std::time::Duration::from_nanos(nanos.max(0) as u64);
    let mut attrs: Vec<String> = v["Actor"]["Attributes"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    attrs.sort();
    let mut s = format!(
        "{} {} {} {}",
        api::time::rfc3339_nano(t),
        v["Type"].as_str().unwrap_or_default(),
        v["Action"].as_str().unwrap_or_default(),
        v["Actor"]["ID"].as_str().unwrap_or_default()
    );
    if !attrs.is_empty() {
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    s
}

pub async fn events(ctx: &Ctx, args: EventsArgs) -> anyhow::Result<i32> {
    let template = args
        .format
        .as_deref()
        .filter(|f| *f != "json")
        .map(|f| Template::parse(f, None))
        .transpose()
        .map_err(|e| StatusError::new(1, e.to_string()))?;
    let now = SystemTime::now();
    let mut q = Query::new();
    for (key, value) in [("since", &args.since), ("until", &args.until)] {
        if let Some(v) = value {
            let ts = super::logs::timestamp(v, now).map_err(|e| StatusError::new(1, e))?;
            q.add(key, ts);
        }
    }
    if let Some(f) = crate::opts::filters_json(&args.filter).map_err(|e| StatusError::new(1, e))? {
        q.add("filters", f);
    }
    let client = ctx.client().await?;
    let resp = client
        .request(Method::GET, "/events", &q, empty_body(), &[])
        .await?;
    let mut body = resp.into_body();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        pending.extend_from_slice(&chunk);
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = pending.drain(..=i).collect();
            let Ok(v) = serde_json::from_slice::<Value>(&raw) else {
                continue;
            };
            let out = match (&template, args.format.as_deref()) {
                (Some(t), _) => t
                    .render(&v)
                    .map_err(|e| StatusError::new(1, e.to_string()))?,
                (None, Some("json")) => serde_json::to_string(&v)?,
                _ => line(&v),
            };
            println(&out)?;
        }
    }
    Ok(0)
}
