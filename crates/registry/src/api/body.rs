//! Moving bytes between HTTP bodies and files without holding whole blobs in memory.
//!
//! Uploads: [`stream_into`] pumps request body frames through a small channel into a blocking
//! task that reads them with [`std::io::Read`]. Downloads: [`file_body`] streams a byte range of
//! a file as a response body, read ahead in large chunks by one blocking task (a tokio `File`
//! would hop to the blocking pool for every small read).

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
/// Bytes collected from small body frames before they are handed to the disk writer.
const UPLOAD_BATCH: usize = 256 * 1024;

/// The blocking side of an upload stream.
pub(crate) struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(b)) => self.current = b,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
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
            current: Bytes::new(),
        })
    });
    let mut body = body;
    // Small frames are batched so the disk writer wakes once per UPLOAD_BATCH bytes, not once
    // per network read.
    let mut batch: Vec<u8> = Vec::new();
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if batch.is_empty() && data.len() >= UPLOAD_BATCH {
                        if tx.send(Ok(data)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    batch.extend_from_slice(&data);
                    if batch.len() >= UPLOAD_BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(UPLOAD_BATCH));
                        if tx.send(Ok(Bytes::from(full))).await.is_err() {
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
        let _ = tx.send(Ok(Bytes::from(batch))).await;
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
