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
//! Around the API: authentication ([`auth`]: htpasswd basic auth, bearer tokens from the
//! built-in `/token` service, access rules per repository pattern), TLS via rustls, the YAML
//! configuration ([`config`]), `/metrics` ([`metrics`]), access logs (target
//! `registry::access`), online GC and purging of stale uploads. Not here: the `?tag=` and
//! `digest-algorithm` draft extensions, HTTP/2, third-party token issuers.

mod api;
pub mod auth;
pub mod config;
mod error;
mod gc;
pub mod manifest;
pub mod metrics;
pub mod name;
pub mod range;
mod server;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use api::{app_router, router, App, API_VERSION_HEADER, MAX_MANIFEST_BYTES};
pub use config::RegistryConfig;
pub use error::{ErrorCode, RegistryError};
pub use gc::{collect, gc, GcReport};
pub use server::tls_acceptor;
pub use store::RegistryStore;

/// How long in-flight requests may run after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Binds `config.addr` and serves until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn serve(config: RegistryConfig) -> Result<(), RegistryError> {
    config.validate()?;
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

/// Builds the shared state (store, auth, metrics) for `config`. Blocking (reads files).
pub fn build_app(config: &RegistryConfig) -> Result<App, RegistryError> {
    let store = RegistryStore::open(&config.root)?;
    let auth = match &config.auth {
        None => None,
        Some(a) => {
            if let Some(h) = &a.htpasswd {
                server::must_exist("htpasswd file", h)?;
            }
            Some(auth::Auth::from_config(
                a,
                config.access.clone(),
                &config.root,
            )?)
        }
    };
    let mut app = App::new(store);
    app.auth = auth;
    app.delete_enabled = config.delete.enabled;
    app.max_sessions = config.uploads.max_sessions;
    app.tls = config.tls.is_some();
    Ok(app)
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
    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let root = config.root.clone();
    let _lock = tokio::task::spawn_blocking(move || store::RootLock::acquire(&root))
        .await
        .map_err(|e| RegistryError::Task(e.to_string()))??;
    let cfg = config.clone();
    let app = tokio::task::spawn_blocking(move || build_app(&cfg))
        .await
        .map_err(|e| RegistryError::Task(e.to_string()))??;
    let app = Arc::new(app);
    // Leftover sessions are purged before the first request, so a restart starts clean.
    let (store, max_age) = (app.store.clone(), config.uploads.purge_after);
    match tokio::task::spawn_blocking(move || store.purge_uploads(max_age)).await {
        Ok(Ok(n)) => app.metrics.record_purge(n),
        Ok(Err(e)) => tracing::warn!(error = %e, "purging stale uploads failed"),
        Err(e) => tracing::warn!(error = %e, "purge task failed"),
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let maintenance = tokio::spawn(server::maintenance(
        app.store.clone(),
        app.metrics.clone(),
        config.gc.clone(),
        config.uploads.clone(),
        stop_rx.clone(),
    ));
    tracing::info!(
        addr = %addr,
        root = %config.root.display(),
        tls = tls.is_some(),
        auth = app.auth.is_some(),
        "registry listening"
    );
    let server = tokio::spawn(server::accept_loop(
        listener,
        app_router(app.clone()),
        tls,
        stop_rx,
        SHUTDOWN_GRACE,
    ));
    shutdown.await;
    tracing::info!("registry shutting down");
    let _ = stop_tx.send(true);
    let result = server
        .await
        .map_err(|e| RegistryError::Task(e.to_string()))?;
    let _ = maintenance.await;
    result
}

/// Installs the SIGINT and SIGTERM handlers now (so a signal that arrives while the server
/// starts is not fatal) and returns a future that completes on the first of them.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            (term, int) => {
                if let Err(e) = term.as_ref().and(int.as_ref()) {
                    tracing::warn!(error = %e, "cannot watch SIGTERM or SIGINT");
                }
                std::future::pending::<()>().await;
            }
        }
    }
}
