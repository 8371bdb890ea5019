//! The container init between `clone` and `execve`.
//!
//! Everything here runs in a child created by a raw `clone` syscall from a possibly
//! multithreaded parent, so it is restricted to async-signal-safe work: raw syscalls (`libc::
//! syscall` or thin libc wrappers that are plain syscalls) on data the parent prepared in a
//! [`ChildPlan`]. No allocation, no locks, no std I/O, no panics (no indexing that can fail),
//! no glibc `setuid`/`setgroups` (they signal the parent's other threads, which do not exist
//! here). Errors are reported as a fixed-size [`Report`] on the close-on-exec error pipe and
//! the child exits.
//!
//! Protocol with the parent (numbers are the order of events):
//! 1. wait for one byte on `go_read` (the parent has put the child in its cgroups);
//! 2. set up namespaces, mounts, pivot_root, console, paths, hostname, limits, credentials,
//!    capabilities (seccomp first when no-new-privileges is off), and find the executable;
//! 3. write a READY report; the parent's `create` returns;
//! 4. open `exec.fifo` for writing (blocks until `start` opens it for reading) and write a byte;
//! 5. execve: success closes the error pipe (EOF for `start`), failure writes a report.
//!
//! An exec'd process ([`exec_main`]) skips the mounts and the fifo: after the go byte it joins
//! the container's namespaces, sets up stdio or a pty, runs the same hardening as the init
//! ([`harden`]) and execs.
#![allow(unsafe_code)]
#![allow(clippy::undocumented_unsafe_blocks)] // one invariant for the whole module, see above
#![allow(unused_unsafe)] // try_sys! is used inside and outside unsafe blocks

use std::os::fd::RawFd;

use super::plan::{ChildPlan, Op};

/// What the child reports, as 3 native-endian u32 words: step, index, errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub step: u32,
    pub index: u32,
    pub errno: i32,
}

pub const REPORT_LEN: usize = 12;

impl Report {
    pub fn to_bytes(self) -> [u8; REPORT_LEN] {
        let mut b = [0u8; REPORT_LEN];
        let (a, rest) = b.split_at_mut(4);
        let (c, d) = rest.split_at_mut(4);
        a.copy_from_slice(&self.step.to_ne_bytes());
        c.copy_from_slice(&self.index.to_ne_bytes());
        d.copy_from_slice(&self.errno.to_ne_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; REPORT_LEN]) -> Report {
        Report {
            step: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            index: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            errno: i32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

/// The steps of the init, for error reports.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Ready = 0,
    Go,
    Signals,
    Setns,
    UnshareCgroup,
    Loopback,
    Stdio,
    RootPropagation,
    BindRootfs,
    PrePivot,
    PivotRoot,
    Console,
    PostPivot,
    ReadonlyRoot,
    Hostname,
    Rlimit,
    Seccomp,
    CapBounding,
    Setgroups,
    Setgid,
    Setuid,
    Chdir,
    Capset,
    Ambient,
    NoNewPrivs,
    ExecNotFound,
    ExecStat,
    ExecPermission,
    Fifo,
    Exec,
    InitFork,
}

impl Step {
    pub fn from_u32(v: u32) -> Option<Step> {
        use Step::*;
        const ALL: [Step; 31] = [
            Ready,
            Go,
            Signals,
            Setns,
            UnshareCgroup,
            Loopback,
            Stdio,
            RootPropagation,
            BindRootfs,
            PrePivot,
            PivotRoot,
            Console,
            PostPivot,
            ReadonlyRoot,
            Hostname,
            Rlimit,
            Seccomp,
            CapBounding,
            Setgroups,
            Setgid,
            Setuid,
            Chdir,
            Capset,
            Ambient,
            NoNewPrivs,
            ExecNotFound,
            ExecStat,
            ExecPermission,
            Fifo,
            Exec,
            InitFork,
        ];
        ALL.get(v as usize).copied()
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn report(fd: RawFd, step: Step, index: u32, err: i32) {
    let b = Report {
        step: step as u32,
        index,
        errno: err,
    }
    .to_bytes();
    unsafe { libc::write(fd, b.as_ptr().cast(), REPORT_LEN) };
}

fn fail(plan: &ChildPlan, step: Step, index: u32, err: i32) -> ! {
    report(plan.err_write, step, index, err);
    let code = match step {
        Step::ExecNotFound | Step::ExecStat => 127,
        Step::ExecPermission => 126,
        Step::Exec if err == libc::ENOENT => 127,
        Step::Exec => 126,
        _ => 1,
    };
    unsafe { libc::_exit(code) }
}

macro_rules! try_sys {
    ($plan:expr, $step:expr, $idx:expr, $call:expr) => {
        if unsafe { $call } < 0 {
            fail($plan, $step, $idx as u32, errno());
        }
    };
}

fn opt_ptr(c: &Option<std::ffi::CString>) -> *const libc::c_char {
    c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

fn reset_signals(plan: &ChildPlan) {
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &act as *const KernelSigaction,
                0usize,
                8usize,
            )
        };
    }
    let empty: u64 = 0;
    try_sys!(
        plan,
        Step::Signals,
        0,
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            0usize,
            8usize
        )
    );
}

fn loopback_up(plan: &ChildPlan) {
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            fail(plan, Step::Loopback, 0, errno());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) < 0 {
            fail(plan, Step::Loopback, 1, errno());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) < 0 {
            fail(plan, Step::Loopback, 2, errno());
        }
        libc::close(sock);
    }
}

fn run_op(plan: &ChildPlan, step: Step, i: usize, op: &Op) {
    let i = i as u32;
    unsafe {
        match op {
            Op::Mkdir(p) => {
                if libc::mkdir(p.as_ptr(), 0o755) < 0 && errno() != libc::EEXIST {
                    fail(plan, step, i, errno());
                }
            }
            Op::Touch(p) => {
                let fd = libc::open(
                    p.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                    0o644,
                );
                if fd < 0 {
                    let e = errno();
                    if e != libc::EEXIST
                        && e != libc::EISDIR
                        && e != libc::EROFS
                        && e != libc::ELOOP
                    {
                        fail(plan, step, i, e);
                    }
                } else {
                    libc::close(fd);
                }
            }
            Op::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => {
                try_sys!(
                    plan,
                    step,
                    i,
                    libc::mount(
                        opt_ptr(source),
                        target.as_ptr(),
                        opt_ptr(fstype),
                        *flags,
                        opt_ptr(data).cast()
                    )
                );
            }
            Op::Mknod {
                path,
                mode,
                dev,
                uid,
                gid,
            } => {
                if libc::mknod(path.as_ptr(), *mode, *dev) < 0 {
                    let e = errno();
                    if e != libc::EEXIST {
                        fail(plan, step, i, e);
                    }
                }
                // mknod applied the umask; set the exact mode.
                libc::chmod(path.as_ptr(), *mode & 0o7777);
                libc::chown(path.as_ptr(), *uid, *gid);
            }
            Op::Symlink { target, link } => {
                if libc::symlink(target.as_ptr(), link.as_ptr()) < 0 && errno() != libc::EEXIST {
                    fail(plan, step, i, errno());
                }
            }
            Op::Mask(p) => {
                let null = c"/dev/null";
                if libc::mount(
                    null.as_ptr(),
                    p.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) < 0
                {
                    match errno() {
                        libc::ENOENT => {}
                        libc::ENOTDIR => {
                            try_sys!(
                                plan,
                                step,
                                i,
                                libc::mount(
                                    c"tmpfs".as_ptr(),
                                    p.as_ptr(),
                                    c"tmpfs".as_ptr(),
                                    libc::MS_RDONLY,
                                    std::ptr::null()
                                )
                            );
                        }
                        e => fail(plan, step, i, e),
                    }
                }
            }
            Op::Readonly(p) => {
                if libc::mount(
                    p.as_ptr(),
                    p.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND | libc::MS_REC,
                    std::ptr::null(),
                ) < 0
                {
                    match errno() {
                        libc::ENOENT => return,
                        e => fail(plan, step, i, e),
                    }
                }
                let flags = libc::MS_BIND
                    | libc::MS_REMOUNT
                    | libc::MS_RDONLY
                    | libc::MS_REC
                    | libc::MS_NOSUID
                    | libc::MS_NODEV
                    | libc::MS_NOEXEC;
                try_sys!(
                    plan,
                    step,
                    i,
                    libc::mount(
                        p.as_ptr(),
                        p.as_ptr(),
                        std::ptr::null(),
                        flags,
                        std::ptr::null()
                    )
                );
            }
            Op::WriteFile { path, data } => {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    fail(plan, step, i, errno());
                }
                let bytes = data.as_bytes();
                if libc::write(fd, bytes.as_ptr().cast(), bytes.len()) < 0 {
                    fail(plan, step, i, errno());
                }
                libc::close(fd);
            }
        }
    }
}

fn pivot_root(plan: &ChildPlan) {
    unsafe {
        let old = libc::open(
            c"/".as_ptr(),
            libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if old < 0 {
            fail(plan, Step::PivotRoot, 0, errno());
        }
        let new = libc::open(
            plan.rootfs.as_ptr(),
            libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if new < 0 {
            fail(plan, Step::PivotRoot, 1, errno());
        }
        try_sys!(plan, Step::PivotRoot, 2, libc::fchdir(new));
        try_sys!(
            plan,
            Step::PivotRoot,
            3,
            libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr())
        );
        try_sys!(plan, Step::PivotRoot, 4, libc::fchdir(old));
        try_sys!(
            plan,
            Step::PivotRoot,
            5,
            libc::mount(
                std::ptr::null(),
                c".".as_ptr(),
                std::ptr::null(),
                libc::MS_SLAVE | libc::MS_REC,
                std::ptr::null()
            )
        );
        try_sys!(
            plan,
            Step::PivotRoot,
            6,
            libc::umount2(c".".as_ptr(), libc::MNT_DETACH)
        );
        try_sys!(plan, Step::PivotRoot, 7, libc::chdir(c"/".as_ptr()));
        libc::close(old);
        libc::close(new);
    }
}

/// Opens a pty in the container's devpts, makes its slave the controlling terminal and stdio,
/// and sends the master to the parent over the console socket.
fn console(plan: &ChildPlan, sock: RawFd) {
    unsafe {
        let mut master = libc::open(
            c"/dev/pts/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        if master < 0 {
            master = libc::open(
                c"/dev/ptmx".as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
        }
        if master < 0 {
            fail(plan, Step::Console, 0, errno());
        }
        let unlock: libc::c_int = 0;
        try_sys!(
            plan,
            Step::Console,
            1,
            libc::ioctl(master, libc::TIOCSPTLCK, &unlock)
        );
        let mut n: libc::c_uint = 0;
        try_sys!(
            plan,
            Step::Console,
            2,
            libc::ioctl(master, libc::TIOCGPTN, &mut n)
        );
        // "/dev/pts/<n>" formatted on the stack.
        let mut path = [0u8; 32];
        let prefix = b"/dev/pts/";
        path[..prefix.len()].copy_from_slice(prefix);
        let mut digits = [0u8; 10];
        let mut len = 0;
        let mut v = n;
        loop {
            digits[len] = b'0' + (v % 10) as u8;
            len += 1;
            v /= 10;
            if v == 0 || len == digits.len() {
                break;
            }
        }
        for k in 0..len {
            path[prefix.len() + k] = digits[len - 1 - k];
        }
        let slave = libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC);
        if slave < 0 {
            fail(plan, Step::Console, 3, errno());
        }
        if let Some((rows, cols)) = plan.console_size {
            let ws = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            libc::ioctl(slave, libc::TIOCSWINSZ, &ws);
        }
        try_sys!(plan, Step::Console, 4, libc::setsid());
        try_sys!(
            plan,
            Step::Console,
            5,
            libc::ioctl(slave, libc::TIOCSCTTY, 0)
        );
        for fd in 0..3 {
            try_sys!(plan, Step::Console, 6, libc::dup2(slave, fd));
        }
        // Send the master.
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let mut cbuf = [0u64; 4];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::c_int, master);
        if libc::sendmsg(sock, &msg, 0) < 0 {
            fail(plan, Step::Console, 7, errno());
        }
        libc::close(master);
        libc::close(slave);
        libc::close(sock);
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn install_seccomp(plan: &ChildPlan) {
    let Some((filter, flags)) = &plan.seccomp else {
        return;
    };
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    try_sys!(
        plan,
        Step::Seccomp,
        0,
        libc::syscall(
            libc::SYS_seccomp,
            1, /* SECCOMP_SET_MODE_FILTER */
            *flags,
            &prog as *const libc::sock_fprog
        )
    );
}

/// Finds the executable like Go's `exec.LookPath`; returns its index in `exec_candidates`.
fn lookup(plan: &ChildPlan) -> usize {
    for (i, c) in plan.exec_candidates.iter().enumerate() {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::stat(c.as_ptr(), &mut st) } < 0 {
            if plan.exec_has_slash {
                fail(plan, Step::ExecStat, 0, errno());
            }
            continue;
        }
        let executable = st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o111 != 0;
        if executable {
            return i;
        }
        if plan.exec_has_slash {
            fail(plan, Step::ExecPermission, 0, libc::EACCES);
        }
    }
    fail(plan, Step::ExecNotFound, 0, libc::ENOENT)
}

fn exec(plan: &ChildPlan, which: usize) -> ! {
    if plan.no_new_privileges {
        install_seccomp(plan);
    }
    let path = match plan.exec_candidates.get(which) {
        Some(p) => p,
        None => fail(plan, Step::Exec, 0, libc::ENOENT),
    };
    unsafe {
        // Everything but stdio closes at exec (the error pipe too: EOF tells `start` it worked).
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        libc::execve(
            path.as_ptr(),
            plan.argv_ptrs.as_ptr(),
            plan.envp_ptrs.as_ptr(),
        );
    }
    fail(plan, Step::Exec, 0, errno())
}

/// pid 1 as a tiny init: fork the process as pid 2, forward signals, reap, exit with its status.
fn init_and_exec(plan: &ChildPlan, which: usize) -> ! {
    unsafe {
        let all: u64 = !0;
        let mut old: u64 = 0;
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &all as *const u64,
            &mut old as *mut u64,
            8usize,
        );
        let pid = libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as u64,
            0usize,
            0usize,
            0usize,
            0usize,
        );
        if pid < 0 {
            fail(plan, Step::InitFork, 0, errno());
        }
        if pid == 0 {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &old as *const u64,
                0usize,
                8usize,
            );
            exec(plan, which);
        }
        let pid = pid as libc::pid_t;
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::syscall(
                libc::SYS_rt_sigtimedwait,
                &all as *const u64,
                &mut info as *mut libc::siginfo_t,
                std::ptr::null::<libc::timespec>(),
                8usize,
            ) as i32;
            if sig < 0 {
                continue;
            }
            if sig == libc::SIGCHLD {
                loop {
                    let mut status = 0;
                    let r = libc::waitpid(-1, &mut status, libc::WNOHANG);
                    if r <= 0 {
                        break;
                    }
                    if r == pid {
                        let code = if libc::WIFEXITED(status) {
                            libc::WEXITSTATUS(status)
                        } else {
                            128 + libc::WTERMSIG(status)
                        };
                        libc::_exit(code);
                    }
                }
            } else {
                libc::kill(pid, sig);
            }
        }
    }
}

/// Limits, seccomp, capabilities, credentials and working directory: the steps create and exec
/// share, in this order.
fn harden(p: &ChildPlan) {
    for (i, (res, soft, hard)) in p.rlimits.iter().enumerate() {
        let lim = libc::rlimit64 {
            rlim_cur: *soft,
            rlim_max: *hard,
        };
        try_sys!(
            p,
            Step::Rlimit,
            i,
            libc::syscall(
                libc::SYS_prlimit64,
                0,
                *res,
                &lim as *const libc::rlimit64,
                0usize
            )
        );
    }
    unsafe { libc::umask(p.umask.unwrap_or(0o022)) };
    // Seccomp while still privileged, unless no-new-privileges lets it wait until exec.
    if !p.no_new_privileges {
        install_seccomp(p);
    }
    for cap in 0..=p.last_cap.min(63) {
        if p.cap_bounding & (1u64 << cap) == 0 {
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if r < 0 && errno() != libc::EINVAL {
                fail(p, Step::CapBounding, cap, errno());
            }
        }
    }
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    try_sys!(
        p,
        Step::Setgroups,
        0,
        libc::syscall(libc::SYS_setgroups, p.groups.len(), p.groups.as_ptr())
    );
    try_sys!(
        p,
        Step::Setgid,
        0,
        libc::syscall(libc::SYS_setresgid, p.gid, p.gid, p.gid)
    );
    try_sys!(
        p,
        Step::Setuid,
        0,
        libc::syscall(libc::SYS_setresuid, p.uid, p.uid, p.uid)
    );
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    try_sys!(p, Step::Chdir, 0, libc::chdir(p.cwd.as_ptr()));
    let header = CapHeader {
        version: 0x2008_0522,
        pid: 0,
    };
    let data = [
        CapData {
            effective: p.cap_effective as u32,
            permitted: p.cap_permitted as u32,
            inheritable: p.cap_inheritable as u32,
        },
        CapData {
            effective: (p.cap_effective >> 32) as u32,
            permitted: (p.cap_permitted >> 32) as u32,
            inheritable: (p.cap_inheritable >> 32) as u32,
        },
    ];
    try_sys!(
        p,
        Step::Capset,
        0,
        libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr())
    );
    for cap in &p.cap_ambient {
        try_sys!(
            p,
            Step::Ambient,
            *cap,
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                *cap as libc::c_ulong,
                0,
                0
            )
        );
    }
    if p.no_new_privileges {
        try_sys!(
            p,
            Step::NoNewPrivs,
            0,
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        );
    }
}

/// An exec'd process's whole life: join the container's namespaces (the parent already placed
/// the child in the container's pid namespace and cgroup), stdio or a terminal, the shared
/// hardening steps, then execve. Success closes the error pipe; failure writes a report.
pub fn exec_main(plan: &ChildPlan) -> ! {
    let p = plan;
    reset_signals(p);
    let mut b = [0u8; 1];
    if unsafe { libc::read(p.go_read, b.as_mut_ptr().cast(), 1) } != 1 {
        unsafe { libc::_exit(1) };
    }
    unsafe { libc::close(p.go_read) };
    for (i, (fd, nstype)) in p.join_ns.iter().enumerate() {
        try_sys!(p, Step::Setns, i, libc::setns(*fd, *nstype));
    }
    if let Some(stdio) = p.stdio {
        let mut tmp = [0; 3];
        for (i, fd) in stdio.iter().enumerate() {
            tmp[i] = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
            if tmp[i] < 0 {
                fail(p, Step::Stdio, i as u32, errno());
            }
        }
        for (i, fd) in tmp.iter().enumerate() {
            try_sys!(p, Step::Stdio, i, libc::dup2(*fd, i as i32));
        }
    }
    if let Some(sock) = p.console_sock {
        console(p, sock);
    }
    for (i, op) in p.post_pivot.iter().enumerate() {
        run_op(p, Step::PostPivot, i, op);
    }
    harden(p);
    let which = lookup(p);
    exec(p, which)
}

/// The child's whole life. Never returns.
pub fn child_main(plan: &ChildPlan) -> ! {
    let p = plan;
    reset_signals(p);
    // 1. Wait until the parent placed us in our cgroups.
    let mut b = [0u8; 1];
    if unsafe { libc::read(p.go_read, b.as_mut_ptr().cast(), 1) } != 1 {
        unsafe { libc::_exit(1) };
    }
    unsafe { libc::close(p.go_read) };
    for (i, (fd, nstype)) in p.join_ns.iter().enumerate() {
        try_sys!(p, Step::Setns, i, libc::setns(*fd, *nstype));
    }
    if p.unshare_cgroupns {
        try_sys!(
            p,
            Step::UnshareCgroup,
            0,
            libc::unshare(libc::CLONE_NEWCGROUP)
        );
    }
    if p.lo_up {
        loopback_up(p);
    }
    if let Some(stdio) = p.stdio {
        let mut tmp = [0; 3];
        for (i, fd) in stdio.iter().enumerate() {
            tmp[i] = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
            if tmp[i] < 0 {
                fail(p, Step::Stdio, i as u32, errno());
            }
        }
        for (i, fd) in tmp.iter().enumerate() {
            try_sys!(p, Step::Stdio, i, libc::dup2(*fd, i as i32));
        }
    }
    unsafe { libc::umask(0) };
    try_sys!(
        p,
        Step::RootPropagation,
        0,
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            p.root_propagation,
            std::ptr::null()
        )
    );
    try_sys!(
        p,
        Step::BindRootfs,
        0,
        libc::mount(
            p.rootfs.as_ptr(),
            p.rootfs.as_ptr(),
            c"bind".as_ptr(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null()
        )
    );
    for (i, op) in p.pre_pivot.iter().enumerate() {
        run_op(p, Step::PrePivot, i, op);
    }
    pivot_root(p);
    if let Some(sock) = p.console_sock {
        console(p, sock);
    }
    for (i, op) in p.post_pivot.iter().enumerate() {
        run_op(p, Step::PostPivot, i, op);
    }
    if p.readonly_root {
        try_sys!(
            p,
            Step::ReadonlyRoot,
            0,
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                std::ptr::null()
            )
        );
    }
    if let Some(h) = &p.hostname {
        try_sys!(
            p,
            Step::Hostname,
            0,
            libc::sethostname(h.as_ptr(), h.as_bytes().len())
        );
    }
    harden(p);
    let which = lookup(p);
    // 3. Created.
    report(p.err_write, Step::Ready, 0, 0);
    // 4. Wait for start.
    let fifo = unsafe { libc::open(p.fifo_proc_path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fifo < 0 {
        fail(p, Step::Fifo, 0, errno());
    }
    if unsafe { libc::write(fifo, b"0".as_ptr().cast(), 1) } != 1 {
        fail(p, Step::Fifo, 1, errno());
    }
    unsafe {
        libc::close(fifo);
        libc::close(p.fifo_fd);
    }
    if p.init {
        init_and_exec(p, which)
    }
    exec(p, which)
}
