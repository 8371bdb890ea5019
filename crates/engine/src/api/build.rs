//! `POST /build` (the classic builder's API, what the docker CLI uses without buildx) and
//! `POST /build/prune`. The context tar is unpacked while it arrives (never held in memory)
//! into `<root>/builder/contexts/<unique>/`, parse and plan errors answer 400 before any
//! output (as dockerd does), then the build streams Docker's JSON messages. A client that goes
//! away stops the build and kills its RUN container.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use api::{Digest, ImageRef};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use builder::exec::{Build, BuildError, BuildSettings, Output};
use builder::plan::BuildOptions;
use image::distribution::AuthConfig;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{body_reader, json_response, stream_response, ApiResult, AppState, Params};
use crate::build::EngineExecutor;
use crate::error::EngineError;

/// The build's messages: queued without blocking (the builder calls from inside the runtime
/// too) and forwarded to the response by a task, which notices a client that went away.
struct ChannelOutput {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    gone: Arc<AtomicBool>,
    quiet: bool,
    held: Mutex<Vec<Vec<u8>>>,
}

fn line(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.extend_from_slice(b"\r\n");
    b
}

impl ChannelOutput {
    fn send(&self, v: Value) {
        let l = line(&v);
        if self.quiet {
            self.held.lock().unwrap_or_else(|p| p.into_inner()).push(l);
        } else if self.tx.send(l).is_err() {
            self.gone.store(true, Ordering::SeqCst);
        }
    }
}

impl Output for ChannelOutput {
    fn stream(&self, text: &str) {
        self.send(json!({ "stream": text }));
    }
    fn aux_id(&self, id: &Digest) {
        self.send(json!({ "aux": { "ID": id.to_string() } }));
    }
    fn cancelled(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }
}

/// `X-Registry-Config`: base64 JSON `{registry: AuthConfig}`.
fn registry_config(headers: &HeaderMap) -> BTreeMap<String, AuthConfig> {
    let Some(v) = headers
        .get("x-registry-config")
        .and_then(|v| v.to_str().ok())
    else {
        return BTreeMap::new();
    };
    let t = v.trim().trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(t))
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

fn json_map(p: &Params, key: &str) -> Result<BTreeMap<String, Option<String>>, EngineError> {
    match p.get(key).filter(|s| !s.is_empty()) {
        None => Ok(BTreeMap::new()),
        Some(s) => {
            serde_json::from_str(s).map_err(|e| EngineError::Invalid(format!("invalid {key}: {e}")))
        }
    }
}

/// The docker CLI ends the tar it rewrites for a Dockerfile outside the context (`-f
/// ../Dockerfile`) right after the last file's data, without the padding and the two zero
/// blocks (Go's tar reader and dockerd accept that). This reader supplies them at EOF: zeros up
/// to the next 512-byte boundary and two zero blocks.
struct PaddedTar<R> {
    inner: R,
    read: u64,
    tail: Option<usize>,
}

impl<R: std::io::Read> std::io::Read for PaddedTar<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.tail.is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.read += n as u64;
                return Ok(n);
            }
            let pad = (512 - (self.read % 512) as usize) % 512;
            self.tail = Some(pad + 1024);
        }
        let left = self.tail.as_mut().expect("set above");
        let n = (*left).min(buf.len());
        buf[..n].fill(0);
        *left -= n;
        Ok(n)
    }
}

/// Removes a build's scratch directory when dropped.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.0.display(), error = %e, "could not remove a build's scratch directory");
            }
        }
    }
}

fn early(e: BuildError) -> super::ApiError {
    EngineError::Invalid(e.to_string()).into()
}

/// `POST /build?t=&dockerfile=&buildargs=&labels=&target=&nocache=&pull=&q=&networkmode=&platform=&rm=&forcerm=&cachefrom=`.
pub async fn build(
    State(engine): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let remote = p.get("remote").filter(|r| !r.is_empty()).map(String::from);
    if let Some(r) = &remote {
        if !(r.starts_with("http://") || r.starts_with("https://")) || r.ends_with(".git") {
            return Err(EngineError::Invalid(format!(
                "unable to prepare context: remote context {r:?} is not supported by berth: only http(s) URLs of tarballs"
            ))
            .into());
        }
    }
    let mut tags = Vec::new();
    for t in p.all("t") {
        let r: ImageRef = t.parse().map_err(|e: api::reference::InvalidReference| {
            EngineError::Invalid(format!("invalid tag {t:?}: {e}"))
        })?;
        tags.push(r);
    }
    let labels: BTreeMap<String, String> = json_map(&p, "labels")?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    let settings = BuildSettings {
        dockerfile: p.get("dockerfile").unwrap_or("Dockerfile").to_string(),
        options: BuildOptions {
            build_args: json_map(&p, "buildargs")?,
            target: p.get("target").filter(|t| !t.is_empty()).map(String::from),
            labels,
            platform: p
                .get("platform")
                .filter(|t| !t.is_empty())
                .map(String::from),
        },
        tags,
        no_cache: p.bool("nocache", false),
        pull: p.bool("pull", false),
        network: p.get("networkmode").unwrap_or("").to_string(),
        keep_containers: !p.bool("rm", true),
        force_rm: p.bool("forcerm", false),
        cache_from: match p.get("cachefrom").filter(|s| !s.is_empty()) {
            None => Vec::new(),
            Some(s) => serde_json::from_str(s)
                .map_err(|e| EngineError::Invalid(format!("invalid cachefrom: {e}")))?,
        },
    };
    let quiet = p.bool("q", false);
    let auths = registry_config(&headers);

    // The context, unpacked as it streams in, over the previous build's context when it is
    // free (unchanged files are not rewritten nor hashed again: see builder::exec::context).
    let contexts = engine.paths.root.join("builder/contexts");
    let mut ctx = tokio::task::spawn_blocking({
        let contexts = contexts.clone();
        move || builder::exec::context::ContextDir::take(&contexts)
    })
    .await
    .map_err(crate::container::join_error)?
    .map_err(EngineError::io(format!(
        "create a context in {}",
        contexts.display()
    )))?;
    let dir = ctx.path();
    let remote_file = match &remote {
        None => None,
        Some(url) => {
            // Spooled to a file first, then read like an uploaded context (maybe compressed).
            let spool = engine
                .paths
                .root
                .join("builder/contexts")
                .join(format!("{}.remote", content::atomic::unique_suffix()));
            let mut f = std::fs::File::create(&spool)
                .map_err(EngineError::io(format!("create {}", spool.display())))?;
            let fetched = crate::build::download_to(&engine, url, &mut f).await;
            drop(f);
            let opened = std::fs::File::open(&spool);
            let _ = std::fs::remove_file(&spool);
            fetched.map_err(|e| EngineError::Invalid(format!("unable to prepare context: {e}")))?;
            Some(opened.map_err(EngineError::io("open the downloaded context"))?)
        }
    };
    let body = body_reader(body);
    let ctx = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        // A context may come compressed (the docker CLI sends a downloaded tarball as is).
        let reader: Box<dyn std::io::Read> = match remote_file {
            None => image::decompress(body)?.1,
            Some(f) => image::decompress(f)?.1,
        };
        let reader = PaddedTar {
            inner: reader,
            read: 0,
            tail: None,
        };
        let stats = ctx
            .unpack(reader)
            .map_err(|e| image::UnpackError::Read(std::io::Error::other(e.to_string())))?;
        tracing::debug!(
            files = stats.files,
            written = stats.written,
            bytes = stats.bytes,
            hashed = stats.hashed,
            read = stats.read,
            ms = started.elapsed().as_millis() as u64,
            "build context unpacked"
        );
        Ok::<_, image::UnpackError>(ctx)
    })
    .await
    .map_err(crate::container::join_error)?
    .map_err(|e| {
        let mut m = format!("failed to read the build context: {e}");
        let mut cur = std::error::Error::source(&e);
        while let Some(c) = cur {
            m.push_str(&format!(": {c}"));
            cur = c.source();
        }
        EngineError::Invalid(m)
    })?;

    let d = dir.clone();
    let s = settings.clone();
    let prepared = tokio::task::spawn_blocking(move || builder::exec::prepare(&d, &s))
        .await
        .map_err(crate::container::join_error)?
        .map_err(early)?;

    let (tx, resp) = stream_response(StatusCode::OK, Some("application/json"));
    let (qtx, mut qrx) = mpsc::unbounded_channel::<Vec<u8>>();
    let gone = Arc::new(AtomicBool::new(false));
    let out = Arc::new(ChannelOutput {
        tx: qtx,
        gone: gone.clone(),
        quiet,
        held: Mutex::new(Vec::new()),
    });
    // Forwarder: queue -> response; marks the build cancelled when the client leaves.
    let forward = {
        let gone = gone.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    m = qrx.recv() => match m {
                        Some(l) => {
                            if tx.send(l).await.is_err() {
                                gone.store(true, Ordering::SeqCst);
                                return None;
                            }
                        }
                        None => return Some(tx),
                    },
                    _ = tx.closed() => {
                        gone.store(true, Ordering::SeqCst);
                        return None;
                    }
                }
            }
        })
    };
    let handle = tokio::runtime::Handle::current();
    let executor = EngineExecutor {
        engine: engine.clone(),
        handle,
        auths,
    };
    let eng = engine.clone();
    tokio::spawn(async move {
        let out2 = out.clone();
        let result = tokio::task::spawn_blocking(move || {
            let scratch = ScratchDir(
                eng.paths
                    .root
                    .join("builder/tmp")
                    .join(content::atomic::unique_suffix()),
            );
            let b = Build {
                store: &eng.images,
                cache: &eng.build_cache,
                executor: &executor,
                out: out2.as_ref(),
                cache_mounts: &eng.paths.root.join("builder/cache-mounts"),
                scratch: &scratch.0,
                context_digests: Some(ctx.digests()),
            };
            let r = b.run(&dir, &settings, prepared);
            drop(ctx);
            r.map(|built| (built, settings.tags))
        })
        .await;
        let mut tail: Vec<Vec<u8>> = Vec::new();
        match result {
            Ok(Ok((built, tags))) => {
                for t in &tags {
                    engine.image_event("tag", &built.id.to_string(), Some(&t.familiar()));
                }
                if quiet {
                    tail.push(line(&json!({ "stream": format!("{}\n", built.id) })));
                }
            }
            Ok(Err(e)) => {
                if !matches!(e, BuildError::Cancelled) {
                    tracing::info!(error = %e, "build failed");
                }
                if quiet {
                    tail.append(&mut out.held.lock().unwrap_or_else(|p| p.into_inner()));
                }
                let message = e.to_string();
                let detail = match e.code() {
                    Some(code) => json!({ "code": code, "message": message }),
                    None => json!({ "message": message }),
                };
                tail.push(line(&json!({ "errorDetail": detail, "error": message })));
            }
            Err(e) => {
                let message = format!("build failed: {e}");
                tail.push(line(
                    &json!({ "errorDetail": { "message": message }, "error": message }),
                ));
            }
        }
        drop(out);
        if let Ok(Some(tx)) = forward.await {
            for l in tail {
                if tx.send(l).await.is_err() {
                    break;
                }
            }
        }
    });
    Ok(resp)
}

/// `POST /build/prune?all=`: Docker's `{"CachesDeleted": [...], "SpaceReclaimed": N}`.
pub async fn prune(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let pruned = engine.prune_build_cache(p.bool("all", false)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "CachesDeleted": pruned.caches,
            "SpaceReclaimed": pruned.bytes,
        }),
    ))
}
