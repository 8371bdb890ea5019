//! The shim's event loop: one poll(2) over the listening socket, the clients, the container's
//! output and a signalfd for SIGCHLD. Single-threaded by design (the runtime forks from here).

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant, SystemTime};

use api::shim::{ExitRecord, Request, Response, ShimConfig};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use runtime::{Created, Runtime};

use crate::exec::{self, ExecSession};
use crate::json_file_log::{JsonFileLog, Stream};
use crate::{rootfs, ShimArgs};

/// How long output is drained after the init exited before the shim gives up on open pipes
/// (a process outside the container's pid namespace could hold them).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes buffered for one slow attached client before it is dropped.
const MAX_CLIENT_BUFFER: usize = 8 << 20;
/// Quiet time after which the shim gives idle memory back (`idle_memory::release`).
const IDLE_RELEASE_AFTER_MS: libc::c_int = 1000;

/// The container's stdio as the shim holds it.
pub enum Stdio {
    /// Pipes: our ends. `stdin` is None unless the container keeps stdin open.
    Pipes {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A terminal: the pty master comes from the runtime.
    Terminal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Created,
    Running,
    Paused,
}

enum Role {
    /// Waiting for its request line.
    Request,
    /// Streaming output; `stdin` if its input goes to the container.
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Answered when the container exits.
    Waiter,
    /// Streaming an exec'd process; ends with its exit frame.
    Exec(Box<ExecSession>),
    /// Answered; closed once its buffer is written.
    Closing,
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    role: Role,
    read_closed: bool,
    dead: bool,
}

pub(crate) struct Output {
    pub file: File,
    pub stream: Stream,
}

/// The running shim.
pub struct Supervisor {
    args: ShimArgs,
    runtime: Box<dyn Runtime>,
    listener: UnixListener,
    sigfd: SignalFd,
    clients: Vec<Client>,
    outputs: Vec<Output>,
    stdin: Option<File>,
    stdin_buf: Vec<u8>,
    stdin_eof: bool,
    pty: Option<File>,
    log: JsonFileLog,
    init: Pid,
    status: Status,
    exit: Option<(i32, SystemTime, Instant)>,
    stdin_once: bool,
    /// Idle memory was given back and nothing happened since.
    idle_released: bool,
}

/// A setup failure after the container was created.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct SupervisorError {
    what: &'static str,
    #[source]
    source: io::Error,
}

fn err(what: &'static str) -> impl FnOnce(io::Error) -> SupervisorError {
    move |source| SupervisorError { what, source }
}

impl Supervisor {
    /// Takes over a created container.
    pub fn new(
        args: ShimArgs,
        cfg: ShimConfig,
        runtime: Box<dyn Runtime>,
        created: Created,
        stdio: Stdio,
    ) -> Result<Supervisor, SupervisorError> {
        // Block SIGCHLD (read through the signalfd) and SIGPIPE (writes then fail with EPIPE).
        // The init was cloned before this, so it does not inherit the mask.
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.add(Signal::SIGPIPE);
        mask.thread_block()
            .map_err(|e| err("block signals")(e.into()))?;
        let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| err("signalfd")(e.into()))?;

        let sock = args.state_dir.join("shim.sock");
        let _ = std::fs::remove_file(&sock);
        // Socket paths are limited to 108 bytes: bind relative to the state directory (the shim
        // is single-threaded, so changing its working directory affects nobody else).
        std::env::set_current_dir(&args.state_dir).map_err(err("enter the state directory"))?;
        let listener = UnixListener::bind("shim.sock").map_err(err("listen on shim.sock"))?;
        listener
            .set_nonblocking(true)
            .map_err(err("listen on shim.sock"))?;
        let rotation = api::log_opts::Rotation {
            max_size: cfg.log_max_size,
            max_files: cfg.log_max_files.max(1),
        };
        let log = JsonFileLog::open_rotating(&cfg.log_path, rotation)
            .map_err(err("open container log"))?;

        let mut outputs = Vec::new();
        let mut stdin = None;
        let mut pty = None;
        match stdio {
            Stdio::Pipes {
                stdin: si,
                stdout,
                stderr,
            } => {
                outputs.push(Output {
                    file: nonblocking(stdout)?,
                    stream: Stream::Stdout,
                });
                outputs.push(Output {
                    file: nonblocking(stderr)?,
                    stream: Stream::Stderr,
                });
                if let Some(si) = si {
                    stdin = Some(nonblocking(si)?);
                }
            }
            Stdio::Terminal => {
                let master = created.pty_master.ok_or_else(|| {
                    err("terminal")(io::Error::other("the runtime returned no pty master"))
                })?;
                let master = nonblocking(master)?;
                if let Some([rows, cols]) = cfg.console_size {
                    set_winsize(master.as_raw_fd(), rows, cols);
                }
                let reader = master.try_clone().map_err(err("dup pty master"))?;
                outputs.push(Output {
                    file: reader,
                    stream: Stream::Stdout,
                });
                if cfg.open_stdin {
                    stdin = Some(master.try_clone().map_err(err("dup pty master"))?);
                }
                pty = Some(master);
            }
        }
        Ok(Supervisor {
            args,
            runtime,
            listener,
            sigfd,
            clients: Vec::new(),
            outputs,
            stdin,
            stdin_buf: Vec::new(),
            stdin_eof: false,
            pty,
            log,
            init: Pid::from_raw(created.pid),
            status: Status::Created,
            exit: None,
            stdin_once: cfg.stdin_once,
            idle_released: false,
        })
    }

    /// Runs until the container has exited and everything is recorded; returns the shim's exit code.
    pub fn run(mut self) -> i32 {
        self.reap();
        loop {
            if let Some((_, _, at)) = self.exit {
                let execs_done = !self.clients.iter().any(|c| matches!(c.role, Role::Exec(_)));
                if (self.outputs.is_empty() && execs_done) || at.elapsed() >= DRAIN_TIMEOUT {
                    return self.finish();
                }
            }
            if let Err(e) = self.poll_once() {
                eprintln!("berth shim: poll: {e}");
                return self.finish();
            }
        }
    }

    fn poll_once(&mut self) -> io::Result<()> {
        // Indexes into `fds`: 0 listener, 1 sigfd, then outputs, stdin, clients.
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let pfd = |fd: RawFd, events: libc::c_short| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        fds.push(pfd(self.listener.as_raw_fd(), libc::POLLIN));
        fds.push(pfd(self.sigfd.as_raw_fd(), libc::POLLIN));
        let out_base = fds.len();
        for o in &self.outputs {
            fds.push(pfd(o.file.as_raw_fd(), libc::POLLIN));
        }
        let stdin_idx = fds.len();
        let stdin_events = if !self.stdin_buf.is_empty() {
            libc::POLLOUT
        } else {
            0
        };
        fds.push(pfd(
            self.stdin.as_ref().map_or(-1, |f| f.as_raw_fd()),
            stdin_events,
        ));
        // Exec sessions: (client, Some(output) or None for stdin) per pollfd.
        let exec_base = fds.len();
        let mut exec_map: Vec<(usize, Option<usize>)> = Vec::new();
        for (ci, c) in self.clients.iter().enumerate() {
            if let Role::Exec(s) = &c.role {
                if c.outbuf.len() < MAX_CLIENT_BUFFER {
                    for (oi, o) in s.outputs.iter().enumerate() {
                        fds.push(pfd(o.file.as_raw_fd(), libc::POLLIN));
                        exec_map.push((ci, Some(oi)));
                    }
                }
                if let (Some(f), false) = (&s.stdin, s.stdin_buf.is_empty()) {
                    fds.push(pfd(f.as_raw_fd(), libc::POLLOUT));
                    exec_map.push((ci, None));
                }
            }
        }
        let client_base = fds.len();
        for c in &self.clients {
            let mut ev = 0;
            if !c.read_closed {
                ev |= libc::POLLIN;
            }
            if !c.outbuf.is_empty() {
                ev |= libc::POLLOUT;
            }
            fds.push(pfd(c.stream.as_raw_fd(), ev));
        }
        let mut timeout = match self.exit {
            Some((_, _, at)) => {
                DRAIN_TIMEOUT.saturating_sub(at.elapsed()).as_millis() as libc::c_int + 1
            }
            None => -1,
        };
        for c in &self.clients {
            if let Role::Exec(s) = &c.role {
                if let Some((_, at)) = s.exit {
                    let t =
                        DRAIN_TIMEOUT.saturating_sub(at.elapsed()).as_millis() as libc::c_int + 1;
                    if timeout < 0 || t < timeout {
                        timeout = t;
                    }
                }
            }
        }
        // With nothing to wait for but events, wake once after a quiet second to give memory back.
        let release_idle = timeout < 0 && !self.idle_released;
        if release_idle {
            timeout = IDLE_RELEASE_AFTER_MS;
        }
        // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfd structs that
        // lives across the call; poll only writes their `revents` fields.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n == 0 && release_idle {
            crate::idle_memory::release();
            self.idle_released = true;
            return Ok(());
        }
        if n > 0 {
            self.idle_released = false;
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        let ready = |i: usize| fds[i].revents != 0;

        if ready(1) {
            while let Ok(Some(_)) = self.sigfd.read_signal() {}
            self.reap();
        }
        // Output before clients, so an exit answer never overtakes the last output.
        let mut closed = Vec::new();
        for i in 0..self.outputs.len() {
            if ready(out_base + i) && self.read_output(i) {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            self.outputs.remove(i);
        }
        if ready(stdin_idx) {
            self.flush_stdin();
        }
        let mut exec_closed: Vec<(usize, usize)> = Vec::new();
        for (k, (ci, what)) in exec_map.iter().enumerate() {
            if !ready(exec_base + k) {
                continue;
            }
            let c = &mut self.clients[*ci];
            if let Role::Exec(s) = &mut c.role {
                match what {
                    Some(oi) => {
                        if s.read_output(*oi, &mut c.outbuf, MAX_CLIENT_BUFFER) {
                            exec_closed.push((*ci, *oi));
                        }
                        flush_client(c);
                    }
                    None => s.flush_stdin(),
                }
            }
        }
        for (ci, oi) in exec_closed.into_iter().rev() {
            if let Role::Exec(s) = &mut self.clients[ci].role {
                s.outputs.remove(oi);
            }
        }
        self.finish_execs(false);
        for i in 0..self.clients.len() {
            let revents = fds.get(client_base + i).map_or(0, |p| p.revents);
            if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                self.read_client(i);
            }
            if revents & libc::POLLOUT != 0 {
                self.write_client(i);
            }
        }
        self.clients.retain(|c| !c.dead);
        if ready(0) {
            self.accept();
        }
        Ok(())
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_ok() {
                        self.clients.push(Client {
                            stream,
                            inbuf: Vec::new(),
                            outbuf: Vec::new(),
                            role: Role::Request,
                            read_closed: false,
                            dead: false,
                        });
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// Reads output `i`; true when it reached end of file. Never inlined (nor is
    /// `read_client`): their 32 KiB buffers then live in frames below `poll_once`, which are
    /// dead while the shim idles, so `idle_memory::release` hands those stack pages back.
    #[inline(never)]
    fn read_output(&mut self, i: usize) -> bool {
        let mut buf = [0u8; 32 * 1024];
        loop {
            let n = match self.outputs[i].file.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // EIO: the terminal's last slave closed.
                Err(_) => return true,
            };
            let stream = self.outputs[i].stream;
            if let Err(e) = self.log.write(stream, &buf[..n]) {
                eprintln!("berth shim: write log: {e}");
            }
            let mut frame = Vec::with_capacity(n + 8);
            frame.push(if stream == Stream::Stderr { 2 } else { 1 });
            frame.extend_from_slice(&[0, 0, 0]);
            frame.extend_from_slice(&(n as u32).to_be_bytes());
            frame.extend_from_slice(&buf[..n]);
            for c in &mut self.clients {
                if let Role::Attach { stdout, stderr, .. } = c.role {
                    let wanted = if stream == Stream::Stderr {
                        stderr
                    } else {
                        stdout
                    };
                    if wanted && !c.dead {
                        if c.outbuf.len() + frame.len() > MAX_CLIENT_BUFFER {
                            c.dead = true;
                            continue;
                        }
                        c.outbuf.extend_from_slice(&frame);
                        flush_client(c);
                    }
                }
            }
        }
    }

    fn flush_stdin(&mut self) {
        if let Some(f) = self.stdin.as_mut() {
            while !self.stdin_buf.is_empty() {
                match f.write(&self.stdin_buf) {
                    Ok(n) => {
                        self.stdin_buf.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => {
                        // The container closed its stdin: drop what is left.
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

    #[inline(never)]
    fn read_client(&mut self, i: usize) {
        let mut buf = [0u8; 32 * 1024];
        loop {
            let c = &mut self.clients[i];
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    c.read_closed = true;
                    match c.role {
                        Role::Attach { stdin: true, .. } if self.stdin_once => {
                            self.stdin_eof = true;
                            self.flush_stdin();
                        }
                        Role::Request => c.dead = true,
                        Role::Exec(ref mut s) => {
                            s.stdin_eof = true;
                            s.flush_stdin();
                        }
                        _ => {}
                    }
                    return;
                }
                Ok(n) => match c.role {
                    Role::Request => {
                        c.inbuf.extend_from_slice(&buf[..n]);
                        if let Some(pos) = c.inbuf.iter().position(|&b| b == b'\n') {
                            let line: Vec<u8> = c.inbuf.drain(..=pos).collect();
                            let rest = std::mem::take(&mut c.inbuf);
                            self.handle_request(i, &line);
                            // Bytes after the request line of an attach or exec are stdin.
                            if !rest.is_empty() {
                                match &mut self.clients[i].role {
                                    Role::Attach { stdin: true, .. } => {
                                        self.stdin_buf.extend_from_slice(&rest);
                                        self.flush_stdin();
                                    }
                                    Role::Exec(s) => {
                                        s.stdin_buf.extend_from_slice(&rest);
                                        s.flush_stdin();
                                    }
                                    _ => {}
                                }
                            }
                        } else if c.inbuf.len() > 64 * 1024 {
                            c.dead = true;
                            return;
                        }
                    }
                    Role::Attach { stdin: true, .. } if self.stdin.is_some() => {
                        self.stdin_buf.extend_from_slice(&buf[..n]);
                        self.flush_stdin();
                    }
                    Role::Exec(ref mut s) if s.stdin.is_some() => {
                        s.stdin_buf.extend_from_slice(&buf[..n]);
                        s.flush_stdin();
                    }
                    _ => {}
                },
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    c.dead = true;
                    return;
                }
            }
        }
    }

    fn write_client(&mut self, i: usize) {
        let c = &mut self.clients[i];
        flush_client(c);
        if c.outbuf.is_empty() && matches!(c.role, Role::Closing) {
            c.dead = true;
        }
    }

    fn respond(&mut self, i: usize, resp: &Response, role: Role) {
        let c = &mut self.clients[i];
        if let Ok(mut line) = serde_json::to_vec(resp) {
            line.push(b'\n');
            c.outbuf.extend_from_slice(&line);
        }
        c.role = role;
        flush_client(c);
        if c.outbuf.is_empty() && matches!(c.role, Role::Closing) {
            c.dead = true;
        }
    }

    fn handle_request(&mut self, i: usize, line: &[u8]) {
        let req: Request = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => {
                return self.respond(
                    i,
                    &Response::err(format!("invalid request: {e}")),
                    Role::Closing,
                )
            }
        };
        let id = self.args.id.clone();
        let resp = match req {
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                if self.exit.is_some() && self.outputs.is_empty() {
                    return self.respond(i, &Response::ok(), Role::Closing);
                }
                let stdin = stdin && self.stdin.is_some();
                return self.respond(
                    i,
                    &Response::ok(),
                    Role::Attach {
                        stdin,
                        stdout,
                        stderr,
                    },
                );
            }
            Request::Wait => {
                if let Some((code, at, _)) = self.exit {
                    exit_response(code, at)
                } else {
                    // Answered by `finish` when the container has exited.
                    self.clients[i].role = Role::Waiter;
                    return;
                }
            }
            Request::Start => {
                if self.status != Status::Created {
                    Response::err("container already started")
                } else {
                    match self.runtime.start(&id) {
                        Ok(()) => {
                            self.status = Status::Running;
                            Response {
                                pid: Some(self.init.as_raw()),
                                ..Response::ok()
                            }
                        }
                        Err(e) => Response {
                            exit_code: e.exit_code(),
                            ..Response::err(e.to_string())
                        },
                    }
                }
            }
            Request::Exec(cfg) => {
                if self.exit.is_some() || self.status == Status::Created {
                    Response::err(format!("container {id} is not running"))
                } else if self.status == Status::Paused {
                    Response::err(format!(
                        "container {id} is paused, unpause the container before exec"
                    ))
                } else {
                    match exec::start(self.runtime.as_ref(), &id, &self.args.state_dir, &cfg) {
                        Ok(session) => {
                            let pid = session.pid;
                            return self.respond(
                                i,
                                &Response {
                                    pid: Some(pid),
                                    ..Response::ok()
                                },
                                Role::Exec(Box::new(session)),
                            );
                        }
                        Err(e) => Response {
                            exit_code: Some(e.exit_code()),
                            ..Response::err(crate::error_chain(&e))
                        },
                    }
                }
            }
            Request::ResizeExec {
                exec_id,
                rows,
                cols,
            } => {
                let found = self.clients.iter().any(|c| {
                    matches!(&c.role, Role::Exec(s) if s.exec_id == exec_id && s.resize(rows, cols))
                });
                if found {
                    Response::ok()
                } else {
                    Response::err(format!("exec {exec_id} has no running terminal"))
                }
            }
            Request::Kill { signal } => {
                if self.exit.is_some() {
                    Response::err(format!("container {id} is not running"))
                } else {
                    result(self.runtime.kill(&id, signal))
                }
            }
            Request::Resize { rows, cols } => match &self.pty {
                Some(p) => {
                    set_winsize(p.as_raw_fd(), rows, cols);
                    Response::ok()
                }
                None => Response::err("the container has no terminal"),
            },
            Request::State => Response {
                pid: Some(self.init.as_raw()),
                status: Some(
                    match (self.exit.is_some(), self.status) {
                        (true, _) => "stopped",
                        (false, Status::Created) => "created",
                        (false, Status::Running) => "running",
                        (false, Status::Paused) => "paused",
                    }
                    .to_string(),
                ),
                ..Response::ok()
            },
            Request::Stats => {
                if self.exit.is_some() {
                    Response::err(format!("container {id} is not running"))
                } else {
                    let path = exec::cgroups_path(&self.args.state_dir, &id);
                    Response {
                        pid: Some(self.init.as_raw()),
                        stats: Some(runtime::cgroup::Cgroup::open(&path).stats()),
                        ..Response::ok()
                    }
                }
            }
            Request::Update { resources } => {
                match serde_json::from_value::<api::oci::Resources>(resources) {
                    Ok(r) => result(self.runtime.update(&id, &r).map(|w| {
                        for warning in w {
                            eprintln!("berth shim: update {id}: {warning}");
                        }
                    })),
                    Err(e) => Response::err(format!("invalid resources: {e}")),
                }
            }
            Request::Pause => {
                let r = self.runtime.pause(&id);
                if r.is_ok() {
                    self.status = Status::Paused;
                }
                result(r)
            }
            Request::Resume => {
                let r = self.runtime.resume(&id);
                if r.is_ok() {
                    self.status = Status::Running;
                }
                result(r)
            }
        };
        self.respond(i, &resp, Role::Closing);
    }

    /// Reaps every exited child; records the init's status.
    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == self.init => self.record_exit(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == self.init => {
                    self.record_exit(128 + sig as i32)
                }
                Ok(WaitStatus::Exited(pid, code)) => self.record_exec_exit(pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.record_exec_exit(pid.as_raw(), 128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    }

    fn record_exec_exit(&mut self, pid: i32, code: i32) {
        for c in &mut self.clients {
            if let Role::Exec(s) = &mut c.role {
                if s.pid == pid && s.exit.is_none() {
                    s.exit = Some((code, Instant::now()));
                }
            }
        }
    }

    /// Ends the streams of exec'd processes that exited and whose output is drained (or, with
    /// `all`, every exec stream: the container is gone): the exit frame, then close.
    fn finish_execs(&mut self, all: bool) {
        for c in &mut self.clients {
            let Role::Exec(s) = &mut c.role else { continue };
            let done = match s.exit {
                Some((_, at)) => s.outputs.is_empty() || at.elapsed() >= DRAIN_TIMEOUT,
                None => false,
            };
            if !done && !all {
                continue;
            }
            if all {
                for i in 0..s.outputs.len() {
                    s.read_output(i, &mut c.outbuf, MAX_CLIENT_BUFFER);
                }
            }
            // Killed with the container when its exit was not seen.
            let code = s.exit.map_or(137, |(code, _)| code);
            let resp = Response {
                exit_code: Some(code),
                ..Response::ok()
            };
            let payload = serde_json::to_vec(&resp).unwrap_or_default();
            exec::push_frame(&mut c.outbuf, api::shim::EXEC_EXIT_STREAM, &payload);
            c.role = Role::Closing;
            flush_client(c);
            if c.outbuf.is_empty() {
                c.dead = true;
            }
        }
    }

    fn record_exit(&mut self, code: i32) {
        if self.exit.is_none() {
            self.exit = Some((code, SystemTime::now(), Instant::now()));
        }
    }

    /// Records the exit, cleans up, answers waiters and closes streams.
    fn finish(mut self) -> i32 {
        let (code, at) = self
            .exit
            .map(|(c, t, _)| (c, t))
            .unwrap_or((255, SystemTime::now()));
        if let Err(e) = self.log.flush_partial() {
            eprintln!("berth shim: write log: {e}");
        }
        let record = ExitRecord {
            exit_code: code,
            finished_at: api::time::rfc3339_nano(at),
            oom_killed: false,
        };
        if let Ok(bytes) = serde_json::to_vec(&record) {
            if let Err(e) =
                content::atomic::write_file(&self.args.data_dir.join("exit.json"), &bytes)
            {
                eprintln!("berth shim: record exit: {e}");
            }
        }
        if let Err(e) = self.runtime.delete(&self.args.id, true) {
            eprintln!("berth shim: delete container: {e}");
        }
        if let Err(e) = rootfs::unmount_all(&self.args.state_dir.join("rootfs")) {
            eprintln!("berth shim: {e}");
        }
        self.reap();
        self.finish_execs(true);
        // Connections that arrived while the container was exiting get their answer too.
        self.accept();
        let _ = std::fs::remove_file(self.args.state_dir.join("shim.sock"));
        for c in &mut self.clients {
            if matches!(c.role, Role::Request) {
                let _ = c.stream.set_nonblocking(false);
                let _ = c.stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut byte = [0u8; 1];
                while !c.inbuf.ends_with(b"\n") && c.inbuf.len() < 64 * 1024 {
                    match c.stream.read(&mut byte) {
                        Ok(1) => c.inbuf.push(byte[0]),
                        _ => break,
                    }
                }
                let resp = match serde_json::from_slice::<Request>(&c.inbuf) {
                    Ok(Request::Wait) => exit_response(code, at),
                    Ok(Request::State) => Response {
                        status: Some("stopped".into()),
                        ..Response::ok()
                    },
                    Ok(Request::Attach { .. }) => Response::ok(),
                    _ => Response::err(format!("container {} is not running", self.args.id)),
                };
                if let Ok(mut line) = serde_json::to_vec(&resp) {
                    line.push(b'\n');
                    c.outbuf.extend_from_slice(&line);
                }
            }
        }
        let resp = exit_response(code, at);
        let mut line = serde_json::to_vec(&resp).unwrap_or_default();
        line.push(b'\n');
        for c in &mut self.clients {
            if matches!(c.role, Role::Waiter) {
                c.outbuf.extend_from_slice(&line);
            }
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(Duration::from_secs(5)));
            let _ = c.stream.write_all(&c.outbuf);
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
        0
    }
}

fn exit_response(code: i32, at: SystemTime) -> Response {
    Response {
        exit_code: Some(code),
        finished_at: Some(api::time::rfc3339_nano(at)),
        ..Response::ok()
    }
}

fn result(r: Result<(), runtime::RuntimeError>) -> Response {
    match r {
        Ok(()) => Response::ok(),
        Err(e) => Response::err(e.to_string()),
    }
}

fn flush_client(c: &mut Client) {
    while !c.outbuf.is_empty() {
        match c.stream.write(&c.outbuf) {
            Ok(0) => {
                c.dead = true;
                return;
            }
            Ok(n) => {
                c.outbuf.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                c.dead = true;
                return;
            }
        }
    }
}

pub(crate) fn nonblocking(fd: OwnedFd) -> Result<File, SupervisorError> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(|e| err("fcntl")(e.into()))?;
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(|e| err("fcntl")(e.into()))?;
    Ok(File::from(fd))
}

pub(crate) fn set_winsize(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which points at a live local; an
    // invalid fd only makes the call fail with EBADF/ENOTTY, which is ignored (resize is advisory).
    unsafe {
        libc::ioctl(fd, libc::TIOCSWINSZ, &ws);
    }
}
