//! The registry client against an in-process fixture registry that can require bearer tokens
//! (with its own token endpoint), corrupt a blob, serve bad manifests, multi-platform indexes,
//! or never answer. The real registries (docker-registry, berth's own) are exercised end to end
//! in the cli crate's tests.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::image::{
    Descriptor, ImageConfig, Index, Manifest, Platform, RootFs, MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_ZSTD,
    MEDIA_TYPE_OCI_MANIFEST,
};
use api::{Digest, ImageRef};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use image::distribution::{
    self, AuthConfig, DistributionError, Progress, PullOptions, Transport, TransportConfig,
};
use image::ImageStore;

#[derive(Default)]
struct Fake {
    blobs: HashMap<String, Vec<u8>>,
    /// By tag or digest: (media type, bytes).
    manifests: HashMap<String, (String, Vec<u8>)>,
    /// Basic credentials the token endpoint accepts; `None`: anonymous registry.
    bearer: Option<(String, String)>,
    /// Blobs served with one byte flipped.
    corrupt: Vec<String>,
    /// Requests seen, for checks.
    log: Mutex<Vec<String>>,
}

impl Fake {
    fn add_blob(&mut self, bytes: Vec<u8>) -> Digest {
        let d = Digest::sha256_of(&bytes);
        self.blobs.insert(d.to_string(), bytes);
        d
    }

    fn add_manifest(&mut self, tag: &str, media_type: &str, bytes: Vec<u8>) -> Digest {
        let d = Digest::sha256_of(&bytes);
        self.manifests
            .insert(tag.to_string(), (media_type.to_string(), bytes.clone()));
        self.manifests
            .insert(d.to_string(), (media_type.to_string(), bytes));
        d
    }

    fn answer(&self, port: u16, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {path}?{query}", req.method()));
        let reply = |status: StatusCode, ct: &str, body: Vec<u8>| {
            Response::builder()
                .status(status)
                .header("content-type", ct)
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        };
        if path == "/token" {
            let (user, pass) = self.bearer.clone().unwrap_or_default();
            let want = format!(
                "Basic {}",
                base64_encode(format!("{user}:{pass}").as_bytes())
            );
            let got = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if got != want {
                return reply(
                    StatusCode::UNAUTHORIZED,
                    "application/json",
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}"#.to_vec(),
                );
            }
            let scope = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("scope="))
                .unwrap_or("")
                .replace("%3A", ":")
                .replace("%2F", "/")
                .replace("%2C", ",");
            let body = format!(r#"{{"token":"tok {scope}","expires_in":300}}"#);
            return reply(StatusCode::OK, "application/json", body.into_bytes());
        }
        if self.bearer.is_some() {
            let got = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let repo = path
                .strip_prefix("/v2/")
                .and_then(|r| r.split("/manifests/").next())
                .and_then(|r| r.split("/blobs/").next())
                .unwrap_or("");
            let allowed = path == "/v2/" && got.starts_with("Bearer tok")
                || got == format!("Bearer tok repository:{repo}:pull");
            if !allowed {
                let mut r = reply(
                    StatusCode::UNAUTHORIZED,
                    "application/json",
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                        .to_vec(),
                );
                r.headers_mut().insert(
                    "www-authenticate",
                    format!(
                        r#"Bearer realm="http://127.0.0.1:{port}/token",service="fixture",scope="repository:{repo}:pull""#
                    )
                    .parse()
                    .unwrap(),
                );
                return r;
            }
        }
        if path == "/v2/" {
            return reply(StatusCode::OK, "application/json", b"{}".to_vec());
        }
        if let Some((_, r)) = path.split_once("/manifests/") {
            return match self.manifests.get(r) {
                Some((mt, b)) => reply(StatusCode::OK, mt, b.clone()),
                None => reply(
                    StatusCode::NOT_FOUND,
                    "application/json",
                    br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
                        .to_vec(),
                ),
            };
        }
        if let Some((_, d)) = path.split_once("/blobs/") {
            return match self.blobs.get(d) {
                Some(b) => {
                    let mut b = b.clone();
                    if self.corrupt.iter().any(|c| c == d) {
                        let last = b.len() - 1;
                        b[last] ^= 0xff;
                    }
                    reply(StatusCode::OK, "application/octet-stream", b)
                }
                None => reply(
                    StatusCode::NOT_FOUND,
                    "application/json",
                    br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}"#.to_vec(),
                ),
            };
        }
        reply(StatusCode::NOT_FOUND, "text/plain", b"404".to_vec())
    }
}

fn base64_encode(b: &[u8]) -> String {
    image::distribution::auth::encode_basic(
        std::str::from_utf8(b).unwrap().split_once(':').unwrap().0,
        std::str::from_utf8(b).unwrap().split_once(':').unwrap().1,
    )
}

/// Serves `fake` on a loopback port until the runtime ends.
async fn serve(fake: Fake) -> (u16, Arc<Fake>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = Arc::new(fake);
    let f = fake.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let f = f.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let f = f.clone();
                    async move { Ok::<_, Infallible>(f.answer(port, &req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (port, fake)
}

/// Serves `fake` over TLS with `cert`/`key` (PEM files) on a loopback port.
async fn serve_tls(fake: Fake, cert: &std::path::Path, key: &std::path::Path) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = Arc::new(fake);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (f, acceptor) = (fake.clone(), acceptor.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req| {
                    let f = f.clone();
                    async move { Ok::<_, Infallible>(f.answer(port, &req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    port
}

/// The busybox layer (plain tar) and the image pieces around it.
struct TestImage {
    layer_tar: Vec<u8>,
}

impl TestImage {
    fn new() -> TestImage {
        let dir = testkit::TempDir::new("dist");
        let tar = dir.path().join("bb.tar");
        testkit::busybox_tarball(&tar, false).unwrap();
        TestImage {
            layer_tar: std::fs::read(&tar).unwrap(),
        }
    }

    fn gzip(&self) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&self.layer_tar).unwrap();
        gz.finish().unwrap()
    }

    fn zstd(&self) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(
            &self.layer_tar[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        )
    }

    /// Adds config, layer and manifest to `fake` under `tag`; returns the manifest bytes.
    fn publish(
        &self,
        fake: &mut Fake,
        tag: &str,
        layer: Vec<u8>,
        layer_type: &str,
        arch: &str,
    ) -> Vec<u8> {
        let config = ImageConfig {
            architecture: arch.to_string(),
            os: "linux".into(),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![Digest::sha256_of(&self.layer_tar)],
            },
            ..ImageConfig::default()
        };
        let config = serde_json::to_vec(&config).unwrap();
        let (cl, ll) = (config.len() as u64, layer.len() as u64);
        let cd = fake.add_blob(config);
        let ld = fake.add_blob(layer);
        let m = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(MEDIA_TYPE_OCI_CONFIG, cd, cl),
            layers: vec![Descriptor::new(layer_type, ld, ll)],
            subject: None,
            annotations: Default::default(),
        };
        let bytes = serde_json::to_vec(&m).unwrap();
        fake.add_manifest(tag, MEDIA_TYPE_OCI_MANIFEST, bytes.clone());
        bytes
    }
}

fn store() -> (testkit::TempDir, Arc<ImageStore>) {
    testkit::require_root();
    let dir = testkit::TempDir::new("diststore");
    let s = ImageStore::open(dir.path()).unwrap();
    (dir, Arc::new(s))
}

fn transport() -> Arc<Transport> {
    Arc::new(Transport::new(TransportConfig {
        connect_timeout: Duration::from_secs(2),
        response_timeout: Duration::from_secs(2),
        ..TransportConfig::default()
    }))
}

fn reference(port: u16, rest: &str) -> ImageRef {
    format!("127.0.0.1:{port}/{rest}").parse().unwrap()
}

async fn pull(
    store: &Arc<ImageStore>,
    r: &ImageRef,
    auth: Option<AuthConfig>,
    platform: Option<Platform>,
) -> Result<(distribution::PullOutcome, Vec<String>), DistributionError> {
    let (progress, mut rx) = Progress::channel();
    let options = PullOptions {
        platform,
        ..PullOptions::default()
    };
    let out = distribution::pull(store.clone(), transport(), r, auth, &options, &progress).await;
    drop(progress);
    let mut lines = Vec::new();
    while let Some(m) = rx.recv().await {
        lines.push(format!(
            "{}{}",
            m.id.map(|i| format!("{i}: ")).unwrap_or_default(),
            m.status.unwrap_or_default()
        ));
    }
    out.map(|o| (o, lines))
}

fn creds(user: &str, pass: &str) -> Option<AuthConfig> {
    Some(AuthConfig {
        username: user.into(),
        password: pass.into(),
        ..AuthConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_pull_of_a_zstd_layer() {
    let img = TestImage::new();
    let (_dir, store) = store();
    let mut fake = Fake {
        bearer: Some(("alice".into(), "pw".into())),
        ..Fake::default()
    };
    img.publish(
        &mut fake,
        "1",
        img.zstd(),
        MEDIA_TYPE_OCI_LAYER_ZSTD,
        "amd64",
    );
    let (port, fake) = serve(fake).await;
    let r = reference(port, "team/app:1");

    let e = pull(&store, &r, None, None).await.unwrap_err();
    assert!(matches!(e, DistributionError::Unauthorized(_)), "{e}");
    let e = pull(&store, &r, creds("alice", "nope"), None)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("invalid username or password"),
        "{e}"
    );

    let (out, lines) = pull(&store, &r, creds("alice", "pw"), None).await.unwrap();
    assert!(out.changed);
    for want in [
        "Pulling from team/app",
        "Pulling fs layer",
        "Download complete",
        "Pull complete",
    ] {
        assert!(lines.iter().any(|l| l.contains(want)), "{want}: {lines:?}");
    }
    assert!(lines.last().unwrap().ends_with(&format!(
        "Status: Downloaded newer image for 127.0.0.1:{port}/team/app:1"
    )));
    let info = store.resolve(&r.to_string()).unwrap();
    assert_eq!(info.id, out.image.id);
    assert!(info.size > 0);
    // The token was asked for the repository's pull scope.
    assert!(fake
        .log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("/token?service=fixture&scope=repository%3Ateam%2Fapp%3Apull")));

    // Again: nothing changes, no layer is fetched.
    let before = fake.log.lock().unwrap().len();
    let (out, lines) = pull(&store, &r, creds("alice", "pw"), None).await.unwrap();
    assert!(!out.changed);
    assert!(
        lines.iter().any(|l| l.ends_with("Already exists")),
        "{lines:?}"
    );
    let blob_gets = fake.log.lock().unwrap()[before..]
        .iter()
        .filter(|l| l.contains("/blobs/"))
        .count();
    assert_eq!(blob_gets, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_blob_fails_the_pull_and_leaves_nothing() {
    let img = TestImage::new();
    let (dir, store) = store();
    let mut bad = Fake::default();
    let layer = img.gzip();
    let layer_digest = Digest::sha256_of(&layer);
    img.publish(
        &mut bad,
        "1",
        layer.clone(),
        MEDIA_TYPE_OCI_LAYER_GZIP,
        "amd64",
    );
    bad.corrupt.push(layer_digest.to_string());
    let (port, _) = serve(bad).await;

    let e = pull(&store, &reference(port, "app:1"), None, None)
        .await
        .unwrap_err();
    assert!(matches!(e, DistributionError::DigestMismatch(_)), "{e}");
    assert!(e.to_string().contains(&layer_digest.to_string()), "{e}");
    assert!(!store.content().exists(&layer_digest));
    assert!(store.list().is_empty());
    let ingest: Vec<_> = std::fs::read_dir(dir.path().join("content/ingest"))
        .unwrap()
        .collect();
    assert!(ingest.is_empty(), "{ingest:?}");

    let mut good = Fake::default();
    img.publish(&mut good, "1", layer, MEDIA_TYPE_OCI_LAYER_GZIP, "amd64");
    let (port, _) = serve(good).await;
    let (out, _) = pull(&store, &reference(port, "app:1"), None, None)
        .await
        .unwrap();
    assert!(store.content().exists(&layer_digest));
    assert_eq!(store.list().len(), 1);
    assert_eq!(store.list()[0].id, out.image.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_resolves_to_the_requested_platform() {
    let img = TestImage::new();
    let (_dir, store) = store();
    let mut fake = Fake::default();
    let mut entries = Vec::new();
    for arch in ["arm64", "amd64"] {
        let m = img.publish(&mut fake, arch, img.gzip(), MEDIA_TYPE_OCI_LAYER_GZIP, arch);
        let mut d = Descriptor::new(
            MEDIA_TYPE_OCI_MANIFEST,
            Digest::sha256_of(&m),
            m.len() as u64,
        );
        d.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            os_version: None,
            os_features: vec![],
            variant: None,
        });
        entries.push(d);
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_INDEX.into()),
        manifests: entries,
        ..Index::default()
    };
    let index_bytes = serde_json::to_vec(&index).unwrap();
    let index_digest = fake.add_manifest("multi", MEDIA_TYPE_OCI_INDEX, index_bytes);
    let (port, _) = serve(fake).await;
    let r = reference(port, "app:multi");

    let (out, _) = pull(&store, &r, None, None).await.unwrap();
    assert_eq!(out.digest, index_digest);
    assert_eq!(store.config(&out.image.id).unwrap().architecture, "amd64");
    assert!(out.image.repo_digests[0].ends_with(&index_digest.to_string()));

    let arm = Platform {
        architecture: "arm64".into(),
        ..Platform::host()
    };
    let (out, _) = pull(&store, &r, None, Some(arm)).await.unwrap();
    assert_eq!(store.config(&out.image.id).unwrap().architecture, "arm64");

    let s390 = Platform {
        architecture: "s390x".into(),
        ..Platform::host()
    };
    let e = pull(&store, &r, None, Some(s390)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "no matching manifest for linux/s390x in the manifest list entries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_are_refused_with_the_reason() {
    let (_dir, store) = store();
    let mut fake = Fake::default();
    fake.add_manifest(
        "odd",
        "application/vnd.example.thing+json",
        br#"{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json","config":{}}"#
            .to_vec(),
    );
    fake.add_manifest(
        "noconfig",
        MEDIA_TYPE_OCI_MANIFEST,
        format!(r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_OCI_MANIFEST}","layers":[]}}"#)
            .into_bytes(),
    );
    let (port, _) = serve(fake).await;
    let e = pull(&store, &reference(port, "app:odd"), None, None)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("unsupported manifest media type \"application/vnd.example.thing+json\""),
        "{e}"
    );
    let e = pull(&store, &reference(port, "app:noconfig"), None, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("missing field `config`"), "{e}");
    let e = pull(&store, &reference(port, "app:absent"), None, None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("manifest for 127.0.0.1:{port}/app:absent not found: manifest unknown: manifest unknown")
    );
    assert!(store.list().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_never_answers_times_out() {
    let (_dir, store) = store();
    // Accepts connections, never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let start = Instant::now();
    let e = pull(&store, &reference(port, "app:1"), None, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("timeout"), "{e}");
    // One TLS probe and one plain request, each bounded by the 2 s response timeout.
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_tls_with_a_certs_d_ca_and_refused_without_it() {
    let img = TestImage::new();
    let (_dir, store) = store();
    let certs = testkit::TempDir::new("tlsfix");
    let p = |n: &str| certs.path().join(n);
    let (cert, key, ca) = (p("cert.pem"), p("key.pem"), p("ca.pem"));
    // A CA, and a server certificate for 127.0.0.1 it signs (webpki refuses a CA certificate
    // as the server's own).
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(certs.path())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &["-days", "1", "-subj", "/CN=berth-test-ca"],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    let mut fake = Fake::default();
    img.publish(
        &mut fake,
        "1",
        img.gzip(),
        MEDIA_TYPE_OCI_LAYER_GZIP,
        "amd64",
    );
    let port = serve_tls(fake, &cert, &key).await;
    let r = reference(port, "secure:1");
    let strict = |certs_dir: Option<std::path::PathBuf>| {
        Arc::new(Transport::new(TransportConfig {
            certs_dir,
            loopback_insecure: false,
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            ..TransportConfig::default()
        }))
    };
    // Without the CA: the system roots do not know it, the pull fails on verification.
    let e = distribution::pull(
        store.clone(),
        strict(None),
        &r,
        None,
        &PullOptions::default(),
        &Progress::none(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    // With the CA in certs.d/<host:port>/: verified TLS, the pull completes.
    let certs_d = certs.path().join("certs.d");
    std::fs::create_dir_all(certs_d.join(format!("127.0.0.1:{port}"))).unwrap();
    std::fs::copy(&ca, certs_d.join(format!("127.0.0.1:{port}/ca.crt"))).unwrap();
    let out = distribution::pull(
        store.clone(),
        strict(Some(certs_d)),
        &r,
        None,
        &PullOptions::default(),
        &Progress::none(),
    )
    .await
    .unwrap();
    assert!(out.changed);
}
