//! Turning a bundle's spec into a [`ChildPlan`]: every path, string, flag and BPF instruction
//! the container init needs, prepared before the clone so the child never allocates.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use api::oci::{Mount, Spec};

use crate::cgroup::{Cgroup, Layout};
use crate::rootfs_path::secure_join;
use crate::seccomp::SockFilter;
use crate::RuntimeError;

/// One filesystem step of the init. The parent keeps its own copy of the plan and describes a
/// failed step (by index) in the error it returns.
#[derive(Debug)]
pub enum Op {
    /// mkdir, EEXIST ignored.
    Mkdir(CString),
    /// Create an empty file, EEXIST ignored.
    Touch(CString),
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    Mknod {
        path: CString,
        mode: u32,
        dev: u64,
        uid: u32,
        gid: u32,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    /// Bind /dev/null over a file, or a read-only tmpfs over a directory; missing paths skipped.
    Mask(CString),
    /// Bind a path onto itself read-only; missing paths skipped.
    Readonly(CString),
    WriteFile {
        path: CString,
        data: CString,
    },
}

impl Op {
    pub fn describe(&self) -> String {
        let s = |c: &CString| c.to_string_lossy().into_owned();
        match self {
            Op::Mkdir(p) => format!("mkdir {}", s(p)),
            Op::Touch(p) => format!("create {}", s(p)),
            Op::Mount {
                source,
                target,
                fstype,
                ..
            } => format!(
                "mount {} on {} (type {})",
                source.as_ref().map(s).unwrap_or_default(),
                s(target),
                fstype.as_ref().map(s).unwrap_or_else(|| "none".into())
            ),
            Op::Mknod { path, .. } => format!("mknod {}", s(path)),
            Op::Symlink { link, .. } => format!("symlink {}", s(link)),
            Op::Mask(p) => format!("mask {}", s(p)),
            Op::Readonly(p) => format!("make {} read-only", s(p)),
            Op::WriteFile { path, .. } => format!("write {}", s(path)),
        }
    }
}

/// Everything the init does, in data.
pub struct ChildPlan {
    pub clone_flags: u64,
    pub unshare_cgroupns: bool,
    pub join_ns: Vec<(RawFd, i32)>,
    pub go_read: RawFd,
    pub err_write: RawFd,
    pub fifo_fd: RawFd,
    pub fifo_proc_path: CString,
    pub stdio: Option<[RawFd; 3]>,
    pub console_sock: Option<RawFd>,
    pub console_size: Option<(u16, u16)>,
    pub lo_up: bool,
    pub root_propagation: libc::c_ulong,
    pub rootfs: CString,
    pub pre_pivot: Vec<Op>,
    pub post_pivot: Vec<Op>,
    pub readonly_root: bool,
    pub hostname: Option<CString>,
    pub rlimits: Vec<(u32, u64, u64)>,
    pub umask: Option<u32>,
    pub cwd: CString,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
    pub last_cap: u32,
    pub cap_bounding: u64,
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub cap_inheritable: u64,
    pub cap_ambient: Vec<u32>,
    pub no_new_privileges: bool,
    pub seccomp: Option<(Vec<SockFilter>, u32)>,
    /// Candidate paths for `argv[0]`, in PATH order (one entry when `argv[0]` has a `/`).
    pub exec_candidates: Vec<CString>,
    pub exec_has_slash: bool,
    /// Owns the strings `argv_ptrs` points into.
    #[allow(dead_code)]
    pub argv: Vec<CString>,
    pub argv_ptrs: Vec<*const libc::c_char>,
    /// Owns the strings `envp_ptrs` points into.
    #[allow(dead_code)]
    pub envp: Vec<CString>,
    pub envp_ptrs: Vec<*const libc::c_char>,
    pub init: bool,
}

pub fn cstr(s: &str) -> Result<CString, RuntimeError> {
    CString::new(s).map_err(|_| RuntimeError::InvalidBundle {
        path: PathBuf::new(),
        reason: format!("string contains NUL: {s:?}"),
    })
}

fn cpath(p: &Path) -> Result<CString, RuntimeError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| RuntimeError::InvalidBundle {
        path: p.to_path_buf(),
        reason: "path contains NUL".into(),
    })
}

/// Mount flags, propagation flags and the fs-specific data string of a mount's options.
pub fn parse_mount_options(options: &[String]) -> (libc::c_ulong, libc::c_ulong, String) {
    api::mount::parse_options(options.iter().map(String::as_str))
}

/// mkdir ops for `path` and each missing ancestor below `root` (host paths).
fn mkdirs(root: &Path, path: &Path, ops: &mut Vec<Op>) -> Result<(), RuntimeError> {
    let mut missing = Vec::new();
    let mut cur = path.to_path_buf();
    while cur.starts_with(root) && cur != root && std::fs::symlink_metadata(&cur).is_err() {
        missing.push(cur.clone());
        if !cur.pop() {
            break;
        }
    }
    for p in missing.into_iter().rev() {
        ops.push(Op::Mkdir(cpath(&p)?));
    }
    Ok(())
}

/// Paths inside the container created by earlier ops (e.g. `/dev` on a tmpfs) do not exist on
/// the host yet; mkdir of each ancestor is then emitted unconditionally below `under`.
fn mkdirs_all(
    root: &Path,
    path: &Path,
    ops: &mut Vec<Op>,
    fresh: &[PathBuf],
) -> Result<(), RuntimeError> {
    if fresh.iter().any(|f| path.starts_with(f) && path != f) {
        let mut chain = Vec::new();
        let mut cur = path.to_path_buf();
        while cur != root && !fresh.contains(&cur) {
            chain.push(cur.clone());
            if !cur.pop() {
                break;
            }
        }
        for p in chain.into_iter().rev() {
            ops.push(Op::Mkdir(cpath(&p)?));
        }
        Ok(())
    } else {
        mkdirs(root, path, ops)
    }
}

/// Inputs to [`build`] besides the spec.
pub struct PlanInputs<'a> {
    pub bundle: &'a Path,
    pub cgroup: &'a Cgroup,
    pub go_read: RawFd,
    pub err_write: RawFd,
    pub fifo_fd: RawFd,
    pub stdio: Option<[RawFd; 3]>,
    pub console_sock: Option<RawFd>,
    pub join_ns: Vec<(RawFd, i32)>,
    pub seccomp: Option<(Vec<SockFilter>, u32)>,
}

fn cap_mask(names: &[String]) -> Result<u64, RuntimeError> {
    let mut m = 0u64;
    for n in names {
        let Some(i) = api::oci::defaults::CAPABILITIES.iter().position(|c| c == n) else {
            return Err(RuntimeError::InvalidBundle {
                path: PathBuf::new(),
                reason: format!("unknown capability {n:?}"),
            });
        };
        m |= 1 << i;
    }
    Ok(m)
}

fn rlimit_resource(name: &str) -> Option<u32> {
    let names = [
        "RLIMIT_CPU",
        "RLIMIT_FSIZE",
        "RLIMIT_DATA",
        "RLIMIT_STACK",
        "RLIMIT_CORE",
        "RLIMIT_RSS",
        "RLIMIT_NPROC",
        "RLIMIT_NOFILE",
        "RLIMIT_MEMLOCK",
        "RLIMIT_AS",
        "RLIMIT_LOCKS",
        "RLIMIT_SIGPENDING",
        "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE",
        "RLIMIT_RTPRIO",
        "RLIMIT_RTTIME",
    ];
    names.iter().position(|n| *n == name).map(|i| i as u32)
}

fn mount_ops(
    m: &Mount,
    rootfs: &Path,
    bundle: &Path,
    cgroup: &Cgroup,
    ops: &mut Vec<Op>,
    fresh: &mut Vec<PathBuf>,
) -> Result<(), RuntimeError> {
    let target = secure_join(rootfs, &m.destination);
    let typ = m.typ.as_deref().unwrap_or("");
    let (flags, prop, data) = parse_mount_options(&m.options);
    let is_bind = flags & libc::MS_BIND != 0 || typ == "bind";
    let data_c = if data.is_empty() {
        None
    } else {
        Some(cstr(&data)?)
    };
    if is_bind {
        let src = m.source.as_deref().unwrap_or("");
        let src_path = if Path::new(src).is_absolute() {
            PathBuf::from(src)
        } else {
            bundle.join(src)
        };
        let meta = std::fs::metadata(&src_path).map_err(|e| RuntimeError::InvalidBundle {
            path: src_path.clone(),
            reason: format!("bind mount source for {}: {e}", m.destination),
        })?;
        if meta.is_dir() {
            mkdirs_all(rootfs, &target, ops, fresh)?;
        } else {
            if let Some(parent) = target.parent() {
                mkdirs_all(rootfs, parent, ops, fresh)?;
            }
            ops.push(Op::Touch(cpath(&target)?));
        }
        let t = cpath(&target)?;
        ops.push(Op::Mount {
            source: Some(cpath(&src_path)?),
            target: t.clone(),
            fstype: None,
            flags: libc::MS_BIND | (flags & libc::MS_REC),
            data: None,
        });
        let extra = flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
        if extra != 0 {
            ops.push(Op::Mount {
                source: None,
                target: t.clone(),
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REMOUNT | extra,
                data: None,
            });
        }
        if prop != 0 {
            ops.push(Op::Mount {
                source: None,
                target: t,
                fstype: None,
                flags: prop,
                data: None,
            });
        }
        return Ok(());
    }
    mkdirs_all(rootfs, &target, ops, fresh)?;
    let t = cpath(&target)?;
    if typ == "cgroup" || typ == "cgroup2" {
        match Layout::detect() {
            Layout::V2(_) => ops.push(Op::Mount {
                source: Some(cstr("cgroup2")?),
                target: t,
                fstype: Some(cstr("cgroup2")?),
                flags,
                data: None,
            }),
            Layout::V1(_) => {
                // A tmpfs with one read-only bind of the container's own cgroup per hierarchy.
                let base = flags & !libc::MS_RDONLY;
                ops.push(Op::Mount {
                    source: Some(cstr("tmpfs")?),
                    target: t.clone(),
                    fstype: Some(cstr("tmpfs")?),
                    flags: base,
                    data: Some(cstr("mode=755")?),
                });
                for dir in cgroup.dirs() {
                    let hier_root = dir
                        .ancestors()
                        .find(|a| a.parent() == Some(Path::new("/sys/fs/cgroup")));
                    let Some(name) = hier_root.and_then(|h| h.file_name()) else {
                        continue;
                    };
                    let sub = target.join(name);
                    let s = cpath(&sub)?;
                    ops.push(Op::Mkdir(s.clone()));
                    ops.push(Op::Mount {
                        source: Some(cpath(dir)?),
                        target: s.clone(),
                        fstype: None,
                        flags: libc::MS_BIND | libc::MS_REC,
                        data: None,
                    });
                    ops.push(Op::Mount {
                        source: None,
                        target: s,
                        fstype: None,
                        flags: libc::MS_BIND
                            | libc::MS_REMOUNT
                            | flags
                            | libc::MS_NOSUID
                            | libc::MS_NODEV
                            | libc::MS_NOEXEC,
                        data: None,
                    });
                }
                if flags & libc::MS_RDONLY != 0 {
                    ops.push(Op::Mount {
                        source: None,
                        target: t,
                        fstype: None,
                        flags: libc::MS_REMOUNT | base | libc::MS_RDONLY,
                        data: Some(cstr("mode=755")?),
                    });
                }
            }
        }
        return Ok(());
    }
    ops.push(Op::Mount {
        source: Some(cstr(m.source.as_deref().unwrap_or(typ))?),
        target: t,
        fstype: Some(cstr(typ)?),
        flags: flags & !libc::MS_REMOUNT,
        data: data_c,
    });
    if prop != 0 {
        ops.push(Op::Mount {
            source: None,
            target: cpath(&target)?,
            fstype: None,
            flags: prop,
            data: None,
        });
    }
    if matches!(typ, "tmpfs" | "devpts" | "mqueue" | "proc" | "sysfs") {
        fresh.push(target);
    }
    Ok(())
}

/// Builds the plan. `rootfs` is the absolute host path of the root filesystem.
pub fn build(spec: &Spec, rootfs: &Path, inp: PlanInputs<'_>) -> Result<ChildPlan, RuntimeError> {
    let invalid = |reason: String| RuntimeError::InvalidBundle {
        path: inp.bundle.to_path_buf(),
        reason,
    };
    let process = spec
        .process
        .as_ref()
        .ok_or_else(|| invalid("no process in config.json".into()))?;
    if process.args.is_empty() {
        return Err(invalid("process.args is empty".into()));
    }
    let linux = spec.linux.clone().unwrap_or_default();

    let mut clone_flags = 0u64;
    let mut unshare_cgroupns = false;
    let mut lo_up = false;
    for ns in &linux.namespaces {
        let flag = match ns.typ.as_str() {
            "pid" => libc::CLONE_NEWPID,
            "mount" => libc::CLONE_NEWNS,
            "uts" => libc::CLONE_NEWUTS,
            "ipc" => libc::CLONE_NEWIPC,
            "network" => libc::CLONE_NEWNET,
            "cgroup" => libc::CLONE_NEWCGROUP,
            "user" => {
                return Err(invalid(
                    "user namespaces are not supported by berth's runtime yet".into(),
                ))
            }
            "time" => continue,
            other => return Err(invalid(format!("unknown namespace type {other:?}"))),
        };
        if ns.path.is_some() {
            continue; // joined by the caller-provided fds in inp.join_ns
        }
        match ns.typ.as_str() {
            "cgroup" => unshare_cgroupns = true,
            "network" => {
                lo_up = true;
                clone_flags |= flag as u64;
            }
            _ => clone_flags |= flag as u64,
        }
    }
    if clone_flags & libc::CLONE_NEWNS as u64 == 0 {
        return Err(invalid("a mount namespace is required".into()));
    }

    // Filesystem steps before pivot_root.
    let mut pre = Vec::new();
    let mut fresh: Vec<PathBuf> = Vec::new();
    let mut dev_is_tmpfs = false;
    let mut has_devpts = false;
    for m in &spec.mounts {
        if m.destination == "/dev" && m.typ.as_deref() == Some("tmpfs") {
            dev_is_tmpfs = true;
        }
        if m.destination == "/dev/pts" {
            has_devpts = true;
        }
        mount_ops(m, rootfs, inp.bundle, inp.cgroup, &mut pre, &mut fresh)?;
    }
    // Device nodes: the spec's plus runc's defaults.
    let mut devices = linux.devices.clone();
    for d in api::oci::defaults::default_devices() {
        if !devices.iter().any(|x| x.path == d.path) {
            devices.push(d);
        }
    }
    for d in &devices {
        let kind = match d.typ.as_str() {
            "c" | "u" => libc::S_IFCHR,
            "b" => libc::S_IFBLK,
            "p" => libc::S_IFIFO,
            other => return Err(invalid(format!("unknown device type {other:?}"))),
        };
        let path = secure_join(rootfs, &d.path);
        if let Some(parent) = path.parent() {
            mkdirs_all(rootfs, parent, &mut pre, &fresh)?;
        }
        pre.push(Op::Mknod {
            path: cpath(&path)?,
            mode: kind | d.file_mode.unwrap_or(0o666),
            dev: libc::makedev(d.major as u32, d.minor as u32),
            uid: d.uid.unwrap_or(0),
            gid: d.gid.unwrap_or(0),
        });
    }
    if dev_is_tmpfs {
        let dev = rootfs.join("dev");
        let mut links = vec![
            ("/proc/self/fd", "fd"),
            ("/proc/self/fd/0", "stdin"),
            ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr"),
        ];
        if has_devpts {
            links.push(("pts/ptmx", "ptmx"));
        }
        for (target, name) in links {
            pre.push(Op::Symlink {
                target: cstr(target)?,
                link: cpath(&dev.join(name))?,
            });
        }
    }

    // After pivot_root: container paths.
    let mut post = Vec::new();
    for (k, v) in &linux.sysctl {
        post.push(Op::WriteFile {
            path: cstr(&format!("/proc/sys/{}", k.replace('.', "/")))?,
            data: cstr(v)?,
        });
    }
    if let Some(adj) = process.oom_score_adj {
        post.push(Op::WriteFile {
            path: cstr("/proc/self/oom_score_adj")?,
            data: cstr(&adj.to_string())?,
        });
    }
    for p in &linux.masked_paths {
        post.push(Op::Mask(cstr(p)?));
    }
    for p in &linux.readonly_paths {
        post.push(Op::Readonly(cstr(p)?));
    }
    // cwd: created (as root) when missing.
    let cwd = if process.cwd.is_empty() {
        "/".to_string()
    } else {
        process.cwd.clone()
    };
    {
        let mut acc = PathBuf::from("/");
        let host = secure_join(rootfs, &cwd);
        if std::fs::symlink_metadata(&host).is_err() {
            for c in Path::new(&cwd).components().skip(1) {
                acc.push(c);
                post.push(Op::Mkdir(cpath(&acc)?));
            }
        }
    }

    let root_propagation = match linux.rootfs_propagation.as_deref() {
        None | Some("") => libc::MS_SLAVE | libc::MS_REC,
        Some(p) => {
            let (_, prop, _) = parse_mount_options(&[p.to_string()]);
            if prop == 0 {
                return Err(invalid(format!("invalid rootfsPropagation {p:?}")));
            }
            prop
        }
    };

    // runc gives a process without HOME its user's home from the image's passwd.
    let mut process = process.clone();
    crate::user::add_home(&mut process.env, rootfs, process.user.uid);
    let pp = process_parts(&process, &invalid)?;
    Ok(ChildPlan {
        clone_flags,
        unshare_cgroupns,
        join_ns: inp.join_ns,
        go_read: inp.go_read,
        err_write: inp.err_write,
        fifo_fd: inp.fifo_fd,
        fifo_proc_path: cstr(&format!("/proc/self/fd/{}", inp.fifo_fd))?,
        stdio: inp.stdio,
        console_sock: inp.console_sock,
        console_size: process
            .console_size
            .map(|c| (c.height as u16, c.width as u16)),
        lo_up,
        root_propagation,
        rootfs: cpath(rootfs)?,
        pre_pivot: pre,
        post_pivot: post,
        readonly_root: spec.root.as_ref().is_some_and(|r| r.readonly),
        hostname: spec
            .hostname
            .as_deref()
            .filter(|h| !h.is_empty())
            .map(cstr)
            .transpose()?,
        rlimits: pp.rlimits,
        umask: process.user.umask,
        cwd: cstr(&cwd)?,
        uid: process.user.uid,
        gid: process.user.gid,
        groups: process.user.additional_gids.clone(),
        last_cap: pp.last_cap,
        cap_bounding: pp.cap_bounding,
        cap_effective: pp.cap_effective,
        cap_permitted: pp.cap_permitted,
        cap_inheritable: pp.cap_inheritable,
        cap_ambient: pp.cap_ambient,
        no_new_privileges: process.no_new_privileges,
        seccomp: inp.seccomp,
        exec_candidates: pp.exec_candidates,
        exec_has_slash: pp.exec_has_slash,
        argv: pp.argv,
        argv_ptrs: pp.argv_ptrs,
        envp: pp.envp,
        envp_ptrs: pp.envp_ptrs,
        init: spec
            .annotations
            .get(api::oci::ANNOTATION_INIT)
            .is_some_and(|v| v == "true"),
    })
}

/// What a plan takes from `process`: limits, capabilities and the exec arguments.
struct ProcessParts {
    rlimits: Vec<(u32, u64, u64)>,
    last_cap: u32,
    cap_bounding: u64,
    cap_effective: u64,
    cap_permitted: u64,
    cap_inheritable: u64,
    cap_ambient: Vec<u32>,
    exec_candidates: Vec<CString>,
    exec_has_slash: bool,
    argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp: Vec<CString>,
    envp_ptrs: Vec<*const libc::c_char>,
}

fn process_parts(
    process: &api::oci::Process,
    invalid: &dyn Fn(String) -> RuntimeError,
) -> Result<ProcessParts, RuntimeError> {
    let caps = process.capabilities.clone().unwrap_or_default();
    let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40);
    let mut rlimits = Vec::new();
    for r in &process.rlimits {
        let res = rlimit_resource(&r.typ)
            .ok_or_else(|| invalid(format!("unknown rlimit {:?}", r.typ)))?;
        rlimits.push((res, r.soft, r.hard));
    }

    if process.args.is_empty() {
        return Err(invalid("process.args is empty".into()));
    }
    let env: Vec<String> = process.env.clone();
    let arg0 = &process.args[0];
    let exec_has_slash = arg0.contains('/');
    let exec_candidates = if exec_has_slash {
        vec![cstr(arg0)?]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .map(|d| {
                if d.is_empty() {
                    ".".to_string()
                } else {
                    d.to_string()
                }
            })
            .map(|d| cstr(&format!("{d}/{arg0}")))
            .collect::<Result<_, _>>()?
    };
    let argv: Vec<CString> = process
        .args
        .iter()
        .map(|a| cstr(a))
        .collect::<Result<_, _>>()?;
    let envp: Vec<CString> = env.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?;
    let argv_ptrs = argv
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_ptrs = envp
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();

    Ok(ProcessParts {
        rlimits,
        last_cap,
        cap_bounding: cap_mask(&caps.bounding)?,
        cap_effective: cap_mask(&caps.effective)?,
        cap_permitted: cap_mask(&caps.permitted)?,
        cap_inheritable: cap_mask(&caps.inheritable)?,
        cap_ambient: caps
            .ambient
            .iter()
            .filter_map(|n| {
                api::oci::defaults::CAPABILITIES
                    .iter()
                    .position(|c| c == n)
                    .map(|i| i as u32)
            })
            .collect(),
        exec_candidates,
        exec_has_slash,
        argv,
        argv_ptrs,
        envp,
        envp_ptrs,
    })
}

/// Inputs to [`build_exec`].
pub struct ExecInputs {
    pub go_read: RawFd,
    pub err_write: RawFd,
    pub stdio: Option<[RawFd; 3]>,
    pub console_sock: Option<RawFd>,
    /// Namespaces to join (fd, CLONE_NEW* type), mount last.
    pub join_ns: Vec<(RawFd, i32)>,
    pub seccomp: Option<(Vec<SockFilter>, u32)>,
}

/// The plan of a process exec'd into a running container: no clone flags, mounts or pivot;
/// the namespaces are joined, then the same hardening as an init.
pub fn build_exec(process: &api::oci::Process, inp: ExecInputs) -> Result<ChildPlan, RuntimeError> {
    let invalid = |reason: String| RuntimeError::InvalidBundle {
        path: PathBuf::from("process.json"),
        reason,
    };
    let pp = process_parts(process, &invalid)?;
    let mut post = Vec::new();
    if let Some(adj) = process.oom_score_adj {
        post.push(Op::WriteFile {
            path: cstr("/proc/self/oom_score_adj")?,
            data: cstr(&adj.to_string())?,
        });
    }
    let cwd = if process.cwd.is_empty() {
        "/"
    } else {
        process.cwd.as_str()
    };
    Ok(ChildPlan {
        clone_flags: 0,
        unshare_cgroupns: false,
        join_ns: inp.join_ns,
        go_read: inp.go_read,
        err_write: inp.err_write,
        fifo_fd: -1,
        fifo_proc_path: CString::default(),
        stdio: inp.stdio,
        console_sock: inp.console_sock,
        console_size: process
            .console_size
            .map(|c| (c.height as u16, c.width as u16)),
        lo_up: false,
        root_propagation: 0,
        rootfs: CString::default(),
        pre_pivot: Vec::new(),
        post_pivot: post,
        readonly_root: false,
        hostname: None,
        rlimits: pp.rlimits,
        umask: process.user.umask,
        cwd: cstr(cwd)?,
        uid: process.user.uid,
        gid: process.user.gid,
        groups: process.user.additional_gids.clone(),
        last_cap: pp.last_cap,
        cap_bounding: pp.cap_bounding,
        cap_effective: pp.cap_effective,
        cap_permitted: pp.cap_permitted,
        cap_inheritable: pp.cap_inheritable,
        cap_ambient: pp.cap_ambient,
        no_new_privileges: process.no_new_privileges,
        seccomp: inp.seccomp,
        exec_candidates: pp.exec_candidates,
        exec_has_slash: pp.exec_has_slash,
        argv: pp.argv,
        argv_ptrs: pp.argv_ptrs,
        envp: pp.envp,
        envp_ptrs: pp.envp_ptrs,
        init: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_options() {
        let o =
            |v: &[&str]| parse_mount_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (f, p, d) = o(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]);
        assert_eq!(f, libc::MS_NOSUID | libc::MS_NOEXEC);
        assert_eq!(p, 0);
        assert_eq!(d, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        let (f, p, _) = o(&["rbind", "ro", "rprivate"]);
        assert_eq!(f, libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY);
        assert_eq!(p, libc::MS_PRIVATE | libc::MS_REC);
    }
}
