//! `GET/HEAD/DELETE /v2/<name>/blobs/<digest>`.

use std::io::Read;

use axum::body::Body;
use axum::http::{header, Method, StatusCode};
use axum::response::Response;

use super::body::file_body;
use super::{blocking, empty, set, Request};
use crate::error::{parse_digest, RegistryError};
use crate::range::parse_range;

/// Blobs up to this size are read into memory in one go.
const SMALL_BLOB: u64 = 64 * 1024;

/// Serves a blob, whole or one `Range`.
pub(super) async fn get(req: Request, digest: &str) -> Result<Response, RegistryError> {
    let digest = parse_digest(digest)?;
    let name = req.name.clone();
    let d = digest.clone();
    let head = req.method == Method::HEAD;
    // Small blobs (configs, the usual HEAD) are answered from one blocking call.
    let (file, size, small) = blocking(&req.store, move |s| {
        if head {
            return Ok((None, s.blob_size(&name, &d)?, None));
        }
        let (mut file, size) = s.open_blob(&name, &d)?;
        if size <= SMALL_BLOB {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes)
                .map_err(RegistryError::io("read blob", d.to_string()))?;
            return Ok((None, size, Some(bytes)));
        }
        Ok((Some(file), size, None))
    })
    .await?;
    let range = parse_range(req.header(header::RANGE), size)?;
    let (status, start, len) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.start, r.len()),
        None => (StatusCode::OK, 0, size),
    };
    let body = match (file, small) {
        _ if head => Body::empty(),
        (_, Some(bytes)) if bytes.len() as u64 == size => {
            let end = usize::try_from(start + len).unwrap_or(bytes.len());
            Body::from(bytes[start as usize..end].to_vec())
        }
        (Some(file), _) => file_body(file, start, len),
        _ => {
            return Err(RegistryError::io("read blob", digest.to_string())(
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "blob changed size"),
            ))
        }
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
