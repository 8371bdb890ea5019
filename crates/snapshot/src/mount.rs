//! Performs a list of [`Mount`]s at a target, undone by a guard. For tests and short-lived
//! tools that need to look at a snapshot's tree; containers are mounted by the shim, inside
//! their own mount namespace.

use std::io;
use std::path::{Path, PathBuf};

use api::mount::Mount;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Unmounts (lazily) what [`mount_all`] mounted when dropped; a failure is logged with
/// `tracing` (libraries do not print).
pub struct MountGuard {
    target: PathBuf,
    count: usize,
}

impl MountGuard {
    /// Where the mounts are.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Keeps the mounts after the guard is gone: for an owner that unmounts them itself later
    /// (the shim unmounts a container's root when the container has exited).
    pub fn keep(mut self) {
        self.count = 0;
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        for _ in 0..self.count {
            if let Err(e) = umount2(&self.target, MntFlags::MNT_DETACH) {
                tracing::warn!(target = %self.target.display(), error = %e, "could not unmount");
            }
        }
    }
}

/// Mounts each of `mounts` at `target`, in order. Supports `bind` (with `rbind`, `ro`, `rw`)
/// and `overlay`.
pub fn mount_all(mounts: &[Mount], target: &Path) -> io::Result<MountGuard> {
    let mut guard = MountGuard {
        target: target.to_path_buf(),
        count: 0,
    };
    for m in mounts {
        let ro = m.options.iter().any(|o| o == "ro");
        match m.kind.as_str() {
            "bind" => {
                let mut flags = MsFlags::MS_BIND;
                if m.options.iter().any(|o| o == "rbind") {
                    flags |= MsFlags::MS_REC;
                }
                mount(
                    Some(m.source.as_str()),
                    target,
                    None::<&str>,
                    flags,
                    None::<&str>,
                )?;
                guard.count += 1;
                if ro {
                    mount(
                        None::<&str>,
                        target,
                        None::<&str>,
                        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                        None::<&str>,
                    )?;
                }
            }
            "overlay" => {
                let data: Vec<&str> = m
                    .options
                    .iter()
                    .map(String::as_str)
                    .filter(|o| *o != "ro" && *o != "rw")
                    .collect();
                let flags = if ro {
                    MsFlags::MS_RDONLY
                } else {
                    MsFlags::empty()
                };
                mount(
                    Some("overlay"),
                    target,
                    Some("overlay"),
                    flags,
                    Some(data.join(",").as_str()),
                )?;
                guard.count += 1;
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("unsupported mount type {other:?}"),
                ))
            }
        }
    }
    Ok(guard)
}
