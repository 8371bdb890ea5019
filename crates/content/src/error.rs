//! The content store's error type.

use std::io;
use std::path::PathBuf;

use api::{Digest, ErrorKind};

/// What failed in the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// No blob with that digest.
    #[error("blob {0} not found")]
    NotFound(Digest),
    /// The bytes did not hash to the expected digest.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the caller said.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// The bytes were not as long as expected.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The digest of what arrived.
        digest: Digest,
        /// What the caller said.
        expected: u64,
        /// What arrived.
        actual: u64,
    },
    /// Reading the input stream failed.
    #[error("reading blob content")]
    Read(#[source] io::Error),
    /// A filesystem operation in the store failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done, e.g. `create temp file`.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl ContentError {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContentError::NotFound(_) => ErrorKind::NotFound,
            ContentError::DigestMismatch { .. } | ContentError::SizeMismatch { .. } => {
                ErrorKind::InvalidArgument
            }
            ContentError::Read(e) => match e.kind() {
                io::ErrorKind::InvalidData
                | io::ErrorKind::UnexpectedEof
                | io::ErrorKind::InvalidInput => ErrorKind::InvalidArgument,
                _ => ErrorKind::Internal,
            },
            ContentError::Io { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> ContentError {
        let path = path.into();
        move |source| ContentError::Io { op, path, source }
    }
}
