//! Mounting and unmounting a container's root filesystem from the snapshotter's mount list.

use std::path::Path;

use api::mount::Mount;
use nix::mount::{umount2, MntFlags};

/// A mount that could not be made or removed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {kind} at {target}: {source}")]
pub struct RootfsError {
    op: &'static str,
    kind: String,
    target: String,
    #[source]
    source: nix::Error,
}

/// Mounts `mounts` (in order) at `target` and leaves them there.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), RootfsError> {
    snapshot::mount::mount_all(mounts, target)
        .map(snapshot::mount::MountGuard::keep)
        .map_err(|e| RootfsError {
            op: "mount",
            kind: mounts.first().map(|m| m.kind.clone()).unwrap_or_default(),
            target: target.display().to_string(),
            source: nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })
}

/// Unmounts everything at `target` (stacked mounts included). Not mounted is not an error.
pub fn unmount_all(target: &Path) -> Result<(), RootfsError> {
    loop {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => return Ok(()),
            Err(source) => {
                return Err(RootfsError {
                    op: "unmount",
                    kind: String::new(),
                    target: target.display().to_string(),
                    source,
                })
            }
        }
    }
}
