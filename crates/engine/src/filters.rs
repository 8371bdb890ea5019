//! Filter values shared by the list and prune handlers: Docker's `label=` and `until=` rules.

use std::collections::BTreeMap;

use crate::error::EngineError;

/// `label=key` or `label=key=value`: every one of `want` must match.
pub fn labels_match(labels: &BTreeMap<String, String>, want: &[String]) -> bool {
    want.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(w.as_str()),
    })
}

/// An `until` value as unix seconds: unix seconds, RFC 3339, or a Go duration (`24h`, `90m`)
/// before now.
pub fn parse_until(s: &str) -> Result<i64, EngineError> {
    if let Ok(n) = s.parse::<f64>() {
        return Ok(n as i64);
    }
    if let Some(t) = api::time::parse_rfc3339(s) {
        return Ok(api::time::unix_seconds(t));
    }
    let now = api::time::unix_seconds(std::time::SystemTime::now());
    api::time::go_duration(s)
        .map(|d| now - d.as_secs() as i64)
        .ok_or_else(|| {
            EngineError::Invalid(format!("failed to parse value as time or duration: {s:?}"))
        })
}

/// Every value of filter `key` through `f` (`None` when the filter is absent).
pub fn each<T>(
    filters: &BTreeMap<String, Vec<String>>,
    key: &str,
    f: impl Fn(&str) -> Result<T, EngineError>,
) -> Result<Option<Vec<T>>, EngineError> {
    filters
        .get(key)
        .map(|v| v.iter().map(|s| f(s)).collect())
        .transpose()
}
