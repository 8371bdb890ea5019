//! [`BerthRuntime`]: berth's own OCI runtime.
//!
//! `create` reads `config.json`, creates the cgroup (`linux.cgroupsPath`, default
//! `/berth/<id>`), compiles the seccomp section, prepares a [`plan::ChildPlan`], and clones the
//! init with a raw `clone` syscall into new namespaces. The init (module `child`) waits for the
//! parent to place it in the cgroup, sets everything up, reports READY on a close-on-exec error
//! pipe and blocks opening `<state>/<id>/exec.fifo` for writing. `start` opens the fifo for
//! reading, which lets the init execve; when `start` runs in the process that created the
//! container it also waits for the error pipe to close (exec succeeded) or to carry the exec
//! error. The caller is the init's parent and reaps it; `delete` removes cgroup and state.
//!
//! `exec` joins a running container: the cloning thread enters the init's pid namespace for
//! the clone only (setns on a pid namespace changes where the thread's children are born),
//! the parent puts the child in the container's cgroup, and the child (`child::exec_main`)
//! joins the other namespaces of the init (`/proc/<pid>/ns/*`, mount last), sets up stdio or a
//! pty, runs the init's hardening steps with the exec's process and execs. The error pipe
//! closes on success or carries the failed step; the caller reaps the process.
//!
//! State layout: `<state_root>/<id>/state.json` (id, pid, start time, bundle, cgroups path)
//! and `exec.fifo` until start. Terminal mode: the init opens `ptmx` in the container's own
//! devpts instance after pivot_root (so `tty` names `/dev/pts/0`), and sends the master back
//! with SCM_RIGHTS over a socketpair created before the clone.

mod child;
mod plan;
mod state;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use api::oci::Spec;

use crate::cgroup::Cgroup;
use crate::{sys, ContainerIo, ContainerState, Created, Runtime, RuntimeError, Status};
use child::{Report, Step, REPORT_LEN};
use state::{StateFile, EXEC_FIFO};

/// berth's own runtime. Keeps the error pipe of containers it created until they start.
pub struct BerthRuntime {
    state_root: PathBuf,
    pending: Mutex<HashMap<String, (OwnedFd, String)>>,
}

fn io(op: &str, e: std::io::Error) -> RuntimeError {
    RuntimeError::Io {
        op: op.to_string(),
        source: e,
    }
}

/// Container ids: 1-128 of `[A-Za-z0-9_.-]`, not starting with `.` or `-`.
fn check_id(id: &str) -> Result<(), RuntimeError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with(['.', '-'])
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId(id.to_string()))
    }
}

/// Undoes a half-done create when dropped unless disarmed.
struct CreateGuard<'a> {
    dir: &'a Path,
    cgroup: Option<Cgroup>,
    pid: Option<i32>,
}

impl Drop for CreateGuard<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::wait_exit_code(pid);
        }
        if let Some(cg) = &self.cgroup {
            if let Err(e) = cg.remove() {
                tracing::warn!(error = %e, "cleanup of a failed create left a cgroup");
            }
        }
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

impl BerthRuntime {
    /// A runtime keeping container state under `state_root` (berth uses
    /// `/run/berth/runtime`).
    pub fn new(state_root: PathBuf) -> Self {
        BerthRuntime {
            state_root,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn dir(&self, id: &str) -> Result<PathBuf, RuntimeError> {
        check_id(id)?;
        Ok(self.state_root.join(id))
    }

    fn load(&self, id: &str) -> Result<(PathBuf, StateFile), RuntimeError> {
        let dir = self.dir(id)?;
        let s = StateFile::read(&dir, id)?;
        Ok((dir, s))
    }

    fn describe(plan: Option<&plan::ChildPlan>, r: Report, args0: &str) -> RuntimeError {
        let err = std::io::Error::from_raw_os_error(r.errno);
        let step = Step::from_u32(r.step);
        match step {
            Some(Step::ExecNotFound) => RuntimeError::Exec {
                message: format!("exec: \"{args0}\": executable file not found in $PATH"),
                code: 127,
            },
            Some(Step::ExecStat) => RuntimeError::Exec {
                message: format!("exec: \"{args0}\": stat {args0}: {}", errno_text(r.errno)),
                code: 127,
            },
            Some(Step::ExecPermission) => RuntimeError::Exec {
                message: format!("exec: \"{args0}\": permission denied"),
                code: 126,
            },
            Some(Step::Exec) => RuntimeError::Exec {
                message: format!("exec: \"{args0}\": {}", errno_text(r.errno)),
                code: if r.errno == libc::ENOENT { 127 } else { 126 },
            },
            Some(Step::Chdir) => RuntimeError::Exec {
                // runc's wording, which docker shows for `exec -w` / `run -w` of a missing dir.
                message: format!(
                    "chdir to cwd ({:?}) set in config.json failed: {}",
                    plan.map(|p| p.cwd.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    errno_text(r.errno)
                ),
                code: 126,
            },
            Some(Step::PrePivot) => RuntimeError::Init {
                step: plan
                    .and_then(|p| p.pre_pivot.get(r.index as usize))
                    .map(|o| o.describe())
                    .unwrap_or_default(),
                source: err,
            },
            Some(Step::PostPivot) => RuntimeError::Init {
                step: plan
                    .and_then(|p| p.post_pivot.get(r.index as usize))
                    .map(|o| o.describe())
                    .unwrap_or_default(),
                source: err,
            },
            Some(s) => RuntimeError::Init {
                step: format!("{s:?} ({})", r.index).to_lowercase(),
                source: err,
            },
            None => RuntimeError::Init {
                step: format!("unknown step {}", r.step),
                source: err,
            },
        }
    }
}

/// The lowercase text Go prints for an errno.
fn errno_text(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    let s = s.split(" (os error").next().unwrap_or(&s).to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// Whether two paths name the same inode (namespace files compare this way).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

fn namespace_flag(typ: &str) -> Option<i32> {
    Some(match typ {
        "network" => libc::CLONE_NEWNET,
        "ipc" => libc::CLONE_NEWIPC,
        "uts" => libc::CLONE_NEWUTS,
        "mount" => libc::CLONE_NEWNS,
        "cgroup" => libc::CLONE_NEWCGROUP,
        _ => return None,
    })
}

impl Runtime for BerthRuntime {
    fn create(
        &self,
        id: &str,
        bundle: &Path,
        io_choice: ContainerIo,
    ) -> Result<Created, RuntimeError> {
        let dir = self.dir(id)?;
        let bundle = std::fs::canonicalize(bundle).map_err(|e| RuntimeError::InvalidBundle {
            path: bundle.to_path_buf(),
            reason: e.to_string(),
        })?;
        let config_path = bundle.join("config.json");
        let text =
            std::fs::read_to_string(&config_path).map_err(|e| RuntimeError::InvalidBundle {
                path: config_path.clone(),
                reason: e.to_string(),
            })?;
        let spec = Spec::from_json(&text).map_err(|e| RuntimeError::InvalidBundle {
            path: config_path.clone(),
            reason: e.to_string(),
        })?;
        let root = spec
            .root
            .as_ref()
            .map(|r| r.path.clone())
            .unwrap_or_else(|| "rootfs".into());
        let rootfs =
            std::fs::canonicalize(bundle.join(&root)).map_err(|e| RuntimeError::InvalidBundle {
                path: bundle.join(&root),
                reason: e.to_string(),
            })?;
        let linux = spec.linux.clone().unwrap_or_default();
        let seccomp = match &linux.seccomp {
            Some(s) => {
                let p = crate::seccomp::compile(s)?;
                Some((p.filter, p.flags))
            }
            None => None,
        };
        let mut join_files = Vec::new();
        for ns in &linux.namespaces {
            if let Some(path) = &ns.path {
                let flag = namespace_flag(&ns.typ).ok_or_else(|| RuntimeError::InvalidBundle {
                    path: config_path.clone(),
                    reason: format!("joining a {} namespace is not supported", ns.typ),
                })?;
                let f = sys::open(Path::new(path), libc::O_RDONLY).map_err(|e| {
                    RuntimeError::InvalidBundle {
                        path: PathBuf::from(path),
                        reason: e.to_string(),
                    }
                })?;
                join_files.push((f, flag));
            }
        }

        std::fs::create_dir_all(&self.state_root).map_err(|e| io("create the state root", e))?;
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::AlreadyExists(id.to_string()))
            }
            Err(e) => return Err(io("create the state dir", e)),
        }
        let mut guard = CreateGuard {
            dir: &dir,
            cgroup: None,
            pid: None,
        };
        let fifo_path = dir.join(EXEC_FIFO);
        sys::mkfifo(&fifo_path, 0o622).map_err(|e| io("mkfifo exec.fifo", e))?;
        let fifo = sys::open(&fifo_path, libc::O_PATH).map_err(|e| io("open exec.fifo", e))?;

        let cgroups_path = linux
            .cgroups_path
            .clone()
            .unwrap_or_else(|| format!("/berth/{id}"));
        let (cgroup, warnings) = Cgroup::create(&cgroups_path, linux.resources.as_ref())?;
        for w in warnings {
            tracing::warn!(container = %id, "{w}");
        }
        guard.cgroup = Some(cgroup.clone());

        let (go_read, go_write) = sys::pipe().map_err(|e| io("pipe", e))?;
        let (err_read, err_write) = sys::pipe().map_err(|e| io("pipe", e))?;
        let (stdio_fds, console) = match &io_choice {
            ContainerIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => (
                Some([stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()]),
                None,
            ),
            ContainerIo::Terminal => (
                None,
                Some(sys::socketpair().map_err(|e| io("socketpair", e))?),
            ),
        };
        let plan = plan::build(
            &spec,
            &rootfs,
            plan::PlanInputs {
                bundle: &bundle,
                cgroup: &cgroup,
                go_read: go_read.as_raw_fd(),
                err_write: err_write.as_raw_fd(),
                fifo_fd: fifo.as_raw_fd(),
                stdio: stdio_fds,
                console_sock: console.as_ref().map(|(_, child)| child.as_raw_fd()),
                join_ns: join_files
                    .iter()
                    .map(|(f, t)| (f.as_raw_fd(), *t))
                    .collect(),
                seccomp,
            },
        )?;

        let pid =
            clone_child(&plan, child::child_main).map_err(|e| io("clone the container init", e))?;
        guard.pid = Some(pid);
        drop(go_read);
        drop(err_write);
        drop(fifo);
        drop(join_files);
        drop(io_choice);
        let console_parent = console.map(|(parent, child)| {
            drop(child);
            parent
        });

        cgroup.add_pid(pid)?;
        sys::write(&go_write, b"g").map_err(|e| io("signal the init", e))?;
        drop(go_write);

        let mut buf = [0u8; REPORT_LEN];
        let n = sys::read_full(&err_read, &mut buf).map_err(|e| io("read the init's report", e))?;
        if n != REPORT_LEN {
            return Err(RuntimeError::Init {
                step: "the init exited before it was ready".into(),
                source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            });
        }
        let r = Report::from_bytes(&buf);
        let args0 = spec
            .process
            .as_ref()
            .and_then(|p| p.args.first())
            .cloned()
            .unwrap_or_default();
        if r.step != Step::Ready as u32 {
            return Err(Self::describe(Some(&plan), r, &args0));
        }
        let pty_master = match console_parent {
            Some(sock) => Some(sys::recv_fd(&sock).map_err(|e| io("receive the pty master", e))?),
            None => None,
        };
        let start_time = state::proc_stat(pid).map(|(_, t)| t).unwrap_or(0);
        StateFile {
            id: id.to_string(),
            pid,
            start_time,
            bundle: bundle.clone(),
            cgroups_path,
        }
        .write(&dir)?;
        guard.pid = None;
        guard.cgroup = None;
        std::mem::forget(guard);
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), (err_read, args0));
        Ok(Created { pid, pty_master })
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        let (dir, s) = self.load(id)?;
        let fifo_path = dir.join(EXEC_FIFO);
        if !fifo_path.exists() {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                state: "not created".into(),
                op: "start".into(),
            });
        }
        let fifo = sys::open(&fifo_path, libc::O_RDONLY | libc::O_NONBLOCK)
            .map_err(|e| io("open exec.fifo", e))?;
        let mut b = [0u8; 1];
        loop {
            match sys::read(&fifo, &mut b) {
                Ok(1) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(io("read exec.fifo", e)),
            }
            if !state::init_alive(&s) {
                return Err(RuntimeError::WrongState {
                    id: id.into(),
                    state: "stopped".into(),
                    op: "start".into(),
                });
            }
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        let _ = std::fs::remove_file(&fifo_path);
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        if let Some((pipe, args0)) = pending {
            let mut buf = [0u8; REPORT_LEN];
            let n = sys::read_full(&pipe, &mut buf).map_err(|e| io("read the init's report", e))?;
            if n == REPORT_LEN {
                let r = Report::from_bytes(&buf);
                return Err(Self::describe(None, r, &args0));
            }
        }
        Ok(())
    }

    fn kill(&self, id: &str, signal: i32) -> Result<(), RuntimeError> {
        let (_, s) = self.load(id)?;
        if !state::init_alive(&s) {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                state: "stopped".into(),
                op: "kill".into(),
            });
        }
        sys::kill(s.pid, signal).map_err(|e| io("kill", e))
    }

    fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        let (_, s) = self.load(id)?;
        if !state::init_alive(&s) {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                state: "stopped".into(),
                op: "pause".into(),
            });
        }
        Cgroup::open(&s.cgroups_path).freeze(true)
    }

    fn update(
        &self,
        id: &str,
        resources: &api::oci::Resources,
    ) -> Result<Vec<String>, RuntimeError> {
        let (_, s) = self.load(id)?;
        // Limits only: device rules stay as created.
        let r = api::oci::Resources {
            devices: Vec::new(),
            ..resources.clone()
        };
        Cgroup::open(&s.cgroups_path).update(&r)
    }

    fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        let (_, s) = self.load(id)?;
        Cgroup::open(&s.cgroups_path).freeze(false)
    }

    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        let (dir, s) = self.load(id)?;
        let status = if !state::init_alive(&s) {
            Status::Stopped
        } else if dir.join(EXEC_FIFO).exists() {
            Status::Created
        } else if Cgroup::open(&s.cgroups_path).is_frozen() {
            Status::Paused
        } else {
            Status::Running
        };
        Ok(ContainerState {
            id: s.id,
            pid: s.pid,
            status,
            bundle: s.bundle,
        })
    }

    fn exec(
        &self,
        id: &str,
        process: &api::oci::Process,
        io_choice: ContainerIo,
    ) -> Result<Created, RuntimeError> {
        let (dir, s) = self.load(id)?;
        if !state::init_alive(&s) || dir.join(EXEC_FIFO).exists() {
            return Err(RuntimeError::WrongState {
                id: id.into(),
                state: "not running".into(),
                op: "exec".into(),
            });
        }
        // The container's seccomp profile applies to exec'd processes too.
        let config_path = s.bundle.join("config.json");
        let spec = std::fs::read_to_string(&config_path)
            .map_err(|e| e.to_string())
            .and_then(|t| Spec::from_json(&t).map_err(|e| e.to_string()))
            .map_err(|reason| RuntimeError::InvalidBundle {
                path: config_path.clone(),
                reason,
            })?;
        let seccomp = match spec.linux.as_ref().and_then(|l| l.seccomp.as_ref()) {
            Some(sc) => {
                let p = crate::seccomp::compile(sc)?;
                Some((p.filter, p.flags))
            }
            None => None,
        };
        // The init's namespaces that differ from ours; mount last (it changes root and cwd).
        let mut join = Vec::new();
        for (name, flag) in [
            ("ipc", libc::CLONE_NEWIPC),
            ("uts", libc::CLONE_NEWUTS),
            ("net", libc::CLONE_NEWNET),
            ("cgroup", libc::CLONE_NEWCGROUP),
            ("mnt", libc::CLONE_NEWNS),
        ] {
            let theirs = PathBuf::from(format!("/proc/{}/ns/{name}", s.pid));
            if same_file(&theirs, Path::new(&format!("/proc/self/ns/{name}"))) {
                continue;
            }
            let f = sys::open(&theirs, libc::O_RDONLY)
                .map_err(|e| io(&format!("open {}", theirs.display()), e))?;
            join.push((f, flag));
        }
        let pid_ns_path = PathBuf::from(format!("/proc/{}/ns/pid", s.pid));
        let pid_ns = if same_file(&pid_ns_path, Path::new("/proc/thread-self/ns/pid")) {
            None
        } else {
            Some(sys::open(&pid_ns_path, libc::O_RDONLY).map_err(|e| io("open pid ns", e))?)
        };
        let (go_read, go_write) = sys::pipe().map_err(|e| io("pipe", e))?;
        let (err_read, err_write) = sys::pipe().map_err(|e| io("pipe", e))?;
        let (stdio_fds, console) = match &io_choice {
            ContainerIo::Pipes {
                stdin,
                stdout,
                stderr,
            } => (
                Some([stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()]),
                None,
            ),
            ContainerIo::Terminal => (
                None,
                Some(sys::socketpair().map_err(|e| io("socketpair", e))?),
            ),
        };
        let plan = plan::build_exec(
            process,
            plan::ExecInputs {
                go_read: go_read.as_raw_fd(),
                err_write: err_write.as_raw_fd(),
                stdio: stdio_fds,
                console_sock: console.as_ref().map(|(_, child)| child.as_raw_fd()),
                join_ns: join.iter().map(|(f, t)| (f.as_raw_fd(), *t)).collect(),
                seccomp,
            },
        )?;
        // setns(CLONE_NEWPID) only moves this thread's future children into the container's
        // pid namespace; restored right after the clone.
        let own_pid_ns = match &pid_ns {
            Some(ns) => {
                let own = sys::open(
                    Path::new("/proc/thread-self/ns/pid_for_children"),
                    libc::O_RDONLY,
                )
                .map_err(|e| io("open own pid ns", e))?;
                sys::setns(ns, libc::CLONE_NEWPID).map_err(|e| io("enter the pid namespace", e))?;
                Some(own)
            }
            None => None,
        };
        let cloned = clone_child(&plan, child::exec_main);
        if let Some(own) = &own_pid_ns {
            if let Err(e) = sys::setns(own, libc::CLONE_NEWPID) {
                tracing::error!(error = %e, "cannot return to the own pid namespace");
            }
        }
        let pid = cloned.map_err(|e| io("clone the exec process", e))?;
        drop(go_read);
        drop(err_write);
        drop(join);
        drop(io_choice);
        let console_parent = console.map(|(parent, child)| {
            drop(child);
            parent
        });
        let abort = |e: RuntimeError| {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::wait_exit_code(pid);
            e
        };
        Cgroup::open(&s.cgroups_path).add_pid(pid).map_err(abort)?;
        sys::write(&go_write, b"g").map_err(|e| abort(io("signal the exec process", e)))?;
        drop(go_write);
        let mut buf = [0u8; REPORT_LEN];
        let n = sys::read_full(&err_read, &mut buf)
            .map_err(|e| abort(io("read the exec report", e)))?;
        if n == REPORT_LEN {
            let r = Report::from_bytes(&buf);
            let _ = sys::wait_exit_code(pid);
            let args0 = process.args.first().cloned().unwrap_or_default();
            return Err(Self::describe(Some(&plan), r, &args0));
        }
        let pty_master = match console_parent {
            Some(sock) => {
                Some(sys::recv_fd(&sock).map_err(|e| abort(io("receive the pty master", e)))?)
            }
            None => None,
        };
        Ok(Created { pid, pty_master })
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let (dir, s) = self.load(id)?;
        let cg = Cgroup::open(&s.cgroups_path);
        if state::init_alive(&s) {
            let created = dir.join(EXEC_FIFO).exists();
            if !force && !created {
                return Err(RuntimeError::WrongState {
                    id: id.into(),
                    state: "running".into(),
                    op: "delete".into(),
                });
            }
            let _ = sys::kill(s.pid, libc::SIGKILL);
        }
        // Processes left behind (an init of a shared pid namespace, or not yet reaped children).
        if cg.is_frozen() {
            let _ = cg.freeze(false);
        }
        for pid in cg.pids() {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        cg.remove()?;
        std::fs::remove_dir_all(&dir).map_err(|e| io("remove the state dir", e))
    }
}

/// Clones the init (or an exec'd process). The child runs `entry` ([`child::child_main`] or
/// [`child::exec_main`]) and never returns here.
#[allow(unsafe_code)]
fn clone_child(plan: &plan::ChildPlan, entry: fn(&plan::ChildPlan) -> !) -> std::io::Result<i32> {
    // SAFETY: a raw clone without CLONE_VM behaves like fork: the child gets a copy of the
    // address space (so `plan` stays valid) and runs only async-signal-safe code in child_main,
    // which never returns. The parent only reads the returned pid.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            plan.clone_flags | libc::SIGCHLD as u64,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if ret == 0 {
        entry(plan);
    }
    Ok(ret as i32)
}
