//! Host port reservations for published ports.
//!
//! A published port is served by the kernel (DNAT in berth's nftables table, see
//! [`crate::nft`]); the daemon only *reserves* the host port by binding a socket to it, as Docker
//! does without its userland proxy. The bind is what detects "port already
//! in use" (by another container or any other program) and keeps other programs from taking the
//! port while the container runs. TCP ports are held by a listening socket that is never
//! accepted from (Docker's "dummy proxy" does the same): the DNAT happens before the socket
//! lookup, so it sees no connection while the rules are in place. Random ports (`-P`, an empty host port) come from the
//! kernel's ephemeral range (`bind` to port 0). Reservations are dropped when the container
//! stops, and taken again when a restarted daemon re-adopts a running container.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use api::ports::Proto;
use serde::{Deserialize, Serialize};

/// One published port of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Protocol.
    pub proto: Proto,
    /// Host address (`0.0.0.0` = every address of the host).
    pub host_ip: Ipv4Addr,
    /// Host port.
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
}

/// A host port could not be reserved.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Something else holds the port.
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    InUse {
        /// Host address.
        ip: Ipv4Addr,
        /// Host port.
        port: u16,
    },
    /// No free port in the range.
    #[error("Bind for {ip}:{from}-{to} failed: no free port in the range")]
    RangeFull {
        /// Host address.
        ip: Ipv4Addr,
        /// First port.
        from: u16,
        /// Last port.
        to: u16,
    },
    /// Any other socket error (e.g. an address the host does not have).
    #[error("cannot bind {ip}:{port}/{proto}: {source}")]
    Bind {
        /// Host address.
        ip: Ipv4Addr,
        /// Host port.
        port: u16,
        /// Protocol.
        proto: &'static str,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// A bound socket holding a host port; dropping it frees the port.
#[derive(Debug)]
pub enum Reservation {
    /// TCP.
    Tcp(TcpListener),
    /// UDP.
    Udp(UdpSocket),
}

/// Reserves `port` (0 = a random port) on `ip`; returns the port actually bound.
pub fn reserve(proto: Proto, ip: Ipv4Addr, port: u16) -> Result<(u16, Reservation), PortError> {
    let bind_err = |source: std::io::Error| PortError::Bind {
        ip,
        port,
        proto: proto.as_str(),
        source,
    };
    let addr = SocketAddr::from((ip, port));
    let map = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            PortError::InUse { ip, port }
        } else {
            bind_err(e)
        }
    };
    let (r, local) = match proto {
        Proto::Tcp => {
            let l = TcpListener::bind(addr).map_err(map)?;
            let a = l.local_addr().map_err(bind_err)?;
            (Reservation::Tcp(l), a)
        }
        Proto::Udp => {
            let u = UdpSocket::bind(addr).map_err(map)?;
            let a = u.local_addr().map_err(bind_err)?;
            (Reservation::Udp(u), a)
        }
    };
    Ok((local.port(), r))
}

/// Reserves the first free port of `from..=to` on `ip`.
pub fn reserve_range(
    proto: Proto,
    ip: Ipv4Addr,
    from: u16,
    to: u16,
) -> Result<(u16, Reservation), PortError> {
    if from == to {
        return reserve(proto, ip, from);
    }
    for p in from..=to {
        match reserve(proto, ip, p) {
            Ok(r) => return Ok(r),
            Err(PortError::InUse { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(PortError::RangeFull { ip, from, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_port_is_refused_by_name_and_freed_on_drop() {
        let (port, r) = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, 0).unwrap();
        assert!(port > 0);
        let e = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, port).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
        drop(r);
        let (again, _r) = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, port).unwrap();
        assert_eq!(again, port);
        // udp is a separate space
        let (_, _u) = reserve(Proto::Udp, Ipv4Addr::LOCALHOST, port).unwrap();
    }

    #[test]
    fn ranges_skip_taken_ports() {
        let (port, _r) = reserve(Proto::Tcp, Ipv4Addr::LOCALHOST, 0).unwrap();
        if port < u16::MAX {
            if let Ok((got, _r2)) = reserve_range(Proto::Tcp, Ipv4Addr::LOCALHOST, port, port + 1) {
                assert_eq!(got, port + 1);
            }
        }
    }
}
