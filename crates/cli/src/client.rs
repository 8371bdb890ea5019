//! HTTP client for the Docker Engine API over a unix socket, speaking like the docker CLI:
//! `HEAD /_ping` to learn the daemon's `Api-Version`, then `/v{min(1.43, advertised)}/...`
//! paths, JSON bodies, chunked uploads and the `Upgrade: tcp` hijack used by attach.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use api::ErrorKind;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::host::Host;

/// Newest API version this client speaks.
pub const MAX_API_VERSION: &str = "1.43";
/// Version assumed when the daemon does not say (what the docker CLI does).
pub const FALLBACK_API_VERSION: &str = "1.24";

/// Request body type used for every call.
pub type ReqBody = BoxBody<Bytes, io::Error>;

/// A connection upgraded by `Connection: Upgrade`: a raw byte pipe to the container.
pub type Hijacked = TokioIo<hyper::upgrade::Upgraded>;

/// What went wrong talking to the daemon.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing answered on the socket.
    Connect {
        /// The address tried.
        host: String,
        /// Cause.
        source: io::Error,
    },
    /// The socket exists but we may not use it.
    PermissionDenied {
        /// The address tried.
        host: String,
        /// Cause.
        source: io::Error,
    },
    /// The daemon answered with an error status.
    Daemon {
        /// HTTP status.
        status: u16,
        /// The daemon's `message`.
        message: String,
    },
    /// The hijack was not answered with `101`.
    Upgrade {
        /// The status received instead.
        status: u16,
    },
    /// HTTP protocol failure.
    Http(hyper::Error),
    /// Local IO failure.
    Io(io::Error),
    /// The daemon's answer could not be decoded.
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Cause.
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The stable class of a daemon error, from its HTTP status.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ClientError::Daemon { status, .. } => Some(ErrorKind::from_http_status(*status)),
            _ => None,
        }
    }

    /// True when the daemon said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(ErrorKind::NotFound)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { host, .. } => write!(
                f,
                "Cannot connect to the berth daemon at {host}. Is the daemon running? Start it with 'berth daemon'."
            ),
            ClientError::PermissionDenied { host, source } => write!(
                f,
                "permission denied while trying to connect to the berth daemon socket at {host}: {source}"
            ),
            ClientError::Daemon { message, .. } => {
                write!(f, "Error response from daemon: {message}")
            }
            ClientError::Upgrade { status } => {
                write!(f, "unable to upgrade to tcp, received {status}")
            }
            ClientError::Http(e) => write!(f, "error during connect: {e}"),
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Decode { what, source } => {
                write!(f, "cannot decode {what} from the daemon: {source}")
            }
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Connect { source, .. } | ClientError::PermissionDenied { source, .. } => {
                Some(source)
            }
            ClientError::Http(e) => Some(e),
            ClientError::Io(e) => Some(e),
            ClientError::Decode { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Query parameters, encoded like Go's `url.Values.Encode` (sorted by key, `+` for space).
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// An empty query.
    pub fn new() -> Self {
        Query(Vec::new())
    }

    /// Adds a parameter.
    pub fn add(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.push((key.to_string(), value.into()));
        self
    }

    /// Adds `key=1` when `on`.
    pub fn flag(&mut self, key: &str, on: bool) -> &mut Self {
        if on {
            self.add(key, "1");
        }
        self
    }

    /// The encoded query without the leading `?`.
    pub fn encode(&self) -> String {
        let mut pairs = self.0.clone();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Escapes a query component like Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A request body fed from a channel; sent with `Transfer-Encoding: chunked`.
pub struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl ChannelBody {
    /// A body and the sender that feeds it; dropping the sender ends the body.
    pub fn new() -> (mpsc::Sender<io::Result<Bytes>>, ChannelBody) {
        let (tx, rx) = mpsc::channel(4);
        (tx, ChannelBody { rx })
    }
}

/// Copies `reader` into a [`ChannelBody`]'s sender in chunks of up to `chunk` bytes, until EOF,
/// a read error (sent on as the body's error) or the body being dropped.
pub async fn feed<R: tokio::io::AsyncRead + Unpin>(
    mut reader: R,
    tx: mpsc::Sender<io::Result<Bytes>>,
    chunk: usize,
) {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; chunk];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                if tx
                    .send(Ok(Bytes::copy_from_slice(&buf[..n])))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                break;
            }
        }
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// An empty request body (`Content-Length: 0` on POST).
pub fn empty_body() -> ReqBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON request body, encoded compactly with a trailing newline like Go's encoder.
pub fn json_body<T: Serialize>(value: &T) -> ReqBody {
    let mut bytes = serde_json::to_vec(value).expect("request bodies are plain data");
    bytes.push(b'\n');
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed()
}

/// A connection whose last exchange is complete, kept for the next request.
type Idle = Arc<Mutex<Option<SendRequest<ReqBody>>>>;

/// A client bound to one daemon and one negotiated API version.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    /// The API version in request paths; None until negotiated (see [`Client::lazy`]).
    version: Arc<Mutex<Option<String>>>,
    /// The ping's keep-alive connection: the first request after it goes out on it instead
    /// of a new connection (one connect and one accept less per command).
    idle: Idle,
}

/// The version pinned by the environment, if any (no negotiation then, as docker does).
fn pinned_version() -> Option<String> {
    std::env::var("BERTH_API_VERSION")
        .or_else(|_| std::env::var("DOCKER_API_VERSION"))
        .ok()
        .filter(|v| !v.is_empty())
}

impl Client {
    /// Pings the daemon and negotiates the API version.
    pub async fn connect(host: Host) -> Result<Client, ClientError> {
        let client = Client::lazy(host);
        client.api_version().await?;
        Ok(client)
    }

    /// A client that negotiates on its first request instead of with a ping first: a
    /// body-less `GET` goes out at once on this client's newest version; the daemon's answer
    /// carries its `Api-Version`, and a daemon older than this client refuses the path ("client
    /// version ... is too new"), after which the client pings, negotiates and sends the request
    /// again. One round trip less for one-request commands (`ps`, `inspect`), which matters
    /// most when the daemon waits for a CPU.
    pub fn lazy(host: Host) -> Client {
        Client {
            host,
            version: Arc::new(Mutex::new(pinned_version())),
            idle: Idle::default(),
        }
    }

    fn known_version(&self) -> Option<String> {
        self.version.lock().expect("version lock").clone()
    }

    /// The API version used in request paths; pings and negotiates it when not known yet.
    pub async fn api_version(&self) -> Result<String, ClientError> {
        if let Some(v) = self.known_version() {
            return Ok(v);
        }
        let (mut resp, mut sender) = self
            .send_raw_on(Method::HEAD, "/_ping".to_string(), empty_body(), &[])
            .await?;
        if !resp.status().is_success() {
            (resp, sender) = self
                .send_raw_on(Method::GET, "/_ping".to_string(), empty_body(), &[])
                .await?;
        }
        let advertised = resp
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // The answer is read to its end, so the connection is free for the next request.
        if read_bytes(resp).await.is_ok() {
            *self.idle.lock().expect("idle connection lock") = Some(sender);
        }
        let v = negotiate(advertised.as_deref());
        *self.version.lock().expect("version lock") = Some(v.clone());
        Ok(v)
    }

    fn path_for(version: &str, path: &str, query: &Query) -> String {
        let q = query.encode();
        if q.is_empty() {
            format!("/v{version}{path}")
        } else {
            format!("/v{version}{path}?{q}")
        }
    }

    async fn path(&self, path: &str, query: &Query) -> Result<String, ClientError> {
        Ok(Self::path_for(&self.api_version().await?, path, query))
    }

    async fn open(&self) -> Result<SendRequest<ReqBody>, ClientError> {
        let stream = UnixStream::connect(&self.host.socket).await.map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                ClientError::PermissionDenied {
                    host: self.host.display.clone(),
                    source: e,
                }
            } else {
                ClientError::Connect {
                    host: self.host.display.clone(),
                    source: e,
                }
            }
        })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ClientError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!(error = %e, "connection to the daemon ended");
            }
        });
        Ok(sender)
    }

    fn builder(method: Method, uri: &str) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, "api.moby.localhost")
            .header(
                USER_AGENT,
                concat!("Berth-Client/", env!("CARGO_PKG_VERSION"), " (linux)"),
            )
    }

    async fn send_raw(
        &self,
        method: Method,
        uri: String,
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, ClientError> {
        Ok(self.send_raw_on(method, uri, body, headers).await?.0)
    }

    /// Sends a request; returns the answer and the connection's sender. A `GET` or `HEAD`
    /// without a body goes out on the idle connection when there is one: should that
    /// connection turn out closed (a server may drop an idle keep-alive connection at any
    /// time), the request is sent again on a new connection, which is safe for such requests.
    async fn send_raw_on(
        &self,
        method: Method,
        uri: String,
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<(Response<Incoming>, SendRequest<ReqBody>), ClientError> {
        let build = |method: Method, body: ReqBody| {
            let mut b = Self::builder(method, &uri);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            b.body(body)
                .map_err(|e| ClientError::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))
        };
        let replayable = (method == Method::GET || method == Method::HEAD)
            && body.size_hint().exact() == Some(0);
        let idle = if replayable {
            self.idle.lock().expect("idle connection lock").take()
        } else {
            None
        };
        let mut body = Some(body);
        if let Some(mut sender) = idle.filter(|s| s.is_ready()) {
            let req = build(method.clone(), body.take().unwrap_or_else(empty_body))?;
            if let Ok(resp) = sender.send_request(req).await {
                return Ok((resp, sender));
            }
        }
        let mut sender = self.open().await?;
        let req = build(method, body.take().unwrap_or_else(empty_body))?;
        let resp = sender.send_request(req).await.map_err(ClientError::Http)?;
        Ok((resp, sender))
    }

    /// Sends a request on a versioned path; error statuses (>= 400) become [`ClientError::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &Query,
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, ClientError> {
        let replayable = (method == Method::GET || method == Method::HEAD)
            && body.size_hint().exact() == Some(0);
        if self.known_version().is_none() && replayable {
            let uri = Self::path_for(MAX_API_VERSION, path, query);
            let resp = self.send_raw(method.clone(), uri, body, headers).await?;
            let advertised = resp
                .headers()
                .get("api-version")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if resp.status() != StatusCode::BAD_REQUEST {
                self.version
                    .lock()
                    .expect("version lock")
                    .get_or_insert_with(|| negotiate(advertised.as_deref()));
                return check(resp).await;
            }
            let err = match check(resp).await {
                Err(ClientError::Daemon { message, .. }) if message.contains("is too new") => {
                    message
                }
                other => return other,
            };
            tracing::debug!(error = %err, "negotiating the API version");
            let uri = self.path(path, query).await?;
            let resp = self.send_raw(method, uri, empty_body(), headers).await?;
            return check(resp).await;
        }
        let uri = self.path(path, query).await?;
        let resp = self.send_raw(method, uri, body, headers).await?;
        check(resp).await
    }

    /// `GET` a JSON document.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Query,
    ) -> Result<T, ClientError> {
        let resp = self
            .request(Method::GET, path, query, empty_body(), &[])
            .await?;
        read_json(resp).await
    }

    /// `GET` the raw bytes of a JSON document (keeps the daemon's key order).
    pub async fn get_raw(&self, path: &str, query: &Query) -> Result<Bytes, ClientError> {
        let resp = self
            .request(Method::GET, path, query, empty_body(), &[])
            .await?;
        read_bytes(resp).await
    }

    /// `POST` without a body; returns the response (its status may be 304).
    pub async fn post(&self, path: &str, query: &Query) -> Result<Response<Incoming>, ClientError> {
        self.request(Method::POST, path, query, empty_body(), &[])
            .await
    }

    /// `POST` a JSON body and decode a JSON answer.
    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Query,
        body: &B,
    ) -> Result<T, ClientError> {
        let resp = self
            .request(
                Method::POST,
                path,
                query,
                json_body(body),
                &[("content-type", "application/json")],
            )
            .await?;
        read_json(resp).await
    }

    /// `DELETE` and decode a JSON answer, or `Null` when the body is empty.
    pub async fn delete(
        &self,
        path: &str,
        query: &Query,
    ) -> Result<serde_json::Value, ClientError> {
        let resp = self
            .request(Method::DELETE, path, query, empty_body(), &[])
            .await?;
        let bytes = read_bytes(resp).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
            what: "delete answer",
            source,
        })
    }

    /// Hijacks a connection: `POST` with `Connection: Upgrade` / `Upgrade: tcp`, expects `101`.
    pub async fn hijack(&self, path: &str, query: &Query) -> Result<Hijacked, ClientError> {
        self.hijack_with(path, query, empty_body(), "text/plain")
            .await
    }

    /// [`Client::hijack`] with a JSON body (`POST /exec/{id}/start`).
    pub async fn hijack_json<B: Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Hijacked, ClientError> {
        self.hijack_with(path, &Query::new(), json_body(body), "application/json")
            .await
    }

    async fn hijack_with(
        &self,
        path: &str,
        query: &Query,
        body: ReqBody,
        content_type: &str,
    ) -> Result<Hijacked, ClientError> {
        let resp = self
            .send_raw(
                Method::POST,
                self.path(path, query).await?,
                body,
                &[
                    (CONNECTION.as_str(), "Upgrade"),
                    (UPGRADE.as_str(), "tcp"),
                    (CONTENT_TYPE.as_str(), content_type),
                ],
            )
            .await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            if resp.status().as_u16() >= 400 {
                return Err(check(resp)
                    .await
                    .err()
                    .unwrap_or(ClientError::Upgrade { status: 400 }));
            }
            return Err(ClientError::Upgrade {
                status: resp.status().as_u16(),
            });
        }
        let upgraded = hyper::upgrade::on(resp).await.map_err(ClientError::Http)?;
        Ok(TokioIo::new(upgraded))
    }
}

/// The version to use given the daemon's advertised one: `min(MAX, advertised)`, or the fallback.
pub fn negotiate(advertised: Option<&str>) -> String {
    match advertised.and_then(parse_version) {
        Some(v) if v < parse_version(MAX_API_VERSION).expect("constant is valid") => {
            advertised.expect("parsed from it").trim().to_string()
        }
        Some(_) => MAX_API_VERSION.to_string(),
        None => FALLBACK_API_VERSION.to_string(),
    }
}

fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Turns an error status into [`ClientError::Daemon`] with the daemon's message.
pub async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>, ClientError> {
    let status = resp.status();
    if status.as_u16() < 400 {
        return Ok(resp);
    }
    let bytes = read_bytes(resp).await.unwrap_or_default();
    Err(ClientError::Daemon {
        status: status.as_u16(),
        message: error_message(status, &bytes),
    })
}

/// The message of an error body: `{"message": ...}`, else the text, else the status reason.
pub fn error_message(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: String,
    }
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        return e.message;
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if !text.is_empty() {
        return text;
    }
    status
        .canonical_reason()
        .map(str::to_string)
        .unwrap_or_else(|| status.to_string())
}

/// Reads a whole response body.
pub async fn read_bytes(resp: Response<Incoming>) -> Result<Bytes, ClientError> {
    Ok(resp
        .into_body()
        .collect()
        .await
        .map_err(ClientError::Http)?
        .to_bytes())
}

/// Reads and decodes a JSON response body.
pub async fn read_json<T: DeserializeOwned>(resp: Response<Incoming>) -> Result<T, ClientError> {
    let bytes = read_bytes(resp).await?;
    serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
        what: "response",
        source,
    })
}

/// Reads the next data chunk of a streamed body, `None` at the end.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, ClientError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(ClientError::Http(e)),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_caps_at_max_and_falls_back() {
        assert_eq!(negotiate(Some("1.41")), "1.41");
        assert_eq!(negotiate(Some("1.43")), "1.43");
        assert_eq!(negotiate(Some("1.51")), "1.43");
        assert_eq!(negotiate(Some("1.100")), "1.43");
        assert_eq!(negotiate(Some("1.9")), "1.9");
        assert_eq!(negotiate(None), "1.24");
        assert_eq!(negotiate(Some("garbage")), "1.24");
    }

    #[test]
    fn query_is_sorted_and_escaped_like_go() {
        let mut q = Query::new();
        q.add("tail", "all")
            .flag("stdout", true)
            .flag("follow", false);
        q.add("filters", r#"{"name":{"a b":true}}"#);
        assert_eq!(
            q.encode(),
            "filters=%7B%22name%22%3A%7B%22a+b%22%3Atrue%7D%7D&stdout=1&tail=all"
        );
    }

    #[test]
    fn error_message_prefers_json_message() {
        assert_eq!(
            error_message(
                StatusCode::NOT_FOUND,
                b"{\"message\":\"No such container: x\"}\n"
            ),
            "No such container: x"
        );
        assert_eq!(
            error_message(StatusCode::CONFLICT, b"plain text\n"),
            "plain text"
        );
        assert_eq!(error_message(StatusCode::NOT_FOUND, b""), "Not Found");
    }
}
