//! Blob upload sessions: `POST /v2/<name>/blobs/uploads/` (start, monolithic, mount) and
//! `PATCH/PUT/GET/DELETE /v2/<name>/blobs/uploads/<id>`.

use axum::http::{header, StatusCode};
use axum::response::Response;

use super::body::stream_into;
use super::{blocking, empty, may, set, Request};
use crate::auth::Action;
use crate::error::{parse_digest, RegistryError};
use crate::name::{RepoName, UploadId};
use crate::range::{parse_content_range, upload_range_header};

fn session_location(name: &RepoName, id: &UploadId) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

fn blob_created(name: &RepoName, digest: &api::Digest) -> Response {
    let mut res = empty(StatusCode::CREATED);
    set(&mut res, "location", format!("/v2/{name}/blobs/{digest}"));
    set(&mut res, "docker-content-digest", digest.to_string());
    set(&mut res, "content-length", "0");
    res
}

fn session_response(status: StatusCode, name: &RepoName, id: &UploadId, size: u64) -> Response {
    let mut res = empty(status);
    set(&mut res, "location", session_location(name, id));
    set(&mut res, "range", upload_range_header(size));
    set(&mut res, "docker-upload-uuid", id.as_str());
    if status != StatusCode::NO_CONTENT {
        set(&mut res, "content-length", "0");
    }
    res
}

fn content_length(req: &Request) -> Result<Option<u64>, RegistryError> {
    match req.header(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| RegistryError::SizeInvalid(format!("invalid Content-Length {v:?}"))),
    }
}

/// Starts a session; or stores a whole blob (`?digest=`); or mounts one (`?mount=&from=`).
pub(super) async fn start(req: Request) -> Result<Response, RegistryError> {
    let name = req.name.clone();
    if let Some(mount) = req.query("mount") {
        let digest = parse_digest(mount)?;
        if let Some(from) = req.query("from").and_then(|f| f.parse::<RepoName>().ok()) {
            // Mounting needs pull on the source; without it, fall back to an upload.
            if may(&req.app, &req.headers, &from, Action::Pull).await {
                let (n, d) = (name.clone(), digest.clone());
                if blocking(&req.store, move |s| s.mount_blob(&n, &from, &d)).await? {
                    return Ok(blob_created(&name, &digest));
                }
            }
        }
        // Unknown blob or source: fall back to a plain upload session.
    } else if let Some(digest) = req.query("digest") {
        let digest = parse_digest(digest)?;
        let (store, n, d) = (req.store.clone(), name.clone(), digest.clone());
        stream_into(req.body, move |reader| store.put_blob(&n, &d, reader)).await?;
        return Ok(blob_created(&name, &digest));
    }
    let open = req.store.uploads_in_progress();
    if open >= req.app.max_sessions {
        return Err(RegistryError::TooManyRequests {
            what: format!("{open} upload sessions in progress"),
            retry_after: 10,
        });
    }
    let n = name.clone();
    let id = blocking(&req.store, move |s| s.start_upload(&n)).await?;
    Ok(session_response(StatusCode::ACCEPTED, &name, &id, 0))
}

/// Appends a chunk: with `Content-Range`, it must start where the upload ends (416 otherwise).
pub(super) async fn patch(req: Request, id: &str) -> Result<Response, RegistryError> {
    let id: UploadId = id.parse()?;
    let start = match req.header(header::CONTENT_RANGE) {
        None => None,
        Some(h) => {
            let range = parse_content_range(h)?;
            if let Some(len) = content_length(&req)? {
                if len != range.len() {
                    return Err(RegistryError::SizeInvalid(format!(
                        "Content-Length {len} does not match Content-Range {h}"
                    )));
                }
            }
            Some(range.start)
        }
    };
    let name = req.name.clone();
    let (store, n, i) = (req.store.clone(), name.clone(), id.clone());
    let size = stream_into(req.body, move |reader| {
        store.append_upload(&n, &i, start, reader)
    })
    .await?;
    Ok(session_response(StatusCode::ACCEPTED, &name, &id, size))
}

/// Completes a session with `?digest=`, appending an optional last chunk first.
pub(super) async fn put(req: Request, id: &str) -> Result<Response, RegistryError> {
    let id: UploadId = id.parse()?;
    let digest = parse_digest(req.query("digest").ok_or(RegistryError::DigestMissing)?)?;
    let start = req
        .header(header::CONTENT_RANGE)
        .map(parse_content_range)
        .transpose()?
        .map(|r| r.start);
    let name = req.name.clone();
    if content_length(&req)? != Some(0) {
        let (store, n, i) = (req.store.clone(), name.clone(), id.clone());
        stream_into(req.body, move |reader| {
            store.append_upload(&n, &i, start, reader)
        })
        .await?;
    }
    let (n, d) = (name.clone(), digest.clone());
    let started = blocking(&req.store, move |s| {
        let started = s.upload_started(&n, &id);
        s.complete_upload(&n, &id, &d).map(|_| started)
    })
    .await?;
    if let Some(elapsed) = started.and_then(|t| t.elapsed().ok()) {
        req.app.metrics.observe_upload(elapsed);
    }
    Ok(blob_created(&name, &digest))
}

/// Reports how much a session has received.
pub(super) async fn status(req: Request, id: &str) -> Result<Response, RegistryError> {
    let id: UploadId = id.parse()?;
    let (n, i) = (req.name.clone(), id.clone());
    let size = blocking(&req.store, move |s| s.upload_size(&n, &i)).await?;
    Ok(session_response(
        StatusCode::NO_CONTENT,
        &req.name,
        &id,
        size,
    ))
}

/// Cancels a session.
pub(super) async fn cancel(req: Request, id: &str) -> Result<Response, RegistryError> {
    let id: UploadId = id.parse()?;
    let n = req.name.clone();
    blocking(&req.store, move |s| s.cancel_upload(&n, &id)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
