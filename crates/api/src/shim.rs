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
//!    `exec` starts another process in the container (see [`ExecConfig`]); on success the
//!    connection carries that process's output frames (as attach does) and its stdin, and ends
//!    with one frame of stream [`EXEC_EXIT_STREAM`] whose payload is a [`Response`] JSON with
//!    the process's `exit_code`; then the shim closes the connection.
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
    /// `--group-add`: supplementary groups for the init and every exec (names resolved in the
    /// container's `/etc/group`, or gids).
    #[serde(default)]
    pub group_add: Vec<String>,
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
    /// Rotate the log at this size (`--log-opt max-size`); `None` never rotates.
    #[serde(default)]
    pub log_max_size: Option<u64>,
    /// Files kept, the current one included (`--log-opt max-file`); 0 is read as 1.
    #[serde(default)]
    pub log_max_files: u32,
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
    /// Run another process in the running container and stream it on this connection.
    Exec(ExecConfig),
    /// Set the terminal size of an exec'd process.
    ResizeExec {
        exec_id: String,
        rows: u16,
        cols: u16,
    },
    /// Send a signal to the init.
    Kill { signal: i32 },
    /// Set the terminal size.
    Resize { rows: u16, cols: u16 },
    /// Answer when the container has exited.
    Wait,
    /// Current status and pid.
    State,
    /// The container's cgroup usage (processes, CPU, memory, pids, block IO).
    Stats,
    /// Change the container's cgroup limits (`docker update`).
    Update {
        /// The new limits: an OCI `linux.resources` object (devices ignored).
        resources: serde_json::Value,
    },
    /// Freeze the container.
    Pause,
    /// Thaw the container.
    Resume,
}

/// The stream byte of the frame that ends an exec stream (its payload: a [`Response`] JSON).
pub const EXEC_EXIT_STREAM: u8 = 255;

/// A process to run in a running container (`docker exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecConfig {
    /// The daemon's exec id (for resize).
    pub exec_id: String,
    /// Command and arguments.
    pub args: Vec<String>,
    /// The whole environment (`KEY=value`): the container's plus the exec's own.
    pub env: Vec<String>,
    /// Working directory; empty means the container's.
    #[serde(default)]
    pub cwd: String,
    /// Docker's `-u` value, resolved in the container's `/etc/passwd`; empty means the
    /// container's user.
    #[serde(default)]
    pub user: String,
    /// Allocate a terminal.
    #[serde(default)]
    pub tty: bool,
    /// Keep stdin open for the client's input (else the process reads EOF).
    #[serde(default)]
    pub stdin: bool,
    /// All capabilities (`--privileged`); the container's seccomp profile still applies.
    #[serde(default)]
    pub privileged: bool,
    /// Initial terminal size (rows, columns).
    #[serde(default)]
    pub console_size: Option<[u16; 2]>,
}

/// Resource usage of a container's cgroup (v1 or v2), as counters; the daemon turns it into
/// Docker's stats JSON. Times are nanoseconds, sizes bytes; absent files give zero/empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupStats {
    /// Processes in the cgroup (host pids).
    pub pids: Vec<i32>,
    /// Total CPU time.
    pub cpu_total: u64,
    /// CPU time in user mode.
    pub cpu_user: u64,
    /// CPU time in kernel mode.
    pub cpu_system: u64,
    /// Per-CPU totals (v1 only).
    pub cpu_percpu: Vec<u64>,
    /// CFS periods, throttled periods and throttled time.
    pub throttling: [u64; 3],
    /// Memory in use.
    pub memory_usage: u64,
    /// Peak memory (when the kernel reports it).
    pub memory_max_usage: u64,
    /// Memory limit (0 when unlimited).
    pub memory_limit: u64,
    /// `memory.stat` as key/value pairs.
    pub memory_stat: std::collections::BTreeMap<String, u64>,
    /// `pids.current` and `pids.max` (0 when unlimited).
    pub pids_current: u64,
    pub pids_limit: u64,
    /// Bytes read and written per device: (major, minor, "read"/"write", bytes).
    pub io_bytes: Vec<(u64, u64, String, u64)>,
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
    /// For `stats`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<CgroupStats>,
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
        let e = Request::Exec(ExecConfig {
            exec_id: "e1".into(),
            args: vec!["true".into()],
            ..Default::default()
        });
        let s = serde_json::to_string(&e).unwrap();
        assert!(s.starts_with(r#"{"op":"exec","exec_id":"e1""#), "{s}");
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), e);
    }
}
