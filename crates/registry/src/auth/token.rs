//! Bearer tokens: JWTs signed with HMAC-SHA256 (HS256) by the built-in token service and
//! verified by the same process, so the key never leaves the registry's root.
//!
//! Header `{"alg":"HS256","typ":"JWT","kid":K}` where K is the first 16 hex digits of the key's
//! sha256; claims as distribution's token spec: `iss`, `sub` (user, empty for anonymous), `aud`
//! (the service), `exp`, `nbf`, `iat`, `jti`, `access: [{type, name, actions}]`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::hmac;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::RegistryError;

/// One entry of a token's `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenAccess {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name, or `catalog`.
    pub name: String,
    /// Granted actions (`pull`, `push`, `delete`, `*`).
    pub actions: Vec<String>,
}

/// The claims of a berth token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user, empty for anonymous.
    pub sub: String,
    /// Audience: the service.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not before.
    pub nbf: u64,
    /// Issued at.
    pub iat: u64,
    /// Token id.
    pub jti: String,
    /// What the token grants.
    #[serde(default)]
    pub access: Vec<TokenAccess>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// Signature, algorithm or key id wrong.
    #[error("bad token signature")]
    Signature,
    /// Issuer or audience is not ours.
    #[error("token for another issuer or service")]
    Audience,
    /// Outside its validity window.
    #[error("token expired or not yet valid")]
    Expired,
}

/// Signs and verifies tokens with one HS256 key.
pub struct TokenSigner {
    key: hmac::Key,
    kid: String,
    issuer: String,
    service: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("service", &self.service)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TokenSigner {
    /// A signer over raw key bytes.
    pub fn new(secret: &[u8], issuer: &str, service: &str) -> TokenSigner {
        let kid: String = Sha256::digest(secret)[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        TokenSigner {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            kid,
            issuer: issuer.to_string(),
            service: service.to_string(),
        }
    }

    /// Loads the key at `path`, creating 32 random bytes (mode 0600, written atomically) when
    /// the file does not exist.
    pub fn load_or_create(
        path: &Path,
        issuer: &str,
        service: &str,
    ) -> Result<TokenSigner, RegistryError> {
        match std::fs::read(path) {
            Ok(secret) if secret.len() >= 32 => Ok(Self::new(&secret, issuer, service)),
            Ok(_) => Err(RegistryError::Config(format!(
                "token key {} is shorter than 32 bytes",
                path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
                    .map_err(|_| RegistryError::Config("no randomness for the token key".into()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(RegistryError::io("create", dir))?;
                }
                content::atomic::write_file(path, &secret)
                    .map_err(RegistryError::io("write", path))?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(RegistryError::io("chmod", path))?;
                tracing::info!(path = %path.display(), "created token signing key");
                Ok(Self::new(&secret, issuer, service))
            }
            Err(e) => Err(RegistryError::io("read", path)(e)),
        }
    }

    /// The service tokens are issued for.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Issues a token for `sub` with `access`, valid for `ttl_secs` from `now`.
    pub fn issue(&self, sub: &str, access: Vec<TokenAccess>, now: u64, ttl_secs: u64) -> String {
        let mut jti = [0u8; 12];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut jti);
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: sub.to_string(),
            aud: self.service.clone(),
            exp: now + ttl_secs,
            nbf: now.saturating_sub(10),
            iat: now,
            jti: URL_SAFE_NO_PAD.encode(jti),
            access,
        };
        let header = Header {
            alg: "HS256".into(),
            typ: "JWT".into(),
            kid: self.kid.clone(),
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("header serializes")),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"))
        );
        let sig = hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// Verifies a token's signature, issuer, audience and validity window at `now`.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        let signing_input = &token[..h.len() + 1 + c.len()];
        hmac::verify(&self.key, signing_input.as_bytes(), &sig)
            .map_err(|_| TokenError::Signature)?;
        let header: Header = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.alg != "HS256" || header.kid != self.kid {
            return Err(TokenError::Signature);
        }
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.iss != self.issuer || claims.aud != self.service {
            return Err(TokenError::Audience);
        }
        if now >= claims.exp || now < claims.nbf {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(name: &str, actions: &[&str]) -> Vec<TokenAccess> {
        vec![TokenAccess {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
        }]
    }

    #[test]
    fn issue_and_verify() {
        let s = TokenSigner::new(&[1u8; 32], "iss", "svc");
        let t = s.issue("alice", access("a/b", &["pull"]), 1000, 300);
        let c = s.verify(&t, 1100).unwrap();
        assert_eq!(c.sub, "alice");
        assert_eq!(c.aud, "svc");
        assert_eq!(c.access, access("a/b", &["pull"]));
        assert_eq!(s.verify(&t, 1300), Err(TokenError::Expired));
        // Another key, issuer or service.
        assert_eq!(
            TokenSigner::new(&[2u8; 32], "iss", "svc").verify(&t, 1100),
            Err(TokenError::Signature)
        );
        assert_eq!(
            TokenSigner::new(&[1u8; 32], "iss", "other").verify(&t, 1100),
            Err(TokenError::Audience)
        );
        // Tampered claims.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Claims {
                access: access("x", &["push"]),
                ..c
            })
            .unwrap(),
        );
        parts[1] = &forged;
        assert_eq!(s.verify(&parts.join("."), 1100), Err(TokenError::Signature));
        assert_eq!(s.verify("a.b", 1100), Err(TokenError::Malformed));
    }

    #[test]
    fn key_is_created_once() {
        let t = testkit::TempDir::new("registry-token");
        let p = t.path().join("token.key");
        let a = TokenSigner::load_or_create(&p, "i", "s").unwrap();
        let tok = a.issue("", vec![], 10, 100);
        let b = TokenSigner::load_or_create(&p, "i", "s").unwrap();
        assert!(b.verify(&tok, 20).is_ok());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
