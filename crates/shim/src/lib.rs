//! The per-container supervisor process (`berth shim`). Work in progress.

use std::path::PathBuf;

/// Arguments of the hidden `berth shim` subcommand.
#[derive(Debug, Clone)]
pub struct ShimArgs {
    /// Full container id.
    pub id: String,
    /// Directory holding the container's shim state (socket, bundle) under the exec root.
    pub state_dir: PathBuf,
    /// Directory holding the container's persistent files (log, exit status) under the data root.
    pub data_dir: PathBuf,
    /// `berth` for the built-in runtime or the path/name of an external OCI runtime binary.
    pub runtime: String,
}

/// Runs the shim until the container has exited and its exit is recorded. Returns the process
/// exit code for the shim itself.
pub fn run(args: ShimArgs) -> i32 {
    let _ = args;
    1
}
