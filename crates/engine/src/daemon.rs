//! Daemon entry point.

use std::path::PathBuf;

/// How `berth daemon` was started.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Unix socket path the API listens on (`/run/berth/berth.sock`).
    pub socket: PathBuf,
    /// Data root (`/var/lib/berth`).
    pub root: PathBuf,
    /// Exec root (`/run/berth`).
    pub exec_root: PathBuf,
    /// Default runtime: `berth` or an external OCI runtime binary such as `runc`.
    pub runtime: String,
    /// Path of the berth binary, exec'd as `berth shim` for each container.
    pub self_exe: PathBuf,
}

/// Error that stops the daemon from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The socket could not be bound.
    #[error("cannot listen on {path}")]
    Listen {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(config: DaemonConfig) -> Result<(), DaemonError> {
    let _ = config;
    Ok(())
}
