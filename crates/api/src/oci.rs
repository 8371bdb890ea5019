//! OCI runtime-spec subset. (filled in by the runtime work)
