//! `wait` with Docker's conditions.

use std::sync::Arc;

use tokio::sync::watch;

use super::{Engine, Lifecycle};
use crate::error::EngineError;

/// When a wait answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// As soon as the container is not running (at once if it is not running now).
    NotRunning,
    /// At the next exit after the wait was registered.
    NextExit,
    /// When the container has been removed.
    Removed,
}

impl std::str::FromStr for WaitCondition {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(EngineError::Invalid(format!(
                "invalid condition: {other:?}: expected not-running, next-exit or removed"
            ))),
        }
    }
}

impl Engine {
    /// Registers a wait now and returns a future for its exit code. Registration happens
    /// before this returns, so an exit right after cannot be missed.
    pub fn wait(
        self: &Arc<Engine>,
        name_or_id: &str,
        condition: WaitCondition,
    ) -> Result<impl std::future::Future<Output = i64> + Send + 'static, EngineError> {
        let c = self.get(name_or_id)?;
        let rx = c.lifecycle.subscribe();
        Ok(wait_for(rx, condition))
    }

    pub(crate) fn wait_on(
        &self,
        rx: watch::Receiver<Lifecycle>,
        condition: WaitCondition,
    ) -> impl std::future::Future<Output = i64> + Send + 'static {
        wait_for(rx, condition)
    }
}

async fn wait_for(mut rx: watch::Receiver<Lifecycle>, condition: WaitCondition) -> i64 {
    let start = *rx.borrow_and_update();
    loop {
        let lc = *rx.borrow_and_update();
        let done = match condition {
            // An exit into a policy restart counts too (dockerd fires its stop waiters when
            // it marks a container restarting).
            WaitCondition::NotRunning => !lc.status.is_running() || lc.exits > start.exits,
            WaitCondition::NextExit => lc.exits > start.exits,
            WaitCondition::Removed => lc.removed,
        };
        if done {
            return lc.exit_code as i64;
        }
        if rx.changed().await.is_err() {
            // The container is gone and its sender with it.
            return rx.borrow().exit_code as i64;
        }
    }
}
