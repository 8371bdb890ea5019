//! Container networking for the engine: bridge networks with NAT, veth pairs into per-container
//! network namespaces, IPAM, published ports, and an embedded DNS server per user network.
//!
//! Place in the crate graph: `engine -> net -> {api, content}`. Main entry point:
//! [`manager::NetworkManager`]. Lower layers are usable on their own (and by tests): a
//! handwritten rtnetlink client ([`netlink`]), persistent namespaces ([`netns`]), subnet and
//! address choice ([`ipam`]), berth's nftables table ([`nft`]), host port reservations
//! ([`ports`]) and the DNS server ([`dns`]).
//!
//! Non-goals: IPv6, overlay or macvlan drivers, an iptables back end, a userland proxy (the
//! kernel path serves 127.0.0.1 and hairpin traffic, see [`nft`]).

pub mod dns;
pub mod error;
pub mod ipam;
pub mod manager;
pub mod netlink;
pub mod netns;
pub mod nft;
pub mod ports;

pub use manager::{
    ConnectRequest, CreateNetwork, Endpoint, NetError, Network, NetworkManager, PortRequest,
};
