//! `berth logs`: inspect the container for its `Tty` flag, then stream
//! `GET /containers/{id}/logs`, demultiplexed unless the container has a TTY.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::Method;
use serde_json::Value;

use super::Ctx;
use crate::args::LogsArgs;
use crate::client::{empty_body, next_chunk, Query};
use crate::error::StatusError;
use crate::stream::OutputSink;

/// `berth logs`.
pub async fn logs(ctx: &Ctx, args: LogsArgs) -> anyhow::Result<i32> {
    let now = SystemTime::now();
    let since = args
        .since
        .as_deref()
        .map(|s| timestamp(s, now))
        .transpose()
        .map_err(|e| StatusError::new(1, format!("Error: {e}")))?;
    let until = args
        .until
        .as_deref()
        .map(|s| timestamp(s, now))
        .transpose()
        .map_err(|e| StatusError::new(1, format!("Error: {e}")))?;
    let client = ctx.client().await?;
    let info: Value = client
        .get_json(
            &format!("/containers/{}/json", args.container),
            &Query::new(),
        )
        .await?;
    let id = info["Id"].as_str().unwrap_or(&args.container).to_string();
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);

    let mut q = Query::new();
    q.flag("follow", args.follow)
        .flag("stderr", true)
        .flag("stdout", true)
        .flag("timestamps", args.timestamps)
        .add("tail", args.tail.clone());
    if let Some(s) = since {
        q.add("since", s);
    }
    if let Some(u) = until {
        q.add("until", u);
    }
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{id}/logs"),
            &q,
            empty_body(),
            &[],
        )
        .await?;
    let mut body = resp.into_body();
    let mut sink = OutputSink::stdio(tty);
    while let Some(chunk) = next_chunk(&mut body).await? {
        sink.write_chunk(&chunk).await?;
    }
    Ok(0)
}

/// docker's `GetTimestamp`: a Go duration (`3s`, `1h30m`) becomes whole Unix seconds before
/// `now`; an RFC 3339 time becomes `secs.nanos`; a Unix time passes through.
pub fn timestamp(value: &str, now: SystemTime) -> Result<String, String> {
    if value != "0" {
        if let Some(d) = api::time::go_duration(value) {
            let t = now.checked_sub(d).unwrap_or(UNIX_EPOCH);
            return Ok(api::time::unix_seconds(t).to_string());
        }
    }
    let candidate = if value.len() == 10 && value.as_bytes().get(4) == Some(&b'-') {
        format!("{value}T00:00:00Z")
    } else if value.len() == 19 && value.as_bytes().get(10) == Some(&b'T') {
        format!("{value}Z")
    } else {
        value.to_string()
    };
    if let Some(t) = api::time::parse_rfc3339(&candidate) {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        return Ok(format!("{}.{:09}", d.as_secs(), d.subsec_nanos()));
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    if !secs.is_empty()
        && secs.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
    {
        return Ok(value.to_string());
    }
    Err(format!(
        "invalid value for \"since\"/\"until\": {value:?}: expected a duration (42m), an RFC 3339 time or a Unix timestamp"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn relative_and_absolute_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_411_835);
        assert_eq!(timestamp("3s", now).unwrap(), "1795411832");
        assert_eq!(timestamp("1h30m", now).unwrap(), "1795406435");
        assert_eq!(
            timestamp("2026-11-23T05:30:00.5Z", now).unwrap(),
            "1795411800.500000000"
        );
        assert_eq!(timestamp("1795411800", now).unwrap(), "1795411800");
        assert_eq!(timestamp("0", now).unwrap(), "0");
        assert!(timestamp("yesterday", now).is_err());
        assert_eq!(
            api::time::go_duration("1.5h"),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(api::time::go_duration("10"), None);
    }
}
