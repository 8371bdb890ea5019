//! The protocol between the daemon and a container's shim (`berth shim`).
//!
//! 1. The daemon writes [`ShimConfig`] to `<state_dir>/shim.json` and the OCI bundle's
//!    `config.json` next to it, then execs `berth shim` with its stdout on a pipe.
//! 2. The shim mounts the root filesystem, resolves the user, creates the container through the
//!    runtime (the init waits before execve), listens on `<state_dir>/shim.sock`, and writes one
//!    [`Ready`] line to its stdout. The daemon reads that line; on error the shim has cleaned up
//!    and exited.
//! 3. Each connection to `shim.sock` sends one [`Request`] as a JSON line and reads one
//!    [`Response`] JSON line. `attach` then turns the connection into a stream: the shim writes
//!    Docker's 8-byte-header frames (1 = stdout, 2 = stderr; a TTY's output is stream 1) and reads
//!    raw stdin bytes; the client's half-close is stdin EOF. `wait` answers when the container
//!    has exited.
//! 4. When the init exits the shim drains its output, writes [`ExitRecord`] atomically to
//!    `<data_dir>/exit.json`, deletes the runtime container, unmounts the root, answers the
//!    waiters, closes attached streams and exits. A daemon that was down meanwhile reads the
//!    exit record when it starts.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::mount::Mount;

/// What the daemon tells the shim about the container (`<state_dir>/shim.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShimConfig {
    /// Mounts that make up the root filesystem, performed at `<state_dir>/rootfs`.
    pub rootfs_mounts: Vec<Mount>,
    /// Docker's `-u` value (`name`, `uid`, `name:group`, `uid:gid`); empty means root.
    pub user: String,
    /// Allocate a terminal.
    pub tty: bool,
    /// Keep the container's stdin open for attached clients.
    pub open_stdin: bool,
    /// Close the container's stdin when the first attached client closes its input.
    pub stdin_once: bool,
    /// Initial terminal size (rows, columns).
    pub console_size: Option<[u16; 2]>,
    /// The json-file log to append to.
    pub log_path: PathBuf,
    /// State directory of the OCI runtime (its `--root`).
    pub runtime_root: PathBuf,
}

/// The first and only line the shim writes to its stdout.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ready {
    /// Host pid of the container's init when created.
    pub pid: Option<i32>,
    /// Why the container could not be created.
    pub error: Option<String>,
    /// Docker's exit code for that error (127 not found, 126 not executable), if it has one.
    pub exit_code: Option<i32>,
}

/// A request on `shim.sock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Stream output (and optionally take stdin) on this connection.
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Let the init execve the user's process.
    Start,
    /// Send a signal to the init.
    Kill { signal: i32 },
    /// Set the terminal size.
    Resize { rows: u16, cols: u16 },
    /// Answer when the container has exited.
    Wait,
    /// Current status and pid.
    State,
    /// Freeze the container.
    Pause,
    /// Thaw the container.
    Resume,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// False when the request failed.
    pub ok: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Exit code (for `wait`, or Docker's code for a start failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Host pid of the init.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// `created`, `running`, `paused` or `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// RFC 3339 time the container exited (for `wait`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl Response {
    /// A success with no data.
    pub fn ok() -> Response {
        Response {
            ok: true,
            ..Default::default()
        }
    }

    /// A failure.
    pub fn err(msg: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(msg.into()),
            ..Default::default()
        }
    }
}

/// How a container ended (`<data_dir>/exit.json`), written atomically by the shim.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit status, or 128 + signal.
    pub exit_code: i32,
    /// RFC 3339 time of the exit.
    pub finished_at: String,
    /// The kernel's OOM killer ended it.
    #[serde(default)]
    pub oom_killed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let r = Request::Kill { signal: 9 };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"op":"kill","signal":9}"#);
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
    }
}
