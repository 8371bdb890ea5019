//! The image crate's error types: [`UnpackError`] for applying a layer, [`ImageError`] for the
//! image store.

use std::io;
use std::path::PathBuf;

use api::ErrorKind;

/// Why a layer could not be applied. Everything but [`UnpackError::Io`] is the layer's fault.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The archive stream is corrupt or truncated (or decompression failed).
    #[error("reading layer archive")]
    Read(#[source] io::Error),
    /// The layer is compressed in a format berth does not read yet.
    #[error("{0}-compressed layers are not supported yet")]
    UnsupportedCompression(&'static str),
    /// An entry name has a `..` component.
    #[error("layer entry {name:?} has a \"..\" component")]
    Breakout {
        /// The entry name.
        name: String,
    },
    /// A parent of an entry is a symlink.
    #[error("layer entry {name:?} goes through symlink {component:?}")]
    ThroughSymlink {
        /// The entry name.
        name: String,
        /// The symlink, relative to the root.
        component: String,
    },
    /// A parent of an entry is neither a directory nor a symlink.
    #[error("layer entry {name:?} needs {component:?} to be a directory")]
    NotADirectory {
        /// The entry name.
        name: String,
        /// The offending component.
        component: String,
    },
    /// A hard link's target is not an entry inside the root.
    #[error("hard link {name:?} points at {target:?}, which is not in the layer")]
    HardLinkOutside {
        /// The link's name.
        name: String,
        /// The target as written.
        target: String,
    },
    /// An entry is malformed in some other way.
    #[error("layer entry {name:?}: {reason}")]
    Invalid {
        /// The entry name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// `docker cp` with `noOverwriteDirNonDir`: an entry would replace a directory with a
    /// non-directory or the reverse (Docker's text).
    #[error("cannot overwrite {what} {path:?} with {with} {dest:?}")]
    Overwrite {
        /// `directory` or `non-directory` (what is there).
        what: &'static str,
        /// What the entry is.
        with: &'static str,
        /// The path in the target.
        path: String,
        /// The extraction directory.
        dest: String,
    },
    /// Writing to the target directory failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl UnpackError {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            UnpackError::Io { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidArgument,
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> UnpackError {
        let path = path.into();
        move |source| UnpackError::Io { op, path, source }
    }
}

/// What failed in the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image matches (Docker's text, capitalised as Docker prints it).
    #[error("No such image: {0}")]
    NotFound(String),
    /// A hex prefix matches several images.
    #[error("image id prefix {0:?} is ambiguous: use more characters or a name")]
    Ambiguous(String),
    /// Removal refused (Docker's `conflict: ...` text).
    #[error("{0}")]
    Conflict(String),
    /// A reference does not parse.
    #[error(transparent)]
    InvalidReference(#[from] api::reference::InvalidReference),
    /// Tags cannot carry digests.
    #[error("refusing to create a tag with a digest reference: {0}")]
    TagWithDigest(String),
    /// A `--change` line is not understood.
    #[error("invalid change {line:?}: {reason}")]
    InvalidChange {
        /// The line as given.
        line: String,
        /// What is wrong.
        reason: String,
    },
    /// Applying the layer failed.
    #[error("unpacking layer")]
    Unpack(#[from] UnpackError),
    /// The content store failed.
    #[error("content store")]
    Content(#[from] content::ContentError),
    /// The snapshotter failed.
    #[error("snapshotter")]
    Snapshot(#[from] snapshot::SnapshotError),
    /// A stored document does not parse.
    #[error("corrupt {what} {path}")]
    Corrupt {
        /// Which document (`image index`, `image config`).
        what: &'static str,
        /// Where it is.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// Writing or reading an image archive (`save`/`load`) failed.
    #[error("{0}")]
    Archive(String),
    /// A filesystem operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl ImageError {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::Ambiguous(_)
            | ImageError::InvalidReference(_)
            | ImageError::TagWithDigest(_)
            | ImageError::InvalidChange { .. } => ErrorKind::InvalidArgument,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::Unpack(e) => e.kind(),
            ImageError::Content(e) => e.kind(),
            ImageError::Snapshot(e) => e.kind(),
            ImageError::Corrupt { .. } | ImageError::Io { .. } | ImageError::Archive(_) => {
                ErrorKind::Internal
            }
        }
    }

    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { op, path, source }
    }
}
