//! Wire and schema types shared by every berth crate: validated names (digests, image
//! references, container ids), the OCI runtime-spec subset berth writes and reads, Docker's
//! default security profile as data, and the stable [`ErrorKind`] every module error maps to.
//!
//! Place in the crate graph: the bottom. No IO here: no files, sockets or processes. Non-goals:
//! HTTP rendering (each server renders its own body from an [`ErrorKind`]).

pub mod detach_keys;
pub mod digest;
pub mod docker;
pub mod error;
pub mod id;
pub mod log_opts;
pub mod oci;
pub mod ports;
pub mod reference;
pub mod shim;
pub mod time;
pub mod units;

pub use digest::Digest;
pub use error::ErrorKind;
pub use id::ContainerId;
pub use reference::ImageRef;
pub mod image;
pub mod mount;
