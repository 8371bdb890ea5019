//! `docker exec` in the shim: turning an [`ExecConfig`] into an OCI process (the container's
//! own process from `config.json` with the exec's command, env, cwd, user, terminal and
//! capabilities), starting it through the runtime, and the [`ExecSession`] the supervisor
//! polls: the process's output (framed to its one client), its stdin and its exit.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use api::oci::Spec;
use api::shim::ExecConfig;
use runtime::{ContainerIo, Runtime};

use crate::json_file_log::Stream;
use crate::supervisor::{nonblocking, set_winsize, Output};

/// Why an exec could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{0}")]
    User(#[from] runtime::user::UserError),
    #[error("{0}")]
    Runtime(#[from] runtime::RuntimeError),
    #[error("read the container's config.json: {0}")]
    Spec(String),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl ExecError {
    /// The exec's exit code as Docker reports it: 127 not found, 126 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExecError::Runtime(e) => e.exit_code().unwrap_or(126),
            _ => 126,
        }
    }
}

fn io_err(what: &'static str) -> impl FnOnce(std::io::Error) -> ExecError {
    move |source| ExecError::Io { what, source }
}

/// One running exec'd process as the shim holds it.
pub struct ExecSession {
    /// The daemon's exec id.
    pub exec_id: String,
    /// Host pid (our child, or re-parented to us).
    pub pid: i32,
    /// Output not yet at end of file (a terminal's master is one stdout output).
    pub outputs: Vec<Output>,
    /// Where the client's input goes (pipe or pty master), while open.
    pub stdin: Option<File>,
    /// Input not yet written.
    pub stdin_buf: Vec<u8>,
    /// The client closed its input.
    pub stdin_eof: bool,
    /// The pty master, for resize.
    pub pty: Option<File>,
    /// Exit code and when it was reaped.
    pub exit: Option<(i32, Instant)>,
}

/// The process an exec runs, built from the container's own process.
pub fn process(state_dir: &Path, cfg: &ExecConfig) -> Result<api::oci::Process, ExecError> {
    let path = state_dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| ExecError::Spec(e.to_string()))?;
    let spec = Spec::from_json(&text).map_err(|e| ExecError::Spec(e.to_string()))?;
    let mut p = spec.process.unwrap_or_default();
    p.args = cfg.args.clone();
    p.env = cfg.env.clone();
    if !cfg.cwd.is_empty() {
        p.cwd = cfg.cwd.clone();
    }
    p.terminal = cfg.tty;
    p.console_size = if cfg.tty {
        cfg.console_size.map(|[rows, cols]| api::oci::ConsoleSize {
            height: rows as u32,
            width: cols as u32,
        })
    } else {
        None
    };
    if !cfg.user.is_empty() {
        // The container's `--group-add` groups apply to an exec's user too, as in dockerd.
        let add = std::fs::read(state_dir.join("shim.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<api::shim::ShimConfig>(&b).ok())
            .map(|c| c.group_add)
            .unwrap_or_default();
        let (uid, gid, groups) =
            runtime::user::resolve_with_groups(&state_dir.join("rootfs"), &cfg.user, &add)?;
        p.user.uid = uid;
        p.user.gid = gid;
        p.user.additional_gids = groups;
    }
    // As runc: HOME from the exec user's passwd entry unless the env has one.
    runtime::user::add_home(&mut p.env, &state_dir.join("rootfs"), p.user.uid);
    if cfg.privileged {
        let all = runtime::host_bounding_set().map_err(io_err("read the capability set"))?;
        let caps = p.capabilities.get_or_insert_with(Default::default);
        caps.bounding = all.clone();
        caps.effective = all.clone();
        caps.permitted = all;
    }
    Ok(p)
}

/// The container's cgroup path (`linux.cgroupsPath`, default `/berth/<id>`).
pub fn cgroups_path(state_dir: &Path, id: &str) -> String {
    std::fs::read_to_string(state_dir.join("config.json"))
        .ok()
        .and_then(|t| Spec::from_json(&t).ok())
        .and_then(|s| s.linux.and_then(|l| l.cgroups_path))
        .unwrap_or_else(|| format!("/berth/{id}"))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), ExecError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| ExecError::Io {
        what: "create pipe",
        source: e.into(),
    })
}

/// Starts the exec'd process through the runtime; returns once it runs.
pub fn start(
    rt: &dyn Runtime,
    id: &str,
    state_dir: &Path,
    cfg: &ExecConfig,
) -> Result<ExecSession, ExecError> {
    let p = process(state_dir, cfg)?;
    if cfg.tty {
        let created = rt.exec(id, &p, ContainerIo::Terminal)?;
        let master = created.pty_master.ok_or_else(|| ExecError::Io {
            what: "terminal",
            source: std::io::Error::other("the runtime returned no pty master"),
        })?;
        let master = nonblocking(master).map_err(|e| ExecError::Io {
            what: "pty master",
            source: std::io::Error::other(e),
        })?;
        if let Some([rows, cols]) = cfg.console_size {
            set_winsize(master.as_raw_fd(), rows, cols);
        }
        let reader = master.try_clone().map_err(io_err("dup pty master"))?;
        let stdin = if cfg.stdin {
            Some(master.try_clone().map_err(io_err("dup pty master"))?)
        } else {
            None
        };
        return Ok(ExecSession {
            exec_id: cfg.exec_id.clone(),
            pid: created.pid,
            outputs: vec![Output {
                file: reader,
                stream: Stream::Stdout,
            }],
            stdin,
            stdin_buf: Vec::new(),
            stdin_eof: false,
            pty: Some(master),
            exit: None,
        });
    }
    let (stdin_r, stdin_w) = pipe()?;
    let (stdout_r, stdout_w) = pipe()?;
    let (stderr_r, stderr_w) = pipe()?;
    let created = rt.exec(
        id,
        &p,
        ContainerIo::Pipes {
            stdin: stdin_r,
            stdout: stdout_w,
            stderr: stderr_w,
        },
    )?;
    let nb = |fd: OwnedFd| {
        nonblocking(fd).map_err(|e| ExecError::Io {
            what: "exec pipes",
            source: std::io::Error::other(e),
        })
    };
    Ok(ExecSession {
        exec_id: cfg.exec_id.clone(),
        pid: created.pid,
        outputs: vec![
            Output {
                file: nb(stdout_r)?,
                stream: Stream::Stdout,
            },
            Output {
                file: nb(stderr_r)?,
                stream: Stream::Stderr,
            },
        ],
        // Without -i the process reads EOF at once.
        stdin: if cfg.stdin { Some(nb(stdin_w)?) } else { None },
        stdin_buf: Vec::new(),
        stdin_eof: false,
        pty: None,
        exit: None,
    })
}

impl ExecSession {
    /// Reads output `i` into `out` as Docker frames while `out` stays under `limit`; true at
    /// end of file. Never inlined, so its buffer's stack pages are dead while the shim idles.
    #[inline(never)]
    pub fn read_output(&mut self, i: usize, out: &mut Vec<u8>, limit: usize) -> bool {
        let mut buf = [0u8; 32 * 1024];
        let Some(o) = self.outputs.get_mut(i) else {
            return true;
        };
        while out.len() < limit {
            let n = match o.file.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // EIO: the terminal's last slave closed.
                Err(_) => return true,
            };
            push_frame(
                out,
                if o.stream == Stream::Stderr { 2 } else { 1 },
                &buf[..n],
            );
        }
        false
    }

    /// Writes buffered input; closes a pipe once the client's input ended.
    pub fn flush_stdin(&mut self) {
        if let Some(f) = self.stdin.as_mut() {
            while !self.stdin_buf.is_empty() {
                match f.write(&self.stdin_buf) {
                    Ok(n) => {
                        self.stdin_buf.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => {
                        self.stdin_buf.clear();
                        self.stdin = None;
                        return;
                    }
                }
            }
        }
        if self.stdin_eof && self.stdin_buf.is_empty() && self.pty.is_none() {
            self.stdin = None;
        }
    }

    /// Sets the terminal size; false without a terminal.
    pub fn resize(&self, rows: u16, cols: u16) -> bool {
        match &self.pty {
            Some(p) => {
                set_winsize(p.as_raw_fd(), rows, cols);
                true
            }
            None => false,
        }
    }
}

/// Appends one frame with Docker's 8-byte header.
pub fn push_frame(out: &mut Vec<u8>, stream: u8, payload: &[u8]) {
    out.push(stream);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}
