//! Attach: a hijacked client connection joined to the shim's attach stream. Output frames pass
//! through unchanged without a terminal and lose their headers with one; the client's bytes go
//! to the container's stdin; the client's half-close is stdin EOF, not a hang-up.
//!
//! With a terminal, the client's input is watched for the detach keys (`detachKeys`, default
//! ctrl-p ctrl-q), as dockerd does: the sequence is not forwarded, the attach ends and the
//! connection closes; the container keeps running (its pty stdin stays open).

use std::sync::Arc;

use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Container, Engine};
use crate::error::EngineError;
use crate::shim_client;

/// What an attach asked for.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Forward the client's input to the container's stdin.
    pub stdin: bool,
    /// Send stdout.
    pub stdout: bool,
    /// Send stderr.
    pub stderr: bool,
    /// The detach sequence (used with a terminal and stdin); `None`: ctrl-p ctrl-q.
    pub detach_keys: Option<Vec<u8>>,
}

/// Copies the client's input to `shim` until EOF; with `keys`, until the detach sequence
/// (true), which is not forwarded.
pub(crate) async fn copy_input(
    client: &mut (impl tokio::io::AsyncRead + Unpin),
    shim: &mut (impl tokio::io::AsyncWrite + Unpin),
    keys: Option<Vec<u8>>,
) -> bool {
    let mut matcher = keys.map(api::detach_keys::Matcher::new);
    let mut buf = vec![0u8; 32 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match client.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let detached = match &mut matcher {
            Some(m) => {
                out.clear();
                let d = m.feed(&buf[..n], &mut out);
                if !out.is_empty() && shim.write_all(&out).await.is_err() {
                    return false;
                }
                d
            }
            None => {
                if shim.write_all(&buf[..n]).await.is_err() {
                    return false;
                }
                false
            }
        };
        if detached {
            return true;
        }
    }
}

/// An attach that arrived before the container started: the connection upgrade is awaited
/// when the container starts, so the stream is registered before the client can send start.
pub(crate) struct PendingAttach {
    upgrade: OnUpgrade,
    opts: AttachOptions,
}

impl Engine {
    /// Joins a hijacked connection (its pending upgrade) to the container's streams: at once
    /// when it runs, at start when it is created or exited. Called before the 101 answer goes
    /// out, so a start that follows finds the stream registered.
    pub fn attach(self: &Arc<Engine>, c: Arc<Container>, upgrade: OnUpgrade, opts: AttachOptions) {
        // dockerd logs every attach (the CLI's `run` without -d, `start -a`, `attach`).
        self.container_event(&c.record(), "attach", &[]);
        let status = c.status();
        let p = PendingAttach { upgrade, opts };
        if status.is_running() {
            let engine = self.clone();
            tokio::spawn(async move { engine.connect_attach(&c, p).await });
        } else if status == super::record::Status::Created
            || status == super::record::Status::Exited
        {
            c.pending_attach.lock().expect("attach lock").push(p);
        }
        // Otherwise (removing, dead) the upgrade is dropped and the client sees EOF.
    }

    /// Drops attach streams still waiting for a start.
    pub(crate) fn pending_attach_close(&self, c: &Container) {
        c.pending_attach.lock().expect("attach lock").clear();
    }

    pub(crate) async fn connect_attach(self: &Arc<Engine>, c: &Arc<Container>, p: PendingAttach) {
        let io = match p.upgrade.await {
            Ok(io) => TokioIo::new(io),
            Err(e) => {
                tracing::debug!(container = %c.id, error = %e, "attach upgrade failed");
                return;
            }
        };
        let sock = self.paths.shim_socket(c.id.as_str());
        let tty = c.record().config.tty;
        let shim =
            match shim_client::attach(&sock, p.opts.stdin, p.opts.stdout, p.opts.stderr).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(container = %c.id, error = %e, "attach to shim failed");
                    return;
                }
            };
        let id = c.id.to_string();
        let keys = (tty && p.opts.stdin).then(|| {
            p.opts
                .detach_keys
                .clone()
                .unwrap_or_else(|| api::detach_keys::DEFAULT.to_vec())
        });
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            match pump(io, shim, tty, p.opts.stdin, keys).await {
                // Docker's `container detach` event.
                Ok(true) => engine.container_event(&c.record(), "detach", &[]),
                Ok(false) => {}
                Err(e) => tracing::debug!(container = %id, error = %e, "attach stream ended"),
            }
        });
    }
}

/// Copies frames shim -> client until the shim closes, and client -> shim (stdin) until the
/// client half-closes; returns when the output side is done, or at once when the client
/// typed the detach keys (true).
async fn pump(
    client: TokioIo<Upgraded>,
    shim: tokio::net::UnixStream,
    tty: bool,
    stdin: bool,
    keys: Option<Vec<u8>>,
) -> Result<bool, EngineError> {
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut shim_r, mut shim_w) = shim.into_split();
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let input = tokio::spawn(async move {
        if stdin {
            if copy_input(&mut client_r, &mut shim_w, keys).await {
                // The pty's stdin stays open: the shim only closes a pipe on EOF.
                let _ = detach_tx.send(());
                return;
            }
        } else {
            // Read and discard until the client closes, so its half-close is noticed.
            let mut sink = [0u8; 1024];
            while matches!(client_r.read(&mut sink).await, Ok(n) if n > 0) {}
        }
        let _ = shim_w.shutdown().await;
    });
    let io_err = |e: std::io::Error| EngineError::io("attach stream")(e);
    let output = async {
        let mut header = [0u8; 8];
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match shim_r.read_exact(&mut header).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(io_err(e)),
            }
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
            if !tty {
                client_w.write_all(&header).await.map_err(io_err)?;
            }
            let mut left = len;
            while left > 0 {
                let n = left.min(buf.len());
                shim_r.read_exact(&mut buf[..n]).await.map_err(io_err)?;
                client_w.write_all(&buf[..n]).await.map_err(io_err)?;
                left -= n;
            }
            client_w.flush().await.map_err(io_err)?;
        }
        Ok::<(), EngineError>(())
    };
    let detached = tokio::select! {
        r = output => {
            r?;
            false
        }
        Ok(()) = &mut detach_rx => true,
    };
    let _ = client_w.shutdown().await;
    input.abort();
    Ok(detached)
}
