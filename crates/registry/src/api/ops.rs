//! Operations endpoints: `GET /metrics` (Prometheus text; needs any valid credential when auth
//! is on).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{authorize, blocking, set, AppState};
use crate::auth::Need;

/// `GET /metrics`.
pub(super) async fn metrics(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = authorize(&app, &headers, Need::Base).await {
        return e.into_response();
    }
    let usage = match app.metrics.cached_usage() {
        Some(u) => u,
        None => match blocking(&app.store, |s| s.usage()).await {
            Ok(u) => {
                app.metrics.set_usage(u.clone());
                u
            }
            Err(e) => return e.into_response(),
        },
    };
    let text = app.metrics.render(app.store.uploads_in_progress(), &usage);
    let mut res = (StatusCode::OK, text).into_response();
    set(&mut res, "content-type", "text/plain; version=0.0.4");
    res
}
