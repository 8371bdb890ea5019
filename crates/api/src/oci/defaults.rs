//! Docker-equivalent runtime specs from plain options: [`docker_spec`].
//!
//! What "Docker-equivalent" means here: the namespaces, mounts, capabilities, masked and
//! read-only paths, device cgroup rules and seccomp profile that Docker Engine puts in the
//! `config.json` it hands to runc for `docker run` with the same flags (moby
//! `daemon/pkg/oci/defaults.go`, `daemon/oci_linux.go`, `daemon/pkg/oci/caps`). Pure data: the
//! caller passes in what needs IO (the host's capability bounding set, the kernel version).

use std::collections::BTreeMap;

use super::seccomp_profile::{self, SeccompProfileError, DEFAULT_PROFILE_JSON};
use super::{
    Capabilities, ConsoleSize, CpuResources, Device, DeviceCgroup, Linux, MemoryResources, Mount,
    Namespace, PidsResources, Process, Resources, Rlimit, Root, Spec, User, ANNOTATION_INIT,
    OCI_VERSION,
};

/// Every capability Linux knows, by number (`CAPABILITIES[n]` is capability `n`).
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's 14 default capabilities, in Docker's order.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's masked paths (bind of /dev/null or a read-only tmpfs over each).
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The `PATH` Docker gives a container whose image sets none.
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Which seccomp profile a container gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SeccompChoice {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter (`--security-opt seccomp=unconfined`).
    Unconfined,
    /// A profile in Docker's JSON format.
    Profile(String),
}

/// The network namespace choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetworkChoice {
    /// A new network namespace (bridge networks are attached later by the engine).
    #[default]
    New,
    /// The host's network namespace.
    Host,
    /// A new namespace with only `lo`.
    None,
    /// Join the namespace at this path (`/proc/<pid>/ns/net` or a bind-mounted netns file).
    Join(String),
}

/// Everything [`docker_spec`] needs: what `docker run` flags and the image config decide.
#[derive(Debug, Clone, Default)]
pub struct SpecOptions {
    /// The root filesystem, absolute or relative to the bundle (usually `rootfs`).
    pub root_path: String,
    pub readonly_rootfs: bool,
    pub args: Vec<String>,
    /// `KEY=value` entries; a `PATH` is added when missing.
    pub env: Vec<String>,
    /// Working directory; empty means `/`.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: String,
    pub terminal: bool,
    pub console_size: Option<(u32, u32)>,
    /// `--cap-add` names: with or without `CAP_`, any case, or `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// The host's capability bounding set (names with `CAP_`); `None` = every capability.
    /// Privileged and `ALL` sets are intersected with it.
    pub host_bounding_set: Option<Vec<String>>,
    pub seccomp: SeccompChoice,
    pub no_new_privileges: bool,
    /// Kernel (major, minor) for the profile's `minKernel` rules; `None` = assume new enough.
    pub kernel_version: Option<(u32, u32)>,
    /// Bytes.
    pub memory: Option<i64>,
    /// Memory + swap in bytes (`--memory-swap`), -1 unlimited.
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub network: NetworkChoice,
    /// `linux.cgroupsPath`, e.g. `/berth/<id>`.
    pub cgroups_path: String,
    /// Bind mounts and volumes, after the defaults.
    pub extra_mounts: Vec<Mount>,
    /// Run a tiny init as pid 1 (`--init`).
    pub init: bool,
    pub rlimits: Vec<Rlimit>,
    pub oom_score_adj: Option<i32>,
    pub annotations: BTreeMap<String, String>,
    /// Namespaced sysctls (`--sysctl`), e.g. `net.ipv4.ip_forward` = `1`.
    pub sysctls: BTreeMap<String, String>,
}

/// A spec could not be built from the options.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("unknown capability: {0:?}")]
    UnknownCapability(String),
    #[error("invalid seccomp profile")]
    Seccomp(#[source] SeccompProfileError),
    #[error("no command specified")]
    NoCommand,
}

impl SpecError {
    /// All of these are the caller's mistake.
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidArgument
    }
}

/// A built spec and the warnings the caller should show the user.
#[derive(Debug, Clone)]
pub struct BuiltSpec {
    pub spec: Spec,
    pub warnings: Vec<String>,
}

/// Normalises a capability name as Docker does: upper case, `CAP_` prefix; `ALL` stays `ALL`.
pub fn normalize_capability(name: &str) -> Result<String, SpecError> {
    let upper = name.to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SpecError::UnknownCapability(full))
    }
}

/// The capability set for the options (Docker's `TweakCapabilities`), intersected with the host
/// bounding set for privileged and `ALL`; the names removed by the intersection are returned too.
pub fn capabilities(opts: &SpecOptions) -> Result<(Vec<String>, Vec<String>), SpecError> {
    let adds = opts
        .cap_add
        .iter()
        .map(|c| normalize_capability(c))
        .collect::<Result<Vec<_>, _>>()?;
    let drops = opts
        .cap_drop
        .iter()
        .map(|c| normalize_capability(c))
        .collect::<Result<Vec<_>, _>>()?;
    let all: Vec<String> = CAPABILITIES.iter().map(|s| s.to_string()).collect();
    let mut caps: Vec<String> = if opts.privileged {
        all
    } else if adds.iter().any(|c| c == "ALL") {
        all.into_iter().filter(|c| !drops.contains(c)).collect()
    } else if drops.iter().any(|c| c == "ALL") {
        adds
    } else {
        let mut caps: Vec<String> = DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drops.contains(c))
            .collect();
        for c in adds {
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
        caps
    };
    let mut missing = Vec::new();
    if let Some(host) = &opts.host_bounding_set {
        caps.retain(|c| {
            let keep = host.contains(c);
            if !keep {
                missing.push(c.clone());
            }
            keep
        });
    }
    Ok((caps, missing))
}

fn ns(typ: &str) -> Namespace {
    Namespace {
        typ: typ.to_string(),
        path: None,
    }
}

fn dev_rule(
    allow: bool,
    typ: &str,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> DeviceCgroup {
    DeviceCgroup {
        allow,
        typ: Some(typ.to_string()),
        major,
        minor,
        access: Some(access.to_string()),
    }
}

/// Docker's device cgroup rules: deny everything, then allow mknod of any node and the usual
/// character devices (null, zero, full, random, urandom, tty, console, ptmx, ptys, tun).
/// (Docker's extra `deny c 10:229` for fuse is left out: deny-all already covers it, and runc's
/// v1 device emulator rejects a deny that punches a hole in the `c *:* m` wildcard.)
pub fn default_device_rules() -> Vec<DeviceCgroup> {
    vec![
        DeviceCgroup {
            allow: false,
            typ: None,
            major: None,
            minor: None,
            access: Some("rwm".into()),
        },
        dev_rule(true, "c", None, None, "m"),
        dev_rule(true, "b", None, None, "m"),
        dev_rule(true, "c", Some(1), Some(3), "rwm"),
        dev_rule(true, "c", Some(1), Some(5), "rwm"),
        dev_rule(true, "c", Some(1), Some(7), "rwm"),
        dev_rule(true, "c", Some(1), Some(8), "rwm"),
        dev_rule(true, "c", Some(1), Some(9), "rwm"),
        dev_rule(true, "c", Some(5), Some(0), "rwm"),
        dev_rule(true, "c", Some(5), Some(1), "rwm"),
        dev_rule(true, "c", Some(5), Some(2), "rwm"),
        dev_rule(true, "c", Some(136), None, "rwm"),
        dev_rule(true, "c", Some(10), Some(200), "rwm"),
    ]
}

/// The device nodes every container's `/dev` gets.
pub fn default_devices() -> Vec<Device> {
    let d = |path: &str, major, minor| Device {
        path: path.to_string(),
        typ: "c".to_string(),
        major,
        minor,
        file_mode: Some(0o666),
        uid: Some(0),
        gid: Some(0),
    };
    vec![
        d("/dev/null", 1, 3),
        d("/dev/zero", 1, 5),
        d("/dev/full", 1, 7),
        d("/dev/random", 1, 8),
        d("/dev/urandom", 1, 9),
        d("/dev/tty", 5, 0),
    ]
}

/// Docker's default mounts; `privileged` makes `/sys` and `/sys/fs/cgroup` writable.
pub fn default_mounts(privileged: bool) -> Vec<Mount> {
    let sys_mode = if privileged { "rw" } else { "ro" };
    vec![
        Mount::new("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        Mount::new(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        Mount::new(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        Mount::new(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_mode],
        ),
        Mount::new(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &[sys_mode, "nosuid", "noexec", "nodev"],
        ),
        Mount::new(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        Mount::new(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
    ]
}

/// Builds the Docker-equivalent spec for `opts`.
pub fn docker_spec(opts: &SpecOptions) -> Result<BuiltSpec, SpecError> {
    if opts.args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    let mut warnings = Vec::new();
    let (caps, missing) = capabilities(opts)?;
    if !missing.is_empty() {
        warnings.push(format!(
            "capabilities not in the host's bounding set were left out: {}",
            missing.join(", ")
        ));
    }

    let mut env = opts.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH_ENV.to_string());
    }
    let process = Process {
        terminal: opts.terminal,
        console_size: opts
            .console_size
            .map(|(height, width)| ConsoleSize { height, width }),
        user: User {
            uid: opts.uid,
            gid: opts.gid,
            additional_gids: opts.additional_gids.clone(),
            umask: None,
        },
        args: opts.args.clone(),
        env,
        cwd: if opts.cwd.is_empty() {
            "/".to_string()
        } else {
            opts.cwd.clone()
        },
        capabilities: Some(Capabilities {
            bounding: caps.clone(),
            effective: caps.clone(),
            inheritable: Vec::new(),
            permitted: caps.clone(),
            ambient: Vec::new(),
        }),
        rlimits: opts.rlimits.clone(),
        no_new_privileges: opts.no_new_privileges,
        oom_score_adj: opts.oom_score_adj,
    };

    let mut namespaces = vec![ns("pid"), ns("mount"), ns("uts"), ns("ipc")];
    match &opts.network {
        NetworkChoice::Host => {}
        NetworkChoice::New | NetworkChoice::None => namespaces.push(ns("network")),
        NetworkChoice::Join(path) => namespaces.push(Namespace {
            typ: "network".to_string(),
            path: Some(path.clone()),
        }),
    }
    namespaces.push(ns("cgroup"));

    let seccomp = if opts.privileged {
        None
    } else {
        let json = match &opts.seccomp {
            SeccompChoice::Unconfined => None,
            SeccompChoice::Default => Some(DEFAULT_PROFILE_JSON),
            SeccompChoice::Profile(p) => Some(p.as_str()),
        };
        match json {
            None => None,
            Some(json) => {
                let profile = seccomp_profile::parse_profile(json).map_err(SpecError::Seccomp)?;
                seccomp_profile::to_linux_seccomp(&profile, &caps, opts.kernel_version)
                    .map_err(SpecError::Seccomp)?
            }
        }
    };

    let device_rules = if opts.privileged {
        vec![DeviceCgroup {
            allow: true,
            typ: None,
            major: None,
            minor: None,
            access: Some("rwm".into()),
        }]
    } else {
        default_device_rules()
    };
    let resources = Resources {
        devices: device_rules,
        memory: (opts.memory.is_some()
            || opts.memory_swap.is_some()
            || opts.memory_reservation.is_some())
        .then_some(MemoryResources {
            limit: opts.memory,
            swap: opts.memory_swap,
            reservation: opts.memory_reservation,
        }),
        cpu: (opts.cpu_shares.is_some()
            || opts.cpu_quota.is_some()
            || opts.cpu_period.is_some()
            || opts.cpuset_cpus.is_some()
            || opts.cpuset_mems.is_some())
        .then(|| CpuResources {
            shares: opts.cpu_shares,
            quota: opts.cpu_quota,
            period: opts.cpu_period,
            cpus: opts.cpuset_cpus.clone(),
            mems: opts.cpuset_mems.clone(),
        }),
        pids: opts.pids_limit.map(|limit| PidsResources { limit }),
        hugepage_limits: Vec::new(),
    };

    let (masked, readonly) = if opts.privileged {
        (Vec::new(), Vec::new())
    } else {
        (
            MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
            READONLY_PATHS.iter().map(|s| s.to_string()).collect(),
        )
    };

    let mut mounts = default_mounts(opts.privileged);
    mounts.extend(opts.extra_mounts.iter().cloned());

    let mut annotations = opts.annotations.clone();
    if opts.init {
        annotations.insert(ANNOTATION_INIT.to_string(), "true".to_string());
    }

    let spec = Spec {
        oci_version: OCI_VERSION.to_string(),
        process: Some(process),
        root: Some(Root {
            path: opts.root_path.clone(),
            readonly: opts.readonly_rootfs,
        }),
        hostname: (!opts.hostname.is_empty()).then(|| opts.hostname.clone()),
        mounts,
        linux: Some(Linux {
            namespaces,
            resources: Some(resources),
            cgroups_path: (!opts.cgroups_path.is_empty()).then(|| opts.cgroups_path.clone()),
            seccomp,
            masked_paths: masked,
            readonly_paths: readonly,
            devices: default_devices(),
            sysctl: opts.sysctls.clone(),
            ..Default::default()
        }),
        annotations,
    };
    Ok(BuiltSpec { spec, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SpecOptions {
        SpecOptions {
            root_path: "rootfs".into(),
            args: vec!["sh".into()],
            ..Default::default()
        }
    }

    fn caps_of(spec: &Spec) -> Vec<String> {
        spec.process
            .as_ref()
            .unwrap()
            .capabilities
            .as_ref()
            .unwrap()
            .bounding
            .clone()
    }

    #[test]
    fn default_spec_has_docker_caps_namespaces_and_paths() {
        let built = docker_spec(&opts()).unwrap();
        let spec = built.spec;
        assert_eq!(
            caps_of(&spec),
            DEFAULT_CAPABILITIES.map(String::from).to_vec()
        );
        let linux = spec.linux.as_ref().unwrap();
        let types: Vec<&str> = linux.namespaces.iter().map(|n| n.typ.as_str()).collect();
        assert_eq!(types, ["pid", "mount", "uts", "ipc", "network", "cgroup"]);
        assert!(linux.masked_paths.iter().any(|p| p == "/proc/kcore"));
        assert!(linux.readonly_paths.iter().any(|p| p == "/proc/sys"));
        assert_eq!(
            linux.seccomp.as_ref().unwrap().default_action,
            "SCMP_ACT_ERRNO"
        );
        let sys = spec
            .mounts
            .iter()
            .find(|m| m.destination == "/sys")
            .unwrap();
        assert!(sys.options.contains(&"ro".to_string()));
        assert_eq!(spec.process.as_ref().unwrap().env[0], DEFAULT_PATH_ENV);
        assert_eq!(spec.process.as_ref().unwrap().cwd, "/");
        assert!(built.warnings.is_empty());
        // Valid JSON for runc: no nulls.
        assert!(!spec.to_json().contains(": null"));
    }

    #[test]
    fn cap_add_drop_and_all() {
        let mut o = opts();
        o.cap_add = vec!["sys_admin".into(), "CAP_NET_ADMIN".into()];
        o.cap_drop = vec!["chown".into(), "Cap_Kill".into()];
        let caps = caps_of(&docker_spec(&o).unwrap().spec);
        assert!(
            caps.contains(&"CAP_SYS_ADMIN".to_string())
                && caps.contains(&"CAP_NET_ADMIN".to_string())
        );
        assert!(
            !caps.contains(&"CAP_CHOWN".to_string()) && !caps.contains(&"CAP_KILL".to_string())
        );
        assert_eq!(caps.len(), 14);

        let mut o = opts();
        o.cap_drop = vec!["ALL".into()];
        o.cap_add = vec!["net_raw".into()];
        assert_eq!(caps_of(&docker_spec(&o).unwrap().spec), ["CAP_NET_RAW"]);

        let mut o = opts();
        o.cap_add = vec!["all".into()];
        o.cap_drop = vec!["mknod".into()];
        let caps = caps_of(&docker_spec(&o).unwrap().spec);
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains(&"CAP_MKNOD".to_string()));
    }

    #[test]
    fn privileged_is_intersected_with_host_bounding_set() {
        let mut o = opts();
        o.privileged = true;
        o.host_bounding_set = Some(
            CAPABILITIES
                .iter()
                .filter(|c| **c != "CAP_SYS_RESOURCE")
                .map(|c| c.to_string())
                .collect(),
        );
        let built = docker_spec(&o).unwrap();
        let caps = caps_of(&built.spec);
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains(&"CAP_SYS_RESOURCE".to_string()));
        assert_eq!(built.warnings.len(), 1);
        assert!(built.warnings[0].contains("CAP_SYS_RESOURCE"));
        let linux = built.spec.linux.as_ref().unwrap();
        assert!(
            linux.seccomp.is_none()
                && linux.masked_paths.is_empty()
                && linux.readonly_paths.is_empty()
        );
        let sys = built
            .spec
            .mounts
            .iter()
            .find(|m| m.destination == "/sys")
            .unwrap();
        assert!(sys.options.contains(&"rw".to_string()));
    }

    #[test]
    fn bad_capability_name_is_an_invalid_argument() {
        let mut o = opts();
        o.cap_add = vec!["NOPE".into()];
        let err = docker_spec(&o).unwrap_err();
        assert_eq!(err.to_string(), r#"unknown capability: "CAP_NOPE""#);
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
    }

    #[test]
    fn seccomp_choices_and_host_network() {
        let mut o = opts();
        o.seccomp = SeccompChoice::Unconfined;
        o.network = NetworkChoice::Host;
        o.init = true;
        let spec = docker_spec(&o).unwrap().spec;
        let linux = spec.linux.as_ref().unwrap();
        assert!(linux.seccomp.is_none());
        assert!(!linux.namespaces.iter().any(|n| n.typ == "network"));
        assert_eq!(
            spec.annotations.get(ANNOTATION_INIT).map(String::as_str),
            Some("true")
        );

        let mut o = opts();
        o.seccomp = SeccompChoice::Profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#.into());
        let s = docker_spec(&o)
            .unwrap()
            .spec
            .linux
            .unwrap()
            .seccomp
            .unwrap();
        assert_eq!(s.syscalls[0].names, ["mkdir"]);
        o.seccomp = SeccompChoice::Profile("nope".into());
        assert!(matches!(docker_spec(&o), Err(SpecError::Seccomp(_))));
    }
}
