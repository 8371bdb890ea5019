//! A session with one registry for one or more repositories: the `/v2/` ping that learns the
//! scheme and the auth challenge, credentials (anonymous, HTTP basic, bearer tokens fetched
//! from the challenge's realm and cached per scope), and the registry's JSON errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;

use super::auth::{parse_challenges, AuthConfig, Challenge};
use super::transport::{empty, ReqBody, Scheme, Transport, Url};
use super::DistributionError;

/// Docker Hub's registry host for references on `docker.io`.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";
/// The server address Docker stores Docker Hub credentials under.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// The host to talk to for a reference's domain.
pub fn registry_host(domain: &str) -> &str {
    if domain == "docker.io" || domain == "index.docker.io" {
        DOCKER_HUB_REGISTRY
    } else {
        domain
    }
}

#[derive(Debug, Clone)]
enum AuthMode {
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// One registry, with credentials.
pub struct Session {
    transport: Arc<Transport>,
    /// `host[:port]` of the registry.
    pub authority: String,
    scheme: Scheme,
    creds: Option<AuthConfig>,
    mode: AuthMode,
    tokens: Mutex<HashMap<String, String>>,
}

impl Session {
    /// Pings `/v2/` on the registry of `domain` and learns how to authenticate.
    pub async fn open(
        transport: Arc<Transport>,
        domain: &str,
        creds: Option<AuthConfig>,
    ) -> Result<Session, DistributionError> {
        let authority = registry_host(domain).to_string();
        let scheme = transport.scheme_for(&authority).await?;
        let url = Url::new(scheme, &authority, "/v2/");
        let resp = transport
            .send(Method::GET, &url, HeaderMap::new(), empty())
            .await?;
        let status = resp.status();
        let challenges: Vec<Challenge> = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let mode = if status == StatusCode::UNAUTHORIZED {
            if let Some(b) = challenges.iter().find(|c| c.scheme == "bearer") {
                let realm = b.params.get("realm").cloned().ok_or_else(|| {
                    DistributionError::Protocol(format!(
                        "registry {authority} sent a bearer challenge without a realm"
                    ))
                })?;
                AuthMode::Bearer {
                    realm,
                    service: b.params.get("service").cloned(),
                }
            } else if challenges.iter().any(|c| c.scheme == "basic") {
                AuthMode::Basic
            } else {
                return Err(DistributionError::Protocol(format!(
                    "registry {authority} answered 401 without a usable WWW-Authenticate challenge"
                )));
            }
        } else if status.is_success() {
            AuthMode::Anonymous
        } else {
            return Err(DistributionError::Protocol(format!(
                "{url} answered {status}: not a registry (no /v2/ API)"
            )));
        };
        Ok(Session {
            transport,
            authority,
            scheme,
            creds: creds.filter(|c| !c.is_empty()),
            mode,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The URL of `path` (starting with `/v2/`) on this registry.
    pub fn url(&self, path: &str) -> Url {
        Url::new(self.scheme, &self.authority, path)
    }

    /// Checks the credentials as `docker login` does: basic credentials against `/v2/`, or a
    /// token from the realm. Fails with `unauthorized` when they are wrong.
    pub async fn login(&self) -> Result<(), DistributionError> {
        let Some(creds) = &self.creds else {
            return Err(DistributionError::Unauthorized(
                "no credentials given".to_string(),
            ));
        };
        match &self.mode {
            AuthMode::Anonymous => Ok(()),
            AuthMode::Basic => {
                let resp = self
                    .request(
                        Method::GET,
                        &self.url("/v2/"),
                        &[],
                        HeaderMap::new(),
                        empty(),
                    )
                    .await?;
                if resp.status() == StatusCode::UNAUTHORIZED {
                    return Err(DistributionError::Unauthorized(format!(
                        "login attempt to {} failed with status: 401 Unauthorized",
                        self.url("/v2/")
                    )));
                }
                Ok(())
            }
            AuthMode::Bearer { .. } => {
                let _ = creds;
                self.fetch_token(&[]).await.map(|_| ())
            }
        }
    }

    async fn fetch_token(&self, scopes: &[String]) -> Result<String, DistributionError> {
        let AuthMode::Bearer { realm, service } = &self.mode else {
            unreachable!("only called in bearer mode");
        };
        let mut url = Url::parse(realm)
            .ok_or_else(|| DistributionError::Protocol(format!("invalid token realm {realm:?}")))?;
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", encode_query(s)));
        }
        for s in scopes {
            query.push(format!("scope={}", encode_query(s)));
        }
        if !query.is_empty() {
            url.path
                .push(if url.path.contains('?') { '&' } else { '?' });
            url.path.push_str(&query.join("&"));
        }
        let mut headers = HeaderMap::new();
        if let Some(b) = self.creds.as_ref().and_then(AuthConfig::basic_header) {
            headers.insert(AUTHORIZATION, header_value(&b)?);
        }
        let resp = self
            .transport
            .send(Method::GET, &url, headers, empty())
            .await?;
        let status = resp.status();
        let body = read_body(resp, 1 << 20).await?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let detail = registry_error_text(&body)
                .unwrap_or_else(|| format!("{} {}", status.as_u16(), reason(status)));
            return Err(DistributionError::Unauthorized(if self.creds.is_some() {
                format!(
                    "login attempt to {} failed with status: {detail}",
                    self.url("/v2/")
                )
            } else {
                detail
            }));
        }
        if !status.is_success() {
            return Err(DistributionError::Protocol(format!(
                "token server {realm} answered {status}"
            )));
        }
        #[derive(Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            DistributionError::Protocol(format!("token server {realm} sent invalid JSON: {e}"))
        })?;
        let token = if t.token.is_empty() {
            t.access_token
        } else {
            t.token
        };
        if token.is_empty() {
            return Err(DistributionError::Protocol(format!(
                "token server {realm} sent no token"
            )));
        }
        Ok(token)
    }

    async fn authorization(
        &self,
        scopes: &[String],
        fresh: bool,
    ) -> Result<Option<String>, DistributionError> {
        match &self.mode {
            AuthMode::Anonymous => Ok(None),
            AuthMode::Basic => Ok(self.creds.as_ref().and_then(AuthConfig::basic_header)),
            AuthMode::Bearer { .. } => {
                if let Some(c) = &self.creds {
                    if !c.registrytoken.is_empty() {
                        return Ok(Some(format!("Bearer {}", c.registrytoken)));
                    }
                }
                let key = scopes.join(" ");
                if !fresh {
                    if let Some(t) = self.lock_tokens().get(&key) {
                        return Ok(Some(format!("Bearer {t}")));
                    }
                }
                let token = self.fetch_token(scopes).await?;
                self.lock_tokens().insert(key, token.clone());
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a request with the credentials for `scopes` (e.g.
    /// `repository:library/busybox:pull`). A request without a body that gets 401 is retried
    /// once with a fresh token.
    pub async fn request(
        &self,
        method: Method,
        url: &Url,
        scopes: &[String],
        headers: HeaderMap,
        body: ReqBody,
    ) -> Result<Response<Incoming>, DistributionError> {
        let retryable = http_body::Body::size_hint(&body).exact() == Some(0);
        let mut h = headers.clone();
        if let Some(a) = self.authorization(scopes, false).await? {
            h.insert(AUTHORIZATION, header_value(&a)?);
        }
        let resp = self.transport.send(method.clone(), url, h, body).await?;
        if resp.status() == StatusCode::UNAUTHORIZED
            && self.creds.is_none()
            && matches!(self.mode, AuthMode::Basic)
        {
            return Err(DistributionError::Unauthorized(
                "no basic auth credentials".to_string(),
            ));
        }
        if resp.status() != StatusCode::UNAUTHORIZED
            || !retryable
            || !matches!(self.mode, AuthMode::Bearer { .. })
        {
            return Ok(resp);
        }
        let mut h = headers;
        if let Some(a) = self.authorization(scopes, true).await? {
            h.insert(AUTHORIZATION, header_value(&a)?);
        }
        self.transport.send(method, url, h, empty()).await
    }
}

fn header_value(s: &str) -> Result<HeaderValue, DistributionError> {
    HeaderValue::from_str(s)
        .map_err(|_| DistributionError::Protocol("credentials hold invalid characters".into()))
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("")
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads a whole (small) response body, refusing more than `limit` bytes.
pub async fn read_body(resp: Response<Incoming>, limit: usize) -> Result<Bytes, DistributionError> {
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| DistributionError::Protocol(format!("reading response: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(DistributionError::Protocol(format!(
                    "response larger than {limit} bytes"
                )));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

/// `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}` as Docker prints
/// it: `manifest unknown: manifest unknown`.
pub fn registry_error_text(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorBody>,
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let e: Errors = serde_json::from_slice(body).ok()?;
    let texts: Vec<String> = e
        .errors
        .iter()
        .map(|e| {
            let code = e.code.to_ascii_lowercase().replace('_', " ");
            if e.message.is_empty() {
                code
            } else {
                format!("{code}: {}", e.message)
            }
        })
        .collect();
    (!texts.is_empty()).then(|| texts.join(", "))
}

/// Turns an unexpected response into an error: 401 -> unauthorized, 403 -> denied, 404 ->
/// not found, anything else -> the registry's error text or the status.
pub async fn unexpected(what: &str, resp: Response<Incoming>) -> DistributionError {
    let status = resp.status();
    let body = read_body(resp, 64 << 10).await.unwrap_or_default();
    let text = registry_error_text(&body).unwrap_or_else(|| match status {
        StatusCode::UNAUTHORIZED => "unauthorized: authentication required".to_string(),
        StatusCode::FORBIDDEN => "denied: requested access to the resource is denied".to_string(),
        _ => format!("{} {}", status.as_u16(), reason(status)),
    });
    match status {
        StatusCode::UNAUTHORIZED => DistributionError::Unauthorized(text),
        StatusCode::FORBIDDEN => DistributionError::Denied(text),
        StatusCode::NOT_FOUND => DistributionError::NotFound(format!("{what}: {text}")),
        StatusCode::TOO_MANY_REQUESTS => DistributionError::Unavailable(format!("{what}: {text}")),
        _ => DistributionError::Protocol(format!("{what}: {text}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_maps_to_its_registry_host() {
        assert_eq!(registry_host("docker.io"), "registry-1.docker.io");
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn registry_errors_print_like_docker() {
        let b =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            registry_error_text(b).unwrap(),
            "manifest unknown: manifest unknown"
        );
        assert_eq!(registry_error_text(b"nope"), None);
        assert_eq!(
            encode_query("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
