//! Start: write the bundle, exec the shim, connect early attach streams, let the init run, and
//! watch it until it exits. Also re-adoption of running containers when the daemon starts.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use api::shim::{Ready, Request, ShimConfig};
use tokio::io::AsyncBufReadExt;

use super::record::Status;
use super::{ensure_dir, spec, Container, Engine};
use crate::error::EngineError;
use crate::shim_client;

/// How long a shim may take to create a container.
const SHIM_READY_TIMEOUT: Duration = Duration::from_secs(60);

impl Engine {
    /// Starts a created or exited container.
    pub async fn start(self: &Arc<Engine>, name_or_id: &str) -> Result<(), EngineError> {
        let c = self.get(name_or_id)?;
        let result = self.start_container(&c).await;
        if let Err(e) = &result {
            if !matches!(e, EngineError::NotModified) && c.record().host_config.auto_remove {
                // Docker removes an auto-remove container whose start failed, before it
                // answers the start.
                if let Err(e) = self.remove(c.id.as_str(), true).await {
                    tracing::warn!(container = %c.id, error = %e, "auto-remove after a failed start");
                }
            }
        }
        result
    }

    async fn start_container(self: &Arc<Engine>, c: &Arc<Container>) -> Result<(), EngineError> {
        let _op = c.op.lock().await;
        if !c.status().is_running() {
            // A start by hand resets the restart policy's bookkeeping, as Docker's does.
            c.update(&self.paths, |r| {
                r.manually_stopped = false;
                r.restart_count = 0;
            })?;
            self.forget_restart(c.id.as_str());
        }
        self.start_locked(c).await
    }

    /// Start with the operation lock held (also the restart policy's path).
    pub(crate) async fn start_locked(
        self: &Arc<Engine>,
        c: &Arc<Container>,
    ) -> Result<(), EngineError> {
        let rec = c.record();
        if rec.state.status.is_running() {
            return Err(EngineError::NotModified);
        }
        if matches!(rec.state.status, Status::Removing | Status::Dead) {
            return Err(EngineError::Conflict(format!(
                "container {} is marked for removal and cannot be started",
                rec.id
            )));
        }
        let id = rec.id.clone();
        let state_dir = self.paths.state_dir(&id);
        let data_dir = self.paths.data_dir(&id);
        ensure_dir(&state_dir)?;
        let _ = std::fs::remove_file(data_dir.join("exit.json"));

        let setup = self.setup_network(&rec).await?;
        let bridged = setup.bridged;
        let result = self.start_prepared(c, &rec, setup).await;
        if result.is_err() && bridged {
            self.release_network(&id).await;
        }
        result
    }

    /// Start once the network is set up; on error the caller releases it.
    async fn start_prepared(
        self: &Arc<Engine>,
        c: &Arc<Container>,
        rec: &super::record::Record,
        setup: crate::network::NetSetup,
    ) -> Result<(), EngineError> {
        let id = rec.id.clone();
        let images = self.images.clone();
        let key = id.clone();
        let mounts = tokio::task::spawn_blocking(move || images.rootfs_mounts(&key))
            .await
            .map_err(super::create::join_error)??;
        // A mount (NFS, say) may take a while: off the async threads.
        let (engine, key, points) = (self.clone(), id.clone(), rec.mount_points.clone());
        let mounted = tokio::task::spawn_blocking(move || engine.mount_volumes(&key, &points))
            .await
            .map_err(super::create::join_error)?;
        if let Err(e) = mounted {
            // dockerd records a failed start in the state (exit code 128).
            let _ = c.update(&self.paths, |r| {
                r.state.error = e.to_string();
                r.state.exit_code = 128;
            });
            return Err(e);
        }
        let result = self.start_mounted(c, rec, setup, mounts).await;
        if result.is_err() {
            self.unmount_volumes_async(&id, &rec.mount_points).await;
        }
        result
    }

    /// Start once the network is set up and the volumes are mounted (on error the caller
    /// releases both).
    async fn start_mounted(
        self: &Arc<Engine>,
        c: &Arc<Container>,
        rec: &super::record::Record,
        setup: crate::network::NetSetup,
        mounts: Vec<api::mount::Mount>,
    ) -> Result<(), EngineError> {
        let id = rec.id.clone();
        let state_dir = self.paths.state_dir(&id);
        self.populate_volumes(&id, &rec.mount_points).await?;
        let (mut oci_spec, warnings) = spec::build(rec, &self.paths, &setup)?;
        oci_spec.mounts.extend(self.oci_mounts(&rec.mount_points));
        for w in warnings {
            tracing::warn!(container = %id, "{w}");
        }
        let spec_bytes = serde_json::to_vec_pretty(&oci_spec).map_err(|e| EngineError::Io {
            what: "encode config.json".into(),
            source: std::io::Error::other(e),
        })?;
        content::atomic::write_file(&state_dir.join("config.json"), &spec_bytes)
            .map_err(EngineError::io("write config.json"))?;
        let console = rec
            .host_config
            .console_size
            .filter(|s| s[0] > 0 && s[1] > 0);
        // Checked at create; a record from before rotation existed has no options.
        let rotation =
            api::log_opts::rotation(&rec.host_config.log_config.config).unwrap_or_default();
        let shim_cfg = ShimConfig {
            rootfs_mounts: mounts,
            user: rec.config.user.clone(),
            group_add: rec.host_config.group_add.clone().unwrap_or_default(),
            tty: rec.config.tty,
            open_stdin: rec.config.open_stdin,
            stdin_once: rec.config.stdin_once,
            console_size: console.map(|[h, w]| [h as u16, w as u16]),
            // `--log-driver none`: the output is still read (attach), and thrown away.
            log_path: if rec.host_config.log_config.kind == api::log_opts::NONE {
                std::path::PathBuf::from("/dev/null")
            } else {
                self.paths.log_path(&id)
            },
            log_max_size: rotation.max_size,
            log_max_files: rotation.max_files,
            runtime_root: self.paths.runtime_root(),
        };
        let cfg_bytes = serde_json::to_vec(&shim_cfg).map_err(|e| EngineError::Io {
            what: "encode shim.json".into(),
            source: std::io::Error::other(e),
        })?;
        content::atomic::write_file(&state_dir.join("shim.json"), &cfg_bytes)
            .map_err(EngineError::io("write shim.json"))?;

        let ready = self.spawn_shim(&id, &rec.runtime).await?;
        if let Some(error) = ready.error {
            let code = ready.exit_code.unwrap_or(128);
            let _ = c.update(&self.paths, |r| {
                r.state.error = error.clone();
                r.state.exit_code = code;
            });
            return Err(EngineError::Start {
                message: error,
                exit_code: ready.exit_code,
            });
        }
        let sock = self.paths.shim_socket(&id);
        // Streams attached before start get their output from the very first byte.
        let pending: Vec<_> = std::mem::take(&mut *c.pending_attach.lock().expect("attach lock"));
        for p in pending {
            self.connect_attach(c, p).await;
        }
        let resp = shim_client::request(&sock, &Request::Start)
            .await
            .map_err(|e| EngineError::Shim {
                id: id.clone(),
                message: e.to_string(),
            })?;
        if !resp.ok {
            let message = resp.error.unwrap_or_default();
            let _ = c.update(&self.paths, |r| {
                r.state.error = message.clone();
                r.state.exit_code = resp.exit_code.unwrap_or(128);
            });
            // The init is gone or useless: the shim cleans up when it exits.
            let _ = shim_client::request(&sock, &Request::Kill { signal: 9 }).await;
            return Err(EngineError::Start {
                message,
                exit_code: resp.exit_code,
            });
        }
        c.update(&self.paths, |r| {
            r.state.status = Status::Running;
            r.state.pid = ready.pid.unwrap_or(0);
            r.state.error.clear();
            r.state.started_at = Some(api::time::rfc3339_nano(SystemTime::now()));
            r.state.finished_at = None;
        })?;
        tracing::info!(container = %id, "started");
        self.volume_mount_events(&c.record(), true);
        self.container_event(&c.record(), "start", &[]);
        self.start_health(c);
        // An attach that registered while this start was under way.
        let late: Vec<_> = std::mem::take(&mut *c.pending_attach.lock().expect("attach lock"));
        for p in late {
            self.connect_attach(c, p).await;
        }
        self.monitor(c.clone());
        Ok(())
    }

    /// Execs `berth shim` for container `id` and reads its ready line.
    async fn spawn_shim(&self, id: &str, runtime: &str) -> Result<Ready, EngineError> {
        let state_dir = self.paths.state_dir(id);
        let log = std::fs::File::create(state_dir.join("shim.log"))
            .map_err(EngineError::io("create shim.log"))?;
        let mut child = tokio::process::Command::new(&self.self_exe)
            .arg("shim")
            .arg("--id")
            .arg(id)
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--data-dir")
            .arg(self.paths.data_dir(id))
            .arg("--runtime")
            .arg(runtime)
            .env("GLIBC_TUNABLES", shim_tunables())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(false)
            .spawn()
            .map_err(EngineError::io(format!(
                "exec {} shim",
                self.self_exe.display()
            )))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        // The shim outlives this request; reap it whenever it exits.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        let read = tokio::time::timeout(SHIM_READY_TIMEOUT, reader.read_line(&mut line)).await;
        let shim_log = || std::fs::read_to_string(state_dir.join("shim.log")).unwrap_or_default();
        match read {
            Ok(Ok(n)) if n > 0 => serde_json::from_str(&line).map_err(|e| EngineError::Shim {
                id: id.to_string(),
                message: format!("bad ready line {line:?}: {e}"),
            }),
            Ok(_) => Err(EngineError::Shim {
                id: id.to_string(),
                message: format!("exited before it was ready: {}", shim_log()),
            }),
            Err(_) => Err(EngineError::Shim {
                id: id.to_string(),
                message: "did not become ready within 60s".into(),
            }),
        }
    }

    /// Waits (in the background) for the container's exit through its shim, then records it.
    pub(crate) fn monitor(self: &Arc<Engine>, c: Arc<Container>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let id = c.id.to_string();
            let sock = engine.paths.shim_socket(&id);
            let resp = shim_client::request(&sock, &Request::Wait).await;
            let (code, finished) = match resp {
                Ok(r) if r.ok => (r.exit_code.unwrap_or(255), r.finished_at),
                other => {
                    // The shim is gone: whatever it recorded, else an unknown exit.
                    let (code, finished) = engine.exit_from_record(&id).await;
                    if finished.is_none() {
                        tracing::warn!(container = %id, result = ?other.err(), "lost the shim without an exit record");
                    }
                    (code, finished)
                }
            };
            engine.record_exit(&c, code, finished).await;
        });
    }

    /// Reads `exit.json` left by a shim; cleans up after a shim that died without one.
    async fn exit_from_record(&self, id: &str) -> (i32, Option<String>) {
        let path = self.paths.data_dir(id).join("exit.json");
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(rec) = serde_json::from_slice::<api::shim::ExitRecord>(&bytes) {
                return (rec.exit_code, Some(rec.finished_at));
            }
        }
        self.cleanup_dead_shim(id).await;
        (255, None)
    }

    /// Removes what a dead shim may have left (runtime container, root mount) by running
    /// `berth shim --cleanup` — the runtime is only ever driven from a single-threaded process.
    pub(crate) async fn cleanup_dead_shim(&self, id: &str) {
        let c = self
            .get(id)
            .ok()
            .map(|c| c.record().runtime)
            .unwrap_or_else(|| self.runtime.clone());
        let status = tokio::process::Command::new(&self.self_exe)
            .arg("shim")
            .arg("--cleanup")
            .arg("--id")
            .arg(id)
            .arg("--state-dir")
            .arg(self.paths.state_dir(id))
            .arg("--data-dir")
            .arg(self.paths.data_dir(id))
            .arg("--runtime")
            .arg(c)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .await;
        if !matches!(status, Ok(s) if s.success()) {
            tracing::warn!(container = %id, "cleanup of a dead shim failed");
        }
    }

    /// Records an exit. Takes no operation lock: stop and remove hold it while they wait for
    /// exactly this.
    async fn record_exit(
        self: &Arc<Engine>,
        c: &Arc<Container>,
        code: i32,
        finished: Option<String>,
    ) {
        let finished = finished.unwrap_or_else(|| api::time::rfc3339_nano(SystemTime::now()));
        // Docker's order: die, then the network disconnects.
        let left = self.release_endpoints(c.id.as_str()).await;
        let ran_for = c
            .record()
            .state
            .started_at
            .as_deref()
            .and_then(api::time::parse_rfc3339)
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        // Decided with the exit, in one update: a stop that comes now sees `restarting` (and
        // cancels it), never an `exited` the policy is about to restart.
        let restart =
            !c.lifecycle.borrow().removed && super::restart::wants_restart(&c.record(), code);
        if let Err(e) = c.update(&self.paths, |r| {
            r.state.status = if restart {
                Status::Restarting
            } else {
                Status::Exited
            };
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.finished_at = Some(finished.clone());
        }) {
            tracing::error!(container = %c.id, error = %e, "cannot record exit");
        }
        tracing::info!(container = %c.id, exit_code = code, "exited");
        let rec = c.record();
        self.container_event(&rec, "die", &[("exitCode", code.to_string())]);
        self.disconnect_events(c.id.as_str(), &left);
        self.unmount_volumes_async(c.id.as_str(), &rec.mount_points)
            .await;
        self.volume_mount_events(&rec, false);
        if restart {
            // (A stop may have cancelled it meanwhile: then the status is exited again.)
            if rec.state.status == Status::Restarting {
                self.schedule_restart(c, ran_for);
            }
            return;
        }
        let auto_remove = rec.host_config.auto_remove;
        if auto_remove {
            // `--rm` takes the anonymous volumes along, as Docker's does.
            if let Err(e) = self.remove_with_volumes(c.id.as_str(), true, true).await {
                tracing::warn!(container = %c.id, error = %e, "auto-remove failed");
            }
        }
    }

    /// Re-adopts a container found on disk at start-up: a live shim keeps it running, a dead
    /// one leaves its exit record (or nothing, which counts as exit 255).
    pub(crate) async fn adopt(self: &Arc<Engine>, c: Arc<Container>) {
        let rec = c.record();
        if !rec.state.status.is_running() {
            if rec.state.status == Status::Removing {
                let _ = self.remove(&rec.id, true).await;
            }
            return;
        }
        let sock = self.paths.shim_socket(&rec.id);
        match shim_client::request(&sock, &Request::State).await {
            Ok(r) if r.ok && r.status.as_deref() != Some("stopped") => {
                tracing::info!(container = %rec.id, "re-adopted running container");
                self.monitor(c);
            }
            _ => {
                let (code, finished) = self.exit_from_record(&rec.id).await;
                self.record_exit(&c, code, finished).await;
            }
        }
    }
}

/// glibc tunables for a shim: no per-thread cache of freed chunks (`tcache`). Chunks parked
/// there count as in use, so the idle shim's `malloc_trim` cannot hand back the heap pages they
/// sit on: with the cache off an idle shim's heap is ~60 KiB instead of ~160 KiB. The shim
/// allocates little after setup, so the cache buys it nothing. Tunables the daemon itself was
/// given are kept.
fn shim_tunables() -> std::ffi::OsString {
    const NO_TCACHE: &str = "glibc.malloc.tcache_count=0";
    match std::env::var_os("GLIBC_TUNABLES").filter(|t| !t.is_empty()) {
        Some(mut t) => {
            t.push(":");
            t.push(NO_TCACHE);
            t
        }
        None => NO_TCACHE.into(),
    }
}
