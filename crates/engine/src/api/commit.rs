//! `GET /containers/{id}/changes`, `GET /containers/{id}/export`, `POST /commit`.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

use super::images::{ChannelWriter, FallibleBody};
use super::{json_response, ApiResult, AppState, Params};
use crate::container::CommitRequest;
use crate::error::EngineError;

/// `[{"Path":"/tmp","Kind":0}, ...]` (0 modified, 1 added, 2 deleted).
pub async fn changes(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let changes = engine.changes(&id).await?;
    let out: Vec<Value> = changes
        .iter()
        .map(|c| json!({"Path": c.path, "Kind": c.kind as u8}))
        .collect();
    Ok(json_response(StatusCode::OK, &out))
}

/// The container's filesystem as a tar, streamed.
pub async fn export(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    // Resolve first: an unknown container is a plain 404.
    engine.get(&id)?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let writer = ChannelWriter {
        tx: tx.clone(),
        buf: Vec::new(),
    };
    tokio::spawn(async move {
        if let Err(e) = engine.export(&id, writer).await {
            tracing::error!(container = %id, error = %e, "export failed");
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let mut resp = Response::new(Body::new(FallibleBody(rx)));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`, body: config
/// fields to override. Answers `201 {"Id": "sha256:..."}`.
pub async fn commit(State(engine): State<AppState>, uri: Uri, body: Bytes) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let container = p
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| EngineError::Invalid("no container given to commit".into()))?
        .to_string();
    let repo = p.get("repo").unwrap_or("");
    let reference = if repo.is_empty() {
        None
    } else {
        let tag = p.get("tag").filter(|t| !t.is_empty()).unwrap_or("latest");
        Some(
            format!("{repo}:{tag}")
                .parse::<api::ImageRef>()
                .map_err(|e| EngineError::Invalid(e.to_string()))?,
        )
    };
    let config = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| EngineError::Invalid(format!("invalid commit config: {e}")))?;
        (!v.is_null()).then_some(v)
    };
    let req = CommitRequest {
        reference,
        comment: p.get("comment").filter(|s| !s.is_empty()).map(String::from),
        author: p.get("author").filter(|s| !s.is_empty()).map(String::from),
        changes: p.all("changes"),
        pause: p.bool("pause", true),
        config,
    };
    let info = engine.commit(&container, req).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"Id": info.id.to_string()}),
    ))
}
