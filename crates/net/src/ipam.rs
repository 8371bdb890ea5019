//! IP address management: IPv4 subnets ([`Ipv4Net`]), the choice of a free subnet from Docker's
//! default pools, and the choice of a free address inside a network.
//!
//! Pure functions over the current allocations; the manager persists the allocations (every
//! network's subnet and every endpoint's address) in its state file, so a restarted daemon
//! never hands out an address twice. Subnets that overlap an existing network or a route of the
//! host are skipped, so berth does not shadow the host's own networks.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 network in CIDR form, e.g. `172.18.0.0/16`. The address is the network address
/// (host bits are zero); the parser refuses anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

/// A subnet or address could not be parsed or does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// Not `a.b.c.d/n`.
    #[error("invalid subnet {0}: expected an IPv4 CIDR such as 10.10.0.0/24")]
    BadSubnet(String),
    /// Host bits set.
    #[error("invalid subnet {given}: host bits are set, use {network}")]
    HostBits {
        /// As given.
        given: String,
        /// The network address.
        network: String,
    },
    /// Too small to hold a gateway and a container.
    #[error("invalid subnet {0}: the prefix must be between /1 and /30")]
    BadPrefix(String),
    /// Not an IPv4 address.
    #[error("invalid address {0}: expected an IPv4 address")]
    BadAddress(String),
    /// Outside the network.
    #[error("no matching subnet for {what} {addr}: it is not in {subnet}")]
    OutsideSubnet {
        /// `gateway` or `address`.
        what: &'static str,
        /// The address.
        addr: Ipv4Addr,
        /// The subnet.
        subnet: Ipv4Net,
    },
    /// Every pool subnet is taken.
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    PoolsExhausted,
    /// Every address of a network is taken.
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    AddressesExhausted(Ipv4Net),
    /// The address is in use.
    #[error("Address already in use")]
    AddressInUse(Ipv4Addr),
}

impl IpamError {
    /// The stable class of this error.
    pub fn kind(&self) -> api::ErrorKind {
        match self {
            IpamError::PoolsExhausted | IpamError::AddressesExhausted(_) => {
                api::ErrorKind::Unavailable
            }
            IpamError::AddressInUse(_) => api::ErrorKind::Conflict,
            _ => api::ErrorKind::InvalidArgument,
        }
    }
}

impl Ipv4Net {
    /// A network from its address and prefix; host bits are cleared.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
        let prefix = prefix.min(32);
        Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// True if `ip` is inside.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    /// True if the two networks share an address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let p = self.prefix.min(other.prefix);
        u32::from(self.addr) & mask(p) == u32::from(other.addr) & mask(p)
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }

    /// The first host address (Docker's default gateway).
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    /// The `n`th address of the network (0 is the network address).
    fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr).wrapping_add(n))
    }

    fn size(&self) -> u64 {
        1u64 << (32 - self.prefix as u32)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix as u32)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = IpamError;

    fn from_str(s: &str) -> Result<Ipv4Net, IpamError> {
        let bad = || IpamError::BadSubnet(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        if prefix == 0 || prefix > 30 {
            return Err(IpamError::BadPrefix(s.to_string()));
        }
        let net = Ipv4Net::new(addr, prefix);
        if net.addr != addr {
            return Err(IpamError::HostBits {
                given: s.to_string(),
                network: net.to_string(),
            });
        }
        Ok(net)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ipv4Net, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses an IPv4 address with the error callers show.
pub fn parse_addr(s: &str) -> Result<Ipv4Addr, IpamError> {
    s.parse().map_err(|_| IpamError::BadAddress(s.to_string()))
}

/// Docker's default address pools in order: `172.17.0.0/16` … `172.31.0.0/16`, then the
/// sixteen `/20` slices of `192.168.0.0/16`.
pub fn default_pools() -> impl Iterator<Item = Ipv4Net> {
    let a = (17..=31).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let b = (0..16).map(|i| Ipv4Net::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    a.chain(b)
}

/// The first default pool that overlaps neither a taken subnet nor a host route.
pub fn pick_subnet(taken: &[Ipv4Net], host_routes: &[Ipv4Net]) -> Result<Ipv4Net, IpamError> {
    default_pools()
        .find(|p| {
            !taken.iter().any(|t| t.overlaps(p)) && !host_routes.iter().any(|r| r.overlaps(p))
        })
        .ok_or(IpamError::PoolsExhausted)
}

/// The lowest free host address of `net` (not the network, broadcast or a `used` address).
pub fn pick_address(net: Ipv4Net, used: &[Ipv4Addr]) -> Result<Ipv4Addr, IpamError> {
    (1..net.size().saturating_sub(1))
        .map(|n| net.nth(n as u32))
        .find(|a| !used.contains(a))
        .ok_or(IpamError::AddressesExhausted(net))
}

/// Checks a requested address: inside `net`, a host address, not in `used`.
pub fn check_address(
    net: Ipv4Net,
    addr: Ipv4Addr,
    used: &[Ipv4Addr],
    what: &'static str,
) -> Result<(), IpamError> {
    if !net.contains(addr) || addr == net.addr || addr == net.broadcast() {
        return Err(IpamError::OutsideSubnet {
            what,
            addr,
            subnet: net,
        });
    }
    if used.contains(&addr) {
        return Err(IpamError::AddressInUse(addr));
    }
    Ok(())
}

/// The host's IPv4 routes (`/proc/net/route`), default routes left out.
pub fn host_routes() -> Vec<Ipv4Net> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_proc_route(&text)
}

fn parse_proc_route(text: &str) -> Vec<Ipv4Net> {
    let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::from_be);
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dst = hex(f.get(1)?)?;
            let m = hex(f.get(7)?)?;
            let prefix = m.count_ones() as u8;
            (prefix > 0).then(|| Ipv4Net::new(Ipv4Addr::from(dst), prefix))
        })
        .collect()
}

/// Docker's MAC for an address: `02:42` followed by the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:...` form of a MAC.
pub fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_rejects_subnets_with_reasons() {
        assert_eq!(net("10.1.0.0/16").to_string(), "10.1.0.0/16");
        for (bad, msg) in [
            (
                "10.1.0.0",
                "invalid subnet 10.1.0.0: expected an IPv4 CIDR such as 10.10.0.0/24",
            ),
            (
                "10.1.0.300/24",
                "invalid subnet 10.1.0.300/24: expected an IPv4 CIDR such as 10.10.0.0/24",
            ),
            (
                "10.1.0.0/33",
                "invalid subnet 10.1.0.0/33: expected an IPv4 CIDR such as 10.10.0.0/24",
            ),
            (
                "10.1.2.3/16",
                "invalid subnet 10.1.2.3/16: host bits are set, use 10.1.0.0/16",
            ),
            (
                "10.1.2.0/31",
                "invalid subnet 10.1.2.0/31: the prefix must be between /1 and /30",
            ),
        ] {
            assert_eq!(bad.parse::<Ipv4Net>().unwrap_err().to_string(), msg);
        }
    }

    #[test]
    fn overlap_is_symmetric() {
        assert!(net("10.0.0.0/8").overlaps(&net("10.5.0.0/16")));
        assert!(net("10.5.0.0/16").overlaps(&net("10.0.0.0/8")));
        assert!(!net("10.5.0.0/16").overlaps(&net("10.6.0.0/16")));
    }

    #[test]
    fn pools_skip_taken_subnets_and_host_routes() {
        assert_eq!(pick_subnet(&[], &[]).unwrap(), net("172.17.0.0/16"));
        let taken = [net("172.17.0.0/16"), net("172.19.0.0/24")];
        let routes = [net("172.18.5.0/24")];
        assert_eq!(pick_subnet(&taken, &routes).unwrap(), net("172.20.0.0/16"));
        let all: Vec<Ipv4Net> = (17..=31)
            .map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16))
            .collect();
        assert_eq!(pick_subnet(&all, &[]).unwrap(), net("192.168.0.0/20"));
        let everything = [net("128.0.0.0/1")];
        assert_eq!(
            pick_subnet(&everything, &[]).unwrap_err(),
            IpamError::PoolsExhausted
        );
    }

    #[test]
    fn addresses_are_lowest_free_host_addresses() {
        let n = net("10.9.0.0/30");
        let gw = n.first_host();
        assert_eq!(pick_address(n, &[gw]).unwrap(), Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(
            pick_address(n, &[gw, Ipv4Addr::new(10, 9, 0, 2)]).unwrap_err(),
            IpamError::AddressesExhausted(n)
        );
        assert!(check_address(n, Ipv4Addr::new(10, 9, 0, 3), &[], "address").is_err());
        assert!(check_address(n, Ipv4Addr::new(10, 9, 0, 2), &[gw], "address").is_ok());
    }

    #[test]
    fn proc_route_parsing() {
        let t =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(parse_proc_route(t), vec![net("192.0.2.0/24")]);
    }

    #[test]
    fn mac_follows_docker() {
        assert_eq!(
            mac_string(mac_for(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }
}
