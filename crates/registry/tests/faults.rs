//! Faults over a real listener: 200 concurrent pushes of overlapping images while online GC
//! runs every few milliseconds; graceful shutdown with an upload in flight.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use api::Digest;
use registry::config::GcConfig;
use registry::RegistryConfig;
use serde_json::json;
use support::Client;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Chunked push: POST, PATCH, PUT ?digest=.
async fn push_blob_chunked(c: &Client, ns: &str, bytes: &[u8]) -> Result<Digest, String> {
    let d = Digest::sha256_of(bytes);
    let r = c
        .send("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], b"")
        .await;
    if r.status != 202 {
        return Err(format!("POST {}", r.status));
    }
    let loc = r.location().unwrap();
    let r = c
        .send(
            "PATCH",
            &loc,
            &[("content-type", "application/octet-stream")],
            bytes,
        )
        .await;
    if r.status != 202 {
        return Err(format!("PATCH {}", r.status));
    }
    let loc = r.location().unwrap();
    let r = c.send("PUT", &format!("{loc}?digest={d}"), &[], b"").await;
    if r.status != 201 {
        return Err(format!(
            "PUT {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    Ok(d)
}

fn layer(seed: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut x = Digest::sha256_of(seed.as_bytes()).hex().as_bytes().to_vec();
    while out.len() < len {
        out.extend_from_slice(&x);
        x = Digest::sha256_of(&x).hex().as_bytes().to_vec();
    }
    out.truncate(len);
    out
}

async fn push_image(c: Client, i: usize) -> Result<(String, Digest, Vec<(Digest, usize)>), String> {
    let ns = format!("load/r{}", i % 20);
    let base = layer("base", 256 * 1024);
    let group = layer(&format!("group{}", i % 10), 32 * 1024);
    let own = layer(&format!("own{i}"), 4096);
    let config = json!({"architecture": "amd64", "os": "linux", "n": i})
        .to_string()
        .into_bytes();
    let mut descs = Vec::new();
    for blob in [&base, &group, &own] {
        // Skip blobs the repository already has, as clients do (exercises the HEAD path).
        let d = Digest::sha256_of(blob);
        let head = c
            .send("HEAD", &format!("/v2/{ns}/blobs/{d}"), &[], b"")
            .await;
        if head.status != 200 {
            push_blob_chunked(&c, &ns, blob).await?;
        }
        descs.push((d, blob.len()));
    }
    let cd = push_blob_chunked(&c, &ns, &config).await?;
    let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": descs.iter().map(|(d, n)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n})).collect::<Vec<_>>()});
    let bytes = serde_json::to_vec(&m).unwrap();
    let r = c
        .put_manifest(&ns, &format!("img{i}"), OCI_MANIFEST, &bytes)
        .await;
    if r.status != 201 {
        return Err(format!(
            "manifest {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    descs.push((cd, config.len()));
    Ok((ns, Digest::sha256_of(&bytes), descs))
}

async fn start(
    root: &std::path::Path,
    gc: GcConfig,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), registry::RegistryError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = RegistryConfig::new(addr, root);
    config.gc = gc;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(registry::serve_with_shutdown(listener, config, async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_pushes_with_online_gc() {
    let dir = testkit::TempDir::new("registry-load");
    let gc = GcConfig {
        interval: Duration::from_millis(20),
        grace: Duration::from_secs(30),
    };
    let (addr, stop, server) = start(dir.path(), gc).await;
    let c = Client { addr };
    let t0 = std::time::Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| tokio::spawn(push_image(c.clone(), i)))
        .collect();
    let mut pushed = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(p) => pushed.push((i, p)),
            Err(e) => panic!("push {i} failed: {e}"),
        }
    }
    eprintln!("200 pushes took {:?}", t0.elapsed());
    // Every manifest complete, every blob present with the right digest (each distinct blob
    // of each repository read once, concurrently).
    let mut blobs = std::collections::BTreeSet::new();
    let mut checks = Vec::new();
    for (i, (ns, digest, descs)) in pushed {
        for (d, len) in descs {
            blobs.insert((ns.clone(), d, len));
        }
        let c = c.clone();
        checks.push(tokio::spawn(async move {
            let r = c.get(&format!("/v2/{ns}/manifests/img{i}")).await;
            assert_eq!(r.status, 200, "img{i}");
            assert_eq!(Digest::sha256_of(&r.body), digest);
        }));
    }
    for (ns, d, len) in blobs {
        let c = c.clone();
        checks.push(tokio::spawn(async move {
            let r = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
            assert_eq!(r.status, 200, "{ns} {d}");
            assert_eq!(r.body.len(), len);
            assert_eq!(Digest::sha256_of(&r.body), d);
        }));
    }
    for check in checks {
        check.await.unwrap();
    }
    // GC ran meanwhile and deleted nothing referenced; every upload session is gone.
    let m = c.get("/metrics").await;
    let text = String::from_utf8_lossy(&m.body).to_string();
    let runs: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("berth_registry_gc_runs_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(runs > 0, "online gc never ran");
    assert!(
        text.contains("berth_registry_uploads_in_progress 0\n"),
        "{text}"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("uploads"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_upload_in_flight_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = testkit::TempDir::new("registry-shutdown");
    let (addr, stop, server) = start(dir.path(), GcConfig::default()).await;
    let c = Client { addr };
    let r = c.send("POST", "/v2/s/app/blobs/uploads/", &[], b"").await;
    let loc = r.location().unwrap();
    let data = layer("slow", 64 * 1024);
    let d = Digest::sha256_of(&data);
    // Send the headers and half the body, shut the server down, then send the rest.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT {loc}?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&data[..data.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused while the old one finishes.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    s.write_all(&data[data.len() / 2..]).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut reply))
        .await
        .expect("the connection closes after its request")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
    let store = registry::RegistryStore::open(dir.path()).unwrap();
    assert_eq!(
        store.blob_size(&"s/app".parse().unwrap(), &d).unwrap(),
        data.len() as u64
    );
}
