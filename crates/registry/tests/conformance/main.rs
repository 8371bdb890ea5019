//! The OCI distribution-spec conformance checks (pull, push, content discovery, content
//! management; the list in `shared/reference/registry.md` section 13) as one Rust suite over
//! real TCP, run against berth's registry (in process, on 127.0.0.1:0) and, as a check of the
//! suite itself, against Debian's `docker-registry` (distribution 2.8) when it is installed.
//!
//! Each check names the feature it exercises; a target declares the features it lacks, and
//! checks of those features are reported as skipped (never counted as passing). berth must
//! pass every check; distribution must pass every check it is not exempt from.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api::Digest;
use serde_json::{json, Value};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const SPEC_CODES: &[&str] = &[
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
];

mod checks;
#[path = "../support/mod.rs"]
mod support;

use support::{Client, Resp};

// ---- targets ----

/// Features a target may lack.
const REFERRERS: &str = "referrers API and OCI-Subject";
const CHUNK_ORDER: &str = "416 for out-of-order chunks and 204 on a stale upload location";
const TAG_PAGINATION: &str = "tags list pagination";
const TAG_DELETE: &str = "tag delete";
const BAD_REFERENCE: &str = "400/404 for a malformed digest reference (2.8 answers 500)";

struct Report {
    target: &'static str,
    lacks: BTreeSet<&'static str>,
    passed: Vec<String>,
    failed: Vec<String>,
    skipped: Vec<String>,
}

impl Report {
    fn check(&mut self, name: &str, ok: bool, detail: impl FnOnce() -> String) {
        if ok {
            self.passed.push(name.to_string());
        } else {
            self.failed.push(format!("{name}: {}", detail()));
        }
    }

    /// A check of `feature`: skipped (whatever its outcome) when the target lacks it.
    fn check_feature(
        &mut self,
        feature: &'static str,
        name: &str,
        ok: bool,
        detail: impl FnOnce() -> String,
    ) {
        if self.lacks.contains(feature) {
            let outcome = if ok {
                "passed anyway"
            } else {
                "failed as expected"
            };
            self.skipped.push(format!("{name} [{feature}; {outcome}]"));
        } else {
            self.check(name, ok, detail);
        }
    }

    fn print(&self) {
        eprintln!(
            "conformance against {}: {} passed, {} failed, {} skipped",
            self.target,
            self.passed.len(),
            self.failed.len(),
            self.skipped.len()
        );
        for s in &self.skipped {
            eprintln!("  skipped: {s}");
        }
        for f in &self.failed {
            eprintln!("  FAILED: {f}");
        }
    }
}

fn body_text(r: &Resp) -> String {
    format!("{} {}", r.status, String::from_utf8_lossy(&r.body))
}

fn unique() -> String {
    testkit::unique_name("conf")
}

fn image(config: &[u8], layer: &[u8], extra: Value) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": Digest::sha256_of(config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::sha256_of(layer), "size": layer.len()}],
    });
    if let (Some(obj), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&m).unwrap()
}

async fn run_suite(addr: SocketAddr, target: &'static str, lacks: &[&'static str]) -> Report {
    let c = Client { addr };
    let mut rep = Report {
        target,
        lacks: lacks.iter().copied().collect(),
        passed: Vec::new(),
        failed: Vec::new(),
        skipped: Vec::new(),
    };
    let r = c.get("/v2/").await;
    rep.check("base: GET /v2/ -> 200", r.status == 200, || body_text(&r));
    checks::pull(&c, &mut rep, "conformance/pull").await;
    checks::push(&c, &mut rep, "conformance/push", "conformance/cross").await;
    checks::discovery(&c, &mut rep, "conformance/discovery").await;
    checks::management(&c, &mut rep, "conformance/management").await;
    rep.print();
    rep
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_berth() {
    let dir = testkit::TempDir::new("registry-conformance");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(registry::serve_with_shutdown(
        listener,
        registry::RegistryConfig::new(addr, dir.path()),
        async {
            let _ = stopped.await;
        },
    ));
    let rep = run_suite(addr, "berth", &[]).await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert!(rep.failed.is_empty(), "berth failed: {:#?}", rep.failed);
    assert!(rep.skipped.is_empty());
    assert!(rep.passed.len() > 60, "{}", rep.passed.len());
}

/// A `docker-registry serve` process on a free port, killed on drop.
struct Distribution {
    child: Child,
    _dir: testkit::TempDir,
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_distribution() -> Option<(Distribution, SocketAddr)> {
    let bin = "/usr/bin/docker-registry";
    if !std::path::Path::new(bin).exists() {
        return None;
    }
    let dir = testkit::TempDir::new("registry-distribution");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog: {{ level: error, accesslog: {{ disabled: true }} }}\nstorage:\n  filesystem: {{ rootdirectory: {} }}\n  delete: {{ enabled: true }}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Distribution { child, _dir: dir };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "docker-registry did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((guard, addr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_checked_against_distribution() {
    let Some((_guard, addr)) = start_distribution() else {
        eprintln!("skipping: /usr/bin/docker-registry is not installed");
        return;
    };
    let rep = run_suite(
        addr,
        "docker-registry 2.8",
        &[
            REFERRERS,
            CHUNK_ORDER,
            TAG_PAGINATION,
            TAG_DELETE,
            BAD_REFERENCE,
        ],
    )
    .await;
    assert!(
        rep.failed.is_empty(),
        "distribution failed: {:#?}",
        rep.failed
    );
    assert!(rep.passed.len() > 50, "{}", rep.passed.len());
}
