//! `berth registry` as a user starts it: the binary serves `/v2/` on the address given and
//! stops on SIGTERM; `registry gc` runs on its data directory.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

#[test]
fn registry_serves_v2_and_stops_on_sigterm() {
    let dir = testkit::TempDir::new("registry");
    let port = free_port();
    let mut child = Command::new(BERTH)
        .args(["registry", "--addr", &format!("127.0.0.1:{port}"), "--root"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            break out;
        }
        assert!(Instant::now() < deadline, "registry did not come up");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("docker-distribution-api-version: registry/2.0"),
        "{answer}"
    );
    // Offline GC refuses a root that a registry serves.
    // (asserted after the registry is stopped, so a failure does not leave it running).
    let refused = Command::new(BERTH)
        .args(["registry", "gc", "--root"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("registry did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("in use by another berth registry"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let gc = Command::new(BERTH)
        .args(["registry", "gc", "--root"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert!(
        String::from_utf8_lossy(&gc.stdout).contains("deleted 0 blobs"),
        "{}",
        String::from_utf8_lossy(&gc.stdout)
    );
}

mod registry_support;

use registry_support::{
    free_port, header, htpasswd, http, oci_layout, self_signed, sha256, skopeo, skopeo_ok,
    RegistryProc,
};

#[test]
fn registry_refuses_plain_http_off_loopback() {
    let dir = testkit::TempDir::new("registry-insecure");
    let out = Command::new(BERTH)
        .args(["registry", "--addr", "0.0.0.0:1", "--root"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--insecure"), "{stderr}");
}

/// TLS from the config (self-signed certificate) with htpasswd basic auth, driven by skopeo:
/// copy both ways, inspect, list-tags, delete.
#[test]
fn registry_tls_and_basic_auth_with_skopeo() {
    let dir = testkit::TempDir::new("registry-tls");
    let (cert, key, certs) = self_signed(dir.path());
    let users = htpasswd(dir.path());
    let port = free_port();
    let reg = RegistryProc::start(
        dir.path(),
        port,
        &format!(
            "addr: 127.0.0.1:{port}\nroot: {}\ntls: {{ cert: {}, key: {} }}\nauth: {{ htpasswd: {} }}\n",
            dir.path().join("data").display(),
            cert.display(),
            key.display(),
            users.display()
        ),
    );
    let src = dir.path().join("src");
    oci_layout(&src);
    let certs = certs.display().to_string();
    let image = format!("docker://127.0.0.1:{port}/tls/img:1");
    let from = format!("oci:{}:latest", src.display());

    // Without credentials the push is refused.
    let (ok, _, stderr) = skopeo(&["copy", "--dest-cert-dir", &certs, &from, &image]);
    assert!(!ok);
    assert!(
        stderr.contains("authentication required") || stderr.contains("unauthorized"),
        "{stderr}"
    );
    skopeo_ok(&[
        "copy",
        "--dest-cert-dir",
        &certs,
        "--dest-creds",
        "alice:pw",
        &from,
        &image,
    ]);
    let raw = skopeo_ok(&[
        "inspect",
        "--cert-dir",
        &certs,
        "--creds",
        "alice:pw",
        "--raw",
        &image,
    ]);
    let info: serde_json::Value = serde_json::from_str(&skopeo_ok(&[
        "inspect",
        "--cert-dir",
        &certs,
        "--creds",
        "alice:pw",
        &image,
    ]))
    .unwrap();
    assert_eq!(info["Digest"], sha256(raw.as_bytes()));
    let tags = skopeo_ok(&[
        "list-tags",
        "--cert-dir",
        &certs,
        "--creds",
        "alice:pw",
        &format!("docker://127.0.0.1:{port}/tls/img"),
    ]);
    assert!(tags.contains("\"1\""), "{tags}");
    let dst = dir.path().join("dst");
    skopeo_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "alice:pw",
        &image,
        &format!("oci:{}:back", dst.display()),
    ]);
    let pulled = fs_read_blob(&dst, &info["Digest"]);
    assert_eq!(pulled, raw.as_bytes());
    skopeo_ok(&[
        "delete",
        "--cert-dir",
        &certs,
        "--creds",
        "alice:pw",
        &image,
    ]);
    let (ok, _, stderr) = skopeo(&[
        "inspect",
        "--cert-dir",
        &certs,
        "--creds",
        "alice:pw",
        "--raw",
        &image,
    ]);
    assert!(!ok && stderr.contains("manifest unknown"), "{stderr}");
    // Plain HTTP to the TLS port gets no registry answer.
    let plain = http(reg.addr, "GET", "/v2/", &[], b"");
    assert!(!matches!(plain, Ok((200, _, _))), "{plain:?}");
}

fn fs_read_blob(layout: &std::path::Path, digest: &serde_json::Value) -> Vec<u8> {
    let d = digest.as_str().unwrap().trim_start_matches("sha256:");
    std::fs::read(layout.join("blobs/sha256").join(d)).unwrap()
}

/// Bearer tokens from the built-in token service, per-repository rules, driven by skopeo.
#[test]
fn registry_token_auth_with_skopeo() {
    let dir = testkit::TempDir::new("registry-token");
    let users = htpasswd(dir.path());
    let port = free_port();
    let reg = RegistryProc::start(
        dir.path(),
        port,
        &format!(
            r#"addr: 127.0.0.1:{port}
root: {}
auth:
  htpasswd: {}
  token: {{ service: berth-e2e }}
access:
  - {{ repository: "alice/*", users: [alice], actions: [pull, push, delete] }}
  - {{ repository: "public/*", users: ["*"], actions: [pull, push] }}
  - {{ repository: "public/*", users: [anonymous], actions: [pull] }}
"#,
            dir.path().join("data").display(),
            users.display()
        ),
    );
    let src = dir.path().join("src");
    oci_layout(&src);
    let from = format!("oci:{}:latest", src.display());
    let image = |repo: &str| format!("docker://127.0.0.1:{port}/{repo}:1");
    let flags = ["--dest-tls-verify=false", "--dest-creds", "alice:pw"];

    // The challenge names the token realm, service and scope.
    let (status, head, _) =
        http(reg.addr, "POST", "/v2/alice/app/blobs/uploads/", &[], b"").unwrap();
    assert_eq!(status, 401);
    assert_eq!(
        header(&head, "www-authenticate").unwrap(),
        format!("bearer realm=\"http://127.0.0.1:{port}/token\",service=\"berth-e2e\",scope=\"repository:alice/app:pull,push\"")
    );
    let mut args = vec!["copy"];
    args.extend(flags);
    skopeo_ok(&[&args[..], &[&from, &image("alice/app")]].concat());
    // Cross-repository copy inside the registry (mount with a two-scope token).
    skopeo_ok(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "alice:pw",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:pw",
        &image("alice/app"),
        &image("alice/copy"),
    ]);
    // bob may not push to alice's repositories; he may push to public/.
    let (ok, _, stderr) = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "bob:pw",
        &from,
        &image("alice/bob"),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("denied") || stderr.contains("403 (Forbidden)"),
        "{stderr}"
    );
    skopeo_ok(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "bob:pw",
        &from,
        &image("public/app"),
    ]);
    // Anonymous pulls public/ but not alice/.
    skopeo_ok(&[
        "inspect",
        "--tls-verify=false",
        "--no-creds",
        &image("public/app"),
    ]);
    let (ok, _, _) = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--no-creds",
        &image("alice/app"),
    ]);
    assert!(!ok);
    let tags = skopeo_ok(&[
        "list-tags",
        "--tls-verify=false",
        "--creds",
        "alice:pw",
        &format!("docker://127.0.0.1:{port}/alice/app"),
    ]);
    assert!(tags.contains("\"1\""), "{tags}");
    skopeo_ok(&[
        "delete",
        "--tls-verify=false",
        "--creds",
        "alice:pw",
        &image("alice/app"),
    ]);
    let (ok, _, _) = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        "alice:pw",
        &image("alice/app"),
    ]);
    assert!(!ok);
}

/// Crash safety: SIGKILL the registry while clients push (and abandon uploads) and online GC
/// runs every few milliseconds; after a restart every tagged manifest is complete, every blob
/// it references is intact, and unfinished uploads are purged.
#[test]
fn kill_9_during_uploads_and_gc_loses_no_referenced_blob() {
    let dir = testkit::TempDir::new("registry-kill9");
    let data = dir.path().join("data");
    let port = free_port();
    let config = |gc: &str, purge_after: &str| {
        format!(
            "addr: 127.0.0.1:{port}\nroot: {}\ngc: {gc}\nuploads: {{ purge_after: {purge_after} }}\n",
            data.display()
        )
    };
    let mut reg = RegistryProc::start(
        dir.path(),
        port,
        &config("{ interval: 5ms, grace: 300ms }", "1h"),
    );
    let addr = reg.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = push_one(addr, w, n);
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    reg.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let log = reg.log_text();
    assert!(log.contains("online gc finished"), "gc never ran:\n{log}");
    drop(reg);

    let reg = RegistryProc::start(dir.path(), port, &config("{ interval: 0 }", "0s"));
    let (_, _, body) = http(reg.addr, "GET", "/v2/_catalog", &[], b"").unwrap();
    let catalog: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut manifests = 0;
    for repo in catalog["repositories"].as_array().unwrap() {
        let repo = repo.as_str().unwrap();
        let (_, _, body) =
            http(reg.addr, "GET", &format!("/v2/{repo}/tags/list"), &[], b"").unwrap();
        let tags: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for tag in tags["tags"].as_array().into_iter().flatten() {
            let tag = tag.as_str().unwrap();
            let (status, _, m) = http(
                reg.addr,
                "GET",
                &format!("/v2/{repo}/manifests/{tag}"),
                &[],
                b"",
            )
            .unwrap();
            assert_eq!(status, 200, "{repo}:{tag}");
            let m: serde_json::Value = serde_json::from_slice(&m).unwrap();
            let mut blobs = vec![m["config"]["digest"].as_str().unwrap().to_string()];
            for l in m["layers"].as_array().unwrap() {
                blobs.push(l["digest"].as_str().unwrap().to_string());
            }
            for d in blobs {
                let (status, _, bytes) =
                    http(reg.addr, "GET", &format!("/v2/{repo}/blobs/{d}"), &[], b"").unwrap();
                assert_eq!(status, 200, "{repo}:{tag} lost {d}");
                assert_eq!(sha256(&bytes), d, "{repo}:{tag} blob {d} corrupt");
            }
            manifests += 1;
        }
    }
    assert!(manifests > 0, "no push completed before the kill");
    let leftovers = std::fs::read_dir(data.join("uploads")).unwrap().count();
    assert_eq!(leftovers, 0, "partial uploads survived the restart purge");
    let ingest = std::fs::read_dir(data.join("content/ingest"))
        .unwrap()
        .count();
    assert_eq!(ingest, 0, "interrupted ingest files survived the restart");
    assert!(
        reg.log_text().contains("purged stale upload session"),
        "{}",
        reg.log_text()
    );
}

/// One image push over raw HTTP (two layers, one shared by everyone), plus an abandoned
/// session and an orphan blob for the purge and the GC to find.
fn push_one(addr: std::net::SocketAddr, worker: usize, n: usize) -> Result<(), String> {
    let repo = format!("kill/w{worker}");
    let shared = vec![7u8; 64 * 1024];
    let own = format!("worker {worker} image {n}")
        .repeat(500)
        .into_bytes();
    let config = format!("{{\"w\":{worker},\"n\":{n}}}").into_bytes();
    let up = |bytes: &[u8]| -> Result<String, String> {
        let d = sha256(bytes);
        let (s, head, _) = http(
            addr,
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[],
            b"",
        )
        .map_err(|e| e.to_string())?;
        if s != 202 {
            return Err(format!("post {s}"));
        }
        let loc = header(&head, "location").ok_or("no location")?;
        let (s, head, _) = http(addr, "PATCH", &loc, &[], bytes).map_err(|e| e.to_string())?;
        if s != 202 {
            return Err(format!("patch {s}"));
        }
        let loc = header(&head, "location").ok_or("no location")?;
        let (s, _, _) =
            http(addr, "PUT", &format!("{loc}?digest={d}"), &[], b"").map_err(|e| e.to_string())?;
        if s != 201 {
            return Err(format!("put {s}"));
        }
        Ok(d)
    };
    let sd = up(&shared)?;
    let od = up(&own)?;
    let cd = up(&config)?;
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sd, "size": shared.len()},
                   {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": od, "size": own.len()}]})
    .to_string();
    let (s, _, _) = http(
        addr,
        "PUT",
        &format!("/v2/{repo}/manifests/t{n}"),
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        m.as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    if s != 201 {
        return Err(format!("manifest {s}"));
    }
    // Abandoned session with some data, and an orphan blob.
    let (_, head, _) = http(
        addr,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    )
    .map_err(|e| e.to_string())?;
    if let Some(loc) = header(&head, "location") {
        let _ = http(addr, "PATCH", &loc, &[], b"abandoned");
    }
    up(format!("orphan {worker} {n}").as_bytes())?;
    Ok(())
}

/// Online GC on demand: SIGUSR1 makes a serving registry collect at once; an orphan blob
/// goes, the blobs of a tagged manifest stay.
#[test]
fn sigusr1_runs_online_gc() {
    let dir = testkit::TempDir::new("registry-usr1");
    let port = free_port();
    let reg = RegistryProc::start(
        dir.path(),
        port,
        &format!(
            "addr: 127.0.0.1:{port}\nroot: {}\ngc: {{ interval: 0, grace: 0s }}\n",
            dir.path().join("data").display()
        ),
    );
    let put = |bytes: &[u8]| {
        let d = sha256(bytes);
        let (s, _, _) = http(
            reg.addr,
            "POST",
            &format!("/v2/gc/app/blobs/uploads/?digest={d}"),
            &[],
            bytes,
        )
        .unwrap();
        assert_eq!(s, 201);
        d
    };
    let orphan = put(b"nobody references me");
    let config = put(b"{}");
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[]}}"#
    );
    let (s, _, _) = http(
        reg.addr,
        "PUT",
        "/v2/gc/app/manifests/v1",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        m.as_bytes(),
    )
    .unwrap();
    assert_eq!(s, 201);
    assert!(Command::new("kill")
        .args(["-USR1", &reg.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, _, _) = http(
            reg.addr,
            "GET",
            &format!("/v2/gc/app/blobs/{orphan}"),
            &[],
            b"",
        )
        .unwrap();
        if s == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orphan blob survived: {}",
            reg.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (s, _, _) = http(
        reg.addr,
        "GET",
        &format!("/v2/gc/app/blobs/{config}"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(s, 200);
    let (s, _, _) = http(reg.addr, "GET", "/v2/gc/app/manifests/v1", &[], b"").unwrap();
    assert_eq!(s, 200);
}

/// Flags override the config file: an off-loopback plain-HTTP address in the file (refused on
/// its own) is replaced by `--addr`, and `--root` wins over the file's root.
#[test]
fn flags_override_the_config_file() {
    let dir = testkit::TempDir::new("registry-flags");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "addr: 0.0.0.0:9\nroot: {}\ndelete: {{ enabled: false }}\n",
            dir.path().join("from-file").display()
        ),
    )
    .unwrap();
    let refused = Command::new(BERTH)
        .args(["registry", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let port = free_port();
    let child = Command::new(BERTH)
        .args(["registry", "--config"])
        .arg(&config)
        .args(["--addr", &format!("127.0.0.1:{port}"), "--root"])
        .arg(dir.path().join("from-flag"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Killed on drop, also when an assertion fails.
    let reg = RegistryProc {
        child,
        addr,
        log: dir.path().join("unused.log"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let reply = loop {
        if let Ok(r) = http(addr, "DELETE", "/v2/x/manifests/latest", &[], b"") {
            break r;
        }
        assert!(Instant::now() < deadline, "registry did not come up");
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(reg);
    // The file's other settings still apply.
    assert_eq!(reply.0, 405, "{}", String::from_utf8_lossy(&reply.2));
    assert!(dir.path().join("from-flag/content").is_dir());
    assert!(!dir.path().join("from-file").exists());
}
