//! `docker cp`: the archive API (`HEAD`, `GET` and `PUT /containers/{id}/archive?path=`).
//!
//! # Where paths are resolved
//!
//! Every path is resolved the way the container sees it, mounts included, by doing the work on
//! a thread of our own whose root *is* the container's root:
//!
//! - a running (or paused) container: the thread leaves the daemon's filesystem context
//!   (`unshare(CLONE_FS)`) and joins the init's mount namespace (`setns`), which makes the
//!   namespace's root (the container's pivoted root) the thread's `/`. Volumes, binds and
//!   tmpfs mounts are there because they are that namespace's mounts;
//! - a created or stopped container: the thread makes a private mount namespace of its own
//!   (`unshare(CLONE_NEWNS)`, everything made a slave so nothing propagates back), mounts the
//!   container's root snapshot at `<root>/containers/<id>/cp-root`, binds its volumes and bind
//!   mounts onto their destinations (as Docker mounts them for `cp`), and `chroot`s there.
//!   When the thread ends its namespace dies, and every mount with it: nothing to clean up,
//!   even after a panic.
//!
//! Inside that root, `..` stops at `/` and absolute symlinks resolve inside the container,
//! so neither the requested path nor a symlink planted by the container can reach the host.
//! Extraction additionally uses `image::unpack_copy`, which refuses `..` in entry names and
//! never walks through a symlink. The thread never shares its filesystem context with tokio
//! threads (DESIGN: per-thread kernel state only on threads we spawn).
//!
//! # Docker's semantics kept
//!
//! - The last component of a path is not followed unless the path ends in `/` or `/.`; a
//!   symlink's `linkTarget` is its full resolution inside the container (the CLI's `-L`).
//! - The stat header is base64 JSON with Go `FileMode` bits.
//! - `PUT` needs an existing directory; without `copyUIDGID` entries keep the tar's owners,
//!   with it they belong to the container's `User` (resolved in the container's
//!   `/etc/passwd` and `/etc/group`; Docker looks in the host's). A read-only root refuses
//!   writes except into a writable volume or bind mount.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::CloneFlags;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::record::Status;
use super::Engine;
use crate::error::EngineError;

/// The stat of a path in a container, as `X-Docker-Container-Path-Stat` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStat {
    /// Base name of the requested path (`/` for the root).
    pub name: String,
    /// `lstat` size.
    pub size: i64,
    /// Go `os.FileMode` bits (directory = `1<<31`, symlink = `1<<27`, ...).
    pub mode: u32,
    /// RFC 3339 modification time with nanoseconds.
    pub mtime: String,
    /// For a symlink: its full resolution inside the container; else empty.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    /// The header value: standard base64 of the JSON.
    pub fn header_value(&self) -> String {
        use base64::Engine as _;
        let json = serde_json::to_vec(self).expect("path stat serialises");
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & GO_MODE_DIR != 0
    }
}

const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;
const GO_MODE_DEVICE: u32 = 1 << 26;
const GO_MODE_PIPE: u32 = 1 << 25;
const GO_MODE_SOCKET: u32 = 1 << 24;
const GO_MODE_SETUID: u32 = 1 << 23;
const GO_MODE_SETGID: u32 = 1 << 22;
const GO_MODE_CHAR: u32 = 1 << 21;
const GO_MODE_STICKY: u32 = 1 << 20;

/// Go's `os.FileMode` for a Unix `st_mode`.
pub fn go_file_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    if st_mode & libc::S_ISUID != 0 {
        m |= GO_MODE_SETUID;
    }
    if st_mode & libc::S_ISGID != 0 {
        m |= GO_MODE_SETGID;
    }
    if st_mode & libc::S_ISVTX != 0 {
        m |= GO_MODE_STICKY;
    }
    m | match st_mode & libc::S_IFMT {
        libc::S_IFDIR => GO_MODE_DIR,
        libc::S_IFLNK => GO_MODE_SYMLINK,
        libc::S_IFIFO => GO_MODE_PIPE,
        libc::S_IFSOCK => GO_MODE_SOCKET,
        libc::S_IFCHR => GO_MODE_DEVICE | GO_MODE_CHAR,
        libc::S_IFBLK => GO_MODE_DEVICE,
        _ => 0,
    }
}

/// What `PUT /containers/{id}/archive` asked for.
#[derive(Debug, Clone, Default)]
pub struct PutArchive {
    /// The directory to extract into.
    pub path: String,
    /// Refuse to replace a directory with a non-directory or the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// Give the entries to the container's `User` (the CLI's `-a`).
    pub copy_uid_gid: bool,
}

/// How the worker thread reaches the container's root.
enum RootAccess {
    /// Join the running init's mount namespace.
    Live { pid: i32 },
    /// Mount the stopped container's snapshot and volumes in a private namespace.
    Stopped {
        mounts: Vec<api::mount::Mount>,
        binds: Vec<Bind>,
        at: PathBuf,
    },
}

/// A volume or bind mount to recreate for a stopped container.
struct Bind {
    source: PathBuf,
    destination: String,
    rw: bool,
}

/// `/`-joined absolute form of a container path; a trailing `/` or `/.` is kept, as Docker's
/// `PreserveTrailingDotOrSeparator` does (both follow the last component; `/.` also names the
/// archive's top entry `.`: "the directory's contents").
fn absolute(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut out = format!("/{}", parts.join("/"));
    if path.ends_with("/.") || path == "." {
        out.push_str(if out == "/" { "." } else { "/." });
    } else if out != "/" && path.ends_with('/') {
        out.push('/');
    }
    out
}

/// Splits an absolute path into its directory (resolved, symlinks followed) and base name
/// (kept as is), then lstat's the result. Runs inside the container's root.
fn resolve(abs: &str) -> io::Result<(PathBuf, fs::Metadata)> {
    let (dir, base) = match abs.rfind('/') {
        Some(i) => (&abs[..=i], &abs[i + 1..]),
        None => ("/", abs),
    };
    let dir = fs::canonicalize(dir)?;
    let resolved = if base.is_empty() || base == "." {
        dir
    } else {
        dir.join(base)
    };
    let md = fs::symlink_metadata(&resolved)?;
    Ok((resolved, md))
}

fn mtime_rfc3339(md: &fs::Metadata) -> String {
    let t = std::time::UNIX_EPOCH
        + std::time::Duration::new(md.mtime().max(0) as u64, md.mtime_nsec().max(0) as u32);
    api::time::rfc3339_nano(t)
}

/// The stat of `abs` inside the current root.
fn stat_in_root(abs: &str) -> io::Result<(PathStat, PathBuf)> {
    let (resolved, md) = resolve(abs)?;
    let link_target = if md.file_type().is_symlink() {
        match fs::canonicalize(&resolved) {
            Ok(p) => p.display().to_string(),
            // A dangling link: its text, made absolute against its directory.
            Err(_) => {
                let t = fs::read_link(&resolved)?;
                let parent = resolved.parent().unwrap_or(Path::new("/"));
                absolute(&parent.join(t).display().to_string())
            }
        }
    } else {
        String::new()
    };
    let trimmed = if abs.ends_with("/.") {
        "."
    } else {
        abs.trim_end_matches('/')
    };
    let name = match trimmed.rsplit('/').next() {
        Some("") | None => "/".to_string(),
        Some(n) => n.to_string(),
    };
    Ok((
        PathStat {
            name,
            size: md.size() as i64,
            mode: go_file_mode(md.mode()),
            mtime: mtime_rfc3339(&md),
            link_target,
        },
        resolved,
    ))
}

/// Writes `resolved` (a directory recursively) as a tar whose top entry is named `name`.
fn tar_in_root(resolved: &Path, name: &str, out: impl Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    append_tree(&mut tar, resolved, Path::new(name))?;
    tar.into_inner()?.flush()
}

fn append_tree<W: Write>(tar: &mut tar::Builder<W>, path: &Path, name: &Path) -> io::Result<()> {
    let md = fs::symlink_metadata(path)?;
    if md.file_type().is_socket() {
        // Sockets have no tar form (Docker skips them too).
        return Ok(());
    }
    // A `/.` copy names its entries `./x`, which the CLI renames by replacing the leading
    // `.`; the tar crate drops `.` components from header names, so a PAX `path` keeps it.
    let bytes = name.as_os_str().as_encoded_bytes();
    if bytes.starts_with(b"./") {
        tar.append_pax_extensions([("path", bytes)])?;
    }
    tar.append_path_with_name(path, name)?;
    if md.is_dir() {
        let mut children: Vec<_> = fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        children.sort();
        for c in children {
            append_tree(tar, &path.join(&c), &name.join(&c))?;
        }
    }
    Ok(())
}

/// `user[:group]` of the container's config resolved in its own `/etc/passwd` and
/// `/etc/group` (inside the current root); numeric parts are taken as they are.
fn lookup_owner(spec: &str) -> io::Result<(u32, u32)> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && (f[0] == user || f[2] == user)).then(|| (f[2].parse(), f[3].parse()))
    });
    let (uid, mut gid) = match (entry, user.parse::<u32>()) {
        (Some((Ok(u), Ok(g))), _) => (u, g),
        (_, Ok(u)) => (u, 0),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("unable to find user {user}: no matching entries in passwd file"),
            ))
        }
    };
    if let Some(g) = group {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => fs::read_to_string("/etc/group")
                .unwrap_or_default()
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 3 && f[0] == g)
                        .then(|| f[2].parse().ok())
                        .flatten()
                })
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("unable to find group {g}: no matching entries in group file"),
                    )
                })?,
        };
    }
    Ok((uid, gid))
}

/// Moves the calling thread into the container's root. Only for a thread spawned for this.
fn enter(access: &RootAccess) -> io::Result<()> {
    match access {
        RootAccess::Live { pid } => {
            let ns = fs::File::open(format!("/proc/{pid}/ns/mnt"))?;
            nix::sched::unshare(CloneFlags::CLONE_FS)?;
            nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNS)?;
            std::env::set_current_dir("/")
        }
        RootAccess::Stopped { mounts, binds, at } => {
            nix::sched::unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_SLAVE,
                None::<&str>,
            )?;
            // The namespace dies with this thread and takes the mounts along.
            snapshot::mount::mount_all(mounts, at)?.keep();
            for b in binds {
                let Some(target) = mount_target(at, &b.destination)? else {
                    tracing::warn!(destination = %b.destination, "not mounting a volume whose path goes through a symlink");
                    continue;
                };
                if fs::metadata(&b.source)
                    .map(|m| !m.is_dir())
                    .unwrap_or(false)
                    && !target.exists()
                {
                    fs::File::create(&target)?;
                } else if !target.exists() {
                    fs::create_dir(&target)?;
                }
                mount(
                    Some(&b.source),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )?;
                if !b.rw {
                    mount(
                        None::<&str>,
                        &target,
                        None::<&str>,
                        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                        None::<&str>,
                    )?;
                }
            }
            nix::unistd::chroot(at.as_path())?;
            std::env::set_current_dir("/")
        }
    }
}

/// Where a mount destination lies under `root`, walking without following symlinks and
/// creating missing parents; `None` when a component is a symlink.
fn mount_target(root: &Path, destination: &str) -> io::Result<Option<PathBuf>> {
    let comps: Vec<&str> = destination
        .split('/')
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
        .collect();
    let mut p = root.to_path_buf();
    for (i, c) in comps.iter().enumerate() {
        p.push(c);
        match fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound && i + 1 < comps.len() => {
                fs::create_dir(&p)?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(p))
}

/// Sends what the worker writes to the response, in 256 KiB chunks.
struct ChunkWriter {
    tx: mpsc::Sender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 256 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// A tar stream of a path in a container: its stat, then the tar's chunks.
pub type ArchiveStream = (PathStat, mpsc::Receiver<io::Result<Vec<u8>>>);

impl Engine {
    /// How to reach the container's root now.
    fn root_access(&self, c: &super::Container) -> Result<RootAccess, EngineError> {
        let rec = c.record();
        if rec.state.status.is_running() && rec.state.pid > 0 {
            return Ok(RootAccess::Live { pid: rec.state.pid });
        }
        if rec.state.status == Status::Removing || rec.state.status == Status::Dead {
            return Err(EngineError::Conflict(format!(
                "container {} is marked for removal and cannot be copied from or to",
                rec.name
            )));
        }
        let mounts = self.images.rootfs_mounts(c.id.as_str())?;
        let binds = rec
            .mount_points
            .iter()
            .filter(|m| m.kind != "tmpfs")
            .map(|m| Bind {
                source: if m.kind == "volume" {
                    self.volumes.data_path(&m.source)
                } else {
                    PathBuf::from(&m.source)
                },
                destination: m.destination.clone(),
                rw: m.rw,
            })
            .collect::<Vec<_>>();
        let mut binds = binds;
        binds.sort_by_key(|b| b.destination.matches('/').count());
        let at = self.paths.data_dir(c.id.as_str()).join("cp-root");
        fs::create_dir_all(&at).map_err(EngineError::io(format!("create {}", at.display())))?;
        Ok(RootAccess::Stopped { mounts, binds, at })
    }

    /// Runs `work` on a new thread inside the container's root.
    fn in_container_root<T: Send + 'static>(
        &self,
        name: &str,
        work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T, EngineError>>, EngineError> {
        let c = self.get(name)?;
        let access = self.root_access(&c)?;
        // A stopped container's volumes with driver options are mounted while its namespace
        // is made (it keeps its own copy of the mounts), as dockerd mounts them for a copy.
        let points = c.record().mount_points;
        let holder = matches!(access, RootAccess::Stopped { .. })
            .then(|| format!("cp-{}", crate::names::random_hex(16)));
        if let Some(h) = &holder {
            self.mount_volumes(h, &points)?;
        }
        let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
        let (tx, rx) = oneshot::channel();
        let id = c.id.to_string();
        let spawned = std::thread::Builder::new()
            .name("berth-cp".into())
            .spawn(move || {
                let entered = enter(&access);
                drop(entered_tx);
                let r = match entered {
                    Ok(()) => work(),
                    Err(e) => Err(EngineError::Io {
                        what: format!("enter the filesystem of container {id}"),
                        source: e,
                    }),
                };
                let _ = tx.send(r);
            })
            .map_err(EngineError::io("spawn a thread"));
        if let Some(h) = &holder {
            if spawned.is_ok() {
                // Disconnected once the thread is in its namespace (or gone).
                let _ = entered_rx.recv();
            }
            self.unmount_volumes(h, &points);
        }
        spawned?;
        Ok(rx)
    }

    /// `HEAD /containers/{id}/archive?path=`.
    pub async fn archive_stat(&self, name: &str, path: &str) -> Result<PathStat, EngineError> {
        let abs = absolute(path);
        let (name_, path_) = (name.to_string(), path.to_string());
        let rx = self.in_container_root(name, move || {
            stat_in_root(&abs)
                .map(|(s, _)| s)
                .map_err(|e| not_found_or(e, &path_, &name_))
        })?;
        rx.await.map_err(|_| worker_gone())?
    }

    /// `GET /containers/{id}/archive?path=`: the stat and a tar of the path (a directory
    /// recursively), named after the requested base name.
    pub async fn archive_get(&self, name: &str, path: &str) -> Result<ArchiveStream, EngineError> {
        let abs = absolute(path);
        let (name_, path_) = (name.to_string(), path.to_string());
        let (data_tx, data_rx) = mpsc::channel(8);
        let (stat_tx, stat_rx) = oneshot::channel();
        let done = self.in_container_root(name, move || {
            let (stat, resolved) = match stat_in_root(&abs) {
                Ok(s) => s,
                Err(e) => {
                    let _ = stat_tx.send(Err(not_found_or(e, &path_, &name_)));
                    return Ok(());
                }
            };
            let entry = if stat.name == "/" {
                ".".to_string()
            } else {
                stat.name.clone()
            };
            let _ = stat_tx.send(Ok(stat));
            let mut w = ChunkWriter {
                tx: data_tx.clone(),
                buf: Vec::new(),
            };
            if let Err(e) = tar_in_root(&resolved, &entry, &mut w) {
                tracing::warn!(path = %path_, error = %e, "archive of a container path failed");
                let _ = data_tx.blocking_send(Err(e));
            }
            Ok(())
        })?;
        drop(done);
        let stat = stat_rx.await.map_err(|_| worker_gone())??;
        Ok((stat, data_rx))
    }

    /// `PUT /containers/{id}/archive?path=`: extracts the tar read from `body` into the
    /// directory `path` of the container.
    pub async fn archive_put(
        &self,
        name: &str,
        opts: PutArchive,
        body: impl Read + Send + 'static,
    ) -> Result<(), EngineError> {
        let c = self.get(name)?;
        let rec = c.record();
        let abs = absolute(&opts.path);
        check_writable(&rec, &abs)?;
        let owner_spec =
            (opts.copy_uid_gid && !rec.config.user.is_empty()).then(|| rec.config.user.clone());
        let (name_, path_) = (name.to_string(), opts.path.clone());
        let rx = self.in_container_root(name, move || {
            // Unlike a stat, the last component is followed too: extracting "into" a symlink
            // to a directory is extracting into that directory (Docker's GetResourcePath).
            let resolved = fs::canonicalize(&abs).map_err(|e| not_found_or(e, &path_, &name_))?;
            if !resolved.is_dir() {
                return Err(EngineError::Invalid(
                    "extraction point is not a directory".into(),
                ));
            }
            let owner = match owner_spec {
                Some(spec) => Some(lookup_owner(&spec).map_err(EngineError::io(format!(
                    "resolve user {spec:?} in the container"
                )))?),
                None => None,
            };
            let copy = image::CopyOptions {
                owner,
                no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
            };
            image::unpack_copy(body, &resolved, copy)
                .map_err(|e| EngineError::Image(image::ImageError::Unpack(e)))?;
            Ok(())
        })?;
        rx.await.map_err(|_| worker_gone())?
    }
}

/// Docker refuses writes into a read-only root unless the path is in a writable volume, and
/// writes into a read-only volume; the path is checked as written, before any symlink.
fn check_writable(rec: &super::record::Record, abs: &str) -> Result<(), EngineError> {
    let abs = abs.trim_end_matches('/');
    let within = |dest: &str| {
        let d = dest.trim_end_matches('/');
        abs == d || abs.starts_with(&format!("{d}/")) || d.is_empty()
    };
    // Docker's mount points are volumes and binds: a tmpfs does not make a path writable
    // (and a stopped container has none mounted).
    let mount = rec
        .mount_points
        .iter()
        .filter(|m| m.kind != "tmpfs" && within(&m.destination))
        .max_by_key(|m| m.destination.len());
    match mount {
        Some(m) if !m.rw => Err(EngineError::Invalid(
            "mounted volume is marked read-only".into(),
        )),
        Some(_) => Ok(()),
        None if rec.host_config.readonly_rootfs => Err(EngineError::Invalid(
            "container rootfs is marked read-only".into(),
        )),
        None => Ok(()),
    }
}

fn not_found_or(e: io::Error, path: &str, container: &str) -> EngineError {
    if e.kind() == io::ErrorKind::NotFound {
        EngineError::NotFound(format!(
            "Could not find the file {path} in container {container}"
        ))
    } else {
        EngineError::Io {
            what: format!("stat {path} in container {container}"),
            source: e,
        }
    }
}

fn worker_gone() -> EngineError {
    EngineError::Io {
        what: "copy in the container's filesystem".into(),
        source: io::Error::other("the worker thread stopped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_file_modes() {
        assert_eq!(go_file_mode(libc::S_IFREG | 0o644), 420);
        assert_eq!(go_file_mode(libc::S_IFDIR | 0o755), 2147484141);
        assert_eq!(go_file_mode(libc::S_IFLNK | 0o777), (1 << 27) | 0o777);
        assert_eq!(
            go_file_mode(libc::S_IFDIR | libc::S_ISVTX | 0o777),
            (1 << 31) | (1 << 20) | 0o777
        );
        assert_eq!(
            go_file_mode(libc::S_IFCHR | 0o666),
            (1 << 26) | (1 << 21) | 0o666
        );
    }

    #[test]
    fn absolute_paths_keep_a_trailing_separator() {
        assert_eq!(absolute("etc/"), "/etc/");
        assert_eq!(absolute("/etc"), "/etc");
        assert_eq!(absolute("/etc/."), "/etc/.");
        assert_eq!(absolute("/."), "/.");
        assert_eq!(absolute("/"), "/");
        assert_eq!(absolute("//a//b"), "/a/b");
    }

    #[test]
    fn stat_header_is_base64_json() {
        let s = PathStat {
            name: "etc".into(),
            size: 4096,
            mode: 2147484141,
            mtime: "2026-11-23T05:24:45.67419775Z".into(),
            link_target: String::new(),
        };
        assert_eq!(
            s.header_value(),
            "eyJuYW1lIjoiZXRjIiwic2l6ZSI6NDA5NiwibW9kZSI6MjE0NzQ4NDE0MSwibXRpbWUiOiIyMDI2LTExLTIzVDA1OjI0OjQ1LjY3NDE5Nzc1WiIsImxpbmtUYXJnZXQiOiIifQ=="
        );
    }
}
