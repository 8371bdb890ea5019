//! The built-in token service, `GET /token?service=&scope=...&account=` (Docker's token
//! protocol): basic credentials (or none, for an anonymous token) in, a signed JWT granting the
//! intersection of the requested scopes and the access rules out.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{json_response, AppState};
use crate::error::RegistryError;

/// `GET /token`.
pub(super) async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let scopes: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let issued = tokio::task::spawn_blocking(move || match &app.auth {
        Some(auth) => auth.issue_token(authorization.as_deref(), &scopes),
        None => Ok(None),
    })
    .await
    .map_err(|e| RegistryError::Task(e.to_string()))
    .and_then(|r| r);
    match issued {
        Ok(Some(t)) => json_response(
            StatusCode::OK,
            &json!({
                "token": t.token,
                "access_token": t.token,
                "expires_in": t.expires_in,
                "issued_at": api::time::rfc3339_nano(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.issued_at)),
            }),
        ),
        Ok(None) => RegistryError::Unsupported("token auth is not configured".into())
            .into_response_with(StatusCode::NOT_FOUND),
        Err(e) => e.into_response(),
    }
}

/// `POST /token` (OAuth2 password/refresh grants) is not served: a 404 makes docker fall back
/// to `GET`.
pub(super) async fn post() -> Response {
    RegistryError::Unsupported("use GET /token".into()).into_response_with(StatusCode::NOT_FOUND)
}
