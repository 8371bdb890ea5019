//! berth's container runtime: turns an OCI bundle into an isolated process, behind the
//! [`Runtime`] trait.
//!
//! Place in the crate graph: `shim -> runtime -> api`. Two implementations:
//! - [`BerthRuntime`], berth's own lean runtime (namespaces, v1/v2 cgroups, mounts,
//!   `pivot_root`, capabilities, its own seccomp BPF compiler), see [`berth`];
//! - [`ExternalRuntime`], which drives any runc-compatible binary (`--runtime runc`).
//!
//! One conformance suite (`tests/conformance.rs`) runs against both.
//!
//! Lifecycle: `create` (the init exists, waits just before `execve`) -> `start` -> the caller
//! reaps the init with `waitpid` (it is the caller's child, or adopted through
//! [`become_subreaper`]) -> `delete`. The runtime never reaps the init.
//!
//! Threads: [`BerthRuntime`] clones its init with a raw `clone` syscall and the child runs only
//! raw syscalls on data prepared before the clone (no allocation, no locks, no glibc wrappers
//! that broadcast to threads), so callers may have other threads (the conformance tests run in
//! parallel threads of one process). Fds another thread opens during a create are inherited by
//! that init until its execve (all close-on-exec), so a reader waiting for EOF on such a pipe
//! may wait until the other container starts.
//!
//! Caller requirements: fds 0-2 open (pipes the runtime creates must not land on them); the
//! caller reaps the init; for [`ExternalRuntime`] the caller is a child subreaper. The container
//! needs `/proc` mounted (every Docker spec does): the init reopens `exec.fifo` through
//! `/proc/self/fd` after pivot_root.
//!
//! `exec` runs another process in a running container (same hardening path as the init).
//!
//! Resource usage is read straight from the container's cgroup ([`cgroup::Cgroup::stats`], v1
//! and v2), for both implementations (runc uses the same `cgroupsPath`).
//!
//! Non-goals: checkpoint/restore, user-namespace remapping, rootless mode (all later work).

pub mod berth;
pub mod cgroup;
mod cgroup_stats;
mod device_filter;
mod error;
pub mod external;
mod rootfs_path;
pub mod seccomp;
mod sys;
pub mod user;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

pub use berth::BerthRuntime;
pub use error::RuntimeError;
pub use external::ExternalRuntime;

/// Where a container's stdio goes.
#[derive(Debug)]
pub enum ContainerIo {
    /// The init's stdin, stdout and stderr (the runtime takes ownership and closes its copies).
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A new pseudo-terminal; its master comes back in [`Created::pty_master`].
    Terminal,
}

/// The outcome of a successful `create`.
#[derive(Debug)]
pub struct Created {
    /// The init's pid in the caller's pid namespace.
    pub pid: i32,
    /// The pty master for [`ContainerIo::Terminal`].
    pub pty_master: Option<OwnedFd>,
}

/// A container's status, as runc reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

/// What `state` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
}

/// An OCI runtime. All methods are synchronous; see the crate doc for the lifecycle.
pub trait Runtime {
    /// Creates the container from `bundle/config.json`: namespaces, cgroup, mounts,
    /// pivot_root, ...; the init process exists and waits just before execve until `start`.
    /// Errors carry the real reason (exec not found -> exit code 127, not executable -> 126).
    fn create(&self, id: &str, bundle: &Path, io: ContainerIo) -> Result<Created, RuntimeError>;
    /// Lets the init execve. Returns after the execve succeeded (or with its error).
    fn start(&self, id: &str) -> Result<(), RuntimeError>;
    /// Runs `process` in the running container `id`: joins the init's namespaces (mount, pid,
    /// network, ipc, uts, cgroup) and its cgroup, with the container's seccomp profile and the
    /// process's own user, capabilities, rlimits, env and cwd. Returns once the process has
    /// exec'd (or with its error: not found -> 127, not executable -> 126). The caller reaps it
    /// (it is the caller's child or, for an external runtime, reparented to the subreaper).
    fn exec(
        &self,
        id: &str,
        process: &api::oci::Process,
        io: ContainerIo,
    ) -> Result<Created, RuntimeError>;
    /// Sends `signal` to the init.
    fn kill(&self, id: &str, signal: i32) -> Result<(), RuntimeError>;
    /// Changes the container's cgroup limits (memory, CPU, pids) while it runs; returns
    /// warnings for what this host cannot apply.
    fn update(
        &self,
        id: &str,
        resources: &api::oci::Resources,
    ) -> Result<Vec<String>, RuntimeError>;
    /// Freezes every process of the container.
    fn pause(&self, id: &str) -> Result<(), RuntimeError>;
    /// Thaws a paused container.
    fn resume(&self, id: &str) -> Result<(), RuntimeError>;
    /// The container's id, init pid, status and bundle.
    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError>;
    /// Removes cgroups and state; `force` SIGKILLs a live init first. Called after the init was
    /// reaped (or, with `force`, before; the caller still reaps).
    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError>;
}

/// Makes the calling process a child subreaper (`PR_SET_CHILD_SUBREAPER`), so an init created
/// by an external runtime (whose own process exits) is re-parented to the caller. The shim calls
/// it first.
pub fn become_subreaper() -> std::io::Result<()> {
    sys::set_child_subreaper()
}

/// The kernel's (major, minor) version, for [`api::oci::defaults::SpecOptions::kernel_version`].
pub fn host_kernel_version() -> Option<(u32, u32)> {
    sys::kernel_version()
}

/// The capability bounding set of the calling process (names with `CAP_`), for
/// [`api::oci::defaults::SpecOptions::host_bounding_set`].
pub fn host_bounding_set() -> std::io::Result<Vec<String>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(str::trim)
        .ok_or_else(|| std::io::Error::other("no CapBnd in /proc/self/status"))?;
    let mask = u64::from_str_radix(hex, 16).map_err(std::io::Error::other)?;
    Ok(api::oci::defaults::CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1u64 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect())
}

/// Creates the container with the caller's stdio, starts it, waits for its init, deletes it,
/// and returns the exit code (128 + signal for a killed init). For `berth runtime run` and the
/// benchmark.
pub fn run_bundle(rt: &dyn Runtime, id: &str, bundle: &Path) -> Result<i32, RuntimeError> {
    let dup = |fd: i32| {
        sys::dup_cloexec(fd).map_err(|e| RuntimeError::Io {
            op: "dup stdio".into(),
            source: e,
        })
    };
    let io = ContainerIo::Pipes {
        stdin: dup(0)?,
        stdout: dup(1)?,
        stderr: dup(2)?,
    };
    let created = rt.create(id, bundle, io)?;
    if let Err(e) = rt.start(id) {
        // The init is our unreaped child, so its pid cannot have been recycled.
        let _ = sys::kill(created.pid, libc::SIGKILL);
        let _ = sys::wait_exit_code(created.pid);
        let _ = rt.delete(id, true);
        return Err(e);
    }
    let code = sys::wait_exit_code(created.pid).map_err(|e| RuntimeError::Io {
        op: "wait for the init".into(),
        source: e,
    });
    let deleted = rt.delete(id, false);
    let code = code?;
    deleted?;
    Ok(code)
}
