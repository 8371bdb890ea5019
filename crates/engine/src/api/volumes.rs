//! `/volumes`: list, create, inspect, remove, prune (local driver).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json_response, ApiResult, AppState, Params};
use crate::error::EngineError;
use crate::filters::labels_match;

/// `GET /volumes?filters=` (name, label, dangling, driver).
pub async fn list(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let filters = Params::from_uri(&uri).filters()?;
    for k in filters.keys() {
        if !["name", "label", "dangling", "driver"].contains(&k.as_str()) {
            return Err(EngineError::Invalid(format!("invalid filter '{k}'")).into());
        }
    }
    let out: Vec<Value> = engine
        .volumes
        .list()
        .into_iter()
        .filter(|(name, m)| {
            filters
                .get("name")
                .is_none_or(|v| v.iter().any(|n| name.contains(n.as_str())))
                && filters
                    .get("label")
                    .is_none_or(|w| labels_match(&m.labels, w))
                && filters
                    .get("driver")
                    .is_none_or(|v| v.iter().any(|d| d == "local"))
                && filters.get("dangling").is_none_or(|v| {
                    v.iter().all(|d| {
                        let dangling = engine.volume_users(name).is_empty();
                        (d == "true" || d == "1") == dangling
                    })
                })
        })
        .map(|(name, m)| engine.volumes.to_json(&name, &m))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"Volumes": out, "Warnings": null}),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    driver: String,
    driver_opts: Option<BTreeMap<String, String>>,
    labels: Option<BTreeMap<String, String>>,
}

/// `POST /volumes/create`.
pub async fn create(State(engine): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: CreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| EngineError::Invalid(format!("invalid volume create body: {e}")))?
    };
    // dockerd puts `create NAME: ` before a driver's refusal.
    let prefix = if req.name.is_empty() {
        String::new()
    } else {
        format!("create {}: ", req.name)
    };
    if !req.driver.is_empty() && req.driver != "local" {
        return Err(EngineError::NotFound(format!(
            "{prefix}error looking up volume plugin {}: plugin \"{}\" not found",
            req.driver, req.driver
        ))
        .into());
    }
    let name = (!req.name.is_empty()).then_some(req.name.as_str());
    // An existing volume is returned as it is, its options unchecked (dockerd's store does
    // not reach the driver then).
    // The name is checked first (by `Volumes::create`), as the local driver does.
    let skip =
        name.is_some_and(|n| !crate::volumes::valid_name(n) || engine.volumes.get(n).is_some());
    if let Some(opts) = req.driver_opts.as_ref().filter(|_| !skip) {
        if let Err(e) = crate::volumes::validate_options(opts) {
            // dockerd names the volume, a random name when none was given.
            let prefix = match name {
                Some(_) => prefix,
                None => format!("create {}: ", crate::names::random_hex(64)),
            };
            return Err(EngineError::Invalid(format!("{prefix}{e}")).into());
        }
    }
    let (name, created) = engine.volumes.create(
        name,
        req.labels.unwrap_or_default(),
        req.driver_opts.unwrap_or_default(),
    )?;
    if created {
        engine.volume_event("create", &name);
    }
    let meta = engine
        .volumes
        .get(&name)
        .ok_or_else(|| EngineError::NoSuchVolume(name.clone()))?;
    Ok(json_response(
        StatusCode::CREATED,
        &engine.volumes.to_json(&name, &meta),
    ))
}

/// `GET /volumes/{name}`.
pub async fn inspect(
    State(engine): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let meta = engine
        .volumes
        .get(&name)
        .ok_or_else(|| EngineError::NoSuchVolume(name.clone()))?;
    Ok(json_response(
        StatusCode::OK,
        &engine.volumes.to_json(&name, &meta),
    ))
}

/// `DELETE /volumes/{name}?force=`: refused (409) while a container uses it.
pub async fn remove(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let force = Params::from_uri(&uri).bool("force", false);
    if engine.volumes.get(&name).is_none() {
        if force {
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        return Err(EngineError::NoSuchVolume(name).into());
    }
    let users = engine.volume_users(&name);
    if !users.is_empty() {
        return Err(EngineError::Conflict(format!(
            "remove {name}: volume is in use - [{}]",
            users.join(", ")
        ))
        .into());
    }
    engine.volumes.remove(&name)?;
    engine.volume_event("destroy", &name);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /volumes/prune?filters=`: unused anonymous volumes (all unused ones with
/// `all=true`, as Docker 23+), filtered by label.
pub async fn prune(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let filters = Params::from_uri(&uri).filters()?;
    for k in filters.keys() {
        if !["label", "label!", "all"].contains(&k.as_str()) {
            return Err(EngineError::Invalid(format!("invalid filter '{k}'")).into());
        }
    }
    let all = filters
        .get("all")
        .is_some_and(|v| v.iter().any(|x| x == "true" || x == "1"));
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for (name, m) in engine.volumes.list() {
        if (!all && !m.anonymous) || !engine.volume_users(&name).is_empty() {
            continue;
        }
        if filters
            .get("label")
            .is_some_and(|w| !labels_match(&m.labels, w))
        {
            continue;
        }
        if filters.get("label!").is_some_and(|w| {
            w.iter()
                .any(|x| labels_match(&m.labels, std::slice::from_ref(x)))
        }) {
            continue;
        }
        reclaimed += engine.volumes.remove(&name)?;
        engine.volume_event("destroy", &name);
        deleted.push(name);
    }
    engine.prune_event("volume", reclaimed);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "VolumesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
            "SpaceReclaimed": reclaimed,
        }),
    ))
}
