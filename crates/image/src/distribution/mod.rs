//! The registry client: pull, push and login against any OCI distribution registry, with
//! Docker's progress messages.
//!
//! - [`transport`]: HTTP(S) per request, timeouts, redirects, insecure registries.
//! - [`client::Session`]: one registry; learns the auth challenge from `/v2/` and sends
//!   anonymous, basic or bearer-token requests (tokens cached per scope).
//! - [`pull`]: manifest (index -> platform manifest), config, then layers downloaded
//!   concurrently (bounded) into the content store, each digest-verified, and unpacked in order
//!   as soon as its download is done; the image is recorded last.
//! - [`push`]: every blob the registry lacks (HEAD first; a cross-repository mount from the
//!   repository the image came from; monolithic upload for small blobs, a streamed PATCH for
//!   large ones), then the manifest, unchanged.
//!
//! Blobs that a failed or killed pull left in the content store are unreferenced; `image prune`
//! removes them.

pub mod auth;
pub mod client;
mod pull;
mod push;
pub mod transport;

use api::docker::JsonMessage;
use api::ErrorKind;
use tokio::sync::mpsc;

pub use auth::AuthConfig;
pub use pull::{pull, PullOptions, PullOutcome};
pub use push::{push, PushOutcome};
pub use transport::{Transport, TransportConfig};

use crate::ImageError;

/// What failed talking to a registry. Messages follow Docker's where clients show them.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    /// The registry could not be reached or the connection failed (Go's wording, which
    /// Docker prints: `Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect:
    /// connection refused`).
    #[error("{} \"{url}\": {}", go_method(method), go_io_error(url, cause))]
    Network {
        /// HTTP method, as Go prints it (`Get`).
        method: String,
        /// The URL.
        url: String,
        /// The cause, already worded into the message (so not a `source`: a caller that
        /// appends sources would repeat it as `...: Connection refused (os error 111)`).
        cause: std::io::Error,
    },
    /// Credentials are missing or wrong.
    #[error("{0}")]
    Unauthorized(String),
    /// The credentials do not allow this.
    #[error("{0}")]
    Denied(String),
    /// The repository, tag or blob does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The registry is overloaded (429) or unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// The registry answered something this client does not accept.
    #[error("{0}")]
    Protocol(String),
    /// A manifest or config is invalid or of an unsupported type.
    #[error("{0}")]
    Invalid(String),
    /// Downloaded bytes do not match their digest.
    #[error("{0}")]
    DigestMismatch(String),
    /// The local image store failed.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// `GET` -> `Get`, as Go's net/http names methods in errors.
fn go_method(m: &str) -> String {
    let mut c = m.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
        None => String::new(),
    }
}

/// An io error as Go's net package words it.
fn go_io_error(url: &str, e: &std::io::Error) -> String {
    let authority = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or(url);
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("dial tcp {authority}: connect: connection refused")
        }
        std::io::ErrorKind::TimedOut => format!("dial tcp {authority}: i/o timeout"),
        _ if e.to_string().contains("failed to lookup address") => {
            let host = authority
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(authority);
            format!("dial tcp: lookup {host}: no such host")
        }
        _ => {
            let s = e.to_string();
            let s = match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            };
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
                None => s,
            }
        }
    }
}

impl From<content::ContentError> for DistributionError {
    fn from(e: content::ContentError) -> Self {
        DistributionError::Image(e.into())
    }
}

impl DistributionError {
    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DistributionError::Network { .. } => ErrorKind::Internal,
            DistributionError::Unauthorized(_) => ErrorKind::Unauthenticated,
            DistributionError::Denied(_) => ErrorKind::PermissionDenied,
            DistributionError::NotFound(_) => ErrorKind::NotFound,
            DistributionError::Unavailable(_) => ErrorKind::Unavailable,
            DistributionError::Protocol(_)
            | DistributionError::Invalid(_)
            | DistributionError::DigestMismatch(_) => ErrorKind::Internal,
            DistributionError::Image(e) => e.kind(),
        }
    }

    /// The error with its causes, as one line.
    pub fn chain(&self) -> String {
        let mut s = self.to_string();
        let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(self);
        if let DistributionError::Network { .. } = self {
            // The io error is already in the message.
            cur = None;
        }
        while let Some(e) = cur {
            s.push_str(": ");
            s.push_str(&e.to_string());
            cur = e.source();
        }
        s
    }
}

/// Where progress messages go (Docker's JSON message stream); a sink without a receiver
/// drops them.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    tx: Option<mpsc::UnboundedSender<JsonMessage>>,
}

impl Progress {
    /// A sink and the receiver of its messages.
    pub fn channel() -> (Progress, mpsc::UnboundedReceiver<JsonMessage>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Progress { tx: Some(tx) }, rx)
    }

    /// A sink that drops everything.
    pub fn none() -> Progress {
        Progress { tx: None }
    }

    /// Sends one message.
    pub fn send(&self, m: JsonMessage) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(m);
        }
    }

    fn status(&self, s: impl Into<String>) {
        self.send(JsonMessage::status(s));
    }

    fn layer(&self, id: &str, s: &str) {
        self.send(JsonMessage::layer(id, s));
    }
}

/// Aborts spawned layer transfers when a pull or push ends early (an error, or the client went
/// away and the future was dropped).
struct AbortOnDrop(Vec<tokio::task::JoinHandle<Result<(), DistributionError>>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Rate-limits progress bars: one message per 256 KiB or at the end.
#[derive(Debug, Default)]
struct Throttle {
    last: u64,
}

impl Throttle {
    fn due(&mut self, current: u64, total: u64) -> bool {
        if current >= total || current >= self.last + (256 << 10) || self.last == 0 {
            self.last = current.max(1);
            true
        } else {
            false
        }
    }
}

/// Checks credentials against a registry as `docker login` does. `server` is what the user
/// typed (`127.0.0.1:5000`, `https://index.docker.io/v1/`, empty for Docker Hub).
pub async fn login(
    transport: &std::sync::Arc<Transport>,
    server: &str,
    auth: AuthConfig,
) -> Result<(), DistributionError> {
    let session =
        client::Session::open(transport.clone(), &login_domain(server), Some(auth)).await?;
    session.login().await
}

/// The registry domain of a login server address.
pub fn login_domain(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or("");
    if s.is_empty()
        || s == "index.docker.io"
        || s == "docker.io"
        || s == client::DOCKER_HUB_REGISTRY
    {
        "docker.io".to_string()
    } else {
        s.to_string()
    }
}

/// 12 hex digits of a digest, the id Docker's progress shows for a layer.
fn short_id(d: &api::Digest) -> String {
    d.hex().chars().take(12).collect()
}
