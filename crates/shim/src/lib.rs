//! The per-container supervisor process (`berth shim`): single-threaded, it creates the container
//! through the runtime, owns the init's stdio, writes the json-file log, reaps the init, records
//! its exit atomically and keeps running when the daemon dies.
//!
//! Place in the crate graph: `cli` calls [`run`] for the hidden `berth shim` subcommand before
//! any thread exists; the shim uses `runtime` (which forks) and `api` for the protocol
//! ([`api::shim`], which documents the steps). The daemon never links this crate's code path: it
//! execs the binary. Non-goals: no tokio, no threads, no logging subscriber of its own (errors go
//! to stderr, which the daemon points at `<state_dir>/shim.log`).

#![allow(unsafe_code)] // poll(2) and TIOCSWINSZ in supervisor.rs; each block says why it is sound.

mod exec;
mod idle_memory;
mod json_file_log;
mod rootfs;
mod supervisor;

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use api::shim::{Ready, ShimConfig};
use runtime::{BerthRuntime, ContainerIo, ExternalRuntime, Runtime};

pub use json_file_log::{JsonFileLog, Stream};

/// Arguments of the hidden `berth shim` subcommand.
#[derive(Debug, Clone)]
pub struct ShimArgs {
    /// Full container id.
    pub id: String,
    /// Directory holding the container's shim state (socket, bundle) under the exec root.
    pub state_dir: PathBuf,
    /// Directory holding the container's persistent files (log, exit status) under the data root.
    pub data_dir: PathBuf,
    /// `berth` for the built-in runtime or the path/name of an external OCI runtime binary.
    pub runtime: String,
}

/// Why the shim could not create the container.
#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error("{0}")]
    User(String),
    #[error("{0}")]
    Runtime(#[from] runtime::RuntimeError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
}

impl SetupError {
    fn exit_code(&self) -> Option<i32> {
        match self {
            SetupError::Runtime(e) => e.exit_code(),
            _ => None,
        }
    }
}

/// Runs the shim until the container has exited and its exit is recorded. Returns the process
/// exit code for the shim itself.
pub fn run(args: ShimArgs) -> i32 {
    // A new session: the daemon's terminal and process group signals do not reach us.
    let _ = nix::unistd::setsid();
    if let Err(e) = runtime::become_subreaper() {
        report_ready(&Ready {
            error: Some(format!("cannot become subreaper: {e}")),
            ..Default::default()
        });
        return 1;
    }
    let runtime: Box<dyn Runtime> = match read_config(&args.state_dir) {
        Ok(cfg) => make_runtime(&args.runtime, &cfg.runtime_root),
        Err(e) => {
            report_ready(&Ready {
                error: Some(e.to_string()),
                ..Default::default()
            });
            return 1;
        }
    };
    match setup(&args, runtime.as_ref()) {
        Ok((cfg, created, io)) => {
            let pid = created.pid;
            let id = args.id.clone();
            let rootfs = args.state_dir.join("rootfs");
            let (rt_name, state_dir) = (args.runtime.clone(), args.state_dir.clone());
            // The socket is listening before the daemon hears that we are ready.
            match supervisor::Supervisor::new(args, cfg, runtime, created, io) {
                Ok(sup) => {
                    report_ready(&Ready {
                        pid: Some(pid),
                        ..Default::default()
                    });
                    silence_stdout();
                    sup.run()
                }
                Err(e) => {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                    if let Ok(cfg) = read_config(&state_dir) {
                        let _ = make_runtime(&rt_name, &cfg.runtime_root).delete(&id, true);
                    }
                    let _ = rootfs::unmount_all(&rootfs);
                    report_ready(&Ready {
                        error: Some(format!("shim of {id}: {e}")),
                        ..Default::default()
                    });
                    1
                }
            }
        }
        Err(e) => {
            let rootfs = args.state_dir.join("rootfs");
            let _ = runtime.delete(&args.id, true);
            let _ = rootfs::unmount_all(&rootfs);
            report_ready(&Ready {
                error: Some(error_chain(&e)),
                exit_code: e.exit_code(),
                pid: None,
            });
            1
        }
    }
}

/// Runtime used by the shim: berth's own or an external OCI runtime binary.
pub fn make_runtime(name: &str, state_root: &Path) -> Box<dyn Runtime> {
    if name == "berth" {
        Box::new(BerthRuntime::new(state_root.join("berth")))
    } else {
        Box::new(ExternalRuntime::new(
            name.to_string(),
            state_root.join(name.rsplit('/').next().unwrap_or(name)),
        ))
    }
}

/// Removes what a dead shim may have left: the runtime container (killed) and the root mount.
/// Used by the daemon (through `berth shim --cleanup`) when a shim is gone.
pub fn cleanup(args: &ShimArgs) -> i32 {
    let cfg = read_config(&args.state_dir).unwrap_or_default();
    let rt = make_runtime(&args.runtime, &cfg.runtime_root);
    let mut code = 0;
    if let Err(e) = rt.delete(&args.id, true) {
        if e.kind() != api::ErrorKind::NotFound {
            eprintln!("berth shim: delete {}: {e}", args.id);
            code = 1;
        }
    }
    if let Err(e) = rootfs::unmount_all(&args.state_dir.join("rootfs")) {
        eprintln!("berth shim: {e}");
        code = 1;
    }
    code
}

fn read_config(state_dir: &Path) -> Result<ShimConfig, SetupError> {
    let path = state_dir.join("shim.json");
    let data = fs::read(&path).map_err(|source| SetupError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&data).map_err(|source| SetupError::Parse { path, source })
}

fn setup(
    args: &ShimArgs,
    rt: &dyn Runtime,
) -> Result<(ShimConfig, runtime::Created, supervisor::Stdio), SetupError> {
    let cfg = read_config(&args.state_dir)?;
    let rootfs = args.state_dir.join("rootfs");
    fs::create_dir_all(&rootfs).map_err(|source| SetupError::Io {
        what: "create rootfs dir",
        source,
    })?;
    rootfs::mount_all(&cfg.rootfs_mounts, &rootfs)?;
    if !cfg.user.is_empty() || !cfg.group_add.is_empty() {
        let (uid, gid, groups) =
            runtime::user::resolve_with_groups(&rootfs, &cfg.user, &cfg.group_add)
                .map_err(|e| SetupError::User(e.to_string()))?;
        set_user(&args.state_dir.join("config.json"), uid, gid, &groups)?;
    }
    let (io, stdio) = if cfg.tty {
        (ContainerIo::Terminal, supervisor::Stdio::Terminal)
    } else {
        let (stdin_r, stdin_w) = pipe()?;
        let (stdout_r, stdout_w) = pipe()?;
        let (stderr_r, stderr_w) = pipe()?;
        let io = ContainerIo::Pipes {
            stdin: stdin_r,
            stdout: stdout_w,
            stderr: stderr_w,
        };
        let stdin = if cfg.open_stdin { Some(stdin_w) } else { None };
        (
            io,
            supervisor::Stdio::Pipes {
                stdin,
                stdout: stdout_r,
                stderr: stderr_r,
            },
        )
    };
    let created = rt.create(&args.id, &args.state_dir, io)?;
    Ok((cfg, created, stdio))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SetupError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SetupError::Io {
        what: "create pipe",
        source: e.into(),
    })
}

/// Writes the resolved ids into the bundle's config.json (atomically).
fn set_user(config: &Path, uid: u32, gid: u32, groups: &[u32]) -> Result<(), SetupError> {
    let data = fs::read(config).map_err(|source| SetupError::Read {
        path: config.to_path_buf(),
        source,
    })?;
    let mut spec: serde_json::Value =
        serde_json::from_slice(&data).map_err(|source| SetupError::Parse {
            path: config.to_path_buf(),
            source,
        })?;
    let user = &mut spec["process"]["user"];
    user["uid"] = uid.into();
    user["gid"] = gid.into();
    user["additionalGids"] = groups.to_vec().into();
    let bytes = serde_json::to_vec(&spec).map_err(|source| SetupError::Parse {
        path: config.to_path_buf(),
        source,
    })?;
    content::atomic::write_file(config, &bytes).map_err(|source| SetupError::Io {
        what: "write config.json",
        source,
    })
}

/// An error and its causes, `: `-separated, skipping causes the message already contains.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

fn report_ready(ready: &Ready) {
    let mut line = serde_json::to_vec(ready).unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&line);
    let _ = out.flush();
}

/// After the ready line nobody reads our stdout: point it at /dev/null so a write can never
/// block or raise SIGPIPE.
fn silence_stdout() {
    if let Ok(null) = fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
}
