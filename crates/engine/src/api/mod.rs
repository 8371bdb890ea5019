//! The Docker Engine API over HTTP: routing, version negotiation, error rendering and the
//! streaming plumbing every handler shares. Handlers are thin (one file per resource): they
//! turn a request into typed input, call one [`Engine`] method and render the result.

mod archive;
mod build;
mod commit;
mod containers;
mod df;
mod distribution;
mod events;
mod exec;
mod images;
mod networks;
mod stats;
mod system;
mod volumes;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::mpsc;

use crate::container::Engine;
use crate::error::EngineError;

/// The API version berth advertises and serves in full.
pub const API_VERSION: &str = "1.43";
/// The oldest API version berth accepts in a path prefix.
pub const MIN_API_VERSION: &str = "1.24";

/// Shared handler state.
pub type AppState = Arc<Engine>;

/// The routes, without the version-prefix handling of [`app`].
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/system/df", get(df::df))
        .route("/events", get(events::events))
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/containers/{id}/top", get(stats::top))
        .route("/containers/{id}/stats", get(stats::stats))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/containers/{id}/changes", get(commit::changes))
        .route("/containers/{id}/export", get(commit::export))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/commit", post(commit::commit))
        .route("/build", post(build::build))
        .route("/build/prune", post(build::prune))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route("/auth", post(distribution::auth))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/images/json", get(images::list))
        .route("/images/prune", post(images::prune))
        .route("/images/create", post(images::create))
        .route("/images/get", get(images::save))
        .route("/images/load", post(images::load))
        .route(
            "/images/{*rest}",
            get(images::get_named)
                .delete(images::delete)
                .post(images::post_named),
        )
        .fallback(not_found)
        .with_state(engine)
}

/// dockerd's answer to a route it does not serve.
async fn not_found(req: Request) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        &format!(
            "page not found: berth does not serve {} {} yet",
            req.method(),
            req.uri().path()
        ),
    )
}

type BoxedResponse = Pin<Box<dyn std::future::Future<Output = Response> + Send>>;
type VersionFn = fn(Request, Next) -> BoxedResponse;

/// The service [`app`] returns.
pub type App = axum::middleware::FromFn<VersionFn, (), Router, (Request,)>;

/// The whole API service: strips and checks the `/vX.Y` prefix before routing, and adds
/// Docker's headers to every answer.
pub fn app(engine: Arc<Engine>) -> App {
    use tower::Layer;
    let f: VersionFn = |req, next| Box::pin(versioned(req, next));
    axum::middleware::from_fn(f).layer(router(engine))
}

async fn versioned(mut req: Request, next: Next) -> Response {
    crate::idle_trim::note_request();
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/v") {
        let (version, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if version.split('.').count() == 2
            && version
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            if version_lt(API_VERSION, version) {
                return with_headers(error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("client version {version} is too new. Maximum supported API version is {API_VERSION}"),
                ));
            }
            if version_lt(version, MIN_API_VERSION) {
                return with_headers(error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"),
                ));
            }
            let new = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail.to_string(),
            };
            if let Ok(uri) = new.parse() {
                *req.uri_mut() = uri;
            }
        }
    }
    with_headers(next.run(req).await)
}

fn version_lt(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> (u32, u32) {
        let mut it = v.split('.').map(|p| p.parse().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    parse(a) < parse(b)
}

fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        header::SERVER,
        HeaderValue::from_static(concat!("Berth/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let body = serde_json::to_vec(&api::docker::ErrorBody {
        message: message.to_string(),
    })
    .unwrap_or_default();
    let mut body = body;
    body.push(b'\n');
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An error as a handler returns it.
pub struct ApiError(EngineError);

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError(e)
    }
}

impl From<image::ImageError> for ApiError {
    fn from(e: image::ImageError) -> Self {
        ApiError(EngineError::Image(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.0.kind();
        if kind == api::ErrorKind::NotModified {
            return StatusCode::NOT_MODIFIED.into_response();
        }
        let status =
            StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut message = self.0.to_string();
        let mut cur = std::error::Error::source(&self.0);
        while let Some(c) = cur {
            let s = c.to_string();
            if !message.contains(&s) {
                message.push_str(": ");
                message.push_str(&s);
            }
            cur = c.source();
        }
        if status.is_server_error() {
            tracing::error!(error = %message, "request failed");
        }
        error_response(status, &message)
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

/// The query string as ordered pairs (keys may repeat: `changes`, `names`).
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses the request's query.
    pub fn from_uri(uri: &axum::http::Uri) -> Params {
        Params(
            uri.query()
                .and_then(|q| serde_urlencoded::from_str(q).ok())
                .unwrap_or_default(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean as clients send them (`1`, `true`, `True`); absent is `default`.
    pub fn bool(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => matches!(v, "1" | "true" | "True" | "TRUE" | "yes"),
        }
    }

    /// Docker's `filters`: a JSON map of maps (`{"name":{"x":true}}`, the CLI) or of lists
    /// (`{"label":["a=b"]}`, docker-py).
    pub fn filters(&self) -> Result<BTreeMap<String, Vec<String>>, EngineError> {
        let Some(raw) = self.get("filters").filter(|s| !s.is_empty()) else {
            return Ok(BTreeMap::new());
        };
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| EngineError::Invalid(format!("invalid filter: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| EngineError::Invalid("invalid filter: expected a JSON object".into()))?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool() != Some(false))
                    .map(|(v, _)| v.clone())
                    .collect(),
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => return Err(EngineError::Invalid(format!("invalid filter {k:?}"))),
            };
            out.insert(k.clone(), list);
        }
        Ok(out)
    }
}

/// A response body fed by a channel: chunks are sent as they come, and the body ends when the
/// sender is dropped. Dropping the body (client gone) closes the channel, which stops the
/// producer.
pub struct ChannelBody(mpsc::Receiver<Vec<u8>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|v| Ok(http_body::Frame::data(Bytes::from(v)))))
    }
}

/// A streaming answer and the sender that feeds it.
pub fn stream_response(
    status: StatusCode,
    content_type: Option<&'static str>,
) -> (mpsc::Sender<Vec<u8>>, Response) {
    let (tx, rx) = mpsc::channel(64);
    let mut resp = Response::new(Body::new(ChannelBody(rx)));
    *resp.status_mut() = status;
    if let Some(ct) = content_type {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    (tx, resp)
}

/// A JSON answer ending with a newline, as dockerd writes them.
pub fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Reads a request body into memory, at most `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, EngineError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| EngineError::Invalid(format!("cannot read request body: {e}")))
}

/// How much of a body the reader still drains after its consumer gave up (an early error):
/// enough for the client to finish sending a small upload and read the error answer rather
/// than fail on a broken pipe.
const DRAIN_LIMIT: usize = 64 << 20;

/// Feeds a request body to blocking code as a [`std::io::Read`].
pub fn body_reader(body: Body) -> BodyReader {
    use http_body_util::BodyExt;
    let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(16);
    tokio::spawn(async move {
        let mut body = body;
        let mut drained = 0usize;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Ok(data) = f.into_data() {
                        if tx.is_closed() {
                            drained += data.len();
                            if drained > DRAIN_LIMIT {
                                return;
                            }
                        } else if tx.send(Ok(data)).await.is_err() {
                            drained = 0;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string())).await;
                    return;
                }
            }
        }
    });
    BodyReader {
        rx,
        current: Bytes::new(),
    }
}

/// The blocking side of [`body_reader`]; only use it inside `spawn_blocking`.
pub struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}
