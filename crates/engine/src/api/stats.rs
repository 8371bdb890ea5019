//! `/containers/{id}/top` and `/containers/{id}/stats` handlers.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::{json_response, stream_response, ApiResult, AppState, Params};

pub async fn top(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let v = engine.top(&id, p.get("ps_args")).await?;
    Ok(json_response(StatusCode::OK, &v))
}

/// One sample (`stream=0`, after a second so `precpu_stats` is filled, unless `one-shot`), or
/// one per second until the client goes away or the container stops.
pub async fn stats(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let c = engine.get(&id)?;
    let stream = p.bool("stream", true);
    let one_shot = p.bool("one-shot", false);
    if !stream {
        let mut sample = engine.stats_sample(&c, None).await;
        if !one_shot && c.status().is_running() {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            sample = engine.stats_sample(&c, Some(&sample)).await;
        }
        return Ok(json_response(StatusCode::OK, &sample.json));
    }
    let (tx, resp) = stream_response(StatusCode::OK, Some("application/json"));
    tokio::spawn(async move {
        let mut prev = None;
        loop {
            let sample = engine.stats_sample(&c, prev.as_ref()).await;
            let mut line = serde_json::to_vec(&sample.json).unwrap_or_default();
            line.push(b'\n');
            if tx.send(line).await.is_err() || !c.status().is_running() {
                return;
            }
            prev = Some(sample);
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}
