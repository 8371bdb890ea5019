//! The stable error classes every module error maps to, and their HTTP status.
//!
//! Servers map a kind to a status in exactly one place ([`ErrorKind::http_status`]); clients map a
//! status back to a kind ([`ErrorKind::from_http_status`]) so they choose exit codes without
//! parsing message text.

/// What went wrong, independent of the module that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The named object does not exist (404).
    NotFound,
    /// An object with that name already exists (409).
    AlreadyExists,
    /// The request itself is malformed or names an invalid value (400).
    InvalidArgument,
    /// The object is in a state that forbids the operation (409).
    Conflict,
    /// The operation needs a precondition that does not hold, e.g. start of a running container
    /// (304 for Docker's no-op start/stop).
    NotModified,
    /// The caller is not allowed to do this (403).
    PermissionDenied,
    /// The caller did not authenticate (401).
    Unauthenticated,
    /// A dependency is not reachable (503).
    Unavailable,
    /// Anything else: a bug or an unexpected system failure (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status a server answers with for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists | ErrorKind::Conflict => 409,
            ErrorKind::InvalidArgument => 400,
            ErrorKind::NotModified => 304,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// The kind a client infers from an HTTP status.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            400 | 422 => ErrorKind::InvalidArgument,
            304 => ErrorKind::NotModified,
            403 => ErrorKind::PermissionDenied,
            401 => ErrorKind::Unauthenticated,
            503 => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_for_distinct_kinds() {
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::InvalidArgument,
            ErrorKind::NotModified,
            ErrorKind::PermissionDenied,
            ErrorKind::Unauthenticated,
            ErrorKind::Unavailable,
            ErrorKind::Internal,
        ] {
            assert_eq!(ErrorKind::from_http_status(kind.http_status()), kind);
        }
        assert_eq!(
            ErrorKind::from_http_status(ErrorKind::AlreadyExists.http_status()),
            ErrorKind::Conflict
        );
    }
}
