//! HTTP(S) to registries: one connection per request (hyper's HTTP/1.1 client over TCP or
//! rustls), connect and response timeouts, redirects, and the per-host choice of HTTPS or
//! plain HTTP.
//!
//! TLS: the system roots (`rustls-native-certs`) plus any `*.crt` under
//! `<certs_dir>/<host>/` (Docker's `certs.d` layout). Registries that are insecure — loopback
//! addresses, and those configured with `--insecure-registry` — are tried with HTTPS without
//! verification first and fall back to plain HTTP, as Docker does.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderValue, HOST, LOCATION, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::DistributionError;

/// A request body: empty, in memory, or streamed.
pub type ReqBody = BoxBody<Bytes, io::Error>;

/// An empty request body.
pub fn empty() -> ReqBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A request body held in memory.
pub fn full(bytes: impl Into<Bytes>) -> ReqBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A streamed request body fed through a channel (the sender side writes chunks; dropping it
/// ends the body; sending an error aborts the request).
pub fn channel(capacity: usize) -> (mpsc::Sender<io::Result<Bytes>>, ReqBody) {
    let (tx, rx) = mpsc::channel(capacity);
    (tx, ChannelBody { rx }.boxed())
}

struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// An absolute URL, split as the client needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// `host[:port]` as written.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// A URL on `authority` with `path` (which starts with `/`).
    pub fn new(scheme: Scheme, authority: &str, path: &str) -> Url {
        Url {
            scheme,
            authority: authority.to_string(),
            path: path.to_string(),
        }
    }

    /// Parses an absolute `http(s)://host[:port]/path?query` URL.
    pub fn parse(s: &str) -> Option<Url> {
        let (scheme, rest) = if let Some(r) = s.strip_prefix("https://") {
            (Scheme::Https, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (Scheme::Http, r)
        } else {
            return None;
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        Some(Url::new(scheme, authority, &path))
    }

    /// `location` (absolute, or a path on this URL's host) resolved against this URL.
    pub fn join(&self, location: &str) -> Option<Url> {
        if location.starts_with("http://") || location.starts_with("https://") {
            Url::parse(location)
        } else if location.starts_with('/') {
            Some(Url::new(self.scheme, &self.authority, location))
        } else {
            None
        }
    }

    /// The host part without the port (brackets of an IPv6 literal removed).
    pub fn host(&self) -> &str {
        host_of(&self.authority)
    }

    fn port(&self) -> u16 {
        let a = &self.authority;
        let after_host = if a.starts_with('[') {
            a.find(']').map(|i| &a[i + 1..]).unwrap_or("")
        } else {
            a.rfind(':').map(|i| &a[i..]).unwrap_or("")
        };
        after_host
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(match self.scheme {
                Scheme::Http => 80,
                Scheme::Https => 443,
            })
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority,
            self.path
        )
    }
}

fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

/// How the daemon reaches registries.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// Registries (`host[:port]`, or a CIDR like `10.0.0.0/8`) reached without TLS
    /// verification and with plain-HTTP fallback. Loopback is always insecure.
    pub insecure: Vec<String>,
    /// Docker's `certs.d`: extra CA certificates in `<dir>/<host[:port]>/*.crt`.
    pub certs_dir: Option<PathBuf>,
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a response's head to arrive.
    pub response_timeout: Duration,
    /// Loopback registries are insecure (Docker's default). Tests turn this off to check
    /// verified TLS against a loopback server.
    pub loopback_insecure: bool,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            insecure: Vec::new(),
            certs_dir: None,
            connect_timeout: Duration::from_secs(15),
            response_timeout: Duration::from_secs(60),
            loopback_insecure: true,
        }
    }
}

/// The registry HTTP client. Cheap to share (`Arc`).
pub struct Transport {
    config: TransportConfig,
    unverified: Arc<rustls::ClientConfig>,
    roots: Arc<rustls::RootCertStore>,
    tls: Mutex<HashMap<String, Arc<rustls::ClientConfig>>>,
    schemes: Mutex<HashMap<String, Scheme>>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Transport {
    /// A transport with the system's root certificates.
    pub fn new(config: TransportConfig) -> Transport {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!(error = %e, "could not load a system root certificate");
        }
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, "loaded system root certificates");
        let unverified = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
            .with_no_client_auth();
        Transport {
            config,
            unverified: Arc::new(unverified),
            roots: Arc::new(roots),
            tls: Mutex::new(HashMap::new()),
            schemes: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `authority` (`host[:port]`) is an insecure registry.
    pub fn is_insecure(&self, authority: &str) -> bool {
        let host = host_of(authority);
        let ip: Option<IpAddr> = host.parse().ok();
        if self.config.loopback_insecure
            && (host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()))
        {
            return true;
        }
        self.config.insecure.iter().any(|entry| {
            entry == authority
                || entry == host
                || ip.is_some_and(|ip| cidr_contains(entry, ip).unwrap_or(false))
        })
    }

    /// The scheme to reach registry `authority` with: HTTPS, or for an insecure registry
    /// whatever its `/v2/` answered on (HTTPS tried first).
    pub async fn scheme_for(&self, authority: &str) -> Result<Scheme, DistributionError> {
        if !self.is_insecure(authority) {
            return Ok(Scheme::Https);
        }
        if let Some(s) = self.lock_schemes().get(authority) {
            return Ok(*s);
        }
        let probe = Url::new(Scheme::Https, authority, "/v2/");
        let scheme = match self
            .send_once(Method::GET, &probe, HeaderMap::new(), empty())
            .await
        {
            Ok(_) => Scheme::Https,
            Err(e) => {
                tracing::debug!(registry = authority, error = %e, "https failed; using http");
                Scheme::Http
            }
        };
        self.lock_schemes().insert(authority.to_string(), scheme);
        Ok(scheme)
    }

    fn lock_schemes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Scheme>> {
        self.schemes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tls_config(&self, authority: &str) -> Arc<rustls::ClientConfig> {
        if self.is_insecure(authority) {
            return self.unverified.clone();
        }
        let mut cache = self.tls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(authority) {
            return c.clone();
        }
        let mut roots = (*self.roots).clone();
        if let Some(dir) = &self.config.certs_dir {
            for cert in extra_certs(&dir.join(authority)) {
                if let Err(e) = roots.add(cert) {
                    tracing::warn!(registry = authority, error = %e, "ignoring a certs.d certificate");
                }
            }
        }
        let config = Arc::new(
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        cache.insert(authority.to_string(), config.clone());
        config
    }

    /// Sends a request, following up to five redirects for GET and HEAD (dropping the
    /// `Authorization` header when the redirect leaves the host).
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: ReqBody,
    ) -> Result<Response<Incoming>, DistributionError> {
        let mut url = url.clone();
        let mut headers = headers;
        let follow = method == Method::GET || method == Method::HEAD;
        let mut body = Some(body);
        for _ in 0..6 {
            let resp = self
                .send_once(
                    method.clone(),
                    &url,
                    headers.clone(),
                    body.take().unwrap_or_else(empty),
                )
                .await?;
            let redirect = matches!(
                resp.status(),
                StatusCode::MOVED_PERMANENTLY
                    | StatusCode::FOUND
                    | StatusCode::SEE_OTHER
                    | StatusCode::TEMPORARY_REDIRECT
                    | StatusCode::PERMANENT_REDIRECT
            );
            if !(follow && redirect) {
                return Ok(resp);
            }
            let Some(next) = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l))
            else {
                return Ok(resp);
            };
            if next.authority != url.authority {
                headers.remove(hyper::header::AUTHORIZATION);
            }
            url = next;
        }
        Err(DistributionError::Protocol(format!(
            "{method} {url}: too many redirects"
        )))
    }

    async fn send_once(
        &self,
        method: Method,
        url: &Url,
        headers: HeaderMap,
        body: ReqBody,
    ) -> Result<Response<Incoming>, DistributionError> {
        let net = |cause: io::Error| DistributionError::Network {
            method: method.to_string(),
            url: url.to_string(),
            cause,
        };
        let addr = (url.host().to_string(), url.port());
        let tcp = tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| net(io::Error::new(io::ErrorKind::TimedOut, "i/o timeout")))?
            .map_err(net)?;
        tcp.set_nodelay(true).map_err(net)?;
        let mut req = Request::builder()
            .method(method.clone())
            .uri(url.path.as_str())
            .body(body)
            .map_err(|e| DistributionError::Protocol(format!("bad request for {url}: {e}")))?;
        *req.headers_mut() = headers;
        req.headers_mut().insert(
            HOST,
            HeaderValue::from_str(&url.authority)
                .map_err(|_| DistributionError::Protocol(format!("bad host in {url}")))?,
        );
        req.headers_mut()
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(concat!(
                "berth/",
                env!("CARGO_PKG_VERSION")
            )));
        let fut = async {
            match url.scheme {
                Scheme::Http => exchange(TokioIo::new(tcp), req).await,
                Scheme::Https => {
                    let name = ServerName::try_from(url.host().to_string()).map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidInput, "invalid server name")
                    })?;
                    let tls = tokio_rustls::TlsConnector::from(self.tls_config(&url.authority))
                        .connect(name, tcp)
                        .await?;
                    exchange(TokioIo::new(tls), req).await
                }
            }
        };
        tokio::time::timeout(self.config.response_timeout, fut)
            .await
            .map_err(|_| {
                net(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "timeout awaiting response headers",
                ))
            })?
            .map_err(net)
    }
}

async fn exchange<T>(io: T, req: Request<ReqBody>) -> io::Result<Response<Incoming>>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "registry connection ended");
        }
    });
    sender.send_request(req).await.map_err(io::Error::other)
}

fn extra_certs(dir: &std::path::Path) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "crt") {
            match CertificateDer::pem_file_iter(&p) {
                Ok(it) => out.extend(it.flatten()),
                Err(err) => {
                    tracing::warn!(file = %p.display(), error = %err, "unreadable certificate")
                }
            }
        }
    }
    out
}

/// Whether `cidr` (`a.b.c.d/n`) holds `ip`; `None` if it is not a CIDR.
fn cidr_contains(cidr: &str, ip: IpAddr) -> Option<bool> {
    let (net, bits) = cidr.split_once('/')?;
    let net: IpAddr = net.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            Some(u32::from(n) & mask == u32::from(i) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            Some(u128::from(n) & mask == u128::from(i) & mask)
        }
        _ => Some(false),
    }
}

/// Accepts any server certificate: only for registries the operator marked insecure (and
/// loopback), as Docker does.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_join() {
        let u = Url::parse("http://127.0.0.1:5000/v2/a/blobs/uploads/x?_state=1").unwrap();
        assert_eq!(u.authority, "127.0.0.1:5000");
        assert_eq!(u.port(), 5000);
        assert_eq!(u.host(), "127.0.0.1");
        assert_eq!(u.path, "/v2/a/blobs/uploads/x?_state=1");
        let j = u.join("/v2/a/blobs/uploads/y").unwrap();
        assert_eq!(j.to_string(), "http://127.0.0.1:5000/v2/a/blobs/uploads/y");
        let s = Url::parse("https://auth.example.com?x=1").unwrap();
        assert_eq!((s.port(), s.path.as_str()), (443, "/?x=1"));
        assert_eq!(Url::parse("https://[::1]:8443/").unwrap().host(), "::1");
        assert!(Url::parse("ftp://x/").is_none());
        assert!(Url::parse("http://user@host/").is_none());
    }

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        let t = Transport::new(TransportConfig {
            insecure: vec!["myreg:5000".into(), "10.0.0.0/8".into()],
            ..TransportConfig::default()
        });
        assert!(t.is_insecure("127.0.0.1:5000"));
        assert!(t.is_insecure("localhost:5000"));
        assert!(t.is_insecure("[::1]:5000"));
        assert!(t.is_insecure("myreg:5000"));
        assert!(t.is_insecure("10.1.2.3:443"));
        assert!(!t.is_insecure("myreg:5001"));
        assert!(!t.is_insecure("registry-1.docker.io"));
    }
}
