//! `berth cp`: docker's copy rules over the archive API (`HEAD`/`GET`/`PUT
//! /containers/{id}/archive`). Which directory to extract into and how to rename the top
//! entry follow docker's `PrepareArchiveCopy`, on both sides.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use http_body_util::BodyExt;
use hyper::body::Bytes;
use hyper::Method;

use super::Ctx;
use crate::args::CpArgs;
use crate::client::{empty_body, next_chunk, ChannelBody, Client, Query};
use crate::error::StatusError;

const DIR_BIT: u32 = 1 << 31;
const SYMLINK_BIT: u32 = 1 << 27;
const DEVICE_BIT: u32 = 1 << 26;
const IRREGULAR_BITS: u32 = (1 << 25) | (1 << 24) | (1 << 19);

/// The parts of `X-Docker-Container-Path-Stat` the copy rules need.
#[derive(Debug, Default, serde::Deserialize)]
struct PathStat {
    #[serde(default)]
    mode: u32,
    #[serde(default, rename = "linkTarget")]
    link_target: String,
}

fn decode_stat(v: Option<&hyper::header::HeaderValue>) -> Option<PathStat> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v?.as_bytes())
        .ok()?;
    serde_json::from_slice(&raw).ok()
}

/// `container:path` or a local path (`-` is stdin/stdout). A colon after a `/` or `.` start
/// is part of a local path, as in docker.
fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) => (Some(c), p),
        None => (None, arg),
    }
}

fn fail(msg: impl Into<String>) -> anyhow::Error {
    StatusError::new(1, msg).into()
}

/// Docker's `SplitPathDirEntry`: `(dir, base)` of the cleaned path, `.` kept as base for a
/// `/.` ending.
fn split_dir_entry(path: &str) -> (String, String) {
    let current_dir = path.ends_with("/.") || path == ".";
    let cleaned = clean(path);
    let (dir, base) = match cleaned.rfind('/') {
        Some(0) => ("/".to_string(), cleaned[1..].to_string()),
        Some(i) => (cleaned[..i].to_string(), cleaned[i + 1..].to_string()),
        None => (".".to_string(), cleaned.clone()),
    };
    if current_dir {
        return (cleaned, ".".to_string());
    }
    if base.is_empty() {
        return (dir, "/".to_string());
    }
    (dir, base)
}

/// Lexical cleaning like Go's `filepath.Clean`.
fn clean(path: &str) -> String {
    let abs = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn asserts_directory(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.") || path == "."
}

/// Where to extract and what to call the top entry (`None` = keep its name), docker's
/// `PrepareArchiveCopy`.
fn prepare(
    src_is_dir: bool,
    src_base: &str,
    dst: &str,
    dst_exists: bool,
    dst_is_dir: bool,
) -> anyhow::Result<(String, Option<(String, String)>)> {
    let (dst_dir, dst_base) = split_dir_entry(dst);
    let rename = Some((src_base.to_string(), dst_base));
    if dst_exists && dst_is_dir {
        Ok((dst.to_string(), None))
    } else if dst_exists && src_is_dir {
        Err(fail("cannot copy directory"))
    } else if dst_exists || src_is_dir {
        Ok((dst_dir, rename))
    } else if asserts_directory(dst) {
        Err(fail("no such directory"))
    } else {
        Ok((dst_dir, rename))
    }
}

/// `docker cp`.
pub async fn cp(ctx: &Ctx, args: CpArgs) -> anyhow::Result<i32> {
    if args.src.is_empty() {
        return Err(fail("source can not be empty"));
    }
    if args.dest.is_empty() {
        return Err(fail("destination can not be empty"));
    }
    let (src_ctr, src_path) = split_cp_arg(&args.src);
    let (dst_ctr, dst_path) = split_cp_arg(&args.dest);
    match (src_ctr, dst_ctr) {
        (Some(c), None) => from_container(ctx, &args, c, src_path, dst_path).await,
        (None, Some(c)) => to_container(ctx, &args, src_path, c, dst_path).await,
        (Some(_), Some(_)) => Err(fail("copying between containers is not supported")),
        (None, None) => Err(fail("must specify at least one container source")),
    }
}

async fn stat(client: &Client, ctr: &str, path: &str) -> Option<PathStat> {
    let mut q = Query::new();
    q.add("path", path);
    let resp = client
        .request(
            Method::HEAD,
            &format!("/containers/{ctr}/archive"),
            &q,
            empty_body(),
            &[],
        )
        .await
        .ok()?;
    decode_stat(resp.headers().get("X-Docker-Container-Path-Stat"))
}

async fn from_container(
    ctx: &Ctx,
    args: &CpArgs,
    ctr: &str,
    src: &str,
    dst: &str,
) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let mut src_path = src.to_string();
    let mut rebase: Option<String> = None;
    if args.follow_link {
        if let Some(st) = stat(&client, ctr, src).await {
            if st.mode & SYMLINK_BIT != 0 {
                let mut target = st.link_target.clone();
                if !target.starts_with('/') {
                    target = format!("{}/{}", split_dir_entry(src).0, target);
                }
                if src.ends_with("/.") && !target.ends_with("/.") {
                    target.push_str("/.");
                }
                let (_, a) = split_dir_entry(src);
                let (_, b) = split_dir_entry(&target);
                if a != b {
                    rebase = Some(a);
                }
                src_path = target;
            }
        }
    }
    let mut q = Query::new();
    q.add("path", &src_path);
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{ctr}/archive"),
            &q,
            empty_body(),
            &[],
        )
        .await?;
    let st = decode_stat(resp.headers().get("X-Docker-Container-Path-Stat")).unwrap_or_default();
    let mut body = resp.into_body();
    if dst == "-" {
        let mut out = io::stdout().lock();
        while let Some(chunk) = next_chunk(&mut body).await? {
            out.write_all(&chunk)?;
        }
        out.flush()?;
        return Ok(0);
    }
    // The local destination, symlinks followed; a missing one needs its parent.
    let (dst_exists, dst_is_dir) = match fs::metadata(dst) {
        Ok(md) => (true, md.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let (parent, _) = split_dir_entry(dst);
            if !Path::new(&parent).is_dir() {
                return Err(fail(format!("lstat {parent}: no such file or directory")));
            }
            (false, false)
        }
        Err(e) => return Err(fail(format!("stat {dst}: {e}"))),
    };
    // The tar names the top entry after the path fetched; with -L through a link docker
    // renames it back to the link's name first.
    let tar_base = split_dir_entry(&src_path).1;
    let src_base = rebase.clone().unwrap_or_else(|| tar_base.clone());
    let (dir, rename) = prepare(
        st.mode & DIR_BIT != 0,
        &src_base,
        dst,
        dst_exists,
        dst_is_dir,
    )?;
    let rename = match rename {
        Some((_, to)) => Some((tar_base, to)),
        None => rebase.map(|r| (tar_base, r)),
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(8);
    let keep_owner = args.archive;
    let extract = tokio::task::spawn_blocking(move || {
        untar(
            ChanReader {
                rx,
                cur: Bytes::new(),
            },
            Path::new(&dir),
            rename,
            keep_owner,
        )
    });
    while let Some(chunk) = next_chunk(&mut body).await? {
        if tx.send(chunk).is_err() {
            break;
        }
    }
    drop(tx);
    extract.await??;
    Ok(0)
}

struct ChanReader {
    rx: std::sync::mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.cur = b,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// Extracts the container's tar into `dir`, renaming the top entry, refusing any entry that
/// would land outside `dir` (a `..`, or a symlink from an earlier entry).
fn untar(
    r: impl Read,
    dir: &Path,
    rename: Option<(String, String)>,
    keep_owner: bool,
) -> anyhow::Result<()> {
    let root = fs::canonicalize(dir)?;
    let mut archive = tar::Archive::new(r);
    archive.set_preserve_permissions(true);
    let mut dir_times = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let name = name.trim_start_matches('/').to_string();
        let name = match &rename {
            Some((from, to)) if to != "." => {
                if name == *from || name == format!("{from}/") {
                    to.clone()
                } else if let Some(rest) = name.strip_prefix(&format!("{from}/")) {
                    format!("{to}/{rest}")
                } else {
                    name
                }
            }
            _ => name,
        };
        // `./x` entries (a `/.` copy into an existing directory) land in the directory
        // itself; the `.` entry is that directory.
        let name = name
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if name.is_empty() || name == "." {
            continue;
        }
        if name.split('/').any(|c| c == "..") {
            return Err(fail(format!("invalid archive entry {name:?}")));
        }
        let target = root.join(&name);
        let parent = target.parent().unwrap_or(&root);
        fs::create_dir_all(parent)?;
        if !fs::canonicalize(parent)?.starts_with(&root) {
            return Err(fail(format!(
                "invalid archive entry {name:?}: it would be written outside {}",
                root.display()
            )));
        }
        let is_dir = entry.header().entry_type().is_dir();
        if !is_dir {
            if let Ok(md) = fs::symlink_metadata(&target) {
                if !md.is_dir() {
                    fs::remove_file(&target)?;
                }
            }
        }
        entry.unpack(&target)?;
        if keep_owner {
            let h = entry.header();
            let _ = std::os::unix::fs::lchown(
                &target,
                h.uid().ok().map(|u| u as u32),
                h.gid().ok().map(|g| g as u32),
            );
        }
        if is_dir {
            dir_times.push((target, entry.header().mtime().unwrap_or(0)));
        }
    }
    for (path, mtime) in dir_times.iter().rev() {
        let t = nix::sys::time::TimeSpec::new(*mtime as i64, 0);
        let _ = nix::sys::stat::utimensat(
            None,
            path,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        );
    }
    Ok(())
}

async fn to_container(
    ctx: &Ctx,
    args: &CpArgs,
    src: &str,
    ctr: &str,
    dst: &str,
) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let mut dst_path = dst.to_string();
    let mut st = stat(&client, ctr, dst).await;
    if let Some(s) = &st {
        if s.mode & SYMLINK_BIT != 0 {
            let mut target = s.link_target.clone();
            if !target.starts_with('/') {
                target = format!("{}/{}", split_dir_entry(dst).0, target);
            }
            dst_path = target;
            st = stat(&client, ctr, &dst_path).await;
        }
    }
    if let Some(s) = &st {
        let why = if s.mode & DEVICE_BIT != 0 {
            Some("got a device")
        } else if s.mode & IRREGULAR_BITS != 0 {
            Some("got an irregular file")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(fail(format!(
                "destination \"{ctr}:{dst}\" must be a directory or a regular file: {why}"
            )));
        }
    }
    let (dst_exists, dst_is_dir) = match &st {
        Some(s) => (true, s.mode & DIR_BIT != 0),
        None => (false, false),
    };
    let (tx, body) = ChannelBody::new();
    let (dir, producer) = if src == "-" {
        if !dst_is_dir {
            return Err(fail(format!(
                "destination \"{ctr}:{dst}\" must be a directory"
            )));
        }
        let producer = tokio::spawn(async move {
            crate::client::feed(tokio::io::stdin(), tx, 64 * 1024).await;
            Ok::<(), anyhow::Error>(())
        });
        (dst_path.clone(), producer)
    } else {
        let md = if args.follow_link {
            fs::metadata(src)
        } else {
            fs::symlink_metadata(src)
        }
        .map_err(|e| fail(format!("lstat {src}: {}", io_text(&e))))?;
        let (src_dir, src_base) = split_dir_entry(src);
        let (dir, rename) = prepare(md.is_dir(), &src_base, &dst_path, dst_exists, dst_is_dir)?;
        let top = match rename {
            Some((_, to)) => to,
            None => src_base.clone(),
        };
        let source = if src_base == "." {
            PathBuf::from(&src_dir)
        } else {
            PathBuf::from(src)
        };
        let follow = args.follow_link;
        let producer = tokio::task::spawn_blocking(move || {
            let w = SenderWriter {
                tx,
                buf: Vec::new(),
            };
            let mut tar = tar::Builder::new(w);
            tar.follow_symlinks(false);
            tar.mode(tar::HeaderMode::Complete);
            append_local(&mut tar, &source, Path::new(&top), follow)?;
            tar.into_inner()?.flush()?;
            Ok::<(), anyhow::Error>(())
        });
        (dir, producer)
    };
    let mut q = Query::new();
    q.add("path", &dir);
    q.add("noOverwriteDirNonDir", "true");
    if args.archive {
        q.add("copyUIDGID", "true");
    }
    let result = client
        .request(
            Method::PUT,
            &format!("/containers/{ctr}/archive"),
            &q,
            body.boxed(),
            &[("Content-Type", "text/plain")],
        )
        .await;
    producer.abort();
    result?;
    Ok(0)
}

fn io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

/// Appends `path` under `name` (a directory recursively); `follow` follows a top symlink.
fn append_local<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    follow: bool,
) -> io::Result<()> {
    let md = if follow {
        fs::metadata(path)?
    } else {
        fs::symlink_metadata(path)?
    };
    if md.file_type().is_symlink() || !md.is_dir() {
        if follow && md.is_file() {
            let mut h = tar::Header::new_gnu();
            h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
            h.set_uid(md.uid() as u64);
            h.set_gid(md.gid() as u64);
            return tar.append_data(&mut h, name, fs::File::open(path)?);
        }
        return tar.append_path_with_name(path, name);
    }
    if name != Path::new(".") {
        tar.append_path_with_name(path, name)?;
    }
    let mut children: Vec<_> = fs::read_dir(path)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    children.sort();
    for c in children {
        let child_name = if name == Path::new(".") {
            PathBuf::from(&c)
        } else {
            name.join(&c)
        };
        append_local(tar, &path.join(&c), &child_name, false)?;
    }
    Ok(())
}

/// Feeds a tar built on a blocking thread into the request body.
struct SenderWriter {
    tx: tokio::sync::mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for SenderWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the daemon stopped reading"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_docker() {
        assert_eq!(split_dir_entry("/etc/"), ("/".into(), "etc".into()));
        assert_eq!(
            split_dir_entry("/etc/hostname"),
            ("/etc".into(), "hostname".into())
        );
        assert_eq!(split_dir_entry("dir/."), ("dir".into(), ".".into()));
        assert_eq!(split_dir_entry("/"), ("/".into(), "/".into()));
        assert_eq!(split_dir_entry("a"), (".".into(), "a".into()));
    }

    #[test]
    fn cp_args() {
        assert_eq!(split_cp_arg("web:/etc"), (Some("web"), "/etc"));
        assert_eq!(split_cp_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_cp_arg("-"), (None, "-"));
    }

    #[test]
    fn prepare_rules() {
        // Into an existing directory: as is.
        assert_eq!(
            prepare(false, "f", "/etc", true, true).unwrap(),
            ("/etc".into(), None)
        );
        // A new name: into the parent, renamed.
        assert_eq!(
            prepare(false, "f", "/new.txt", false, false).unwrap(),
            ("/".into(), Some(("f".into(), "new.txt".into())))
        );
        assert_eq!(
            prepare(true, "d", "/etc/hostname", true, false)
                .unwrap_err()
                .to_string(),
            "cannot copy directory"
        );
        assert_eq!(
            prepare(false, "f", "/nodir/", false, false)
                .unwrap_err()
                .to_string(),
            "no such directory"
        );
    }
}
