//! Persistent network namespaces: one per container, bind-mounted at a path (like
//! `ip netns add`), so it outlives the processes in it and the daemon, and can be joined by the
//! runtime through `linux.namespaces[].path`.
//!
//! Per-thread kernel state never touches a shared thread: creating a namespace (`unshare`) and
//! entering one (`setns`) happen on a `std::thread` spawned for it and joined at once. A netlink
//! socket opened on that thread stays bound to the namespace, so the caller configures the
//! inside from its own thread through [`socket_in`].

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::netlink::Netlink;

/// A network namespace operation failed.
#[derive(Debug, thiserror::Error)]
#[error("network namespace {path}: {what}: {source}")]
pub struct NetnsError {
    /// The bind mount.
    pub path: PathBuf,
    /// What was being done.
    pub what: &'static str,
    /// The cause.
    #[source]
    pub source: io::Error,
}

fn err(path: &Path, what: &'static str) -> impl FnOnce(io::Error) -> NetnsError {
    let path = path.to_path_buf();
    move |source| NetnsError { path, what, source }
}

/// Creates a new network namespace bind-mounted at `path` (its parent must exist); `lo` is up.
pub fn create(path: &Path) -> Result<(), NetnsError> {
    File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(err(path, "create mount point"))?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> io::Result<()> {
        unshare(CloneFlags::CLONE_NEWNET)?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        let nl = Netlink::open().map_err(|e| e.source)?;
        let lo = nl.require_index("lo").map_err(|e| e.source)?;
        nl.set_up(lo).map_err(|e| e.source)?;
        Ok(())
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")));
    if let Err(e) = made {
        let _ = umount2(path, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_file(path);
        return Err(err(path, "unshare and bind mount")(e));
    }
    Ok(())
}

/// Removes the namespace at `path` (unmount and unlink); a missing one is not an error.
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(err(path, "unmount")(e.into())),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(path, "remove mount point")(e)),
    }
}

/// True if `path` is a mounted namespace (its nsfs inode differs from the plain file's).
pub fn exists(path: &Path) -> bool {
    open(path).is_ok_and(|f| {
        nix::sys::statfs::fstatfs(&f).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC)
    })
}

const NSFS_MAGIC: nix::sys::statfs::FsType = nix::sys::statfs::NSFS_MAGIC;

/// Opens the namespace file (for `IFLA_NET_NS_FD` or `setns`).
pub fn open(path: &Path) -> Result<File, NetnsError> {
    File::open(path).map_err(err(path, "open"))
}

/// A netlink socket bound to the namespace at `path`, opened on a short-lived thread that
/// entered it.
pub fn socket_in(path: &Path) -> Result<Netlink, NetnsError> {
    let ns = open(path)?;
    let fd = std::thread::spawn(move || -> io::Result<OwnedFd> {
        setns(&ns, CloneFlags::CLONE_NEWNET)?;
        let nl = Netlink::open().map_err(|e| e.source)?;
        Ok(nl.into_fd())
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
    .map_err(err(path, "enter"))?;
    Ok(Netlink::from_fd(fd))
}

/// Runs `f` on a thread inside the namespace at `path` (tests, and anything that must open a
/// socket of another kind in there).
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NetnsError> {
    let ns = open(path)?;
    std::thread::spawn(move || -> io::Result<T> {
        setns(&ns, CloneFlags::CLONE_NEWNET)?;
        Ok(f())
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("netns thread panicked")))
    .map_err(err(path, "enter"))
}
