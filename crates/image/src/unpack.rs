//! Secure, streaming application of a layer tar to a directory.
//!
//! # What is applied
//!
//! Directories, regular files, symlinks, hard links, character and block devices, fifos; mode
//! (including setuid/setgid/sticky), owner (when running as root), mtime, and extended
//! attributes carried as PAX `SCHILY.xattr.*` records. Whiteouts (see the OCI image spec,
//! "Representing Changes"):
//!
//! - `DIR/.wh.NAME` deletes `DIR/NAME` from the layers below;
//! - `DIR/.wh..wh..opq` makes `DIR` opaque: nothing below shows through.
//!
//! With [`WhiteoutStyle::Overlay`] (the target is an overlay upper directory) they become a
//! 0/0 character device `DIR/NAME` and the `trusted.overlay.opaque=y` xattr on `DIR`. With
//! [`WhiteoutStyle::Delete`] (the target is a full copy of the lower layers) `DIR/NAME` is
//! deleted, and an opaque `DIR` loses every child not written by this layer.
//!
//! # What is refused
//!
//! A layer is untrusted input. Every entry name is cleaned before use:
//!
//! - A leading `/` is stripped, as Docker does: `/etc/x` is applied as `etc/x` inside the root.
//! - Any `..` component is refused ([`UnpackError::Breakout`]), even one that would stay inside
//!   the root (`a/../b`): Docker refuses only escaping ones; nothing legitimate needs either.
//! - Whiteouts of `.` or `..` (`.wh..`, `.wh...`) are refused; `trusted.overlay.*` xattrs in
//!   the layer are ignored (only whiteouts may produce overlay metadata).
//! - Every parent component is looked up with `lstat`, never followed: a parent that is a
//!   symlink is refused ([`UnpackError::ThroughSymlink`]), whether it points inside the root or
//!   out of it (`a -> /etc` then `a/passwd`, `a -> ../..` then `a/x`). Missing parents are
//!   created (mode 0755). The final component is never followed either: an existing entry
//!   there is removed and replaced, and regular files are created with `O_EXCL|O_NOFOLLOW`.
//! - A hard link's target is cleaned the same way and must already exist inside the root
//!   ([`UnpackError::HardLinkOutside`]); `/etc/passwd` means the root's `etc/passwd`.
//!
//! Symlink *targets* are stored verbatim: they are resolved later, inside the container's root.
//!
//! # Assumptions
//!
//! The target directory is private to this unpack while it runs (a fresh active snapshot), so
//! the component-by-component checks cannot race with another writer.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{lchown, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;
use snapshot::WhiteoutStyle;
use tar::EntryType;

use crate::UnpackError;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
const OVERLAY_OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";

/// What an unpack did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries applied (whiteouts included).
    pub entries: u64,
}

/// Applies the (uncompressed) layer tar read from `reader` to `root`. See the module doc.
pub fn unpack_layer(
    reader: impl Read,
    root: &Path,
    whiteouts: WhiteoutStyle,
) -> Result<UnpackStats, UnpackError> {
    let u = Unpacker {
        root: root.to_path_buf(),
        whiteouts: Some(whiteouts),
        chown: nix::unistd::geteuid().is_root(),
        owner: None,
        no_overwrite_dir_non_dir: false,
        written: HashSet::new(),
        dir_times: Vec::new(),
        verified: Vec::new(),
    };
    u.run(reader)
}

/// How [`unpack_copy`] treats ownership and type changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// Owner of every entry (`docker cp -a` into a container with a `User`); `None` keeps
    /// the uid and gid of the tar headers (when running as root).
    pub owner: Option<(u32, u32)>,
    /// Refuse to replace a directory with a non-directory or the reverse (Docker's
    /// `noOverwriteDirNonDir`).
    pub no_overwrite_dir_non_dir: bool,
}

/// Extracts a `docker cp` tar into the directory `root` with the same refusals as a layer
/// (no `..`, no walking through symlinks, hard links only to entries inside), but no whiteout
/// handling: `.wh.` names are ordinary files here, as in Docker's `Untar`.
pub fn unpack_copy(
    reader: impl Read,
    root: &Path,
    opts: CopyOptions,
) -> Result<UnpackStats, UnpackError> {
    let u = Unpacker {
        root: root.to_path_buf(),
        whiteouts: None,
        chown: nix::unistd::geteuid().is_root(),
        owner: opts.owner,
        no_overwrite_dir_non_dir: opts.no_overwrite_dir_non_dir,
        written: HashSet::new(),
        dir_times: Vec::new(),
        verified: Vec::new(),
    };
    u.run(reader)
}

impl Unpacker {
    fn run(mut self, reader: impl Read) -> Result<UnpackStats, UnpackError> {
        let u = &mut self;
        let mut archive = tar::Archive::new(reader);
        let mut stats = UnpackStats::default();
        for entry in archive.entries().map_err(UnpackError::Read)? {
            let mut entry = entry.map_err(UnpackError::Read)?;
            u.apply(&mut entry)?;
            stats.entries += 1;
        }
        // Directory mtimes last: creating children changed them.
        for (path, mtime) in u.dir_times.iter().rev() {
            set_mtime(path, *mtime)?;
        }
        Ok(stats)
    }
}

struct Unpacker {
    root: PathBuf,
    /// `None`: a `docker cp` archive, whiteout names are plain files.
    whiteouts: Option<WhiteoutStyle>,
    chown: bool,
    /// Overrides the headers' uid/gid.
    owner: Option<(u32, u32)>,
    no_overwrite_dir_non_dir: bool,
    /// Paths (relative) this layer wrote, for opaque directories in `Delete` style.
    written: HashSet<PathBuf>,
    dir_times: Vec<(PathBuf, u64)>,
    /// The parent chain the last entry walked, known to be real directories: the next entry
    /// re-checks only what differs (so deep trees cost linear, not quadratic, stats). Cleared
    /// whenever this layer removes or replaces anything.
    verified: Vec<std::ffi::OsString>,
}

/// Longest path (root included) an entry may have: Linux's PATH_MAX. Deeper trees could not be
/// used anyway.
const MAX_NAME: usize = 4096;

/// Cleans a tar name into relative components. Empty result = the root itself.
fn clean(name: &[u8]) -> Result<Vec<&OsStr>, UnpackError> {
    let mut out = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => continue,
            b".." => {
                return Err(UnpackError::Breakout {
                    name: String::from_utf8_lossy(name).into_owned(),
                })
            }
            c => out.push(OsStr::from_bytes(c)),
        }
    }
    Ok(out)
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

impl Unpacker {
    /// Walks the parents of `comps` under the root without following symlinks; creates missing
    /// ones when `create`. Returns the parent directory's absolute path.
    fn parent_dir(
        &mut self,
        name: &[u8],
        comps: &[&OsStr],
        create: bool,
    ) -> Result<PathBuf, UnpackError> {
        let mut p = self.root.clone();
        let mut rel = PathBuf::new();
        let known = self
            .verified
            .iter()
            .zip(comps)
            .take_while(|(a, b)| a.as_os_str() == **b)
            .count();
        for c in &comps[..known] {
            p.push(c);
            rel.push(c);
        }
        for c in &comps[known..] {
            p.push(c);
            rel.push(c);
            match fs::symlink_metadata(&p) {
                Ok(md) if md.is_dir() => {}
                Ok(md) if md.file_type().is_symlink() => {
                    return Err(UnpackError::ThroughSymlink {
                        name: lossy(name),
                        component: rel.display().to_string(),
                    })
                }
                Ok(_) => {
                    return Err(UnpackError::NotADirectory {
                        name: lossy(name),
                        component: rel.display().to_string(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&p).map_err(UnpackError::io("create directory", &p))?;
                    fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
                        .map_err(UnpackError::io("chmod", &p))?;
                    self.written.insert(rel.clone());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(UnpackError::HardLinkOutside {
                        name: lossy(name),
                        target: rel.display().to_string(),
                    })
                }
                Err(e) => return Err(UnpackError::io("stat", &p)(e)),
            }
        }
        self.verified = comps.iter().map(|c| c.to_os_string()).collect();
        Ok(p)
    }

    fn apply<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let name = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
        {
            return Ok(());
        }
        if self.root.as_os_str().len() + 1 + name.len() >= MAX_NAME
            || entry.link_name_bytes().is_some_and(|l| l.len() > MAX_NAME)
        {
            return Err(UnpackError::Invalid {
                name: lossy(&name[..name.len().min(64)]) + "...",
                reason: "path longer than 4096 bytes (PATH_MAX) under the layer root",
            });
        }
        let comps = clean(&name)?;
        let Some((base, parents)) = comps.split_last() else {
            // The root itself ("./"): take its metadata.
            if kind.is_dir() {
                let root = self.root.clone();
                self.set_metadata(entry, &root, true)?;
            }
            return Ok(());
        };
        let base_bytes = base.as_bytes();
        if self.whiteouts.is_some() && base_bytes.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            let parent = self.parent_dir(&name, parents, true)?;
            return self.whiteout(
                &name,
                parents,
                &parent,
                &base_bytes[WHITEOUT_PREFIX.len()..],
            );
        }
        let parent = self.parent_dir(&name, parents, true)?;
        let path = parent.join(base);
        let rel: PathBuf = comps.iter().collect();

        // Replace whatever is there, except a directory over a directory.
        let existing = match fs::symlink_metadata(&path) {
            Ok(md) => Some(md),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(UnpackError::io("stat", &path)(e)),
        };
        if let Some(md) = &existing {
            if self.no_overwrite_dir_non_dir && md.is_dir() != kind.is_dir() {
                let (what, with) = if md.is_dir() {
                    ("directory", "non-directory")
                } else {
                    ("non-directory", "directory")
                };
                return Err(UnpackError::Overwrite {
                    what,
                    with,
                    path: path.display().to_string(),
                    dest: self.root.display().to_string(),
                });
            }
            if !(md.is_dir() && kind.is_dir()) {
                self.verified.clear();
                remove_any(&path, md.is_dir())?;
            }
        }

        match kind {
            EntryType::Directory => {
                if existing.as_ref().map(|m| !m.is_dir()).unwrap_or(true) {
                    fs::create_dir(&path).map_err(UnpackError::io("create directory", &path))?;
                }
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(UnpackError::io("create file", &path))?;
                copy_sparse(entry, &mut f).map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::InvalidData
                    | io::ErrorKind::Other => UnpackError::Read(e),
                    _ => UnpackError::io("write file", &path)(e),
                })?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| UnpackError::Invalid {
                        name: lossy(&name),
                        reason: "symlink without a target",
                    })?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path)
                    .map_err(UnpackError::io("create symlink", &path))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| UnpackError::Invalid {
                        name: lossy(&name),
                        reason: "hard link without a target",
                    })?;
                let tcomps = clean(&target).map_err(|_| UnpackError::HardLinkOutside {
                    name: lossy(&name),
                    target: lossy(&target),
                })?;
                let Some((tbase, tparents)) = tcomps.split_last() else {
                    return Err(UnpackError::HardLinkOutside {
                        name: lossy(&name),
                        target: lossy(&target),
                    });
                };
                let tparent = self
                    .parent_dir(&target, tparents, false)
                    .map_err(|e| match e {
                        UnpackError::HardLinkOutside { .. } => UnpackError::HardLinkOutside {
                            name: lossy(&name),
                            target: lossy(&target),
                        },
                        other => other,
                    })?;
                let src = tparent.join(tbase);
                match fs::symlink_metadata(&src) {
                    Ok(md) if !md.is_dir() => {}
                    Ok(_) => {
                        return Err(UnpackError::Invalid {
                            name: lossy(&name),
                            reason: "hard link to a directory",
                        })
                    }
                    Err(_) => {
                        return Err(UnpackError::HardLinkOutside {
                            name: lossy(&name),
                            target: lossy(&target),
                        })
                    }
                }
                fs::hard_link(&src, &path).map_err(UnpackError::io("create hard link", &path))?;
                // A hard link shares its target's metadata: nothing more to set.
                self.written.insert(rel);
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (sflag, dev) = match kind {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    _ => {
                        let h = entry.header();
                        let major = h.device_major().map_err(UnpackError::Read)?.unwrap_or(0);
                        let minor = h.device_minor().map_err(UnpackError::Read)?.unwrap_or(0);
                        let f = if kind == EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (f, makedev(major.into(), minor.into()))
                    }
                };
                mknod(&path, sflag, Mode::from_bits_truncate(0o600), dev)
                    .map_err(|e| UnpackError::io("create device node", &path)(e.into()))?;
            }
            other => {
                tracing::debug!(name = %lossy(&name), kind = ?other, "skipping unsupported tar entry type");
                return Ok(());
            }
        }
        self.written.insert(rel);
        self.set_metadata(entry, &path, kind.is_dir())
    }

    fn whiteout(
        &mut self,
        name: &[u8],
        parents: &[&OsStr],
        parent: &Path,
        what: &[u8],
    ) -> Result<(), UnpackError> {
        self.verified.clear();
        let rel_parent: PathBuf = parents.iter().collect();
        if what == &OPAQUE_WHITEOUT.as_bytes()[WHITEOUT_PREFIX.len()..] {
            match self.whiteouts {
                None => unreachable!("whiteouts are only parsed for layers"),
                Some(WhiteoutStyle::Overlay) => {
                    crate::xattr::lset(parent, OVERLAY_OPAQUE_XATTR, b"y")
                        .map_err(UnpackError::io("set opaque xattr on", parent))
                }
                Some(WhiteoutStyle::Delete) => {
                    for child in
                        fs::read_dir(parent).map_err(UnpackError::io("read directory", parent))?
                    {
                        let child = child.map_err(UnpackError::io("read directory", parent))?;
                        if self.written.contains(&rel_parent.join(child.file_name())) {
                            continue;
                        }
                        let md = child
                            .metadata()
                            .map_err(UnpackError::io("stat", child.path()))?;
                        remove_any(&child.path(), md.is_dir())?;
                    }
                    Ok(())
                }
            }
        } else if what.is_empty() || what == b"." || what == b".." {
            // `.wh..` would delete the directory itself, `.wh...` its parent.
            Err(UnpackError::Invalid {
                name: lossy(name),
                reason: "whiteout of \".\" or \"..\"",
            })
        } else if what.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            // Other `.wh..wh.` names are aufs bookkeeping (`.wh..wh.plnk`): meaningless here.
            tracing::debug!(name = %lossy(name), "skipping aufs metadata entry");
            Ok(())
        } else {
            let target = parent.join(OsStr::from_bytes(what));
            match fs::symlink_metadata(&target) {
                Ok(md) => remove_any(&target, md.is_dir())?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(UnpackError::io("stat", &target)(e)),
            }
            if self.whiteouts == Some(WhiteoutStyle::Overlay) {
                mknod(&target, SFlag::S_IFCHR, Mode::empty(), 0)
                    .map_err(|e| UnpackError::io("create whiteout", &target)(e.into()))?;
            }
            Ok(())
        }
    }

    fn set_metadata<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        path: &Path,
        is_dir: bool,
    ) -> Result<(), UnpackError> {
        let h = entry.header();
        let is_symlink = h.entry_type() == EntryType::Symlink;
        let mode = h.mode().map_err(UnpackError::Read)? & 0o7777;
        // Go's archive/tar (which wrote most layers in the wild) reads an empty numeric field
        // as 0; the header checksum already vouches for the bytes, so do the same.
        let mtime = h.mtime().unwrap_or(0);
        if self.chown {
            let (uid, gid) = self
                .owner
                .unwrap_or((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32));
            lchown(path, Some(uid), Some(gid)).map_err(UnpackError::io("chown", path))?;
        }
        // chmod after chown: chown clears setuid/setgid.
        if !is_symlink {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .map_err(UnpackError::io("chmod", path))?;
        }
        if let Some(exts) = entry.pax_extensions().map_err(UnpackError::Read)? {
            for ext in exts {
                let ext = ext.map_err(UnpackError::Read)?;
                if let Some(attr) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    if attr.starts_with(b"trusted.overlay.") {
                        // Overlay's own metadata (opaque, redirect, metacopy) is only ever
                        // written by us, from whiteouts; a layer must not forge it.
                        tracing::debug!(path = %path.display(), "ignoring overlay xattr in layer");
                        continue;
                    }
                    crate::xattr::lset(path, attr, ext.value_bytes())
                        .map_err(UnpackError::io("set xattr on", path))?;
                }
            }
        }
        if is_dir {
            self.dir_times.push((path.to_path_buf(), mtime));
            Ok(())
        } else {
            set_mtime(path, mtime)
        }
    }
}

/// Copies `r` into `f`, leaving holes where whole 64 KiB blocks are zero (a sparse entry's
/// holes arrive as zeros): a 2 GB sparse file stays small on disk.
fn copy_sparse(r: &mut impl Read, f: &mut fs::File) -> io::Result<u64> {
    // Compared with memcmp: fast even unoptimised.
    static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
    use std::io::{Seek, SeekFrom, Write};
    let mut buf = vec![0u8; 64 << 10];
    let mut total = 0u64;
    let mut hole = false;
    loop {
        let mut n = 0;
        while n < buf.len() {
            match r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            break;
        }
        if n == buf.len() && buf[..] == ZEROS[..] {
            f.seek(SeekFrom::Current(n as i64))?;
            hole = true;
        } else {
            f.write_all(&buf[..n])?;
            hole = false;
        }
        total += n as u64;
    }
    if hole {
        f.set_len(total)?;
    }
    Ok(total)
}

fn remove_any(path: &Path, is_dir: bool) -> Result<(), UnpackError> {
    let r = if is_dir {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    r.map_err(UnpackError::io("remove", path))
}

fn set_mtime(path: &Path, mtime: u64) -> Result<(), UnpackError> {
    let t = TimeSpec::new(mtime as i64, 0);
    nix::sys::stat::utimensat(
        None,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| UnpackError::io("set times on", path)(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::ErrorKind;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    /// Builds a tar in memory. Names are written raw so tests can use `..` and `/abs`.
    struct Layer {
        b: tar::Builder<Vec<u8>>,
    }

    impl Layer {
        fn new() -> Layer {
            Layer {
                b: tar::Builder::new(Vec::new()),
            }
        }
        fn header(kind: EntryType, name: &str, mode: u32, size: u64) -> tar::Header {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(size);
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            h
        }
        fn file(mut self, name: &str, body: &str) -> Self {
            let h = Self::header(EntryType::Regular, name, 0o644, body.len() as u64);
            self.b.append(&h, body.as_bytes()).unwrap();
            self
        }
        fn dir(mut self, name: &str) -> Self {
            let h = Self::header(EntryType::Directory, name, 0o755, 0);
            self.b.append(&h, &[][..]).unwrap();
            self
        }
        fn link(mut self, kind: EntryType, name: &str, target: &str) -> Self {
            let mut h = Self::header(kind, name, 0o777, 0);
            h.set_link_name(target).unwrap();
            h.set_cksum();
            self.b.append(&h, &[][..]).unwrap();
            self
        }
        fn bytes(self) -> Vec<u8> {
            self.b.into_inner().unwrap()
        }
    }

    fn unpack(bytes: &[u8], root: &Path, style: WhiteoutStyle) -> Result<UnpackStats, UnpackError> {
        unpack_layer(bytes, root, style)
    }

    #[test]
    fn applies_files_dirs_links_modes_and_times() {
        let d = testkit::TempDir::new("unpack");
        let layer = Layer::new()
            .dir("etc/")
            .file("etc/passwd", "root:x:0:0\n")
            .file("bin/tool", "#!") // parent created implicitly
            .link(EntryType::Symlink, "bin/sh", "/bin/busybox")
            .link(EntryType::Link, "bin/tool2", "bin/tool")
            .bytes();
        let stats = unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap();
        assert_eq!(stats.entries, 5);
        assert_eq!(
            fs::read_to_string(d.path().join("etc/passwd")).unwrap(),
            "root:x:0:0\n"
        );
        assert_eq!(
            fs::read_link(d.path().join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        let a = fs::metadata(d.path().join("bin/tool")).unwrap();
        let b = fs::metadata(d.path().join("bin/tool2")).unwrap();
        assert_eq!(a.ino(), b.ino());
        assert_eq!(a.mode() & 0o7777, 0o644);
        assert_eq!(a.mtime(), 1_700_000_000);
        assert_eq!(
            fs::metadata(d.path().join("etc")).unwrap().mtime(),
            1_700_000_000
        );
    }

    #[test]
    fn copy_mode_keeps_whiteout_names_and_refuses_type_changes() {
        let d = testkit::TempDir::new("unpack");
        fs::create_dir(d.path().join("dir")).unwrap();
        fs::write(d.path().join("file"), "x").unwrap();
        let plain = Layer::new()
            .file(".wh.keep", "k")
            .file("sub/a", "a")
            .bytes();
        let opts = CopyOptions {
            owner: Some((1234, 2345)),
            no_overwrite_dir_non_dir: true,
        };
        unpack_copy(&plain[..], d.path(), opts).unwrap();
        assert_eq!(fs::read_to_string(d.path().join(".wh.keep")).unwrap(), "k");
        if nix::unistd::geteuid().is_root() {
            let md = fs::metadata(d.path().join("sub/a")).unwrap();
            assert_eq!((md.uid(), md.gid()), (1234, 2345));
        }
        let over_dir = Layer::new().file("dir", "y").bytes();
        let e = unpack_copy(&over_dir[..], d.path(), opts).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot overwrite directory "),
            "{e}"
        );
        let over_file = Layer::new().dir("file/").bytes();
        let e = unpack_copy(&over_file[..], d.path(), opts).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot overwrite non-directory "),
            "{e}"
        );
        // Without the flag the copy replaces, like a layer.
        unpack_copy(&over_dir[..], d.path(), CopyOptions::default()).unwrap();
        assert_eq!(fs::read_to_string(d.path().join("dir")).unwrap(), "y");
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let d = testkit::TempDir::new("unpack");
        let layer = Layer::new()
            .file("a", "1")
            .link(EntryType::Symlink, "a", "/etc/passwd")
            .file("a", "2")
            .bytes();
        unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap();
        assert_eq!(fs::read_to_string(d.path().join("a")).unwrap(), "2");
    }

    #[test]
    fn absolute_names_are_applied_inside_the_root() {
        let d = testkit::TempDir::new("unpack");
        let layer = Layer::new().file("/abs/file", "x").bytes();
        unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap();
        assert_eq!(fs::read_to_string(d.path().join("abs/file")).unwrap(), "x");
    }

    #[test]
    fn dot_dot_names_are_refused() {
        let d = testkit::TempDir::new("unpack");
        let inner = d.path().join("root");
        fs::create_dir(&inner).unwrap();
        let layer = Layer::new().file("../x", "escape").bytes();
        let err = unpack(&layer, &inner, WhiteoutStyle::Delete).unwrap_err();
        assert!(matches!(err, UnpackError::Breakout { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "layer entry \"../x\" has a \"..\" component"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(!d.path().join("x").exists());
        let layer = Layer::new().file("a/../../x", "escape").bytes();
        assert!(matches!(
            unpack(&layer, &inner, WhiteoutStyle::Delete),
            Err(UnpackError::Breakout { .. })
        ));
    }

    #[test]
    fn write_through_symlink_to_etc_is_refused() {
        let d = testkit::TempDir::new("unpack");
        let layer = Layer::new()
            .link(EntryType::Symlink, "a", "/etc")
            .file("a/passwd", "owned")
            .bytes();
        let err = unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap_err();
        assert_eq!(
            err.to_string(),
            "layer entry \"a/passwd\" goes through symlink \"a\""
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn write_through_dot_dot_symlink_chain_is_refused() {
        let d = testkit::TempDir::new("unpack");
        let inner = d.path().join("root");
        fs::create_dir(&inner).unwrap();
        let layer = Layer::new()
            .link(EntryType::Symlink, "up", "..")
            .link(EntryType::Symlink, "d/up2", "../up/..")
            .file("d/up2/x", "escape")
            .bytes();
        let err = unpack(&layer, &inner, WhiteoutStyle::Delete).unwrap_err();
        assert!(matches!(err, UnpackError::ThroughSymlink { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "layer entry \"d/up2/x\" goes through symlink \"d/up2\""
        );
        assert!(!d.path().join("x").exists());
    }

    #[test]
    fn symlink_into_the_root_is_refused_as_a_parent_too() {
        let d = testkit::TempDir::new("unpack");
        let layer = Layer::new()
            .dir("real/")
            .link(EntryType::Symlink, "alias", "real")
            .file("alias/f", "x")
            .bytes();
        let err = unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap_err();
        assert!(matches!(err, UnpackError::ThroughSymlink { .. }), "{err:?}");
    }

    #[test]
    fn hard_link_to_host_etc_passwd_is_refused() {
        let d = testkit::TempDir::new("unpack");
        let layer = Layer::new()
            .link(EntryType::Link, "passwd", "/etc/passwd")
            .bytes();
        let err = unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap_err();
        assert_eq!(
            err.to_string(),
            "hard link \"passwd\" points at \"/etc/passwd\", which is not in the layer"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(!d.path().join("passwd").exists());
    }

    #[test]
    fn hard_link_with_dot_dot_target_is_refused() {
        let d = testkit::TempDir::new("unpack");
        let layer = Layer::new()
            .link(EntryType::Link, "passwd", "../../../../etc/passwd")
            .bytes();
        let err = unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap_err();
        assert!(
            matches!(err, UnpackError::HardLinkOutside { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn hard_link_through_symlink_is_refused() {
        let d = testkit::TempDir::new("unpack");
        let layer = Layer::new()
            .link(EntryType::Symlink, "e", "/etc")
            .link(EntryType::Link, "p", "e/passwd")
            .bytes();
        let err = unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap_err();
        assert!(matches!(err, UnpackError::ThroughSymlink { .. }), "{err:?}");
    }

    #[test]
    fn whiteouts_delete_in_delete_style() {
        let d = testkit::TempDir::new("unpack");
        // The "lower layers", as a full copy would hold them.
        fs::create_dir_all(d.path().join("dir/sub")).unwrap();
        fs::write(d.path().join("gone"), "x").unwrap();
        fs::write(d.path().join("dir/old"), "x").unwrap();
        fs::write(d.path().join("dir/sub/deep"), "x").unwrap();
        fs::create_dir_all(d.path().join("keep")).unwrap();
        fs::write(d.path().join("keep/k"), "x").unwrap();
        let layer = Layer::new()
            .file(".wh.gone", "")
            .file("dir/new", "n")
            .file("dir/.wh..wh..opq", "")
            .file("keep/.wh.missing", "")
            .bytes();
        unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap();
        assert!(!d.path().join("gone").exists());
        assert!(!d.path().join(".wh.gone").exists());
        assert!(!d.path().join("dir/old").exists());
        assert!(!d.path().join("dir/sub").exists());
        assert_eq!(fs::read_to_string(d.path().join("dir/new")).unwrap(), "n");
        assert!(d.path().join("keep/k").exists());
        assert!(!d.path().join("dir/.wh..wh..opq").exists());
    }

    #[test]
    fn whiteouts_become_overlay_markers_in_overlay_style() {
        testkit::require_root(); // mknod 0/0 and trusted.* xattrs need CAP_MKNOD / CAP_SYS_ADMIN
        let d = testkit::TempDir::new("unpack");
        let layer = Layer::new()
            .file(".wh.gone", "")
            .dir("dir/")
            .file("dir/.wh..wh..opq", "")
            .file("dir/new", "n")
            .bytes();
        unpack(&layer, d.path(), WhiteoutStyle::Overlay).unwrap();
        let md = fs::symlink_metadata(d.path().join("gone")).unwrap();
        assert!(md.file_type().is_char_device());
        assert_eq!(md.rdev(), 0);
        assert_eq!(
            crate::xattr::lget(&d.path().join("dir"), OVERLAY_OPAQUE_XATTR).unwrap(),
            Some(b"y".to_vec())
        );
        assert_eq!(fs::read_to_string(d.path().join("dir/new")).unwrap(), "n");
    }

    #[test]
    fn whiteout_through_symlink_is_refused() {
        let d = testkit::TempDir::new("unpack");
        let layer = Layer::new()
            .link(EntryType::Symlink, "a", "/etc")
            .file("a/.wh.passwd", "")
            .bytes();
        let err = unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap_err();
        assert!(matches!(err, UnpackError::ThroughSymlink { .. }), "{err:?}");
    }

    #[test]
    fn whiteout_of_dot_or_dot_dot_is_refused() {
        let d = testkit::TempDir::new("unpack");
        let inner = d.path().join("root");
        fs::create_dir_all(inner.join("dir")).unwrap();
        fs::write(d.path().join("sibling"), "keep").unwrap();
        for name in ["dir/.wh..", ".wh...", "dir/.wh..."] {
            let layer = Layer::new().file(name, "").bytes();
            let err = unpack(&layer, &inner, WhiteoutStyle::Delete).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("layer entry {name:?}: whiteout of \".\" or \"..\"")
            );
        }
        assert!(inner.join("dir").is_dir());
        assert!(d.path().join("sibling").exists());
    }

    #[test]
    fn overlay_xattrs_in_a_layer_are_ignored() {
        testkit::require_root();
        let d = testkit::TempDir::new("unpack");
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("SCHILY.xattr.trusted.overlay.redirect", &b"/elsewhere"[..])])
            .unwrap();
        let h = Layer::header(EntryType::Directory, "dir/", 0o755, 0);
        b.append(&h, &[][..]).unwrap();
        unpack(&b.into_inner().unwrap(), d.path(), WhiteoutStyle::Overlay).unwrap();
        assert_eq!(
            crate::xattr::lget(&d.path().join("dir"), b"trusted.overlay.redirect").unwrap(),
            None
        );
    }

    #[test]
    fn devices_fifos_owners_and_xattrs_are_applied() {
        testkit::require_root();
        let d = testkit::TempDir::new("unpack");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = Layer::header(EntryType::Char, "null", 0o666, 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        let mut h = Layer::header(EntryType::Fifo, "fifo", 0o600, 0);
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
        b.append_pax_extensions([("SCHILY.xattr.user.berth", &b"v"[..])])
            .unwrap();
        let mut h = Layer::header(EntryType::Regular, "owned", 0o4755, 1);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        unpack(&bytes, d.path(), WhiteoutStyle::Delete).unwrap();
        let md = fs::symlink_metadata(d.path().join("null")).unwrap();
        assert!(md.file_type().is_char_device());
        assert_eq!(
            (
                nix::sys::stat::major(md.rdev()),
                nix::sys::stat::minor(md.rdev())
            ),
            (1, 3)
        );
        assert!(fs::symlink_metadata(d.path().join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        let md = fs::metadata(d.path().join("owned")).unwrap();
        assert_eq!(
            (md.uid(), md.gid(), md.mode() & 0o7777),
            (1234, 5678, 0o4755)
        );
        assert_eq!(
            crate::xattr::lget(&d.path().join("owned"), b"user.berth").unwrap(),
            Some(b"v".to_vec())
        );
    }

    #[test]
    fn ten_thousand_deep_directories_are_refused_quickly() {
        let d = testkit::TempDir::new("unpack");
        let mut b = tar::Builder::new(Vec::new());
        let mut name = String::new();
        for _ in 0..10_000 {
            name.push_str("a/");
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            b.append_data(&mut h, &name, &[][..]).unwrap();
        }
        let layer = b.into_inner().unwrap();
        let start = std::time::Instant::now();
        let e = unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap_err();
        assert!(e.to_string().contains("PATH_MAX"), "{e}");
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        // Everything stayed inside the root.
        assert!(d.path().join("a/a/a").is_dir());
    }

    #[test]
    fn a_2gb_sparse_file_stays_sparse() {
        use std::os::unix::fs::MetadataExt;
        let d = testkit::TempDir::new("unpack");
        // A GNU sparse entry: 2 GiB long, 1 KiB of data at its end.
        let size: u64 = 2 << 30;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::GNUSparse);
        h.set_mode(0o644);
        h.set_size(1024);
        h.set_path("big.img").unwrap();
        {
            let gnu = h.as_gnu_mut().unwrap();
            let octal = |field: &mut [u8], v: u64| {
                let s = format!("{:0width$o}", v, width = field.len() - 1);
                field[..s.len()].copy_from_slice(s.as_bytes());
                field[s.len()] = 0;
            };
            octal(&mut gnu.sparse[0].offset, size - 1024);
            octal(&mut gnu.sparse[0].numbytes, 1024);
            octal(&mut gnu.realsize, size);
        }
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &[7u8; 1024][..]).unwrap();
        let layer = b.into_inner().unwrap();
        unpack(&layer, d.path(), WhiteoutStyle::Delete).unwrap();
        let md = fs::metadata(d.path().join("big.img")).unwrap();
        assert_eq!(md.len(), size);
        // Allocated blocks (512 bytes each): a few KiB, not 2 GiB.
        assert!(md.blocks() * 512 < (1 << 20), "{} blocks", md.blocks());
        let mut f = fs::File::open(d.path().join("big.img")).unwrap();
        use std::io::{Seek, SeekFrom};
        f.seek(SeekFrom::Start(size - 1024)).unwrap();
        let mut tail = Vec::new();
        f.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, vec![7u8; 1024]);
    }

    #[test]
    fn truncated_archive_is_a_read_error() {
        let d = testkit::TempDir::new("unpack");
        let body = "x".repeat(4000);
        let layer = Layer::new().file("big", &body).bytes();
        let err = unpack(&layer[..1500], d.path(), WhiteoutStyle::Delete).unwrap_err();
        assert!(matches!(err, UnpackError::Read(_)), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
}
