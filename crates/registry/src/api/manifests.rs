//! `GET/HEAD/PUT/DELETE /v2/<name>/manifests/<reference>`.

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;

use super::{blocking, empty, set, Request};
use crate::error::RegistryError;
use crate::name::{Reference, ReferenceError};

/// Largest manifest accepted (the spec asks for at least 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Parses a reference for reading or deleting: an invalid tag names nothing (404), an invalid
/// digest is a bad request (400).
fn lookup_reference(req: &Request, reference: &str) -> Result<Reference, RegistryError> {
    Reference::parse(reference).map_err(|e| match e {
        ReferenceError::Digest(e) => e,
        ReferenceError::Tag(_) => RegistryError::ManifestUnknown {
            name: req.name.to_string(),
            reference: reference.to_string(),
        },
    })
}

/// Serves a manifest with its stored media type and exact bytes.
pub(super) async fn get(req: Request, reference: &str) -> Result<Response, RegistryError> {
    let reference = lookup_reference(&req, reference)?;
    let name = req.name.clone();
    let shown = reference.to_string();
    let m = blocking(&req.store, move |s| s.get_manifest(&name, &reference)).await?;
    if !accepts(&req.headers, &m.media_type) {
        // As distribution: an OCI manifest or index is not served to a client whose Accept
        // list leaves it out (Docker types are served regardless).
        return Err(RegistryError::ManifestUnknown {
            name: req.name.to_string(),
            reference: format!("{shown} (stored as {}, not in Accept)", m.media_type),
        });
    }
    let len = m.bytes.len();
    let body = if req.method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(m.bytes)
    };
    let mut res = Response::new(body);
    set(&mut res, "content-type", &m.media_type);
    set(&mut res, "content-length", len.to_string());
    set(&mut res, "docker-content-digest", m.digest.to_string());
    set(&mut res, "etag", format!("\"{}\"", m.digest));
    Ok(res)
}

/// Whether the client's `Accept` headers allow a manifest of `media_type`. No `Accept`, a
/// wildcard, `application/json` or a Docker media type always do.
fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    if !media_type.starts_with("application/vnd.oci.") {
        return true;
    }
    let mut any = false;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return true;
        };
        for item in value.split(',') {
            let t = item.split(';').next().unwrap_or("").trim();
            if t.is_empty() {
                continue;
            }
            any = true;
            if t == media_type || t == "*/*" || t == "application/*" || t == "application/json" {
                return true;
            }
        }
    }
    !any
}

/// Validates and stores a manifest under a tag or digest.
pub(super) async fn put(req: Request, reference: &str) -> Result<Response, RegistryError> {
    let reference = Reference::parse(reference).map_err(|e| match e {
        ReferenceError::Digest(e) => e,
        ReferenceError::Tag(msg) => RegistryError::ManifestInvalid(msg),
    })?;
    let content_type = req.header(header::CONTENT_TYPE).map(str::to_string);
    let bytes = axum::body::to_bytes(req.body, MAX_MANIFEST_BYTES)
        .await
        .map_err(|e| {
            RegistryError::ManifestInvalid(format!(
                "reading the manifest (at most {MAX_MANIFEST_BYTES} bytes): {e}"
            ))
        })?;
    let name = req.name.clone();
    let pushed = blocking(&req.store, move |s| {
        s.put_manifest(&name, &reference, &bytes, content_type.as_deref())
    })
    .await?;
    let mut res = empty(StatusCode::CREATED);
    set(
        &mut res,
        "location",
        format!("/v2/{}/manifests/{}", req.name, pushed.digest),
    );
    set(&mut res, "docker-content-digest", pushed.digest.to_string());
    set(&mut res, "content-length", "0");
    if let Some(subject) = pushed.subject {
        set(&mut res, "oci-subject", subject.to_string());
    }
    Ok(res)
}

/// Deletes a tag, or a manifest by digest (with every tag pointing to it).
pub(super) async fn delete(req: Request, reference: &str) -> Result<Response, RegistryError> {
    let reference = lookup_reference(&req, reference)?;
    let name = req.name.clone();
    blocking(&req.store, move |s| s.delete_manifest(&name, &reference)).await?;
    Ok(empty(StatusCode::ACCEPTED))
}
