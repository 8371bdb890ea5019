//! Mounting and unmounting a container's root filesystem from the snapshotter's mount list.

use std::path::Path;

use api::mount::Mount;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

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

/// Mounts `mounts` (in order) at `target`.
pub fn mount_all(mounts: &[Mount], target: &Path) -> Result<(), RootfsError> {
    for m in mounts {
        let fail = |source| RootfsError {
            op: "mount",
            kind: m.kind.clone(),
            target: target.display().to_string(),
            source,
        };
        let ro = m.options.iter().any(|o| o == "ro");
        if m.kind == "bind" || m.options.iter().any(|o| o == "bind" || o == "rbind") {
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
            )
            .map_err(fail)?;
            if ro {
                mount(
                    None::<&str>,
                    target,
                    None::<&str>,
                    flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                    None::<&str>,
                )
                .map_err(fail)?;
            }
        } else {
            let data: Vec<&str> = m
                .options
                .iter()
                .map(String::as_str)
                .filter(|o| *o != "ro")
                .collect();
            let flags = if ro {
                MsFlags::MS_RDONLY
            } else {
                MsFlags::empty()
            };
            mount(
                Some(m.source.as_str()),
                target,
                Some(m.kind.as_str()),
                flags,
                Some(data.join(",").as_str()),
            )
            .map_err(fail)?;
        }
    }
    Ok(())
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
