//! Image references (`busybox`, `127.0.0.1:5000/bb:2`, `ghcr.io/o/app@sha256:...`), parsed
//! once, stored canonical, printed familiar.
//!
//! Grammar (from distribution/reference, which Docker uses):
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain "/"] remote-name
//! domain           := host [":" port-number]
//! host             := domain-name | IPv4address | "[" IPv6address "]"
//! domain-name      := domain-component ["." domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! remote-name      := path-component ["/" path-component]*
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]*/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := see crate::digest (sha256 or sha512 only)
//! ```
//!
//! The name (domain and remote name together) is at most 255 characters.
//!
//! Normalisation (distribution's `ParseNormalizedNamed`): the first path component is a
//! domain only if it contains `.` or `:` or is `localhost` (and is lowercase); otherwise the
//! domain is `docker.io`. `index.docker.io` becomes `docker.io`. A single-component name on
//! `docker.io` gets `library/`. A reference with neither tag nor digest gets the tag `latest`.
//! So `busybox` is stored as `docker.io/library/busybox:latest` and [`ImageRef::familiar`]
//! prints `busybox:latest`.
//!
//! Rejected with dedicated messages: uppercase repository names (`Busybox`), and a bare
//! 64-character hex string (that is an image id, not a name).

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// Docker Hub's canonical domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag a reference without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A normalised image reference. Fields are private; build one with [`FromStr`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidReference {
    /// The string does not match the grammar.
    #[error("invalid reference format")]
    Format(String),
    /// The repository part has uppercase letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// Name longer than 255 characters.
    #[error("invalid reference format: repository name must not be more than 255 characters")]
    NameTooLong,
    /// The tag does not match `[\w][\w.-]{0,127}`.
    #[error("invalid reference format: invalid tag {0:?}")]
    Tag(String),
    /// The digest part does not parse.
    #[error("invalid reference format: {0}")]
    Digest(#[from] crate::digest::InvalidDigest),
    /// A bare 64-hex string, which is an id.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
}

impl ImageRef {
    /// The registry domain, e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The remote name (path) inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any (every reference without a digest has one).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference names one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Canonical repository name: `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Familiar repository name: `busybox`, `someone/app`, `127.0.0.1:5000/bb`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(rest) if !rest.contains('/') => rest.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.repository()
        }
    }

    /// The familiar form Docker prints: `busybox:latest`, `127.0.0.1:5000/bb:2`,
    /// `busybox@sha256:...`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, InvalidReference> {
        if !is_tag(tag) {
            return Err(InvalidReference::Tag(tag.to_string()));
        }
        Ok(ImageRef {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
    }
}

impl FromStr for ImageRef {
    type Err = InvalidReference;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if crate::id::is_hex_id(s, 64) {
            return Err(InvalidReference::HexName(s.to_string()));
        }
        let format = || InvalidReference::Format(s.to_string());
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                if !is_tag(tag) {
                    return Err(InvalidReference::Tag(tag.to_string()));
                }
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(format());
        }
        let (domain, remote) = split_domain(name);
        if !domain.is_empty() && !is_domain(domain) {
            return Err(format());
        }
        if remote.to_lowercase() != remote {
            // Only a grammar violation because of case gets the dedicated message.
            if remote.to_lowercase().split('/').all(is_path_component) {
                return Err(InvalidReference::Uppercase(remote.to_string()));
            }
            return Err(format());
        }
        if remote.is_empty() || !remote.split('/').all(is_path_component) {
            return Err(format());
        }
        let mut domain = if domain.is_empty() {
            DEFAULT_DOMAIN.to_string()
        } else {
            domain.to_string()
        };
        if domain == LEGACY_DEFAULT_DOMAIN {
            domain = DEFAULT_DOMAIN.to_string();
        }
        let path = if domain == DEFAULT_DOMAIN && !remote.contains('/') {
            format!("{OFFICIAL_REPO_PREFIX}{remote}")
        } else {
            remote.to_string()
        };
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(InvalidReference::NameTooLong);
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            _ => tag,
        };
        Ok(ImageRef {
            domain,
            path,
            tag,
            digest,
        })
    }
}

/// Splits `name` into (domain, remote); the domain is empty when Docker Hub is implied.
/// Same rule as distribution's `splitDockerDomain`: the first component is a domain when it
/// contains `.` or `:`, is `localhost`, or has an uppercase letter.
fn split_domain(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first != first.to_lowercase() =>
        {
            (first, rest)
        }
        _ => ("", name),
    }
}

fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        // [IPv6]:port
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty()
            || !v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => return !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
                None => return false,
            },
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty() && host.split('.').all(is_domain_component)
}

fn is_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
}

/// `alpha-numeric [separator alpha-numeric]*` with separator `[_.]|__|[-]*`.
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "_" | "." | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|x| word(*x) || *x == b'.' || *x == b'-')
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.repository();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl serde::Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> ImageRef {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn normalises_to_canonical_and_prints_familiar() {
        let hex = "a".repeat(64);
        let table: &[(&str, &str, &str)] = &[
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            (
                "library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "someone/app:v1",
                "docker.io/someone/app:v1",
                "someone/app:v1",
            ),
            (
                "docker.io/library/a/b",
                "docker.io/library/a/b:latest",
                "library/a/b:latest",
            ),
            (
                "127.0.0.1:5000/bb:2",
                "127.0.0.1:5000/bb:2",
                "127.0.0.1:5000/bb:2",
            ),
            (
                "localhost/app",
                "localhost/app:latest",
                "localhost/app:latest",
            ),
            (
                "localhost:5000/a/b_c__d.e-f---g",
                "localhost:5000/a/b_c__d.e-f---g:latest",
                "localhost:5000/a/b_c__d.e-f---g:latest",
            ),
            (
                "ghcr.io/o/app:V_1.0-x",
                "ghcr.io/o/app:V_1.0-x",
                "ghcr.io/o/app:V_1.0-x",
            ),
            (
                "[::1]:5000/app",
                "[::1]:5000/app:latest",
                "[::1]:5000/app:latest",
            ),
        ];
        for (input, canonical, familiar) in table {
            let got = r(input);
            assert_eq!(got.to_string(), *canonical, "{input}");
            assert_eq!(got.familiar(), *familiar, "{input}");
            assert_eq!(r(canonical), got, "{input} round trip");
        }
        let with_digest = r(&format!("busybox@sha256:{hex}"));
        assert_eq!(with_digest.tag(), None);
        assert_eq!(with_digest.digest().unwrap().hex(), hex);
        assert_eq!(
            with_digest.to_string(),
            format!("docker.io/library/busybox@sha256:{hex}")
        );
        assert_eq!(with_digest.familiar(), format!("busybox@sha256:{hex}"));
        let both = r(&format!("127.0.0.1:5000/bb:2@sha256:{hex}"));
        assert_eq!(
            (both.domain(), both.path(), both.tag()),
            ("127.0.0.1:5000", "bb", Some("2"))
        );
        assert_eq!(r("busybox").with_tag("x").unwrap().familiar(), "busybox:x");
        let json = serde_json::to_string(&r("busybox")).unwrap();
        assert_eq!(json, "\"docker.io/library/busybox:latest\"");
        assert_eq!(
            serde_json::from_str::<ImageRef>(&json).unwrap(),
            r("busybox")
        );
        assert!(serde_json::from_str::<ImageRef>("\"Busybox\"").is_err());
    }

    #[test]
    fn uppercase_repository_gets_dedicated_message() {
        for input in ["Busybox", "someone/App:v1", "docker.io/library/BusyBox"] {
            let err = input.parse::<ImageRef>().unwrap_err();
            assert!(
                matches!(err, InvalidReference::Uppercase(_)),
                "{input}: {err:?}"
            );
            assert!(err.to_string().contains("must be lowercase"), "{err}");
        }
        // Uppercase in a domain is fine.
        assert_eq!(r("Example.COM/app").domain(), "Example.COM");
    }

    #[test]
    fn rejects_malformed_references() {
        let hex = "a".repeat(64);
        let long = format!("a/{}", "b".repeat(260));
        let long_tag = format!("busybox:{}", "t".repeat(129));
        let table: Vec<(&str, &str)> = vec![
            ("", "invalid reference format"),
            (":latest", "invalid reference format"),
            ("busybox:", "invalid tag"),
            ("busybox::x", "invalid reference format"),
            ("busybox:-x", "invalid tag"),
            (&long_tag, "invalid tag"),
            ("busybox@", "invalid reference format"),
            ("busybox@sha256:abc", "64 lowercase hex"),
            ("busybox@md5:abc", "unsupported digest algorithm"),
            ("/busybox", "invalid reference format"),
            ("busybox/", "invalid reference format"),
            ("a//b", "invalid reference format"),
            ("-busybox", "invalid reference format"),
            ("busybox-", "invalid reference format"),
            ("bu..sybox", "invalid reference format"),
            ("bu___sybox", "invalid reference format"),
            ("bu sybox", "invalid reference format"),
            ("host:port/app", "invalid reference format"),
            ("-host.io/app", "invalid reference format"),
            ("[::1/app", "invalid reference format"),
            (&hex, "cannot specify 64-byte hexadecimal strings"),
            (&long, "must not be more than 255 characters"),
        ];
        for (input, want) in table {
            let err = input.parse::<ImageRef>().unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: got {err:?}, want {want:?}");
        }
    }
}
