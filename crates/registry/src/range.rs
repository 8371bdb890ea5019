//! Byte ranges: the `Range` header of blob GETs (RFC 9110, single range only) and the
//! `Content-Range` header of upload PATCHes (OCI: `<start>-<end>`, inclusive, no unit).

use crate::error::RegistryError;

/// An inclusive byte range within a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes covered.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a range covers at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Resolves a `Range` header against a blob of `size` bytes.
///
/// Returns `Ok(None)` when the whole blob should be served: no header, a malformed header, a
/// unit other than `bytes` or several ranges (RFC 9110 lets a server ignore those). Returns
/// [`RegistryError::RangeNotSatisfiable`] when the range lies outside the blob.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<ByteRange>, RegistryError> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let unsatisfiable = Err(RegistryError::RangeNotSatisfiable { size });
    match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => {
            let Some(n) = num(b) else { return Ok(None) };
            if n == 0 || size == 0 {
                return unsatisfiable;
            }
            let n = n.min(size);
            Ok(Some(ByteRange {
                start: size - n,
                end: size - 1,
            }))
        }
        // bytes=A-: from A to the end.
        (false, true) => {
            let Some(start) = num(a) else { return Ok(None) };
            if start >= size {
                return unsatisfiable;
            }
            Ok(Some(ByteRange {
                start,
                end: size - 1,
            }))
        }
        (false, false) => {
            let (Some(start), Some(end)) = (num(a), num(b)) else {
                return Ok(None);
            };
            if end < start {
                return Ok(None);
            }
            if start >= size {
                return unsatisfiable;
            }
            Ok(Some(ByteRange {
                start,
                end: end.min(size - 1),
            }))
        }
        (true, true) => Ok(None),
    }
}

/// Parses an upload `Content-Range: <start>-<end>`.
pub fn parse_content_range(header: &str) -> Result<ByteRange, RegistryError> {
    let bad = || {
        RegistryError::UploadInvalid(format!(
            "malformed Content-Range {header:?}: expected <start>-<end>"
        ))
    };
    let (a, b) = header.trim().split_once('-').ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return Err(bad());
    }
    let start: u64 = a.parse().map_err(|_| bad())?;
    let end: u64 = b.parse().map_err(|_| bad())?;
    if end < start {
        return Err(bad());
    }
    Ok(ByteRange { start, end })
}

/// The `Range` header value an upload of `size` bytes reports (`0-0` when empty, as
/// distribution does).
pub fn upload_range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> Option<ByteRange> {
        Some(ByteRange { start, end })
    }

    #[test]
    fn range_header_table() {
        let cases: &[(Option<&str>, u64, Option<ByteRange>)] = &[
            (None, 10, None),
            (Some("bytes=0-4"), 10, r(0, 4)),
            (Some("bytes=5-"), 10, r(5, 9)),
            (Some("bytes=-3"), 10, r(7, 9)),
            (Some("bytes=-30"), 10, r(0, 9)),
            (Some("bytes=2-100"), 10, r(2, 9)),
            (Some("bytes=9-9"), 10, r(9, 9)),
            (Some("items=0-4"), 10, None),
            (Some("bytes=0-1,3-4"), 10, None),
            (Some("bytes=abc"), 10, None),
            (Some("bytes=4-2"), 10, None),
            (Some("bytes=x-2"), 10, None),
        ];
        for (h, size, want) in cases {
            assert_eq!(parse_range(*h, *size).unwrap(), *want, "{h:?}");
        }
    }

    #[test]
    fn unsatisfiable_ranges() {
        for (h, size) in [
            ("bytes=10-20", 10),
            ("bytes=10-", 10),
            ("bytes=-0", 10),
            ("bytes=0-0", 0),
        ] {
            let e = parse_range(Some(h), size).unwrap_err();
            assert!(
                matches!(e, RegistryError::RangeNotSatisfiable { .. }),
                "{h}"
            );
            assert_eq!(e.status(), 416);
        }
    }

    #[test]
    fn content_range_table() {
        assert_eq!(
            parse_content_range("0-99").unwrap(),
            ByteRange { start: 0, end: 99 }
        );
        assert_eq!(parse_content_range("5-5").unwrap().len(), 1);
        for bad in ["bytes 0-49/100", "0-", "-5", "5-4", "a-b", "", "0-1-2"] {
            let e = parse_content_range(bad).unwrap_err();
            assert_eq!(e.code().as_str(), "BLOB_UPLOAD_INVALID", "{bad}");
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn upload_range_values() {
        assert_eq!(upload_range_header(0), "0-0");
        assert_eq!(upload_range_header(1), "0-0");
        assert_eq!(upload_range_header(100), "0-99");
    }
}
