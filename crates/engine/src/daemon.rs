//! `berth daemon`: open the engine's state, re-adopt running containers, serve the Docker
//! Engine API on a unix socket until SIGINT or SIGTERM. Containers keep running when the daemon
//! stops: their shims own them.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::container::{Engine, Paths};
use crate::error::EngineError;

/// How `berth daemon` was started.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Unix socket path the API listens on (`/run/berth/berth.sock`).
    pub socket: PathBuf,
    /// Data root (`/var/lib/berth`).
    pub root: PathBuf,
    /// Exec root (`/run/berth`).
    pub exec_root: PathBuf,
    /// Default runtime: `berth` or an external OCI runtime binary such as `runc`.
    pub runtime: String,
    /// Path of the berth binary, exec'd as `berth shim` for each container.
    pub self_exe: PathBuf,
    /// Registries reached without TLS verification, with plain-HTTP fallback (`host:port`
    /// or CIDR); loopback always is.
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates per registry: `<dir>/<host:port>/*.crt` (Docker's certs.d).
    pub certs_dir: Option<PathBuf>,
    /// Bridge device of the default network (`berth0`); `none` turns bridge networking off.
    pub bridge: String,
    /// Subnet of the default network (None: the first free default pool).
    pub bip: Option<String>,
    /// berth's nftables table (`berth`).
    pub nft_table: String,
    /// Default json-file `--log-opt`s (`max-size`, `max-file`) for new containers.
    pub log_opts: std::collections::BTreeMap<String, String>,
}

/// Error that stops the daemon from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The socket could not be bound.
    #[error("cannot listen on {path}")]
    Listen {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Another daemon answers on the socket.
    #[error("a daemon is already listening on {0}: stop it first or pass another --host")]
    AlreadyRunning(PathBuf),
    /// A flag has a bad value.
    #[error("{0}")]
    Config(String),
    /// The engine's state could not be opened.
    #[error("cannot open the engine state")]
    Engine(#[source] EngineError),
    /// Serving failed.
    #[error("serving the API failed")]
    Serve(#[source] std::io::Error),
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(config: DaemonConfig) -> Result<(), DaemonError> {
    let paths = Paths {
        root: config.root.clone(),
        exec_root: config.exec_root.clone(),
    };
    let net = if config.bridge == "none" {
        None
    } else {
        let mut n = net::manager::Config::new(&config.root, &config.exec_root);
        if config.bridge.is_empty() || config.bridge.len() > 15 {
            return Err(DaemonError::Config(format!(
                "invalid --bridge {:?}: an interface name of 1 to 15 characters",
                config.bridge
            )));
        }
        n.default_bridge = config.bridge.clone();
        n.table = config.nft_table.clone();
        if let Some(bip) = &config.bip {
            // As dockerd: the bridge's own address with its prefix (`172.17.0.1/16`); a
            // network address (`172.17.0.0/16`) gives the first host as the gateway.
            let bad = |e: net::ipam::IpamError| DaemonError::Config(format!("--bip: {e}"));
            match bip.parse::<net::ipam::Ipv4Net>() {
                Ok(subnet) => n.default_subnet = Some(subnet),
                Err(net::ipam::IpamError::HostBits { .. }) => {
                    let (ip, prefix) = bip.split_once('/').unwrap_or((bip, ""));
                    let ip = net::ipam::parse_addr(ip).map_err(bad)?;
                    let prefix: u8 = prefix
                        .parse()
                        .map_err(|_| bad(net::ipam::IpamError::BadSubnet(bip.clone())))?;
                    let subnet = net::ipam::Ipv4Net::new(ip, prefix);
                    if subnet.broadcast() == ip {
                        return Err(DaemonError::Config(format!(
                            "--bip: {bip}: the broadcast address cannot be the bridge's"
                        )));
                    }
                    n.default_subnet = Some(subnet);
                    n.default_gateway = Some(ip);
                }
                Err(e) => return Err(bad(e)),
            }
        }
        n.runtime = Some(tokio::runtime::Handle::current());
        Some(n)
    };
    if let Some(parent) = config.socket.parent() {
        std::fs::create_dir_all(parent).map_err(|source| DaemonError::Listen {
            path: config.socket.clone(),
            source,
        })?;
    }
    if tokio::net::UnixStream::connect(&config.socket)
        .await
        .is_ok()
    {
        return Err(DaemonError::AlreadyRunning(config.socket.clone()));
    }
    let _ = std::fs::remove_file(&config.socket);
    let listener =
        tokio::net::UnixListener::bind(&config.socket).map_err(|source| DaemonError::Listen {
            path: config.socket.clone(),
            source,
        })?;
    let _ = std::fs::set_permissions(&config.socket, std::fs::Permissions::from_mode(0o660));
    let engine = Engine::open_with(paths, config.runtime.clone(), config.self_exe.clone(), net)
        .await
        .map_err(DaemonError::Engine)?;
    engine
        .set_default_log_opts(config.log_opts.clone())
        .map_err(|e| DaemonError::Config(format!("--log-opt: {e}")))?;
    engine.set_registries(image::distribution::TransportConfig {
        insecure: config.insecure_registries.clone(),
        certs_dir: config.certs_dir.clone(),
        ..image::distribution::TransportConfig::default()
    });
    tracing::info!(socket = %config.socket.display(), root = %config.root.display(), runtime = %config.runtime, "berth daemon listening");
    crate::idle_trim::spawn();
    let app = crate::api::app(engine);
    let service = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(DaemonError::Serve)?;
    let _ = std::fs::remove_file(&config.socket);
    tracing::info!("berth daemon stopped; containers keep running under their shims");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
