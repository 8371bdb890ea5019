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
    /// zstd (`28 b5 2f fd`); recognised, not yet supported.
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
        Compression::Zstd => Err(UnpackError::UnsupportedCompression("zstd")),
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
        let err = decompress(&[0x28, 0xb5, 0x2f, 0xfd, 0][..]).err().unwrap();
        assert_eq!(
            err.to_string(),
            "zstd-compressed layers are not supported yet"
        );
    }
}
