//! Stop and kill.

use std::sync::Arc;
use std::time::Duration;

use api::shim::Request;

use super::record::Status;
use super::wait::WaitCondition;
use super::{Container, Engine};
use crate::error::EngineError;
use crate::{shim_client, signal};

/// A signal as the API passes it (name or number); empty or absent is `None`.
fn parse_signal(signal: Option<&str>) -> Result<Option<i32>, EngineError> {
    match signal.filter(|s| !s.is_empty()) {
        Some(s) => signal::parse(s)
            .map(Some)
            .ok_or_else(|| EngineError::Invalid(format!("Invalid signal: {s}"))),
        None => Ok(None),
    }
}

/// Docker's default stop timeout in seconds.
const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl Engine {
    /// Sends the stop signal (`signal`, else the container's `StopSignal`, else SIGTERM), then
    /// SIGKILL after `timeout` seconds (the container's `StopTimeout`, else 10); waits for the
    /// exit. A stopped container is [`EngineError::NotModified`].
    pub async fn stop(
        self: &Arc<Engine>,
        name_or_id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<(), EngineError> {
        let c = self.get(name_or_id)?;
        let sig = parse_signal(signal)?;
        let _op = c.op.lock().await;
        // Marked first, so an exit racing with this stop is not restarted by a policy.
        if c.status().is_running() {
            c.update(&self.paths, |r| r.manually_stopped = true)?;
        }
        if self.cancel_restart(&c) {
            self.container_event(&c.record(), "stop", &[]);
            return Ok(());
        }
        if !c.status().is_running() {
            return Err(EngineError::NotModified);
        }
        self.stop_locked(&c, timeout, sig).await?;
        self.container_event(&c.record(), "stop", &[]);
        Ok(())
    }

    /// Stop with the operation lock already held.
    pub(crate) async fn stop_locked(
        self: &Arc<Engine>,
        c: &Arc<Container>,
        timeout: Option<i64>,
        signal: Option<i32>,
    ) -> Result<(), EngineError> {
        let rec = c.record();
        let sig = signal
            .or_else(|| rec.config.stop_signal.as_deref().and_then(signal::parse))
            .unwrap_or(15);
        let timeout = timeout
            .or(rec.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        let exited = c.lifecycle.subscribe();
        if timeout != 0 {
            self.stop_signal(c, sig).await?;
        }
        let wait = self.wait_on(exited, WaitCondition::NotRunning);
        let done = if timeout < 0 {
            wait.await;
            true
        } else {
            tokio::time::timeout(Duration::from_secs(timeout as u64), wait)
                .await
                .is_ok()
        };
        if !done {
            tracing::info!(container = %c.id, "stop timeout: killing");
            let exited = c.lifecycle.subscribe();
            self.stop_signal(c, 9).await?;
            self.wait_on(exited, WaitCondition::NotRunning).await;
        }
        Ok(())
    }

    /// A stop's signal. The process may have ended on its own meanwhile (a container that
    /// exits at once, restarted by its policy, or whose shim is still winding down): the shim
    /// then says it is not running, or is gone already. That is a stop, as with dockerd,
    /// once the daemon has recorded the exit.
    async fn stop_signal(&self, c: &Container, sig: i32) -> Result<(), EngineError> {
        let exited = c.lifecycle.subscribe();
        let Err(e) = self.signal(c, sig).await else {
            return Ok(());
        };
        if !matches!(e, EngineError::NotRunning(_) | EngineError::Shim { .. }) {
            return Err(e);
        }
        let wait = self.wait_on(exited, WaitCondition::NotRunning);
        match tokio::time::timeout(Duration::from_secs(10), wait).await {
            Ok(_) => Ok(()),
            Err(_) => Err(e),
        }
    }

    /// Sends `signal` (a name or number as Docker accepts) to a running container.
    pub async fn kill(
        self: &Arc<Engine>,
        name_or_id: &str,
        signal: Option<&str>,
    ) -> Result<(), EngineError> {
        let c = self.get(name_or_id)?;
        let sig = parse_signal(signal)?.unwrap_or(9);
        if c.status() == Status::Restarting {
            return Err(EngineError::Conflict(format!(
                "Container {} is restarting, wait until the container is running",
                c.id
            )));
        }
        if !c.status().is_running() {
            return Err(EngineError::NotRunning(c.id.to_string()));
        }
        c.update(&self.paths, |r| r.manually_stopped = true)?;
        self.signal(&c, sig).await?;
        self.container_event(&c.record(), "kill", &[("signal", sig.to_string())]);
        Ok(())
    }

    async fn signal(&self, c: &Container, sig: i32) -> Result<(), EngineError> {
        let sock = self.paths.shim_socket(c.id.as_str());
        let resp = shim_client::request(&sock, &Request::Kill { signal: sig })
            .await
            .map_err(|e| EngineError::Shim {
                id: c.id.to_string(),
                message: e.to_string(),
            })?;
        if resp.ok {
            // A frozen container only acts on the signal once thawed (Docker does the same).
            if c.status() == Status::Paused && matches!(sig, 9 | 15) {
                self.thaw(c, false).await?;
            }
            Ok(())
        } else if !c.status().is_running() {
            Err(EngineError::NotRunning(c.id.to_string()))
        } else {
            Err(EngineError::Shim {
                id: c.id.to_string(),
                message: resp.error.unwrap_or_default(),
            })
        }
    }
}

impl Engine {
    /// Sets the terminal size of a running container. Ignored (success) when the container
    /// has no terminal or has just exited, as clients race resize against exit.
    pub async fn resize(
        self: &Arc<Engine>,
        name_or_id: &str,
        rows: u16,
        cols: u16,
    ) -> Result<(), EngineError> {
        let c = self.get(name_or_id)?;
        if !c.status().is_running() || rows == 0 || cols == 0 {
            return Ok(());
        }
        let sock = self.paths.shim_socket(c.id.as_str());
        let _ = shim_client::request(&sock, &Request::Resize { rows, cols }).await;
        Ok(())
    }
}

impl Engine {
    /// Stops (if running) and starts a container again.
    pub async fn restart(
        self: &Arc<Engine>,
        name_or_id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<(), EngineError> {
        let c = self.get(name_or_id)?;
        let sig = parse_signal(signal)?;
        {
            let _op = c.op.lock().await;
            self.cancel_restart(&c);
            if c.status().is_running() {
                // Not a policy restart: the start below resets this.
                c.update(&self.paths, |r| r.manually_stopped = true)?;
                self.stop_locked(&c, timeout, sig).await?;
            }
        }
        self.start(c.id.as_str()).await?;
        self.container_event(&c.record(), "restart", &[]);
        Ok(())
    }

    /// Freezes a running container (`docker pause`).
    pub async fn pause(self: &Arc<Engine>, name_or_id: &str) -> Result<(), EngineError> {
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        match c.status() {
            Status::Running => {}
            Status::Paused => {
                return Err(EngineError::Conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            _ => return Err(EngineError::NotRunning(c.id.to_string())),
        }
        self.shim_ok(&c, &Request::Pause).await?;
        c.update(&self.paths, |r| r.state.status = Status::Paused)?;
        self.container_event(&c.record(), "pause", &[]);
        Ok(())
    }

    /// Thaws a paused container (`docker unpause`).
    pub async fn unpause(self: &Arc<Engine>, name_or_id: &str) -> Result<(), EngineError> {
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        self.thaw(&c, true).await?;
        self.container_event(&c.record(), "unpause", &[]);
        Ok(())
    }

    async fn thaw(&self, c: &Container, strict: bool) -> Result<(), EngineError> {
        if c.status() != Status::Paused {
            if strict {
                return Err(EngineError::Conflict(format!(
                    "Container {} is not paused",
                    c.id
                )));
            }
            return Ok(());
        }
        self.shim_ok(c, &Request::Resume).await?;
        c.update(&self.paths, |r| {
            if r.state.status == Status::Paused {
                r.state.status = Status::Running;
            }
        })
    }

    /// Sends `req` to the container's shim; a broken connection or a refusal is an error.
    pub(crate) async fn shim_ok(&self, c: &Container, req: &Request) -> Result<(), EngineError> {
        let sock = self.paths.shim_socket(c.id.as_str());
        let shim_error = |message: String| EngineError::Shim {
            id: c.id.to_string(),
            message,
        };
        let resp = shim_client::request(&sock, req)
            .await
            .map_err(|e| shim_error(e.to_string()))?;
        if resp.ok {
            Ok(())
        } else {
            Err(shim_error(resp.error.unwrap_or_default()))
        }
    }
}
