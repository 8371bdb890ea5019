//! `docker push`: see the module doc of [`super`].

use std::io::Read;
use std::sync::Arc;

use api::docker::JsonMessage;
use api::image::{Descriptor, Manifest, MEDIA_TYPE_OCI_MANIFEST};
use api::{Digest, ImageRef};
use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use hyper::{Method, StatusCode};
use tokio::sync::Semaphore;

use super::client::{encode_query, read_body, registry_host, unexpected, Session};
use super::transport::{channel, empty, full, Transport, Url};
use super::{short_id, AbortOnDrop, AuthConfig, DistributionError, Progress, Throttle};
use crate::ImageStore;

/// Blobs up to this size go up in one PUT; larger ones as a streamed PATCH, then a PUT.
const MONOLITHIC_MAX: u64 = 1 << 20;

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    /// The tag pushed.
    pub tag: String,
    /// The manifest's digest in the registry.
    pub digest: Digest,
    /// The manifest's size.
    pub size: usize,
}

/// Pushes the local image `reference` (which has a tag) to its registry.
pub async fn push(
    store: Arc<ImageStore>,
    transport: Arc<Transport>,
    reference: &ImageRef,
    auth: Option<AuthConfig>,
    progress: &Progress,
) -> Result<PushOutcome, DistributionError> {
    let tag = reference.tag().unwrap_or("latest").to_string();
    let store2 = store.clone();
    let name = reference.to_string();
    let src = tokio::task::spawn_blocking(move || store2.push_source(&name))
        .await
        .map_err(|e| DistributionError::Protocol(format!("push task failed: {e}")))?
        .map_err(|e| match e {
            crate::ImageError::NotFound(_) => DistributionError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                reference.familiar_name()
            )),
            e => e.into(),
        })?;
    progress.status(format!(
        "The push refers to repository [{}]",
        reference.familiar_name()
    ));
    let manifest: Manifest = serde_json::from_slice(&src.manifest)
        .map_err(|e| DistributionError::Invalid(format!("invalid local manifest: {e}")))?;
    let config_bytes = store.content().read(&manifest.config.digest)?;
    let config: api::image::ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| DistributionError::Invalid(format!("invalid local image config: {e}")))?;
    let diff_ids = config.rootfs.diff_ids;
    let repo = reference.path().to_string();
    // A cross-repository mount is possible from the repository the image came from, on the
    // same registry.
    let mount_from = src.source.as_deref().and_then(|s| {
        let (domain, path) = s.split_once('/')?;
        (registry_host(domain) == registry_host(reference.domain()) && path != repo)
            .then(|| path.to_string())
    });
    let mut scopes = vec![format!("repository:{repo}:pull,push")];
    if let Some(from) = &mount_from {
        scopes.push(format!("repository:{from}:pull"));
    }
    let session = Arc::new(Session::open(transport, reference.domain(), auth).await?);

    let ids: Vec<String> = manifest
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            diff_ids
                .get(i)
                .map(short_id)
                .unwrap_or_else(|| short_id(&l.digest))
        })
        .collect();
    for id in ids.iter().rev() {
        progress.layer(id, "Preparing");
    }
    let limit = Arc::new(Semaphore::new(3));
    let mut uploads = AbortOnDrop(Vec::new());
    for (i, l) in manifest.layers.iter().enumerate().rev() {
        let (session, store, limit, progress) = (
            session.clone(),
            store.clone(),
            limit.clone(),
            progress.clone(),
        );
        let (repo, desc, scopes, from, id) = (
            repo.clone(),
            l.clone(),
            scopes.clone(),
            mount_from.clone(),
            ids[i].clone(),
        );
        uploads.0.push(tokio::spawn(async move {
            let permit = match limit.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    progress.layer(&id, "Waiting");
                    limit.acquire_owned().await.expect("semaphore never closes")
                }
            };
            let r = push_blob(
                &session,
                &store,
                &repo,
                &desc,
                &scopes,
                from.as_deref(),
                Some((&id, &progress)),
            )
            .await;
            drop(permit);
            r
        }));
    }
    for h in &mut uploads.0 {
        h.await
            .map_err(|e| DistributionError::Protocol(format!("upload task failed: {e}")))??;
    }
    push_blob(
        &session,
        &store,
        &repo,
        &manifest.config,
        &scopes,
        mount_from.as_deref(),
        None,
    )
    .await?;

    // The manifest, byte for byte.
    let media_type = manifest
        .media_type
        .clone()
        .unwrap_or_else(|| MEDIA_TYPE_OCI_MANIFEST.to_string());
    let mut headers = HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_str(&media_type)
            .map_err(|_| DistributionError::Invalid(format!("bad media type {media_type:?}")))?,
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(src.manifest.len()));
    let url = session.url(&format!("/v2/{repo}/manifests/{tag}"));
    let resp = session
        .request(
            Method::PUT,
            &url,
            &scopes,
            headers,
            full(Bytes::from(src.manifest.clone())),
        )
        .await?;
    if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
        return Err(unexpected(&format!("pushing manifest {tag}"), resp).await);
    }
    let digest = Digest::sha256_of(&src.manifest);
    let size = src.manifest.len();
    let (store2, id, repository) = (store.clone(), src.id.clone(), reference.repository());
    let d2 = digest.clone();
    tokio::task::spawn_blocking(move || store2.add_repo_digest(&id, &repository, &d2))
        .await
        .map_err(|e| DistributionError::Protocol(format!("push task failed: {e}")))??;
    progress.status(format!("{tag}: digest: {digest} size: {size}"));
    progress.send(JsonMessage {
        progress_detail: Some(Default::default()),
        aux: Some(serde_json::json!({"Tag": tag, "Digest": digest.to_string(), "Size": size})),
        ..JsonMessage::default()
    });
    Ok(PushOutcome { tag, digest, size })
}

/// Makes sure the registry has blob `desc` in `repo`: present already, mounted from `from`,
/// or uploaded.
async fn push_blob(
    session: &Session,
    store: &Arc<ImageStore>,
    repo: &str,
    desc: &Descriptor,
    scopes: &[String],
    from: Option<&str>,
    show: Option<(&str, &Progress)>,
) -> Result<(), DistributionError> {
    let url = session.url(&format!("/v2/{repo}/blobs/{}", desc.digest));
    let resp = session
        .request(Method::HEAD, &url, scopes, HeaderMap::new(), empty())
        .await?;
    if resp.status().is_success() {
        if let Some((id, p)) = show {
            p.layer(id, "Layer already exists");
        }
        return Ok(());
    }
    if resp.status() != StatusCode::NOT_FOUND {
        return Err(unexpected(&format!("checking blob {}", desc.digest), resp).await);
    }
    let start = match from {
        Some(f) => format!(
            "/v2/{repo}/blobs/uploads/?mount={}&from={}",
            desc.digest,
            encode_query(f)
        ),
        None => format!("/v2/{repo}/blobs/uploads/"),
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(0));
    let resp = session
        .request(Method::POST, &session.url(&start), scopes, headers, empty())
        .await?;
    if resp.status() == StatusCode::CREATED && from.is_some() {
        if let Some((id, p)) = show {
            p.layer(id, &format!("Mounted from {}", from.unwrap_or_default()));
        }
        return Ok(());
    }
    if resp.status() != StatusCode::ACCEPTED {
        return Err(unexpected(&format!("starting upload of {}", desc.digest), resp).await);
    }
    let mut location = location(session, &resp)?;
    drop(resp);

    let path = store.content().blob_path(&desc.digest);
    if desc.size > MONOLITHIC_MAX {
        // A streamed PATCH with the whole blob, then a PUT that names the digest.
        let (tx, body) = channel(8);
        let desc2 = desc.clone();
        let progress = show.map(|(id, p)| (id.to_string(), p.clone()));
        let reader = tokio::task::spawn_blocking(move || {
            let mut f = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            let mut done = 0u64;
            let mut throttle = Throttle::default();
            loop {
                let mut buf = vec![0u8; 256 << 10];
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                            return;
                        }
                        done += n as u64;
                        if let Some((id, p)) = &progress {
                            if throttle.due(done, desc2.size) {
                                p.send(JsonMessage::progress(id, "Pushing", done, desc2.size));
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let resp = session
            .request(Method::PATCH, &location, scopes, headers, body)
            .await?;
        let _ = reader.await;
        if resp.status() != StatusCode::ACCEPTED && resp.status() != StatusCode::NO_CONTENT {
            return Err(unexpected(&format!("uploading blob {}", desc.digest), resp).await);
        }
        location = location_or(session, &resp, location);
        drop(resp);
        put_digest(session, &location, scopes, desc, empty(), 0).await?;
    } else {
        let bytes = tokio::fs::read(&path).await.map_err(|e| {
            DistributionError::Image(crate::ImageError::Archive(format!(
                "reading blob {}: {e}",
                desc.digest
            )))
        })?;
        if let Some((id, p)) = show {
            p.send(JsonMessage::progress(
                id,
                "Pushing",
                bytes.len() as u64,
                desc.size,
            ));
        }
        let n = bytes.len();
        put_digest(session, &location, scopes, desc, full(bytes), n).await?;
    }
    if let Some((id, p)) = show {
        p.layer(id, "Pushed");
    }
    Ok(())
}

async fn put_digest(
    session: &Session,
    location: &Url,
    scopes: &[String],
    desc: &Descriptor,
    body: super::transport::ReqBody,
    len: usize,
) -> Result<(), DistributionError> {
    let mut url = location.clone();
    url.path
        .push(if url.path.contains('?') { '&' } else { '?' });
    url.path.push_str(&format!(
        "digest={}",
        encode_query(&desc.digest.to_string())
    ));
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let resp = session
        .request(Method::PUT, &url, scopes, headers, body)
        .await?;
    if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
        return Err(unexpected(&format!("completing upload of {}", desc.digest), resp).await);
    }
    let _ = read_body(resp, 64 << 10).await;
    Ok(())
}

fn location(
    session: &Session,
    resp: &hyper::Response<hyper::body::Incoming>,
) -> Result<Url, DistributionError> {
    resp.headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| session.url("/").join(l))
        .ok_or_else(|| DistributionError::Protocol("registry sent no upload location".to_string()))
}

fn location_or(session: &Session, resp: &hyper::Response<hyper::body::Incoming>, old: Url) -> Url {
    location(session, resp).unwrap_or(old)
}
