//! The engine's side of `docker build`: [`builder::exec::Executor`] implemented with real
//! containers (RUN steps are created, started, followed, committed and removed like any
//! container, on the network the build asks for) and registry pulls; plus the build cache's
//! prune. The builder crate runs the steps; this module only lends it the daemon's machinery.
//!
//! The builder is synchronous and runs on a blocking thread; the methods here re-enter the
//! daemon's async code with the runtime handle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use api::docker::{ContainerConfig, CreateRequest, HostConfig};
use api::{Digest, ImageRef};
use builder::exec::{BuildError, Executor, Output, RunOutcome, RunRequest};
use image::distribution::{self, AuthConfig, Progress, PullOptions};
use image::{CommitOptions, ImageInfo};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::container::{Engine, LogsOptions, WaitCondition, MOUNT_POINTS};
use crate::error::EngineError;

/// Runs a build's containers and pulls through the engine.
pub struct EngineExecutor {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The daemon's runtime.
    pub handle: Handle,
    /// Credentials per registry (`X-Registry-Config`).
    pub auths: BTreeMap<String, AuthConfig>,
}

fn failed(e: EngineError) -> BuildError {
    let mut message = e.to_string();
    let mut cur = std::error::Error::source(&e);
    while let Some(c) = cur {
        let s = c.to_string();
        if !message.contains(&s) {
            message.push_str(": ");
            message.push_str(&s);
        }
        cur = c.source();
    }
    BuildError::Executor(message)
}

/// Splits Docker's 8-byte framed log stream; returns the payloads, keeps a partial frame.
fn deframe(buf: &mut Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        if buf.len() < 8 {
            break;
        }
        let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        if buf.len() < 8 + len {
            break;
        }
        out.extend_from_slice(&buf[8..8 + len]);
        buf.drain(..8 + len);
    }
    out
}

impl EngineExecutor {
    async fn run_async(
        &self,
        req: &RunRequest<'_>,
        out: &dyn Output,
    ) -> Result<RunOutcome, BuildError> {
        let engine = &self.engine;
        let network_mode = match req.network.as_str() {
            "" | "default" => String::new(),
            n => n.to_string(),
        };
        let binds: Vec<String> = req
            .binds
            .iter()
            .map(|(host, target)| format!("{}:{target}", host.display()))
            .collect();
        let create = CreateRequest {
            config: ContainerConfig {
                image: req.image.to_string(),
                cmd: Some(req.step.argv.clone()),
                entrypoint: Some(vec![String::new()]),
                env: Some(req.step.env.clone()),
                user: req.step.user.clone(),
                working_dir: req.step.working_dir.clone(),
                attach_stdout: true,
                attach_stderr: true,
                ..ContainerConfig::default()
            },
            host_config: HostConfig {
                network_mode,
                binds: (!binds.is_empty()).then_some(binds),
                ..HostConfig::default()
            },
            networking_config: None,
        };
        let (id, _) = engine.create(None, create).await.map_err(failed)?;
        let id = id.to_string();
        out.stream(&format!(" ---> Running in {}\n", &id[..12]));
        let result = self.follow(&id, out).await;
        if result.is_err() {
            if let Err(e) = engine.remove(&id, true).await {
                tracing::warn!(container = %id, error = %e, "could not remove a build container");
            }
        }
        result.map(|exit_code| RunOutcome {
            container: id,
            exit_code,
        })
    }

    /// Starts the container, streams its output, returns its exit code; kills it when the
    /// client goes away.
    async fn follow(&self, id: &str, out: &dyn Output) -> Result<i64, BuildError> {
        let engine = &self.engine;
        let exited = engine.wait(id, WaitCondition::NextExit).map_err(failed)?;
        engine.start(id).await.map_err(failed)?;
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            follow: true,
            ..LogsOptions::default()
        };
        let logs = {
            let engine = engine.clone();
            let id = id.to_string();
            tokio::spawn(async move { engine.logs(&id, opts, tx).await })
        };
        let mut exited = Box::pin(exited);
        let mut code = None;
        let mut buf = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                chunk = rx.recv() => match chunk {
                    Some(c) => {
                        buf.extend_from_slice(&c);
                        let text = deframe(&mut buf);
                        if !text.is_empty() {
                            out.stream(&String::from_utf8_lossy(&text));
                        }
                    }
                    None => {
                        if code.is_some() {
                            break;
                        }
                        // Logs ended first: the exit comes next.
                        code = Some((&mut exited).await);
                        break;
                    }
                },
                c = &mut exited, if code.is_none() => {
                    code = Some(c);
                }
                _ = tick.tick() => {
                    if out.cancelled() {
                        tracing::info!(container = %id, "build client went away: killing the RUN container");
                        logs.abort();
                        return Err(BuildError::Cancelled);
                    }
                }
            }
        }
        let _ = logs.await;
        Ok(code.unwrap_or(-1))
    }
}

/// Streams an `http(s)` URL's body into `out` (a file): ADD of a URL and `remote` contexts.
/// Returns the response's `Last-Modified` header, if any.
pub async fn download_to(
    engine: &Engine,
    url: &str,
    out: &mut (dyn std::io::Write + Send),
) -> Result<Option<String>, String> {
    use http_body_util::BodyExt;
    let u = distribution::transport::Url::parse(url)
        .ok_or_else(|| format!("invalid URL {url:?}: expected http:// or https://"))?;
    let resp = engine
        .registries()
        .send(
            hyper::Method::GET,
            &u,
            hyper::HeaderMap::new(),
            distribution::transport::empty(),
        )
        .await
        .map_err(|e| e.chain())?;
    if !resp.status().is_success() {
        return Err(format!("failed to GET {url} with status {}", resp.status()));
    }
    let last_modified = resp
        .headers()
        .get(hyper::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading {url}: {e}"))?;
        if let Ok(data) = frame.into_data() {
            out.write_all(&data)
                .map_err(|e| format!("writing the download of {url}: {e}"))?;
        }
    }
    Ok(last_modified)
}

impl Executor for EngineExecutor {
    fn download(&self, url: &str, dest: &std::path::Path) -> Result<Option<String>, BuildError> {
        let mut f = std::fs::File::create(dest)
            .map_err(|e| BuildError::Io(format!("create {}: {e}", dest.display())))?;
        self.handle
            .block_on(download_to(&self.engine, url, &mut f))
            .map_err(BuildError::Executor)
    }

    fn run(&self, req: &RunRequest<'_>, out: &dyn Output) -> Result<RunOutcome, BuildError> {
        self.handle.block_on(self.run_async(req, out))
    }

    fn commit(
        &self,
        container: &str,
        parent: &Digest,
        opts: &CommitOptions,
    ) -> Result<ImageInfo, BuildError> {
        let exclude: Vec<String> = MOUNT_POINTS.iter().map(|s| s.to_string()).collect();
        Ok(self
            .engine
            .images
            .commit_container(container, parent, &exclude, opts)?)
    }

    fn remove(&self, container: &str) {
        if let Err(e) = self.handle.block_on(self.engine.remove(container, true)) {
            tracing::warn!(container = %container, error = %e, "could not remove a build container");
        }
    }

    fn pull(
        &self,
        reference: &ImageRef,
        platform: Option<&api::image::Platform>,
        out: &dyn Output,
    ) -> Result<Digest, BuildError> {
        let auth = self.auths.get(reference.domain()).cloned().or_else(|| {
            (reference.domain() == "docker.io")
                .then(|| self.auths.get("https://index.docker.io/v1/").cloned())
                .flatten()
        });
        let store = self.engine.images.clone();
        let transport = self.engine.registries();
        let (progress, mut rx) = Progress::channel();
        let r = reference.clone();
        let options = PullOptions {
            platform: platform.cloned(),
            ..PullOptions::default()
        };
        let result = self.handle.block_on(async move {
            let job = tokio::spawn(async move {
                distribution::pull(store, transport, &r, auth, &options, &progress).await
            });
            while let Some(m) = rx.recv().await {
                if let (Some(status), None) = (&m.status, &m.progress_detail) {
                    let id =
                        m.id.as_deref()
                            .map(|i| format!("{i}: "))
                            .unwrap_or_default();
                    out.stream(&format!("{id}{status}\n"));
                }
            }
            job.await
        });
        match result {
            Ok(Ok(p)) => {
                self.engine.image_event(
                    "pull",
                    &reference.familiar(),
                    Some(&reference.familiar_name()),
                );
                Ok(p.image.id)
            }
            Ok(Err(e)) => Err(BuildError::Executor(e.chain())),
            Err(e) => Err(BuildError::Executor(format!("pull failed: {e}"))),
        }
    }
}

/// What `POST /build/prune` removed.
#[derive(Debug, Clone, Default)]
pub struct BuildPruned {
    /// Cache records dropped (their keys).
    pub caches: Vec<String>,
    /// Bytes freed.
    pub bytes: u64,
}

impl Engine {
    /// Drops the build cache and the intermediate images only the cache kept: untagged images
    /// no container uses. `all` is accepted for the CLI's `-a`; the legacy cache has no
    /// "in use" records, so both drop everything.
    pub async fn prune_build_cache(
        self: &Arc<Engine>,
        _all: bool,
    ) -> Result<BuildPruned, EngineError> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let removed = engine
                .build_cache
                .clear()
                .map_err(EngineError::io("write the build cache"))?;
            let mut out = BuildPruned::default();
            let mut images: Vec<Digest> = removed.iter().map(|(_, i)| i.clone()).collect();
            images.sort();
            images.dedup();
            out.caches = removed.into_iter().map(|(k, _)| k).collect();
            for id in images {
                let Ok(info) = engine.images.resolve(&id.to_string()) else {
                    continue;
                };
                if !info.repo_tags.is_empty()
                    || !engine.containers_using(&id.to_string()).is_empty()
                {
                    continue;
                }
                let in_use = |_: &Digest| None;
                if let Err(e) = engine.images.remove(&id.to_string(), true, &in_use) {
                    tracing::warn!(image = %id, error = %e, "could not remove a cached build image");
                }
            }
            let gc = engine.images.collect_garbage()?;
            out.bytes = gc.bytes;
            Ok(out)
        })
        .await
        .map_err(crate::container::join_error)?
    }
}
