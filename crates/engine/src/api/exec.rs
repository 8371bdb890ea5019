//! `/containers/{id}/exec` and `/exec/...` handlers.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{json_response, read_body, ApiResult, AppState, Params};
use crate::container::ExecStart;
use crate::error::EngineError;

fn parse<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, EngineError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        EngineError::Invalid(format!("invalid value for {path}: {}", e.into_inner()))
    })
}

pub async fn create(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, 1 << 20).await?;
    let req: api::docker::ExecCreateRequest = parse(&bytes)?;
    let id = engine.exec_create(&id, req)?;
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": id }),
    ))
}

pub async fn start(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let exec = engine.exec_get(&id)?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (_, body) = req.into_parts();
    let bytes = read_body(body, 1 << 20).await?;
    let body: api::docker::ExecStartRequest = parse(&bytes)?;
    let start = ExecStart {
        detach: body.detach,
        console_size: body.console_size,
    };
    engine.exec_claim(&exec)?;
    if body.detach {
        engine.exec_start_detached(exec, start).await?;
        return Ok((StatusCode::OK, [(header::CONTENT_LENGTH, "0")]).into_response());
    }
    let tty = exec.inspect().process_config.tty;
    engine.exec_start_attached(exec, on_upgrade, start);
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .body(Body::empty())
        .expect("static response parts are valid"))
}

pub async fn resize(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let exec = engine.exec_get(&id)?;
    let p = Params::from_uri(&uri);
    let dim = |k: &str| -> Result<u16, EngineError> {
        p.get(k)
            .unwrap_or("0")
            .parse()
            .map_err(|_| EngineError::Invalid(format!("invalid value for {k}")))
    };
    engine.exec_resize(&exec, dim("h")?, dim("w")?).await;
    Ok((StatusCode::OK, [(header::CONTENT_LENGTH, "0")]).into_response())
}

pub async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let exec = engine.exec_get(&id)?;
    Ok(json_response(StatusCode::OK, &exec.inspect()))
}
