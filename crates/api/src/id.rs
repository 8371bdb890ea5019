//! Container ids: 64 lowercase hex characters, as Docker's.

use std::fmt;
use std::str::FromStr;

/// A full container id (64 lowercase hex characters). Short ids and names are resolved to this
/// type by the engine before anything else sees them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(String);

/// Why a string is not a container id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid container id {0:?}: expected 64 lowercase hex characters")]
pub struct InvalidId(pub String);

impl ContainerId {
    /// A new id from 32 random bytes.
    pub fn from_random(bytes: [u8; 32]) -> ContainerId {
        ContainerId(hex(&bytes))
    }

    /// The full 64-character id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 12-character short form the CLI prints.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl FromStr for ContainerId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_hex_id(s, 64) {
            Ok(ContainerId(s.to_string()))
        } else {
            Err(InvalidId(s.to_string()))
        }
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for ContainerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ContainerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// True if `s` is exactly `len` lowercase hex characters.
pub fn is_hex_id(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_64_lowercase_hex() {
        let ok = "a".repeat(64);
        assert_eq!(ok.parse::<ContainerId>().unwrap().short(), "aaaaaaaaaaaa");
        for bad in ["", "abc", &"A".repeat(64), &"g".repeat(64), &"a".repeat(65)] {
            assert!(bad.parse::<ContainerId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn random_ids_are_valid() {
        let id = ContainerId::from_random([0xab; 32]);
        assert_eq!(id.as_str(), "ab".repeat(32));
        assert!(serde_json::from_str::<ContainerId>("\"xyz\"").is_err());
    }
}
