//! `GET /events?since=&until=&filters=`: replays the recent events from `since` (Docker's
//! `secs[.nanos]`), then streams live ones until `until` or until the client goes away.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::{stream_response, ApiResult, AppState, Params};
use crate::error::EngineError;

/// `secs[.nanos]` (or an RFC 3339 time) in nanoseconds since the epoch.
fn timestamp(s: &str) -> Result<i64, EngineError> {
    if let Some(t) = api::time::parse_rfc3339(s) {
        return Ok(t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0));
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let bad = || EngineError::Invalid(format!("invalid timestamp {s:?}: expected secs[.nanos]"));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    Ok(secs * 1_000_000_000 + nanos)
}

pub async fn events(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let since = p
        .get("since")
        .filter(|s| !s.is_empty())
        .map(timestamp)
        .transpose()?;
    let until = p
        .get("until")
        .filter(|s| !s.is_empty())
        .map(timestamp)
        .transpose()?;
    let filters = p.filters()?;
    for k in filters.keys() {
        if ![
            "type",
            "event",
            "container",
            "image",
            "label",
            "network",
            "volume",
            "scope",
        ]
        .contains(&k.as_str())
        {
            return Err(EngineError::Invalid(format!("invalid filter '{k}'")).into());
        }
    }
    let (past, mut rx) = engine.events.subscribe();
    let (tx, resp) = stream_response(StatusCode::OK, Some("application/json"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);
    tokio::spawn(async move {
        let in_window = |t: i64| until.is_none_or(|u| t <= u);
        let line = |e: &crate::events::Event| {
            let mut b = serde_json::to_vec(&e.to_json()).unwrap_or_default();
            b.push(b'\n');
            b
        };
        if let Some(s) = since {
            for e in past
                .iter()
                .filter(|e| e.time_nano >= s && in_window(e.time_nano))
            {
                if e.matches(&filters) && tx.send(line(e)).await.is_err() {
                    return;
                }
            }
        }
        let deadline = until.map(|u| {
            tokio::time::Instant::now() + Duration::from_nanos(u.saturating_sub(now).max(0) as u64)
        });
        if until.is_some_and(|u| u <= now) {
            return;
        }
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            tokio::select! {
                r = next => match r {
                    None => return, // until reached
                    Some(Ok(e)) => {
                        if in_window(e.time_nano) && e.matches(&filters) && tx.send(line(&e)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                        tracing::warn!(missed = n, "an events subscriber fell behind");
                    }
                    Some(Err(_)) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_like_dockers() {
        assert_eq!(timestamp("12").unwrap(), 12_000_000_000);
        assert_eq!(timestamp("12.5").unwrap(), 12_500_000_000);
        assert_eq!(timestamp("12.000000001").unwrap(), 12_000_000_001);
        assert!(timestamp("x").is_err());
        assert_eq!(timestamp("1970-01-01T00:00:01Z").unwrap(), 1_000_000_000);
    }
}
