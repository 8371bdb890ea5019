//! htpasswd files with bcrypt entries (`htpasswd -B`: `user:$2y$05$...`), and a short cache of
//! successful verifications so bcrypt's cost is paid once per credential and minute, not on
//! every request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::error::RegistryError;

/// How long a verified user:password pair is trusted without running bcrypt again.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 10_000;

/// The users of an htpasswd file.
#[derive(Debug, Default)]
pub struct Htpasswd {
    users: HashMap<String, String>,
    cache: Mutex<HashMap<[u8; 32], (String, Instant)>>,
}

impl Htpasswd {
    /// Parses htpasswd text. Lines that are empty or start with `#` are skipped; entries whose
    /// hash is not bcrypt are skipped with a warning.
    pub fn parse(text: &str) -> Htpasswd {
        let mut users = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                tracing::warn!("skipping htpasswd line without ':'");
                continue;
            };
            if !hash.starts_with("$2") {
                tracing::warn!(user, "skipping htpasswd entry that is not bcrypt");
                continue;
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Htpasswd {
            users,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Reads an htpasswd file.
    pub fn load(path: &Path) -> Result<Htpasswd, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(RegistryError::io("read", path))?;
        Ok(Self::parse(&text))
    }

    fn cache_key(user: &str, password: &str) -> [u8; 32] {
        Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0u8])
            .chain_update(password.as_bytes())
            .finalize()
            .into()
    }

    /// Whether the pair was verified less than [`CACHE_TTL`] ago (cheap, never runs bcrypt).
    pub fn cached(&self, user: &str, password: &str) -> bool {
        let key = Self::cache_key(user, password);
        match self.cache.lock().expect("cache lock").get(&key) {
            Some((u, until)) => *until > Instant::now() && u == user,
            None => false,
        }
    }

    /// Whether the pair is valid. Blocking (bcrypt) unless cached.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        if self.cached(user, password) {
            return true;
        }
        let key = Self::cache_key(user, password);
        let now = Instant::now();
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            let mut cache = self.cache.lock().expect("cache lock");
            if cache.len() >= CACHE_MAX {
                cache.retain(|_, (_, until)| *until > now);
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(key, (user.to_string(), now + CACHE_TTL));
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_2y_hashes_and_caches() {
        let h = bcrypt::hash_with_salt("s3cret", 4, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        assert!(h.starts_with("$2y$04$"));
        let file = Htpasswd::parse(&format!("# comment\nalice:{h}\nbob:{{SHA}}abc\n"));
        assert!(file.verify("alice", "s3cret"));
        assert!(file.verify("alice", "s3cret"), "cached");
        assert!(!file.verify("alice", "wrong"));
        assert!(!file.verify("bob", "abc"));
        assert!(!file.verify("carol", "s3cret"));
    }
}
