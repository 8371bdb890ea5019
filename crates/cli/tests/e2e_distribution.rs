//! Pull, push and login through the daemon against Debian's docker-registry (distribution 2.8)
//! on loopback: with the berth CLI and with the real docker CLI, anonymous and with htpasswd
//! basic auth.

mod registry_support;
mod support;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::Daemon;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A docker-registry process with its own storage; killed on drop.
struct DockerRegistry {
    child: Child,
    port: u16,
    _dir: testkit::TempDir,
}

impl DockerRegistry {
    /// Starts `docker-registry serve` on a free loopback port; with `htpasswd` = (user,
    /// password), basic auth is required.
    fn start(htpasswd: Option<(&str, &str)>) -> DockerRegistry {
        let dir = testkit::TempDir::new("dreg");
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = htpasswd {
            // bcrypt through the host's libcrypt (Python's crypt module), as htpasswd -B would.
            let out = Command::new("python3")
                .args([
                    "-W",
                    "ignore",
                    "-c",
                    "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
                    password,
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let hash = String::from_utf8(out.stdout).unwrap();
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{user}:{}\n", hash.trim())).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
                file.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (is the docker-registry package installed?)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        DockerRegistry {
            child,
            port,
            _dir: dir,
        }
    }

    fn name(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn push_pull_run_round_trip_with_berth_and_docker_clis() {
    let reg = DockerRegistry::start(None);
    let d = Daemon::start();
    let name = reg.name("bb:1");
    ok(d.berth(&["tag", "busybox", &name]));

    let out = ok(d.berth(&["push", &name]));
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}]",
            reg.name("bb")
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    assert!(out.contains("1: digest: sha256:"), "{out}");
    // Pushing again finds every layer there.
    let again = ok(d.berth(&["push", &name]));
    assert!(again.contains(": Layer already exists"), "{again}");

    // Gone locally, then pulled back and run.
    ok(d.berth(&["rmi", &name]));
    let pulled = ok(d.berth(&["pull", &name]));
    assert!(pulled.contains("Pulling from bb"), "{pulled}");
    assert!(
        pulled.contains(": Pull complete") || pulled.contains(": Already exists"),
        "{pulled}"
    );
    assert!(pulled.contains("Digest: sha256:"), "{pulled}");
    assert!(
        pulled.contains(&format!("Status: Downloaded newer image for {name}")),
        "{pulled}"
    );
    assert!(pulled.trim_end().ends_with(&name), "{pulled}");
    let up = ok(d.berth(&["pull", &name]));
    assert!(
        up.contains(&format!("Status: Image is up to date for {name}")),
        "{up}"
    );
    let run = ok(d.berth(&["run", "--rm", &name, "echo", "pulled-and-ran"]));
    assert_eq!(run.trim(), "pulled-and-ran");

    // The digest reference works and shows in inspect.
    let digest = pulled
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_string();
    let by_digest = format!("{}@{digest}", reg.name("bb"));
    let insp = ok(d.berth(&["inspect", "--format", "{{json .RepoDigests}}", &name]));
    assert!(insp.contains(&by_digest), "{insp}");

    // The docker CLI through berth: a fresh tag pushed with a cross-repository mount, pulled
    // back with docker pull, and `docker run` of an image that is not there pulls it itself.
    let other = reg.name("copy:2");
    ok(d.docker(&["tag", &name, &other]));
    let pushed = ok(d.docker(&["push", &other]));
    assert!(
        pushed.contains("Mounted from bb") || pushed.contains("Layer already exists"),
        "{pushed}"
    );
    assert!(pushed.contains("2: digest: sha256:"), "{pushed}");
    ok(d.docker(&["rmi", &other]));
    let pulled = ok(d.docker(&["pull", &other]));
    assert!(
        pulled.contains(&format!("Status: Downloaded newer image for {other}")),
        "{pulled}"
    );
    ok(d.docker(&["rmi", &other, &name]));
    let run = d.docker(&["run", "--rm", &other, "echo", "auto-pulled"]);
    let out = ok(run);
    assert_eq!(out.trim(), "auto-pulled");
    // rmi by digest reference: the digest goes, the tag stays.
    let digests = ok(d.berth(&["inspect", "--format", "{{json .RepoDigests}}", &other]));
    let by_digest: Vec<String> = serde_json::from_str(digests.trim()).unwrap();
    let copy_digest = by_digest
        .iter()
        .find(|r| r.starts_with(&reg.name("copy@")))
        .unwrap_or_else(|| panic!("{digests}"))
        .clone();
    let untagged = ok(d.berth(&["rmi", &copy_digest]));
    assert!(
        untagged.contains(&format!("Untagged: {copy_digest}")),
        "{untagged}"
    );
    ok(d.berth(&["inspect", &other]));

    // A tag the registry does not have: the manifest-unknown error, exit 1, nothing stored.
    let missing = d.berth(&["pull", &reg.name("bb:nope")]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains(&format!(
            "manifest for {} not found: manifest unknown",
            reg.name("bb:nope")
        )),
        "{err}"
    );
}

#[test]
fn login_with_htpasswd_then_push_and_pull() {
    let reg = DockerRegistry::start(Some(("capuser", "s3cret")));
    let d = Daemon::start();
    let server = format!("127.0.0.1:{}", reg.port);
    let name = reg.name("private:1");
    ok(d.berth(&["tag", "busybox", &name]));
    let config = d.dir.path().join("docker-config/config.json");

    // Without credentials: the registry's challenge, as docker reports it.
    let denied = d.berth(&["push", &name]);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied));
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("no basic auth credentials"),
        "{}",
        text(&denied)
    );

    // A wrong password: refused, nothing stored.
    let bad = d.berth_stdin(
        &["login", &server, "-u", "capuser", "--password-stdin"],
        b"wrong\n",
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("401 Unauthorized"),
        "{}",
        text(&bad)
    );
    assert!(!config.exists() || !std::fs::read_to_string(&config).unwrap().contains(&server));

    // The right one: stored in docker's format, then push and pull work.
    let good = d.berth_stdin(
        &["login", &server, "-u", "capuser", "--password-stdin"],
        b"s3cret\n",
    );
    assert!(ok(good).contains("Login Succeeded"));
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(
        stored["auths"][&server]["auth"], "Y2FwdXNlcjpzM2NyZXQ=",
        "{stored}"
    );
    ok(d.berth(&["push", &name]));
    ok(d.berth(&["rmi", &name]));
    ok(d.berth(&["pull", &name]));

    // The docker CLI reads the same file.
    ok(d.docker(&["rmi", &name]));
    ok(d.docker(&["pull", &name]));

    // After logout the registry refuses again.
    assert!(ok(d.berth(&["logout", &server])).contains("Removing login credentials"));
    ok(d.berth(&["rmi", &name]));
    let denied = d.berth(&["pull", &name]);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied));
}

#[test]
fn unreachable_registry_fails_fast() {
    let d = Daemon::start();
    let port = free_port();
    let start = Instant::now();
    let out = d.berth(&["pull", &format!("127.0.0.1:{port}/nothing:1")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connection refused"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

/// A docker-archive of a two-layer image (not runnable: just files) with pseudo-random content,
/// so nothing else in the store shares its blobs: a `small`-byte layer, then a `big`-byte one.
fn two_layer_archive(path: &std::path::Path, tag: &str, small: usize, big: usize) {
    use sha2::Digest as _;
    let mut seed = 0x9e3779b97f4a7c15u64 ^ small as u64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let layer = |name: &str, data: Vec<u8>| -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &data[..]).unwrap();
        b.into_inner().unwrap()
    };
    let layers = [
        layer("small.bin", noise(small)),
        layer("big.bin", noise(big)),
    ];
    let hex = |b: &[u8]| format!("{:x}", sha2::Sha256::digest(b));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/nothing"]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| format!("sha256:{}", hex(l))).collect::<Vec<_>>()},
        "history": [{"created_by": "small"}, {"created_by": "big"}],
    });
    let config = serde_json::to_vec(&config).unwrap();
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", hex(&config)),
        "RepoTags": [tag],
        "Layers": layers.iter().map(|l| format!("{}/layer.tar", hex(l))).collect::<Vec<_>>(),
    }]);
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: String, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(format!("{}.json", hex(&config)), &config);
    for l in &layers {
        add(format!("{}/layer.tar", hex(l)), l);
    }
    add(
        "manifest.json".into(),
        &serde_json::to_vec(&manifest).unwrap(),
    );
    b.into_inner().unwrap();
}

/// Forwards loopback connections to `target`, sending answers at about `rate` bytes/s.
fn throttling_proxy(target: u16, rate: usize) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut c, mut s) = (client, server);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let mut buf = vec![0u8; rate / 20];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
                let _ = c.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    port
}

#[test]
fn daemon_killed_during_a_pull_then_prune_reclaims_and_pull_completes() {
    let reg = DockerRegistry::start(None);
    let mut d = Daemon::start();
    let archive = d.dir.path().join("two.tar");
    let name = reg.name("two:1");
    two_layer_archive(&archive, &name, 256 << 10, 24 << 20);
    ok(d.berth(&["load", "-i", archive.to_str().unwrap()]));
    let manifest: serde_json::Value = serde_json::from_str(&ok(d.berth(&[
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        &name,
    ])))
    .unwrap();
    assert_eq!(manifest.as_array().unwrap().len(), 2);
    ok(d.berth(&["push", &name]));
    ok(d.berth(&["rmi", &name]));
    let blobs = d.root().join("content/blobs/sha256");
    let count = || std::fs::read_dir(&blobs).map(|r| r.count()).unwrap_or(0);
    let before = count();

    // Pull through a slow link (2 MB/s); kill -9 the daemon once the small layer is stored and
    // the big one is still on its way.
    let slow = throttling_proxy(reg.port, 2 << 20);
    let slow_name = format!("127.0.0.1:{slow}/two:1");
    let mut pull = Command::new(support::BERTH)
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .args(["--host", &d.host(), "pull", &slow_name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // The small layer and the config land first.
    while count() < before + 2 {
        assert!(Instant::now() < deadline, "the pull stored nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    d.kill9();
    let _ = pull.wait();
    d.spawn();
    assert!(count() >= before + 2, "blobs vanished before the prune");
    assert!(
        !ok(d.berth(&["images", "--format", "{{.Repository}}"])).contains("two"),
        "a killed pull recorded an image"
    );

    // Prune reclaims what the killed pull left.
    let pruned = ok(d.berth(&["image", "prune", "-f"]));
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");
    assert!(!pruned.contains("Total reclaimed space: 0B"), "{pruned}");
    assert_eq!(count(), before, "{pruned}");

    // The next pull completes.
    let out = ok(d.berth(&["pull", &name]));
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert!(ok(d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"])).contains(&name));

    // prune -a deletes every image no container uses, and their blobs.
    let all = ok(d.berth(&["image", "prune", "-a", "-f"]));
    assert!(all.contains(&format!("untagged: {name}")), "{all}");
    assert!(all.contains("deleted: sha256:"), "{all}");
    assert!(ok(d.berth(&["images", "-q"])).trim().is_empty());
    assert_eq!(count(), 0, "blobs left after prune -a");
}

#[test]
fn bearer_tokens_from_berths_registry_with_both_clis() {
    let d = Daemon::start();
    let dir = testkit::TempDir::new("tokreg");
    let users = registry_support::htpasswd(dir.path());
    let port = free_port();
    let _reg = registry_support::RegistryProc::start(
        dir.path(),
        port,
        &format!(
            "addr: 127.0.0.1:{port}\nroot: {}\nauth: {{ htpasswd: {}, token: {{ service: berth-e2e }} }}\naccess:\n  - {{ repository: \"alice/*\", users: [alice], actions: [pull, push, delete] }}\n",
            dir.path().join("data").display(),
            users.display()
        ),
    );
    let server = format!("127.0.0.1:{port}");
    let name = format!("{server}/alice/app:1");
    ok(d.berth(&["tag", "busybox", &name]));

    // Anonymous: the token service hands out a token without rights; the registry's DENIED.
    let denied = d.berth(&["push", &name]);
    assert_eq!(denied.status.code(), Some(1), "{}", text(&denied));
    assert!(
        String::from_utf8_lossy(&denied.stderr)
            .contains("denied: requested access to the resource is denied"),
        "{}",
        text(&denied)
    );
    // A wrong password: refused, nothing stored.
    let bad = d.berth_stdin(
        &["login", &server, "-u", "alice", "--password-stdin"],
        b"nope\n",
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let config = d.dir.path().join("docker-config/config.json");
    assert!(!config.exists() || !std::fs::read_to_string(&config).unwrap().contains(&server));

    // Logged in: tokens per scope, push, pull, run.
    assert!(ok(d.berth_stdin(
        &["login", &server, "-u", "alice", "--password-stdin"],
        b"pw\n"
    ))
    .contains("Login Succeeded"));
    let pushed = ok(d.berth(&["push", &name]));
    assert!(pushed.contains("1: digest: sha256:"), "{pushed}");
    ok(d.berth(&["rmi", &name]));
    ok(d.berth(&["pull", &name]));
    assert_eq!(
        ok(d.berth(&["run", "--rm", &name, "echo", "via-token"])).trim(),
        "via-token"
    );

    // The docker CLI through berth's daemon, with the same stored login.
    let copy = format!("{server}/alice/copy:2");
    ok(d.docker(&["tag", &name, &copy]));
    let pushed = ok(d.docker(&["push", &copy]));
    assert!(pushed.contains("2: digest: sha256:"), "{pushed}");

    // A repository alice has no rule for: the registry's DENIED.
    let other = format!("{server}/bob/app:1");
    ok(d.berth(&["tag", "busybox", &other]));
    let out = d.berth(&["push", &other]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("denied"),
        "{}",
        text(&out)
    );
}
