//! The network manager's error: what a network operation can fail with, each with a stable
//! [`ErrorKind`] (Docker's statuses: 404 unknown network, 409 busy network or taken name, 403
//! overlapping pool or pre-defined network, 400 bad input).

use api::ErrorKind;

use crate::ipam::IpamError;
use crate::netlink::NetlinkError;
use crate::netns::NetnsError;
use crate::nft::NftError;
use crate::ports::PortError;

/// A network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No such network.
    #[error("network {0} not found")]
    NotFound(String),
    /// A prefix matched several networks.
    #[error("network {0} is ambiguous ({1} matches found based on ID prefix)")]
    Ambiguous(String, usize),
    /// The name is taken.
    #[error("network with name {0} already exists")]
    NameExists(String),
    /// Overlapping subnet.
    #[error("Pool overlaps with other one on this address space")]
    Overlap,
    /// Containers are still connected.
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    ActiveEndpoints {
        /// Name.
        name: String,
        /// Id.
        id: String,
    },
    /// `bridge`, `host`, `none`.
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    /// Already connected.
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected {
        /// Container name.
        container: String,
        /// Network name.
        network: String,
    },
    /// Not connected.
    #[error("container {container} is not connected to network {network}")]
    NotConnected {
        /// Container.
        container: String,
        /// Network name.
        network: String,
    },
    /// A bad request value.
    #[error("{0}")]
    Invalid(String),
    /// Subnet or address errors.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// A host port could not be reserved.
    #[error("driver failed programming external connectivity on endpoint {name} ({id}): {source}")]
    Port {
        /// Container name.
        name: String,
        /// Endpoint id.
        id: String,
        /// Cause.
        #[source]
        source: PortError,
    },
    /// Netlink.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// Namespaces.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// nftables.
    #[error(transparent)]
    Nft(#[from] NftError),
    /// Files.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl NetError {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetError::NotFound(_) => ErrorKind::NotFound,
            NetError::Ambiguous(..) | NetError::Invalid(_) => ErrorKind::InvalidArgument,
            NetError::NameExists(_) => ErrorKind::AlreadyExists,
            NetError::Overlap | NetError::Predefined(_) | NetError::AlreadyConnected { .. } => {
                ErrorKind::PermissionDenied
            }
            NetError::ActiveEndpoints { .. } | NetError::NotConnected { .. } => ErrorKind::Conflict,
            NetError::Ipam(e) => e.kind(),
            NetError::Port { .. }
            | NetError::Netlink(_)
            | NetError::Netns(_)
            | NetError::Nft(_)
            | NetError::Io { .. } => ErrorKind::Internal,
        }
    }
}
