//! `HEAD`, `GET` and `PUT /containers/{id}/archive?path=`: `docker cp`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::images::FallibleBody;
use super::{body_reader, ApiResult, AppState, Params};
use crate::container::PutArchive;
use crate::error::EngineError;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_param(uri: &Uri) -> Result<String, EngineError> {
    Params::from_uri(uri)
        .get("path")
        .filter(|p| !p.is_empty())
        .map(String::from)
        .ok_or_else(|| EngineError::Invalid("path is required".into()))
}

fn stat_header(resp: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(STAT_HEADER, v);
    }
}

/// `HEAD`: 200 with the stat header, no body.
pub async fn head(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let path = path_param(&uri)?;
    let stat = engine.archive_stat(&id, &path).await?;
    let mut resp = StatusCode::OK.into_response();
    stat_header(&mut resp, &stat.header_value());
    Ok(resp)
}

/// `GET`: the stat header and a tar of the path, streamed.
pub async fn get(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let path = path_param(&uri)?;
    let (stat, rx) = engine.archive_get(&id, &path).await?;
    let mut resp = Response::new(Body::new(FallibleBody(rx)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    stat_header(&mut resp, &stat.header_value());
    Ok(resp)
}

/// `PUT ?path=&noOverwriteDirNonDir=&copyUIDGID=`: extracts the (chunked) tar body.
pub async fn put(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let opts = PutArchive {
        path: path_param(&uri)?,
        no_overwrite_dir_non_dir: p.bool("noOverwriteDirNonDir", false),
        copy_uid_gid: p.bool("copyUIDGID", false),
    };
    // The reader drains what the client still sends when the copy is refused early, so the
    // client reads the answer instead of a broken pipe.
    engine.archive_put(&id, opts, body_reader(body)).await?;
    Ok(StatusCode::OK.into_response())
}
