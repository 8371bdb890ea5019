//! Validated names the registry takes from clients: repository names, tags, manifest
//! references and upload session ids.
//!
//! Grammar (OCI distribution spec):
//!
//! ```text
//! name       := component ( "/" component )*          at most 255 characters
//! component  := [a-z0-9]+ ( separator [a-z0-9]+ )*
//! separator  := "." | "_" | "__" | "-"+
//! tag        := [a-zA-Z0-9_] [a-zA-Z0-9._-]{0,127}
//! reference  := tag | digest
//! ```
//!
//! A name never contains `..`, an empty component or a leading `_`, so it is safe to use as a
//! relative path under `repositories/`; the store's own directories start with `_`.

use std::fmt;
use std::str::FromStr;

use api::Digest;

use crate::error::{parse_digest, RegistryError};

/// Longest repository name accepted.
pub const MAX_NAME_LEN: usize = 255;

/// A validated repository name such as `library/busybox`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoName(String);

impl RepoName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RepoName {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| RegistryError::NameInvalid {
            name: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(invalid("name is empty"));
        }
        if s.len() > MAX_NAME_LEN {
            return Err(invalid("name is longer than 255 characters"));
        }
        for component in s.split('/') {
            if !valid_component(component) {
                return Err(invalid(
                    "each path component must be lowercase letters and digits, separated by '.', '_', '__' or '-'",
                ));
            }
        }
        Ok(RepoName(s.to_string()))
    }
}

fn alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or "-"+; it is followed by an alphanumeric (the last
        // byte is alphanumeric, checked above).
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A validated tag such as `latest` or `v1.2.3`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(String);

impl Tag {
    /// The tag as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `s` matches the tag grammar.
pub fn is_valid_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'-'))
}

impl FromStr for Tag {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_valid_tag(s) {
            Ok(Tag(s.to_string()))
        } else {
            Err(format!("invalid tag {s:?}"))
        }
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// By tag.
    Tag(Tag),
    /// By digest.
    Digest(Digest),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

/// Why a reference did not parse.
#[derive(Debug)]
pub enum ReferenceError {
    /// Contains `:` but is not a digest.
    Digest(RegistryError),
    /// Not a tag.
    Tag(String),
}

impl Reference {
    /// Parses a tag, or a digest when the input contains `:`.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.contains(':') {
            parse_digest(s)
                .map(Reference::Digest)
                .map_err(ReferenceError::Digest)
        } else {
            s.parse().map(Reference::Tag).map_err(ReferenceError::Tag)
        }
    }
}

/// An upload session id: 32 lowercase hex digits with dashes in UUID positions, chosen by the
/// server from the system's random source.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// A fresh random id.
    pub fn random() -> Result<UploadId, RegistryError> {
        use std::io::Read;
        let mut b = [0u8; 16];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut b))
            .map_err(RegistryError::io("read", "/dev/urandom"))?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Ok(UploadId(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for UploadId {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == 36
            && s.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            });
        if ok {
            Ok(UploadId(s.to_string()))
        } else {
            Err(RegistryError::UploadUnknown(s.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_name_table() {
        let long_ok = format!("a/{}", "b".repeat(253));
        let too_long = format!("a/{}", "b".repeat(254));
        let cases: &[(&str, bool)] = &[
            ("busybox", true),
            ("library/busybox", true),
            ("a/b/c/d", true),
            ("my-app", true),
            ("my--app", true),
            ("my.app", true),
            ("my_app", true),
            ("my__app", true),
            ("a0/1b", true),
            (&long_ok, true),
            ("", false),
            ("Busybox", false),
            ("library/Busybox", false),
            ("/busybox", false),
            ("busybox/", false),
            ("a//b", false),
            ("-app", false),
            ("app-", false),
            ("my___app", false),
            ("my..app", false),
            ("my._app", false),
            ("..", false),
            ("a/../b", false),
            ("_blobs", false),
            ("a b", false),
            ("a:b", false),
            (&too_long, false),
        ];
        for (name, ok) in cases {
            let r = name.parse::<RepoName>();
            assert_eq!(r.is_ok(), *ok, "{name:?}: {r:?}");
            if let Err(e) = r {
                assert_eq!(e.code().as_str(), "NAME_INVALID");
            }
        }
    }

    #[test]
    fn tag_table() {
        for ok in ["latest", "v1.2.3", "_x", "A-b_c.d", &"a".repeat(128)] {
            assert!(is_valid_tag(ok), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "a:b",
            &"a".repeat(129),
            ".INVALID_MANIFEST_NAME",
        ] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
    }

    #[test]
    fn reference_parses_tag_or_digest() {
        let d = Digest::sha256_of(b"x");
        assert_eq!(
            Reference::parse(&d.to_string()).unwrap(),
            Reference::Digest(d)
        );
        assert!(matches!(Reference::parse("v1"), Ok(Reference::Tag(_))));
        assert!(matches!(
            Reference::parse("sha256:totallywrong"),
            Err(ReferenceError::Digest(_))
        ));
        assert!(matches!(
            Reference::parse(".bad"),
            Err(ReferenceError::Tag(_))
        ));
    }

    #[test]
    fn upload_ids_round_trip_and_reject_paths() {
        let id = UploadId::random().unwrap();
        assert_eq!(id.as_str().parse::<UploadId>().unwrap(), id);
        assert_ne!(UploadId::random().unwrap(), id);
        for bad in ["../../etc", "", "ABCDEFAB-1234-4234-8234-123456789012", "x"] {
            assert!(bad.parse::<UploadId>().is_err(), "{bad}");
        }
    }
}
