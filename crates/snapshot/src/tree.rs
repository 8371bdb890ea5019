//! Directory-tree helpers: a full copy that preserves what a root filesystem needs, and disk
//! usage.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::{lchown, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;

use crate::{SnapshotError, Usage};

/// Copies the tree under `from` into the existing directory `to`: directories, regular files,
/// symlinks (not followed), fifos and device nodes, hard links (kept as links), mode,
/// ownership (when permitted) and mtimes; `to` takes `from`'s metadata. Extended attributes
/// are not copied.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    let mut links: HashMap<(u64, u64), std::path::PathBuf> = HashMap::new();
    copy_dir_contents(from, to, &mut links)?;
    copy_meta(
        from,
        to,
        &fs::symlink_metadata(from).map_err(SnapshotError::io("stat", from))?,
    )
}

fn copy_dir_contents(
    from: &Path,
    to: &Path,
    links: &mut HashMap<(u64, u64), std::path::PathBuf>,
) -> Result<(), SnapshotError> {
    for entry in fs::read_dir(from).map_err(SnapshotError::io("read directory", from))? {
        let entry = entry.map_err(SnapshotError::io("read directory", from))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let md = fs::symlink_metadata(&src).map_err(SnapshotError::io("stat", &src))?;
        let ft = md.file_type();
        if ft.is_dir() {
            fs::create_dir(&dst).map_err(SnapshotError::io("create directory", &dst))?;
            copy_dir_contents(&src, &dst, links)?;
            copy_meta(&src, &dst, &md)?;
            continue;
        }
        if md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                fs::hard_link(first, &dst).map_err(SnapshotError::io("hard link", &dst))?;
                continue;
            }
            links.insert((md.dev(), md.ino()), dst.clone());
        }
        if ft.is_symlink() {
            let target = fs::read_link(&src).map_err(SnapshotError::io("read link", &src))?;
            std::os::unix::fs::symlink(&target, &dst)
                .map_err(SnapshotError::io("symlink", &dst))?;
        } else if ft.is_file() {
            fs::copy(&src, &dst).map_err(SnapshotError::io("copy", &dst))?;
        } else {
            let kind = if ft.is_fifo() {
                SFlag::S_IFIFO
            } else if ft.is_char_device() {
                SFlag::S_IFCHR
            } else if ft.is_block_device() {
                SFlag::S_IFBLK
            } else {
                continue; // sockets are not copied
            };
            let rdev = md.rdev();
            let dev = makedev(nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
            mknod(
                &dst,
                kind,
                Mode::from_bits_truncate(md.mode() & 0o7777),
                dev,
            )
            .map_err(|e| SnapshotError::io("mknod", &dst)(e.into()))?;
        }
        copy_meta(&src, &dst, &md)?;
    }
    Ok(())
}

fn copy_meta(_src: &Path, dst: &Path, md: &fs::Metadata) -> Result<(), SnapshotError> {
    match lchown(dst, Some(md.uid()), Some(md.gid())) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc_eperm()) => {}
        Err(e) => return Err(SnapshotError::io("chown", dst)(e)),
    }
    if !md.file_type().is_symlink() {
        fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(SnapshotError::io("chmod", dst))?;
    }
    let mtime = TimeSpec::new(md.mtime(), md.mtime_nsec());
    let atime = TimeSpec::new(md.atime(), md.atime_nsec());
    nix::sys::stat::utimensat(
        None,
        dst,
        &atime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| SnapshotError::io("set times", dst)(e.into()))
}

fn libc_eperm() -> i32 {
    nix::errno::Errno::EPERM as i32
}

/// Bytes and inodes under `dir` (hard links counted once, symlinks not followed).
pub(crate) fn usage(dir: &Path) -> Result<Usage, SnapshotError> {
    let mut seen = HashSet::new();
    let mut u = Usage::default();
    walk(dir, &mut seen, &mut u)?;
    Ok(u)
}

fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>, u: &mut Usage) -> Result<(), SnapshotError> {
    for entry in fs::read_dir(dir).map_err(SnapshotError::io("read directory", dir))? {
        let entry = entry.map_err(SnapshotError::io("read directory", dir))?;
        let md =
            fs::symlink_metadata(entry.path()).map_err(SnapshotError::io("stat", entry.path()))?;
        if !seen.insert((md.dev(), md.ino())) {
            continue;
        }
        u.inodes += 1;
        if md.is_file() {
            u.size += md.len();
        } else if md.is_dir() {
            walk(&entry.path(), seen, u)?;
        }
    }
    Ok(())
}
