//! Dev-only fixtures shared by every crate's tests: the busybox base image built from the host's
//! busybox-static, temporary roots that clean up after themselves, unique names for privileged
//! objects, and [`require_root`].
//!
//! Non-goals: nothing here is used by the shipped binary except the demo's rootfs builder, which
//! the CLI reimplements with a shell one-liner in README.md.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where Debian's `busybox-static` installs the static busybox.
pub const BUSYBOX: &str = "/bin/busybox";

/// Fails the test (never skips it) when not running as root: CI runs as root, so a privileged
/// test that cannot run there is a bug, not a pass.
pub fn require_root() {
    // getuid never fails.
    let uid = nix_free_getuid();
    assert_eq!(
        uid, 0,
        "this privileged test must run as root (CI runs the suite as root)"
    );
}

fn nix_free_getuid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("Uid line in /proc/self/status")
}

/// A unique name for a privileged object (container, cgroup, netns...): `berth-test-<what>-<pid>-<n>`,
/// so leftovers are findable with one grep.
pub fn unique_name(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "berth-test-{what}-{}-{n}-{:x}",
        std::process::id(),
        nanos & 0xffff
    )
}

/// A directory removed (recursively) when dropped. Anything mounted below it is lazily unmounted
/// first, so a test that fails half-way leaves no mount behind.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A fresh directory under `/tmp` (or `$BERTH_TEST_TMP`), named with [`unique_name`].
    pub fn new(what: &str) -> TempDir {
        let base = std::env::var_os("BERTH_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let path = base.join(unique_name(what));
        fs::create_dir_all(&path).expect("create test temp dir");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        unmount_below(&self.path);
        if let Err(e) = fs::remove_dir_all(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                eprintln!("testkit: could not remove {}: {e}", self.path.display());
            }
        }
    }
}

/// Lazily unmounts every mount at or below `dir`, deepest first. Reports failures on stderr.
pub fn unmount_below(dir: &Path) {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().to_string();
    let mut targets: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|t| t == &prefix || t.starts_with(&format!("{prefix}/")))
        .collect();
    targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
    for t in targets {
        let status = Command::new("umount").arg("-l").arg(&t).status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("testkit: could not unmount {t}");
        }
    }
}

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Fills `dir` with a minimal busybox root filesystem: `/bin/busybox` from the host's
/// busybox-static with a symlink per applet, `/etc/passwd` and `/etc/group` with root and
/// nobody, and the empty directories a container expects.
pub fn busybox_rootfs(dir: &Path) -> io::Result<()> {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin)?;
    for d in [
        "etc", "proc", "sys", "dev", "tmp", "root", "home", "var", "usr/bin", "usr/sbin", "sbin",
    ] {
        fs::create_dir_all(dir.join(d))?;
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::copy(BUSYBOX, bin.join("busybox"))?;
    fs::set_permissions(bin.join("busybox"), fs::Permissions::from_mode(0o755))?;
    let out = Command::new(BUSYBOX).arg("--list").output()?;
    if !out.status.success() {
        return Err(io::Error::other(
            "busybox --list failed: is busybox-static installed?",
        ));
    }
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = bin.join(applet);
        if !link.exists() {
            symlink("busybox", &link)?;
        }
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )?;
    fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")?;
    Ok(())
}

/// Writes the busybox rootfs of [`busybox_rootfs`] as a tarball at `out` (gzip-compressed when
/// `gzip` is true), with entries relative to the root (`bin/busybox`, `etc/passwd`, ...).
pub fn busybox_tarball(out: &Path, gzip: bool) -> io::Result<()> {
    let tmp = TempDir::new("bbroot");
    busybox_rootfs(tmp.path())?;
    let file = fs::File::create(out)?;
    if gzip {
        let enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut b = tar::Builder::new(enc);
        b.follow_symlinks(false);
        b.append_dir_all(".", tmp.path())?;
        b.into_inner()?.finish()?;
    } else {
        let mut b = tar::Builder::new(file);
        b.follow_symlinks(false);
        b.append_dir_all(".", tmp.path())?;
        b.into_inner()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_carry_the_prefix() {
        let a = unique_name("x");
        let b = unique_name("x");
        assert_ne!(a, b);
        assert!(a.starts_with("berth-test-x-"));
    }

    #[test]
    fn busybox_rootfs_has_shell_and_users() {
        let d = TempDir::new("rootfs");
        busybox_rootfs(d.path()).unwrap();
        assert!(d
            .path()
            .join("bin/sh")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::read_to_string(d.path().join("etc/passwd"))
            .unwrap()
            .contains("nobody:x:65534"));
    }
}
