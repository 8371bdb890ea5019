//! `berth build` (the classic `POST /build` API, as the docker CLI speaks it without buildx)
//! and `berth builder prune`.
//!
//! The context is tarred while it is sent (never held in memory), honouring `.dockerignore`;
//! the Dockerfile and `.dockerignore` are always sent. A Dockerfile outside the context (or
//! `-f -`) travels in the tar as `.dockerfile.<random>`, as the docker CLI does it.

use std::fs;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use http_body_util::BodyExt;
use hyper::body::Bytes;
use hyper::Method;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::Ctx;
use crate::args::{BuildArgs, BuilderPruneArgs};
use crate::client::{next_chunk, ChannelBody, Query};
use crate::error::StatusError;
use crate::format::human_size;

/// Writes a tar into the request body channel from a blocking thread.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let b = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(b))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the daemon closed the request"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 256 << 10 {
            self.flush_buf()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()
    }
}

fn random_name() -> String {
    let mut b = [0u8; 8];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(".dockerfile.{hex}")
}

/// What goes into the tar.
enum Source {
    /// A directory, filtered by its `.dockerignore`; plus an extra Dockerfile (name, bytes).
    Dir(PathBuf, Option<(String, Vec<u8>)>),
    /// A ready tarball (stdin).
    Tar(Vec<u8>, Box<dyn Read + Send>),
    /// Only a Dockerfile (stdin that is not a tar).
    Dockerfile(Vec<u8>),
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
}

/// Tars `dir`, skipping what `.dockerignore` excludes (Dockerfile and .dockerignore always).
fn tar_dir<W: Write>(
    dir: &Path,
    dockerfile: &str,
    extra: Option<(String, Vec<u8>)>,
    out: W,
) -> anyhow::Result<()> {
    let ignore_text = fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default();
    let matcher = builder::ignore::IgnoreMatcher::for_build(&ignore_text, dockerfile)
        .map_err(|e| StatusError::new(1, format!("error checking context: {e}")))?;
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    let mut data = Vec::new();
    while let Some((abs, rel)) = stack.pop() {
        let mut entries: Vec<(String, PathBuf, Option<fs::FileType>)> = fs::read_dir(&abs)
            .map_err(|e| {
                StatusError::new(1, format!("error checking context: {}: {e}", abs.display()))
            })?
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let r = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                // The type comes with the directory entry: no stat for it.
                (r, e.path(), e.file_type().ok())
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (r, p, ft) in entries.into_iter().rev() {
            let checking =
                |e: io::Error| StatusError::new(1, format!("error checking context: {r}: {e}"));
            let excluded = matcher.is_excluded(&r);
            let ft = match ft {
                Some(t) => t,
                None => fs::symlink_metadata(&p).map_err(checking)?.file_type(),
            };
            if ft.is_dir() {
                if excluded && matcher.can_skip_dir(&r) {
                    continue;
                }
                if !excluded {
                    tar.append_path_with_name(&p, &r)?;
                }
                stack.push((p, r));
            } else if excluded {
                continue;
            } else if ft.is_file() {
                // One open, fstat and read per file, straight into the body buffer.
                let mut f = fs::File::open(&p).map_err(checking)?;
                let md = f.metadata().map_err(checking)?;
                let mut h = tar::Header::new_gnu();
                h.set_metadata_in_mode(&md, tar::HeaderMode::Deterministic);
                data.clear();
                data.reserve(md.len() as usize + 1);
                f.read_to_end(&mut data).map_err(checking)?;
                h.set_size(data.len() as u64);
                tar.append_data(&mut h, &r, &data[..]).map_err(checking)?;
            } else {
                tar.append_path_with_name(&p, &r).map_err(checking)?;
            }
        }
    }
    if let Some((name, data)) = extra {
        append_bytes(&mut tar, &name, &data)?;
    }
    tar.into_inner()?.flush()?;
    Ok(())
}

fn split_kv(list: &[String], flag: &str, env_fallback: bool) -> anyhow::Result<Map<String, Value>> {
    let mut m = Map::new();
    for kv in list {
        match kv.split_once('=') {
            Some((k, v)) => {
                m.insert(k.to_string(), Value::String(v.to_string()));
            }
            None if env_fallback => {
                m.insert(
                    kv.clone(),
                    std::env::var(kv).map(Value::String).unwrap_or(Value::Null),
                );
            }
            None => {
                m.insert(kv.clone(), Value::String(String::new()));
            }
        }
        if kv.is_empty() {
            return Err(StatusError::new(1, format!("invalid {flag}: empty")).into());
        }
    }
    Ok(m)
}

fn is_tar(head: &[u8]) -> bool {
    (head.len() >= 262 && &head[257..262] == b"ustar")
        || head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// Writes the context tar into the request body.
fn send_context(w: &mut ChannelWriter, source: Source, df: &str) -> anyhow::Result<()> {
    match source {
        Source::Dir(dir, extra) => tar_dir(&dir, df, extra, &mut *w)?,
        Source::Tar(head, mut rest) => {
            w.write_all(&head)?;
            io::copy(&mut rest, w)?;
        }
        Source::Dockerfile(data) => {
            let mut tar = tar::Builder::new(&mut *w);
            if !data.is_empty() {
                append_bytes(&mut tar, "Dockerfile", &data)?;
            }
            tar.into_inner()?;
        }
    }
    w.flush()?;
    Ok(())
}

/// `berth build [OPTIONS] PATH | URL | -`.
pub async fn build(ctx: &Ctx, args: BuildArgs) -> anyhow::Result<i32> {
    let mut q = Query::new();
    for t in &args.tags {
        q.add("t", t);
    }
    let mut dockerfile_name = "Dockerfile".to_string();
    let source = if args.context == "-" {
        if args.file.as_deref() == Some("-") {
            return Err(StatusError::new(
                1,
                "invalid argument: can't use stdin for both build context and dockerfile",
            )
            .into());
        }
        let mut stdin = io::stdin();
        let mut head = vec![0u8; 512];
        let mut n = 0;
        while n < head.len() {
            match stdin.read(&mut head[n..])? {
                0 => break,
                k => n += k,
            }
        }
        head.truncate(n);
        if is_tar(&head) {
            if let Some(f) = &args.file {
                dockerfile_name = f.clone();
            }
            Source::Tar(head, Box::new(stdin))
        } else {
            let mut rest = head;
            stdin.read_to_end(&mut rest)?;
            Source::Dockerfile(rest)
        }
    } else if args.context.starts_with("http://") || args.context.starts_with("https://") {
        q.add("remote", &args.context);
        if let Some(f) = &args.file {
            dockerfile_name = f.clone();
        }
        Source::Dockerfile(Vec::new())
    } else {
        let dir = PathBuf::from(&args.context);
        let md = fs::metadata(&dir).map_err(|_| {
            StatusError::new(
                1,
                format!(
                    "unable to prepare context: path {:?} not found",
                    args.context
                ),
            )
        })?;
        if !md.is_dir() {
            return Err(StatusError::new(
                1,
                format!(
                    "unable to prepare context: context must be a directory: {}",
                    args.context
                ),
            )
            .into());
        }
        let dir = dir.canonicalize()?;
        let extra = match args.file.as_deref() {
            Some("-") => {
                let mut b = Vec::new();
                io::stdin().read_to_end(&mut b)?;
                let name = random_name();
                dockerfile_name = name.clone();
                Some((name, b))
            }
            Some(f) => {
                let p = PathBuf::from(f);
                let abs = if p.is_absolute() {
                    p.clone()
                } else {
                    std::env::current_dir()?.join(&p)
                };
                let abs = abs.canonicalize().map_err(|_| {
                    StatusError::new(1, format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory", abs.display()))
                })?;
                match abs.strip_prefix(&dir) {
                    Ok(rel) => {
                        dockerfile_name = rel.to_string_lossy().into_owned();
                        None
                    }
                    Err(_) => {
                        let name = random_name();
                        dockerfile_name = name.clone();
                        Some((name, fs::read(&abs)?))
                    }
                }
            }
            None => None,
        };
        Source::Dir(dir, extra)
    };
    q.add("dockerfile", &dockerfile_name);
    if !args.build_args.is_empty() {
        q.add(
            "buildargs",
            Value::Object(split_kv(&args.build_args, "--build-arg", true)?).to_string(),
        );
    }
    if !args.labels.is_empty() {
        q.add(
            "labels",
            Value::Object(split_kv(&args.labels, "--label", false)?).to_string(),
        );
    }
    if let Some(t) = &args.target {
        q.add("target", t);
    }
    q.flag("nocache", args.no_cache);
    q.flag("pull", args.pull);
    q.flag("q", args.quiet);
    if !args.rm {
        q.add("rm", "0");
    }
    q.flag("forcerm", args.force_rm);
    if !args.cache_from.is_empty() {
        q.add(
            "cachefrom",
            Value::from(args.cache_from.clone()).to_string(),
        );
    }
    if let Some(n) = &args.network {
        q.add("networkmode", n);
    }
    if let Some(p) = &args.platform {
        q.add("platform", p);
    }
    q.add("version", "1");

    let (tx, body) = ChannelBody::new();
    let df = dockerfile_name.clone();
    let pump = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::new(),
        };
        let result = send_context(&mut w, source, &df);
        if let Err(e) = &result {
            // Abort the request body, so the daemon never builds a truncated context.
            let _ = w.tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
        result
    });
    let client = ctx.client().await?;
    let resp = client
        .request(
            Method::POST,
            "/build",
            &q,
            body.boxed(),
            &[
                ("content-type", "application/x-tar"),
                ("x-registry-config", "e30="),
            ],
        )
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            pump.abort();
            return Err(e.into());
        }
    };
    if let Ok(Err(e)) = pump.await {
        return Err(e);
    }
    let mut display = Display::new(std::io::stdout().is_terminal() && !args.quiet, args.quiet);
    let result = display.run(resp.into_body()).await?;
    if let Some(path) = &args.iidfile {
        if let Some(id) = &result.id {
            fs::write(path, id).map_err(|e| StatusError::new(1, format!("write {path}: {e}")))?;
        }
    }
    if args.quiet {
        if let Some(id) = &result.quiet_id {
            println!("{id}");
        }
    }
    Ok(result.code)
}

struct Outcome {
    code: i32,
    id: Option<String>,
    quiet_id: Option<String>,
}

/// Renders the build's message stream: docker's plain lines, or on a terminal each step with
/// its number, a CACHED mark and its duration.
struct Display {
    tty: bool,
    quiet: bool,
    step_started: Option<(Instant, String)>,
    cached: bool,
}

impl Display {
    fn new(tty: bool, quiet: bool) -> Display {
        Display {
            tty,
            quiet,
            step_started: None,
            cached: false,
        }
    }

    fn end_step(&mut self, out: &mut impl Write) -> io::Result<()> {
        if let Some((t, name)) = self.step_started.take() {
            let mark = if self.cached { " CACHED" } else { "" };
            writeln!(
                out,
                "\x1b[2m => done{mark} {name} {:.1}s\x1b[0m",
                t.elapsed().as_secs_f64()
            )?;
        }
        self.cached = false;
        Ok(())
    }

    fn text(&mut self, s: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        if !self.tty {
            out.write_all(s.as_bytes())?;
            return out.flush();
        }
        if let Some(step) = s.strip_prefix("Step ") {
            self.end_step(&mut out)?;
            let (num, rest) = step.split_once(" : ").unwrap_or((step, ""));
            write!(out, "\x1b[1m[{num}]\x1b[0m {rest}")?;
            self.step_started = Some((Instant::now(), format!("[{num}]")));
        } else if s == " ---> Using cache\n" {
            self.cached = true;
        } else if s.starts_with(" ---> ") || s.starts_with("Removing intermediate container") {
            // Ids and container bookkeeping: shown in the plain output only.
        } else {
            if s.starts_with("Successfully built") {
                self.end_step(&mut out)?;
            }
            out.write_all(s.as_bytes())?;
        }
        out.flush()
    }

    async fn run(&mut self, mut body: hyper::body::Incoming) -> anyhow::Result<Outcome> {
        let mut pending: Vec<u8> = Vec::new();
        let mut outcome = Outcome {
            code: 0,
            id: None,
            quiet_id: None,
        };
        let mut handle = |line: &[u8], me: &mut Display| -> anyhow::Result<()> {
            let text = String::from_utf8_lossy(line);
            let text = text.trim();
            if text.is_empty() {
                return Ok(());
            }
            let v: Value = serde_json::from_str(text)?;
            if let Some(e) = v["errorDetail"]["message"].as_str().or(v["error"].as_str()) {
                let _ = me.end_step(&mut io::stdout().lock());
                eprintln!("{e}");
                outcome.code = v["errorDetail"]["code"]
                    .as_i64()
                    .filter(|c| *c != 0)
                    .map(|c| c as i32)
                    .unwrap_or(1);
            } else if let Some(id) = v["aux"]["ID"].as_str() {
                outcome.id = Some(id.to_string());
            } else if let Some(s) = v["stream"].as_str() {
                if me.quiet && s.starts_with("sha256:") && outcome.quiet_id.is_none() {
                    outcome.quiet_id = Some(s.trim().to_string());
                    outcome.id = outcome.quiet_id.clone();
                    return Ok(());
                }
                me.text(s)?;
            } else if let Some(s) = v["status"].as_str() {
                match v["id"].as_str() {
                    Some(id) if !id.is_empty() => me.text(&format!("{id}: {s}\n"))?,
                    _ => me.text(&format!("{s}\n"))?,
                }
            }
            Ok(())
        };
        while let Some(chunk) = next_chunk(&mut body).await? {
            pending.extend_from_slice(&chunk);
            while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=i).collect();
                handle(&line, self)?;
            }
        }
        handle(&pending, self)?;
        Ok(outcome)
    }
}

/// `berth builder prune [-f] [-a]`: `POST /build/prune`.
pub async fn prune(ctx: &Ctx, args: BuilderPruneArgs) -> anyhow::Result<i32> {
    if !args.force {
        let warning = if args.all {
            "WARNING! This will remove all build cache."
        } else {
            "WARNING! This will remove all dangling build cache."
        };
        if !crate::opts::confirm(warning)? {
            return Ok(0);
        }
    }
    let client = ctx.client().await?;
    let mut q = Query::new();
    q.flag("all", args.all);
    let resp = client
        .request(
            Method::POST,
            "/build/prune",
            &q,
            crate::client::empty_body(),
            &[],
        )
        .await?;
    let v: Value = crate::client::read_json(resp).await?;
    let deleted = v["CachesDeleted"].as_array().cloned().unwrap_or_default();
    let mut out = io::stdout().lock();
    if !deleted.is_empty() {
        writeln!(out, "Deleted build cache objects:")?;
        for d in deleted {
            writeln!(
                out,
                "{}",
                d.as_str().unwrap_or_default().trim_start_matches("sha256:")
            )?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        human_size(v["SpaceReclaimed"].as_u64().unwrap_or(0) as f64, 3)
    )?;
    Ok(0)
}
