//! Docker's json-file log format: one JSON object per line,
//! `{"log":"hi\n","stream":"stdout","time":"2026-11-23T05:27:08.486316496Z"}`.
//!
//! Output is split into lines; a line longer than [`MAX_PARTIAL`] bytes, or the rest of a stream
//! at its end, is written without its newline, as Docker does.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
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
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonFileLog {
            file,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Adds output of `stream`, writing every complete line.
    pub fn write(&mut self, stream: Stream, mut data: &[u8]) -> io::Result<()> {
        let mut out = Vec::new();
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            let pending = &mut self.pending[stream.index()];
            pending.extend_from_slice(&data[..=pos]);
            let line = std::mem::take(pending);
            encode(&mut out, stream, &line);
            data = &data[pos + 1..];
        }
        let pending = &mut self.pending[stream.index()];
        pending.extend_from_slice(data);
        if pending.len() >= MAX_PARTIAL {
            let line = std::mem::take(pending);
            encode(&mut out, stream, &line);
        }
        if !out.is_empty() {
            self.file.write_all(&out)?;
        }
        Ok(())
    }

    /// Writes what is left of both streams (their last lines without a newline).
    pub fn flush_partial(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let line = std::mem::take(&mut self.pending[stream.index()]);
            if !line.is_empty() {
                encode(&mut out, stream, &line);
            }
        }
        self.file.write_all(&out)
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
