//! [`ExternalRuntime`]: drives a runc-compatible binary (`runc --root R create|start|kill|
//! pause|resume|state|delete`).
//!
//! The init is forked by `runc create`, which then exits: the caller must be a child subreaper
//! ([`crate::become_subreaper`]) to reap the init. With [`ContainerIo::Pipes`] the fds become
//! runc's stdio and so the init's; runc's own messages go to a JSON log file in the state root
//! (`<root>/<id>.log`) so they never mix with the container's output. With
//! [`ContainerIo::Terminal`] the pty master is received on a `--console-socket`.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{sys, ContainerIo, ContainerState, Created, Runtime, RuntimeError, Status};

/// An external OCI runtime binary.
pub struct ExternalRuntime {
    binary: String,
    state_root: PathBuf,
}

impl ExternalRuntime {
    /// `binary` is a name looked up in PATH or a path (e.g. `runc`); `state_root` is its
    /// `--root`.
    pub fn new(binary: String, state_root: PathBuf) -> Self {
        ExternalRuntime { binary, state_root }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.state_root);
        c
    }

    fn log_path(&self, id: &str) -> PathBuf {
        self.state_root.join(format!("{id}.log"))
    }

    fn error(&self, op: &str, id: &str, stderr: String) -> RuntimeError {
        if stderr.contains("does not exist")
            || stderr.contains("not found") && !stderr.contains("exec")
        {
            return RuntimeError::NotFound(id.to_string());
        }
        RuntimeError::External {
            binary: self.binary.clone(),
            op: op.to_string(),
            stderr: stderr.trim().to_string(),
        }
    }

    /// The last error message of the JSON log, or the raw stderr.
    fn log_error(&self, id: &str, stderr: &[u8]) -> String {
        let log = std::fs::read_to_string(self.log_path(id)).unwrap_or_default();
        let from_log = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["level"] == "error")
            .filter_map(|v| v["msg"].as_str().map(String::from))
            .next_back();
        from_log.unwrap_or_else(|| String::from_utf8_lossy(stderr).into_owned())
    }

    /// Runs `cmd` (create or exec, without the trailing id) with the container's stdio or a
    /// console socket, and reads the pid file it writes. The runtime process itself exits; its
    /// child lives on.
    fn spawn(
        &self,
        mut cmd: Command,
        io: ContainerIo,
        id: &str,
        op: &str,
        pid_file: &Path,
    ) -> Result<Created, RuntimeError> {
        let mut listener = None;
        // Unix socket paths are limited to 108 bytes, so the console socket lives in a short
        // private path rather than under the (possibly deep) state root.
        // Unique per call: several creates may run at once in one process (and ids may share
        // a prefix).
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let sock_path =
            std::env::temp_dir().join(format!("berth-console-{}-{seq}.sock", std::process::id()));
        match io {
            ContainerIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                cmd.stdin(Stdio::from(stdin))
                    .stdout(Stdio::from(stdout))
                    .stderr(Stdio::from(stderr));
            }
            ContainerIo::Terminal => {
                let _ = std::fs::remove_file(&sock_path);
                let l = UnixListener::bind(&sock_path).map_err(|e| RuntimeError::Io {
                    op: "bind the console socket".into(),
                    source: e,
                })?;
                l.set_nonblocking(true).map_err(|e| RuntimeError::Io {
                    op: "console socket".into(),
                    source: e,
                })?;
                listener = Some(l);
                cmd.arg("--console-socket").arg(&sock_path);
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
            }
        }
        cmd.arg(id);
        let mut child = cmd.spawn().map_err(|e| RuntimeError::Io {
            op: format!("run {} {op}", self.binary),
            source: e,
        })?;
        drop(cmd); // closes our copies of the stdio fds
        let mut pty_master: Option<OwnedFd> = None;
        if let Some(l) = &listener {
            loop {
                match l.accept() {
                    Ok((stream, _)) => {
                        let fd: OwnedFd = stream.into();
                        pty_master = Some(sys::recv_fd(&fd).map_err(|e| RuntimeError::Io {
                            op: "receive the pty master".into(),
                            source: e,
                        })?);
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if child.try_wait().ok().flatten().is_some() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(e) => {
                        return Err(RuntimeError::Io {
                            op: "accept on the console socket".into(),
                            source: e,
                        })
                    }
                }
            }
        }
        let mut stderr = Vec::new();
        if let Some(mut s) = child.stderr.take() {
            use std::io::Read;
            let _ = s.read_to_end(&mut stderr);
        }
        let status = child.wait().map_err(|e| RuntimeError::Io {
            op: format!("wait for {} {op}", self.binary),
            source: e,
        })?;
        let _ = std::fs::remove_file(&sock_path);
        if !status.success() {
            let _ = std::fs::remove_file(pid_file);
            let msg = self.log_error(id, &stderr);
            return Err(RuntimeError::External {
                binary: self.binary.clone(),
                op: op.into(),
                stderr: msg,
            });
        }
        let pid = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| RuntimeError::External {
                binary: self.binary.clone(),
                op: op.into(),
                stderr: "no pid file".into(),
            })?;
        let _ = std::fs::remove_file(pid_file);
        Ok(Created { pid, pty_master })
    }

    fn simple(&self, op: &str, id: &str, args: &[&str]) -> Result<Vec<u8>, RuntimeError> {
        let out = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| RuntimeError::Io {
                op: format!("run {} {op}", self.binary),
                source: e,
            })?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.error(op, id, String::from_utf8_lossy(&out.stderr).into_owned()))
        }
    }
}

impl Runtime for ExternalRuntime {
    fn create(&self, id: &str, bundle: &Path, io: ContainerIo) -> Result<Created, RuntimeError> {
        std::fs::create_dir_all(&self.state_root).map_err(|e| RuntimeError::Io {
            op: "create the state root".into(),
            source: e,
        })?;
        let pid_file = self.state_root.join(format!("{id}.pid"));
        let log = self.log_path(id);
        let _ = std::fs::remove_file(&log);
        let mut cmd = self.cmd();
        cmd.arg("--log").arg(&log).arg("--log-format").arg("json");
        cmd.arg("create")
            .arg("--bundle")
            .arg(bundle)
            .arg("--pid-file")
            .arg(&pid_file);
        self.spawn(cmd, io, id, "create", &pid_file)
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple("start", id, &["start", id]).map(|_| ())
    }

    fn exec(
        &self,
        id: &str,
        process: &api::oci::Process,
        io: ContainerIo,
    ) -> Result<Created, RuntimeError> {
        static EXEC_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = EXEC_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{id}-exec-{}-{seq}", std::process::id());
        let process_path = self.state_root.join(format!("{tag}.json"));
        let pid_file = self.state_root.join(format!("{tag}.pid"));
        let json = serde_json::to_vec(process).map_err(|e| RuntimeError::Io {
            op: "encode process.json".into(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&process_path, json).map_err(|e| RuntimeError::Io {
            op: format!("write {}", process_path.display()),
            source: e,
        })?;
        let log = self.log_path(id);
        let mut cmd = self.cmd();
        cmd.arg("--log").arg(&log).arg("--log-format").arg("json");
        cmd.arg("exec")
            .arg("--detach")
            .arg("--process")
            .arg(&process_path)
            .arg("--pid-file")
            .arg(&pid_file);
        let r = self.spawn(cmd, io, id, "exec", &pid_file);
        let _ = std::fs::remove_file(&process_path);
        r
    }

    fn kill(&self, id: &str, signal: i32) -> Result<(), RuntimeError> {
        self.simple("kill", id, &["kill", id, &signal.to_string()])
            .map(|_| ())
    }

    fn update(
        &self,
        id: &str,
        resources: &api::oci::Resources,
    ) -> Result<Vec<String>, RuntimeError> {
        // `runc update --resources FILE`: the OCI `linux.resources` object, devices left out.
        let r = api::oci::Resources {
            devices: Vec::new(),
            ..resources.clone()
        };
        let file = self.state_root.join(format!("{id}.update.json"));
        let bytes = serde_json::to_vec(&r).map_err(|e| RuntimeError::Io {
            op: "encode resources".into(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&file, bytes).map_err(|e| RuntimeError::Io {
            op: format!("write {}", file.display()),
            source: e,
        })?;
        let path = file.to_string_lossy().into_owned();
        let r = self.simple("update", id, &["update", "--resources", &path, id]);
        let _ = std::fs::remove_file(&file);
        r.map(|_| Vec::new())
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple("pause", id, &["pause", id]).map(|_| ())
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.simple("resume", id, &["resume", id]).map(|_| ())
    }

    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        let out = self.simple("state", id, &["state", id])?;
        let v: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| RuntimeError::External {
                binary: self.binary.clone(),
                op: "state".into(),
                stderr: e.to_string(),
            })?;
        let status = match v["status"].as_str().unwrap_or("") {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            _ => Status::Stopped,
        };
        Ok(ContainerState {
            id: v["id"].as_str().unwrap_or(id).to_string(),
            pid: v["pid"].as_i64().unwrap_or(0) as i32,
            status,
            bundle: PathBuf::from(v["bundle"].as_str().unwrap_or("")),
        })
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        self.simple("delete", id, &args)?;
        let _ = std::fs::remove_file(self.log_path(id));
        Ok(())
    }
}
