//! The engine's error type: what a Docker API handler can fail with, each with a stable
//! [`ErrorKind`] that the API layer turns into a status code in one place.

use api::ErrorKind;

/// An engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No container by that name, id or prefix.
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// No volume by that name.
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// Something else named in the request does not exist; the message is Docker's.
    #[error("{0}")]
    NotFound(String),
    /// A prefix matched several containers.
    #[error("multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
    /// The name is taken.
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse {
        /// The name.
        name: String,
        /// The container holding it.
        id: String,
    },
    /// Removal of a running container without force.
    #[error("You cannot remove a running container {0}. Stop the container before attempting removal or force remove")]
    RemoveRunning(String),
    /// No exec instance by that id.
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// The container must be running for this.
    #[error("Container {0} is not running")]
    NotRunning(String),
    /// A no-op start or stop (HTTP 304).
    #[error("container already in the requested state")]
    NotModified,
    /// A bad request value; the message names the field or flag.
    #[error("{0}")]
    Invalid(String),
    /// A conflicting state not covered above.
    #[error("{0}")]
    Conflict(String),
    /// An image store error (No such image, conflicts, corrupt input).
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// Talking to a registry failed (pull, push, login).
    #[error(transparent)]
    Registry(#[from] image::distribution::DistributionError),
    /// The container could not be started; the message is Docker's.
    #[error("{}", start_text(message))]
    Start {
        /// The runtime's reason.
        message: String,
        /// 127 (not found), 126 (not executable) or none.
        exit_code: Option<i32>,
    },
    /// Talking to a container's shim failed.
    #[error("shim of container {id}: {message}")]
    Shim {
        /// The container.
        id: String,
        /// What went wrong.
        message: String,
    },
    /// A network operation failed.
    #[error(transparent)]
    Net(#[from] net::NetError),
    /// Another error with what was being done in front, keeping its class (dockerd's
    /// `errors.Wrapf`, e.g. `cannot kill container: NAME: ...`).
    #[error("{context}: {source}")]
    Context {
        /// What was being done.
        context: String,
        /// The cause.
        source: Box<EngineError>,
    },
    /// A filesystem operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl EngineError {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::NoSuchContainer(_)
            | EngineError::NoSuchVolume(_)
            | EngineError::NoSuchExec(_)
            | EngineError::NotFound(_) => ErrorKind::NotFound,
            EngineError::Ambiguous(_) | EngineError::Invalid(_) => ErrorKind::InvalidArgument,
            EngineError::NameInUse { .. }
            | EngineError::RemoveRunning(_)
            | EngineError::NotRunning(_)
            | EngineError::Conflict(_) => ErrorKind::Conflict,
            EngineError::NotModified => ErrorKind::NotModified,
            EngineError::Image(e) => e.kind(),
            EngineError::Registry(e) => e.kind(),
            EngineError::Net(e) => e.kind(),
            EngineError::Start { exit_code, .. } => {
                if exit_code.is_some() {
                    ErrorKind::InvalidArgument
                } else {
                    ErrorKind::Internal
                }
            }
            EngineError::Context { source, .. } => source.kind(),
            EngineError::Shim { .. } | EngineError::Io { .. } => ErrorKind::Internal,
        }
    }

    /// This error behind `context: ` (same class).
    pub fn context(self, context: impl Into<String>) -> EngineError {
        EngineError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// An IO error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let what = what.into();
        move |source| EngineError::Io { what, source }
    }
}

/// dockerd's text for a start failure: the runtime's reason behind containerd's prefix, except
/// for the user lookup, which dockerd does itself while it builds the spec.
fn start_text(message: &str) -> String {
    if message.starts_with("unable to find user ")
        || message.starts_with("unable to find group ")
        || message.starts_with("Unable to find group ")
    {
        message.to_string()
    } else {
        format!("failed to create task for container: {message}: unknown")
    }
}
