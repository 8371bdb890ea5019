//! Crash-safe file replacement: the one helper every file under berth's data root is written
//! with.
//!
//! [`write_file`] does, in order: create a temp file in the target's directory (same
//! filesystem, so the rename is atomic), write, `fsync` the file (data reaches the disk before
//! the name does), `rename` over the target (readers see the old or the new file, never a
//! mix), `fsync` the directory (the rename itself survives a crash). After a crash, the target
//! holds either the old or the new content; at worst a temp named `.<name>.tmp-*` is left,
//! which [`remove_stray_temps`] deletes at start-up.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Marker in the names of temp files made by [`write_file`].
const TEMP_MARKER: &str = ".tmp-";

/// Atomically replaces (or creates) `path` with `bytes`, mode 0644. See the module doc.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no file name in {}", path.display()),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}{TEMP_MARKER}{}",
        name.to_string_lossy(),
        unique_suffix()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes temp files left in `dir` by a [`write_file`] that crashed. Returns how many.
pub fn remove_stray_temps(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(TEMP_MARKER) {
            fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// `fsync`s a directory so that renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Asks the kernel to start writing `len` bytes of `file` from `offset` back to disk, without
/// waiting for it (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). A head start for a later fsync of
/// a large file written in pieces, not a durability guarantee: that stays the fsync's job, so
/// errors are ignored.
#[allow(unsafe_code)]
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range takes a descriptor and integers and touches no memory of ours;
    // the descriptor is borrowed from a live File for the duration of the call.
    let _ = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
}

/// A suffix unique within this host for the life of this process: pid, counter, time.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{n}-{nanos:x}", std::process::id())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The temp path [`write_file`] would use; exposed for tests that simulate a crash.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    parent_dir(path).join(format!(".{name}{TEMP_MARKER}{}", unique_suffix()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let d = testkit::TempDir::new("atomic");
        let p = d.path().join("state.json");
        write_file(&p, b"one").unwrap();
        write_file(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn stray_temps_are_removed_and_targets_kept() {
        let d = testkit::TempDir::new("atomic");
        let p = d.path().join("state.json");
        write_file(&p, b"ok").unwrap();
        fs::write(temp_path_for(&p), b"half").unwrap();
        assert_eq!(remove_stray_temps(d.path()).unwrap(), 1);
        assert_eq!(fs::read(&p).unwrap(), b"ok");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn writeback_of_any_range_leaves_the_file_as_written() {
        let d = testkit::TempDir::new("atomic");
        let p = d.path().join("data");
        let mut f = File::create(&p).unwrap();
        f.write_all(&[7u8; 100_000]).unwrap();
        start_writeback(&f, 0, 50_000);
        start_writeback(&f, 50_000, 50_000);
        // Past the end and out of the i64 range: ignored, not a panic.
        start_writeback(&f, 1 << 40, 10);
        start_writeback(&f, u64::MAX, 1);
        f.sync_all().unwrap();
        assert_eq!(fs::read(&p).unwrap(), vec![7u8; 100_000]);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let d = testkit::TempDir::new("atomic");
        let err = write_file(&d.path().join("no/such/file"), b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
