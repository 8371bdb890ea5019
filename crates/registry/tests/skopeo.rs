//! End to end with the real `skopeo` (Debian package `skopeo`): push an OCI layout made here,
//! inspect it, list its tags, pull it back, delete it. No internet needed.

use std::fs;
use std::path::Path;
use std::process::Command;

use api::Digest;
use registry::{serve_listener, RegistryConfig};
use serde_json::{json, Value};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A one-file uncompressed tar archive (ustar), written by hand.
fn tiny_tar(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mut field = |off: usize, s: &str| h[off..off + s.len()].copy_from_slice(s.as_bytes());
    field(100, "0000644\0");
    field(108, "0000000\0");
    field(116, "0000000\0");
    field(124, &format!("{:011o}\0", data.len()));
    field(136, "00000000000\0");
    field(148, "        ");
    field(156, "0");
    field(257, "ustar\0");
    field(263, "00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let chk = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(chk.as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn write_blob(layout: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::sha256_of(bytes);
    fs::write(layout.join("blobs/sha256").join(d.hex()), bytes).unwrap();
    d
}

/// An OCI image layout with one image tagged `latest`; returns the manifest digest.
fn make_layout(dir: &Path) -> Digest {
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layer = tiny_tar("hello.txt", b"hello from berth\n");
    let ld = write_blob(dir, &layer);
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [ld]}
    })
    .to_string();
    let cd = write_blob(dir, config.as_bytes());
    let manifest = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}]
    })
    .to_string();
    let md = write_blob(dir, manifest.as_bytes());
    let index = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": md, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
    });
    fs::write(dir.join("index.json"), index.to_string()).unwrap();
    md
}

/// The config digest named by the source manifest.
fn config_digest(layout: &Path, manifest: &Digest) -> Digest {
    let m: Value = serde_json::from_slice(
        &fs::read(layout.join("blobs/sha256").join(manifest.hex())).unwrap(),
    )
    .unwrap();
    m["config"]["digest"].as_str().unwrap().parse().unwrap()
}

fn skopeo(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .expect("run skopeo: install it with `apt-get install -y skopeo`");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn skopeo_ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = skopeo(args);
    assert!(ok, "skopeo {args:?} failed:\n{stderr}");
    stdout
}

fn blobs(layout: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn skopeo_push_inspect_list_pull_delete() {
    let tmp = testkit::TempDir::new("registry-skopeo");
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    let root = tmp.path().join("root");
    let md = make_layout(&src);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let config = RegistryConfig::new(addr, root.clone());
    let server = rt.spawn(serve_listener(listener, config));

    let image = format!("docker://{addr}/test/img:1");
    skopeo_ok(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:latest", src.display()),
        &image,
    ]);

    // skopeo compresses the layer for the docker transport, so the pushed manifest is a new
    // document; what the registry serves must hash to the digest it reports.
    let raw = skopeo_ok(&["inspect", "--tls-verify=false", "--raw", &image]);
    let pushed = Digest::sha256_of(raw.as_bytes());
    let manifest: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    let info: Value =
        serde_json::from_str(&skopeo_ok(&["inspect", "--tls-verify=false", &image])).unwrap();
    assert_eq!(info["Digest"], pushed.to_string());
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Layers"].as_array().unwrap().len(), 1);

    let tags: Value = serde_json::from_str(&skopeo_ok(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{addr}/test/img"),
    ]))
    .unwrap();
    assert_eq!(tags["Tags"], json!(["1"]));

    skopeo_ok(&[
        "copy",
        "--src-tls-verify=false",
        &image,
        &format!("oci:{}:copy", dst.display()),
    ]);
    // Every pulled blob is intact; the manifest is byte-identical to what the registry serves;
    // the config is the source's; the layer decompresses to the source tar.
    let pulled = blobs(&dst);
    for (hex, bytes) in &pulled {
        assert_eq!(Digest::sha256_of(bytes).hex(), hex);
    }
    let get = |d: &Value| -> Vec<u8> {
        let d: Digest = d.as_str().unwrap().parse().unwrap();
        pulled
            .iter()
            .find(|(h, _)| h == d.hex())
            .expect("blob pulled")
            .1
            .clone()
    };
    assert_eq!(get(&json!(pushed.to_string())), raw.as_bytes());
    assert_eq!(
        get(&manifest["config"]["digest"]),
        fs::read(
            src.join("blobs/sha256")
                .join(config_digest(&src, &md).hex())
        )
        .unwrap()
    );
    let gz = dst.join("blobs/sha256").join(
        manifest["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    let tar = Command::new("gzip").arg("-dc").arg(&gz).output().unwrap();
    assert!(tar.status.success());
    assert_eq!(tar.stdout, tiny_tar("hello.txt", b"hello from berth\n"));

    skopeo_ok(&["delete", "--tls-verify=false", &image]);
    let (ok, _, stderr) = skopeo(&["inspect", "--tls-verify=false", "--raw", &image]);
    assert!(!ok, "image still present after delete");
    assert!(stderr.contains("manifest unknown"), "{stderr}");

    server.abort();
    drop(rt);

    // Offline GC: with the only manifest deleted, its config, layer and the manifest go.
    let report = registry::gc(&root).unwrap();
    assert_eq!(report.blobs_deleted, 3, "{report:?}");
    assert_eq!(report.blobs_marked, 0);
    assert!(report.bytes_freed > raw.len() as u64);
}
