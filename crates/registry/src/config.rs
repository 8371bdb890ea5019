//! `berth registry --config FILE`: the YAML configuration, parsed once into typed values.
//!
//! ```yaml
//! addr: 0.0.0.0:5000            # listen address (flag --addr overrides)
//! root: /var/lib/berth/registry # data root (flag --root overrides)
//! insecure: false               # allow plain HTTP on a non-loopback address (flag --insecure)
//! tls: { cert: /etc/berth/cert.pem, key: /etc/berth/key.pem }
//! auth:
//!   realm: berth-registry       # the Basic realm
//!   htpasswd: /etc/berth/htpasswd   # bcrypt entries (`htpasswd -B`)
//!   anonymous_pull: false       # anonymous read-only access to every repository
//!   token:                      # present: bearer-token auth with the built-in /token service
//!     realm: https://reg.example:5000/token   # default: <scheme>://<Host>/token of the request
//!     service: berth-registry
//!     issuer: berth-registry
//!     expiration: 5m
//!     key: /etc/berth/token.key # HS256 key; default <root>/token.key, created on first start
//! access:                       # grants; default: every authenticated user may do everything
//!   - { repository: "team/*", users: [alice], actions: [pull, push, delete] }
//!   - { repository: "public/*", users: [anonymous], actions: [pull] }
//! delete: { enabled: true }
//! gc: { interval: 1h, grace: 1h }   # online GC; interval 0 (default): only on SIGUSR1
//! uploads: { purge_after: 24h, purge_interval: 1h, max_sessions: 10000 }
//! ```
//!
//! Durations are integers (seconds) or strings with a unit: `500ms`, `30s`, `5m`, `1h`, `2d`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::auth::AccessRule;
use crate::error::RegistryError;

/// What `berth registry` serves, and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Listen address, e.g. `127.0.0.1:5000`.
    #[serde(default = "default_addr")]
    pub addr: SocketAddr,
    /// Data root (`content/`, `repositories/`, `uploads/` below it).
    #[serde(default = "default_root")]
    pub root: PathBuf,
    /// Serve plain HTTP on a non-loopback address.
    #[serde(default)]
    pub insecure: bool,
    /// TLS certificate and key.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Authentication; none means every request is allowed.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Access rules (only with `auth`).
    #[serde(default)]
    pub access: Vec<AccessRule>,
    /// Deletes of manifests, tags and blobs.
    #[serde(default)]
    pub delete: DeleteConfig,
    /// Online garbage collection.
    #[serde(default)]
    pub gc: GcConfig,
    /// Upload sessions.
    #[serde(default)]
    pub uploads: UploadsConfig,
}

/// `tls:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `auth:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Realm of the Basic challenge.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// htpasswd file with bcrypt entries.
    #[serde(default)]
    pub htpasswd: Option<PathBuf>,
    /// Anonymous clients may pull every repository.
    #[serde(default)]
    pub anonymous_pull: bool,
    /// Bearer tokens from the built-in token service.
    #[serde(default)]
    pub token: Option<TokenConfig>,
}

/// `auth.token:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The token endpoint advertised in challenges; default `<scheme>://<Host>/token`.
    #[serde(default)]
    pub realm: Option<String>,
    /// The `service` (JWT audience).
    #[serde(default = "default_realm")]
    pub service: String,
    /// The JWT issuer.
    #[serde(default = "default_realm")]
    pub issuer: String,
    /// Token lifetime (at least 60 s).
    #[serde(default = "default_expiration", deserialize_with = "de_duration")]
    pub expiration: Duration,
    /// HS256 key file; default `<root>/token.key`.
    #[serde(default)]
    pub key: Option<PathBuf>,
}

/// `delete:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteConfig {
    /// Whether deletes are allowed (default true); when false they answer 405 `UNSUPPORTED`.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// `gc:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcConfig {
    /// How often online GC runs; zero turns it off.
    #[serde(default, deserialize_with = "de_duration")]
    pub interval: Duration,
    /// Blobs written or linked more recently than this are never swept.
    #[serde(default = "default_grace", deserialize_with = "de_duration")]
    pub grace: Duration,
}

/// `uploads:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadsConfig {
    /// Sessions untouched for this long are removed.
    #[serde(default = "default_purge_after", deserialize_with = "de_duration")]
    pub purge_after: Duration,
    /// How often stale sessions are looked for (also once at start).
    #[serde(default = "default_purge_interval", deserialize_with = "de_duration")]
    pub purge_interval: Duration,
    /// Open sessions beyond this get 429 `TOOMANYREQUESTS`.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
}

fn default_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5000))
}
fn default_root() -> PathBuf {
    PathBuf::from("/var/lib/berth/registry")
}
fn default_realm() -> String {
    "berth-registry".to_string()
}
fn default_expiration() -> Duration {
    Duration::from_secs(300)
}
fn default_grace() -> Duration {
    Duration::from_secs(3600)
}
fn default_purge_after() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_purge_interval() -> Duration {
    Duration::from_secs(3600)
}
fn default_max_sessions() -> usize {
    10_000
}
fn yes() -> bool {
    true
}

impl Default for DeleteConfig {
    fn default() -> Self {
        DeleteConfig { enabled: true }
    }
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval: Duration::ZERO,
            grace: default_grace(),
        }
    }
}

impl Default for UploadsConfig {
    fn default() -> Self {
        UploadsConfig {
            purge_after: default_purge_after(),
            purge_interval: default_purge_interval(),
            max_sessions: default_max_sessions(),
        }
    }
}

impl RegistryConfig {
    /// A configuration with defaults: no TLS, no auth, deletes on, online GC off.
    pub fn new(addr: SocketAddr, root: impl Into<PathBuf>) -> RegistryConfig {
        RegistryConfig {
            addr,
            root: root.into(),
            insecure: false,
            tls: None,
            auth: None,
            access: Vec::new(),
            delete: DeleteConfig::default(),
            gc: GcConfig::default(),
            uploads: UploadsConfig::default(),
        }
    }

    /// Parses a YAML configuration.
    pub fn from_yaml(text: &str) -> Result<RegistryConfig, RegistryError> {
        let config: RegistryConfig = serde_norway::from_str(text)
            .map_err(|e| RegistryError::Config(format!("invalid configuration: {e}")))?;
        Ok(config)
    }

    /// Reads and parses a YAML configuration file.
    pub fn load(path: &Path) -> Result<RegistryConfig, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(RegistryError::io("read", path))?;
        Self::from_yaml(&text).map_err(|e| match e {
            RegistryError::Config(m) => RegistryError::Config(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Cross-field checks, run before anything is bound or opened.
    pub fn validate(&self) -> Result<(), RegistryError> {
        if self.tls.is_none() && !self.insecure && !self.addr.ip().is_loopback() {
            return Err(RegistryError::Config(format!(
                "refusing plain HTTP on non-loopback address {}: configure tls or pass --insecure",
                self.addr
            )));
        }
        if let Some(token) = self.auth.as_ref().and_then(|a| a.token.as_ref()) {
            if token.expiration < Duration::from_secs(60) {
                return Err(RegistryError::Config(
                    "auth.token.expiration must be at least 60s".into(),
                ));
            }
        }
        if !self.access.is_empty() && self.auth.is_none() {
            return Err(RegistryError::Config(
                "access rules need an auth section".into(),
            ));
        }
        for rule in &self.access {
            if rule.actions.is_empty() {
                return Err(RegistryError::Config(format!(
                    "access rule for {:?} grants no actions",
                    rule.repository
                )));
            }
        }
        Ok(())
    }
}

/// Parses `500ms`, `30s`, `5m`, `1h`, `2d` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = |k: u64| n.checked_mul(k).map(Duration::from_secs);
    match unit.trim() {
        "" | "s" => secs(1),
        "ms" => Some(Duration::from_millis(n)),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86400),
        _ => None,
    }
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(n) => Ok(Duration::from_secs(n)),
        Raw::Text(t) => parse_duration(&t).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {t:?}: expected a number with a unit (ms, s, m, h, d)"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Action;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_duration("h"), None);
    }

    #[test]
    fn full_config_parses() {
        let c = RegistryConfig::from_yaml(
            r#"
addr: 0.0.0.0:5443
root: /tmp/r
tls: { cert: /c.pem, key: /k.pem }
auth:
  htpasswd: /h
  anonymous_pull: true
  token: { service: svc, expiration: 10m }
access:
  - { repository: "team/*", users: [alice], actions: [pull, push] }
delete: { enabled: false }
gc: { interval: 1h, grace: 30s }
uploads: { purge_after: 2h, max_sessions: 5 }
"#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.addr.port(), 5443);
        let auth = c.auth.unwrap();
        assert!(auth.anonymous_pull);
        let token = auth.token.unwrap();
        assert_eq!(token.service, "svc");
        assert_eq!(token.issuer, "berth-registry");
        assert_eq!(token.expiration, Duration::from_secs(600));
        assert_eq!(c.access[0].actions, vec![Action::Pull, Action::Push]);
        assert!(!c.delete.enabled);
        assert_eq!(c.gc.grace, Duration::from_secs(30));
        assert_eq!(c.uploads.max_sessions, 5);
        assert_eq!(c.uploads.purge_interval, Duration::from_secs(3600));
    }

    #[test]
    fn plain_http_off_loopback_needs_insecure() {
        let mut c = RegistryConfig::new("0.0.0.0:5000".parse().unwrap(), "/r");
        assert!(c.validate().unwrap_err().to_string().contains("--insecure"));
        c.insecure = true;
        c.validate().unwrap();
        assert!(RegistryConfig::from_yaml("bogus: 1").is_err());
    }
}
