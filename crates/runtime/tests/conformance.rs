//! The runtime conformance suite: the same checks against [`BerthRuntime`] and
//! [`ExternalRuntime`] (runc), which is the behavioural reference.
//!
//! Privileged: every test calls `testkit::require_root()` and fails without root. Each test
//! builds a busybox bundle in a [`testkit::TempDir`] and owns its container through a
//! [`Container`] guard whose `Drop` kills, reaps and deletes it (and checks that no cgroup
//! directory is left), so a failing assertion leaves nothing behind. Tests run in parallel
//! threads of one process; the test process is made a child subreaper so runc's inits are
//! reaped here.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use api::oci::defaults::{docker_spec, SpecOptions};
use runtime::{BerthRuntime, ContainerIo, ExternalRuntime, Runtime, RuntimeError, Status};
use testkit::TempDir;

type Make = fn(&Path) -> Box<dyn Runtime>;

fn berth(root: &Path) -> Box<dyn Runtime> {
    Box::new(BerthRuntime::new(root.to_path_buf()))
}

fn runc(root: &Path) -> Box<dyn Runtime> {
    Box::new(ExternalRuntime::new("runc".into(), root.to_path_buf()))
}

/// A bundle, a state root and a runtime for one test.
struct Fixture {
    _dir: TempDir,
    bundle: PathBuf,
    state: PathBuf,
    id: String,
    rt: Box<dyn Runtime>,
}

fn options(id: &str, args: &[&str]) -> SpecOptions {
    SpecOptions {
        root_path: "rootfs".into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        hostname: "berth-host".into(),
        cgroups_path: format!("/berth/{id}"),
        host_bounding_set: Some(runtime::host_bounding_set().unwrap()),
        kernel_version: runtime::host_kernel_version(),
        ..Default::default()
    }
}

fn fixture(make: Make, args: &[&str], tweak: impl FnOnce(&mut SpecOptions)) -> Fixture {
    testkit::require_root();
    runtime::become_subreaper().unwrap();
    let dir = TempDir::new("rt");
    let id = testkit::unique_name("ctr");
    let bundle = dir.path().join("bundle");
    let state = dir.path().join("state");
    testkit::busybox_rootfs(&bundle.join("rootfs")).unwrap();
    let mut o = options(&id, args);
    tweak(&mut o);
    let spec = docker_spec(&o).unwrap().spec;
    std::fs::write(bundle.join("config.json"), spec.to_json()).unwrap();
    let rt = make(&state);
    Fixture {
        _dir: dir,
        bundle,
        state,
        id,
        rt,
    }
}

/// Owns a created container: kills, reaps and deletes it on drop.
struct Container<'a> {
    f: &'a Fixture,
    pid: i32,
    reaped: bool,
    deleted: bool,
}

impl Container<'_> {
    fn wait(&mut self) -> i32 {
        let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None).unwrap();
        self.reaped = true;
        match status {
            nix::sys::wait::WaitStatus::Exited(_, c) => c,
            nix::sys::wait::WaitStatus::Signaled(_, s, _) => 128 + s as i32,
            other => panic!("unexpected wait status {other:?}"),
        }
    }

    fn delete(&mut self) {
        self.f.rt.delete(&self.f.id, false).unwrap();
        self.deleted = true;
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        // Kill and reap first (the init is our unreaped child: its pid cannot be recycled),
        // then delete, as the shim does.
        if !self.reaped {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
        }
        if !self.deleted {
            if let Err(e) = self.f.rt.delete(&self.f.id, true) {
                eprintln!("conformance: could not delete {}: {e}", self.f.id);
            }
        }
        for d in cgroup_dirs(&self.f.id) {
            if d.exists() {
                eprintln!("conformance: leftover cgroup {}", d.display());
                let _ = std::fs::remove_dir(&d);
            }
        }
    }
}

/// Every directory the container's cgroup could have on this host.
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        out.push(e.path().join("berth").join(id));
    }
    out.push(PathBuf::from("/sys/fs/cgroup/berth").join(id));
    out
}

/// Whether the kernel reports the container's cgroup as frozen: `frozen 1` in v2's
/// `cgroup.events`, `FROZEN` in v1's `freezer.state`.
fn kernel_frozen(id: &str) -> bool {
    let rel = Path::new("berth").join(id);
    match runtime::cgroup::Layout::detect() {
        runtime::cgroup::Layout::V2(root) => {
            std::fs::read_to_string(root.join(&rel).join("cgroup.events"))
                .unwrap()
                .lines()
                .any(|l| l == "frozen 1")
        }
        runtime::cgroup::Layout::V1(hs) => {
            let h = hs
                .iter()
                .find(|h| h.controllers.iter().any(|c| c == "freezer"))
                .expect("a freezer hierarchy");
            std::fs::read_to_string(h.mount.join(&rel).join("freezer.state"))
                .unwrap()
                .trim()
                == "FROZEN"
        }
    }
}

struct Pipes {
    stdout: OwnedFd,
    stderr: OwnedFd,
}

fn pipes() -> (ContainerIo, Pipes) {
    let (in_r, in_w) = nix::unistd::pipe().unwrap();
    drop(in_w);
    let (out_r, out_w) = nix::unistd::pipe().unwrap();
    let (err_r, err_w) = nix::unistd::pipe().unwrap();
    (
        ContainerIo::Pipes {
            stdin: in_r,
            stdout: out_w,
            stderr: err_w,
        },
        Pipes {
            stdout: out_r,
            stderr: err_r,
        },
    )
}

fn read_all(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

/// Runs the container to completion: (exit code, stdout, stderr). Deletes it afterwards.
fn run(f: &Fixture) -> (i32, String, String) {
    let (io, p) = pipes();
    let created = f.rt.create(&f.id, &f.bundle, io).unwrap();
    let mut c = Container {
        f,
        pid: created.pid,
        reaped: false,
        deleted: false,
    };
    f.rt.start(&f.id).unwrap();
    let code = c.wait();
    c.delete();
    (code, read_all(p.stdout), read_all(p.stderr))
}

fn sh(script: &str) -> Vec<&str> {
    vec!["sh", "-c", script]
}

fn create_error(f: &Fixture) -> RuntimeError {
    let (io, _p) = pipes();
    match f.rt.create(&f.id, &f.bundle, io) {
        Ok(created) => {
            // Some runtimes report exec errors at start.
            let mut c = Container {
                f,
                pid: created.pid,
                reaped: false,
                deleted: false,
            };
            let e = f.rt.start(&f.id).expect_err("start should fail");
            let _ = c.wait();
            e
        }
        Err(e) => e,
    }
}

pub fn exit_status(make: Make) {
    let f = fixture(make, &sh("exit 3"), |_| {});
    assert_eq!(run(&f).0, 3);
}

pub fn stdout_and_stderr(make: Make) {
    let f = fixture(make, &sh("echo out; echo err >&2"), |_| {});
    let (code, out, err) = run(&f);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "out\n", "err\n"));
}

pub fn hostname_pid1_and_loopback(make: Make) {
    let f = fixture(
        make,
        &sh("hostname; echo $$; cat /sys/class/net/lo/flags"),
        |_| {},
    );
    let (code, out, err) = run(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "berth-host\n1\n0x9\n");
}

pub fn default_capabilities(make: Make) {
    let f = fixture(
        make,
        &sh("grep -E 'Cap(Eff|Bnd)' /proc/self/status"),
        |_| {},
    );
    let (code, out, _) = run(&f);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n"
    );
}

pub fn user_and_cwd(make: Make) {
    let f = fixture(make, &sh("id -u; id -g; pwd"), |o| {
        o.uid = 65534;
        o.gid = 65534;
        o.cwd = "/work/deep".into();
    });
    let (code, out, err) = run(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "65534\n65534\n/work/deep\n");
}

pub fn memory_limit_in_cgroup(make: Make) {
    let f = fixture(
        make,
        &sh("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"),
        |o| o.memory = Some(64 << 20),
    );
    let (code, out, err) = run(&f);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), (64u64 << 20).to_string());
}

/// `update` changes a running container's memory and pids limits (what `docker update` does).
pub fn update_changes_limits(make: Make) {
    let f = fixture(make, &["sleep", "1000"], |o| o.memory = Some(64 << 20));
    let _c = running(&f);
    let r = api::oci::Resources {
        memory: Some(api::oci::MemoryResources {
            limit: Some(32 << 20),
            ..Default::default()
        }),
        pids: Some(api::oci::PidsResources { limit: 30 }),
        ..Default::default()
    };
    f.rt.update(&f.id, &r).unwrap();
    let p = exec_process(
        &f,
        &sh("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"),
    );
    let (code, out, err) = exec_run(&f, &p);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        [(32u64 << 20).to_string(), "30".to_string()]
    );
}

pub fn cpu_limits_in_cgroup(make: Make) {
    // v2: cpu.max, cpu.weight (shares 512 -> weight 20, runc's conversion) and cpuset.cpus of
    // the container's own cgroup; v1: cfs quota/period, shares and the cpuset hierarchy's cpus.
    let f = fixture(
        make,
        &sh(
            "cd /sys/fs/cgroup; if [ -e cpu.max ]; then cat cpu.max cpu.weight cpuset.cpus; \
             else d=$(ls -d cpu,cpuacct cpu 2>/dev/null | head -n 1); \
             echo $(cat $d/cpu.cfs_quota_us) $(cat $d/cpu.cfs_period_us); cat $d/cpu.shares; \
             cat cpuset/cpuset.cpus; fi",
        ),
        |o| {
            o.cpu_quota = Some(50_000);
            o.cpu_period = Some(100_000);
            o.cpu_shares = Some(512);
            o.cpuset_cpus = Some("0".into());
        },
    );
    let (code, out, err) = run(&f);
    assert_eq!(code, 0, "{err}");
    let shares = match runtime::cgroup::Layout::detect() {
        runtime::cgroup::Layout::V2(_) => "20",
        runtime::cgroup::Layout::V1(_) => "512",
    };
    assert_eq!(out, format!("50000 100000\n{shares}\n0\n"), "{err}");
}

pub fn pids_limit_enforced(make: Make) {
    let f = fixture(
        make,
        &sh("for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 1 & done; wait"),
        |o| o.pids_limit = Some(6),
    );
    let (_, _, err) = run(&f);
    assert!(err.contains("fork"), "expected fork failures, got {err:?}");
}

pub fn readonly_rootfs(make: Make) {
    let f = fixture(make, &sh("touch /x"), |o| o.readonly_rootfs = true);
    let (code, _, err) = run(&f);
    assert_eq!(code, 1);
    assert!(err.contains("Read-only file system"), "{err}");
}

pub fn masked_and_readonly_paths(make: Make) {
    // /proc/kcore does not exist on every kernel (not on this VM's); /proc/keys and
    // /proc/timer_list (masked files) and /sys/firmware (masked directory) do.
    let f = fixture(
        make,
        &sh("cat /proc/keys /proc/timer_list | wc -c; ls -A /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/domainname"),
        |_| {},
    );
    let (code, out, err) = run(&f);
    assert_eq!(out, "0\n0\n", "{err}");
    assert_eq!(code, 1);
    assert!(err.contains("Read-only file system"), "{err}");
}

pub fn seccomp_blocks_unshare(make: Make) {
    let f = fixture(make, &["unshare", "-U", "true"], |_| {});
    let (code, _, err) = run(&f);
    assert_ne!(code, 0);
    assert!(err.contains("Operation not permitted"), "{err}");
}

pub fn exec_not_found(make: Make) {
    let f = fixture(make, &["nosuchcmd"], |_| {});
    let e = create_error(&f);
    assert_eq!(e.exit_code(), Some(127), "{e}");
    assert!(
        e.to_string()
            .contains(r#"exec: "nosuchcmd": executable file not found in $PATH"#),
        "{e}"
    );
    let f = fixture(make, &["/nonexistent"], |_| {});
    let e = create_error(&f);
    assert_eq!(e.exit_code(), Some(127), "{e}");
    assert!(
        e.to_string()
            .contains(r#"exec: "/nonexistent": stat /nonexistent: no such file or directory"#),
        "{e}"
    );
}

pub fn exec_not_executable(make: Make) {
    let f = fixture(make, &["/etc/passwd"], |_| {});
    let e = create_error(&f);
    assert_eq!(e.exit_code(), Some(126), "{e}");
    assert!(e.to_string().contains("permission denied"), "{e}");
}

pub fn kill_pause_resume_state(make: Make) {
    // Busy processes take a moment to freeze: pause must wait for them.
    let f = fixture(
        make,
        &sh("for i in 1 2 3 4; do while :; do :; done & done; exec sleep 100"),
        |_| {},
    );
    let (io, _p) = pipes();
    let created = f.rt.create(&f.id, &f.bundle, io).unwrap();
    let mut c = Container {
        f: &f,
        pid: created.pid,
        reaped: false,
        deleted: false,
    };
    let st = f.rt.state(&f.id).unwrap();
    assert_eq!((st.status, st.pid), (Status::Created, created.pid));
    assert_eq!(
        st.bundle.canonicalize().unwrap(),
        f.bundle.canonicalize().unwrap()
    );
    f.rt.start(&f.id).unwrap();
    assert_eq!(f.rt.state(&f.id).unwrap().status, Status::Running);
    f.rt.pause(&f.id).unwrap();
    assert!(
        kernel_frozen(&f.id),
        "pause returned before the cgroup froze"
    );
    assert_eq!(f.rt.state(&f.id).unwrap().status, Status::Paused);
    f.rt.resume(&f.id).unwrap();
    assert!(
        !kernel_frozen(&f.id),
        "resume returned before the cgroup thawed"
    );
    assert_eq!(f.rt.state(&f.id).unwrap().status, Status::Running);
    f.rt.kill(&f.id, libc::SIGKILL).unwrap();
    assert_eq!(c.wait(), 137);
    assert_eq!(f.rt.state(&f.id).unwrap().status, Status::Stopped);
    c.delete();
    for d in cgroup_dirs(&f.id) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    assert!(
        matches!(f.rt.state(&f.id), Err(RuntimeError::NotFound(_))),
        "state after delete"
    );
    let _ = &f.state;
}

pub fn terminal(make: Make) {
    let f = fixture(make, &sh("tty; stty size"), |o| {
        o.terminal = true;
        o.console_size = Some((40, 120));
    });
    let created =
        f.rt.create(&f.id, &f.bundle, ContainerIo::Terminal)
            .unwrap();
    let mut c = Container {
        f: &f,
        pid: created.pid,
        reaped: false,
        deleted: false,
    };
    let master = created.pty_master.expect("a pty master");
    f.rt.start(&f.id).unwrap();
    let mut file = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break, // EIO once the slave side is closed
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(c.wait(), 0);
    c.delete();
    assert_eq!(
        String::from_utf8_lossy(&out).replace("\r\n", "\n"),
        "/dev/pts/0\n40 120\n"
    );
}

pub fn join_network_namespace(make: Make) {
    // Joining the host's network namespace (the test process's) by path: more than `lo`.
    let f = fixture(make, &sh("ls /sys/class/net | wc -l"), |o| {
        o.network = api::oci::defaults::NetworkChoice::Join("/proc/self/ns/net".into())
    });
    let (code, out, err) = run(&f);
    assert_eq!(code, 0, "{err}");
    let host = std::fs::read_dir("/sys/class/net").unwrap().count();
    assert_eq!(out.trim(), host.to_string());
}

pub fn privileged_gets_host_bounding_set(make: Make) {
    let f = fixture(make, &sh("grep CapEff /proc/self/status"), |o| {
        o.privileged = true
    });
    let (code, out, err) = run(&f);
    assert_eq!(code, 0, "{err}");
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = host
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(out.trim(), format!("CapEff:\t{bnd}"));
}

pub fn sysctl_rlimit_and_bind_mount(make: Make) {
    let host_file = TempDir::new("bindsrc");
    std::fs::write(host_file.path().join("greeting"), "hello from the host\n").unwrap();
    let src = host_file
        .path()
        .join("greeting")
        .to_string_lossy()
        .into_owned();
    let f = fixture(
        make,
        &sh("cat /proc/sys/net/ipv4/ip_forward; ulimit -n; cat /etc/greeting; echo x > /etc/greeting"),
        |o| {
            o.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
            o.rlimits = vec![api::oci::Rlimit { typ: "RLIMIT_NOFILE".into(), hard: 2048, soft: 1024 }];
            o.extra_mounts = vec![api::oci::Mount::bind(&src, "/etc/greeting", true)];
        },
    );
    let (code, out, err) = run(&f);
    assert_eq!(out, "1\n1024\nhello from the host\n", "{err}");
    assert_eq!(code, 1);
    assert!(err.contains("Read-only file system"), "{err}");
}

/// The process of the bundle's config.json with `args`, for exec.
fn exec_process(f: &Fixture, args: &[&str]) -> api::oci::Process {
    let text = std::fs::read_to_string(f.bundle.join("config.json")).unwrap();
    let spec = api::oci::Spec::from_json(&text).unwrap();
    let mut p = spec.process.unwrap();
    p.args = args.iter().map(|s| s.to_string()).collect();
    p
}

fn wait_pid(pid: i32) -> i32 {
    match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, c) => c,
        nix::sys::wait::WaitStatus::Signaled(_, s, _) => 128 + s as i32,
        other => panic!("unexpected wait status {other:?}"),
    }
}

/// Starts a long-running container for exec tests.
fn running(f: &Fixture) -> Container<'_> {
    let (io, _p) = pipes();
    let created = f.rt.create(&f.id, &f.bundle, io).unwrap();
    let c = Container {
        f,
        pid: created.pid,
        reaped: false,
        deleted: false,
    };
    f.rt.start(&f.id).unwrap();
    c
}

/// Runs `process` in the container: (exit code, stdout, stderr).
fn exec_run(f: &Fixture, process: &api::oci::Process) -> (i32, String, String) {
    let (io, p) = pipes();
    let created = f.rt.exec(&f.id, process, io).unwrap();
    let out = read_all(p.stdout);
    let err = read_all(p.stderr);
    (wait_pid(created.pid), out, err)
}

pub fn exec_joins_the_container(make: Make) {
    let f = fixture(make, &["sleep", "1000"], |_| {});
    let c = running(&f);
    let mut p = exec_process(
        &f,
        &sh("hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; for n in net mnt ipc uts; do readlink /proc/self/ns/$n; done; \
             [ \"$(cat /proc/self/cgroup)\" = \"$(cat /proc/1/cgroup)\" ] && echo same-cgroup; \
             id -u; id -g; pwd; echo $FOO; grep -E 'Cap(Eff|Bnd)' /proc/self/status; grep NoNewPrivs /proc/self/status; exit 5"),
    );
    p.env.push("FOO=bar".into());
    p.cwd = "/etc".into();
    p.user.uid = 65534;
    p.user.gid = 65534;
    let (code, out, err) = exec_run(&f, &p);
    assert_eq!(code, 5, "{err}");
    let ns = |n: &str| {
        std::fs::read_link(format!("/proc/{}/ns/{n}", c.pid))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let want = format!(
        "berth-host\nsleep 1000 \n{}\n{}\n{}\n{}\nsame-cgroup\n65534\n65534\n/etc\nbar\nCapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t0\n",
        ns("net"),
        ns("mnt"),
        ns("ipc"),
        ns("uts")
    );
    assert_eq!(out, want, "{err}");
    // A non-root exec keeps the bounding set but, like runc, no effective capabilities.
    drop(c);
}

pub fn exec_privileged_caps_and_seccomp(make: Make) {
    let f = fixture(make, &["sleep", "1000"], |_| {});
    let _c = running(&f);
    let mut p = exec_process(
        &f,
        &sh("grep CapEff /proc/self/status; unshare -m true; echo $?"),
    );
    let all = runtime::host_bounding_set().unwrap();
    let caps = p.capabilities.get_or_insert_with(Default::default);
    caps.bounding = all.clone();
    caps.effective = all.clone();
    caps.permitted = all.clone();
    let (code, out, err) = exec_run(&f, &p);
    assert_eq!(code, 0, "{err}");
    let mask: u64 = all
        .iter()
        .map(|n| {
            1u64 << api::oci::defaults::CAPABILITIES
                .iter()
                .position(|c| c == n)
                .unwrap()
        })
        .sum();
    // All capabilities, but the container's seccomp profile still applies (unshare blocked).
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(format!("CapEff:\t{mask:016x}").as_str()));
    assert_ne!(lines.next(), Some("0"), "{out}");
}

pub fn exec_into_missing_command(make: Make) {
    let f = fixture(make, &["sleep", "1000"], |_| {});
    let _c = running(&f);
    let (io, _p) = pipes();
    let e =
        f.rt.exec(&f.id, &exec_process(&f, &["nosuchcmd"]), io)
            .expect_err("exec must fail");
    assert_eq!(e.exit_code(), Some(127), "{e}");
    assert!(
        e.to_string()
            .contains("exec: \"nosuchcmd\": executable file not found in $PATH"),
        "{e}"
    );
}

pub fn exec_terminal(make: Make) {
    let f = fixture(make, &["sleep", "1000"], |_| {});
    let _c = running(&f);
    let mut p = exec_process(&f, &sh("tty; stty size"));
    p.terminal = true;
    p.console_size = Some(api::oci::ConsoleSize {
        height: 30,
        width: 90,
    });
    let created = f.rt.exec(&f.id, &p, ContainerIo::Terminal).unwrap();
    let mut file = std::fs::File::from(created.pty_master.expect("a pty master"));
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(wait_pid(created.pid), 0);
    let out = String::from_utf8_lossy(&out).replace("\r\n", "\n");
    assert!(out.starts_with("/dev/pts/"), "{out}");
    assert!(out.ends_with("\n30 90\n"), "{out}");
}

macro_rules! suite {
    ($name:ident, $make:expr) => {
        mod $name {
            #[test]
            fn exit_status() {
                super::exit_status($make)
            }
            #[test]
            fn exec_joins_the_container() {
                super::exec_joins_the_container($make)
            }
            #[test]
            fn exec_privileged_caps_and_seccomp() {
                super::exec_privileged_caps_and_seccomp($make)
            }
            #[test]
            fn exec_not_found_127() {
                super::exec_into_missing_command($make)
            }
            #[test]
            fn exec_terminal() {
                super::exec_terminal($make)
            }
            #[test]
            fn stdout_and_stderr() {
                super::stdout_and_stderr($make)
            }
            #[test]
            fn hostname_pid1_and_loopback() {
                super::hostname_pid1_and_loopback($make)
            }
            #[test]
            fn default_capabilities() {
                super::default_capabilities($make)
            }
            #[test]
            fn user_and_cwd() {
                super::user_and_cwd($make)
            }
            #[test]
            fn memory_limit_in_cgroup() {
                super::memory_limit_in_cgroup($make)
            }
            #[test]
            fn update_changes_limits() {
                super::update_changes_limits($make)
            }
            #[test]
            fn cpu_limits_in_cgroup() {
                super::cpu_limits_in_cgroup($make)
            }
            #[test]
            fn pids_limit_enforced() {
                super::pids_limit_enforced($make)
            }
            #[test]
            fn readonly_rootfs() {
                super::readonly_rootfs($make)
            }
            #[test]
            fn masked_and_readonly_paths() {
                super::masked_and_readonly_paths($make)
            }
            #[test]
            fn seccomp_blocks_unshare() {
                super::seccomp_blocks_unshare($make)
            }
            #[test]
            fn exec_not_found() {
                super::exec_not_found($make)
            }
            #[test]
            fn exec_not_executable() {
                super::exec_not_executable($make)
            }
            #[test]
            fn kill_pause_resume_state() {
                super::kill_pause_resume_state($make)
            }
            #[test]
            fn terminal() {
                super::terminal($make)
            }
            #[test]
            fn sysctl_rlimit_and_bind_mount() {
                super::sysctl_rlimit_and_bind_mount($make)
            }
            #[test]
            fn join_network_namespace() {
                super::join_network_namespace($make)
            }
            #[test]
            fn privileged_gets_host_bounding_set() {
                super::privileged_gets_host_bounding_set($make)
            }
        }
    };
}

suite!(berth_runtime, super::berth);
suite!(runc_runtime, super::runc);

/// berth-only: `--init` keeps a tiny init as pid 1 and the command runs as pid 2.
#[test]
fn berth_init_runs_command_as_pid_2() {
    let f = fixture(berth, &sh("echo $$; exit 5"), |o| o.init = true);
    let (code, out, err) = run(&f);
    assert_eq!(code, 5, "{err}");
    assert_eq!(out, "2\n");
}

/// berth-only: the tiny init forwards SIGTERM to the command and exits with its status.
#[test]
fn berth_init_forwards_signals() {
    let f = fixture(berth, &["sleep", "100"], |o| o.init = true);
    let (io, _p) = pipes();
    let created = f.rt.create(&f.id, &f.bundle, io).unwrap();
    let mut c = Container {
        f: &f,
        pid: created.pid,
        reaped: false,
        deleted: false,
    };
    f.rt.start(&f.id).unwrap();
    // Give pid 1 time to fork the command.
    std::thread::sleep(std::time::Duration::from_millis(50));
    f.rt.kill(&f.id, libc::SIGTERM).unwrap();
    assert_eq!(c.wait(), 128 + libc::SIGTERM);
    c.delete();
}

/// berth-only: a failed create names the step and removes its cgroup and state.
#[test]
fn berth_failed_create_cleans_up() {
    let f = fixture(berth, &["true"], |o| {
        o.extra_mounts = vec![api::oci::Mount::new("/mnt/x", "nosuchfs", "none", &[])]
    });
    let (io, _p) = pipes();
    let e =
        f.rt.create(&f.id, &f.bundle, io)
            .expect_err("create must fail");
    assert!(
        e.to_string().contains("mount none on") && e.to_string().contains("(type nosuchfs)"),
        "{e}"
    );
    let cause = std::error::Error::source(&e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(cause.contains("No such device"), "{cause}");
    for d in cgroup_dirs(&f.id) {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    assert!(!f.state.join(&f.id).exists());
}

/// berth-only: run_bundle returns the exit code and cleans up.
#[test]
fn berth_run_bundle() {
    let f = fixture(berth, &sh("exit 7"), |_| {});
    assert_eq!(
        runtime::run_bundle(f.rt.as_ref(), &f.id, &f.bundle).unwrap(),
        7
    );
    for d in cgroup_dirs(&f.id) {
        assert!(!d.exists());
    }
}
