//! A small rtnetlink client over a raw `NETLINK_ROUTE` socket: just the requests berth needs to
//! wire a container into a bridge (create a bridge or a veth pair, move or create a link in
//! another network namespace by fd, set MTU/up/master, add an address or a default route,
//! delete a link, look up an index).
//!
//! Every request asks for an ACK and is answered before the next one is sent, so an error names
//! the request that failed. A socket belongs to the network namespace it was opened in; to
//! configure the inside of a container's namespace, open one there ([`crate::netns::socket_in`]).
//! Messages are built by hand (`nlmsghdr`, `ifinfomsg`/`ifaddrmsg`/`rtmsg`, then 4-byte aligned
//! attributes); the layouts are the kernel's UAPI (`linux/rtnetlink.h`, `linux/if_link.h`).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

const RTA_GATEWAY: u16 = 5;
const RTA_OIF: u16 = 4;

const AF_INET: u8 = 2;
const IFF_UP: u32 = 1;

/// An rtnetlink request failed.
#[derive(Debug, thiserror::Error)]
#[error("netlink {op}: {source}")]
pub struct NetlinkError {
    /// The request, e.g. `create bridge berth0`.
    pub op: String,
    /// The kernel's errno.
    #[source]
    pub source: io::Error,
}

impl NetlinkError {
    /// The errno of the failure, if it was one.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

type Result<T> = std::result::Result<T, NetlinkError>;

/// A `NETLINK_ROUTE` socket in the network namespace it was opened in.
pub struct Netlink {
    fd: OwnedFd,
}

static SEQ: AtomicU32 = AtomicU32::new(1);

/// A request under construction: header, fixed part, attributes.
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(typ: u16, flags: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in finish
        buf.extend_from_slice(&typ.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&SEQ.fetch_add(1, Ordering::Relaxed).to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel fills it in
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    /// `struct ifinfomsg`.
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Msg {
        self.ifinfo_raw(index, flags, change);
        self
    }

    fn ifinfo_raw(&mut self, index: i32, flags: u32, change: u32) {
        self.buf.push(0); // family AF_UNSPEC
        self.buf.push(0);
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // type
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
    }

    fn attr(mut self, typ: u16, data: &[u8]) -> Msg {
        self.put_attr(typ, data);
        self
    }

    fn put_attr(&mut self, typ: u16, data: &[u8]) {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&typ.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.align();
    }

    fn str_attr(self, typ: u16, s: &str) -> Msg {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(typ, &v)
    }

    fn u32_attr(self, typ: u16, v: u32) -> Msg {
        self.attr(typ, &v.to_ne_bytes())
    }

    fn begin(mut self, typ: u16) -> Msg {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf.extend_from_slice(&typ.to_ne_bytes());
        self
    }

    fn end(mut self) -> Msg {
        let start = self.nests.pop().expect("end matches a begin");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// How to create a veth pair.
#[derive(Debug, Clone)]
pub struct VethSpec<'a> {
    /// Host-side name.
    pub host: &'a str,
    /// Peer name (inside the namespace, e.g. `eth0`).
    pub peer: &'a str,
    /// Network namespace the peer is created in (an fd of `/proc/<pid>/ns/net` or a bind mount).
    pub peer_netns: Option<std::os::fd::BorrowedFd<'a>>,
    /// The peer's MAC address.
    pub peer_mac: Option<[u8; 6]>,
    /// Bridge the host side is enslaved to.
    pub master: Option<u32>,
    /// MTU of both ends.
    pub mtu: Option<u32>,
}

impl Netlink {
    /// Opens a socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let op = || "open socket".to_string();
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| NetlinkError {
            op: op(),
            source: e.into(),
        })?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| NetlinkError {
            op: op(),
            source: e.into(),
        })?;
        Ok(Netlink { fd })
    }

    /// Wraps a socket opened elsewhere (e.g. in another namespace).
    pub fn from_fd(fd: OwnedFd) -> Netlink {
        Netlink { fd }
    }

    /// The socket itself.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// Sends one request and waits for its ACK; returns the answer messages before the ACK
    /// (for GET requests).
    fn request(&self, msg: Msg, op: impl Fn() -> String) -> Result<Vec<(u16, Vec<u8>)>> {
        let bytes = msg.finish();
        let seq = u32::from_ne_bytes(bytes[8..12].try_into().expect("header has a seq"));
        let err = |source: io::Error| NetlinkError { op: op(), source };
        send(self.fd.as_raw_fd(), &bytes, MsgFlags::empty()).map_err(|e| err(e.into()))?;
        let mut answers = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())
                .map_err(|e| err(e.into()))?;
            let mut off = 0;
            while off + 16 <= n {
                let len =
                    u32::from_ne_bytes(buf[off..off + 4].try_into().expect("4 bytes")) as usize;
                let typ = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().expect("2 bytes"));
                let mseq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().expect("4"));
                if len < 16 || off + len > n {
                    return Err(err(io::Error::other("truncated netlink answer")));
                }
                let payload = &buf[off + 16..off + len];
                if mseq == seq {
                    match typ {
                        NLMSG_ERROR => {
                            let code = payload
                                .get(0..4)
                                .map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")))
                                .unwrap_or(0);
                            if code == 0 {
                                return Ok(answers);
                            }
                            return Err(err(io::Error::from_raw_os_error(-code)));
                        }
                        NLMSG_DONE => return Ok(answers),
                        _ => answers.push((typ, payload.to_vec())),
                    }
                }
                off += (len + 3) & !3;
            }
        }
    }

    /// Creates a bridge (fails with EEXIST if the name is taken). Give it a `mac`: a bridge
    /// without one takes the lowest MAC of its ports and changes it as ports come and go,
    /// which leaves stale ARP entries for the gateway in the containers.
    pub fn create_bridge(&self, name: &str, mac: Option<[u8; 6]>, mtu: Option<u32>) -> Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, 0, 0)
            .str_attr(IFLA_IFNAME, name);
        if let Some(mac) = mac {
            m = m.attr(IFLA_ADDRESS, &mac);
        }
        if let Some(mtu) = mtu {
            m = m.u32_attr(IFLA_MTU, mtu);
        }
        let m = m
            .begin(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "bridge")
            .end();
        self.request(m, || format!("create bridge {name}"))
            .map(drop)
    }

    /// Creates a veth pair; the peer may be created directly inside another namespace.
    pub fn create_veth(&self, spec: &VethSpec<'_>) -> Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL)
            .ifinfo(0, 0, 0)
            .str_attr(IFLA_IFNAME, spec.host);
        if let Some(mtu) = spec.mtu {
            m = m.u32_attr(IFLA_MTU, mtu);
        }
        if let Some(master) = spec.master {
            m = m.u32_attr(IFLA_MASTER, master);
        }
        m = m
            .begin(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "veth")
            .begin(IFLA_INFO_DATA)
            .begin(VETH_INFO_PEER);
        m.ifinfo_raw(0, 0, 0);
        m = m.str_attr(IFLA_IFNAME, spec.peer);
        if let Some(mtu) = spec.mtu {
            m = m.u32_attr(IFLA_MTU, mtu);
        }
        if let Some(mac) = spec.peer_mac {
            m = m.attr(IFLA_ADDRESS, &mac);
        }
        if let Some(ns) = spec.peer_netns {
            m = m.u32_attr(IFLA_NET_NS_FD, ns.as_raw_fd() as u32);
        }
        let m = m.end().end().end();
        self.request(m, || {
            format!("create veth {} (peer {})", spec.host, spec.peer)
        })
        .map(drop)
    }

    /// Moves a link into the namespace of `netns`.
    pub fn move_to_netns(&self, index: u32, netns: impl AsFd) -> Result<()> {
        let m = Msg::new(RTM_NEWLINK, 0)
            .ifinfo(index as i32, 0, 0)
            .u32_attr(IFLA_NET_NS_FD, netns.as_fd().as_raw_fd() as u32);
        self.request(m, || format!("move link {index} to a netns"))
            .map(drop)
    }

    /// Renames a (down) link.
    pub fn rename(&self, index: u32, name: &str) -> Result<()> {
        let m = Msg::new(RTM_NEWLINK, 0)
            .ifinfo(index as i32, 0, 0)
            .str_attr(IFLA_IFNAME, name);
        self.request(m, || format!("rename link {index} to {name}"))
            .map(drop)
    }

    /// Sets a link up.
    pub fn set_up(&self, index: u32) -> Result<()> {
        let m = Msg::new(RTM_NEWLINK, 0).ifinfo(index as i32, IFF_UP, IFF_UP);
        self.request(m, || format!("set link {index} up")).map(drop)
    }

    /// Sets a link's MTU.
    pub fn set_mtu(&self, index: u32, mtu: u32) -> Result<()> {
        let m = Msg::new(RTM_NEWLINK, 0)
            .ifinfo(index as i32, 0, 0)
            .u32_attr(IFLA_MTU, mtu);
        self.request(m, || format!("set mtu of link {index}"))
            .map(drop)
    }

    /// Enslaves a link to a bridge.
    pub fn set_master(&self, index: u32, master: u32) -> Result<()> {
        let m = Msg::new(RTM_NEWLINK, 0)
            .ifinfo(index as i32, 0, 0)
            .u32_attr(IFLA_MASTER, master);
        self.request(m, || format!("set master of link {index}"))
            .map(drop)
    }

    /// Adds an IPv4 address; an address that is already there is not an error.
    pub fn add_address(&self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        m.buf.push(AF_INET);
        m.buf.push(prefix);
        m.buf.push(0); // flags
        m.buf.push(0); // scope universe
        m.buf.extend_from_slice(&index.to_ne_bytes());
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix as u32)
        };
        let bcast = Ipv4Addr::from(u32::from(addr) | !mask);
        let m = m
            .attr(IFA_LOCAL, &addr.octets())
            .attr(IFA_ADDRESS, &addr.octets())
            .attr(IFA_BROADCAST, &bcast.octets());
        match self.request(m, || format!("add address {addr}/{prefix} to link {index}")) {
            Err(e) if e.errno() == Some(libc_eexist()) => Ok(()),
            r => r.map(drop),
        }
    }

    /// Adds a default route via `gateway` out of link `index`.
    pub fn add_default_route(&self, index: u32, gateway: Ipv4Addr) -> Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        m.buf.extend_from_slice(&[
            AF_INET, 0,   // dst_len: default route
            0,   // src_len
            0,   // tos
            254, // table main
            3,   // protocol boot
            0,   // scope universe
            1,   // type unicast
        ]);
        m.buf.extend_from_slice(&0u32.to_ne_bytes()); // flags
        let m = m
            .attr(RTA_GATEWAY, &gateway.octets())
            .u32_attr(RTA_OIF, index);
        self.request(m, || format!("add default route via {gateway}"))
            .map(drop)
    }

    /// Deletes a link by name; a missing link is not an error.
    pub fn delete_link(&self, name: &str) -> Result<()> {
        let m = Msg::new(RTM_DELLINK, 0)
            .ifinfo(0, 0, 0)
            .str_attr(IFLA_IFNAME, name);
        match self.request(m, || format!("delete link {name}")) {
            Err(e) if e.errno() == Some(libc_enodev()) => Ok(()),
            r => r.map(drop),
        }
    }

    /// The index of link `name`, or None if there is no such link.
    pub fn index(&self, name: &str) -> Result<Option<u32>> {
        let m = Msg::new(RTM_GETLINK, 0)
            .ifinfo(0, 0, 0)
            .str_attr(IFLA_IFNAME, name);
        match self.request(m, || format!("get link {name}")) {
            Ok(answers) => Ok(answers
                .iter()
                .find(|(t, p)| *t == RTM_NEWLINK && p.len() >= 16)
                .map(|(_, p)| i32::from_ne_bytes(p[4..8].try_into().expect("4 bytes")) as u32)),
            Err(e) if e.errno() == Some(libc_enodev()) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The index of link `name`; a missing link is an error.
    pub fn require_index(&self, name: &str) -> Result<u32> {
        self.index(name)?.ok_or_else(|| NetlinkError {
            op: format!("get link {name}"),
            source: io::Error::from_raw_os_error(libc_enodev()),
        })
    }
}

fn libc_eexist() -> i32 {
    nix::errno::Errno::EEXIST as i32
}

fn libc_enodev() -> i32 {
    nix::errno::Errno::ENODEV as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_are_aligned_and_sized() {
        let m = Msg::new(RTM_NEWLINK, NLM_F_CREATE)
            .ifinfo(0, 0, 0)
            .str_attr(IFLA_IFNAME, "br0")
            .begin(IFLA_LINKINFO)
            .str_attr(IFLA_INFO_KIND, "bridge")
            .end();
        let b = m.finish();
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(b.len() % 4, 0);
        // header 16 + ifinfomsg 16 + "br0\0" attr 8 + linkinfo (4 + "bridge\0" attr 12)
        assert_eq!(b.len(), 16 + 16 + 8 + 16);
        assert_eq!(u16::from_ne_bytes(b[40..42].try_into().unwrap()), 16);
    }
}
