//! Counters for `GET /metrics` (Prometheus text format 0.0.4): requests by route, method and
//! status, bytes in and out, upload session durations, uploads in progress, and storage usage
//! per repository (computed on scrape, cached for [`USAGE_TTL`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a computed storage usage is served before it is walked again.
pub const USAGE_TTL: Duration = Duration::from_secs(30);

/// Upper bounds (seconds) of the upload-duration histogram buckets.
const BUCKETS: [f64; 9] = [0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Bytes per repository, as `(name, bytes)`.
pub type Usage = Vec<(String, u64)>;

/// The registry's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(&'static str, String, u16), u64>>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    upload_buckets: [AtomicU64; BUCKETS.len()],
    upload_count: AtomicU64,
    upload_micros: AtomicU64,
    gc_runs: AtomicU64,
    gc_blobs_deleted: AtomicU64,
    uploads_purged: AtomicU64,
    usage: Mutex<Option<(Instant, Usage)>>,
}

impl Metrics {
    /// Counts one answered request.
    pub fn record_request(&self, route: &'static str, method: &str, status: u16) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((route, method.to_string(), status))
            .or_insert(0) += 1;
    }

    /// Counts bytes received in request bodies.
    pub fn add_bytes_in(&self, n: u64) {
        self.bytes_in.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts bytes sent in response bodies.
    pub fn add_bytes_out(&self, n: u64) {
        self.bytes_out.fetch_add(n, Ordering::Relaxed);
    }

    /// Records how long a finished upload session took from POST to the completing PUT.
    pub fn observe_upload(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.upload_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.upload_count.fetch_add(1, Ordering::Relaxed);
        self.upload_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Records a GC run.
    pub fn record_gc(&self, deleted: usize) {
        self.gc_runs.fetch_add(1, Ordering::Relaxed);
        self.gc_blobs_deleted
            .fetch_add(deleted as u64, Ordering::Relaxed);
    }

    /// Records purged upload sessions.
    pub fn record_purge(&self, n: usize) {
        self.uploads_purged.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The cached storage usage, if fresh.
    pub fn cached_usage(&self) -> Option<Vec<(String, u64)>> {
        match &*self.usage.lock().expect("metrics lock") {
            Some((at, u)) if at.elapsed() < USAGE_TTL => Some(u.clone()),
            _ => None,
        }
    }

    /// Stores a freshly computed storage usage.
    pub fn set_usage(&self, usage: Vec<(String, u64)>) {
        *self.usage.lock().expect("metrics lock") = Some((Instant::now(), usage));
    }

    /// Renders everything in Prometheus text format.
    pub fn render(&self, uploads_in_progress: usize, usage: &[(String, u64)]) -> String {
        let mut out = String::new();
        let mut reqs: Vec<_> = self
            .requests
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        reqs.sort();
        out.push_str("# HELP berth_registry_requests_total HTTP requests answered.\n");
        out.push_str("# TYPE berth_registry_requests_total counter\n");
        for ((route, method, status), n) in reqs {
            let _ = writeln!(
                out,
                "berth_registry_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            &mut out,
            "berth_registry_bytes_received_total",
            "Bytes received in request bodies.",
            self.bytes_in.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "berth_registry_bytes_sent_total",
            "Bytes sent in response bodies.",
            self.bytes_out.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "berth_registry_gc_runs_total",
            "Online garbage collection runs.",
            self.gc_runs.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "berth_registry_gc_blobs_deleted_total",
            "Blobs deleted by online garbage collection.",
            self.gc_blobs_deleted.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "berth_registry_uploads_purged_total",
            "Stale upload sessions removed.",
            self.uploads_purged.load(Ordering::Relaxed),
        );
        out.push_str("# HELP berth_registry_upload_duration_seconds Upload sessions from start to completion.\n");
        out.push_str("# TYPE berth_registry_upload_duration_seconds histogram\n");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "berth_registry_upload_duration_seconds_bucket{{le=\"{le}\"}} {}",
                self.upload_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.upload_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "berth_registry_upload_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "berth_registry_upload_duration_seconds_sum {}",
            self.upload_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "berth_registry_upload_duration_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP berth_registry_uploads_in_progress Open upload sessions.\n# TYPE berth_registry_uploads_in_progress gauge\nberth_registry_uploads_in_progress {uploads_in_progress}"
        );
        out.push_str("# HELP berth_registry_repository_bytes Bytes of blobs and manifests linked into each repository (shared blobs count in each).\n");
        out.push_str("# TYPE berth_registry_repository_bytes gauge\n");
        for (repo, bytes) in usage {
            let _ = writeln!(
                out,
                "berth_registry_repository_bytes{{repository=\"{repo}\"}} {bytes}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.record_request("blob", "GET", 200);
        m.record_request("blob", "GET", 200);
        m.add_bytes_out(10);
        m.observe_upload(Duration::from_millis(200));
        let text = m.render(2, &[("a/b".into(), 42)]);
        assert!(text.contains(
            "berth_registry_requests_total{route=\"blob\",method=\"GET\",status=\"200\"} 2\n"
        ));
        assert!(text.contains("berth_registry_bytes_sent_total 10\n"));
        assert!(text.contains("berth_registry_upload_duration_seconds_bucket{le=\"0.1\"} 0\n"));
        assert!(text.contains("berth_registry_upload_duration_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("berth_registry_uploads_in_progress 2\n"));
        assert!(text.contains("berth_registry_repository_bytes{repository=\"a/b\"} 42\n"));
    }
}
