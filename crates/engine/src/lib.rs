//! The berth daemon: container state and lifecycle behind the Docker Engine API.
#![recursion_limit = "256"]
//!
//! Place in the crate graph: `cli` runs [`daemon::run`]; the engine uses `image` (and through
//! it `content` and `snapshot`), `net` and `api`, and execs `berth shim` for every container it starts
//! (it never links or forks the runtime). Main entry points: [`daemon::run`] and the
//! [`container::Engine`] service, which tests and later compose and the node agent drive without
//! HTTP. Networking is delegated to `net` ([`network`] wires it in). Non-goals for now:
//! volumes, exec, restart policies (issue "Engine").

pub mod api;
pub mod build;
pub mod container;
pub mod daemon;
pub mod engine_id;
pub mod error;
pub mod events;
mod filters;
pub mod idle_trim;
mod names;
pub mod network;
mod shim_client;
mod signal;
mod volume_mount;
pub mod volumes;

pub use container::Engine;
pub use error::EngineError;
