//! `logs`: read the json-file log, filter and frame it; with `follow`, keep reading new lines
//! until the container stops or the client goes away.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
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
    /// done or when the receiver is dropped.
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
        let path2 = path.clone();
        let (frames, mut pos) =
            tokio::task::spawn_blocking(move || read_from(&path2, 0, &opts2, tty, opts2.tail))
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
            let path2 = path.clone();
            let (frames, new_pos) =
                tokio::task::spawn_blocking(move || read_from(&path2, pos, &opts2, tty, None))
                    .await
                    .map_err(super::create::join_error)??;
            pos = new_pos;
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

/// Reads complete lines from byte `pos`, returns frames and the offset after the last full line.
fn read_from(
    path: &std::path::Path,
    pos: u64,
    opts: &LogsOptions,
    tty: bool,
    tail: Option<usize>,
) -> Result<(Vec<Vec<u8>>, u64), EngineError> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), pos)),
        Err(e) => return Err(EngineError::io("open container log")(e)),
    };
    let mut reader = BufReader::new(file);
    reader
        .seek(SeekFrom::Start(pos))
        .map_err(EngineError::io("read container log"))?;
    let mut offset = pos;
    let mut entries = Vec::new();
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
            entries.push(e);
        }
    }
    let selected: Vec<&Entry> = entries
        .iter()
        .filter(|e| (e.stream == "stdout" && opts.stdout) || (e.stream == "stderr" && opts.stderr))
        .filter(|e| {
            let t = api::time::parse_rfc3339(&e.time).unwrap_or(UNIX_EPOCH);
            opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t < u)
        })
        .collect();
    let skip = tail.map_or(0, |n| selected.len().saturating_sub(n));
    let frames = selected[skip..]
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
        .collect();
    Ok((frames, offset))
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
