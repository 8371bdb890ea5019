//! The real docker CLI 28 against berth through DOCKER_HOST.

mod support;

use support::{eventually, stderr, stdout, Daemon};

#[test]
fn docker_cli_runs_lists_logs_and_removes() {
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(stdout(&out), "hi\n", "stderr: {}", stderr(&out));
    assert!(
        !stderr(&out).to_lowercase().contains("warning"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));

    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "dk",
        "busybox",
        "sh",
        "-c",
        "echo from-docker; sleep 300",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ps = stdout(&d.docker(&["ps", "-a"]));
    assert!(ps.contains("dk") && ps.contains("busybox"), "{ps}");
    eventually("docker logs", || {
        stdout(&d.docker(&["logs", "dk"])) == "from-docker\n"
    });
    let images = stdout(&d.docker(&["images"]));
    assert!(
        images.contains("busybox") && images.contains("latest"),
        "{images}"
    );
    let version = d.docker(&["version"]);
    assert!(version.status.success(), "{}", stderr(&version));
    assert!(stdout(&version).contains("1.43"), "{}", stdout(&version));
    let out = d.docker(&["rm", "-f", "dk"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&d.docker(&["ps", "-aq"])), "");

    let out = d.docker(&["run", "--rm", "nosuchimage:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let out = d.docker(&["run", "--rm", "busybox", "nosuchcommand"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
}

#[test]
fn docker_cli_tty_and_stdin() {
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", "-t", "busybox", "echo", "tty"]);
    assert_eq!(stdout(&out), "tty\r\n", "stderr: {}", stderr(&out));
    let mut child = std::process::Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .args(["run", "--rm", "-i", "busybox", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"through stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(&out), "through stdin\n");
}

#[test]
fn docker_import_and_rmi() {
    let d = Daemon::start();
    let tar = d.dir.path().join("busybox.tar");
    let out = d.docker(&["import", tar.to_str().unwrap(), "imported:2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).trim().starts_with("sha256:"),
        "{}",
        stdout(&out)
    );
    let out = d.docker(&["rmi", "imported:2"]);
    assert!(
        stdout(&out).contains("Untagged: imported:2"),
        "{}",
        stdout(&out)
    );
    let out = d.docker(&["rmi", "nosuchimage:1"]);
    assert!(stderr(&out).contains("No such image"), "{}", stderr(&out));
}
