//! Hidden plumbing wired to the lead's crates: `daemon` (engine), `shim` and `runtime run`.

use std::path::PathBuf;

use anyhow::Context;

use crate::args::{
    DaemonArgs, RegistryArgs, RegistryCommand, RuntimeArgs, RuntimeCommand, ShimArgs,
};
use crate::error::StatusError;

/// `berth shim`: runs on the calling thread, before any tokio runtime or logging thread exists
/// (the shim must stay single-threaded); never returns.
/// With `--cleanup` it removes what a dead shim left behind instead.
pub fn shim(args: ShimArgs) -> ! {
    let cleanup = args.cleanup;
    let shim_args = shim::ShimArgs {
        id: args.id,
        state_dir: args.state_dir,
        data_dir: args.data_dir,
        runtime: args.runtime,
    };
    if cleanup {
        std::process::exit(shim::cleanup(&shim_args))
    }
    std::process::exit(shim::run(shim_args))
}

/// State root of `berth runtime` when `--root` is not given.
pub const DEFAULT_RUNTIME_ROOT: &str = "/run/berth/runtime";

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

/// `berth runtime run --bundle DIR [--root DIR] ID`: runs on the calling thread (the runtime
/// is driven only from single-threaded processes), with this process's stdio.
pub fn runtime(args: RuntimeArgs) -> anyhow::Result<i32> {
    match args.command {
        RuntimeCommand::Run { bundle, root, id } => {
            let root = root.unwrap_or_else(|| PathBuf::from(DEFAULT_RUNTIME_ROOT));
            let rt = runtime::BerthRuntime::new(root);
            runtime::run_bundle(&rt, &id, &bundle)
                .map_err(|e| StatusError::new(1, format!("Error: {}", error_chain(&e))).into())
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
        insecure_registries: args.insecure_registries,
        certs_dir: Some(args.certs_dir),
        bridge: args.bridge,
        bip: args.bip,
        nft_table: args.nft_table,
        log_opts: crate::opts::labels(&args.log_opts),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(engine::daemon::run(cfg))?;
    Ok(0)
}

/// `berth registry`: serves the OCI distribution API until SIGINT/SIGTERM; `registry gc`
/// deletes unreferenced blobs (offline).
pub fn registry(args: RegistryArgs) -> anyhow::Result<i32> {
    match args.command {
        Some(RegistryCommand::Gc(gc)) => {
            let r = registry::gc(&gc.root)
                .with_context(|| format!("garbage-collecting registry at {}", gc.root.display()))?;
            println!(
                "marked {} blobs, deleted {} blobs ({} bytes), removed {} links",
                r.blobs_marked, r.blobs_deleted, r.bytes_freed, r.links_removed
            );
            Ok(0)
        }
        None => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let mut config = match &args.config {
                Some(path) => registry::RegistryConfig::load(path)?,
                None => registry::RegistryConfig::new(
                    std::net::SocketAddr::from(([127, 0, 0, 1], 5000)),
                    "/var/lib/berth/registry",
                ),
            };
            if let Some(addr) = args.addr {
                config.addr = addr;
            }
            if let Some(root) = args.root {
                config.root = root;
            }
            config.insecure |= args.insecure;
            rt.block_on(registry::serve(config))?;
            Ok(0)
        }
    }
}
