//! Image archives both ways between berth and a real Docker Engine (Debian's docker.io,
//! dockerd 20.10, started here with its own data root, no bridge and no netfilter rules), and
//! berth's archive read as an OCI layout by skopeo.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::Daemon;

/// A private dockerd; stopped and its directories removed on drop, even when the test fails.
struct DockerEngine {
    child: Child,
    dir: testkit::TempDir,
}

impl DockerEngine {
    fn start() -> DockerEngine {
        testkit::require_root();
        let dir = testkit::TempDir::new("dockerd");
        let p = dir.path();
        let log = std::fs::File::create(p.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--data-root")
            .arg(p.join("root"))
            .arg("--exec-root")
            .arg(p.join("exec"))
            .arg("--pidfile")
            .arg(p.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", p.join("d.sock").display()))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--userland-proxy=false",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start dockerd (is Debian's docker.io installed?)");
        let engine = DockerEngine { child, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if engine.docker(&["version"]).status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not come up: {}",
                std::fs::read_to_string(engine.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        engine
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("d.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.path().join("config"))
            .env("DOCKER_API_VERSION", "1.41")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for DockerEngine {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // containerd-shims of dockerd's containers, if any survived.
        let _ = Command::new("pkill")
            .args(["-f", &self.dir.path().join("exec").to_string_lossy()])
            .status();
        testkit::unmount_below(self.dir.path());
    }
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn untar(archive: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(st.success());
    into.to_path_buf()
}

#[test]
fn archives_round_trip_between_berth_and_docker_engine() {
    let engine = DockerEngine::start();
    let d = Daemon::start();
    let w = d.dir.path();

    // Docker Engine -> berth.
    let tar = w.join("bb.tar");
    testkit::busybox_tarball(&tar, false).unwrap();
    ok(engine.docker(&["import", tar.to_str().unwrap(), "fromdocker:1"]));
    let saved = w.join("fromdocker.tar");
    ok(engine.docker(&["save", "-o", saved.to_str().unwrap(), "fromdocker:1"]));
    let loaded = ok(d.berth(&["load", "-i", saved.to_str().unwrap()]));
    assert!(loaded.contains("Loaded image: fromdocker:1"), "{loaded}");
    let run = ok(d.berth(&["run", "--rm", "fromdocker:1", "echo", "from-docker"]));
    assert_eq!(run.trim(), "from-docker");

    // berth -> Docker Engine (two images sharing their layer, in one archive).
    ok(d.berth(&["tag", "busybox", "fromberth:2"]));
    let ours = w.join("fromberth.tar");
    ok(d.berth(&[
        "save",
        "-o",
        ours.to_str().unwrap(),
        "fromberth:2",
        "busybox",
    ]));
    let loaded = ok(engine.docker(&["load", "-i", ours.to_str().unwrap()]));
    assert!(loaded.contains("fromberth:2"), "{loaded}");
    let run = ok(engine.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "fromberth:2",
        "echo",
        "from-berth",
    ]));
    assert_eq!(run.trim(), "from-berth");

    // The same archive is an OCI layout skopeo reads and copies.
    let layout = untar(&ours, &w.join("layout"));
    let inspect = ok(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:2", layout.display()))
        .output()
        .unwrap());
    assert!(inspect.contains("\"layers\""), "{inspect}");
    let copy = w.join("copy");
    ok(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:2", layout.display()))
        .arg(format!("oci:{}:copied", copy.display()))
        .output()
        .unwrap());
    assert!(copy.join("index.json").exists());
}
