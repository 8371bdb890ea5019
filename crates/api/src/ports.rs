//! Published ports: the pure parsers for `-p`/`--publish` specs and for the `PortBindings` and
//! `ExposedPorts` keys of the Docker API. No IO.
//!
//! Grammar of a publish spec (docker's):
//!
//! ```text
//! spec      = [ [ip ":"] [host-range] ":" ] container-range [ "/" proto ]
//! range     = port [ "-" port ]          port = 1..65535 (a host port may be 0 = random)
//! proto     = "tcp" | "udp"
//! ```
//!
//! `8080-8081:80-81` pairs the ports one to one; `8000-8010:80` lets the daemon pick any free
//! host port of the range; a missing host port means a random one. IPv4 only.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// A transport protocol of a published port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl FromStr for Proto {
    type Err = PortSpecError;
    fn from_str(s: &str) -> Result<Proto, PortSpecError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" | "" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            _ => Err(PortSpecError::Proto(s.to_string())),
        }
    }
}

/// A container port with its protocol: the `80/tcp` keys of `ExposedPorts` and `PortBindings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortKey {
    /// The port.
    pub port: u16,
    /// The protocol.
    pub proto: Proto,
}

impl fmt::Display for PortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto.as_str())
    }
}

impl FromStr for PortKey {
    type Err = PortSpecError;
    fn from_str(s: &str) -> Result<PortKey, PortSpecError> {
        let (p, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let proto = proto.parse()?;
        let port = parse_port(p).ok_or_else(|| PortSpecError::ContainerPort(p.to_string()))?;
        if port == 0 {
            return Err(PortSpecError::ContainerPort(p.to_string()));
        }
        Ok(PortKey { port, proto })
    }
}

/// A `-p` spec or a binding is malformed. Texts follow docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortSpecError {
    /// Bad container port.
    #[error("invalid containerPort: {0}")]
    ContainerPort(String),
    /// Bad host port.
    #[error("invalid hostPort: {0}")]
    HostPort(String),
    /// Bad protocol.
    #[error("invalid proto: {0}")]
    Proto(String),
    /// Bad host address.
    #[error("invalid IP address: {0}: berth publishes on IPv4 addresses only")]
    Ip(String),
    /// Host and container ranges of different lengths.
    #[error("invalid ranges specified for container and host Ports: {0}")]
    Ranges(String),
    /// Too many parts.
    #[error("invalid port format for --publish: {0}")]
    Format(String),
}

/// A host side of a binding: `HostIp` and `HostPort` of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostBinding {
    /// None = every IPv4 address (`0.0.0.0`).
    pub ip: Option<Ipv4Addr>,
    /// Inclusive range; None (or 0) = a random port.
    pub ports: Option<(u16, u16)>,
}

impl HostBinding {
    /// From the API's strings (`""` means unset).
    pub fn parse(host_ip: &str, host_port: &str) -> Result<HostBinding, PortSpecError> {
        let ip = match host_ip {
            "" | "0.0.0.0" => None,
            s => Some(
                s.parse::<Ipv4Addr>()
                    .map_err(|_| PortSpecError::Ip(s.to_string()))?,
            ),
        };
        let ports = match host_port {
            "" | "0" => None,
            s => {
                let (a, b) = parse_range(s).ok_or_else(|| PortSpecError::HostPort(s.into()))?;
                if a == 0 {
                    return Err(PortSpecError::HostPort(s.into()));
                }
                Some((a, b))
            }
        };
        Ok(HostBinding { ip, ports })
    }
}

/// One entry a publish spec expands to: `PortBindings[key]` gets `{HostIp, HostPort}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The container port.
    pub key: PortKey,
    /// `HostIp` as given (may be empty).
    pub host_ip: String,
    /// `HostPort` (a port, a range or empty).
    pub host_port: String,
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse_port(a)?, parse_port(b)?);
            (a <= b).then_some((a, b))
        }
        None => parse_port(s).map(|p| (p, p)),
    }
}

/// Expands a `-p` spec into bindings, as the docker CLI does.
pub fn parse_publish(spec: &str) -> Result<Vec<Publish>, PortSpecError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.parse::<Proto>()?),
        None => (spec, Proto::Tcp),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => return Err(PortSpecError::Format(spec.to_string())),
    };
    if !ip.is_empty() && ip != "0.0.0.0" && ip.parse::<Ipv4Addr>().is_err() {
        return Err(PortSpecError::Ip(ip.to_string()));
    }
    let (c0, c1) = parse_range(container)
        .filter(|(a, _)| *a > 0)
        .ok_or_else(|| PortSpecError::ContainerPort(container.to_string()))?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(host).ok_or_else(|| PortSpecError::HostPort(host.to_string()))?)
    };
    let clen = c1 - c0;
    let mut out = Vec::new();
    for (i, port) in (c0..=c1).enumerate() {
        let host_port = match host_range {
            None => String::new(),
            Some((h0, h1)) if h1 - h0 == clen => (h0 as usize + i).to_string(),
            Some((h0, h1)) if clen == 0 => {
                if h0 == h1 {
                    h0.to_string()
                } else {
                    format!("{h0}-{h1}")
                }
            }
            Some(_) => return Err(PortSpecError::Ranges(spec.to_string())),
        };
        out.push(Publish {
            key: PortKey { port, proto },
            host_ip: ip.to_string(),
            host_port,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> (String, String, String) {
        let v = parse_publish(spec).unwrap();
        assert_eq!(v.len(), 1);
        (
            v[0].key.to_string(),
            v[0].host_ip.clone(),
            v[0].host_port.clone(),
        )
    }

    #[test]
    fn publish_specs_expand_like_docker() {
        assert_eq!(one("80"), ("80/tcp".into(), "".into(), "".into()));
        assert_eq!(one("8080:80"), ("80/tcp".into(), "".into(), "8080".into()));
        assert_eq!(
            one("127.0.0.1:8080:80/udp"),
            ("80/udp".into(), "127.0.0.1".into(), "8080".into())
        );
        assert_eq!(
            one("127.0.0.1::80"),
            ("80/tcp".into(), "127.0.0.1".into(), "".into())
        );
        assert_eq!(
            one("8000-8010:80"),
            ("80/tcp".into(), "".into(), "8000-8010".into())
        );
        let v = parse_publish("8080-8081:80-81").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!((v[1].key.port, v[1].host_port.as_str()), (81, "8081"));
    }

    #[test]
    fn bad_specs_say_why() {
        for (spec, msg) in [
            ("abc", "invalid containerPort: abc"),
            ("8080:0", "invalid containerPort: 0"),
            ("70000:80", "invalid hostPort: 70000"),
            ("8080:80/sctp", "invalid proto: sctp"),
            (
                "1.2.3:8080:80",
                "invalid IP address: 1.2.3: berth publishes on IPv4 addresses only",
            ),
            (
                "8080-8082:80-81",
                "invalid ranges specified for container and host Ports: 8080-8082:80-81",
            ),
            ("1:2:3:4", "invalid port format for --publish: 1:2:3:4"),
        ] {
            assert_eq!(parse_publish(spec).unwrap_err().to_string(), msg, "{spec}");
        }
    }

    #[test]
    fn api_bindings_parse() {
        assert_eq!(
            HostBinding::parse("", "8000-8010").unwrap(),
            HostBinding {
                ip: None,
                ports: Some((8000, 8010))
            }
        );
        assert!(HostBinding::parse("", "x").is_err());
        assert_eq!("53/udp".parse::<PortKey>().unwrap().proto, Proto::Udp);
        assert!("0/tcp".parse::<PortKey>().is_err());
    }
}
