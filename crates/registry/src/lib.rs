//! berth's OCI distribution (v1.1) registry server, `berth registry`, over the content store.
//!
//! Place in the crate graph: `cli -> registry -> content -> api`. Entry points: [`serve`] (bind
//! and serve until SIGINT/SIGTERM), [`router`] (the HTTP API as an axum router, for tests and
//! embedding), [`RegistryStore`] (the storage layer without HTTP) and [`gc()`] (offline garbage
//! collection).
//!
//! Terms: a *repository* (`<name>`, may contain `/`) *links* blobs and manifests that live once
//! in the content store; a *tag* points at a manifest digest; an *upload session* collects a
//! blob's bytes under `uploads/` until the client names its digest, which is verified before the
//! blob becomes visible. See [`store`] for the on-disk layout.
//!
//! Non-goals of this slice: authentication (basic, bearer tokens), TLS, metrics, online GC with
//! a grace period, purging abandoned uploads, the `?tag=` and `digest-algorithm` draft
//! extensions. The server speaks HTTP/1.1 only.

mod api;
mod error;
mod gc;
pub mod manifest;
pub mod name;
pub mod range;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use api::{router, API_VERSION_HEADER};
pub use error::{ErrorCode, RegistryError};
pub use gc::{gc, GcReport};
pub use store::RegistryStore;

/// How long in-flight requests may run after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What `berth registry` serves.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Listen address, e.g. `127.0.0.1:5000`.
    pub addr: SocketAddr,
    /// Data root (`content/`, `repositories/`, `uploads/` below it).
    pub root: PathBuf,
}

/// Binds `config.addr` and serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve(config: RegistryConfig) -> Result<(), RegistryError> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| RegistryError::Serve {
            addr: config.addr.to_string(),
            source,
        })?;
    serve_listener(listener, config).await
}

/// Like [`serve`] on an already bound listener (tests bind port 0). `config.addr` is ignored.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    config: RegistryConfig,
) -> Result<(), RegistryError> {
    serve_with_shutdown(listener, config, shutdown_signal()).await
}

/// Serves on `listener` until `shutdown` completes, then stops accepting and lets in-flight
/// requests finish for at most [`SHUTDOWN_GRACE`].
pub async fn serve_with_shutdown(
    listener: tokio::net::TcpListener,
    config: RegistryConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RegistryError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let root = config.root.clone();
    let store = tokio::task::spawn_blocking(move || RegistryStore::open(&root))
        .await
        .map_err(|e| RegistryError::Task(e.to_string()))??;
    let app = router(store);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop_rx.changed().await;
    });
    let mut task = tokio::spawn(async move { server.await });
    tracing::info!(addr = %addr, root = %config.root.display(), "registry listening");
    let serve_err = |source| RegistryError::Serve {
        addr: addr.clone(),
        source,
    };
    tokio::select! {
        done = &mut task => {
            return done.map_err(|e| RegistryError::Task(e.to_string()))?.map_err(serve_err);
        }
        () = shutdown => {}
    }
    tracing::info!("registry shutting down");
    let _ = stop_tx.send(true);
    match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
        Ok(done) => done
            .map_err(|e| RegistryError::Task(e.to_string()))?
            .map_err(serve_err),
        Err(_) => {
            tracing::warn!("in-flight requests did not finish in time; closing them");
            task.abort();
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
