//! Where the daemon lives: `-H/--host`, then `BERTH_HOST`, then `DOCKER_HOST`, then the default
//! socket. Only `unix://` addresses (or bare absolute paths) are supported.

use std::fmt;
use std::path::PathBuf;

/// The socket berth's daemon listens on by default.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A resolved daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The address as the user would write it (`unix:///run/berth/berth.sock`), used in messages.
    pub display: String,
    /// Path of the unix socket.
    pub socket: PathBuf,
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

/// Why an address could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unsupported daemon address {:?}: expected unix:///path/to/socket",
            self.0
        )
    }
}

impl std::error::Error for HostError {}

/// Picks the address from the flag and the environment (passed in so tests need no env vars).
pub fn resolve(
    flag: Option<&str>,
    berth_host: Option<&str>,
    docker_host: Option<&str>,
) -> Result<Host, HostError> {
    let chosen = [flag, berth_host, docker_host]
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
        .unwrap_or(DEFAULT_HOST);
    parse(chosen)
}

/// Parses `unix:///path` or a bare absolute path.
pub fn parse(addr: &str) -> Result<Host, HostError> {
    if let Some(path) = addr.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(HostError(addr.to_string()));
        }
        return Ok(Host {
            display: addr.to_string(),
            socket: PathBuf::from(path),
        });
    }
    if addr.starts_with('/') {
        return Ok(Host {
            display: format!("unix://{addr}"),
            socket: PathBuf::from(addr),
        });
    }
    Err(HostError(addr.to_string()))
}

/// Resolves from the process environment.
pub fn from_env(flag: Option<&str>) -> Result<Host, HostError> {
    let berth = std::env::var("BERTH_HOST").ok();
    let docker = std::env::var("DOCKER_HOST").ok();
    resolve(flag, berth.as_deref(), docker.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_environment() {
        let h = resolve(
            Some("unix:///a.sock"),
            Some("unix:///b.sock"),
            Some("unix:///c.sock"),
        )
        .unwrap();
        assert_eq!(h.socket, PathBuf::from("/a.sock"));
    }

    #[test]
    fn berth_host_wins_over_docker_host() {
        let h = resolve(None, Some("unix:///b.sock"), Some("unix:///c.sock")).unwrap();
        assert_eq!(h.display, "unix:///b.sock");
        let h = resolve(None, None, Some("unix:///c.sock")).unwrap();
        assert_eq!(h.display, "unix:///c.sock");
    }

    #[test]
    fn default_is_berth_socket() {
        let h = resolve(None, Some(""), None).unwrap();
        assert_eq!(h.display, DEFAULT_HOST);
        assert_eq!(h.socket, PathBuf::from("/run/berth/berth.sock"));
    }

    #[test]
    fn tcp_is_rejected_and_bare_paths_accepted() {
        assert!(resolve(Some("tcp://1.2.3.4:2375"), None, None).is_err());
        assert_eq!(parse("/tmp/x.sock").unwrap().display, "unix:///tmp/x.sock");
    }
}
