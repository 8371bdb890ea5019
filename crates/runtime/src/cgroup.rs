//! Container cgroups on v1 (one directory per controller hierarchy) and v2 (one subtree).
//!
//! The layout is detected once per process ([`Layout::detect`]): `statfs("/sys/fs/cgroup")` is
//! cgroup2 -> v2; otherwise the v1 hierarchies are read from `/proc/self/mountinfo` (skipping
//! named hierarchies like `name=systemd` and, on hybrid hosts, the cgroup2 mount at
//! `/sys/fs/cgroup/unified`). A container's cgroup is `linux.cgroupsPath` (berth uses
//! `/berth/<id>`) below each hierarchy root. Non-goals: systemd cgroup driver, hugetlb
//! (dropped with a warning), blkio/io weights. Device rules on v2 are an eBPF program
//! (`crate::device_filter`), attached when the cgroup is created, before the init joins it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use api::oci::{DeviceCgroup, Resources};

use crate::RuntimeError;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// One v1 hierarchy: its mount point and the controllers attached to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount: PathBuf,
    pub controllers: Vec<String>,
}

/// The host's cgroup layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    V1(Vec<Hierarchy>),
    V2(PathBuf),
}

impl Layout {
    /// The layout of this host, detected on first use.
    pub fn detect() -> &'static Layout {
        static LAYOUT: OnceLock<Layout> = OnceLock::new();
        LAYOUT.get_or_init(|| {
            if crate::sys::statfs_type(Path::new(CGROUP_ROOT)).ok() == Some(CGROUP2_SUPER_MAGIC) {
                Layout::V2(PathBuf::from(CGROUP_ROOT))
            } else {
                Layout::V1(parse_v1_mountinfo(
                    &fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
                ))
            }
        })
    }
}

/// The v1 hierarchies in a mountinfo text.
pub fn parse_v1_mountinfo(text: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let super_opts = r.nth(1).unwrap_or("");
        let controllers: Vec<String> = super_opts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("name=") && !o.contains('='))
            .filter(|o| !o.starts_with("xattr") && *o != "clone_children" && *o != "noprefix")
            .map(String::from)
            .collect();
        if controllers.is_empty() {
            continue;
        }
        let Some(mount) = left.split(' ').nth(4) else {
            continue;
        };
        out.push(Hierarchy {
            mount: PathBuf::from(mount),
            controllers,
        });
    }
    out
}

fn cg_err(op: &str, path: &Path, source: io::Error) -> RuntimeError {
    RuntimeError::Cgroup {
        op: op.to_string(),
        path: path.to_path_buf(),
        source,
    }
}

fn write_file(dir: &Path, file: &str, value: &str) -> Result<(), RuntimeError> {
    let p = dir.join(file);
    fs::write(&p, value).map_err(|e| cg_err(&format!("write {value:?}"), &p, e))
}

/// A container's cgroup (all its directories).
#[derive(Debug, Clone)]
pub struct Cgroup {
    /// v1: one directory per hierarchy, with the hierarchy's controllers; v2: one directory.
    dirs: Vec<(PathBuf, Vec<String>)>,
    v2: bool,
}

impl Cgroup {
    /// The cgroup at `path` (relative to each hierarchy root), without touching the filesystem.
    pub fn open(path: &str) -> Cgroup {
        let rel = path.trim_start_matches('/');
        match Layout::detect() {
            Layout::V2(root) => Cgroup {
                dirs: vec![(root.join(rel), Vec::new())],
                v2: true,
            },
            Layout::V1(hs) => Cgroup {
                dirs: hs
                    .iter()
                    .map(|h| (h.mount.join(rel), h.controllers.clone()))
                    .collect(),
                v2: false,
            },
        }
    }

    /// Creates the cgroup and applies `resources`. Returns warnings for what was dropped. On
    /// error every directory created so far is removed again.
    pub fn create(
        path: &str,
        resources: Option<&Resources>,
    ) -> Result<(Cgroup, Vec<String>), RuntimeError> {
        let cg = Cgroup::open(path);
        let result = cg
            .make_dirs(path)
            .and_then(|()| cg.apply(resources))
            .and_then(|w| cg.attach_device_filter(resources).map(|()| w));
        match result {
            Ok(w) => Ok((cg, w)),
            Err(e) => {
                let _ = cg.remove();
                Err(e)
            }
        }
    }

    /// The directories (for tests and `delete`).
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(d, _)| d.as_path())
    }

    /// Whether this is a v2 (unified) cgroup.
    pub fn is_v2(&self) -> bool {
        self.v2
    }

    /// The directory holding controller `ctrl` (v1), or the one directory (v2).
    pub fn controller_dir(&self, ctrl: &str) -> Option<&Path> {
        if self.v2 {
            return self.dirs.first().map(|(d, _)| d.as_path());
        }
        self.has(ctrl)
    }

    fn has(&self, ctrl: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(_, c)| c.iter().any(|x| x == ctrl))
            .map(|(d, _)| d.as_path())
    }

    fn make_dirs(&self, path: &str) -> Result<(), RuntimeError> {
        let rel: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if rel.is_empty() {
            return Err(cg_err(
                "create",
                Path::new(path),
                io::Error::from(io::ErrorKind::InvalidInput),
            ));
        }
        for (dir, ctrls) in &self.dirs {
            let mut root = dir.clone();
            for _ in &rel {
                root.pop();
            }
            let is_cpuset = ctrls.iter().any(|c| c == "cpuset");
            let mut cur = root;
            for part in &rel {
                let parent = cur.clone();
                cur.push(part);
                match fs::create_dir(&cur) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(cg_err("create", &cur, e)),
                }
                if self.v2 {
                    enable_controllers(&parent)?;
                }
                if is_cpuset {
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let mine = fs::read_to_string(cur.join(f)).unwrap_or_default();
                        if mine.trim().is_empty() {
                            let theirs = fs::read_to_string(parent.join(f))
                                .map_err(|e| cg_err("read", &parent.join(f), e))?;
                            write_file(&cur, f, theirs.trim())?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies new limits to an existing cgroup (`docker update`).
    pub fn update(&self, resources: &Resources) -> Result<Vec<String>, RuntimeError> {
        self.apply(Some(resources))
    }

    fn apply(&self, resources: Option<&Resources>) -> Result<Vec<String>, RuntimeError> {
        let mut warnings = Vec::new();
        let Some(r) = resources else {
            return Ok(warnings);
        };
        if !r.hugepage_limits.is_empty() {
            warnings.push(
                "hugepage limits are not supported on this host and were ignored".to_string(),
            );
        }
        if self.v2 {
            let d = &self.dirs[0].0;
            if let Some(m) = &r.memory {
                if let Some(l) = m.limit {
                    write_file(d, "memory.max", &max_or(l))?;
                }
                if let Some(res) = m.reservation {
                    write_file(d, "memory.low", &max_or(res))?;
                }
                if let (Some(s), Some(l)) = (m.swap, m.limit) {
                    let v = if s < 0 {
                        "max".to_string()
                    } else {
                        (s - l).max(0).to_string()
                    };
                    if d.join("memory.swap.max").exists() {
                        write_file(d, "memory.swap.max", &v)?;
                    } else {
                        warnings.push(
                            "swap limit not supported by the kernel; memory limited without swap"
                                .into(),
                        );
                    }
                }
            }
            if let Some(c) = &r.cpu {
                if let Some(s) = c.shares {
                    let weight = if s == 0 {
                        100
                    } else {
                        1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142
                    };
                    write_file(d, "cpu.weight", &weight.to_string())?;
                }
                if c.quota.is_some() || c.period.is_some() {
                    let q = c
                        .quota
                        .filter(|q| *q > 0)
                        .map(|q| q.to_string())
                        .unwrap_or_else(|| "max".into());
                    write_file(
                        d,
                        "cpu.max",
                        &format!("{q} {}", c.period.unwrap_or(100_000)),
                    )?;
                }
                if let Some(v) = &c.cpus {
                    write_file(d, "cpuset.cpus", v)?;
                }
                if let Some(v) = &c.mems {
                    write_file(d, "cpuset.mems", v)?;
                }
            }
            if let Some(p) = &r.pids {
                write_file(d, "pids.max", &max_or(p.limit))?;
            }
            // Device rules: an eBPF program, attached by `attach_device_filter`.
            return Ok(warnings);
        }
        if let (Some(m), Some(d)) = (&r.memory, self.has("memory")) {
            if let Some(l) = m.limit {
                write_file(d, "memory.limit_in_bytes", &l.to_string())?;
            }
            if let Some(s) = m.swap {
                if d.join("memory.memsw.limit_in_bytes").exists() {
                    write_file(d, "memory.memsw.limit_in_bytes", &s.to_string())?;
                } else {
                    warnings.push(
                        "swap limit not supported by the kernel; memory limited without swap"
                            .into(),
                    );
                }
            }
            if let Some(res) = m.reservation {
                write_file(d, "memory.soft_limit_in_bytes", &res.to_string())?;
            }
        }
        if let Some(c) = &r.cpu {
            if let Some(d) = self.has("cpu") {
                if let Some(s) = c.shares {
                    write_file(d, "cpu.shares", &s.to_string())?;
                }
                if let Some(p) = c.period {
                    write_file(d, "cpu.cfs_period_us", &p.to_string())?;
                }
                if let Some(q) = c.quota {
                    write_file(d, "cpu.cfs_quota_us", &q.to_string())?;
                }
            }
            if let Some(d) = self.has("cpuset") {
                if let Some(v) = &c.cpus {
                    write_file(d, "cpuset.cpus", v)?;
                }
                if let Some(v) = &c.mems {
                    write_file(d, "cpuset.mems", v)?;
                }
            }
        }
        if let (Some(p), Some(d)) = (&r.pids, self.has("pids")) {
            write_file(d, "pids.max", &max_or(p.limit))?;
        }
        if let Some(d) = self.has("devices") {
            for rule in &r.devices {
                let (file, value) = device_rule(rule);
                write_file(d, file, &value)?;
            }
        }
        Ok(warnings)
    }

    /// v2: enforces `resources.devices` with an eBPF program on the cgroup (v1 writes
    /// `devices.allow`/`devices.deny` in `apply`). No rules, no program.
    fn attach_device_filter(&self, resources: Option<&Resources>) -> Result<(), RuntimeError> {
        let Some(r) = resources.filter(|r| self.v2 && !r.devices.is_empty()) else {
            return Ok(());
        };
        let dir = &self.dirs[0].0;
        crate::device_filter::attach(dir, &r.devices)
            .map_err(|e| cg_err("attach the device filter to", dir, e))
    }

    /// Moves `pid` into the cgroup.
    pub fn add_pid(&self, pid: i32) -> Result<(), RuntimeError> {
        for (d, _) in &self.dirs {
            write_file(d, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Freezes (true) or thaws (false) every process in the cgroup and waits until done.
    pub fn freeze(&self, frozen: bool) -> Result<(), RuntimeError> {
        if self.v2 {
            return self.freeze_v2(frozen);
        }
        let dir = self.has("freezer").ok_or_else(|| {
            cg_err(
                "freeze",
                Path::new("freezer"),
                io::Error::from(io::ErrorKind::Unsupported),
            )
        })?;
        let (file, want) = ("freezer.state", if frozen { "FROZEN" } else { "THAWED" });
        write_file(dir, file, want)?;
        for _ in 0..1000 {
            if fs::read_to_string(dir.join(file))
                .map(|s| s.trim() == want)
                .unwrap_or(false)
            {
                return Ok(());
            }
            write_file(dir, file, want)?;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(cg_err(
            "freeze",
            dir,
            io::Error::from(io::ErrorKind::TimedOut),
        ))
    }

    /// v2: writes `cgroup.freeze` and waits until `cgroup.events` reports `frozen 1` (or
    /// `frozen 0`): the write only starts freezing, it does not wait for the tasks to stop.
    fn freeze_v2(&self, frozen: bool) -> Result<(), RuntimeError> {
        let dir = self.dirs[0].0.as_path();
        write_file(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        let events = dir.join("cgroup.events");
        for _ in 0..1000 {
            let text = fs::read_to_string(&events).map_err(|e| cg_err("read", &events, e))?;
            if text.lines().any(|l| l.trim() == want) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(cg_err(
            "freeze",
            dir,
            io::Error::from(io::ErrorKind::TimedOut),
        ))
    }

    /// Whether the cgroup is frozen.
    pub fn is_frozen(&self) -> bool {
        if self.v2 {
            fs::read_to_string(self.dirs[0].0.join("cgroup.freeze"))
                .map(|s| s.trim() == "1")
                .unwrap_or(false)
        } else {
            self.has("freezer")
                .and_then(|d| fs::read_to_string(d.join("freezer.state")).ok())
                .map(|s| s.trim() != "THAWED")
                .unwrap_or(false)
        }
    }

    /// The pids in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let d = &self.dirs[0].0;
        fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Removes every directory, retrying for up to a second while exiting processes leave.
    /// A thawed cgroup is required: a frozen one is thawed first.
    pub fn remove(&self) -> Result<(), RuntimeError> {
        if self.is_frozen() {
            let _ = self.freeze(false);
        }
        let mut first_err = None;
        for (d, _) in &self.dirs {
            let mut tries = 0;
            loop {
                match fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e) if tries < 1000 && e.raw_os_error() == Some(libc::EBUSY) => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(e) => {
                        first_err.get_or_insert(cg_err("remove", d, e));
                        break;
                    }
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

fn max_or(v: i64) -> String {
    if v <= 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

fn enable_controllers(parent: &Path) -> Result<(), RuntimeError> {
    let available = fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
    let enabled = fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
    for c in available.split_whitespace() {
        if matches!(c, "cpu" | "cpuset" | "memory" | "pids" | "io")
            && !enabled.split_whitespace().any(|e| e == c)
        {
            // Best effort: a controller can be busy in the parent (processes in an inner node).
            let _ = fs::write(parent.join("cgroup.subtree_control"), format!("+{c}"));
        }
    }
    Ok(())
}

/// The v1 `devices.allow`/`devices.deny` line for one rule.
pub fn device_rule(rule: &DeviceCgroup) -> (&'static str, String) {
    let file = if rule.allow {
        "devices.allow"
    } else {
        "devices.deny"
    };
    let typ = rule.typ.as_deref().unwrap_or("a");
    let access = rule.access.as_deref().unwrap_or("rwm");
    if typ == "a" {
        return (file, "a".to_string());
    }
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "*".to_string());
    (
        file,
        format!("{typ} {}:{} {access}", n(rule.major), n(rule.minor)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::oci::{CpuResources, MemoryResources, PidsResources};

    fn resources() -> Resources {
        Resources {
            memory: Some(MemoryResources {
                limit: Some(64 << 20),
                swap: Some(128 << 20),
                reservation: None,
            }),
            cpu: Some(CpuResources {
                shares: Some(512),
                quota: Some(50_000),
                period: Some(100_000),
                ..Default::default()
            }),
            pids: Some(PidsResources { limit: 10 }),
            devices: api::oci::defaults::default_device_rules(),
            hugepage_limits: vec![serde_json::json!({"pageSize": "2MB", "limit": 1})],
        }
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap().trim().to_string()
    }

    #[test]
    fn v1_writes_limits_and_copies_cpuset_from_parent() {
        let d = testkit::TempDir::new("cg-v1");
        let root = d.path();
        for h in ["memory", "cpu", "cpuset", "pids", "devices"] {
            fs::create_dir_all(root.join(h)).unwrap();
        }
        fs::write(root.join("cpuset/cpuset.cpus"), "0-1\n").unwrap();
        fs::write(root.join("cpuset/cpuset.mems"), "0\n").unwrap();
        fs::write(root.join("memory/memory.memsw.limit_in_bytes"), "").unwrap();
        fs::create_dir_all(root.join("memory/berth/c1")).unwrap();
        fs::write(root.join("memory/berth/c1/memory.memsw.limit_in_bytes"), "").unwrap();
        let cg = Cgroup {
            dirs: ["memory", "cpu", "cpuset", "pids", "devices"]
                .iter()
                .map(|h| (root.join(h).join("berth/c1"), vec![h.to_string()]))
                .collect(),
            v2: false,
        };
        cg.make_dirs("/berth/c1").unwrap();
        let warnings = cg.apply(Some(&resources())).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("hugepage"));
        assert_eq!(read(&root.join("cpuset/berth/cpuset.cpus")), "0-1");
        assert_eq!(read(&root.join("cpuset/berth/c1/cpuset.mems")), "0");
        assert_eq!(
            read(&root.join("memory/berth/c1/memory.limit_in_bytes")),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            read(&root.join("memory/berth/c1/memory.memsw.limit_in_bytes")),
            (128u64 << 20).to_string()
        );
        assert_eq!(read(&root.join("cpu/berth/c1/cpu.shares")), "512");
        assert_eq!(read(&root.join("cpu/berth/c1/cpu.cfs_quota_us")), "50000");
        assert_eq!(read(&root.join("pids/berth/c1/pids.max")), "10");
        // Each rule is one write; a fixture file keeps only the last one.
        assert_eq!(
            read(&root.join("devices/berth/c1/devices.allow")),
            "c 10:200 rwm"
        );
        assert_eq!(read(&root.join("devices/berth/c1/devices.deny")), "a");
    }

    #[test]
    fn v2_writes_unified_files_and_enables_controllers() {
        let d = testkit::TempDir::new("cg-v2");
        let root = d.path();
        fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids\n",
        )
        .unwrap();
        let cg = Cgroup {
            dirs: vec![(root.join("berth/c1"), Vec::new())],
            v2: true,
        };
        cg.make_dirs("/berth/c1").unwrap();
        // A fixture file keeps the last "+controller" written.
        assert!(read(&root.join("cgroup.subtree_control")).starts_with('+'));
        fs::write(root.join("berth/c1/memory.swap.max"), "").unwrap();
        let warnings = cg.apply(Some(&resources())).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("hugepage"));
        let c1 = root.join("berth/c1");
        assert_eq!(read(&c1.join("memory.max")), (64u64 << 20).to_string());
        assert_eq!(read(&c1.join("memory.swap.max")), (64u64 << 20).to_string());
        assert_eq!(read(&c1.join("cpu.max")), "50000 100000");
        assert_eq!(
            read(&c1.join("cpu.weight")),
            (1 + (512 - 2) * 9999 / 262_142).to_string()
        );
        assert_eq!(read(&c1.join("pids.max")), "10");
    }

    #[test]
    fn v1_hierarchies_from_hybrid_mountinfo() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
            40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let hs = parse_v1_mountinfo(text);
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[0].mount, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(hs[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(hs[1].controllers, ["memory"]);
    }

    #[test]
    fn device_rule_lines() {
        let rules = api::oci::defaults::default_device_rules();
        assert_eq!(device_rule(&rules[0]), ("devices.deny", "a".to_string()));
        assert_eq!(
            device_rule(&rules[1]),
            ("devices.allow", "c *:* m".to_string())
        );
        assert_eq!(
            device_rule(&rules[3]),
            ("devices.allow", "c 1:3 rwm".to_string())
        );
        assert!(rules.iter().any(|r| device_rule(r).1 == "c 136:* rwm"));
    }
}
