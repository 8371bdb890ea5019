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

/// docker-compose 1.29 (Debian's, Python) against berth: up with a network, a named volume,
/// depends_on and service-name DNS; a changed service recreated with its volume kept; ps
/// listing each container once; down -v removing everything it made.
#[test]
fn docker_compose_up_recreate_down() {
    let d = Daemon::start();
    let dir = testkit::TempDir::new("compose");
    let project = format!("e2ec{}", std::process::id());
    let file = dir.path().join("docker-compose.yml");
    let write = |env: &str| {
        std::fs::write(
            &file,
            format!(
                r#"version: "3.8"
services:
  web:
    image: busybox
    command: httpd -f -p 8080 -h /www
    environment: [A={env}]
    volumes: ["data:/www"]
  init:
    image: busybox
    command: sh -c 'echo hello > /www/index.html'
    volumes: ["data:/www"]
  client:
    image: busybox
    command: sh -c 'until wget -qO- http://web:8080/; do sleep 0.2; done; sleep 600'
    depends_on: [web, init]
volumes:
  data: {{}}
"#
            ),
        )
        .unwrap();
    };
    let compose = |args: &[&str]| {
        std::process::Command::new("docker-compose")
            .env("DOCKER_HOST", d.host())
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
            .current_dir(dir.path())
            .arg("-p")
            .arg(&project)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run docker-compose (installed by scripts/test.sh)")
    };
    let names = || {
        let filter = format!("label=com.docker.compose.project={project}");
        let mut v: Vec<String> =
            stdout(&d.docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]))
                .lines()
                .map(String::from)
                .collect();
        v.sort();
        v
    };
    write("1");
    let out = compose(&["up", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Each service's first container is number 1: compose finds a service's containers with
    // two label filters, which must both hold.
    assert_eq!(
        names(),
        ["client", "init", "web"].map(|s| format!("{project}_{s}_1"))
    );
    eventually("the client reached web by name through the volume", || {
        stdout(&compose(&["logs", "--no-color", "client"])).contains("hello")
    });

    // A changed service is recreated (compose reads the image's ContainerConfig for that);
    // the named volume stays.
    write("2");
    let out = compose(&["up", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("Recreating"), "{}", stderr(&out));
    let out = compose(&[
        "exec",
        "-T",
        "web",
        "sh",
        "-c",
        "echo $A; cat /www/index.html",
    ]);
    assert_eq!(stdout(&out), "2\nhello\n", "{}", stderr(&out));
    let ps = stdout(&compose(&["ps"]));
    for s in ["client", "init", "web"] {
        let name = format!("{project}_{s}_1");
        assert_eq!(ps.matches(&name).count(), 1, "{ps}");
    }

    let out = compose(&["down", "-v"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(names().is_empty(), "{:?}", names());
    let nets = stdout(&d.docker(&["network", "ls", "--format", "{{.Name}}"]));
    assert!(!nets.contains(&project), "{nets}");
    let vols = stdout(&d.docker(&["volume", "ls", "--format", "{{.Name}}"]));
    assert!(!vols.contains(&project), "{vols}");
}
