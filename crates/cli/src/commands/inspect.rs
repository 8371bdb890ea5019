//! `berth inspect`: containers first, images on 404 (docker's fallback), printed as docker's
//! indented JSON array or through a `--format` template.

use hyper::body::Bytes;
use serde_json::Value;

use super::{print, println, Ctx};
use crate::args::InspectArgs;
use crate::client::{ClientError, Query};
use crate::error::StatusError;
use crate::opts::indent_json;
use crate::template::Template;

enum Kind {
    Any,
    Container,
    Image,
}

/// `berth inspect`.
pub async fn inspect(ctx: &Ctx, args: InspectArgs) -> anyhow::Result<i32> {
    let kind = match args.kind.as_deref() {
        None | Some("") => Kind::Any,
        Some("container") => Kind::Container,
        Some("image") => Kind::Image,
        Some(other) => {
            return Err(StatusError::new(
                1,
                format!("\"{other}\" is not a valid value for --type (valid: container, image)"),
            )
            .into())
        }
    };
    let template = args
        .format
        .as_deref()
        .filter(|f| !f.is_empty())
        .map(|f| Template::parse(f, None))
        .transpose()
        .map_err(|e| StatusError::new(1, format!("{e}")))?;
    let client = ctx.lazy_client();
    let mut found: Vec<Bytes> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut size_q = Query::new();
    size_q.flag("size", args.size);
    for name in &args.names {
        let container = match kind {
            Kind::Any | Kind::Container => Some(
                client
                    .get_raw(&format!("/containers/{name}/json"), &size_q)
                    .await,
            ),
            Kind::Image => None,
        };
        let result = match (container, &kind) {
            (Some(Err(e)), Kind::Any) if e.is_not_found() => Some(
                client
                    .get_raw(&format!("/images/{name}/json"), &Query::new())
                    .await,
            ),
            (Some(r), _) => Some(r),
            (None, _) => Some(
                client
                    .get_raw(&format!("/images/{name}/json"), &Query::new())
                    .await,
            ),
        };
        match result.expect("always set") {
            Ok(b) => found.push(b),
            Err(e @ (ClientError::Connect { .. } | ClientError::PermissionDenied { .. })) => {
                return Err(e.into())
            }
            Err(e) if e.is_not_found() && matches!(kind, Kind::Any) => {
                errors.push(format!("Error: No such object: {name}"))
            }
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
            if found.is_empty() {
                println("[]")?;
            } else {
                let mut parts = Vec::new();
                for raw in &found {
                    let indented = indent_json(raw, "    ", "    ")
                        .map_err(|e| anyhow::anyhow!("invalid JSON from the daemon: {e}"))?;
                    parts.push(format!("    {indented}"));
                }
                print(&format!("[\n{}\n]\n", parts.join(",\n")))?;
            }
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}
