//! Content-addressed blob store: every blob is stored once under its digest, and nothing
//! becomes visible under a digest unless its bytes were verified to hash to it.
//!
//! Place in the crate graph: above `api`, below `image` and the registry. Main entry point:
//! [`ContentStore`]. Also home of [`atomic::write_file`], the crash-safe file writer the rest
//! of berth uses for its state.
//!
//! # Layout
//!
//! ```text
//! <root>/                       e.g. /var/lib/berth/content
//!   blobs/sha256/<64 hex>       committed blobs, immutable
//!   blobs/sha512/<128 hex>
//!   ingest/<unique>             in-flight writes; removed at start-up
//! ```
//!
//! # Ingest lifecycle
//!
//! 1. A [`Writer`] (from [`ContentStore::writer`], or driven by [`ContentStore::ingest`] from a
//!    reader) creates a temp file in `ingest/` and hashes every byte as it is written, so a tee
//!    can feed it while something else (a layer unpacker) consumes the same stream.
//! 2. [`Writer::commit`] flushes and `fsync`s the temp file, compares size and digest with what
//!    the caller expected, and only then renames it into `blobs/` and `fsync`s the directory.
//!    If the blob already exists, the temp file is dropped and the commit succeeds.
//! 3. A writer dropped without commit removes its temp file. A crash leaves at most a temp file,
//!    which [`ContentStore::new`] removes.
//!
//! Guarantees: a present blob has the right bytes; concurrent writers of the same digest are
//! harmless (rename is atomic and both contents are identical).
//!
//! Non-goals: reference counting and garbage collection (the owners of manifests, the image
//! store and the registry, decide what to delete), resumable uploads, and any network access.

pub mod atomic;
mod error;
mod store;
mod writer;

pub use error::ContentError;
pub use store::ContentStore;
pub use writer::Writer;
