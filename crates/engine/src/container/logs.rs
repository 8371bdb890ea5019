//! `logs`: read the json-file log, filter and frame it; with `follow`, keep reading new lines
//! until the container stops or the client goes away.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tokio::sync::mpsc;

use super::Engine;
use crate::error::EngineError;

/// Options of `GET /containers/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Keep streaming new output.
    pub follow: bool,
    /// Prefix each line with its RFC 3339 time.
    pub timestamps: bool,
    /// Only the last N lines (None = all).
    pub tail: Option<usize>,
    /// Only lines at or after this time.
    pub since: Option<SystemTime>,
    /// Only lines before this time.
    pub until: Option<SystemTime>,
}

#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

/// How often a followed log is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

impl Engine {
    /// Streams the container's log into `tx` as Docker frames (raw with a TTY). Returns when
    /// done or when the receiver is dropped. Rotated files (`<log>.N`, oldest first) are read
    /// before the current one; a follower keeps reading across rotations.
    pub async fn logs(
        self: &Arc<Engine>,
        name_or_id: &str,
        opts: LogsOptions,
        tx: mpsc::Sender<Vec<u8>>,
    ) -> Result<(), EngineError> {
        let c = self.get(name_or_id)?;
        let tty = c.record().config.tty;
        let path = self.paths.log_path(c.id.as_str());
        let lifecycle = c.lifecycle.subscribe();
        let opts2 = opts.clone();
        let (frames, mut follower) = tokio::task::spawn_blocking(move || {
            let (entries, follower) = read_all(&path)?;
            Ok::<_, EngineError>((render(&entries, &opts2, tty, opts2.tail), follower))
        })
        .await
        .map_err(super::create::join_error)??;
        for f in frames {
            if tx.send(f).await.is_err() {
                return Ok(());
            }
        }
        if !opts.follow {
            return Ok(());
        }
        loop {
            let running = lifecycle.borrow().status.is_running() && !lifecycle.borrow().removed;
            let opts2 = opts.clone();
            let (frames, f) = tokio::task::spawn_blocking(move || {
                let mut f = follower;
                let entries = f.poll()?;
                Ok::<_, EngineError>((render(&entries, &opts2, tty, None), f))
            })
            .await
            .map_err(super::create::join_error)??;
            follower = f;
            for f in frames {
                if tx.send(f).await.is_err() {
                    return Ok(());
                }
            }
            if !running {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
                _ = tx.closed() => return Ok(()),
            }
        }
    }
}

/// `<log>.N`.
fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

/// Where a follower is: the current file it reads (kept open, so a rotation does not take
/// unread lines away from it), the offset after its last complete line, and that file's inode.
struct Follower {
    path: PathBuf,
    file: Option<File>,
    pos: u64,
    ino: u64,
}

impl Follower {
    fn open(path: &Path) -> Result<Follower, EngineError> {
        let file = match File::open(path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(EngineError::io("open container log")(e)),
        };
        let ino = match &file {
            Some(f) => f
                .metadata()
                .map_err(EngineError::io("stat container log"))?
                .ino(),
            None => 0,
        };
        Ok(Follower {
            path: path.to_path_buf(),
            file,
            pos: 0,
            ino,
        })
    }

    /// New complete entries: the rest of the file being read, then, when the log was rotated
    /// meanwhile, the rotated files newer than it and the new current file.
    fn poll(&mut self) -> Result<Vec<Entry>, EngineError> {
        // Look for a rotation first, then drain the old file: the writer never writes to a
        // file after renaming it, so nothing is missed in between.
        let current = std::fs::metadata(&self.path).ok().map(|m| m.ino());
        let mut out = Vec::new();
        if let Some(f) = &mut self.file {
            if f.metadata().map(|m| m.len() < self.pos).unwrap_or(false) {
                // Truncated in place (max-file=1).
                self.pos = 0;
            }
            self.pos = read_entries(f, self.pos, &mut out)?;
        }
        if current.is_some() && current != Some(self.ino) {
            // Files rotated after ours and before the current one (fast rotation).
            if self.file.is_some() {
                let mut newer = Vec::new();
                let mut n = 1;
                loop {
                    let p = rotated(&self.path, n);
                    match std::fs::metadata(&p) {
                        Ok(m) if m.ino() == self.ino => break,
                        Ok(_) => newer.push(p),
                        Err(_) => {
                            // Ours fell off the end: the files seen cannot be placed.
                            newer.clear();
                            break;
                        }
                    }
                    n += 1;
                }
                for p in newer.iter().rev() {
                    if let Ok(mut f) = File::open(p) {
                        read_entries(&mut f, 0, &mut out)?;
                    }
                }
            }
            *self = Follower::open(&self.path)?;
            if let Some(f) = &mut self.file {
                self.pos = read_entries(f, 0, &mut out)?;
            }
        }
        Ok(out)
    }
}

/// Every entry of the rotated files (oldest first) and the current one, and a follower
/// positioned after the current file's last complete line.
fn read_all(path: &Path) -> Result<(Vec<Entry>, Follower), EngineError> {
    let mut follower = Follower::open(path)?;
    let mut entries = Vec::new();
    let mut n = 1;
    let mut older = Vec::new();
    while let Ok(f) = File::open(rotated(path, n)) {
        older.push(f);
        n += 1;
    }
    for mut f in older.into_iter().rev() {
        read_entries(&mut f, 0, &mut entries)?;
    }
    if let Some(f) = &mut follower.file {
        follower.pos = read_entries(f, 0, &mut entries)?;
    }
    Ok((entries, follower))
}

/// Appends the complete entries from byte `pos` on; returns the offset after the last one.
fn read_entries(file: &mut File, pos: u64, out: &mut Vec<Entry>) -> Result<u64, EngineError> {
    file.seek(SeekFrom::Start(pos))
        .map_err(EngineError::io("read container log"))?;
    let mut reader = BufReader::new(file);
    let mut offset = pos;
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(EngineError::io("read container log"))?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        offset += n as u64;
        if let Ok(e) = serde_json::from_str::<Entry>(&line) {
            out.push(e);
        }
    }
    Ok(offset)
}

/// Filters (streams, since, until), keeps the last `tail` and frames the entries.
fn render(entries: &[Entry], opts: &LogsOptions, tty: bool, tail: Option<usize>) -> Vec<Vec<u8>> {
    let selected: Vec<&Entry> = entries
        .iter()
        .filter(|e| (e.stream == "stdout" && opts.stdout) || (e.stream == "stderr" && opts.stderr))
        .filter(|e| {
            let t = api::time::parse_rfc3339(&e.time).unwrap_or(UNIX_EPOCH);
            opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t < u)
        })
        .collect();
    let skip = tail.map_or(0, |n| selected.len().saturating_sub(n));
    selected[skip..]
        .iter()
        .map(|e| {
            let mut payload = Vec::new();
            if opts.timestamps {
                payload.extend_from_slice(e.time.as_bytes());
                payload.push(b' ');
            }
            payload.extend_from_slice(e.log.as_bytes());
            frame(if e.stream == "stderr" { 2 } else { 1 }, &payload, tty)
        })
        .collect()
}

/// Reads complete lines of one file from byte `pos` (tests).
#[cfg(test)]
fn read_from(
    path: &Path,
    pos: u64,
    opts: &LogsOptions,
    tty: bool,
    tail: Option<usize>,
) -> Result<(Vec<Vec<u8>>, u64), EngineError> {
    let mut f = File::open(path).map_err(EngineError::io("open"))?;
    let mut entries = Vec::new();
    let end = read_entries(&mut f, pos, &mut entries)?;
    Ok((render(&entries, opts, tty, tail), end))
}

/// Docker's 8-byte header frame, or the raw payload for a terminal.
pub fn frame(stream: u8, payload: &[u8], tty: bool) -> Vec<u8> {
    if tty {
        return payload.to_vec();
    }
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_log(dir: &std::path::Path) -> std::path::PathBuf {
        let p = dir.join("c-json.log");
        std::fs::write(
            &p,
            concat!(
                r#"{"log":"a\n","stream":"stdout","time":"2026-11-23T05:00:00.000000001Z"}"#,
                "\n",
                r#"{"log":"b\n","stream":"stderr","time":"2026-11-23T05:00:01Z"}"#,
                "\n",
                r#"{"log":"c\n","stream":"stdout","time":"2026-11-23T05:00:02Z"}"#,
                "\n",
                r#"{"log":"partial"#,
            ),
        )
        .unwrap();
        p
    }

    fn entry_line(i: u32) -> String {
        format!("{{\"log\":\"{i}\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-23T05:00:00Z\"}}\n")
    }

    #[test]
    fn reads_rotated_files_in_order_and_follows_a_rotation() {
        let d = testkit::TempDir::new("logs");
        let p = d.path().join("c-json.log");
        let write = |path: &Path, from: u32, to: u32| {
            let text: String = (from..to).map(entry_line).collect();
            std::fs::write(path, text).unwrap();
        };
        write(&rotated(&p, 2), 0, 3);
        write(&rotated(&p, 1), 3, 6);
        write(&p, 6, 8);
        let (entries, mut f) = read_all(&p).unwrap();
        let got: Vec<&str> = entries.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(
            got,
            ["0\n", "1\n", "2\n", "3\n", "4\n", "5\n", "6\n", "7\n"]
        );
        // More lines, then two rotations before the next poll.
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(entry_line(8).as_bytes())
            .unwrap();
        std::fs::rename(rotated(&p, 1), rotated(&p, 2)).unwrap();
        std::fs::rename(&p, rotated(&p, 1)).unwrap();
        write(&p, 9, 10);
        std::fs::rename(rotated(&p, 1), rotated(&p, 2)).unwrap();
        std::fs::rename(&p, rotated(&p, 1)).unwrap();
        write(&p, 10, 12);
        let got: Vec<String> = f.poll().unwrap().into_iter().map(|e| e.log).collect();
        assert_eq!(got, ["8\n", "9\n", "10\n", "11\n"]);
        assert!(f.poll().unwrap().is_empty());
    }

    #[test]
    fn frames_tail_and_filters() {
        let d = testkit::TempDir::new("logs");
        let p = write_log(d.path());
        let all = LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let (frames, _) = read_from(&p, 0, &all, false, None).unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(
            frames[1],
            [&[2u8, 0, 0, 0, 0, 0, 0, 2][..], b"b\n"].concat()
        );
        let (frames, _) = read_from(&p, 0, &all, true, Some(1)).unwrap();
        assert_eq!(frames, vec![b"c\n".to_vec()]);
        let only_out = LogsOptions {
            stdout: true,
            timestamps: true,
            ..Default::default()
        };
        let (frames, end) = read_from(&p, 0, &only_out, true, None).unwrap();
        assert_eq!(frames[0], b"2026-11-23T05:00:00.000000001Z a\n".to_vec());
        assert_eq!(frames.len(), 2);
        let since = LogsOptions {
            since: api::time::parse_rfc3339("2026-11-23T05:00:01Z"),
            ..all
        };
        assert_eq!(read_from(&p, 0, &since, true, None).unwrap().0.len(), 2);
        // The incomplete last line is not consumed.
        assert!(end < std::fs::metadata(&p).unwrap().len());
    }
}
