//! The docker CLI through Debian's docker.io engine against `berth registry`: login (htpasswd
//! basic auth, then bearer tokens), push, rmi, pull, run. dockerd runs with its own data root
//! and socket under a temp dir, without networking (127.0.0.1 registries are insecure-allowed),
//! and is stopped and its mounts and dirs removed even when the test fails. Needs root.

mod registry_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use registry_support::{free_port, htpasswd, RegistryProc};

/// A private dockerd; stopped, unmounted and removed on drop.
struct Dockerd {
    child: Child,
    dir: testkit::TempDir,
}

impl Dockerd {
    fn start() -> Dockerd {
        let dir = testkit::TempDir::new("dockerd");
        let w = dir.path();
        let log = std::fs::File::create(w.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(w.join("root"))
            .arg("--exec-root")
            .arg(w.join("exec"))
            .arg("--pidfile")
            .arg(w.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", w.join("d.sock").display()))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("run dockerd");
        let d = Dockerd { child, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if d.docker(&["version"]).status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not start: {}",
                std::fs::read_to_string(d.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        d
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.arg("-H")
            .arg(format!("unix://{}", self.path().join("d.sock").display()))
            .args(args)
            .env("DOCKER_CONFIG", self.path().join("cli-config"));
        c
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().expect("run docker")
    }

    fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn login(&self, registry: &str, user: &str, password: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .docker_cmd(&["login", "-u", user, "--password-stdin", registry])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                _ if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        // Leftover overlay or shm mounts below the data root would keep the dir busy.
        testkit::unmount_below(self.dir.path());
    }
}

fn image_roundtrip(d: &Dockerd, registry: &str, repo: &str) {
    let image = format!("{registry}/{repo}:1");
    d.docker_ok(&["tag", "berth-e2e-busybox:1", &image]);
    let out = d.docker_ok(&["push", &image]);
    assert!(out.contains("digest: sha256:"), "{out}");
    d.docker_ok(&["rmi", &image]);
    d.docker_ok(&["pull", &image]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "echo",
        "hello from berth",
    ]);
    assert_eq!(out.trim(), "hello from berth");
    d.docker_ok(&["rmi", &image]);
}

fn tarball(dir: &Path) -> PathBuf {
    let p = dir.join("busybox.tar");
    testkit::busybox_tarball(&p, false).unwrap();
    p
}

#[test]
fn docker_login_push_pull_run_with_basic_and_token_auth() {
    testkit::require_root();
    if Command::new("dockerd").arg("--version").output().is_err() {
        eprintln!("skipping: dockerd is not installed");
        return;
    }
    let dir = testkit::TempDir::new("registry-docker");
    let users = htpasswd(dir.path());
    let d = Dockerd::start();
    let tar = tarball(dir.path());
    d.docker_ok(&["import", &tar.display().to_string(), "berth-e2e-busybox:1"]);

    // htpasswd basic auth.
    let basic_dir = dir.path().join("basic");
    std::fs::create_dir_all(&basic_dir).unwrap();
    let port = free_port();
    let _basic = RegistryProc::start(
        &basic_dir,
        port,
        &format!(
            "addr: 127.0.0.1:{port}\nroot: {}\nauth: {{ htpasswd: {} }}\n",
            basic_dir.join("data").display(),
            users.display()
        ),
    );
    let registry = format!("127.0.0.1:{port}");
    d.docker_ok(&[
        "tag",
        "berth-e2e-busybox:1",
        &format!("{registry}/e2e/anon:1"),
    ]);
    let out = d.docker(&["push", &format!("{registry}/e2e/anon:1")]);
    assert!(!out.status.success(), "push without login succeeded");
    let bad = d.login(&registry, "alice", "wrong");
    assert!(!bad.status.success());
    let ok = d.login(&registry, "alice", "pw");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    image_roundtrip(&d, &registry, "e2e/basic");

    // Bearer tokens from the built-in token service.
    let token_dir = dir.path().join("token");
    std::fs::create_dir_all(&token_dir).unwrap();
    let port = free_port();
    let _token = RegistryProc::start(
        &token_dir,
        port,
        &format!(
            "addr: 127.0.0.1:{port}\nroot: {}\nauth: {{ htpasswd: {}, token: {{ service: berth-docker }} }}\naccess:\n  - {{ repository: \"alice/*\", users: [alice], actions: [pull, push, delete] }}\n",
            token_dir.join("data").display(),
            users.display()
        ),
    );
    let registry = format!("127.0.0.1:{port}");
    let ok = d.login(&registry, "alice", "pw");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    image_roundtrip(&d, &registry, "alice/bb");
    // A repository alice has no rule for: denied.
    let other = format!("{registry}/other/bb:1");
    d.docker_ok(&["tag", "berth-e2e-busybox:1", &other]);
    let out = d.docker(&["push", &other]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(text.contains("denied"), "{text}");
}
