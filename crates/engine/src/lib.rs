//! The berth daemon: container state and lifecycle behind the Docker Engine API. Work in progress.

pub mod daemon;
