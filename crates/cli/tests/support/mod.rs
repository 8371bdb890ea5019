//! A private berth daemon per test: its own socket, data root and exec root under a temp dir,
//! the busybox image imported, and everything removed on drop (containers, mounts, cgroups,
//! processes), even when the test fails.

#![allow(dead_code)]

pub mod dockerd;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

pub struct Daemon {
    pub dir: testkit::TempDir,
    pub socket: PathBuf,
    child: Option<Child>,
    flags: Vec<String>,
    /// The default network's bridge device (unique per daemon).
    pub bridge: String,
    /// berth's nftables table of this daemon (unique per daemon).
    pub nft_table: String,
}

impl Daemon {
    /// Starts a daemon and imports `busybox:latest`.
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// Starts a daemon with extra flags (e.g. `--runtime runc`) and imports `busybox:latest`.
    pub fn start_with(flags: &[&str]) -> Daemon {
        testkit::require_root();
        let dir = testkit::TempDir::new("e2e");
        let socket = dir.path().join("berth.sock");
        let flags = flags.iter().map(|s| s.to_string()).collect();
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pid = std::process::id();
        let mut d = Daemon {
            dir,
            socket,
            child: None,
            flags,
            bridge: format!("bt{:x}x{n}", pid & 0xfffff),
            nft_table: format!("berth_test_{pid}_{n}"),
        };
        d.spawn();
        let tar = d.dir.path().join("busybox.tar");
        testkit::busybox_tarball(&tar, false).expect("build busybox tarball");
        let out = d.berth(&["import", tar.to_str().unwrap(), "busybox:latest"]);
        assert!(
            out.status.success(),
            "import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("exec")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// (Re)starts the daemon process and waits for its socket to answer.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let child = Command::new(BERTH)
            .args(["daemon", "--host", &self.host()])
            .arg("--root")
            .arg(self.root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .args(if self.flags.iter().any(|f| f == "--bridge" || f == "-b") {
                vec![]
            } else {
                vec!["--bridge", &self.bridge]
            })
            .args(if self.flags.iter().any(|f| f == "--nft-table") {
                vec![]
            } else {
                vec!["--nft-table", &self.nft_table]
            })
            .args(&self.flags)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start berth daemon");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("daemon did not come up: {}", self.log());
    }

    /// Kills the daemon with SIGKILL (its containers keep running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Runs the berth CLI against this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(BERTH)
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .arg("--host")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// Runs the berth CLI with stdin from `input`.
    pub fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new(BERTH)
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .arg("--host")
            .arg(self.host())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run berth");
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs the real docker CLI against this daemon through DOCKER_HOST.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_API_VERSION")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run the docker CLI (is it installed?)")
    }

    /// Mounts below this daemon's exec root.
    pub fn mounts(&self) -> Vec<String> {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = self.dir.path().to_string_lossy().to_string();
        info.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&prefix))
            .map(String::from)
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_none() && self.socket.exists() {
            self.spawn();
        }
        if self.child.is_some() {
            let ids = self.berth(&["ps", "-aq", "--no-trunc"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let out = self.berth(&["rm", "-f", id]);
                if !out.status.success() {
                    eprintln!(
                        "e2e cleanup: rm -f {id}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
        if let Some(mut c) = self.child.take() {
            // SIGTERM for a clean stop, SIGKILL if it hangs.
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Shims and containers of a failed test: kill what still runs from our exec root.
        kill_shims(&self.exec_root());
        testkit::unmount_below(self.dir.path());
        remove_cgroups_of(&self.root());
        remove_networks_of(&self.root(), &self.bridge, &self.nft_table);
    }
}

/// Deletes the bridges a daemon created (default and user networks) and its nftables table;
/// veths went with the namespaces that `unmount_below` released.
fn remove_networks_of(root: &Path, bridge: &str, table: &str) {
    let state = std::fs::read(root.join("network/networks.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&state).unwrap_or_default();
    let mut bridges = vec![bridge.to_string()];
    for n in v.as_array().into_iter().flatten() {
        if let Some(b) = n["bridge"].as_str().filter(|b| !b.is_empty()) {
            bridges.push(b.to_string());
        }
    }
    bridges.dedup();
    for b in bridges {
        if std::path::Path::new("/sys/class/net").join(&b).exists() {
            let _ = Command::new("ip").args(["link", "del", &b]).status();
        }
    }
    let _ = Command::new("nft")
        .args(["delete", "table", "ip", table])
        .stderr(Stdio::null())
        .status();
}

/// Links, namespaces and nft tables this daemon owns that still exist (for leak checks).
pub fn leftovers(d: &Daemon) -> Vec<String> {
    let mut out = Vec::new();
    let netns = d.exec_root().join("netns");
    if let Ok(entries) = std::fs::read_dir(&netns) {
        for e in entries.flatten() {
            out.push(format!("netns {}", e.path().display()));
        }
    }
    let state = std::fs::read(d.exec_root().join("network/endpoints.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&state).unwrap_or_default();
    for e in v.as_array().into_iter().flatten() {
        let veth = e["veth"].as_str().unwrap_or_default();
        out.push(format!("endpoint {veth}"));
        if std::path::Path::new("/sys/class/net").join(veth).exists() {
            out.push(format!("veth {veth}"));
        }
    }
    out
}

/// Kills `berth shim` processes whose state dir is under `exec_root`.
fn kill_shims(exec_root: &Path) {
    let needle = exec_root.to_string_lossy().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(" shim ") && cmd.contains(&needle) {
            eprintln!("e2e cleanup: killing leftover shim {pid}");
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// Removes `/berth/<id>` cgroups of containers recorded under `root`.
fn remove_cgroups_of(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root.join("containers")) else {
        return;
    };
    for e in entries.flatten() {
        let id = e.file_name().to_string_lossy().to_string();
        for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
            if let Ok(ctrls) = std::fs::read_dir(base) {
                for c in ctrls.flatten() {
                    let dir = c.path().join("berth").join(&id);
                    if dir.exists() {
                        let _ = std::fs::remove_dir(&dir);
                    }
                }
            }
            let _ = std::fs::remove_dir(Path::new(base).join("berth").join(&id));
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Waits until `f` holds, polling.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}
