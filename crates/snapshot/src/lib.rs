//! Snapshotters: directories that hold layered filesystem trees, and the mounts that present
//! them, in containerd's vocabulary.
//!
//! Place in the crate graph: above `api` and `content` (for the atomic file writer), below
//! `image` and the builder. Main entry point: the [`Snapshotter`] trait, implemented by
//! [`OverlaySnapshotter`] (overlayfs, the default) and [`CopySnapshotter`] (full copies, for
//! hosts without overlayfs).
//!
//! # Terms
//!
//! - **key**: the name of an *active* or *view* snapshot, chosen by the caller (the image store
//!   uses `extract-<unique>` while unpacking a layer; the engine uses one per container).
//! - **name**: the name of a *committed* snapshot (the image store uses the layer's chain id).
//!   Keys and names share one namespace.
//! - **parent**: the committed snapshot a new snapshot starts from. Only committed snapshots
//!   can be parents, so a committed snapshot's content never changes under a child.
//! - **active**: a writable snapshot. **view**: a read-only snapshot of a parent.
//!   **committed**: an immutable snapshot made from an active one by [`Snapshotter::commit`].
//!
//! # Lifecycle
//!
//! Importing a layer, step by step:
//!
//! 1. `prepare("extract-x", Some(parent_chain_id))` creates an active snapshot whose content
//!    starts as the parent's.
//! 2. The layer's tar is applied into [`Snapshotter::apply_target`]`("extract-x")`: a
//!    directory plus the whiteout style this snapshotter needs (an overlay upper directory
//!    takes overlay whiteouts; a full copy applies deletions directly). No mount is needed.
//! 3. `commit(chain_id, "extract-x")` freezes it under its chain id; the key is gone.
//!    On failure, `remove("extract-x")` instead.
//!
//! Running a container: `prepare(container_key, Some(image_top_chain_id))`, mount what it
//! returns (or later [`Snapshotter::mounts`]) at the container's root, and `remove` it when the
//! container is deleted.
//!
//! # Guarantees
//!
//! - Metadata (`metadata.json`) is replaced atomically after every change; a crash leaves the
//!   last committed state. Snapshot directories not named in the metadata (a crash between
//!   creating a directory and recording it, or between forgetting and deleting one) are removed
//!   when the snapshotter is opened.
//! - A snapshot with children cannot be removed.
//! - Calls from several threads are serialised by an internal lock.
//!
//! # Assumptions and non-goals
//!
//! One process owns a snapshotter root. Snapshotters never mount: callers (the shim) perform
//! the returned [`api::mount::Mount`]s; [`mount::mount_all`] is a small helper for tests and
//! tools that need to look at a snapshot's tree. Not here: labels, `update`, `walk` filters, quota, remote
//! snapshotters, and overlay's long-lowerdir workaround (lower directory lists are bounded by
//! the mount option page size, roughly 40 layers with default paths).

mod copy;
mod error;
mod meta;
pub mod mount;
mod overlay;
pub mod tree;

#[cfg(test)]
mod testsuite;

pub use copy::CopySnapshotter;
pub use error::SnapshotError;
pub use overlay::OverlaySnapshotter;

use std::path::PathBuf;

use api::mount::Mount;

/// What state a snapshot is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Writable, made by `prepare`.
    Active,
    /// Read-only, made by `view`.
    View,
    /// Immutable, made by `commit`; can be a parent.
    Committed,
}

/// What [`Snapshotter::stat`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The key (active, view) or name (committed).
    pub name: String,
    /// The parent's name.
    pub parent: Option<String>,
    /// The state.
    pub kind: Kind,
    /// When it was created (RFC 3339; for committed snapshots, when its active one was).
    pub created: String,
}

/// Disk use of a snapshot's own content (not its parents').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Bytes in regular files (hard links counted once).
    pub size: u64,
    /// Number of inodes.
    pub inodes: u64,
}

/// How deletions in a layer must be written into an [`ApplyTarget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutStyle {
    /// Write overlayfs whiteouts: a 0/0 character device for a deleted entry and the
    /// `trusted.overlay.opaque=y` xattr on an opaque directory (the target is an upper dir).
    Overlay,
    /// Delete the entries (the target is a full copy of the parent).
    Delete,
}

/// Where to write a layer's changes for an active snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyTarget {
    /// The directory.
    pub dir: PathBuf,
    /// How to represent deletions.
    pub whiteouts: WhiteoutStyle,
}

/// A store of layered filesystem snapshots. See the crate doc for the vocabulary and lifecycle.
pub trait Snapshotter: Send + Sync {
    /// Docker's name for this kind of storage (`overlay2`, `vfs`), shown by `info`.
    fn driver_name(&self) -> &'static str;

    /// Information about a snapshot by key or name.
    fn stat(&self, key: &str) -> Result<Info, SnapshotError>;

    /// Disk use of the snapshot's own content.
    fn usage(&self, key: &str) -> Result<Usage, SnapshotError>;

    /// The mounts that present an active snapshot (read-write) or a view (read-only).
    /// Committed snapshots have no mounts: make a view.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError>;

    /// Creates an active snapshot `key` starting from committed `parent` (or empty) and returns
    /// its mounts.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError>;

    /// Creates a read-only view `key` of committed `parent` (or an empty tree) and returns its
    /// mounts.
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError>;

    /// Freezes active snapshot `key` as committed snapshot `name`. `key` no longer exists
    /// afterwards; its content and parent carry over.
    fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError>;

    /// Removes a snapshot of any kind and its content. Fails if it has children.
    fn remove(&self, key: &str) -> Result<(), SnapshotError>;

    /// Every snapshot.
    fn list(&self) -> Result<Vec<Info>, SnapshotError>;

    /// Where to write a layer's changes into active snapshot `key` without mounting it.
    fn apply_target(&self, key: &str) -> Result<ApplyTarget, SnapshotError>;

    /// The read-only directories whose union (first wins, overlayfs whiteouts applied) is
    /// the content `key` started from: its parents' own directories top first (overlay), or
    /// the parent's full copy (copy). Empty without a parent. For computing a snapshot's
    /// changes against what it started from.
    fn lower_dirs(&self, key: &str) -> Result<Vec<PathBuf>, SnapshotError>;
}
