//! COPY and ADD against real trees: selecting sources in the context (or a stage's root)
//! without leaving it, describing them for the cache key (name, type, mode, owner, content;
//! not mtime), and writing them into a mounted snapshot with Docker's destination rules.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use api::digest::{Algorithm, Hasher};

use super::context::ContextDigests;
use crate::cache::{EntryKind, FileEntry, SourceKind};
use crate::copy::{context_relative, has_wildcards};
use crate::ignore::{path_match, IgnoreMatcher};

/// Symlinks followed while resolving one path before giving up (Linux's limit).
const MAX_LINKS: usize = 40;

/// A COPY/ADD source that cannot be used. `Display` is the text after `COPY failed: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Missing, or excluded by `.dockerignore`.
    #[error("file not found in build context or excluded by .dockerignore: stat {0}: file does not exist")]
    NotFound(String),
    /// `../x`, or a symlink leading out of the context.
    #[error("forbidden path outside the build context: {0} ()")]
    Outside(String),
    /// A wildcard matched nothing.
    #[error("no source files were specified")]
    NoMatch,
    /// Reading failed.
    #[error("{0}")]
    Io(String),
}

/// One selected source: where it is on this host and the name it lands under.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The host path (symlinks in it already resolved inside the root).
    pub path: PathBuf,
    /// Its base name (what `COPY a/b.txt /d/` names the copy).
    pub name: String,
    /// A directory: its contents are copied.
    pub is_dir: bool,
}

/// Resolves `rel` (clean, relative) under `root`, following symlinks. With `strict`, a link
/// leaving the root (absolute target or too many `..`) is an error; otherwise the root acts as
/// `/` (an image's absolute links). Returns `None` when a component is missing.
pub fn resolve(root: &Path, rel: &str, strict: bool) -> Result<Option<PathBuf>, SourceError> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = rel
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .rev()
        .map(String::from)
        .collect();
    let mut links = 0;
    let outside = || SourceError::Outside(rel.to_string());
    while let Some(c) = todo.pop() {
        if c == ".." {
            if parts.pop().is_none() && strict {
                return Err(outside());
            }
            continue;
        }
        let mut p = root.to_path_buf();
        p.extend(&parts);
        p.push(&c);
        match fs::symlink_metadata(&p) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(SourceError::Io(format!(
                        "too many levels of symbolic links: {rel}"
                    )));
                }
                let target = fs::read_link(&p).map_err(|e| SourceError::Io(e.to_string()))?;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    if strict {
                        return Err(outside());
                    }
                    parts.clear();
                }
                for seg in t.split('/').filter(|s| !s.is_empty() && *s != ".").rev() {
                    todo.push(seg.to_string());
                }
            }
            Ok(_) => parts.push(c),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SourceError::Io(format!("stat {}: {e}", p.display()))),
        }
    }
    let mut p = root.to_path_buf();
    p.extend(&parts);
    Ok(Some(p))
}

/// Selects one COPY source under `root`. `ignore` is the context's matcher (None for a stage
/// or image root, where `strict` is false).
pub fn select(
    root: &Path,
    source: &str,
    ignore: Option<&IgnoreMatcher>,
) -> Result<Vec<Selected>, SourceError> {
    let strict = ignore.is_some();
    let rel = match context_relative(source) {
        Ok(r) => r,
        Err(_) => return Err(SourceError::Outside(source.to_string())),
    };
    let hidden = |r: &str| ignore.is_some_and(|m| m.hidden_from_copy(r));
    let mut candidates: Vec<String> = Vec::new();
    if has_wildcards(&rel) {
        // Walk only as deep as the pattern has components.
        let depth = rel.split('/').count();
        let mut stack = vec![(String::new(), 0usize)];
        while let Some((dir, d)) = stack.pop() {
            let abs = if dir.is_empty() {
                root.to_path_buf()
            } else {
                root.join(&dir)
            };
            let Ok(rd) = fs::read_dir(&abs) else { continue };
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let r = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                if d + 1 == depth {
                    if path_match(&rel, &r) && !hidden(&r) {
                        candidates.push(r);
                    }
                } else if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push((r, d + 1));
                }
            }
        }
        candidates.sort();
        if candidates.is_empty() {
            return Err(SourceError::NoMatch);
        }
    } else {
        if rel != "." && hidden(&rel) {
            return Err(SourceError::NotFound(
                source.trim_start_matches('/').to_string(),
            ));
        }
        candidates.push(rel);
    }
    let mut out = Vec::new();
    for r in candidates {
        let Some(path) = resolve(root, &r, strict).map_err(|e| match e {
            SourceError::Outside(_) => SourceError::Outside(source.to_string()),
            e => e,
        })?
        else {
            return Err(SourceError::NotFound(
                source.trim_start_matches('/').to_string(),
            ));
        };
        let md = fs::metadata(&path).map_err(|e| SourceError::Io(e.to_string()))?;
        let name = r.rsplit('/').next().unwrap_or("").to_string();
        out.push(Selected {
            path,
            name: if name == "." { String::new() } else { name },
            is_dir: md.is_dir(),
        });
    }
    Ok(out)
}

/// Describes the selected sources for the cache key and history: every entry's relative
/// name, type, mode, owner, link target and content digest. Files hidden by `ignore` inside a
/// copied directory are skipped, as the copy skips them. `known` (the context root and the
/// digests its unpack recorded) saves hashing files whose stat still matches; the others are
/// hashed in parallel, one thread per CPU.
pub fn describe(
    sources: &[Selected],
    context_rel: &dyn Fn(&Path) -> Option<String>,
    ignore: Option<&IgnoreMatcher>,
    known: Option<(&Path, &ContextDigests)>,
) -> Result<(Vec<FileEntry>, SourceKind), SourceError> {
    let mut entries = Vec::new();
    let mut to_hash: Vec<(usize, PathBuf, u64)> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let prefix = format!("{i}:{}", s.name);
        walk(&s.path, &mut |path, rel, md| {
            if let (Some(m), Some(cr)) = (ignore, context_rel(path)) {
                if !rel.is_empty() && m.hidden_from_copy(&cr) {
                    return Ok(false);
                }
            }
            let ft = md.file_type();
            let kind = if ft.is_dir() {
                EntryKind::Dir
            } else if ft.is_symlink() {
                EntryKind::Symlink
            } else if ft.is_file() {
                EntryKind::File
            } else {
                EntryKind::Other
            };
            let content = if ft.is_file() {
                let d = known
                    .and_then(|(root, k)| k.lookup(root, path, md))
                    .cloned();
                if d.is_none() {
                    to_hash.push((entries.len(), path.to_path_buf(), md.len()));
                }
                d
            } else {
                None
            };
            let link_target = if ft.is_symlink() {
                Some(
                    fs::read_link(path)
                        .map_err(|e| SourceError::Io(e.to_string()))?
                        .to_string_lossy()
                        .into_owned(),
                )
            } else {
                None
            };
            entries.push(FileEntry {
                path: format!("{prefix}/{rel}"),
                kind,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                content,
                link_target,
            });
            Ok(true)
        })?;
    }
    for (i, d) in hash_files(&to_hash)? {
        entries[i].content = Some(d);
    }
    let kind = match sources {
        [one] if one.is_dir => SourceKind::Dir,
        [_] => SourceKind::File,
        _ => SourceKind::Multi,
    };
    Ok((entries, kind))
}

/// Hashes `(index, path, size)` files, on up to one thread per CPU when there is enough to
/// share; returns `(index, digest)`.
fn hash_files(files: &[(usize, PathBuf, u64)]) -> Result<Vec<(usize, api::Digest)>, SourceError> {
    let total: u64 = files.iter().map(|f| f.2).sum();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len())
        .min((total / (1 << 20)) as usize + 1);
    if threads <= 1 {
        return files
            .iter()
            .map(|(i, p, _)| Ok((*i, hash_file(p)?)))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((i, p, _)) = files.get(k) else {
                            return Ok(out);
                        };
                        out.push((*i, hash_file(p)?));
                    }
                })
            })
            .collect();
        let mut all = Vec::with_capacity(files.len());
        for w in workers {
            all.extend(
                w.join()
                    .map_err(|_| SourceError::Io("hashing a file panicked".into()))??,
            );
        }
        Ok(all)
    })
}

fn hash_file(path: &Path) -> Result<api::Digest, SourceError> {
    let mut f = fs::File::open(path)
        .map_err(|e| SourceError::Io(format!("open {}: {e}", path.display())))?;
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| SourceError::Io(e.to_string()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
}

type Visit<'a> = dyn FnMut(&Path, &str, &fs::Metadata) -> Result<bool, SourceError> + 'a;

/// Visits `top` (the top itself followed when a link, with rel "") and everything below it,
/// parents first, children sorted. The visitor returns false to skip an entry (and below).
fn walk(top: &Path, visit: &mut Visit<'_>) -> Result<(), SourceError> {
    let md = fs::metadata(top).map_err(|e| SourceError::Io(e.to_string()))?;
    if !visit(top, "", &md)? || !md.is_dir() {
        return Ok(());
    }
    let mut stack = vec![(top.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut children: Vec<(String, PathBuf)> = fs::read_dir(&dir)
            .map_err(|e| SourceError::Io(format!("read {}: {e}", dir.display())))?
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let r = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                (r, e.path())
            })
            .collect();
        children.sort();
        let mut dirs = Vec::new();
        for (r, p) in children {
            let md = fs::symlink_metadata(&p).map_err(|e| SourceError::Io(e.to_string()))?;
            if visit(&p, &r, &md)? && md.is_dir() {
                dirs.push((p, r));
            }
        }
        stack.extend(dirs.into_iter().rev());
    }
    Ok(())
}

/// How copied entries are owned and moded.
#[derive(Debug, Clone, Copy)]
pub struct Ownership {
    /// `--chown` (or 0:0 for context files); None keeps the source's owner.
    pub owner: Option<(u32, u32)>,
    /// `--chmod` bits.
    pub mode: Option<u32>,
}

/// Copies `src` (a file, link or directory, whose *contents* are copied) to `dest` on the
/// host (already resolved inside the target root).
pub fn copy_into(
    src: &Selected,
    dest: &Path,
    own: Ownership,
    context_rel: &dyn Fn(&Path) -> Option<String>,
    ignore: Option<&IgnoreMatcher>,
) -> Result<(), SourceError> {
    let io = |what: &str, p: &Path| {
        let what = what.to_string();
        let p = p.display().to_string();
        move |e: io::Error| SourceError::Io(format!("{what} {p}: {e}"))
    };
    let mut dir_times: Vec<(PathBuf, fs::Metadata)> = Vec::new();
    walk(&src.path, &mut |path, rel, md| {
        if let (Some(m), Some(cr)) = (ignore, context_rel(path)) {
            if !rel.is_empty() && m.hidden_from_copy(&cr) {
                return Ok(false);
            }
        }
        let target = if rel.is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(rel)
        };
        let ft = md.file_type();
        if ft.is_dir() {
            match fs::symlink_metadata(&target) {
                Ok(t) if t.is_dir() => {}
                Ok(_) => {
                    fs::remove_file(&target).map_err(io("remove", &target))?;
                    fs::create_dir(&target).map_err(io("create", &target))?;
                }
                Err(_) => fs::create_dir_all(&target).map_err(io("create", &target))?,
            }
            dir_times.push((target.clone(), md.clone()));
        } else {
            if let Ok(t) = fs::symlink_metadata(&target) {
                if t.is_dir() {
                    fs::remove_dir_all(&target).map_err(io("remove", &target))?;
                } else {
                    fs::remove_file(&target).map_err(io("remove", &target))?;
                }
            }
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).map_err(io("create", parent))?;
            }
            if ft.is_symlink() {
                let to = fs::read_link(path).map_err(io("read link", path))?;
                std::os::unix::fs::symlink(&to, &target).map_err(io("create link", &target))?;
            } else if ft.is_file() {
                fs::copy(path, &target).map_err(io("copy to", &target))?;
            } else {
                // Devices, fifos, sockets: not copied (Docker copies them as they are).
                return Ok(true);
            }
        }
        let (uid, gid) = own.owner.unwrap_or((md.uid(), md.gid()));
        nix::unistd::fchownat(
            None,
            &target,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| SourceError::Io(format!("chown {}: {e}", target.display())))?;
        if !ft.is_symlink() {
            let mode = own.mode.unwrap_or(md.mode() & 0o7777);
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                .map_err(io("chmod", &target))?;
            if ft.is_file() {
                set_times(&target, md)?;
            }
        }
        Ok(true)
    })?;
    for (d, md) in dir_times.iter().rev() {
        set_times(d, md)?;
    }
    Ok(())
}

fn set_times(p: &Path, md: &fs::Metadata) -> Result<(), SourceError> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let mtime = TimeSpec::new(md.mtime(), md.mtime_nsec());
    utimensat(None, p, &mtime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| SourceError::Io(format!("set times of {}: {e}", p.display())))
}

/// Creates the directories of `rel` (clean, absolute in the image) under `root`, following
/// the image's links inside the root; returns the host path.
pub fn make_dirs(
    root: &Path,
    rel: &str,
    owner: Option<(u32, u32)>,
) -> Result<PathBuf, SourceError> {
    let mut cur = String::new();
    for seg in rel.split('/').filter(|s| !s.is_empty()) {
        cur = format!("{cur}/{seg}");
        match resolve(root, &cur, false)? {
            Some(p) => {
                if !p.is_dir() {
                    return Err(SourceError::Io(format!(
                        "cannot create directory {cur}: not a directory"
                    )));
                }
            }
            None => {
                let parent = resolve(root, cur.rsplit_once('/').map(|x| x.0).unwrap_or(""), false)?
                    .unwrap_or_else(|| root.to_path_buf());
                let p = parent.join(seg);
                fs::create_dir(&p)
                    .map_err(|e| SourceError::Io(format!("create {}: {e}", p.display())))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
                    .map_err(|e| SourceError::Io(e.to_string()))?;
                if let Some((u, g)) = owner {
                    let _ = nix::unistd::chown(
                        &p,
                        Some(nix::unistd::Uid::from_raw(u)),
                        Some(nix::unistd::Gid::from_raw(g)),
                    );
                }
            }
        }
    }
    Ok(resolve(root, rel, false)?.unwrap_or_else(|| root.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("berth-files-{}", content::atomic::unique_suffix()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn sources_may_not_leave_the_context() {
        let root = tmp();
        fs::write(root.join("a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../x", root.join("up")).unwrap();
        std::os::unix::fs::symlink("a.txt", root.join("ok")).unwrap();
        let m = IgnoreMatcher::for_build("", "Dockerfile").unwrap();
        assert!(matches!(
            select(&root, "../x", Some(&m)),
            Err(SourceError::Outside(_))
        ));
        assert!(matches!(
            select(&root, "abs", Some(&m)),
            Err(SourceError::Outside(_))
        ));
        assert!(matches!(
            select(&root, "up", Some(&m)),
            Err(SourceError::Outside(_))
        ));
        assert_eq!(
            select(&root, "ok", Some(&m)).unwrap()[0].path,
            root.join("a.txt")
        );
        assert_eq!(
            select(&root, "missing.txt", Some(&m)).unwrap_err().to_string(),
            "file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist"
        );
        assert_eq!(
            select(&root, "*.md", Some(&m)).unwrap_err(),
            SourceError::NoMatch
        );
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_description_ignores_mtime_but_not_content_or_mode() {
        let root = tmp();
        fs::create_dir(root.join("d")).unwrap();
        fs::write(root.join("d/f"), "1").unwrap();
        let sel = select(&root, "d", None).unwrap();
        let rel = |_: &Path| None;
        let d1 = crate::cache::files_digest(&describe(&sel, &rel, None, None).unwrap().0);
        let f = fs::File::options()
            .write(true)
            .open(root.join("d/f"))
            .unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        let d2 = crate::cache::files_digest(&describe(&sel, &rel, None, None).unwrap().0);
        assert_eq!(d1, d2);
        fs::set_permissions(root.join("d/f"), fs::Permissions::from_mode(0o600)).unwrap();
        let d3 = crate::cache::files_digest(&describe(&sel, &rel, None, None).unwrap().0);
        assert_ne!(d1, d3);
        fs::write(root.join("d/f"), "2").unwrap();
        fs::set_permissions(root.join("d/f"), fs::Permissions::from_mode(0o644)).unwrap();
        let d4 = crate::cache::files_digest(&describe(&sel, &rel, None, None).unwrap().0);
        assert_ne!(d1, d4);
        fs::remove_dir_all(&root).unwrap();
    }
}
