//! `docker exec`: exec instances (create, start, resize, inspect). The process itself is run
//! by the container's shim (`api::shim::Request::Exec`), which streams its output and reports
//! its exit on the same connection; the daemon joins that stream to the client's hijacked
//! connection and records the exit code before the client's stream closes, so the CLI's final
//! `GET /exec/{id}/json` sees it.

use std::sync::{Arc, Mutex};

use api::docker::{ExecCreateRequest, ExecInspect, ExecProcessConfig};
use api::shim::{ExecConfig, EXEC_EXIT_STREAM};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::record::Status;
use super::{Container, Engine};
use crate::error::EngineError;
use crate::shim_client;

/// One exec instance.
pub struct Exec {
    /// 64 hex digits.
    pub id: String,
    /// The container it runs in.
    pub container: Arc<Container>,
    config: ExecCreateRequest,
    state: Mutex<ExecState>,
}

#[derive(Debug, Clone, Default)]
struct ExecState {
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    pid: i32,
    finished: Option<std::time::Instant>,
}

/// Finished exec instances are forgotten this long after their exit (dockerd prunes them too).
const EXEC_KEEP: std::time::Duration = std::time::Duration::from_secs(5 * 60);

impl Exec {
    fn set(&self, f: impl FnOnce(&mut ExecState)) {
        f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Records the exit: final from here on.
    fn finish(&self, code: i32) {
        self.set(|s| {
            s.running = false;
            s.exit_code = Some(code);
            s.finished = Some(std::time::Instant::now());
        });
    }

    fn state(&self) -> ExecState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Docker's `GET /exec/{id}/json`.
    pub fn inspect(&self) -> ExecInspect {
        let s = self.state();
        let cmd = self.config.cmd.clone().unwrap_or_default();
        ExecInspect {
            id: self.id.clone(),
            running: s.running,
            exit_code: s.exit_code,
            process_config: ExecProcessConfig {
                tty: self.config.tty,
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                arguments: cmd.iter().skip(1).cloned().collect(),
                privileged: self.config.privileged,
                user: self.config.user.clone(),
            },
            open_stdin: self.config.attach_stdin,
            open_stderr: self.config.attach_stderr,
            open_stdout: self.config.attach_stdout,
            can_remove: false,
            container_id: self.container.id.to_string(),
            detach_keys: self.config.detach_keys.clone(),
            pid: s.pid,
        }
    }
}

/// How `POST /exec/{id}/start` was called.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecStart {
    /// Return at once; the output is discarded.
    pub detach: bool,
    /// `[rows, columns]` of the client's terminal.
    pub console_size: Option<[u16; 2]>,
}

/// Replaces `KEY=` entries of `base` with those of `extra` and appends the rest (Docker's
/// `ReplaceOrAppendEnvValues`).
fn merge_env(base: &mut Vec<String>, extra: &[String]) {
    for kv in extra {
        let key = kv.split('=').next().unwrap_or(kv);
        if let Some(e) = base
            .iter_mut()
            .find(|e| e.split('=').next() == Some(key) && kv.contains('='))
        {
            *e = kv.clone();
        } else if kv.contains('=') {
            base.push(kv.clone());
        }
    }
}

/// Docker's wording for an exec the runtime could not start.
fn exec_failed(message: &str) -> String {
    let core = message
        .rsplit_once("unable to start container process: ")
        .map_or(message, |(_, rest)| rest);
    let core = core.strip_prefix("runc exec failed: ").unwrap_or(core);
    if core.starts_with("exec: ")
        || core.contains("executable file not found")
        || core.starts_with("chdir to cwd")
    {
        format!("OCI runtime exec failed: exec failed: unable to start container process: {core}: unknown")
    } else {
        core.to_string()
    }
}

impl Engine {
    /// `POST /containers/{id}/exec`: records an exec instance of a running container.
    pub fn exec_create(
        &self,
        name_or_id: &str,
        req: ExecCreateRequest,
    ) -> Result<String, EngineError> {
        let c = self.get(name_or_id)?;
        match c.status() {
            Status::Running => {}
            Status::Paused => {
                // dockerd names the container as the request did.
                return Err(EngineError::Conflict(format!(
                    "Container {name_or_id} is paused, unpause the container before exec"
                )));
            }
            _ => return Err(EngineError::NotRunning(c.id.to_string())),
        }
        if req.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(EngineError::Invalid("No exec command specified".into()));
        }
        if !req.detach_keys.is_empty() {
            api::detach_keys::parse(&req.detach_keys).map_err(|_| {
                EngineError::Invalid(format!(
                    "Invalid escape keys ({}) provided",
                    req.detach_keys
                ))
            })?;
        }
        let id = api::ContainerId::from_random(super::create::random_bytes()?).to_string();
        let exec = Arc::new(Exec {
            id: id.clone(),
            container: c,
            config: req,
            state: Mutex::new(ExecState::default()),
        });
        let mut map = self.execs.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, e| e.state().finished.is_none_or(|t| t.elapsed() < EXEC_KEEP));
        map.insert(id.clone(), exec);
        Ok(id)
    }

    /// An exec instance by full id or unique prefix.
    pub fn exec_get(&self, id: &str) -> Result<Arc<Exec>, EngineError> {
        let map = self.execs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get(id) {
            return Ok(e.clone());
        }
        let mut found = map
            .values()
            .filter(|e| !id.is_empty() && e.id.starts_with(id));
        match (found.next(), found.next()) {
            (Some(e), None) => Ok(e.clone()),
            _ => Err(EngineError::NoSuchExec(id.to_string())),
        }
    }

    /// Ids of a container's exec instances that have not finished.
    pub fn exec_ids(&self, container: &str) -> Vec<String> {
        let map = self.execs.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<String> = map
            .values()
            .filter(|e| e.container.id.as_str() == container && e.state().exit_code.is_none())
            .map(|e| e.id.clone())
            .collect();
        v.sort();
        v
    }

    /// Forgets the exec instances of a removed container.
    pub(crate) fn exec_forget(&self, container: &str) {
        self.execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, e| e.container.id.as_str() != container);
    }

    /// Checks an exec can start and marks it started.
    pub fn exec_claim(&self, exec: &Exec) -> Result<(), EngineError> {
        if !exec.container.status().is_running() {
            return Err(EngineError::NotRunning(exec.container.id.to_string()));
        }
        let mut s = exec.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.started {
            return Err(EngineError::Conflict(format!(
                "Error: Exec command {} is already running",
                exec.id
            )));
        }
        s.started = true;
        Ok(())
    }

    fn exec_config(&self, exec: &Exec, start: ExecStart) -> ExecConfig {
        let rec = exec.container.record();
        let cfg = &exec.config;
        // Docker's CreateDaemonEnvironment: defaults, then the container's env, then the exec's.
        let mut env =
            vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
        if !rec.config.hostname.is_empty() {
            env.push(format!("HOSTNAME={}", rec.config.hostname));
        }
        if cfg.tty {
            env.push("TERM=xterm".into());
        }
        merge_env(&mut env, rec.config.env.as_deref().unwrap_or_default());
        merge_env(&mut env, cfg.env.as_deref().unwrap_or_default());
        ExecConfig {
            exec_id: exec.id.clone(),
            args: cfg.cmd.clone().unwrap_or_default(),
            env,
            cwd: cfg.working_dir.clone(),
            user: cfg.user.clone(),
            tty: cfg.tty,
            stdin: cfg.attach_stdin && !start.detach,
            privileged: cfg.privileged,
            console_size: start.console_size.or(cfg.console_size),
        }
    }

    /// Starts the process through the shim. Ok carries the stream; Err the message to show
    /// (the exit code is recorded either way).
    async fn exec_launch(
        &self,
        exec: &Exec,
        start: ExecStart,
    ) -> Result<tokio::net::UnixStream, String> {
        let sock = self.paths.shim_socket(exec.container.id.as_str());
        let cfg = self.exec_config(exec, start);
        match shim_client::exec(&sock, cfg).await {
            Ok((resp, Some(stream))) => {
                exec.set(|s| {
                    s.running = true;
                    s.pid = resp.pid.unwrap_or(0);
                });
                Ok(stream)
            }
            Ok((resp, None)) => {
                let msg = exec_failed(&resp.error.unwrap_or_default());
                exec.finish(resp.exit_code.unwrap_or(126));
                Err(msg)
            }
            Err(e) => {
                exec.finish(126);
                Err(format!(
                    "Container {} is not running: {e}",
                    exec.container.id
                ))
            }
        }
    }

    /// `POST /exec/{id}/start` with `Detach`: starts the process and drains its stream in the
    /// background to learn its exit code.
    pub async fn exec_start_detached(
        self: &Arc<Engine>,
        exec: Arc<Exec>,
        start: ExecStart,
    ) -> Result<(), EngineError> {
        match self.exec_launch(&exec, start).await {
            Ok(stream) => {
                tokio::spawn(async move {
                    let code = pump(stream, tokio::io::sink(), false, false).await;
                    exec.finish(code);
                });
                Ok(())
            }
            // A command that cannot run is the caller's mistake (Docker: 400 for 126/127).
            Err(msg) => Err(EngineError::Invalid(msg)),
        }
    }

    /// `POST /exec/{id}/start` attached: once the connection is upgraded, starts the process
    /// and joins its stream to the client; errors go to the client's stream, as Docker's do.
    pub fn exec_start_attached(
        self: &Arc<Engine>,
        exec: Arc<Exec>,
        upgrade: OnUpgrade,
        start: ExecStart,
    ) {
        let engine = self.clone();
        tokio::spawn(async move {
            let io = match upgrade.await {
                Ok(io) => TokioIo::new(io),
                Err(e) => {
                    tracing::debug!(exec = %exec.id, error = %e, "exec upgrade failed");
                    exec.finish(126);
                    return;
                }
            };
            let tty = exec.config.tty;
            let (client_r, mut client_w) = tokio::io::split(io);
            let shim = match engine.exec_launch(&exec, start).await {
                Ok(s) => s,
                Err(msg) => {
                    let line = format!("{msg}\r\n");
                    let mut out = Vec::new();
                    if tty {
                        out.extend_from_slice(line.as_bytes());
                    } else {
                        frame(&mut out, 1, line.as_bytes());
                    }
                    let _ = client_w.write_all(&out).await;
                    let _ = client_w.shutdown().await;
                    return;
                }
            };
            let (shim_r, mut shim_w) = shim.into_split();
            let stdin = exec.config.attach_stdin;
            // With a terminal the detach keys end the client's session, not the process.
            // Checked at create; empty means the default.
            let spec = &exec.config.detach_keys;
            let keys = (tty && stdin).then(|| match spec.is_empty() {
                true => api::detach_keys::DEFAULT.to_vec(),
                false => api::detach_keys::parse(spec)
                    .unwrap_or_else(|_| api::detach_keys::DEFAULT.to_vec()),
            });
            let (detach_tx, detach_rx) = tokio::sync::oneshot::channel::<()>();
            let mut client_r = client_r;
            let input = tokio::spawn(async move {
                if stdin {
                    if super::attach::copy_input(&mut client_r, &mut shim_w, keys).await {
                        let _ = detach_tx.send(());
                        // A pty's input is not closed by the shim on EOF.
                        return;
                    }
                } else {
                    let mut sink = [0u8; 1024];
                    while matches!(client_r.read(&mut sink).await, Ok(n) if n > 0) {}
                }
                let _ = shim_w.shutdown().await;
            });
            let (out, err) = (exec.config.attach_stdout, exec.config.attach_stderr);
            let code = pump_filtered(shim_r, &mut client_w, tty, out, err, Some(detach_rx)).await;
            exec.finish(code);
            let _ = client_w.shutdown().await;
            input.abort();
        });
    }

    /// `POST /exec/{id}/resize`: best effort (a short-lived exec may be gone already).
    pub async fn exec_resize(&self, exec: &Exec, rows: u16, cols: u16) {
        if rows == 0 || cols == 0 || !exec.state().running {
            return;
        }
        let sock = self.paths.shim_socket(exec.container.id.as_str());
        let _ = shim_client::request(
            &sock,
            &api::shim::Request::ResizeExec {
                exec_id: exec.id.clone(),
                rows,
                cols,
            },
        )
        .await;
    }
}

fn frame(out: &mut Vec<u8>, stream: u8, payload: &[u8]) {
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Copies the shim's frames to `client` (all streams) until the exit frame; returns the code.
async fn pump(
    shim: impl AsyncRead + Unpin,
    mut client: impl AsyncWrite + Unpin,
    tty: bool,
    wanted: bool,
) -> i32 {
    pump_filtered(shim, &mut client, tty, wanted, wanted, None).await
}

/// Copies the shim's frames to `client` until the exit frame: with their headers without a
/// terminal, bare with one, only the wanted streams. A client that went away stops the
/// copying, not the reading: the exit code still comes. Returns the exit code (137 when the
/// stream ends without one: the container went away). When `detach` fires (the client typed
/// the detach keys) the client's connection is closed at once and the rest is read for the
/// exit code only.
async fn pump_filtered(
    mut shim: impl AsyncRead + Unpin,
    client: &mut (impl AsyncWrite + Unpin),
    tty: bool,
    stdout: bool,
    stderr: bool,
    mut detach: Option<tokio::sync::oneshot::Receiver<()>>,
) -> i32 {
    let mut header = [0u8; 8];
    let mut buf = vec![0u8; 32 * 1024];
    let mut client_ok = true;
    loop {
        // The header is read with `read` (cancel-safe) so a detach can interrupt the wait.
        let mut got = 0;
        while got < header.len() {
            let detached = async {
                match detach.as_mut() {
                    Some(rx) => rx.await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = shim.read(&mut header[got..]) => match r {
                    Ok(0) | Err(_) => return 137,
                    Ok(n) => got += n,
                },
                d = detached => {
                    detach = None;
                    if d && client_ok {
                        client_ok = false;
                        let _ = client.shutdown().await;
                    }
                }
            }
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if header[0] == EXEC_EXIT_STREAM {
            let mut payload = vec![0u8; len.min(64 * 1024)];
            if shim.read_exact(&mut payload).await.is_err() {
                return 137;
            }
            let resp: api::shim::Response = serde_json::from_slice(&payload).unwrap_or_default();
            if client_ok {
                let _ = client.flush().await;
            }
            return resp.exit_code.unwrap_or(137);
        }
        let wanted = match header[0] {
            2 => stderr,
            _ => stdout,
        };
        let send = wanted && client_ok;
        if send && !tty && client.write_all(&header).await.is_err() {
            client_ok = false;
        }
        let mut left = len;
        while left > 0 {
            let n = left.min(buf.len());
            if shim.read_exact(&mut buf[..n]).await.is_err() {
                return 137;
            }
            if send && client_ok && client.write_all(&buf[..n]).await.is_err() {
                client_ok = false;
            }
            left -= n;
        }
        if send && client_ok && client.flush().await.is_err() {
            client_ok = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_is_replaced_or_appended() {
        let mut env = vec!["PATH=/bin".to_string(), "A=1".into()];
        merge_env(&mut env, &["A=2".into(), "B=3".into(), "NOEQ".into()]);
        assert_eq!(env, vec!["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn runtime_errors_get_dockers_wording() {
        let want = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown";
        assert_eq!(
            exec_failed("exec: \"nope\": executable file not found in $PATH"),
            want
        );
        assert_eq!(
            exec_failed("runc exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"),
            want
        );
        assert_eq!(
            exec_failed("unable to find user nosuchuser: no matching entries in passwd file"),
            "unable to find user nosuchuser: no matching entries in passwd file"
        );
    }
}
