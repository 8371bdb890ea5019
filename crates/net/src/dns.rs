//! The embedded DNS server of a user-defined network.
//!
//! One server per user network listens on the network's gateway address, port 53, UDP and
//! TCP (as podman's aardvark-dns does; Docker instead answers on 127.0.0.11 inside every
//! container's namespace, which needs a socket and NAT rules per container). Containers on the
//! network get `nameserver <gateway>` in their `/etc/resolv.conf`.
//!
//! It answers A queries for the names of the network's endpoints (container name, short id,
//! `--network-alias` and compose aliases) from a shared table the manager keeps current, and
//! forwards every other query unchanged to the host's resolvers (from the host side: the daemon
//! runs in the host's namespace, so a `127.0.0.53` resolver works too). Message handling is
//! deliberately small: one question, no compression in questions, answers point back at it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// What the server knows, shared with the manager that keeps it current.
pub type Records = Arc<RwLock<Table>>;

/// Names and per-container resolvers of one network.
#[derive(Debug, Default, Clone)]
pub struct Table {
    /// Lowercase name -> addresses.
    pub names: HashMap<String, Vec<Ipv4Addr>>,
    /// Container address -> the resolvers its other queries go to (`--dns`), instead of the
    /// host's.
    pub upstreams: HashMap<Ipv4Addr, Vec<SocketAddr>>,
}

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;
const TTL: u32 = 600;
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// The question of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Lowercase name without the trailing dot.
    pub name: String,
    /// Query type.
    pub qtype: u16,
    /// Query class.
    pub qclass: u16,
    /// Offset just past the question in the message.
    end: usize,
}

/// Parses the first question of a query; None for anything that is not a plain query.
pub fn parse_query(msg: &[u8]) -> Option<Question> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 {
        return None;
    }
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if qdcount != 1 {
        return None;
    }
    let mut off = 12;
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(off)? as usize;
        off += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        let label = msg.get(off..off + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        off += len;
    }
    let qtype = u16::from_be_bytes([*msg.get(off)?, *msg.get(off + 1)?]);
    let qclass = u16::from_be_bytes([*msg.get(off + 2)?, *msg.get(off + 3)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        qclass,
        end: off + 4,
    })
}

/// The answer for a query about a local name: A records for an A query, an empty NOERROR
/// answer for other types.
pub fn local_answer(query: &[u8], q: &Question, addrs: &[Ipv4Addr]) -> Vec<u8> {
    let answers: &[Ipv4Addr] = if q.qtype == TYPE_A && q.qclass == CLASS_IN {
        addrs
    } else {
        &[]
    };
    let mut out = Vec::with_capacity(q.end + 16 * answers.len());
    out.extend_from_slice(&query[0..2]); // id
    let rd = query[2] & 0x01;
    out.push(0x84 | rd); // QR, AA, RD as asked
    out.push(0x80); // RA, NOERROR
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&query[12..q.end]);
    for a in answers {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&a.octets());
    }
    out
}

/// A SERVFAIL answer (no upstream answered).
fn servfail(query: &[u8], q: &Question) -> Vec<u8> {
    let mut out = local_answer(query, q, &[]);
    out[3] = 0x82;
    out
}

/// The host's resolvers from a resolv.conf text (port 53).
pub fn upstreams_from(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|s| s.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Answers one query from `client`: locally if the name is known, else through the client's
/// own resolvers or the default upstreams.
async fn answer(
    query: &[u8],
    client: std::net::IpAddr,
    records: &Records,
    upstreams: &[SocketAddr],
) -> Option<Vec<u8>> {
    let q = parse_query(query)?;
    let (local, own) = {
        let table = records.read().expect("dns records lock");
        let own = match client {
            std::net::IpAddr::V4(ip) => table.upstreams.get(&ip).cloned(),
            std::net::IpAddr::V6(_) => None,
        };
        (table.names.get(&q.name).cloned(), own)
    };
    if let Some(addrs) = local {
        return Some(local_answer(query, &q, &addrs));
    }
    for up in own.as_deref().unwrap_or(upstreams) {
        if let Some(resp) = forward(query, *up).await {
            return Some(resp);
        }
    }
    Some(servfail(query, &q))
}

async fn forward(query: &[u8], upstream: SocketAddr) -> Option<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv4() {
        "0.0.0.0:0".parse().expect("valid address")
    } else {
        "[::]:0".parse().expect("valid address")
    };
    let sock = tokio::net::UdpSocket::bind(bind).await.ok()?;
    sock.connect(upstream).await.ok()?;
    sock.send(query).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(FORWARD_TIMEOUT, sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    (n >= 2 && buf[0..2] == query[0..2]).then_some(buf)
}

/// A running server; stops when dropped.
pub struct DnsServer {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl DnsServer {
    /// Binds `addr:port` (UDP and TCP) and serves `records` on the runtime `rt`.
    pub fn spawn(
        rt: &tokio::runtime::Handle,
        addr: Ipv4Addr,
        port: u16,
        records: Records,
        upstreams: Vec<SocketAddr>,
    ) -> std::io::Result<DnsServer> {
        let udp = std::net::UdpSocket::bind((addr, port))?;
        udp.set_nonblocking(true)?;
        let tcp = std::net::TcpListener::bind((addr, port))?;
        tcp.set_nonblocking(true)?;
        let _guard = rt.enter();
        let udp = Arc::new(tokio::net::UdpSocket::from_std(udp)?);
        let tcp = tokio::net::TcpListener::from_std(tcp)?;
        let upstreams = Arc::new(upstreams);
        let (r, u) = (records.clone(), upstreams.clone());
        let udp_task = rt.spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                let query = buf[..n].to_vec();
                let (udp, r, u) = (udp.clone(), r.clone(), u.clone());
                tokio::spawn(async move {
                    if let Some(resp) = answer(&query, peer.ip(), &r, &u).await {
                        let _ = udp.send_to(&resp, peer).await;
                    }
                });
            }
        });
        let tcp_task = rt.spawn(async move {
            loop {
                let Ok((mut conn, peer)) = tcp.accept().await else {
                    continue;
                };
                let (r, u) = (records.clone(), upstreams.clone());
                tokio::spawn(async move {
                    loop {
                        let mut len = [0u8; 2];
                        if conn.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
                        if conn.read_exact(&mut query).await.is_err() {
                            return;
                        }
                        let Some(resp) = answer(&query, peer.ip(), &r, &u).await else {
                            return;
                        };
                        let mut framed = (resp.len() as u16).to_be_bytes().to_vec();
                        framed.extend_from_slice(&resp);
                        if conn.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(DnsServer {
            tasks: vec![udp_task, tcp_task],
        })
    }
}

/// Builds an A query (tests and tools).
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    q
}

/// The A addresses of an answer (tests and tools).
pub fn answer_addrs(resp: &[u8]) -> Vec<Ipv4Addr> {
    let Some(q) = parse_query_any(resp) else {
        return Vec::new();
    };
    let ancount = u16::from_be_bytes([resp[6], resp[7]]);
    let mut off = q;
    let mut out = Vec::new();
    for _ in 0..ancount {
        // name: a pointer or labels
        loop {
            let Some(&b) = resp.get(off) else {
                return out;
            };
            if b & 0xc0 == 0xc0 {
                off += 2;
                break;
            }
            off += 1 + b as usize;
            if b == 0 {
                break;
            }
        }
        let Some(fixed) = resp.get(off..off + 10) else {
            return out;
        };
        let typ = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        off += 10;
        if typ == TYPE_A && len == 4 {
            if let Some(d) = resp.get(off..off + 4) {
                out.push(Ipv4Addr::new(d[0], d[1], d[2], d[3]));
            }
        }
        off += len;
    }
    out
}

/// Offset past the question of any message.
fn parse_query_any(msg: &[u8]) -> Option<usize> {
    let mut off = 12;
    loop {
        let len = *msg.get(off)? as usize;
        off += 1;
        if len == 0 {
            return Some(off + 4);
        }
        off += len;
    }
}

/// Record type numbers for callers.
pub mod types {
    /// A.
    pub const A: u16 = super::TYPE_A;
    /// AAAA.
    pub const AAAA: u16 = super::TYPE_AAAA;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_a_queries_for_known_names() {
        let q = build_query(0x1234, "Web.", TYPE_A);
        let parsed = parse_query(&q).unwrap();
        assert_eq!(parsed.name, "web");
        let resp = local_answer(&q, &parsed, &[Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(&resp[0..2], &[0x12, 0x34]);
        assert_eq!(answer_addrs(&resp), vec![Ipv4Addr::new(10, 0, 0, 2)]);
        let q6 = build_query(1, "web", TYPE_AAAA);
        let resp = local_answer(&q6, &parse_query(&q6).unwrap(), &[Ipv4Addr::LOCALHOST]);
        assert!(answer_addrs(&resp).is_empty());
        assert_eq!(resp[3] & 0x0f, 0, "NOERROR");
    }

    #[test]
    fn garbage_is_not_a_query() {
        assert!(parse_query(&[1, 2, 3]).is_none());
        let mut q = build_query(1, "a", TYPE_A);
        q.truncate(q.len() - 2);
        assert!(parse_query(&q).is_none());
    }

    #[test]
    fn resolv_conf_upstreams() {
        assert_eq!(
            upstreams_from("search x\nnameserver 10.0.0.53\nnameserver ::1\n").len(),
            2
        );
    }
}
