//! Registry credentials as Docker passes them (`X-Registry-Auth`, `POST /auth`, the
//! `auths` of `~/.docker/config.json`) and `WWW-Authenticate` challenges.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Docker's auth object (`types.AuthConfig`). Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    /// User name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// Password.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// `base64(username:password)`, as config.json stores it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    /// The registry these are for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    /// An OAuth refresh token (sent as the password of the token request).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    /// A bearer token used as is.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

impl AuthConfig {
    /// Decodes an `X-Registry-Auth` header leniently: base64 with the URL or the standard
    /// alphabet, padded or not; empty, `{}` or undecodable means anonymous (`None`).
    pub fn from_header(value: &str) -> Option<AuthConfig> {
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        let trimmed = value.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(trimmed)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
            .ok()?;
        let a: AuthConfig = serde_json::from_slice(&bytes).ok()?;
        let a = a.normalized();
        (!a.is_empty()).then_some(a)
    }

    /// The header value the docker CLI sends for these credentials (base64url, padded).
    pub fn to_header(&self) -> String {
        base64::engine::general_purpose::URL_SAFE
            .encode(serde_json::to_vec(self).expect("auth config serialises"))
    }

    /// Fills `username`/`password` from `auth` when only that is set.
    pub fn normalized(mut self) -> AuthConfig {
        if self.username.is_empty() && !self.auth.is_empty() {
            if let Some((u, p)) = decode_basic(&self.auth) {
                self.username = u;
                self.password = p;
            }
        }
        self
    }

    /// No credentials at all.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty()
            && self.password.is_empty()
            && self.identitytoken.is_empty()
            && self.registrytoken.is_empty()
    }

    /// `Basic base64(user:password)` (the identity token stands in for the password).
    pub fn basic_header(&self) -> Option<String> {
        let secret = if self.identitytoken.is_empty() {
            &self.password
        } else {
            &self.identitytoken
        };
        if self.username.is_empty() && secret.is_empty() {
            return None;
        }
        let user = if self.identitytoken.is_empty() {
            self.username.as_str()
        } else {
            "<token>"
        };
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
        ))
    }
}

/// `base64(user:password)` -> (user, password).
pub fn decode_basic(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let s = String::from_utf8(bytes).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// `base64(user:password)` as config.json stores it.
pub fn encode_basic(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// One `WWW-Authenticate` challenge: a scheme (`basic`, `bearer`, lowercased) and its
/// parameters (`realm`, `service`, `scope`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercased scheme.
    pub scheme: String,
    /// Parameters by lowercased name.
    pub params: BTreeMap<String, String>,
}

/// Parses a `WWW-Authenticate` value: `Bearer realm="...",service="...",scope="a,b"`.
/// Several challenges in one value are split at a new scheme token.
pub fn parse_challenges(value: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        // A token followed by whitespace starts a challenge; `name=` a parameter.
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == ',')
            .unwrap_or(rest.len());
        let token = &rest[..end];
        let after = &rest[end..];
        if after.trim_start().starts_with('=') && !out.is_empty() {
            let after = after.trim_start()[1..].trim_start();
            let (val, remaining) = if let Some(q) = after.strip_prefix('"') {
                let mut val = String::new();
                let mut chars = q.char_indices();
                let mut end = q.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                val.push(n);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        _ => val.push(c),
                    }
                }
                (val, &q[end..])
            } else {
                let e = after.find(',').unwrap_or(after.len());
                (after[..e].trim().to_string(), &after[e..])
            };
            out.last_mut()
                .expect("checked non-empty")
                .params
                .insert(token.to_ascii_lowercase(), val);
            rest = remaining.trim_start().trim_start_matches(',').trim_start();
        } else if token.is_empty() {
            rest = after.trim_start_matches(',').trim_start();
        } else {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
            rest = after.trim_start().trim_start_matches(',').trim_start();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_registry_auth_decodes_leniently() {
        assert_eq!(AuthConfig::from_header("e30="), None);
        assert_eq!(AuthConfig::from_header("e30"), None);
        assert_eq!(AuthConfig::from_header(""), None);
        let a = AuthConfig {
            username: "capuser".into(),
            password: "s3cret".into(),
            serveraddress: "127.0.0.1:5001".into(),
            ..AuthConfig::default()
        };
        let h = a.to_header();
        assert_eq!(AuthConfig::from_header(&h), Some(a.clone()));
        assert_eq!(
            AuthConfig::from_header(h.trim_end_matches('=')),
            Some(a.clone())
        );
        let from_auth = AuthConfig {
            auth: encode_basic("u", "p:w"),
            ..AuthConfig::default()
        }
        .normalized();
        assert_eq!(
            (from_auth.username.as_str(), from_auth.password.as_str()),
            ("u", "p:w")
        );
        assert_eq!(
            a.basic_header().unwrap(),
            format!("Basic {}", encode_basic("capuser", "s3cret"))
        );
    }

    #[test]
    fn challenges_parse() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.docker.io/token");
        assert_eq!(c[0].params["service"], "registry.docker.io");
        assert_eq!(c[0].params["scope"], "repository:library/busybox:pull,push");
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].params["realm"], "Registry Realm");
        let c = parse_challenges(r#"Basic realm="a", Bearer realm="b",service=s"#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].params["service"], "s");
    }
}
