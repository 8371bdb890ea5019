//! The registry's error type and the OCI distribution error-code table.
//!
//! Every [`RegistryError`] names one [`ErrorCode`]; the code declares its HTTP status in
//! [`ErrorCode::status`], the one table of codes and statuses. The only exceptions are the two
//! range errors, which the spec answers with `416` while keeping a spec code in the body.

use std::io;
use std::path::PathBuf;

use api::{Digest, ErrorKind};
use serde_json::{json, Value};

/// An error code of the OCI distribution spec (section "Error codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Blob unknown to this repository.
    BlobUnknown,
    /// Upload failed or the request was malformed.
    BlobUploadInvalid,
    /// Upload session unknown or cancelled.
    BlobUploadUnknown,
    /// Digest unparsable, missing, or not matching the content.
    DigestInvalid,
    /// A manifest references a blob or child manifest the repository does not have.
    ManifestBlobUnknown,
    /// The manifest is malformed or its media type is wrong.
    ManifestInvalid,
    /// Manifest unknown.
    ManifestUnknown,
    /// Repository name invalid.
    NameInvalid,
    /// Repository unknown.
    NameUnknown,
    /// Content-Length disagrees with the data.
    SizeInvalid,
    /// Authentication required.
    Unauthorized,
    /// Access denied.
    Denied,
    /// The operation is not supported.
    Unsupported,
    /// Too many requests.
    TooManyRequests,
    /// A pagination parameter is invalid (docker-era extension).
    PaginationNumberInvalid,
    /// Anything else (a server-side failure).
    Unknown,
}

impl ErrorCode {
    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// The HTTP status this code is answered with.
    pub fn status(self) -> u16 {
        self.entry().1
    }

    /// The spec's short message for this code.
    pub fn message(self) -> &'static str {
        self.entry().2
    }

    fn entry(self) -> (&'static str, u16, &'static str) {
        match self {
            ErrorCode::BlobUnknown => ("BLOB_UNKNOWN", 404, "blob unknown to registry"),
            ErrorCode::BlobUploadInvalid => ("BLOB_UPLOAD_INVALID", 400, "blob upload invalid"),
            ErrorCode::BlobUploadUnknown => (
                "BLOB_UPLOAD_UNKNOWN",
                404,
                "blob upload unknown to registry",
            ),
            ErrorCode::DigestInvalid => (
                "DIGEST_INVALID",
                400,
                "provided digest did not match uploaded content",
            ),
            ErrorCode::ManifestBlobUnknown => (
                "MANIFEST_BLOB_UNKNOWN",
                400,
                "manifest references a manifest or blob unknown to registry",
            ),
            ErrorCode::ManifestInvalid => ("MANIFEST_INVALID", 400, "manifest invalid"),
            ErrorCode::ManifestUnknown => ("MANIFEST_UNKNOWN", 404, "manifest unknown to registry"),
            ErrorCode::NameInvalid => ("NAME_INVALID", 400, "invalid repository name"),
            ErrorCode::NameUnknown => {
                ("NAME_UNKNOWN", 404, "repository name not known to registry")
            }
            ErrorCode::SizeInvalid => (
                "SIZE_INVALID",
                400,
                "provided length did not match content length",
            ),
            ErrorCode::Unauthorized => ("UNAUTHORIZED", 401, "authentication required"),
            ErrorCode::Denied => ("DENIED", 403, "requested access to the resource is denied"),
            ErrorCode::Unsupported => ("UNSUPPORTED", 405, "the operation is unsupported"),
            ErrorCode::TooManyRequests => ("TOOMANYREQUESTS", 429, "too many requests"),
            ErrorCode::PaginationNumberInvalid => (
                "PAGINATION_NUMBER_INVALID",
                400,
                "invalid number of results requested",
            ),
            ErrorCode::Unknown => ("UNKNOWN", 500, "unknown error"),
        }
    }
}

/// What failed in the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The repository name does not match the spec grammar.
    #[error("invalid repository name {name:?}: {reason}")]
    NameInvalid {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// No such repository.
    #[error("repository {0} not known to registry")]
    NameUnknown(String),
    /// A digest could not be parsed.
    #[error("invalid digest {input:?}")]
    DigestInvalid {
        /// The input.
        input: String,
        /// Why.
        #[source]
        source: api::digest::InvalidDigest,
    },
    /// A digest was required but not given.
    #[error("digest missing")]
    DigestMissing,
    /// Uploaded content does not hash to the digest the client named.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the client said.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// A blob is not linked into the repository.
    #[error("blob {digest} unknown to repository {name}")]
    BlobUnknown {
        /// The repository.
        name: String,
        /// The blob.
        digest: Digest,
    },
    /// No such upload session.
    #[error("blob upload {0} unknown")]
    UploadUnknown(String),
    /// A request about an upload is malformed.
    #[error("blob upload invalid: {0}")]
    UploadInvalid(String),
    /// A chunk does not start where the upload currently ends.
    #[error("chunk starts at {start} but the upload has {size} bytes")]
    ChunkOutOfOrder {
        /// Where the chunk claims to start.
        start: u64,
        /// Bytes received so far.
        size: u64,
    },
    /// A `Range` on a blob GET lies outside the blob.
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable {
        /// The blob's size.
        size: u64,
    },
    /// `Content-Length` disagrees with the data or the declared range.
    #[error("size invalid: {0}")]
    SizeInvalid(String),
    /// A manifest is malformed.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// A manifest references a blob or child manifest the repository lacks.
    #[error("manifest references unknown {what} {digest}")]
    ManifestBlobUnknown {
        /// `blob` or `manifest`.
        what: &'static str,
        /// The missing digest.
        digest: Digest,
    },
    /// No such manifest (by tag or digest).
    #[error("manifest {reference} unknown to repository {name}")]
    ManifestUnknown {
        /// The repository.
        name: String,
        /// The tag or digest.
        reference: String,
    },
    /// A pagination parameter is invalid.
    #[error("invalid pagination parameter: {0}")]
    PaginationInvalid(String),
    /// The operation is not supported on this route.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The content store failed.
    #[error("content store")]
    Content(#[source] content::ContentError),
    /// A filesystem operation on registry metadata failed.
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
    /// Binding or serving the listener failed.
    #[error("serve registry on {addr}")]
    Serve {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A blocking task panicked or was cancelled.
    #[error("registry task failed: {0}")]
    Task(String),
    /// No or bad credentials; answered with `challenge` in `WWW-Authenticate`.
    #[error("{message}")]
    Unauthorized {
        /// What to tell the client.
        message: String,
        /// The `WWW-Authenticate` value.
        challenge: String,
        /// The access the request needed.
        detail: Value,
    },
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Denied(String),
    /// Too many requests; retry after this many seconds.
    #[error("too many requests: {what}")]
    TooManyRequests {
        /// What limit was hit.
        what: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The operation is disabled by configuration.
    #[error("{0} is disabled on this registry")]
    Disabled(&'static str),
    /// The configuration is invalid.
    #[error("{0}")]
    Config(String),
    /// TLS setup failed.
    #[error("tls: {0}")]
    Tls(String),
    /// Another process holds the data root.
    #[error("registry root {0} is in use by another berth registry (serving or collecting garbage): stop it first")]
    Locked(PathBuf),
}

impl RegistryError {
    /// The spec error code rendered in the body.
    pub fn code(&self) -> ErrorCode {
        match self {
            RegistryError::NameInvalid { .. } => ErrorCode::NameInvalid,
            RegistryError::NameUnknown(_) => ErrorCode::NameUnknown,
            RegistryError::DigestInvalid { .. }
            | RegistryError::DigestMissing
            | RegistryError::DigestMismatch { .. } => ErrorCode::DigestInvalid,
            RegistryError::BlobUnknown { .. } => ErrorCode::BlobUnknown,
            RegistryError::UploadUnknown(_) => ErrorCode::BlobUploadUnknown,
            RegistryError::UploadInvalid(_) | RegistryError::ChunkOutOfOrder { .. } => {
                ErrorCode::BlobUploadInvalid
            }
            RegistryError::RangeNotSatisfiable { .. } => ErrorCode::BlobUnknown,
            RegistryError::SizeInvalid(_) => ErrorCode::SizeInvalid,
            RegistryError::ManifestInvalid(_) => ErrorCode::ManifestInvalid,
            RegistryError::ManifestBlobUnknown { .. } => ErrorCode::ManifestBlobUnknown,
            RegistryError::ManifestUnknown { .. } => ErrorCode::ManifestUnknown,
            RegistryError::PaginationInvalid(_) => ErrorCode::PaginationNumberInvalid,
            RegistryError::Unsupported(_) => ErrorCode::Unsupported,
            RegistryError::Content(e) => match e {
                content::ContentError::NotFound(_) => ErrorCode::BlobUnknown,
                content::ContentError::DigestMismatch { .. } => ErrorCode::DigestInvalid,
                content::ContentError::SizeMismatch { .. } => ErrorCode::SizeInvalid,
                content::ContentError::Read(_) => ErrorCode::BlobUploadInvalid,
                content::ContentError::Io { .. } => ErrorCode::Unknown,
            },
            RegistryError::Unauthorized { .. } => ErrorCode::Unauthorized,
            RegistryError::Denied(_) => ErrorCode::Denied,
            RegistryError::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            RegistryError::Disabled(_) => ErrorCode::Unsupported,
            RegistryError::Io { .. }
            | RegistryError::Serve { .. }
            | RegistryError::Task(_)
            | RegistryError::Config(_)
            | RegistryError::Tls(_)
            | RegistryError::Locked(_) => ErrorCode::Unknown,
        }
    }

    /// The HTTP status: the code's, except `416` for the range errors.
    pub fn status(&self) -> u16 {
        match self {
            RegistryError::ChunkOutOfOrder { .. } | RegistryError::RangeNotSatisfiable { .. } => {
                416
            }
            _ => self.code().status(),
        }
    }

    /// The stable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self.status() {
            500 => ErrorKind::Internal,
            416 => ErrorKind::InvalidArgument,
            s => ErrorKind::from_http_status(s),
        }
    }

    /// The `detail` member of the error body.
    pub fn detail(&self) -> Value {
        match self {
            RegistryError::DigestInvalid { input, .. } => json!({ "digest": input }),
            RegistryError::DigestMismatch { expected, actual } => {
                json!({ "expected": expected.to_string(), "actual": actual.to_string() })
            }
            RegistryError::BlobUnknown { digest, .. } => json!({ "digest": digest.to_string() }),
            RegistryError::ManifestBlobUnknown { digest, .. } => {
                json!({ "digest": digest.to_string() })
            }
            RegistryError::ManifestUnknown { reference, .. } => json!({ "reference": reference }),
            RegistryError::NameInvalid { name, .. } | RegistryError::NameUnknown(name) => {
                json!({ "name": name })
            }
            RegistryError::ChunkOutOfOrder { start, size } => {
                json!({ "start": start, "size": size })
            }
            RegistryError::Unauthorized { detail, .. } => detail.clone(),
            _ => Value::Null,
        }
    }

    /// The spec's JSON error body: `{"errors":[{"code","message","detail"}]}`.
    pub fn body(&self) -> Value {
        let message = match self.code() {
            // Internal failures keep their paths and causes out of responses; they are logged.
            ErrorCode::Unknown => self.code().message().to_string(),
            _ => self.to_string(),
        };
        json!({ "errors": [{ "code": self.code().as_str(), "message": message, "detail": self.detail() }] })
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| RegistryError::Io { op, path, source }
    }
}

impl From<content::ContentError> for RegistryError {
    fn from(e: content::ContentError) -> Self {
        match e {
            content::ContentError::DigestMismatch { expected, actual } => {
                RegistryError::DigestMismatch { expected, actual }
            }
            other => RegistryError::Content(other),
        }
    }
}

/// Parses a digest given by a client.
pub(crate) fn parse_digest(input: &str) -> Result<Digest, RegistryError> {
    input
        .parse()
        .map_err(|source| RegistryError::DigestInvalid {
            input: input.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_table_statuses() {
        let table = [
            (ErrorCode::BlobUnknown, "BLOB_UNKNOWN", 404),
            (ErrorCode::BlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400),
            (ErrorCode::BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404),
            (ErrorCode::DigestInvalid, "DIGEST_INVALID", 400),
            (ErrorCode::ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400),
            (ErrorCode::ManifestInvalid, "MANIFEST_INVALID", 400),
            (ErrorCode::ManifestUnknown, "MANIFEST_UNKNOWN", 404),
            (ErrorCode::NameInvalid, "NAME_INVALID", 400),
            (ErrorCode::NameUnknown, "NAME_UNKNOWN", 404),
            (ErrorCode::SizeInvalid, "SIZE_INVALID", 400),
            (ErrorCode::Unauthorized, "UNAUTHORIZED", 401),
            (ErrorCode::Denied, "DENIED", 403),
            (ErrorCode::Unsupported, "UNSUPPORTED", 405),
            (ErrorCode::TooManyRequests, "TOOMANYREQUESTS", 429),
        ];
        for (code, s, status) in table {
            assert_eq!(code.as_str(), s);
            assert_eq!(code.status(), status, "{s}");
        }
    }

    #[test]
    fn error_body_shape() {
        let d = Digest::sha256_of(b"x");
        let e = RegistryError::BlobUnknown {
            name: "a/b".into(),
            digest: d.clone(),
        };
        assert_eq!(e.status(), 404);
        assert_eq!(
            e.body(),
            json!({"errors":[{"code":"BLOB_UNKNOWN","message":format!("blob {d} unknown to repository a/b"),"detail":{"digest":d.to_string()}}]})
        );
        let e = RegistryError::DigestMissing;
        assert_eq!(
            e.body(),
            json!({"errors":[{"code":"DIGEST_INVALID","message":"digest missing","detail":null}]})
        );
    }

    #[test]
    fn range_errors_are_416_with_spec_code() {
        let e = RegistryError::ChunkOutOfOrder { start: 5, size: 0 };
        assert_eq!(e.status(), 416);
        assert_eq!(e.code(), ErrorCode::BlobUploadInvalid);
        assert_eq!(RegistryError::RangeNotSatisfiable { size: 3 }.status(), 416);
    }

    #[test]
    fn internal_errors_hide_paths() {
        let e = RegistryError::io("read", "/secret/path")(io::Error::other("boom"));
        assert_eq!(e.status(), 500);
        assert!(!e.body().to_string().contains("/secret/path"));
    }
}
