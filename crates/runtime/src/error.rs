//! [`RuntimeError`]: what failed in a runtime operation, with docker's exit codes.

use std::path::PathBuf;

/// A runtime operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    AlreadyExists(String),
    #[error("invalid container id {0:?}")]
    InvalidId(String),
    #[error("container {id:?} is {state}, cannot {op}")]
    WrongState {
        id: String,
        state: String,
        op: String,
    },
    #[error("invalid bundle {path}: {reason}")]
    InvalidBundle { path: PathBuf, reason: String },
    #[error("invalid seccomp section")]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("cgroup {path}: {op}")]
    Cgroup {
        op: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The process could not be executed: 127 (not found) or 126 (not executable).
    #[error("{message}")]
    Exec { message: String, code: i32 },
    /// A step of the container setup failed inside the new namespaces.
    #[error("container init: {step}")]
    Init {
        step: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{op}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
    /// The external runtime binary failed.
    #[error("{binary} {op} failed: {stderr}")]
    External {
        binary: String,
        op: String,
        stderr: String,
    },
}

impl RuntimeError {
    /// Docker's exit code for this error when it means the command could not run:
    /// 127 not found, 126 not executable.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            RuntimeError::Exec { code, .. } => Some(*code),
            RuntimeError::External { stderr, .. } => {
                if stderr.contains("executable file not found")
                    || stderr.contains("no such file or directory") && stderr.contains("exec")
                {
                    Some(127)
                } else if stderr.contains("permission denied") && stderr.contains("exec") {
                    Some(126)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// The stable error class.
    pub fn kind(&self) -> api::ErrorKind {
        use api::ErrorKind;
        match self {
            RuntimeError::NotFound(_) => ErrorKind::NotFound,
            RuntimeError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            RuntimeError::InvalidId(_)
            | RuntimeError::InvalidBundle { .. }
            | RuntimeError::Seccomp(_) => ErrorKind::InvalidArgument,
            RuntimeError::WrongState { .. } => ErrorKind::Conflict,
            RuntimeError::Exec { .. } => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        }
    }
}
