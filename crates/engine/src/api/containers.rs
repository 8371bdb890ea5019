//! `/containers/...` handlers.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{json_response, read_body, stream_response, ApiResult, AppState, Params};
use crate::container::{AttachOptions, ListOptions, LogsOptions, WaitCondition};
use crate::error::EngineError;

pub async fn create(State(engine): State<AppState>, uri: Uri, body: Body) -> ApiResult<Response> {
    let params = Params::from_uri(&uri);
    let bytes = read_body(body, 16 << 20).await?;
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let req: api::docker::CreateRequest = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        EngineError::Invalid(format!("invalid value for {path}: {}", e.into_inner()))
    })?;
    let (id, warnings) = engine.create(params.get("name"), req).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &api::docker::CreateResponse {
            id: id.to_string(),
            warnings,
        },
    ))
}

pub async fn list(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let mut limit = p
        .get("limit")
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0) as usize;
    let mut all = p.bool("all", false);
    if p.bool("latest", false) {
        limit = 1;
        all = true;
    }
    let filters = p.filters()?;
    for k in filters.keys() {
        if !crate::container::PS_FILTERS.contains(&k.as_str()) {
            return Err(EngineError::Invalid(format!("invalid filter '{k}'")).into());
        }
    }
    // dockerd refuses values it can never match, so a typo is not an empty list.
    const STATES: [&str; 7] = [
        "created",
        "running",
        "paused",
        "restarting",
        "removing",
        "exited",
        "dead",
    ];
    const HEALTH: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];
    for v in filters.get("status").into_iter().flatten() {
        if !STATES.contains(&v.as_str()) {
            return Err(EngineError::Invalid(format!("invalid filter 'status={v}'")).into());
        }
    }
    for v in filters.get("health").into_iter().flatten() {
        if !HEALTH.contains(&v.as_str()) {
            return Err(
                EngineError::Invalid(format!("Unrecognised filter value for health: {v}")).into(),
            );
        }
    }
    for v in filters.get("exited").into_iter().flatten() {
        if v.parse::<i32>().is_err() {
            return Err(EngineError::Invalid(format!("invalid filter 'exited={v}'")).into());
        }
    }
    let opts = ListOptions {
        all,
        filters,
        limit,
    };
    if !p.bool("size", false) {
        // The common case: the list written straight from the records.
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            engine.list_json(&opts),
        )
            .into_response());
    }
    let mut list = engine.list(&opts);
    // `ps -s` (and a `{{.Size}}` format): the writable layer and, as dockerd's
    // SizeRootFs, that plus the image.
    let images = engine.images.clone();
    let keys: Vec<(String, String)> = list
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("Id"), s("ImageID"))
        })
        .collect();
    let sizes = tokio::task::spawn_blocking(move || {
        keys.iter()
            .map(|(id, image)| {
                let rw = images.rootfs_usage(id);
                let base = images.resolve(image).map(|i| i.size).unwrap_or(0);
                (rw, rw + base)
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(crate::container::join_error)?;
    for (c, (rw, root)) in list.iter_mut().zip(sizes) {
        c["SizeRw"] = serde_json::json!(rw);
        c["SizeRootFs"] = serde_json::json!(root);
    }
    Ok(json_response(StatusCode::OK, &list))
}

pub async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let c = engine.get(&id)?;
    Ok(json_response(StatusCode::OK, &engine.inspect(&c)))
}

pub async fn start(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    engine.start(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn stop(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    engine.stop(&id, stop_timeout(&p)?, p.get("signal")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `t` (or `timeout`) of stop and restart: seconds before SIGKILL.
fn stop_timeout(p: &Params) -> Result<Option<i64>, EngineError> {
    p.get("t")
        .or(p.get("timeout"))
        .map(|t| {
            t.parse::<i64>().map_err(|_| {
                EngineError::Invalid(format!("invalid value for t: {t:?}: expected seconds"))
            })
        })
        .transpose()
}

pub async fn restart(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    engine
        .restart(&id, stop_timeout(&p)?, p.get("signal"))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn pause(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    engine.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unpause(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    engine.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn kill(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    // dockerd's router refuses a bad signal as it is, then wraps every other kill error.
    if let Some(sig) = p.get("signal").filter(|s| !s.is_empty()) {
        if crate::signal::parse(sig).is_none() {
            return Err(EngineError::Invalid(format!("Invalid signal: {sig}")).into());
        }
    }
    engine
        .kill(&id, p.get("signal"))
        .await
        .map_err(|e| e.context(format!("cannot kill container: {id}")))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn remove(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    engine
        .remove_with_volumes(&id, p.bool("force", false), p.bool("v", false))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Headers go out at once; the body when the condition is met. A client that goes away
/// drops the body and with it the wait.
pub async fn wait(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let condition: WaitCondition = p.get("condition").unwrap_or("").parse()?;
    let fut = engine.wait(&id, condition)?;
    let (tx, resp) = stream_response(StatusCode::OK, Some("application/json"));
    tokio::spawn(async move {
        tokio::select! {
            code = fut => {
                let body = api::docker::WaitResponse { error: None, status_code: code };
                let mut line = serde_json::to_vec(&body).unwrap_or_default();
                line.push(b'\n');
                let _ = tx.send(line).await;
            }
            _ = tx.closed() => {}
        }
    });
    Ok(resp)
}

pub async fn attach(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let c = engine.get(&id)?;
    let p = Params::from_uri(req.uri());
    let detach_keys =
        match p.get("detachKeys").filter(|k| !k.is_empty()) {
            Some(spec) => Some(api::detach_keys::parse(spec).map_err(|_| {
                EngineError::Invalid(format!("Invalid detach keys ({spec}) provided"))
            })?),
            None => None,
        };
    let opts = AttachOptions {
        stdin: p.bool("stdin", false),
        stdout: p.bool("stdout", false),
        stderr: p.bool("stderr", false),
        detach_keys,
    };
    let tty = c.record().config.tty;
    let on_upgrade = hyper::upgrade::on(&mut req);
    engine.attach(c, on_upgrade, opts);
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

pub async fn logs(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let c = engine.get(&id)?;
    let opts = LogsOptions {
        stdout: p.bool("stdout", false),
        stderr: p.bool("stderr", false),
        follow: p.bool("follow", false),
        timestamps: p.bool("timestamps", false),
        tail: match p.get("tail") {
            None | Some("all") | Some("") => None,
            // dockerd reads a tail that is not a number, or a negative one, as "all".
            Some(n) => n
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .map(|n| n as usize),
        },
        since: parse_unix_time(p.get("since"))?,
        until: parse_unix_time(p.get("until"))?,
    };
    if !opts.stdout && !opts.stderr {
        return Err(EngineError::Invalid(
            "Bad parameters: you must choose at least one stream".into(),
        )
        .into());
    }
    if c.record().host_config.log_config.kind == api::log_opts::NONE {
        return Err(EngineError::Invalid(
            "configured logging driver does not support reading".into(),
        )
        .into());
    }
    let tty = c.record().config.tty;
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let (tx, resp) = stream_response(StatusCode::OK, Some(ct));
    let id = c.id.to_string();
    tokio::spawn(async move {
        if let Err(e) = engine.logs(&id, opts, tx).await {
            tracing::warn!(container = %id, error = %e, "logs failed");
        }
    });
    Ok(resp)
}

pub async fn resize(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let dim = |k: &str| -> Result<u16, EngineError> {
        p.get(k)
            .unwrap_or("0")
            .parse()
            .map_err(|_| EngineError::Invalid(format!("invalid value for {k}")))
    };
    engine.resize(&id, dim("h")?, dim("w")?).await?;
    Ok((StatusCode::OK, [(header::CONTENT_LENGTH, "0")]).into_response())
}

/// `since`/`until` as clients send them: whole seconds or `seconds.nanoseconds`, or RFC 3339.
fn parse_unix_time(v: Option<&str>) -> Result<Option<std::time::SystemTime>, EngineError> {
    let Some(v) = v.filter(|v| !v.is_empty() && *v != "0") else {
        return Ok(None);
    };
    if let Some(t) = api::time::parse_rfc3339(v) {
        return Ok(Some(t));
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
    let secs: u64 = secs
        .parse()
        .map_err(|_| EngineError::Invalid(format!("invalid time value {v:?}")))?;
    let mut nanos: u32 = 0;
    for (i, c) in frac.bytes().take(9).enumerate() {
        if !c.is_ascii_digit() {
            return Err(EngineError::Invalid(format!("invalid time value {v:?}")));
        }
        nanos += (c - b'0') as u32 * 10u32.pow(8 - i as u32);
    }
    Ok(Some(
        std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos),
    ))
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let name = p.get("name").unwrap_or("");
    engine.rename(&id, name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/prune?filters=` (until, label): removes every stopped container.
pub async fn prune(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let filters = Params::from_uri(&uri).filters()?;
    for k in filters.keys() {
        if !["until", "label", "label!"].contains(&k.as_str()) {
            return Err(EngineError::Invalid(format!("invalid filter '{k}'")).into());
        }
    }
    let (deleted, reclaimed) = engine.prune_containers(&filters).await?;
    engine.prune_event("container", reclaimed);
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "ContainersDeleted": if deleted.is_empty() { serde_json::Value::Null } else { serde_json::json!(deleted) },
            "SpaceReclaimed": reclaimed,
        }),
    ))
}

/// `POST /containers/{id}/update`: `{"Warnings": [...]}`.
pub async fn update(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let u: crate::container::UpdateConfig = if body.iter().all(u8::is_ascii_whitespace) {
        Default::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| EngineError::Invalid(format!("invalid update body: {e}")))?
    };
    let warnings = engine.update(&id, u).await?;
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"Warnings": warnings}),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_in_both_client_forms() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(
            super::parse_unix_time(Some("1795411832")).unwrap(),
            Some(UNIX_EPOCH + Duration::from_secs(1795411832))
        );
        assert_eq!(
            super::parse_unix_time(Some("1795411800.500000000")).unwrap(),
            Some(UNIX_EPOCH + Duration::new(1795411800, 500_000_000))
        );
        assert!(super::parse_unix_time(Some("soon")).is_err());
    }
}
