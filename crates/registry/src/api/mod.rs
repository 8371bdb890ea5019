//! The HTTP front end: routing of `/v2/...` paths, authentication of each route, error
//! rendering, access logs and metrics, and the plumbing that moves bytes between async
//! request/response bodies and the blocking [`RegistryStore`].
//!
//! Repository names contain `/`, so every repository route goes through one wildcard and
//! [`parse_route`] splits the suffix (`/blobs/uploads/`, `/tags/list`, `/manifests/`,
//! `/referrers/`, `/blobs/`). Handlers in the sibling files extract and validate input, call one
//! store method through [`blocking`], and map the result to a response.

mod blobs;
mod body;
mod catalog;
mod manifests;
mod ops;
mod referrers;
mod token;
mod uploads;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use http_body_util::BodyExt;

use crate::auth::{Action, Auth, Need, Principal};
use crate::error::RegistryError;
use crate::metrics::Metrics;
use crate::name::RepoName;
use crate::store::RegistryStore;

pub use manifests::MAX_MANIFEST_BYTES;

/// Shared store handle of the HTTP handlers.
pub(crate) type Shared = Arc<RegistryStore>;

/// Everything the handlers share: the store, the authenticator, metrics and policy.
#[derive(Debug)]
pub struct App {
    /// The storage.
    pub store: Arc<RegistryStore>,
    /// Authentication and access rules; `None` allows everything.
    pub auth: Option<Auth>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Whether DELETE is allowed.
    pub delete_enabled: bool,
    /// Open upload sessions beyond this get `429 TOOMANYREQUESTS`.
    pub max_sessions: usize,
    /// Whether the listener speaks TLS (for the default token realm's scheme).
    pub tls: bool,
}

impl App {
    /// An open registry over `store`: no auth, deletes on, default limits.
    pub fn new(store: RegistryStore) -> App {
        App {
            store: Arc::new(store),
            auth: None,
            metrics: Arc::new(Metrics::default()),
            delete_enabled: true,
            max_sessions: crate::config::UploadsConfig::default().max_sessions,
            tls: false,
        }
    }
}

pub(crate) type AppState = Arc<App>;

/// `Docker-Distribution-API-Version`, sent on every response.
pub const API_VERSION_HEADER: &str = "docker-distribution-api-version";

/// The registry's HTTP API over `store`, without auth (drive it in memory with `oneshot`).
pub fn router(store: RegistryStore) -> Router {
    app_router(Arc::new(App::new(store)))
}

/// The registry's HTTP API with its full configuration.
pub fn app_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v2", get(base).head(base))
        .route("/v2/", get(base).head(base))
        .route("/v2/_catalog", get(catalog::catalog))
        .route("/v2/{*rest}", any(dispatch))
        .route("/token", get(token::get).post(token::post))
        .route("/metrics", get(ops::metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), observe))
        .layer(axum::middleware::map_response(add_version_header))
        .with_state(app)
}

async fn add_version_header(mut res: Response) -> Response {
    res.headers_mut()
        .insert(API_VERSION_HEADER, HeaderValue::from_static("registry/2.0"));
    res
}

/// The route label of a path, for metrics.
fn route_label(method: &Method, path: &str) -> &'static str {
    match path {
        "/v2" | "/v2/" => return "base",
        "/v2/_catalog" => return "catalog",
        "/token" => return "token",
        "/metrics" => return "metrics",
        _ => {}
    }
    match path.strip_prefix("/v2/").and_then(parse_route) {
        Some(Route::Blob(..)) => "blob",
        Some(Route::UploadStart(_)) => "upload_start",
        Some(Route::Upload(..)) if *method == Method::PUT => "upload_complete",
        Some(Route::Upload(..)) => "upload",
        Some(Route::Manifest(..)) => "manifest",
        Some(Route::Tags(_)) => "tags",
        Some(Route::Referrers(..)) => "referrers",
        None => "other",
    }
}

/// Access log and metrics around every request.
async fn observe(
    State(app): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = route_label(&method, &path);
    let metrics = app.metrics.clone();
    let req = req.map(|b| {
        Body::new(b.map_frame(move |f| {
            if let Some(d) = f.data_ref() {
                metrics.add_bytes_in(d.len() as u64);
            }
            f
        }))
    });
    let res = next.run(req).await;
    let status = res.status().as_u16();
    let out = if method == Method::HEAD {
        0
    } else {
        res.headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    app.metrics.add_bytes_out(out);
    app.metrics.record_request(route, method.as_str(), status);
    let user = res
        .extensions()
        .get::<Principal>()
        .map(|p| p.name().to_string())
        .unwrap_or_default();
    tracing::info!(
        target: "registry::access",
        method = %method,
        path = %path,
        status,
        bytes_out = out,
        user = %user,
        micros = start.elapsed().as_micros() as u64,
        "request"
    );
    res
}

/// The default token realm: `<scheme>://<Host>/token`.
fn realm_url(app: &App, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if app.tls { "https" } else { "http" };
    format!("{scheme}://{host}/token")
}

/// Checks the request's credentials against `need`; `Ok(None)` when auth is off.
pub(crate) async fn authorize(
    app: &AppState,
    headers: &HeaderMap,
    need: Need,
) -> Result<Option<Principal>, RegistryError> {
    let Some(auth) = &app.auth else {
        return Ok(None);
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let realm = realm_url(app, headers);
    if auth.needs_blocking(authorization.as_deref()) {
        let app = app.clone();
        tokio::task::spawn_blocking(move || {
            let auth = app.auth.as_ref().expect("checked above");
            auth.check(authorization.as_deref(), &need, &realm)
        })
        .await
        .map_err(|e| RegistryError::Task(e.to_string()))?
        .map(Some)
    } else {
        auth.check(authorization.as_deref(), &need, &realm)
            .map(Some)
    }
}

async fn base(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match authorize(&app, &headers, Need::Base).await {
        Ok(_) => json_response(StatusCode::OK, &serde_json::json!({})),
        Err(e) => e.into_response(),
    }
}

async fn not_found() -> Response {
    RegistryError::Unsupported("no such route".into()).into_response_with(StatusCode::NOT_FOUND)
}

/// One repository route, with the repository name still unvalidated.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `/v2/<name>/blobs/<digest>`
    Blob(&'a str, &'a str),
    /// `/v2/<name>/blobs/uploads/`
    UploadStart(&'a str),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(&'a str, &'a str),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(&'a str, &'a str),
    /// `/v2/<name>/tags/list`
    Tags(&'a str),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(&'a str, &'a str),
}
/// Splits the path below `/v2/` into a route. `None` for anything else.
pub(crate) fn parse_route(rest: &str) -> Option<Route<'_>> {
    let single = |s: &str| !s.is_empty() && !s.contains('/');
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::UploadStart(name));
    }
    if let Some((name, id)) = rest.rsplit_once("/blobs/uploads/") {
        if single(id) {
            return Some(Route::Upload(name, id));
        }
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    for sep in ["/manifests/", "/referrers/", "/blobs/"] {
        if let Some((name, tail)) = rest.rsplit_once(sep) {
            if single(tail) {
                return Some(match sep {
                    "/manifests/" => Route::Manifest(name, tail),
                    "/referrers/" => Route::Referrers(name, tail),
                    _ => Route::Blob(name, tail),
                });
            }
        }
    }
    None
}

/// Decodes `%XX` escapes (clients may escape the `:` of a digest).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What every repository handler receives.
pub(crate) struct Request {
    pub app: AppState,
    pub store: Shared,
    pub method: Method,
    pub name: RepoName,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Body,
}

impl Request {
    /// The first value of a query parameter.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A header as a string, if present and valid.
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Whether the request's credentials allow `action` on `name` (for the `from` of a mount).
pub(crate) async fn may(
    app: &AppState,
    headers: &HeaderMap,
    name: &RepoName,
    action: Action,
) -> bool {
    authorize(app, headers, Need::Repo(name.clone(), action))
        .await
        .is_ok()
}

/// The action a repository route needs, or `None` for a method the route does not serve.
fn required_action(route: &Route<'_>, method: &Method) -> Option<Action> {
    Some(match (route, method) {
        (Route::Blob(..) | Route::Manifest(..), &Method::GET | &Method::HEAD) => Action::Pull,
        (Route::Tags(_) | Route::Referrers(..), &Method::GET) => Action::Pull,
        (Route::Blob(..) | Route::Manifest(..), &Method::DELETE) => Action::Delete,
        (Route::UploadStart(_), &Method::POST) => Action::Push,
        (Route::Upload(..), &Method::PATCH | &Method::PUT | &Method::GET | &Method::DELETE) => {
            Action::Push
        }
        (Route::Manifest(..), &Method::PUT) => Action::Push,
        _ => return None,
    })
}

async fn dispatch(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = percent_decode(uri.path());
    let rest = path.strip_prefix("/v2/").unwrap_or(&path);
    let Some(route) = parse_route(rest) else {
        return not_found().await;
    };
    let raw_name = match &route {
        Route::Blob(n, _)
        | Route::UploadStart(n)
        | Route::Upload(n, _)
        | Route::Manifest(n, _)
        | Route::Tags(n)
        | Route::Referrers(n, _) => *n,
    };
    let name: RepoName = match raw_name.parse() {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    let Some(action) = required_action(&route, &method) else {
        return RegistryError::Unsupported(format!("method {method} not allowed on this route"))
            .into_response();
    };
    let principal = match authorize(&app, &headers, Need::Repo(name.clone(), action)).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if action == Action::Delete && !app.delete_enabled {
        return RegistryError::Disabled("delete").into_response();
    }
    let query = match uri.query() {
        None => Vec::new(),
        Some(q) => match serde_urlencoded::from_str::<Vec<(String, String)>>(q) {
            Ok(q) => q,
            Err(e) => {
                return RegistryError::Unsupported(format!("malformed query string: {e}"))
                    .into_response_with(StatusCode::BAD_REQUEST)
            }
        },
    };
    let req = Request {
        store: app.store.clone(),
        app,
        method: method.clone(),
        name,
        query,
        headers,
        body,
    };
    let result = match (route, method) {
        (Route::Blob(_, d), Method::GET | Method::HEAD) => blobs::get(req, d).await,
        (Route::Blob(_, d), Method::DELETE) => blobs::delete(req, d).await,
        (Route::UploadStart(_), Method::POST) => uploads::start(req).await,
        (Route::Upload(_, id), Method::PATCH) => uploads::patch(req, id).await,
        (Route::Upload(_, id), Method::PUT) => uploads::put(req, id).await,
        (Route::Upload(_, id), Method::GET) => uploads::status(req, id).await,
        (Route::Upload(_, id), Method::DELETE) => uploads::cancel(req, id).await,
        (Route::Manifest(_, r), Method::GET | Method::HEAD) => manifests::get(req, r).await,
        (Route::Manifest(_, r), Method::PUT) => manifests::put(req, r).await,
        (Route::Manifest(_, r), Method::DELETE) => manifests::delete(req, r).await,
        (Route::Tags(_), Method::GET) => catalog::tags(req).await,
        (Route::Referrers(_, d), Method::GET) => referrers::get(req, d).await,
        (_, m) => Err(RegistryError::Unsupported(format!(
            "method {m} not allowed on this route"
        ))),
    };
    let mut res = result.unwrap_or_else(IntoResponse::into_response);
    if let Some(p) = principal {
        res.extensions_mut().insert(p);
    }
    res
}

/// Runs one store operation on the blocking pool.
pub(crate) async fn blocking<T, F>(store: &Shared, f: F) -> Result<T, RegistryError>
where
    T: Send + 'static,
    F: FnOnce(&RegistryStore) -> Result<T, RegistryError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| RegistryError::Task(e.to_string()))?
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut res = (status, value.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Sets a header from a string the server built (always valid header text).
pub(crate) fn set(res: &mut Response, name: &'static str, value: impl AsRef<str>) {
    match HeaderValue::from_str(value.as_ref()) {
        Ok(v) => {
            res.headers_mut().insert(name, v);
        }
        Err(_) => tracing::warn!(header = name, "dropping header with invalid characters"),
    }
}

/// An empty response with a status.
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    res
}

impl RegistryError {
    fn into_response_with(self, status: StatusCode) -> Response {
        if status.is_server_error() {
            tracing::error!(error = %ErrorChain(&self), "registry request failed");
        }
        let mut res = json_response(status, &self.body());
        match &self {
            RegistryError::RangeNotSatisfiable { size } => {
                set(&mut res, "content-range", format!("bytes */{size}"));
            }
            RegistryError::ChunkOutOfOrder { size, .. } => {
                set(&mut res, "range", crate::range::upload_range_header(*size));
            }
            RegistryError::Unauthorized { challenge, .. } => {
                set(&mut res, "www-authenticate", challenge);
            }
            RegistryError::TooManyRequests { retry_after, .. } => {
                set(&mut res, "retry-after", retry_after.to_string());
            }
            _ => {}
        }
        res
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self.into_response_with(status)
    }
}

/// Displays an error and its sources, `a: b: c`.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut src = self.0.source();
        while let Some(s) = src {
            write!(f, ": {s}")?;
            src = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table() {
        let d = "sha256:abc";
        let cases: &[(&str, Option<Route>)] = &[
            ("a/b/blobs/uploads/", Some(Route::UploadStart("a/b"))),
            ("a/b/blobs/uploads", Some(Route::UploadStart("a/b"))),
            ("a/b/blobs/uploads/123", Some(Route::Upload("a/b", "123"))),
            ("a/b/blobs/sha256:abc", Some(Route::Blob("a/b", d))),
            (
                "a/b/manifests/latest",
                Some(Route::Manifest("a/b", "latest")),
            ),
            (
                "a/manifests/b/manifests/v1",
                Some(Route::Manifest("a/manifests/b", "v1")),
            ),
            ("a/b/tags/list", Some(Route::Tags("a/b"))),
            ("a/b/referrers/sha256:abc", Some(Route::Referrers("a/b", d))),
            ("a/b", None),
            ("a/b/blobs/", None),
            ("a/b/manifests/", None),
            ("a/b/unknown/x", None),
        ];
        for (path, want) in cases {
            assert_eq!(&parse_route(path), want, "{path}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("/v2/a/blobs/sha256%3Aab"),
            "/v2/a/blobs/sha256:ab"
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
