//! The snapshotters' error type.

use std::io;
use std::path::PathBuf;

use api::ErrorKind;

use crate::Kind;

/// What failed in a snapshotter.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// No snapshot with that key or name.
    #[error("snapshot {0} not found")]
    NotFound(String),
    /// The key or name is taken.
    #[error("snapshot {0} already exists")]
    AlreadyExists(String),
    /// Keys must be non-empty.
    #[error("invalid snapshot key {0:?}: must be non-empty and without newlines")]
    InvalidKey(String),
    /// The parent is not committed.
    #[error("parent snapshot {parent} is {kind:?}, not committed")]
    ParentNotCommitted {
        /// The parent named.
        parent: String,
        /// Its state.
        kind: Kind,
    },
    /// The operation needs a snapshot in another state (commit of a view, mounts of a
    /// committed snapshot...).
    #[error("snapshot {key} is {kind:?}: cannot {op}")]
    WrongKind {
        /// The snapshot.
        key: String,
        /// Its state.
        kind: Kind,
        /// What was attempted.
        op: &'static str,
    },
    /// Other snapshots are based on this one.
    #[error("snapshot {key} has children: {children:?}")]
    HasChildren {
        /// The snapshot.
        key: String,
        /// Its children.
        children: Vec<String>,
    },
    /// The metadata file does not parse.
    #[error("corrupt snapshot metadata {path}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl SnapshotError {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SnapshotError::NotFound(_) => ErrorKind::NotFound,
            SnapshotError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            SnapshotError::InvalidKey(_) | SnapshotError::ParentNotCommitted { .. } => {
                ErrorKind::InvalidArgument
            }
            SnapshotError::WrongKind { .. } | SnapshotError::HasChildren { .. } => {
                ErrorKind::Conflict
            }
            SnapshotError::Corrupt { .. } | SnapshotError::Io { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> SnapshotError {
        let path = path.into();
        move |source| SnapshotError::Io { op, path, source }
    }
}
