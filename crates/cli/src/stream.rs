//! Container output streams: the 8-byte-header multiplexed framing used when a container has no
//! TTY (attach, logs, exec), and the raw copy used when it has one.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Stream id of stdout in a frame header.
#[cfg(test)]
pub const STDOUT: u8 = 1;
/// Stream id of stderr in a frame header.
pub const STDERR: u8 = 2;

/// Reassembles frames from bytes that may arrive split or coalesced.
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: Vec<u8>,
}

impl Demuxer {
    /// An empty demuxer.
    pub fn new() -> Self {
        Demuxer::default()
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame as (stream id, payload), if one is buffered.
    pub fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        if self.buf.len() < 8 {
            return None;
        }
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            return None;
        }
        let stream = self.buf[0];
        let payload = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        Some((stream, payload))
    }

    /// Bytes of an incomplete frame still buffered.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Encodes one frame (used by tests and fakes).
#[cfg(test)]
pub fn encode_frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![stream, 0, 0, 0];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Where container output goes: raw to stdout with a TTY, else demultiplexed to stdout/stderr.
pub struct OutputSink<O, E> {
    tty: bool,
    demux: Demuxer,
    out: O,
    err: E,
}

impl OutputSink<tokio::io::Stdout, tokio::io::Stderr> {
    /// A sink writing to this process's stdout and stderr.
    pub fn stdio(tty: bool) -> Self {
        OutputSink::new(tty, tokio::io::stdout(), tokio::io::stderr())
    }
}

impl<O: AsyncWrite + Unpin, E: AsyncWrite + Unpin> OutputSink<O, E> {
    /// A sink over the given writers.
    pub fn new(tty: bool, out: O, err: E) -> Self {
        OutputSink {
            tty,
            demux: Demuxer::new(),
            out,
            err,
        }
    }

    /// Writes one chunk of bytes received from the daemon.
    pub async fn write_chunk(&mut self, data: &[u8]) -> io::Result<()> {
        if self.tty {
            self.out.write_all(data).await?;
            return self.out.flush().await;
        }
        self.demux.push(data);
        let mut wrote_out = false;
        let mut wrote_err = false;
        while let Some((stream, payload)) = self.demux.next_frame() {
            match stream {
                STDERR => {
                    self.err.write_all(&payload).await?;
                    wrote_err = true;
                }
                _ => {
                    self.out.write_all(&payload).await?;
                    wrote_out = true;
                }
            }
        }
        if wrote_out {
            self.out.flush().await?;
        }
        if wrote_err {
            self.err.flush().await?;
        }
        Ok(())
    }

    /// Copies a whole stream until EOF.
    pub async fn copy_from<R: AsyncRead + Unpin>(&mut self, mut reader: R) -> io::Result<()> {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(e),
            };
            self.write_chunk(&buf[..n]).await?;
        }
    }

    /// Gives back the writers (for tests).
    #[cfg(test)]
    pub fn into_inner(self) -> (O, E) {
        (self.out, self.err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_and_coalesced_are_reassembled() {
        let mut bytes = encode_frame(STDERR, b"err\n");
        bytes.extend(encode_frame(STDOUT, b"out\n"));
        let mut d = Demuxer::new();
        d.push(&bytes[..5]);
        assert_eq!(d.next_frame(), None);
        d.push(&bytes[5..10]);
        assert_eq!(d.next_frame(), None);
        d.push(&bytes[10..]);
        assert_eq!(d.next_frame(), Some((STDERR, b"err\n".to_vec())));
        assert_eq!(d.next_frame(), Some((STDOUT, b"out\n".to_vec())));
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn header_layout_matches_docker() {
        assert_eq!(
            encode_frame(STDOUT, b"hi\n"),
            b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n".to_vec()
        );
    }

    #[test]
    fn empty_payload_frame() {
        let mut d = Demuxer::new();
        d.push(&encode_frame(STDOUT, b""));
        assert_eq!(d.next_frame(), Some((STDOUT, Vec::new())));
    }

    #[tokio::test]
    async fn sink_routes_streams_and_passes_tty_raw() {
        let mut sink = OutputSink::new(false, Vec::new(), Vec::new());
        let mut bytes = encode_frame(STDOUT, b"a");
        bytes.extend(encode_frame(STDERR, b"b"));
        bytes.extend(encode_frame(STDOUT, b"c"));
        sink.copy_from(&bytes[..]).await.unwrap();
        let (out, err) = sink.into_inner();
        assert_eq!(out, b"ac");
        assert_eq!(err, b"b");

        let mut sink = OutputSink::new(true, Vec::new(), Vec::new());
        sink.write_chunk(b"\x01raw\r\n").await.unwrap();
        assert_eq!(sink.into_inner().0, b"\x01raw\r\n");
    }
}
