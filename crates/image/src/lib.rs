//! Images on one host: secure layer unpacking and the image store the engine uses to import,
//! list, resolve, tag and remove images and to prepare container root filesystems.
//!
//! Place in the crate graph: above `api`, `content` (blobs) and `snapshot` (unpacked layers);
//! below `engine` and the builder. Main entry points: [`ImageStore`] and, for layers on their
//! own, [`unpack_layer`].
//!
//! # On-disk layout (under the data root, e.g. `/var/lib/berth`)
//!
//! ```text
//! content/blobs/sha256/<hex>                layer blobs (as imported, possibly gzip), configs, manifests
//! content/ingest/                           in-flight blob writes
//! snapshots/overlay/metadata.json           snapshot keys (or snapshots/copy/ without overlayfs)
//! snapshots/overlay/snapshots/<n>/{fs,work} one directory per snapshot; layers keyed by chain id
//! images/index.json                         images (config digest -> manifest, layers, size) and tags
//! images/load-<unique>/                     an archive being loaded, spooled (removed on open)
//! ```
//!
//! `docker save` writes docker-archive tars; `docker load` reads docker-archives and OCI image
//! layouts (picking the host platform from indexes) — see `store/archive.rs`.
//!
//! Registry pull, push and login: [`distribution`].
//! The store is blocking code: async callers go through `spawn_blocking`.

mod changes;
mod compression;
pub mod distribution;
mod error;
mod store;
mod unpack;
mod xattr;

pub use changes::ImportChanges;
pub use compression::{decompress, Compression};
pub use error::{ImageError, UnpackError};
pub use store::{
    Change, ChangeKind, CommitOptions, DiskUsage, HistoryEntry, ImageInfo, ImageStore, Lease,
    LoadedImage, Pruned, PulledImage, PushSource, Removed, RootfsMount,
};
pub use unpack::{unpack_copy, unpack_layer, CopyOptions, UnpackStats};
