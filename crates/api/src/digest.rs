//! Content digests: `algorithm ":" hex`, as the OCI image spec writes them.
//!
//! Grammar accepted by [`Digest`]'s parser (a strict subset of the OCI descriptor grammar:
//! only the two registered algorithms, lowercase hex of exactly their length):
//!
//! ```text
//! digest    := algorithm ":" encoded
//! algorithm := "sha256" | "sha512"
//! encoded   := /[0-9a-f]{64}/   (sha256)
//!            | /[0-9a-f]{128}/  (sha512)
//! ```
//!
//! Uppercase hex, other algorithms, and a missing algorithm are rejected: every digest that
//! crosses a boundary (JSON, a path, a URL) goes through [`Digest::from_str`].
//!
//! Hashing helpers: [`Digest::sha256_of`] for bytes in memory, [`Hasher`] (an [`std::io::Write`])
//! for streams.

use std::fmt;
use std::io;
use std::str::FromStr;

use sha2::Digest as _;

use crate::id::hex as to_hex;

/// A registered digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, 64 hex characters. The default everywhere.
    Sha256,
    /// SHA-512, 128 hex characters.
    Sha512,
}

impl Algorithm {
    /// The name as written before the colon.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex encoding.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest (`sha256:<64 hex>` or `sha512:<128 hex>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// Why a string is not a digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidDigest {
    /// No `:` separator.
    #[error("invalid digest {0:?}: expected algorithm:hex, e.g. sha256:<64 hex characters>")]
    Format(String),
    /// An algorithm other than sha256 or sha512.
    #[error("unsupported digest algorithm {algorithm:?} in {input:?}: expected sha256 or sha512")]
    Algorithm {
        /// The algorithm as written.
        algorithm: String,
        /// The whole input.
        input: String,
    },
    /// Wrong length or a non-lowercase-hex character.
    #[error("invalid digest {input:?}: {algorithm} needs exactly {len} lowercase hex characters")]
    Encoded {
        /// The algorithm.
        algorithm: Algorithm,
        /// The required length.
        len: usize,
        /// The whole input.
        input: String,
    },
}

impl Digest {
    /// Builds a digest from an algorithm and its hex encoding, validating the hex.
    pub fn new(algorithm: Algorithm, hex: &str) -> Result<Digest, InvalidDigest> {
        if crate::id::is_hex_id(hex, algorithm.hex_len()) {
            Ok(Digest {
                algorithm,
                hex: hex.to_string(),
            })
        } else {
            Err(InvalidDigest::Encoded {
                algorithm,
                len: algorithm.hex_len(),
                input: format!("{algorithm}:{hex}"),
            })
        }
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(bytes);
        h.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex encoding, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex characters, as Docker prints short image ids.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl FromStr for Digest {
    type Err = InvalidDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| InvalidDigest::Format(s.to_string()))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            "" => return Err(InvalidDigest::Format(s.to_string())),
            other => {
                return Err(InvalidDigest::Algorithm {
                    algorithm: other.to_string(),
                    input: s.to_string(),
                })
            }
        };
        Digest::new(algorithm, hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A streaming hasher for one [`Algorithm`]. Implements [`io::Write`] so it can sit at the end
/// of `io::copy` or inside a tee.
#[derive(Clone)]
pub struct Hasher {
    inner: HasherInner,
}

#[derive(Clone)]
enum HasherInner {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Hasher {
        let inner = match algorithm {
            Algorithm::Sha256 => HasherInner::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => HasherInner::Sha512(sha2::Sha512::new()),
        };
        Hasher { inner }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.inner {
            HasherInner::Sha256(h) => h.update(bytes),
            HasherInner::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        match self.inner {
            HasherInner::Sha256(h) => Digest {
                algorithm: Algorithm::Sha256,
                hex: to_hex(&h.finalize()),
            },
            HasherInner::Sha512(h) => Digest {
                algorithm: Algorithm::Sha512,
                hex: to_hex(&h.finalize()),
            },
        }
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader adapter that hashes (sha256) and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: io::Read> HashingReader<R> {
    /// Wraps `inner`, hashing with `algorithm`.
    pub fn new(inner: R, algorithm: Algorithm) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(algorithm),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest and byte count of everything read so far, and the inner reader.
    pub fn finish(self) -> (Digest, u64, R) {
        (self.hasher.finish(), self.count, self.inner)
    }
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hashes_bytes_and_streams_alike() {
        assert_eq!(Digest::sha256_of(b"").to_string(), EMPTY);
        let mut h = Hasher::new(Algorithm::Sha256);
        h.write_all(b"hello ").unwrap();
        h.write_all(b"world").unwrap();
        assert_eq!(h.finish(), Digest::sha256_of(b"hello world"));
        let mut r = HashingReader::new(&b"hello world"[..], Algorithm::Sha256);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        let (d, n, _) = r.finish();
        assert_eq!((d, n), (Digest::sha256_of(b"hello world"), 11));
        let d512 = {
            let mut h = Hasher::new(Algorithm::Sha512);
            h.update(b"");
            h.finish()
        };
        assert_eq!(d512.hex().len(), 128);
        assert_eq!(d512.to_string().parse::<Digest>().unwrap(), d512);
    }

    #[test]
    fn parses_and_displays_canonically() {
        let d: Digest = EMPTY.parse().unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.hex(), &EMPTY[7..]);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(d.to_string(), EMPTY);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }

    #[test]
    fn rejects_malformed_digests() {
        let hex64 = "a".repeat(64);
        let table: &[(String, &str)] = &[
            (String::new(), "expected algorithm:hex"),
            (hex64.clone(), "expected algorithm:hex"),
            (format!(":{hex64}"), "expected algorithm:hex"),
            (
                format!("md5:{hex64}"),
                "unsupported digest algorithm \"md5\"",
            ),
            (format!("SHA256:{hex64}"), "unsupported digest algorithm"),
            (format!("sha256:{}", "A".repeat(64)), "64 lowercase hex"),
            (format!("sha256:{}", "a".repeat(63)), "64 lowercase hex"),
            (format!("sha256:{}", "a".repeat(65)), "64 lowercase hex"),
            (format!("sha256:{}g", "a".repeat(63)), "64 lowercase hex"),
            (format!("sha512:{hex64}"), "128 lowercase hex"),
            (format!("sha256: {}", "a".repeat(63)), "64 lowercase hex"),
        ];
        for (input, want) in table {
            let err = input.parse::<Digest>().unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
        assert!(serde_json::from_str::<Digest>("\"sha256:abc\"").is_err());
    }
}
