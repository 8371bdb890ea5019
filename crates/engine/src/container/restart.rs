//! Restart policies (`no`, `always`, `unless-stopped`, `on-failure[:N]`) with Docker's back-off:
//! the delay starts at 100 ms and doubles up to one minute, and goes back to 100 ms once a run
//! lasted 10 s. While it waits the container is `restarting`; a stop or remove in that time
//! cancels the restart.

use std::sync::Arc;
use std::time::Duration;

use super::record::{Record, Status};
use super::{Container, Engine};
use crate::error::EngineError;

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
const RESET_AFTER: Duration = Duration::from_secs(10);

/// A container's restart back-off.
#[derive(Debug, Clone, Default)]
pub(crate) struct Backoff {
    delay: Duration,
}

/// Validates a restart policy as dockerd does.
pub(crate) fn validate(name: &str, max: i64, auto_remove: bool) -> Result<(), EngineError> {
    match name {
        "" | "no" => return Ok(()),
        "always" | "unless-stopped" if max != 0 => {
            return Err(EngineError::Invalid(format!(
                "maximum retry count cannot be used with restart policy '{name}'"
            )))
        }
        "always" | "unless-stopped" | "on-failure" => {}
        other => {
            return Err(EngineError::Invalid(format!(
                "invalid restart policy '{other}'"
            )))
        }
    }
    if max < 0 {
        return Err(EngineError::Invalid(
            "maximum retry count cannot be negative".into(),
        ));
    }
    if auto_remove {
        return Err(EngineError::Invalid(
            "can't create 'AutoRemove' container with restart policy".into(),
        ));
    }
    Ok(())
}

/// Whether the policy restarts a container that just exited with `code`.
pub(crate) fn wants_restart(rec: &Record, code: i32) -> bool {
    let p = &rec.host_config.restart_policy;
    if rec.manually_stopped {
        return false;
    }
    match p.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            code != 0
                && (p.maximum_retry_count <= 0
                    || i64::from(rec.restart_count) < p.maximum_retry_count)
        }
        _ => false,
    }
}

impl Engine {
    /// After an exit the policy wants restarted: marks the container `restarting` and starts it
    /// again after the back-off.
    pub(crate) fn schedule_restart(self: &Arc<Engine>, c: &Arc<Container>, ran_for: Duration) {
        let id = c.id.to_string();
        let delay = {
            let mut all = self.restarts.lock().expect("restarts lock");
            let b = all.entry(id.clone()).or_default();
            b.delay = if ran_for >= RESET_AFTER || b.delay.is_zero() {
                FIRST_DELAY
            } else {
                (b.delay * 2).min(MAX_DELAY)
            };
            b.delay
        };
        // Not over a stop that came meanwhile (it marked the container manually stopped).
        if let Err(e) = c.update(&self.paths, |r| {
            if !r.manually_stopped {
                r.state.status = Status::Restarting;
            }
        }) {
            tracing::error!(container = %id, error = %e, "cannot record restarting state");
            return;
        }
        if c.status() != Status::Restarting {
            return;
        }
        tracing::info!(container = %id, delay_ms = delay.as_millis() as u64, "restarting by policy");
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _op = c.op.lock().await;
            let rec = c.record();
            if rec.state.status != Status::Restarting || c.lifecycle.borrow().removed {
                return; // stopped or removed meanwhile
            }
            let _ = c.update(&engine.paths, |r| {
                r.state.status = Status::Exited;
                r.restart_count += 1;
            });
            match engine.start_locked(&c).await {
                Ok(()) => engine.container_event(&c.record(), "restart", &[]),
                Err(e) => {
                    tracing::warn!(container = %c.id, error = %e, "restart by policy failed");
                    let _ = c.update(&engine.paths, |r| r.state.error = e.to_string());
                    let rec = c.record();
                    if wants_restart(&rec, rec.state.exit_code) {
                        drop(_op);
                        engine.schedule_restart(&c, Duration::ZERO);
                    }
                }
            }
        });
    }

    /// Cancels a pending policy restart (stop, kill or remove of a `restarting` container):
    /// the container stays exited.
    pub(crate) fn cancel_restart(&self, c: &Container) -> bool {
        if c.status() != Status::Restarting {
            return false;
        }
        let _ = c.update(&self.paths, |r| {
            r.state.status = Status::Exited;
            r.manually_stopped = true;
        });
        true
    }

    /// Forgets a removed container's back-off.
    pub(crate) fn forget_restart(&self, id: &str) {
        self.restarts.lock().expect("restarts lock").remove(id);
    }

    /// At daemon start: starts the stopped containers whose policy says so (`always`, and
    /// `unless-stopped` unless stopped by hand), as dockerd does.
    pub(crate) async fn restart_on_boot(self: &Arc<Engine>) {
        for c in self.all() {
            let rec = c.record();
            let policy = rec.host_config.restart_policy.name.as_str();
            let start = !rec.state.status.is_running()
                && rec.state.status != Status::Created
                && rec.state.status != Status::Removing
                && (policy == "always" || (policy == "unless-stopped" && !rec.manually_stopped));
            if start {
                if policy == "always" {
                    let _ = c.update(&self.paths, |r| r.manually_stopped = false);
                }
                tracing::info!(container = %c.id, policy, "starting by restart policy at boot");
                if let Err(e) = self.start(c.id.as_str()).await {
                    tracing::warn!(container = %c.id, error = %e, "start at boot failed");
                }
            }
        }
    }
}
