//! Health checks: Docker's `HEALTHCHECK` semantics. While a container with a check runs, its
//! test runs every interval as an exec in the container (`CMD` as is, `CMD-SHELL` through
//! `/bin/sh -c`), killed after the timeout; the last 5 results (output cut at 4096 bytes) go
//! into `State.Health`, `retries` failures in a row make it `unhealthy`, failures during the
//! start period do not count, a success makes it `healthy`; changes are `health_status` events.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use api::shim::ExecConfig;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::record::Status;
use super::{Container, Engine};
use crate::shim_client;

const MAX_LOG: usize = 5;
const MAX_OUTPUT: usize = 4096;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;

/// `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Failures in a row.
    pub failing_streak: u32,
    /// The last results, oldest first.
    pub log: Vec<HealthResult>,
}

/// One probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    /// RFC 3339 start.
    pub start: String,
    /// RFC 3339 end.
    pub end: String,
    /// The test's exit code (-1: timed out or could not run).
    pub exit_code: i64,
    /// Its output (stdout and stderr), at most 4096 bytes.
    pub output: String,
}

/// A container's effective check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    argv: Vec<String>,
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    retries: i64,
}

fn nanos(v: &Value, key: &str, default: Duration) -> Duration {
    match v[key].as_i64() {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

/// The check of a container config's `Healthcheck` (None: none, or `NONE`).
pub(crate) fn check_of(hc: Option<&Value>) -> Option<Check> {
    let hc = hc?;
    let test: Vec<String> = hc["Test"]
        .as_array()?
        .iter()
        .filter_map(|s| s.as_str().map(String::from))
        .collect();
    let argv = match test.first().map(String::as_str) {
        Some("CMD") if test.len() > 1 => test[1..].to_vec(),
        Some("CMD-SHELL") if test.len() > 1 => {
            vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")]
        }
        _ => return None, // NONE, empty or unknown: no check
    };
    Some(Check {
        argv,
        interval: nanos(hc, "Interval", DEFAULT_INTERVAL),
        timeout: nanos(hc, "Timeout", DEFAULT_TIMEOUT),
        start_period: nanos(hc, "StartPeriod", Duration::ZERO),
        retries: hc["Retries"]
            .as_i64()
            .filter(|r| *r > 0)
            .unwrap_or(DEFAULT_RETRIES),
    })
}

/// What `ps` appends to `Up ...`.
pub(crate) fn ps_suffix(h: Option<&Health>) -> &'static str {
    match h.map(|h| h.status.as_str()) {
        Some("starting") => " (health: starting)",
        Some("healthy") => " (healthy)",
        Some("unhealthy") => " (unhealthy)",
        _ => "",
    }
}

impl Engine {
    /// Starts the health monitor of a container that just started (no-op without a check).
    pub(crate) fn start_health(self: &Arc<Engine>, c: &Arc<Container>) {
        let rec = c.record();
        let Some(check) = check_of(rec.config.healthcheck.as_ref()) else {
            return;
        };
        let started = rec.state.started_at.clone();
        let _ = c.update(&self.paths, |r| {
            r.state.health = Some(Health {
                status: "starting".into(),
                failing_streak: 0,
                log: Vec::new(),
            })
        });
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            let since = SystemTime::now();
            loop {
                tokio::time::sleep(check.interval).await;
                let rec = c.record();
                // Stop with the run it was started for.
                if rec.state.status != Status::Running && rec.state.status != Status::Paused
                    || rec.state.started_at != started
                    || c.lifecycle.borrow().removed
                {
                    return;
                }
                if rec.state.status == Status::Paused {
                    continue;
                }
                let result = engine.probe(&c, &check).await;
                let in_start_period = since.elapsed().unwrap_or_default() < check.start_period;
                let mut changed = None;
                let _ = c.update(&engine.paths, |r| {
                    if r.state.started_at != started {
                        return;
                    }
                    let h = r.state.health.get_or_insert_with(Health::default);
                    let before = h.status.clone();
                    if result.exit_code == 0 {
                        h.failing_streak = 0;
                        h.status = "healthy".into();
                    } else if !in_start_period || h.status != "starting" {
                        h.failing_streak += 1;
                        if i64::from(h.failing_streak) >= check.retries {
                            h.status = "unhealthy".into();
                        }
                    }
                    h.log.push(result.clone());
                    if h.log.len() > MAX_LOG {
                        let extra = h.log.len() - MAX_LOG;
                        h.log.drain(..extra);
                    }
                    if h.status != before {
                        changed = Some(h.status.clone());
                    }
                });
                if let Some(status) = changed {
                    engine.container_event(&c.record(), &format!("health_status: {status}"), &[]);
                }
            }
        });
    }

    /// Runs the test once as an exec in the container.
    async fn probe(&self, c: &Container, check: &Check) -> HealthResult {
        let start = api::time::rfc3339_nano(SystemTime::now());
        let rec = c.record();
        let mut env =
            vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
        env.extend(rec.config.env.clone().unwrap_or_default());
        let cfg = ExecConfig {
            exec_id: format!("health-{}", crate::names::random_hex(16)),
            args: check.argv.clone(),
            env,
            cwd: String::new(),
            user: String::new(),
            tty: false,
            stdin: false,
            privileged: false,
            console_size: None,
        };
        let sock = self.paths.shim_socket(c.id.as_str());
        let (exit_code, output) = match shim_client::exec(&sock, cfg).await {
            Ok((resp, Some(stream))) => {
                let pid = resp.pid.unwrap_or(0);
                match tokio::time::timeout(check.timeout, collect(stream)).await {
                    Ok(r) => r,
                    Err(_) => {
                        if pid > 0 {
                            let _ = nix::sys::signal::kill(
                                nix::unistd::Pid::from_raw(pid),
                                nix::sys::signal::Signal::SIGKILL,
                            );
                        }
                        (
                            -1,
                            format!(
                                "Health check exceeded timeout ({}s)",
                                check.timeout.as_secs_f64()
                            ),
                        )
                    }
                }
            }
            Ok((resp, None)) => (-1, resp.error.unwrap_or_default()),
            Err(e) => (-1, e.to_string()),
        };
        HealthResult {
            start,
            end: api::time::rfc3339_nano(SystemTime::now()),
            exit_code: i64::from(exit_code),
            output,
        }
    }
}

/// Reads an exec stream (Docker's frames, then the exit frame) into (exit code, output).
async fn collect(mut s: tokio::net::UnixStream) -> (i32, String) {
    let mut out: Vec<u8> = Vec::new();
    let mut header = [0u8; 8];
    loop {
        if s.read_exact(&mut header).await.is_err() {
            return (-1, String::from_utf8_lossy(&out).into_owned());
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut payload = vec![0u8; len.min(1 << 20)];
        if s.read_exact(&mut payload).await.is_err() {
            return (-1, String::from_utf8_lossy(&out).into_owned());
        }
        if header[0] == api::shim::EXEC_EXIT_STREAM {
            let resp: api::shim::Response = serde_json::from_slice(&payload).unwrap_or_default();
            out.truncate(MAX_OUTPUT);
            return (
                resp.exit_code.unwrap_or(-1),
                String::from_utf8_lossy(&out).into_owned(),
            );
        }
        if out.len() < MAX_OUTPUT {
            out.extend_from_slice(&payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_parse_like_docker() {
        let c = check_of(Some(
            &json!({"Test":["CMD-SHELL","test -f /ok"],"Interval":2000000000,"Retries":2}),
        ))
        .unwrap();
        assert_eq!(c.argv, ["/bin/sh", "-c", "test -f /ok"]);
        assert_eq!(c.interval, Duration::from_secs(2));
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.retries, 2);
        assert_eq!(
            check_of(Some(&json!({"Test":["CMD","true"]})))
                .unwrap()
                .argv,
            ["true"]
        );
        assert!(check_of(Some(&json!({"Test":["NONE"]}))).is_none());
        assert!(check_of(None).is_none());
        assert_eq!(ps_suffix(None), "");
    }
}
