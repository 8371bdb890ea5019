//! `/networks/...` handlers.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{json_response, read_body, ApiResult, AppState, Params};
use crate::error::EngineError;

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, EngineError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        EngineError::Invalid(format!("invalid value for {path}: {}", e.into_inner()))
    })
}

pub async fn list(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    Ok(json_response(
        StatusCode::OK,
        &engine.network_list(&p.filters()?),
    ))
}

pub async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(json_response(StatusCode::OK, &engine.network_inspect(&id)?))
}

pub async fn create(State(engine): State<AppState>, body: Body) -> ApiResult<Response> {
    let bytes = read_body(body, 1 << 20).await?;
    let req: api::docker::NetworkCreateRequest = parse(&bytes)?;
    let id = engine.network_create(req).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"Id": id, "Warning": ""}),
    ))
}

pub async fn remove(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    engine.network_remove(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn prune(State(engine): State<AppState>) -> ApiResult<Response> {
    let names = engine.network_prune().await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"NetworksDeleted": names}),
    ))
}

pub async fn connect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, 1 << 20).await?;
    let req: api::docker::NetworkConnectRequest = parse(&bytes)?;
    engine
        .network_connect(&id, &req.container, req.endpoint_config.unwrap_or_default())
        .await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn disconnect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, 1 << 20).await?;
    let req: api::docker::NetworkConnectRequest = parse(&bytes)?;
    engine.network_disconnect(&id, &req.container).await?;
    Ok(StatusCode::OK.into_response())
}
