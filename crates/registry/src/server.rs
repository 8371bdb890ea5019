//! The listener: plain HTTP/1.1 or TLS (rustls) over TCP, one task per connection, graceful
//! shutdown (stop accepting, let requests in flight finish for [`crate::SHUTDOWN_GRACE`], then
//! close), and the maintenance task (stale upload purge and online GC).

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::{GcConfig, TlsConfig, UploadsConfig};
use crate::error::RegistryError;
use crate::metrics::Metrics;
use crate::store::RegistryStore;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the TLS acceptor from PEM files.
pub fn tls_acceptor(tls: &TlsConfig) -> Result<tokio_rustls::TlsAcceptor, RegistryError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert)
        .map_err(|e| RegistryError::Tls(format!("reading {}: {e}", tls.cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| RegistryError::Tls(format!("parsing {}: {e}", tls.cert.display())))?;
    if certs.is_empty() {
        return Err(RegistryError::Tls(format!(
            "no certificate in {}",
            tls.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| RegistryError::Tls(format!("reading key {}: {e}", tls.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| RegistryError::Tls(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until `stop` turns true, then waits up to `grace` for open
/// connections to finish their requests.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) -> Result<(), RegistryError> {
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            let _alive = alive;
            match tls {
                None => serve_connection(stream, app, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => serve_connection(s, app, stop).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "tls handshake failed"),
                        Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    drop(alive_tx);
    if tokio::time::timeout(grace, alive_rx.recv()).await.is_err() {
        tracing::warn!("in-flight requests did not finish in time; closing them");
    }
    Ok(())
}

async fn serve_connection<S>(io: S, app: Router, mut stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        async move {
            let res = tower::ServiceExt::oneshot(app, req.map(Body::new)).await;
            Ok::<_, Infallible>(match res {
                Ok(r) => r,
                Err(never) => match never {},
            })
        }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    let mut conn = std::pin::pin!(conn);
    if *stop.borrow() {
        conn.as_mut().graceful_shutdown();
    }
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stop.changed() => {}
    }
    // Shutdown: finish the request in flight (an upload may complete or fail cleanly; its
    // session stays on disk until purged), then close.
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended with an error during shutdown");
    }
}

/// Purges stale upload sessions every `uploads.purge_interval` (the server purges once before
/// it starts); runs online GC every `gc.interval` when it is not zero, and at once on SIGUSR1
/// (the admin trigger). Returns when `stop` turns true.
pub(crate) async fn maintenance(
    store: Arc<RegistryStore>,
    metrics: Arc<Metrics>,
    gc: GcConfig,
    uploads: UploadsConfig,
    mut stop: watch::Receiver<bool>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut usr1 = match signal(SignalKind::user_defined1()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGUSR1; no on-demand gc");
            None
        }
    };
    let tick = |d: Duration| (!d.is_zero()).then(|| tokio::time::Instant::now() + d);
    let mut next_purge = tick(uploads.purge_interval);
    let mut next_gc = tick(gc.interval);
    loop {
        let wake = match (next_purge, next_gc) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (Some(a), None) | (None, Some(a)) => Some(a),
            (None, None) => None,
        };
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let requested = async {
            match usr1.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        let mut run_gc = false;
        tokio::select! {
            _ = sleep => {}
            _ = requested => {
                tracing::info!("gc requested by SIGUSR1");
                run_gc = true;
            }
            _ = stop.changed() => return,
        }
        let now = tokio::time::Instant::now();
        if next_purge.is_some_and(|t| t <= now) {
            let (s, max_age) = (store.clone(), uploads.purge_after);
            match tokio::task::spawn_blocking(move || s.purge_uploads(max_age)).await {
                Ok(Ok(n)) => metrics.record_purge(n),
                Ok(Err(e)) => tracing::warn!(error = %e, "purging stale uploads failed"),
                Err(e) => tracing::warn!(error = %e, "purge task failed"),
            }
            next_purge = tick(uploads.purge_interval);
        }
        if run_gc || next_gc.is_some_and(|t| t <= now) {
            let (s, grace) = (store.clone(), gc.grace);
            match tokio::task::spawn_blocking(move || crate::gc::collect(&s, grace)).await {
                Ok(Ok(r)) => {
                    metrics.record_gc(r.blobs_deleted);
                    tracing::info!(
                        marked = r.blobs_marked,
                        deleted = r.blobs_deleted,
                        bytes = r.bytes_freed,
                        "online gc finished"
                    );
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "online gc failed"),
                Err(e) => tracing::warn!(error = %e, "online gc task failed"),
            }
            next_gc = tick(gc.interval);
        }
    }
}

/// Whether a path names an existing file (for config checks with a clear message).
pub(crate) fn must_exist(what: &str, path: &Path) -> Result<(), RegistryError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(RegistryError::Config(format!(
            "{what} {} does not exist",
            path.display()
        )))
    }
}
