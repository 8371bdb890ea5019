//! `/networks/...` handlers.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

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
    let name = req.name.clone();
    let id = engine.network_create(req).await?;
    engine.network_event("create", &id, &name, None);
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"Id": id, "Warning": ""}),
    ))
}

pub async fn remove(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let before = engine.network_inspect(&id).ok();
    engine.network_remove(&id).await?;
    if let Some(n) = before {
        engine.network_event(
            "destroy",
            n["Id"].as_str().unwrap_or(&id),
            n["Name"].as_str().unwrap_or(&id),
            None,
        );
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn prune(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let filters = Params::from_uri(&uri).filters()?;
    let before: Vec<Value> = engine.network_list(&Default::default());
    let names = engine.network_prune(&filters).await?;
    for n in before
        .iter()
        .filter(|n| names.iter().any(|x| Some(x.as_str()) == n["Name"].as_str()))
    {
        engine.network_event(
            "destroy",
            n["Id"].as_str().unwrap_or_default(),
            n["Name"].as_str().unwrap_or_default(),
            None,
        );
    }
    engine.prune_event("network", 0);
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
    connect_event(&engine, "connect", &id, &req.container);
    Ok(StatusCode::OK.into_response())
}

pub async fn disconnect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, 1 << 20).await?;
    let req: api::docker::NetworkConnectRequest = parse(&bytes)?;
    let before = engine.network_inspect(&id).ok();
    engine.network_disconnect(&id, &req.container).await?;
    if let Some(n) = before {
        let container = engine
            .get(&req.container)
            .map(|c| c.id.to_string())
            .unwrap_or_else(|_| req.container.clone());
        engine.network_event(
            "disconnect",
            n["Id"].as_str().unwrap_or(&id),
            n["Name"].as_str().unwrap_or(&id),
            Some(&container),
        );
    }
    Ok(StatusCode::OK.into_response())
}

fn connect_event(engine: &AppState, action: &str, network: &str, container: &str) {
    if let Ok(n) = engine.network_inspect(network) {
        let c = engine
            .get(container)
            .map(|c| c.id.to_string())
            .unwrap_or_else(|_| container.to_string());
        engine.network_event(
            action,
            n["Id"].as_str().unwrap_or(network),
            n["Name"].as_str().unwrap_or(network),
            Some(&c),
        );
    }
}
