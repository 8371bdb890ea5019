//! Detects a layer stream's compression from its first bytes and undoes it.

use std::io::{self, Cursor, Read};

use crate::UnpackError;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`), decoded by the pure-Rust `ruzstd`.
    Zstd,
}

impl Compression {
    /// The OCI layer media type for a blob compressed this way.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => api::image::MEDIA_TYPE_OCI_LAYER,
            Compression::Gzip => api::image::MEDIA_TYPE_OCI_LAYER_GZIP,
            Compression::Zstd => api::image::MEDIA_TYPE_OCI_LAYER_ZSTD,
        }
    }
}

/// Reads the first bytes of `r` to detect its compression and returns a reader of the
/// uncompressed stream (the peeked bytes included).
pub fn decompress<'a, R: Read + 'a>(
    mut r: R,
) -> Result<(Compression, Box<dyn Read + 'a>), UnpackError> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(UnpackError::Read(e)),
        }
    }
    let head = head[..n].to_vec();
    let kind = if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    };
    let whole = Cursor::new(head).chain(r);
    match kind {
        Compression::None => Ok((kind, Box::new(whole))),
        Compression::Gzip => Ok((kind, Box::new(flate2::read::MultiGzDecoder::new(whole)))),
        Compression::Zstd => Ok((kind, Box::new(ZstdFrames::new(whole)))),
    }
}

/// Decodes a stream of zstd frames one after another (a blob may hold several, as a
/// concatenation of gzip members may), ending at the end of the input.
struct ZstdFrames<R: Read> {
    state: Option<FrameState<R>>,
}

enum FrameState<R: Read> {
    Between(Peeked<R>),
    In(Box<ruzstd::decoding::StreamingDecoder<Peeked<R>, ruzstd::decoding::FrameDecoder>>),
}

/// A reader with at most one byte pushed back in front.
struct Peeked<R> {
    first: Option<u8>,
    inner: R,
}

impl<R: Read> Read for Peeked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.first.take() {
            Some(b) if !buf.is_empty() => {
                buf[0] = b;
                Ok(1)
            }
            Some(b) => {
                self.first = Some(b);
                Ok(0)
            }
            None => self.inner.read(buf),
        }
    }
}

impl<R: Read> ZstdFrames<R> {
    fn new(r: R) -> Self {
        ZstdFrames {
            state: Some(FrameState::Between(Peeked {
                first: None,
                inner: r,
            })),
        }
    }
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state.take() {
                None => return Ok(0),
                Some(FrameState::In(mut dec)) => {
                    let n = dec.read(buf)?;
                    if n > 0 {
                        self.state = Some(FrameState::In(dec));
                        return Ok(n);
                    }
                    self.state = Some(FrameState::Between(dec.into_inner()));
                }
                Some(FrameState::Between(mut r)) => {
                    // The end of the input ends the stream; any byte starts the next frame.
                    let mut first = [0u8; 1];
                    let n = loop {
                        match r.read(&mut first) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            other => break other?,
                        }
                    };
                    if n == 0 {
                        return Ok(0);
                    }
                    r.first = Some(first[0]);
                    let dec = ruzstd::decoding::StreamingDecoder::new(r).map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
                    })?;
                    self.state = Some(FrameState::In(Box::new(dec)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_gzip_and_plain() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"hello tar").unwrap();
        let gz = gz.finish().unwrap();
        let (c, mut r) = decompress(&gz[..]).unwrap();
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!((c, out.as_str()), (Compression::Gzip, "hello tar"));
        let (c, mut r) = decompress(&b"ab"[..]).unwrap();
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!((c, out.as_str()), (Compression::None, "ab"));
        // A truncated zstd frame is an error, not an empty layer.
        let (c, mut r) = decompress(&[0x28, 0xb5, 0x2f, 0xfd, 0][..]).unwrap();
        assert_eq!(c, Compression::Zstd);
        assert!(r.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn decodes_concatenated_zstd_frames() {
        // Two frames made by `zstd` 1.5: "hello " and "zstd\n", each a raw (uncompressed)
        // block, concatenated as `cat a.zst b.zst` would.
        let mut blob = Vec::new();
        for part in [&b"hello "[..], &b"zstd\n"[..]] {
            blob.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
            // Frame header: single segment, content size in 1 byte.
            blob.push(0x20);
            blob.push(part.len() as u8);
            // Last raw block of part.len() bytes: (len << 3) | (type 0 << 1) | last.
            let h = ((part.len() as u32) << 3) | 1;
            blob.extend_from_slice(&h.to_le_bytes()[..3]);
            blob.extend_from_slice(part);
        }
        let (c, mut r) = decompress(&blob[..]).unwrap();
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!((c, out.as_str()), (Compression::Zstd, "hello zstd\n"));
    }
}
