//! Registry routes: `POST /images/create?fromImage=` (pull), `POST /images/{name}/push`,
//! `POST /auth` (login). Pull and push answer with Docker's JSON message stream; a failure
//! before the first message is a plain error response (the CLI exits 1 on a 404 manifest),
//! one after it is the stream's final error object.

use std::future::Future;

use api::docker::JsonMessage;
use api::ImageRef;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use image::distribution::{self, AuthConfig, DistributionError, Progress, PullOptions};
use serde_json::json;

use super::{json_response, stream_response, ApiResult, AppState, Params};
use crate::error::EngineError;

/// Credentials from `X-Registry-Auth` (absent, `e30=` or undecodable: anonymous).
fn registry_auth(headers: &HeaderMap) -> Option<AuthConfig> {
    headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .and_then(AuthConfig::from_header)
}

/// Runs `job` and streams its progress. Waits for the first message (or the end) before
/// answering, so an early failure is a plain error with its status. If the client goes away,
/// the job is dropped (which aborts its downloads or uploads).
async fn stream_job<F>(job: impl FnOnce(Progress) -> F) -> ApiResult<Response>
where
    F: Future<Output = Result<(), DistributionError>> + Send + 'static,
{
    let (progress, mut rx) = Progress::channel();
    let mut task = tokio::spawn(job(progress));
    let first = tokio::select! {
        m = rx.recv() => m,
        r = &mut task => {
            match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => return Err(EngineError::Registry(e).into()),
                Err(e) => return Err(crate::container::join_error(e).into()),
            }
        }
    };
    // The channel also ends (None) when the job returned without a message: its error is
    // then still an early one, answered plainly (as dockerd does for an unreachable registry).
    if first.is_none() {
        match (&mut task).await {
            Ok(Ok(())) => return Ok(stream_response(StatusCode::OK, Some("application/json")).1),
            Ok(Err(e)) => return Err(EngineError::Registry(e).into()),
            Err(e) => return Err(crate::container::join_error(e).into()),
        }
    }
    let (tx, resp) = stream_response(StatusCode::OK, Some("application/json"));
    tokio::spawn(async move {
        let line = |m: &JsonMessage| {
            let mut b = serde_json::to_vec(m).unwrap_or_default();
            b.extend_from_slice(b"\r\n");
            b
        };
        if let Some(m) = first {
            if tx.send(line(&m)).await.is_err() {
                task.abort();
                return;
            }
        }
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(m) => {
                        if tx.send(line(&m)).await.is_err() {
                            tracing::info!("client went away: cancelling the registry transfer");
                            task.abort();
                            return;
                        }
                    }
                    None => break,
                },
                _ = tx.closed() => {
                    tracing::info!("client went away: cancelling the registry transfer");
                    task.abort();
                    return;
                }
            }
        }
        // Every sender is gone: the job has ended.
        let end = match task.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.chain()),
            Err(e) => Some(format!("registry transfer failed: {e}")),
        };
        if let Some(message) = end {
            tracing::warn!(error = %message, "registry transfer failed");
            let _ = tx.send(line(&JsonMessage::error(message))).await;
        }
    });
    Ok(resp)
}

/// `POST /images/create?fromImage=NAME&tag=TAG[&platform=os/arch[/variant]]`.
pub async fn pull(engine: AppState, params: &Params, headers: &HeaderMap) -> ApiResult<Response> {
    let image = params.get("fromImage").unwrap_or("");
    let tag = params.get("tag").unwrap_or("");
    let name = if tag.is_empty() {
        image.to_string()
    } else if tag.starts_with("sha256:") {
        format!("{image}@{tag}")
    } else {
        format!("{image}:{tag}")
    };
    let reference: ImageRef = name
        .parse()
        .map_err(|e: api::reference::InvalidReference| EngineError::Invalid(e.to_string()))?;
    let mut options = PullOptions::default();
    if let Some(p) = params.get("platform").filter(|p| !p.is_empty()) {
        options.platform = Some(parse_platform(p)?);
    }
    let auth = registry_auth(headers);
    let store = engine.images.clone();
    let transport = engine.registries();
    stream_job(move |progress| async move {
        distribution::pull(store, transport, &reference, auth, &options, &progress).await?;
        engine.image_event(
            "pull",
            &reference.familiar(),
            Some(&reference.familiar_name()),
        );
        Ok(())
    })
    .await
}

/// `os/arch[/variant]` as `--platform` takes it.
fn parse_platform(s: &str) -> Result<api::image::Platform, EngineError> {
    let parts: Vec<&str> = s.split('/').collect();
    let bad = || {
        EngineError::Invalid(format!(
            "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"
        ))
    };
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let mut p = api::image::Platform::host();
    p.os = parts[0].to_string();
    p.architecture = parts[1].to_string();
    p.variant = parts.get(2).map(|v| v.to_string());
    Ok(p)
}

/// `POST /images/{name}/push?tag=`: an empty tag pushes every tag of the repository.
pub async fn push(
    engine: AppState,
    name: &str,
    params: &Params,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let repo: ImageRef = name
        .parse()
        .map_err(|e: api::reference::InvalidReference| EngineError::Invalid(e.to_string()))?;
    let tag = params.get("tag").unwrap_or("");
    let refs: Vec<ImageRef> = if !tag.is_empty() {
        vec![repo
            .with_tag(tag)
            .map_err(|e| EngineError::Invalid(e.to_string()))?]
    } else if name.rsplit('/').next().unwrap_or(name).contains(':') {
        vec![repo.clone()]
    } else {
        let wanted = repo.repository();
        let mut all: Vec<ImageRef> = engine
            .images
            .list()
            .iter()
            .flat_map(|i| i.repo_tags.clone())
            .filter_map(|t| t.parse::<ImageRef>().ok())
            .filter(|r| r.repository() == wanted)
            .collect();
        all.sort_by_key(|r| r.to_string());
        if all.is_empty() {
            return Err(EngineError::Registry(DistributionError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                repo.familiar_name()
            )))
            .into());
        }
        all
    };
    let auth = registry_auth(headers);
    let store = engine.images.clone();
    let transport = engine.registries();
    stream_job(move |progress| async move {
        for r in &refs {
            distribution::push(store.clone(), transport.clone(), r, auth.clone(), &progress)
                .await?;
            engine.image_event("push", &r.familiar(), Some(&r.familiar_name()));
        }
        Ok(())
    })
    .await
}

/// `POST /auth` with `{"username","password","serveraddress"}`: checks the credentials
/// against the registry; the client stores them.
pub async fn auth(State(engine): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let creds: AuthConfig = serde_json::from_slice(&body)
        .map_err(|e| EngineError::Invalid(format!("invalid auth configuration: {e}")))?;
    let creds = creds.normalized();
    let server = creds.serveraddress.clone();
    distribution::login(&engine.registries(), &server, creds)
        .await
        .map_err(EngineError::Registry)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"IdentityToken": "", "Status": "Login Succeeded"}),
    ))
}
