//! Moving bytes between HTTP bodies and files without holding whole blobs in memory.
//!
//! Uploads: [`stream_into`] hands request body frames, grouped but not copied, through a small
//! channel to a blocking task that consumes them with [`std::io::BufRead`] (so the store writes
//! and hashes the very buffers hyper read from the socket). Downloads: [`file_body`] streams a
//! byte range of a file as a response body, read ahead in large chunks by one blocking task (a
//! tokio `File` would hop to the blocking pool for every small read).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::sync::mpsc;

use crate::error::RegistryError;

/// Batches in flight between the connection and the disk writer.
const CHANNEL_DEPTH: usize = 8;
/// Bytes of body frames grouped before they are handed to the disk writer (which then wakes
/// once per group, not once per network read).
const UPLOAD_BATCH: usize = 256 * 1024;

/// The blocking side of an upload stream: the body's frames, in order, as they arrive.
pub(crate) struct BodyReader {
    rx: mpsc::Receiver<io::Result<Vec<Bytes>>>,
    pending: VecDeque<Bytes>,
}

impl io::BufRead for BodyReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        loop {
            match self.pending.front() {
                Some(b) if !b.is_empty() => break,
                Some(_) => {
                    self.pending.pop_front();
                }
                None => match self.rx.blocking_recv() {
                    None => return Ok(&[]),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(frames)) => self.pending.extend(frames),
                },
            }
        }
        Ok(self.pending.front().map(|b| &b[..]).unwrap_or(&[]))
    }

    fn consume(&mut self, amt: usize) {
        if let Some(front) = self.pending.front_mut() {
            let _ = front.split_to(amt.min(front.len()));
        }
    }
}

impl io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let chunk = io::BufRead::fill_buf(self)?;
        let n = buf.len().min(chunk.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        io::BufRead::consume(self, n);
        Ok(n)
    }
}

/// Runs `f` on the blocking pool, feeding it `body` as a reader. If `f` returns before the
/// body ends (an early error), the rest of the body is not read.
pub(crate) async fn stream_into<T, F>(body: Body, f: F) -> Result<T, RegistryError>
where
    T: Send + 'static,
    F: FnOnce(BodyReader) -> Result<T, RegistryError> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let task = tokio::task::spawn_blocking(move || {
        f(BodyReader {
            rx,
            pending: VecDeque::new(),
        })
    });
    let mut body = body;
    let mut batch: Vec<Bytes> = Vec::new();
    let mut batched = 0;
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    batched += data.len();
                    batch.push(data);
                    if batched >= UPLOAD_BATCH {
                        batched = 0;
                        if tx.send(Ok(std::mem::take(&mut batch))).await.is_err() {
                            break;
                        }
                    }
                }
            }
            Some(Err(e)) => {
                let _ = tx.send(Err(io::Error::other(e))).await;
                batch.clear();
                break;
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Ok(batch)).await;
    }
    drop(tx);
    task.await.map_err(|e| RegistryError::Task(e.to_string()))?
}

/// Bytes per read of a download.
const DOWNLOAD_CHUNK: usize = 512 * 1024;
/// Chunks read ahead of the connection.
const DOWNLOAD_AHEAD: usize = 4;

/// A response body with `len` bytes of `file` from `start`, read by a blocking task.
pub(crate) fn file_body(mut file: std::fs::File, start: u64, len: u64) -> Body {
    use std::io::{Read, Seek};
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(DOWNLOAD_AHEAD);
    tokio::task::spawn_blocking(move || {
        if start > 0 {
            if let Err(e) = file.seek(io::SeekFrom::Start(start)) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
        let mut remaining = len;
        while remaining > 0 {
            let want = DOWNLOAD_CHUNK.min(usize::try_from(remaining).unwrap_or(usize::MAX));
            // read_to_end fills spare capacity without zeroing it first.
            let mut buf = Vec::with_capacity(want);
            if let Err(e) = (&mut file).take(want as u64).read_to_end(&mut buf) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
            let filled = buf.len();
            if filled == 0 {
                let _ = tx.blocking_send(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "blob shorter than its recorded size",
                )));
                return;
            }
            remaining -= filled as u64;
            // The client went away: stop reading.
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return;
            }
        }
    });
    Body::new(ChannelBody { rx, remaining: len })
}

/// The async side of [`file_body`].
struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        match this.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "blob reader stopped early",
            )))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Some(Ok(b))) => {
                this.remaining = this.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, Read};

    fn reader(batches: Vec<io::Result<Vec<&'static [u8]>>>) -> BodyReader {
        let (tx, rx) = mpsc::channel(batches.len().max(1));
        for b in batches {
            tx.try_send(b.map(|frames| frames.into_iter().map(Bytes::from_static).collect()))
                .unwrap();
        }
        BodyReader {
            rx,
            pending: VecDeque::new(),
        }
    }

    #[test]
    fn frames_are_read_in_order_across_batches_and_empty_frames() {
        let mut r = reader(vec![
            Ok(vec![b"ab", b"", b"cde"]),
            Ok(vec![]),
            Ok(vec![b"", b"f"]),
        ]);
        assert_eq!(r.fill_buf().unwrap(), b"ab");
        r.consume(1);
        assert_eq!(r.fill_buf().unwrap(), b"b");
        r.consume(1);
        // The empty frame is skipped.
        assert_eq!(r.fill_buf().unwrap(), b"cde");
        let mut two = [0u8; 2];
        assert_eq!(r.read(&mut two).unwrap(), 2);
        assert_eq!(&two, b"cd");
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"ef");
        // The sender is gone: end of body.
        assert_eq!(r.fill_buf().unwrap(), b"");
    }

    #[test]
    fn a_body_error_reaches_the_reader_after_the_bytes_before_it() {
        let mut r = reader(vec![
            Ok(vec![b"abc"]),
            Err(io::Error::other("connection reset")),
        ]);
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(got, b"abc");
        assert_eq!(err.to_string(), "connection reset");
    }
}
