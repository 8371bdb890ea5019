//! A container's persistent record (`<root>/containers/<id>/config.v2.json`), written atomically
//! on every change, and the Docker-shaped state inside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use api::docker::{ContainerConfig, EndpointSettings, HostConfig};
use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// Lifecycle status, as Docker names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started (or not started since).
    #[default]
    Created,
    /// The init is running.
    Running,
    /// Frozen.
    Paused,
    /// Being restarted by a policy.
    Restarting,
    /// Being removed.
    Removing,
    /// The init exited.
    Exited,
    /// Could not be cleaned up.
    Dead,
}

impl Status {
    /// Docker's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// True while the init process exists.
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// `State` of `inspect`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Lifecycle status.
    pub status: Status,
    /// Host pid of the init while running, else 0.
    pub pid: i32,
    /// Exit code of the last run.
    pub exit_code: i32,
    /// Why the last start failed.
    pub error: String,
    /// RFC 3339 start time, or None.
    pub started_at: Option<String>,
    /// RFC 3339 exit time, or None.
    pub finished_at: Option<String>,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
    /// The health check's state, when the container has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::Health>,
}

/// Everything berth keeps about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Full id.
    pub id: String,
    /// Name without the leading slash.
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// argv[0].
    pub path: String,
    /// argv[1..].
    pub args: Vec<String>,
    /// Merged configuration (image defaults applied).
    pub config: ContainerConfig,
    /// Host configuration as requested.
    pub host_config: HostConfig,
    /// Image id (`sha256:...`).
    pub image: String,
    /// State.
    pub state: State,
    /// Restarts by a policy.
    pub restart_count: u32,
    /// Stopped or killed through the API: `unless-stopped` and `on-failure` then leave it
    /// stopped, also across daemon restarts (Docker's `HasBeenManuallyStopped`).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Resolved mounts (binds, volumes, tmpfs), fixed at create.
    #[serde(default)]
    pub mount_points: Vec<super::mounts::MountPoint>,
    /// OCI runtime used.
    pub runtime: String,
    /// Networks the container is attached to when it runs (bridge modes), by network name,
    /// the primary one (`HostConfig.NetworkMode`) included.
    #[serde(default)]
    pub networks: BTreeMap<String, EndpointSettings>,
    /// `network disconnect` took the last network: `networks` is empty on purpose (not a
    /// record from before networks were recorded), so the container has none, as in Docker.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub networks_detached: bool,
}

impl Record {
    /// Writes the record atomically into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), EngineError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| EngineError::Io {
            what: "encode container record".into(),
            source: std::io::Error::other(e),
        })?;
        content::atomic::write_file(&dir.join(RECORD_FILE), &bytes).map_err(EngineError::io(
            format!("write {}", dir.join(RECORD_FILE).display()),
        ))
    }

    /// Reads a record from `dir`.
    pub fn load(dir: &Path) -> Result<Record, EngineError> {
        let path: PathBuf = dir.join(RECORD_FILE);
        let bytes =
            std::fs::read(&path).map_err(EngineError::io(format!("read {}", path.display())))?;
        serde_json::from_slice(&bytes).map_err(|e| EngineError::Io {
            what: format!("parse {}", path.display()),
            source: std::io::Error::other(e),
        })
    }
}

/// The record's file name inside a container's data directory.
pub const RECORD_FILE: &str = "config.v2.json";
