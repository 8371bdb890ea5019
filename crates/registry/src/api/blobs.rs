//! `GET/HEAD/DELETE /v2/<name>/blobs/<digest>`.

use std::io::SeekFrom;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use tokio::io::AsyncSeekExt;

use super::body::FileBody;
use super::{blocking, empty, set, Request};
use crate::error::{parse_digest, RegistryError};
use crate::range::parse_range;

/// Serves a blob, whole or one `Range`.
pub(super) async fn get(req: Request, digest: &str) -> Result<Response, RegistryError> {
    let digest = parse_digest(digest)?;
    let name = req.name.clone();
    let d = digest.clone();
    let (file, size) = blocking(&req.store, move |s| s.open_blob(&name, &d)).await?;
    let range = parse_range(req.header(header::RANGE), size)?;
    let (status, start, len) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.len()),
        None => (StatusCode::OK, 0, size),
    };
    let body = if req.method == Method::HEAD {
        Body::empty()
    } else {
        let mut file = tokio::fs::File::from_std(file);
        if start > 0 {
            file.seek(SeekFrom::Start(start))
                .await
                .map_err(RegistryError::io("seek blob", digest.to_string()))?;
        }
        Body::new(FileBody::new(file, len))
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    set(&mut res, "content-length", len.to_string());
    set(&mut res, "content-type", "application/octet-stream");
    set(&mut res, "docker-content-digest", digest.to_string());
    set(&mut res, "etag", format!("\"{digest}\""));
    set(&mut res, "accept-ranges", "bytes");
    if let Some(r) = range {
        set(
            &mut res,
            "content-range",
            format!("bytes {}-{}/{size}", r.start, r.end),
        );
    }
    Ok(res)
}

/// Removes the repository's link to a blob.
pub(super) async fn delete(req: Request, digest: &str) -> Result<Response, RegistryError> {
    let digest = parse_digest(digest)?;
    let name = req.name.clone();
    blocking(&req.store, move |s| s.delete_blob(&name, &digest)).await?;
    Ok(empty(StatusCode::ACCEPTED))
}
