//! Hidden plumbing wired to the lead's crates: `daemon` (engine), `shim` and `runtime run`.

use std::path::PathBuf;

use crate::args::{DaemonArgs, RuntimeArgs, RuntimeCommand, ShimArgs};
use crate::error::StatusError;

/// `berth shim`: runs on the calling thread, before any tokio runtime or logging thread exists
/// (the shim must stay single-threaded); never returns.
pub fn shim(args: ShimArgs) -> ! {
    std::process::exit(shim::run(shim::ShimArgs {
        id: args.id,
        state_dir: args.state_dir,
        data_dir: args.data_dir,
        runtime: args.runtime,
    }))
}

/// `berth runtime run --bundle DIR [--root DIR] ID`.
pub fn runtime(args: RuntimeArgs) -> anyhow::Result<i32> {
    match args.command {
        RuntimeCommand::Run { bundle, root, id } => {
            // TODO(lead): wire runtime::run_bundle once the runtime crate exports it, e.g.
            // `Ok(runtime::run_bundle(&bundle, root.as_deref(), &id)?)`.
            let _ = (bundle, root, id);
            Err(StatusError::new(
                1,
                "Error: berth runtime run is not available yet: runtime::run_bundle is not implemented",
            )
            .into())
        }
    }
}

/// `berth daemon`: builds the engine's config and serves until SIGINT/SIGTERM.
pub fn daemon(args: DaemonArgs) -> anyhow::Result<i32> {
    let host = crate::host::parse(&args.host)?;
    let cfg = engine::daemon::DaemonConfig {
        socket: host.socket,
        root: args.root,
        exec_root: args.exec_root,
        runtime: args.runtime,
        self_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(engine::daemon::run(cfg))?;
    Ok(0)
}
