//! Docker's json-file log format: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"2026-11-23T05:27:08.486316496Z"}`.
//!
//! Output is split into lines; a line longer than [`MAX_PARTIAL`] bytes, or the rest of a stream
//! at its end, is written without its newline, as Docker does.
//!
//! Rotation (`--log-opt max-size=10m --log-opt max-file=3`) works as dockerd's: before an
//! entry is written, a file that has reached `max-size` is rotated: `log.(n-1)` becomes
//! `log.n` (the oldest falls off), `log` becomes `log.1`, and a new empty `log` is opened; with
//! `max-file=1` the file is truncated instead. A file can therefore exceed `max-size` by one
//! entry. Readers detect a rotation by the inode of `log` changing.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

/// Longest line kept in memory before it is written as a partial entry.
pub const MAX_PARTIAL: usize = 16 * 1024;

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: String,
}

/// Appends container output to a json-file log.
pub struct JsonFileLog {
    file: File,
    path: PathBuf,
    /// Bytes in the current file.
    size: u64,
    rotation: api::log_opts::Rotation,
    pending: [Vec<u8>; 2],
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The container's stdout (and a terminal's output).
    Stdout,
    /// The container's stderr.
    Stderr,
}

impl Stream {
    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

impl JsonFileLog {
    /// Opens (creating if needed) the log at `path` for appending.
    pub fn open(path: &Path) -> io::Result<JsonFileLog> {
        JsonFileLog::open_rotating(path, api::log_opts::Rotation::default())
    }

    /// Opens the log at `path` with rotation.
    pub fn open_rotating(
        path: &Path,
        rotation: api::log_opts::Rotation,
    ) -> io::Result<JsonFileLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonFileLog {
            file,
            path: path.to_path_buf(),
            size,
            rotation,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// `path.N`.
    fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    /// Writes one encoded entry, rotating first when the file is full.
    fn write_entry(&mut self, entry: &[u8]) -> io::Result<()> {
        if let Some(max) = self.rotation.max_size {
            if self.size >= max {
                self.rotate()?;
            }
        }
        self.file.write_all(entry)?;
        self.size += entry.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.rotation.max_files.max(1);
        if keep < 2 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for n in (2..keep).rev() {
            match std::fs::rename(self.rotated(n - 1), self.rotated(n)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }

    /// Adds output of `stream`, writing every complete line.
    pub fn write(&mut self, stream: Stream, mut data: &[u8]) -> io::Result<()> {
        let mut out = Vec::new();
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            let pending = &mut self.pending[stream.index()];
            pending.extend_from_slice(&data[..=pos]);
            let line = std::mem::take(pending);
            self.emit(&mut out, stream, &line)?;
            data = &data[pos + 1..];
        }
        let pending = &mut self.pending[stream.index()];
        pending.extend_from_slice(data);
        if pending.len() >= MAX_PARTIAL {
            let line = std::mem::take(pending);
            self.emit(&mut out, stream, &line)?;
        }
        self.drain(&mut out)
    }

    /// Encodes one entry into `out`; without rotation entries are batched, with it each is
    /// written on its own so the size check sees every entry.
    fn emit(&mut self, out: &mut Vec<u8>, stream: Stream, line: &[u8]) -> io::Result<()> {
        encode(out, stream, line);
        if self.rotation.max_size.is_some() {
            self.drain(out)?;
        }
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        let r = self.write_entry(out);
        out.clear();
        r
    }

    /// Writes what is left of both streams (their last lines without a newline).
    pub fn flush_partial(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let line = std::mem::take(&mut self.pending[stream.index()]);
            if !line.is_empty() {
                self.emit(&mut out, stream, &line)?;
            }
        }
        self.drain(&mut out)
    }
}

fn encode(out: &mut Vec<u8>, stream: Stream, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    let entry = Entry {
        log: &text,
        stream: stream.name(),
        time: api::time::rfc3339_nano(SystemTime::now()),
    };
    // Serialising a struct of strings cannot fail.
    if serde_json::to_writer(&mut *out, &entry).is_ok() {
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn splits_lines_and_keeps_streams_apart() {
        let dir = testkit::TempDir::new("jsonlog");
        let path = dir.path().join("c-json.log");
        let mut log = JsonFileLog::open(&path).unwrap();
        log.write(Stream::Stdout, b"one\ntw").unwrap();
        log.write(Stream::Stderr, b"err\n").unwrap();
        log.write(Stream::Stdout, b"o\nthree").unwrap();
        log.flush_partial().unwrap();
        let e = entries(&path);
        let got: Vec<(&str, &str)> = e
            .iter()
            .map(|v| (v["log"].as_str().unwrap(), v["stream"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("one\n", "stdout"),
                ("err\n", "stderr"),
                ("two\n", "stdout"),
                ("three", "stdout")
            ]
        );
        assert!(api::time::parse_rfc3339(e[0]["time"].as_str().unwrap()).is_some());
    }

    #[test]
    fn rotates_at_max_size_and_keeps_max_files() {
        let dir = testkit::TempDir::new("jsonlog");
        let path = dir.path().join("c-json.log");
        let rotation = api::log_opts::Rotation {
            max_size: Some(1000),
            max_files: 3,
        };
        let mut log = JsonFileLog::open_rotating(&path, rotation).unwrap();
        for i in 0..200 {
            log.write(Stream::Stdout, format!("line {i:04}\n").as_bytes())
                .unwrap();
        }
        let rotated = |n: u32| dir.path().join(format!("c-json.log.{n}"));
        assert!(rotated(1).exists() && rotated(2).exists());
        assert!(!rotated(3).exists(), "max-file counts the current file");
        let mut all = Vec::new();
        for p in [rotated(2), rotated(1), path.clone()] {
            let len = std::fs::metadata(&p).unwrap().len();
            // At most one entry past max-size.
            assert!(len < 1000 + 100, "{} is {len} bytes", p.display());
            all.extend(entries(&p));
        }
        let lines: Vec<u32> = all
            .iter()
            .map(|e| e["log"].as_str().unwrap()[5..9].parse().unwrap())
            .collect();
        // In order, contiguous, ending at the last line written.
        assert_eq!(*lines.last().unwrap(), 199);
        assert!(lines.windows(2).all(|w| w[1] == w[0] + 1), "{lines:?}");

        // max-file=1 truncates in place.
        let single = dir.path().join("s-json.log");
        let mut log = JsonFileLog::open_rotating(
            &single,
            api::log_opts::Rotation {
                max_size: Some(500),
                max_files: 1,
            },
        )
        .unwrap();
        for i in 0..100 {
            log.write(Stream::Stderr, format!("l{i}\n").as_bytes())
                .unwrap();
        }
        assert!(std::fs::metadata(&single).unwrap().len() < 600);
        assert!(!dir.path().join("s-json.log.1").exists());
    }

    #[test]
    fn long_lines_become_partial_entries() {
        let dir = testkit::TempDir::new("jsonlog");
        let path = dir.path().join("c-json.log");
        let mut log = JsonFileLog::open(&path).unwrap();
        log.write(Stream::Stdout, &vec![b'x'; MAX_PARTIAL + 10])
            .unwrap();
        log.write(Stream::Stdout, b"\n").unwrap();
        let e = entries(&path);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0]["log"].as_str().unwrap().len(), MAX_PARTIAL + 10);
        assert_eq!(e[1]["log"], "\n");
    }
}
