//! `docker pull`: see the module doc of [`super`].

use std::io::Write;
use std::sync::Arc;

use api::docker::JsonMessage;
use api::image::{
    Descriptor, Index, Manifest, Platform, MEDIA_TYPE_DOCKER_LAYER_FOREIGN,
    MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_LAYER_GZIP,
    MEDIA_TYPE_OCI_LAYER_ZSTD, MEDIA_TYPE_OCI_MANIFEST,
};
use api::{Digest, ImageRef};
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use tokio::sync::Semaphore;

use super::client::{read_body, unexpected, Session};
use super::transport::{empty, Transport};
use super::{short_id, AbortOnDrop, AuthConfig, DistributionError, Progress, Throttle};
use crate::{ImageInfo, ImageStore, PulledImage};

/// The largest manifest or index accepted (the distribution spec's limit).
pub const MAX_MANIFEST: usize = 4 << 20;
const MAX_CONFIG: usize = 32 << 20;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to pick from an index (default: the host's).
    pub platform: Option<Platform>,
    /// Layers downloaded at once (Docker's default is 3).
    pub concurrency: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            concurrency: 3,
        }
    }
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    /// The image now in the store.
    pub image: ImageInfo,
    /// The digest pulled (the index's, for a multi-platform image).
    pub digest: Digest,
    /// Whether the store changed (a new image or a moved tag).
    pub changed: bool,
}

/// Pulls `reference` into `store`, reporting progress as Docker does.
pub async fn pull(
    store: Arc<ImageStore>,
    transport: Arc<Transport>,
    reference: &ImageRef,
    auth: Option<AuthConfig>,
    options: &PullOptions,
    progress: &Progress,
) -> Result<PullOutcome, DistributionError> {
    let session = Arc::new(Session::open(transport, reference.domain(), auth).await?);
    let repo = reference.path().to_string();
    let scopes = vec![format!("repository:{repo}:pull")];
    let (by, shown) = match (reference.digest(), reference.tag()) {
        (Some(d), _) => (d.to_string(), d.to_string()),
        (None, Some(t)) => (t.to_string(), t.to_string()),
        (None, None) => ("latest".to_string(), "latest".to_string()),
    };
    let (bytes, media_type, digest) =
        fetch_manifest(&session, &repo, &by, &scopes, reference).await?;
    if let Some(want) = reference.digest() {
        if &digest != want {
            return Err(DistributionError::DigestMismatch(format!(
                "manifest verification failed for digest {want}"
            )));
        }
    }
    progress.send(JsonMessage {
        status: Some(format!("Pulling from {repo}")),
        id: Some(shown),
        ..JsonMessage::default()
    });
    let platform = options.platform.clone().unwrap_or_else(Platform::host);
    let (manifest_bytes, manifest) = if is_index(&media_type) {
        let index: Index = serde_json::from_slice(&bytes)
            .map_err(|e| DistributionError::Invalid(format!("invalid image index: {e}")))?;
        let pick = pick_platform(&index, &platform).ok_or_else(|| {
            DistributionError::NotFound(format!(
                "no matching manifest for {}/{}{} in the manifest list entries",
                platform.os,
                platform.architecture,
                platform
                    .variant
                    .as_deref()
                    .map(|v| format!("/{v}"))
                    .unwrap_or_default()
            ))
        })?;
        let (b, mt, d) = fetch_manifest(
            &session,
            &repo,
            &pick.digest.to_string(),
            &scopes,
            reference,
        )
        .await?;
        if d != pick.digest {
            return Err(DistributionError::DigestMismatch(format!(
                "manifest verification failed for digest {}",
                pick.digest
            )));
        }
        if is_index(&mt) {
            return Err(DistributionError::Invalid(
                "nested image indexes are not supported".into(),
            ));
        }
        let m = parse_manifest(&b)?;
        (b.to_vec(), m)
    } else {
        let m = parse_manifest(&bytes)?;
        (bytes.to_vec(), m)
    };
    for l in &manifest.layers {
        if !is_layer(&l.media_type) {
            return Err(DistributionError::Invalid(format!(
                "unsupported layer media type {:?} in {}",
                l.media_type, reference
            )));
        }
    }

    // Nothing this pull stores is garbage until the image is recorded.
    let lease = store.lease();
    let mut leased: Vec<Digest> = manifest.layers.iter().map(|l| l.digest.clone()).collect();
    leased.push(manifest.config.digest.clone());
    lease.add(&leased, &[]);

    // Config.
    let config = if store.content().exists(&manifest.config.digest) {
        store.content().read(&manifest.config.digest)?
    } else {
        let b = fetch_small_blob(&session, &repo, &manifest.config, &scopes).await?;
        store.content().put(&b)?;
        b
    };
    let image_config: api::image::ImageConfig = serde_json::from_slice(&config)
        .map_err(|e| DistributionError::Invalid(format!("invalid image config: {e}")))?;
    let diff_ids = image_config.rootfs.diff_ids.clone();
    if diff_ids.len() != manifest.layers.len() {
        return Err(DistributionError::Invalid(format!(
            "image has {} layers but its config lists {} diff ids",
            manifest.layers.len(),
            diff_ids.len()
        )));
    }
    let chain: Vec<Digest> = (0..diff_ids.len())
        .map(|i| api::image::chain_id(&diff_ids[..=i]).expect("non-empty"))
        .collect();

    lease.add(&[], &chain);

    // Downloads, bounded, in the background.
    let limit = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut downloads = AbortOnDrop(Vec::new());
    let mut present = Vec::new();
    for (i, l) in manifest.layers.iter().enumerate() {
        let id = short_id(&l.digest);
        let have = store.content().exists(&l.digest) && store.has_layer(&chain[i]);
        present.push(have);
        if have {
            progress.layer(&id, "Already exists");
        } else {
            progress.layer(&id, "Pulling fs layer");
        }
    }
    for (i, l) in manifest.layers.iter().enumerate() {
        let task = if present[i] || store.content().exists(&l.digest) {
            tokio::spawn(async { Ok(()) })
        } else {
            let (session, store, limit, progress) = (
                session.clone(),
                store.clone(),
                limit.clone(),
                progress.clone(),
            );
            let (repo, desc, scopes) = (repo.clone(), l.clone(), scopes.clone());
            tokio::spawn(async move {
                let id = short_id(&desc.digest);
                let permit = match limit.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(_) => {
                        progress.layer(&id, "Waiting");
                        limit.acquire_owned().await.expect("semaphore never closes")
                    }
                };
                let r = download(&session, &store, &repo, &desc, &scopes, &progress).await;
                drop(permit);
                r
            })
        };
        downloads.0.push(task);
    }

    // Unpack in order, each layer as soon as its download is done.
    for i in 0..manifest.layers.len() {
        let result = (&mut downloads.0[i]).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => {
                return Err(DistributionError::Protocol(format!(
                    "download task failed: {e}"
                )))
            }
        }
        if present[i] {
            continue;
        }
        let l = manifest.layers[i].clone();
        let id = short_id(&l.digest);
        let (store2, progress2) = (store.clone(), progress.clone());
        let (diff_id, chain_id) = (diff_ids[i].clone(), chain[i].clone());
        let parent = i.checked_sub(1).map(|p| chain[p].clone());
        tokio::task::spawn_blocking(move || {
            let mut throttle = Throttle::default();
            let total = l.size;
            store2.unpack_blob(
                &l.digest,
                &diff_id,
                &chain_id,
                parent.as_ref(),
                &mut |done| {
                    if throttle.due(done, total) {
                        progress2.send(JsonMessage::progress(
                            short_id(&l.digest),
                            "Extracting",
                            done.min(total),
                            total,
                        ));
                    }
                },
            )
        })
        .await
        .map_err(|e| DistributionError::Protocol(format!("unpack task failed: {e}")))??;
        progress.layer(&id, "Pull complete");
    }

    let tag = match (reference.tag(), reference.digest()) {
        (Some(t), None) => Some(reference.with_tag(t).map_err(crate::ImageError::from)?),
        _ => None,
    };
    let repo_digest: ImageRef = format!("{}@{digest}", reference.repository())
        .parse()
        .map_err(crate::ImageError::from)?;
    let pulled = PulledImage {
        manifest: manifest_bytes,
        config,
        layers: manifest.layers.iter().map(|l| l.digest.clone()).collect(),
        tag,
        repo_digest: Some(repo_digest),
        source: reference.repository(),
    };
    let store2 = store.clone();
    let (image, changed) = tokio::task::spawn_blocking(move || store2.record_pulled(pulled))
        .await
        .map_err(|e| DistributionError::Protocol(format!("record task failed: {e}")))??;
    drop(lease);
    progress.status(format!("Digest: {digest}"));
    let shown = reference.familiar();
    progress.status(if changed {
        format!("Status: Downloaded newer image for {shown}")
    } else {
        format!("Status: Image is up to date for {shown}")
    });
    Ok(PullOutcome {
        image,
        digest,
        changed,
    })
}

fn is_index(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_INDEX || media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

fn is_layer(media_type: &str) -> bool {
    [
        MEDIA_TYPE_OCI_LAYER,
        MEDIA_TYPE_OCI_LAYER_GZIP,
        MEDIA_TYPE_OCI_LAYER_ZSTD,
        MEDIA_TYPE_DOCKER_LAYER_GZIP,
        MEDIA_TYPE_DOCKER_LAYER_FOREIGN,
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    ]
    .contains(&media_type)
}

fn parse_manifest(bytes: &[u8]) -> Result<Manifest, DistributionError> {
    serde_json::from_slice(bytes)
        .map_err(|e| DistributionError::Invalid(format!("invalid image manifest: {e}")))
}

/// The index entry for `platform` (os and architecture; the variant when both name one).
fn pick_platform<'a>(index: &'a Index, platform: &Platform) -> Option<&'a Descriptor> {
    let matches = |d: &&Descriptor| {
        d.platform.as_ref().is_some_and(|p| {
            p.os == platform.os
                && p.architecture == platform.architecture
                && match (&platform.variant, &p.variant) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        })
    };
    index.manifests.iter().find(matches)
}

/// GETs a manifest by tag or digest: (bytes, media type, digest of the bytes).
async fn fetch_manifest(
    session: &Session,
    repo: &str,
    by: &str,
    scopes: &[String],
    reference: &ImageRef,
) -> Result<(bytes::Bytes, String, Digest), DistributionError> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
    let url = session.url(&format!("/v2/{repo}/manifests/{by}"));
    let resp = session
        .request(Method::GET, &url, scopes, headers, empty())
        .await?;
    if resp.status() == StatusCode::NOT_FOUND {
        let e = unexpected("", resp).await;
        let text = e.to_string();
        let text = text.trim_start_matches(": ");
        return Err(DistributionError::NotFound(format!(
            "manifest for {} not found: {text}",
            reference.familiar()
        )));
    }
    if !resp.status().is_success() {
        return Err(unexpected(&format!("fetching manifest {by}"), resp).await);
    }
    let header_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let bytes = read_body(resp, MAX_MANIFEST).await?;
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(rename = "schemaVersion", default)]
        schema_version: Option<u32>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(&bytes)
        .map_err(|e| DistributionError::Invalid(format!("invalid manifest for {by}: {e}")))?;
    if probe.schema_version == Some(1) {
        return Err(DistributionError::Invalid(format!(
            "unsupported manifest media type and no default available: {header_type} (Docker image format v1 is not supported)"
        )));
    }
    let media_type = match probe.media_type {
        Some(mt) => mt,
        None if probe.manifests.is_some() => MEDIA_TYPE_OCI_INDEX.to_string(),
        None if header_type == MEDIA_TYPE_OCI_MANIFEST
            || header_type == MEDIA_TYPE_DOCKER_MANIFEST
            || is_index(&header_type) =>
        {
            header_type
        }
        None => MEDIA_TYPE_OCI_MANIFEST.to_string(),
    };
    if !(is_index(&media_type)
        || media_type == MEDIA_TYPE_OCI_MANIFEST
        || media_type == MEDIA_TYPE_DOCKER_MANIFEST)
    {
        return Err(DistributionError::Invalid(format!(
            "unsupported manifest media type {media_type:?} for {}",
            reference.familiar()
        )));
    }
    let digest = Digest::sha256_of(&bytes);
    Ok((bytes, media_type, digest))
}

/// GETs a small blob (a config) into memory and verifies it.
async fn fetch_small_blob(
    session: &Session,
    repo: &str,
    desc: &Descriptor,
    scopes: &[String],
) -> Result<Vec<u8>, DistributionError> {
    let url = session.url(&format!("/v2/{repo}/blobs/{}", desc.digest));
    let resp = session
        .request(Method::GET, &url, scopes, HeaderMap::new(), empty())
        .await?;
    if !resp.status().is_success() {
        return Err(unexpected(&format!("fetching blob {}", desc.digest), resp).await);
    }
    let bytes = read_body(resp, MAX_CONFIG).await?;
    if Digest::sha256_of(&bytes) != desc.digest {
        return Err(DistributionError::DigestMismatch(format!(
            "image config verification failed for digest {}",
            desc.digest
        )));
    }
    Ok(bytes.to_vec())
}

/// Streams one layer blob into the content store, verifying its size and digest.
async fn download(
    session: &Session,
    store: &Arc<ImageStore>,
    repo: &str,
    desc: &Descriptor,
    scopes: &[String],
    progress: &Progress,
) -> Result<(), DistributionError> {
    let id = short_id(&desc.digest);
    let url = session.url(&format!("/v2/{repo}/blobs/{}", desc.digest));
    let resp = session
        .request(Method::GET, &url, scopes, HeaderMap::new(), empty())
        .await?;
    if !resp.status().is_success() {
        return Err(unexpected(&format!("fetching blob {}", desc.digest), resp).await);
    }
    let mut writer = store.content().writer()?;
    let mut body = resp.into_body();
    let mut done: u64 = 0;
    let mut throttle = Throttle::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            DistributionError::Protocol(format!("reading blob {}: {e}", desc.digest))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        done += data.len() as u64;
        if done > desc.size {
            return Err(DistributionError::DigestMismatch(format!(
                "filesystem layer verification failed for digest {}: more than its {} bytes",
                desc.digest, desc.size
            )));
        }
        writer.write_all(&data).map_err(|e| {
            DistributionError::Image(crate::ImageError::Archive(format!(
                "storing blob {}: {e}",
                desc.digest
            )))
        })?;
        if throttle.due(done, desc.size) {
            progress.send(JsonMessage::progress(&id, "Downloading", done, desc.size));
        }
    }
    progress.layer(&id, "Verifying Checksum");
    let expected = desc.digest.clone();
    let size = desc.size;
    tokio::task::spawn_blocking(move || writer.commit_exact(&expected, size))
        .await
        .map_err(|e| DistributionError::Protocol(format!("commit task failed: {e}")))?
        .map_err(|e| {
            DistributionError::DigestMismatch(format!(
                "filesystem layer verification failed for digest {}: {e}",
                desc.digest
            ))
        })?;
    progress.layer(&id, "Download complete");
    Ok(())
}
