//! A private Debian docker.io dockerd 20.10 (own data root, no bridge, no netfilter rules) for
//! side-by-side checks against the real Docker Engine; stopped and cleaned up on drop.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A private dockerd; stopped and its directories removed on drop, even when the test fails.
pub struct DockerEngine {
    pub child: Child,
    pub dir: testkit::TempDir,
}

impl DockerEngine {
    pub fn start() -> DockerEngine {
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

    pub fn docker(&self, args: &[&str]) -> Output {
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
