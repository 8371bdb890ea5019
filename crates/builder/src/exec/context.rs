//! Build contexts on the daemon's side: unpacking the context tar into a directory that may
//! still hold the previous build's context, and the digests of its files.
//!
//! **Reuse.** The daemon keeps the last context (`builder/contexts/reuse/ctx`, see
//! [`ContextDir`]). A new context is unpacked over it: a file whose content and metadata equal
//! the tar's is left alone, a changed file is rewritten in place, missing ones are created and
//! entries the tar does not name are removed. An unchanged context of 5 000 files then costs
//! one open and fstat per file and hashing its bytes in memory: no truncation, block
//! allocation, inode update or writeback (ext4 makes allocating thousands of inodes right
//! after deleting as many slow), and no reading back of the kept files (after their pages are
//! evicted that alone takes seconds).
//!
//! **Digests.** The unpacker records `relative path -> (stat tuple, sha256)` for every file in
//! [`ContextDigests`], persisted next to the context (`reuse/digests`). The stat tuple is
//! device, inode, size, mode, owner, mtime and ctime (both with nanoseconds), read after the
//! file's last change; a digest is only used while the file's stat still equals it, and the
//! kernel sets ctime on every write, chmod, chown or utimes, so a file changed behind the
//! daemon's back (even with its size and mtime restored) is not trusted. How a kept file is
//! compared with the tar's entry:
//! - its digest is valid and the entry is as big and at most 1 MiB: the entry is hashed in
//!   memory and the file rewritten in place only when the digests differ;
//! - otherwise its bytes are compared while they are equal and it is written from the first
//!   difference on (a different size: from the start); the bytes written are hashed.
//!
//! COPY then takes each file's digest from here ([`ContextDigests::lookup`], the stat checked
//! again) and hashes only files without one. The digest file is dropped while a context is
//! unpacked (a failed unpack leaves none) and after a reboot (it names the boot it was written
//! in: without fsyncs, a crash could leave new bytes under an old ctime). Limit: on kernels
//! with coarse timestamps (before 6.13's multigrain ctime), a change by another process
//! within the same clock tick as the unpack's own write, with size and mtime restored, is not
//! seen by the stat (as for git, make or rsync). Nothing but the daemon writes there.
//!
//! Safety: names are cleaned and may not contain `..`; every parent directory is checked to be
//! a real directory (a symlink or file in the way is replaced), and files are opened with
//! `O_NOFOLLOW`, so nothing is written outside the directory whatever the tar or the old
//! content holds.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use api::digest::{Algorithm, Hasher};
use api::Digest;

/// A context that cannot be unpacked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ContextError(String);

fn err(what: &str, p: &Path) -> impl FnOnce(io::Error) -> ContextError {
    let what = what.to_string();
    let p = p.display().to_string();
    move |e| ContextError(format!("{what} {p}: {e}"))
}

/// The stat fields a recorded digest is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatKey {
    dev: u64,
    ino: u64,
    size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nsec: i64,
    ctime: i64,
    ctime_nsec: i64,
}

impl StatKey {
    /// The key of a file's metadata (`lstat`/`fstat`).
    pub fn of(md: &fs::Metadata) -> StatKey {
        StatKey {
            dev: md.dev(),
            ino: md.ino(),
            size: md.size(),
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            mtime: md.mtime(),
            mtime_nsec: md.mtime_nsec(),
            ctime: md.ctime(),
            ctime_nsec: md.ctime_nsec(),
        }
    }

    const LEN: usize = 8 * 3 + 4 * 3 + 8 * 4;

    fn put(&self, out: &mut Vec<u8>) {
        for v in [self.dev, self.ino, self.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.mode, self.uid, self.gid] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.mtime, self.mtime_nsec, self.ctime, self.ctime_nsec] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn get(b: &[u8]) -> StatKey {
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let i64_at = |i: usize| i64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        StatKey {
            dev: u64_at(0),
            ino: u64_at(8),
            size: u64_at(16),
            mode: u32_at(24),
            uid: u32_at(28),
            gid: u32_at(32),
            mtime: i64_at(36),
            mtime_nsec: i64_at(44),
            ctime: i64_at(52),
            ctime_nsec: i64_at(60),
        }
    }
}

/// `relative path -> (stat, sha256)` of a context directory's regular files (module doc).
#[derive(Debug, Default, Clone)]
pub struct ContextDigests {
    map: HashMap<PathBuf, (StatKey, Digest)>,
}

const DIGESTS_MAGIC: &[u8] = b"berth-context-digests-v1\n";

/// This boot's id: the digest file is only trusted in the boot that wrote it.
fn boot_id() -> Vec<u8> {
    fs::read("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim_ascii().to_vec())
        .unwrap_or_default()
}

impl ContextDigests {
    /// The content digest of the file at `path` (inside `root`) with metadata `md`, when one
    /// was recorded for exactly this stat.
    pub fn lookup(&self, root: &Path, path: &Path, md: &fs::Metadata) -> Option<&Digest> {
        let rel = path.strip_prefix(root).ok()?;
        match self.map.get(rel) {
            Some((k, d)) if *k == StatKey::of(md) => Some(d),
            _ => None,
        }
    }

    /// Number of recorded files.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Nothing recorded.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.map.len() * 160);
        out.extend_from_slice(DIGESTS_MAGIC);
        let boot = boot_id();
        out.extend_from_slice(&(boot.len() as u32).to_le_bytes());
        out.extend_from_slice(&boot);
        out.extend_from_slice(&(self.map.len() as u64).to_le_bytes());
        for (path, (key, digest)) in &self.map {
            let p = path.as_os_str().as_bytes();
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(p);
            key.put(&mut out);
            out.extend_from_slice(digest.hex().as_bytes());
        }
        let sum = Digest::sha256_of(&out);
        out.extend_from_slice(sum.hex().as_bytes());
        out
    }

    fn decode(b: &[u8]) -> Option<ContextDigests> {
        let body = b.get(..b.len().checked_sub(64)?)?;
        if Digest::sha256_of(body).hex().as_bytes() != &b[body.len()..] {
            return None;
        }
        let mut r = body.strip_prefix(DIGESTS_MAGIC)?;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, rest) = (r.get(..n)?, r.get(n..)?);
            r = rest;
            Some(head)
        };
        let boot_len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        if take(boot_len)? != boot_id().as_slice() || boot_len == 0 {
            return None;
        }
        let count = u64::from_le_bytes(take(8)?.try_into().ok()?);
        let mut map = HashMap::new();
        for _ in 0..count {
            let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(take(len)?));
            let key = StatKey::get(take(StatKey::LEN)?);
            let hex = std::str::from_utf8(take(64)?).ok()?;
            let digest = Digest::new(Algorithm::Sha256, hex).ok()?;
            map.insert(path, (key, digest));
        }
        Some(ContextDigests { map })
    }

    /// Reads a digest file; a missing, damaged or other boot's file gives an empty set.
    pub fn load(path: &Path) -> ContextDigests {
        match fs::read(path) {
            Ok(b) => ContextDigests::decode(&b).unwrap_or_else(|| {
                tracing::debug!(path = %path.display(), "context digests not usable; files are hashed again");
                ContextDigests::default()
            }),
            Err(_) => ContextDigests::default(),
        }
    }

    /// Writes the digest file atomically (temp file and rename, no fsync: the file names its
    /// boot and carries its own checksum, so a torn or stale file is simply not used).
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        let result = (|| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&self.encode())?;
            drop(f);
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// What an unpack did (for the daemon's log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Regular files in the context.
    pub files: u64,
    /// Files created or rewritten (content changed).
    pub written: u64,
    /// Bytes hashed (all but files compared byte by byte whose digest was known).
    pub hashed: u64,
    /// Bytes read back from the kept files to compare (their digest was not known, or they
    /// are big).
    pub read: u64,
    /// Bytes of file content received.
    pub bytes: u64,
}

/// A build's context directory, `<contexts>/<unique>/ctx`, with its file digests. Made from
/// the kept context of an earlier build when there is one; on drop it becomes the kept one
/// (`<contexts>/reuse`) unless another build's context already is, else it is removed.
pub struct ContextDir {
    top: PathBuf,
    digests: ContextDigests,
}

/// The kept context's name under the contexts directory.
const REUSE: &str = "reuse";

impl ContextDir {
    /// Takes the kept context (renamed to a unique name, so concurrent builds never share
    /// one) or makes an empty one.
    pub fn take(contexts: &Path) -> io::Result<ContextDir> {
        fs::create_dir_all(contexts)?;
        let top = contexts.join(content::atomic::unique_suffix());
        let mut digests = ContextDigests::default();
        if fs::rename(contexts.join(REUSE), &top).is_ok() {
            if fs::symlink_metadata(top.join("ctx")).is_ok_and(|m| m.is_dir()) {
                digests = ContextDigests::load(&top.join("digests"));
            } else {
                // Not a kept context of this layout: start empty.
                let _ = remove_any(&top);
            }
        }
        fs::create_dir_all(top.join("ctx"))?;
        Ok(ContextDir { top, digests })
    }

    /// The context's files.
    pub fn path(&self) -> PathBuf {
        self.top.join("ctx")
    }

    /// The digests of the context's regular files.
    pub fn digests(&self) -> &ContextDigests {
        &self.digests
    }

    /// Unpacks the context tar `reader` over the directory (module doc) and saves the digests.
    pub fn unpack(&mut self, reader: impl Read) -> Result<UnpackStats, ContextError> {
        let file = self.top.join("digests");
        match fs::remove_file(&file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(ContextError(format!("remove {}: {e}", file.display())))
            }
            _ => {}
        }
        let stats = unpack_context(reader, &self.path(), &mut self.digests)?;
        if let Err(e) = self.digests.save(&file) {
            tracing::warn!(path = %file.display(), error = %e, "could not save the context digests");
        }
        Ok(stats)
    }
}

impl Drop for ContextDir {
    fn drop(&mut self) {
        if let Some(contexts) = self.top.parent() {
            if fs::rename(&self.top, contexts.join(REUSE)).is_ok() {
                return;
            }
        }
        if let Err(e) = fs::remove_dir_all(&self.top) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %self.top.display(), error = %e, "could not remove a build context");
            }
        }
    }
}

/// Removes the contexts of builds a stopped daemon left (everything but the kept one).
pub fn remove_stale_contexts(contexts: &Path) {
    let Ok(rd) = fs::read_dir(contexts) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name() != REUSE {
            let p = e.path();
            let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            if let Err(e) = r {
                tracing::warn!(path = %p.display(), error = %e, "could not remove a stale build context");
            }
        }
    }
}

fn clean(name: &Path) -> Result<PathBuf, ContextError> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ContextError(format!(
                    "invalid path in the build context: {}",
                    name.display()
                )))
            }
        }
    }
    Ok(out)
}

/// Removes whatever is at `p` (file, link or tree).
fn remove_any(p: &Path) -> Result<(), ContextError> {
    match fs::symlink_metadata(p) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(p).map_err(err("remove", p)),
        Ok(_) => fs::remove_file(p).map_err(err("remove", p)),
        Err(_) => Ok(()),
    }
}

/// Makes every parent of `rel` under `dir` a real directory.
fn ensure_parents(
    dir: &Path,
    rel: &Path,
    known: &mut HashSet<PathBuf>,
) -> Result<(), ContextError> {
    let mut cur = PathBuf::new();
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        cur.push(c);
        if known.contains(&cur) {
            continue;
        }
        let p = dir.join(&cur);
        match fs::symlink_metadata(&p) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                remove_any(&p)?;
                fs::create_dir(&p).map_err(err("create", &p))?;
            }
            Err(_) => fs::create_dir(&p).map_err(err("create", &p))?,
        }
        known.insert(cur.clone());
    }
    Ok(())
}

/// The metadata a tar entry asks for.
#[derive(Debug, Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

impl Meta {
    fn owner_differs(&self, md: &fs::Metadata) -> bool {
        md.uid() != self.uid || md.gid() != self.gid
    }
    fn mode_differs(&self, md: &fs::Metadata) -> bool {
        md.mode() & 0o7777 != self.mode
    }
    fn mtime_differs(&self, md: &fs::Metadata) -> bool {
        md.mtime() != self.mtime || md.mtime_nsec() != 0
    }
}

fn chown_path(p: &Path, m: &Meta) {
    // Best effort, as before: an unprivileged daemon (tests) keeps its own ids.
    let _ = nix::unistd::fchownat(
        None,
        p,
        Some(nix::unistd::Uid::from_raw(m.uid)),
        Some(nix::unistd::Gid::from_raw(m.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    );
}

fn set_times(p: &Path, mtime: i64) -> Result<(), ContextError> {
    let t = nix::sys::time::TimeSpec::new(mtime, 0);
    nix::sys::stat::utimensat(
        None,
        p,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| ContextError(format!("set times of {}: {e}", p.display())))
}

/// Sets what differs of `m` on the directory `p` (after its entries are in place).
fn set_dir_meta(p: &Path, m: &Meta) -> Result<(), ContextError> {
    let md = fs::symlink_metadata(p).map_err(err("stat", p))?;
    let chowned = m.owner_differs(&md);
    if chowned {
        chown_path(p, m);
    }
    if chowned || m.mode_differs(&md) {
        fs::set_permissions(p, fs::Permissions::from_mode(m.mode)).map_err(err("chmod", p))?;
    }
    if m.mtime_differs(&md) {
        set_times(p, m.mtime)?;
    }
    Ok(())
}

const CHUNK: usize = 64 << 10;

fn read_err(e: io::Error) -> ContextError {
    ContextError(format!("reading the build context: {e}"))
}

/// Reads until `buf` is full or the reader ends.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes `data` at `pos` of a file that ends at or before `pos`, leaving an all-zero chunk
/// as a hole.
fn write_sparse_at(f: &fs::File, data: &[u8], pos: u64) -> io::Result<()> {
    if data.iter().all(|b| *b == 0) {
        return Ok(());
    }
    f.write_all_at(data, pos)
}

/// Feeds `f`'s first `len` bytes to `h`.
fn hash_prefix(f: &fs::File, len: u64, h: &mut Hasher, buf: &mut [u8]) -> io::Result<()> {
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        f.read_exact_at(&mut buf[..n], off)?;
        h.update(&buf[..n]);
        off += n as u64;
    }
    Ok(())
}

/// Buffers reused for every file of one unpack.
struct Buffers {
    incoming: Vec<u8>,
    existing: Vec<u8>,
    whole: Vec<u8>,
}

/// Files up to this size whose digest is known are compared by digest (module doc).
const WHOLE: usize = 1 << 20;

/// The content of a file whose digest is known and whose size equals the entry's: the entry
/// is hashed in memory and the file rewritten in place only when the digests differ, so an
/// unchanged file is neither written nor read back (reading 5 000 files whose pages were
/// evicted costs seconds). Returns (written, digest).
fn by_digest(
    r: &mut impl Read,
    (f, target): (&fs::File, &Path),
    size: u64,
    known: &Digest,
    bufs: &mut Buffers,
    stats: &mut UnpackStats,
) -> Result<(bool, Digest), ContextError> {
    let whole = &mut bufs.whole;
    whole.clear();
    r.take(size).read_to_end(whole).map_err(read_err)?;
    if whole.len() as u64 != size {
        return Err(read_err(io::ErrorKind::UnexpectedEof.into()));
    }
    stats.bytes += size;
    stats.hashed += size;
    let digest = Digest::sha256_of(whole);
    if digest == *known {
        return Ok((false, digest));
    }
    f.write_all_at(whole, 0).map_err(err("write", target))?;
    Ok((true, digest))
}

/// The content of any other file: compared with the file's bytes while they are equal,
/// written from the first difference on (from the start with `rewrite`), hashed unless
/// `known` is its digest and nothing differed. Returns (written, digest).
fn by_bytes(
    r: &mut impl Read,
    (f, target): (&fs::File, &Path),
    rewrite: bool,
    known: Option<Digest>,
    bufs: &mut Buffers,
    stats: &mut UnpackStats,
) -> Result<(bool, Digest), ContextError> {
    let io_err = |e: io::Error| ContextError(format!("write {}: {e}", target.display()));
    let Buffers {
        incoming, existing, ..
    } = bufs;
    let mut off = 0u64;
    let mut writing = rewrite;
    let mut hasher = (writing || known.is_none()).then(|| Hasher::new(Algorithm::Sha256));
    if writing {
        f.set_len(0).map_err(io_err)?;
    }
    loop {
        let n = read_full(r, incoming).map_err(read_err)?;
        if n == 0 {
            break;
        }
        let data = &incoming[..n];
        if !writing {
            let same = f.read_exact_at(&mut existing[..n], off).is_ok() && existing[..n] == *data;
            stats.read += n as u64;
            if !same {
                writing = true;
                if hasher.is_none() {
                    let mut h = Hasher::new(Algorithm::Sha256);
                    hash_prefix(f, off, &mut h, existing).map_err(io_err)?;
                    stats.read += off;
                    stats.hashed += off;
                    hasher = Some(h);
                }
                f.set_len(off).map_err(io_err)?;
            }
        }
        if writing {
            write_sparse_at(f, data, off).map_err(io_err)?;
        }
        if let Some(h) = &mut hasher {
            h.update(data);
            stats.hashed += n as u64;
        }
        off += n as u64;
    }
    stats.bytes += off;
    if writing {
        f.set_len(off).map_err(io_err)?;
    }
    let digest = match (hasher, known) {
        (Some(h), _) => h.finish(),
        (None, Some(d)) => d,
        (None, None) => unreachable!("a file without a known digest is hashed"),
    };
    Ok((writing, digest))
}

/// Puts one regular file entry at `target`; returns its stat and digest.
fn unpack_file(
    r: &mut impl Read,
    target: &Path,
    size: Option<u64>,
    meta: &Meta,
    old: Option<&(StatKey, Digest)>,
    bufs: &mut Buffers,
    stats: &mut UnpackStats,
) -> Result<(StatKey, Digest), ContextError> {
    let io_err = |e: io::Error| ContextError(format!("write {}: {e}", target.display()));
    // The existing file, when it is a regular one. O_NONBLOCK: a fifo in the way must not
    // block the open (it is replaced below).
    let existing = match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits())
        .open(target)
    {
        Ok(f) => {
            let md = f.metadata().map_err(io_err)?;
            // A second name of another file (hard link) is not written through.
            if md.is_file() && md.nlink() == 1 {
                Some((f, md))
            } else {
                drop(f);
                remove_any(target)?;
                None
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(_) => {
            // A symlink (ELOOP), a directory (EISDIR) or something unreadable: replace it.
            remove_any(target)?;
            None
        }
    };
    let (f, md, is_new) = match existing {
        Some((f, md)) => (f, md, false),
        None => {
            let f = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
                .open(target)
                .map_err(io_err)?;
            let md = f.metadata().map_err(io_err)?;
            (f, md, true)
        }
    };
    // A digest recorded for exactly this file (its stat unchanged since).
    let known = old
        .filter(|(k, _)| !is_new && *k == StatKey::of(&md))
        .map(|(_, d)| d.clone());
    let (writing, digest) = match (known, size) {
        (Some(k), Some(size)) if size == md.len() && size <= WHOLE as u64 => {
            by_digest(r, (&f, target), size, &k, bufs, stats)?
        }
        (known, size) => {
            let rewrite = is_new || size != Some(md.len());
            by_bytes(r, (&f, target), rewrite, known, bufs, stats)?
        }
    };
    stats.written += u64::from(writing);
    // Metadata: only what differs (each call changes the ctime).
    let chowned = is_new || meta.owner_differs(&md);
    if chowned {
        let _ = nix::unistd::fchown(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            Some(nix::unistd::Uid::from_raw(meta.uid)),
            Some(nix::unistd::Gid::from_raw(meta.gid)),
        );
    }
    let chmodded = chowned || meta.mode_differs(&md);
    if chmodded {
        f.set_permissions(fs::Permissions::from_mode(meta.mode))
            .map_err(io_err)?;
    }
    let touched = writing || meta.mtime_differs(&md);
    if touched {
        let t = nix::sys::time::TimeSpec::new(meta.mtime, 0);
        nix::sys::stat::futimens(std::os::fd::AsRawFd::as_raw_fd(&f), &t, &t)
            .map_err(|e| ContextError(format!("set times of {}: {e}", target.display())))?;
    }
    let key = if writing || chmodded || touched || chowned {
        StatKey::of(&f.metadata().map_err(io_err)?)
    } else {
        StatKey::of(&md)
    };
    Ok((key, digest))
}

/// Unpacks the tar read from `reader` into `dir` (see the module doc). `digests` holds the
/// digests of `dir`'s files from the last unpack and is replaced by those of the new context.
pub fn unpack_context(
    reader: impl Read,
    dir: &Path,
    digests: &mut ContextDigests,
) -> Result<UnpackStats, ContextError> {
    fs::create_dir_all(dir).map_err(err("create", dir))?;
    let mut stats = UnpackStats::default();
    let mut next: HashMap<PathBuf, (StatKey, Digest)> = HashMap::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut known_dirs: HashSet<PathBuf> = HashSet::new();
    let mut dir_meta: Vec<(PathBuf, Meta)> = Vec::new();
    let mut bufs = Buffers {
        incoming: vec![0u8; CHUNK],
        existing: vec![0u8; CHUNK],
        whole: Vec::new(),
    };
    let mut ar = tar::Archive::new(reader);
    let bad = |e: io::Error| ContextError(format!("reading the build context: {e}"));
    for entry in ar.entries().map_err(bad)? {
        let mut e = entry.map_err(bad)?;
        let rel = clean(&e.path().map_err(bad)?)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        ensure_parents(dir, &rel, &mut known_dirs)?;
        let target = dir.join(&rel);
        let h = e.header();
        let meta = Meta {
            mode: h.mode().unwrap_or(0o644) & 0o7777,
            uid: h.uid().unwrap_or(0) as u32,
            gid: h.gid().unwrap_or(0) as u32,
            mtime: h.mtime().unwrap_or(0) as i64,
        };
        let kind = h.entry_type();
        seen.insert(rel.clone());
        if kind.is_dir() {
            let existing = fs::symlink_metadata(&target).ok();
            if !existing.as_ref().is_some_and(|m| m.is_dir()) {
                remove_any(&target)?;
                fs::create_dir(&target).map_err(err("create", &target))?;
            }
            known_dirs.insert(rel.clone());
            next.remove(&rel);
            dir_meta.push((target, meta));
        } else if kind.is_file() || kind.is_gnu_sparse() || kind == tar::EntryType::Continuous {
            // A GNU sparse entry's header size is not the file's: always rewritten.
            let size = (!kind.is_gnu_sparse()).then(|| e.size());
            stats.files += 1;
            let rec = unpack_file(
                &mut e,
                &target,
                size,
                &meta,
                digests.map.get(&rel),
                &mut bufs,
                &mut stats,
            )?;
            next.insert(rel, rec);
        } else if kind.is_symlink() {
            let to = e
                .link_name()
                .map_err(bad)?
                .ok_or_else(|| ContextError(format!("symlink without target: {}", rel.display())))?
                .into_owned();
            let existing = fs::symlink_metadata(&target).ok();
            let same = existing
                .as_ref()
                .is_some_and(|m| m.file_type().is_symlink())
                && fs::read_link(&target).ok().as_deref() == Some(to.as_path());
            if !same {
                remove_any(&target)?;
                std::os::unix::fs::symlink(&to, &target).map_err(err("create link", &target))?;
            }
            if !same || existing.as_ref().is_some_and(|m| meta.owner_differs(m)) {
                chown_path(&target, &meta);
            }
            next.remove(&rel);
        } else if kind.is_hard_link() {
            let to = e.link_name().map_err(bad)?.ok_or_else(|| {
                ContextError(format!("hard link without target: {}", rel.display()))
            })?;
            let src_rel = clean(&to)?;
            let src = dir.join(&src_rel);
            let md = fs::symlink_metadata(&src).map_err(err("stat", &src))?;
            if !md.is_file() {
                return Err(ContextError(format!(
                    "hard link to a non-file: {}",
                    rel.display()
                )));
            }
            let linked = fs::symlink_metadata(&target)
                .is_ok_and(|t| t.dev() == md.dev() && t.ino() == md.ino());
            if !linked {
                remove_any(&target)?;
                fs::hard_link(&src, &target).map_err(err("link", &target))?;
            }
            // Both names are one inode (whose ctime the link changed): one record for both.
            let now = fs::symlink_metadata(&src).map_err(err("stat", &src))?;
            match next.get(&src_rel).map(|(_, d)| d.clone()) {
                Some(d) => {
                    next.insert(src_rel, (StatKey::of(&now), d.clone()));
                    next.insert(rel, (StatKey::of(&now), d));
                }
                None => {
                    next.remove(&rel);
                }
            }
        }
        // Other types (devices, fifos, PAX/GNU extension headers) carry no context content.
    }
    // Entries of an earlier context that this one does not have.
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let Ok(rd) = fs::read_dir(&abs) else { continue };
        for ent in rd.flatten() {
            let r = rel.join(ent.file_name());
            if !seen.contains(&r) && !known_dirs.contains(&r) {
                remove_any(&dir.join(&r))?;
                next.remove(&r);
            } else if ent.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(r);
            }
        }
    }
    for (p, m) in dir_meta.iter().rev() {
        set_dir_meta(p, m)?;
    }
    digests.map = next;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn tar_of(entries: &[(&str, Option<&str>, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            match (data, link) {
                (Some(d), _) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(d.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, name, d.as_bytes()).unwrap();
                }
                (None, Some(l)) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, name, l).unwrap();
                }
                _ => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    b.append_data(&mut h, name, io::empty()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn reuses_files_removes_stale_ones_and_never_writes_outside() {
        let root =
            std::env::temp_dir().join(format!("berth-ctx-{}", content::atomic::unique_suffix()));
        let dir = root.join("ctx");
        let outside = root.join("outside");
        fs::create_dir_all(&outside).unwrap();
        unpack_context(
            &tar_of(&[
                ("a/", None, None),
                ("a/f", Some("one"), None),
                ("old", Some("x"), None),
            ])[..],
            &dir,
            &mut ContextDigests::default(),
        )
        .unwrap();
        let ino = fs::metadata(dir.join("a/f")).unwrap().ino();
        // Second context: a/f changed (same inode), old gone, a link to outside as a parent
        // is replaced by a real directory.
        fs::remove_dir_all(dir.join("a")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("a")).unwrap();
        unpack_context(
            &tar_of(&[("a/f", Some("two"), None), ("l", None, Some("/etc/passwd"))])[..],
            &dir,
            &mut ContextDigests::default(),
        )
        .unwrap();
        assert_eq!(fs::read_to_string(dir.join("a/f")).unwrap(), "two");
        assert!(fs::symlink_metadata(dir.join("a")).unwrap().is_dir());
        assert!(!dir.join("old").exists());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
        // Unchanged layout: the file keeps its inode.
        let ino2 = fs::metadata(dir.join("a/f")).unwrap().ino();
        unpack_context(
            &tar_of(&[
                ("a/f", Some("three"), None),
                ("l", None, Some("/etc/passwd")),
            ])[..],
            &dir,
            &mut ContextDigests::default(),
        )
        .unwrap();
        assert_eq!(fs::metadata(dir.join("a/f")).unwrap().ino(), ino2);
        assert_ne!(ino, 0);
        fs::remove_dir_all(&root).unwrap();
    }

    fn tmp_root() -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("berth-ctx-{}", content::atomic::unique_suffix()));
        fs::create_dir_all(&root).unwrap();
        root
    }

    fn file_tar(files: &[(&str, &[u8], u64)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data, mtime) in files {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(*mtime);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn ctime(p: &Path) -> (i64, i64) {
        let md = fs::metadata(p).unwrap();
        (md.ctime(), md.ctime_nsec())
    }

    #[test]
    fn unchanged_files_are_neither_rewritten_nor_read_and_a_same_size_change_is_found() {
        let root = tmp_root();
        let dir = root.join("ctx");
        let mut digests = ContextDigests::default();
        let one = file_tar(&[("d/a", b"aaaa", 1000), ("d/b", b"bbbb", 1000)]);
        let s1 = unpack_context(&one[..], &dir, &mut digests).unwrap();
        assert_eq!((s1.files, s1.written, s1.hashed, s1.read), (2, 2, 8, 0));
        let a = dir.join("d/a");
        let md = fs::metadata(&a).unwrap();
        assert_eq!(
            digests.lookup(&dir, &a, &md),
            Some(&Digest::sha256_of(b"aaaa"))
        );
        let (ino, c) = (md.ino(), ctime(&a));
        // The same context again: compared by digest, nothing written or read back, the
        // inode untouched.
        let s2 = unpack_context(&one[..], &dir, &mut digests).unwrap();
        assert_eq!((s2.files, s2.written, s2.read), (2, 0, 0));
        assert_eq!(ctime(&a), c);
        // One byte changed, same size and mtime: found by its bytes, rewritten in place.
        let two = file_tar(&[("d/a", b"aaab", 1000), ("d/b", b"bbbb", 1000)]);
        let s3 = unpack_context(&two[..], &dir, &mut digests).unwrap();
        assert_eq!((s3.written, s3.read), (1, 0));
        assert_eq!(fs::read(&a).unwrap(), b"aaab");
        let md = fs::metadata(&a).unwrap();
        assert_eq!((md.ino(), md.mtime(), md.len()), (ino, 1000, 4));
        assert_eq!(
            digests.lookup(&dir, &a, &md),
            Some(&Digest::sha256_of(b"aaab"))
        );
        // Only the mtime changed: the content is kept, the file gets the new time.
        let three = file_tar(&[("d/a", b"aaab", 2000), ("d/b", b"bbbb", 1000)]);
        let s4 = unpack_context(&three[..], &dir, &mut digests).unwrap();
        assert_eq!((s4.written, s4.read), (0, 0));
        let md = fs::metadata(&a).unwrap();
        assert_eq!(md.mtime(), 2000);
        assert_eq!(
            digests.lookup(&dir, &a, &md),
            Some(&Digest::sha256_of(b"aaab"))
        );
        // A changed size (the known digest must not survive a rewrite from the start).
        let longer = file_tar(&[("d/a", b"aaab1", 2000), ("d/b", b"bbbb", 1000)]);
        let s5 = unpack_context(&longer[..], &dir, &mut digests).unwrap();
        assert_eq!((s5.written, s5.read), (1, 0));
        let md = fs::metadata(&a).unwrap();
        assert_eq!(
            digests.lookup(&dir, &a, &md),
            Some(&Digest::sha256_of(b"aaab1"))
        );
        let shorter = file_tar(&[("d/a", b"aa", 2000), ("d/b", b"bbbb", 1000)]);
        unpack_context(&shorter[..], &dir, &mut digests).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"aa");
        let md = fs::metadata(&a).unwrap();
        assert_eq!(
            digests.lookup(&dir, &a, &md),
            Some(&Digest::sha256_of(b"aa"))
        );
        // A file gone from the context loses its file and its digest.
        let four = file_tar(&[("d/a", b"aa", 2000)]);
        unpack_context(&four[..], &dir, &mut digests).unwrap();
        assert!(!dir.join("d/b").exists());
        assert_eq!(digests.len(), 1);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_file_changed_behind_the_daemons_back_is_not_trusted() {
        let root = tmp_root();
        let dir = root.join("ctx");
        let mut digests = ContextDigests::default();
        let tar = file_tar(&[("f", b"12345678", 1000)]);
        unpack_context(&tar[..], &dir, &mut digests).unwrap();
        let f = dir.join("f");
        // Same size, mtime put back: only the ctime tells.
        fs::write(&f, b"12345679").unwrap();
        set_times(&f, 1000).unwrap();
        let md = fs::metadata(&f).unwrap();
        assert_eq!((md.len(), md.mtime(), md.mtime_nsec()), (8, 1000, 0));
        assert_eq!(digests.lookup(&dir, &f, &md), None);
        // COPY's description hashes it again.
        let sel = crate::exec::files::select(&dir, "f", None).unwrap();
        let rel = |_: &Path| None;
        let (entries, _) =
            crate::exec::files::describe(&sel, &rel, None, Some((&dir, &digests))).unwrap();
        assert_eq!(entries[0].content, Some(Digest::sha256_of(b"12345679")));
        // The next unpack of the original context compares bytes and puts them back.
        let s = unpack_context(&tar[..], &dir, &mut digests).unwrap();
        assert_eq!((s.written, s.read), (1, 8));
        assert_eq!(fs::read(&f).unwrap(), b"12345678");
        let md = fs::metadata(&f).unwrap();
        assert_eq!(
            digests.lookup(&dir, &f, &md),
            Some(&Digest::sha256_of(b"12345678"))
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_hard_linked_name_is_replaced_not_written_through() {
        let root = tmp_root();
        let dir = root.join("ctx");
        let mut digests = ContextDigests::default();
        unpack_context(&file_tar(&[("a", b"one", 1)])[..], &dir, &mut digests).unwrap();
        fs::hard_link(dir.join("a"), root.join("other")).unwrap();
        unpack_context(&file_tar(&[("a", b"two", 1)])[..], &dir, &mut digests).unwrap();
        assert_eq!(fs::read(dir.join("a")).unwrap(), b"two");
        assert_eq!(fs::read(root.join("other")).unwrap(), b"one");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn digests_survive_a_new_process_but_not_damage() {
        let root = tmp_root();
        let contexts = root.join("contexts");
        let tar = file_tar(&[("x/y", b"data", 5)]);
        {
            let mut c = ContextDir::take(&contexts).unwrap();
            let s = c.unpack(&tar[..]).unwrap();
            assert_eq!(s.hashed, 4);
        }
        assert!(contexts.join("reuse/ctx/x/y").is_file());
        assert!(contexts.join("reuse/digests").is_file());
        // What a restarted daemon sees: the kept context and its digests, from the file.
        {
            let mut c = ContextDir::take(&contexts).unwrap();
            assert_eq!(c.digests().len(), 1);
            let s = c.unpack(&tar[..]).unwrap();
            assert_eq!((s.written, s.read), (0, 0));
            let p = c.path().join("x/y");
            let md = fs::metadata(&p).unwrap();
            assert_eq!(
                c.digests().lookup(&c.path(), &p, &md),
                Some(&Digest::sha256_of(b"data"))
            );
        }
        // A damaged file is not used (the files are hashed again).
        let file = contexts.join("reuse/digests");
        let mut b = fs::read(&file).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 1;
        fs::write(&file, &b).unwrap();
        {
            let mut c = ContextDir::take(&contexts).unwrap();
            assert!(c.digests().is_empty());
            assert_eq!(c.unpack(&tar[..]).unwrap().read, 4);
        }
        // A build running meanwhile gets its own directory; the first to finish is kept.
        let a = ContextDir::take(&contexts).unwrap();
        let b = ContextDir::take(&contexts).unwrap();
        assert!(b.digests().is_empty());
        assert_ne!(a.path(), b.path());
        drop(b);
        drop(a);
        assert_eq!(fs::read_dir(&contexts).unwrap().count(), 1);
        // Stale contexts of a stopped daemon go at start; the kept one stays.
        fs::create_dir_all(contexts.join("123-4-5/ctx")).unwrap();
        remove_stale_contexts(&contexts);
        let names: Vec<_> = fs::read_dir(&contexts)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("reuse")]);
        // Whatever else holds the kept name (an older layout, a file) is replaced.
        fs::remove_dir_all(contexts.join("reuse")).unwrap();
        fs::write(contexts.join("reuse"), "x").unwrap();
        let mut c = ContextDir::take(&contexts).unwrap();
        assert!(c.digests().is_empty());
        c.unpack(&tar[..]).unwrap();
        drop(c);
        assert!(contexts.join("reuse/ctx/x/y").is_file());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn after_any_sequence_of_contexts_every_digest_is_its_files_content() {
        // Random contexts over a few names: same-size edits, size changes, zero runs, mtime
        // and mode changes, files that come and go. After each unpack every file must hold
        // the tar's bytes and its recorded digest must be the sha256 of those bytes.
        let root = tmp_root();
        let dir = root.join("ctx");
        let mut digests = ContextDigests::default();
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut current: Vec<Option<(Vec<u8>, u64, u32)>> = vec![None; 6];
        for _round in 0..40 {
            for slot in current.iter_mut() {
                match rnd(6) {
                    0 => *slot = None,
                    1 => {
                        // Sizes on both sides of the compare-by-digest bound (1 MiB).
                        let len = [0, 1, 100, 70_000, 140_000, WHOLE + 5000][rnd(6) as usize];
                        let zeros = rnd(2) == 0;
                        let k = rnd(1 << 20) | 1;
                        let data = (0..len as u64)
                            .map(|i| {
                                if zeros && i < 65_536 {
                                    0
                                } else {
                                    (i.wrapping_mul(k) >> 7) as u8
                                }
                            })
                            .collect();
                        *slot = Some((data, rnd(3), 0o644));
                    }
                    2 => {
                        if let Some((data, _, _)) = slot {
                            if !data.is_empty() {
                                let at = rnd(data.len() as u64) as usize;
                                data[at] = data[at].wrapping_add(1);
                            }
                        }
                    }
                    3 => {
                        if let Some((_, mtime, mode)) = slot {
                            *mtime = rnd(3);
                            *mode = if rnd(2) == 0 { 0o600 } else { 0o755 };
                        }
                    }
                    _ => {}
                }
            }
            let mut b = tar::Builder::new(Vec::new());
            for (i, slot) in current.iter().enumerate() {
                if let Some((data, mtime, mode)) = slot {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    h.set_mode(*mode);
                    h.set_mtime(*mtime);
                    b.append_data(&mut h, format!("d{}/f{i}", i % 2), &data[..])
                        .unwrap();
                }
            }
            let tar = b.into_inner().unwrap();
            unpack_context(&tar[..], &dir, &mut digests).unwrap();
            for (i, slot) in current.iter().enumerate() {
                let p = dir.join(format!("d{}/f{i}", i % 2));
                match slot {
                    Some((data, mtime, mode)) => {
                        assert_eq!(&fs::read(&p).unwrap(), data);
                        let md = fs::metadata(&p).unwrap();
                        assert_eq!((md.mtime(), md.mode() & 0o7777), (*mtime as i64, *mode));
                        assert_eq!(
                            digests.lookup(&dir, &p, &md),
                            Some(&Digest::sha256_of(data)),
                            "digest of {}",
                            p.display()
                        );
                    }
                    None => assert!(!p.exists()),
                }
            }
        }
        fs::remove_dir_all(&root).unwrap();
    }
}
