//! Detach keys through a real terminal (util-linux `script` gives the client a pty): `run -it`,
//! `attach`, `start -ai` and `exec -it` detach on ctrl-p ctrl-q, on `--detach-keys` and on
//! config.json's `detachKeys`, with the real docker CLI and berth's CLI; the container keeps
//! running and its shell keeps its state.

mod support;

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{stderr, stdout, Daemon, BERTH};

/// A client running on a pty.
struct Term {
    child: Child,
    stdin: ChildStdin,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Term {
    fn spawn(d: &Daemon, cli: &str, args: &[&str]) -> Term {
        let argv = if cli == "docker" {
            let mut v = vec!["docker".to_string()];
            v.extend(args.iter().map(|a| a.to_string()));
            v
        } else {
            let mut v = vec![BERTH.to_string(), "--host".into(), d.host()];
            v.extend(args.iter().map(|a| a.to_string()));
            v
        };
        let cmd = argv
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .args(["-qfec", &cmd, "/dev/null"])
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
            .env("TERM", "xterm")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run script (util-linux)");
        let stdin = child.stdin.take().unwrap();
        let mut so = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = so.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Term { child, stdin, out }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.output().contains(text) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?}; output so far: {:?}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types keys one at a time, as a person would (docker's CLI only matches the sequence
    /// when each key arrives in its own read).
    fn type_keys(&mut self, keys: &[u8]) {
        for k in keys {
            self.stdin.write_all(&[*k]).unwrap();
            self.stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn send(&mut self, text: &str) {
        self.stdin.write_all(text.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the client did not exit; output: {:?}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running(d: &Daemon, c: &str) -> bool {
    let out = d.berth(&["inspect", "-f", "{{.State.Running}}", c]);
    stdout(&out).trim() == "true"
}

/// Marks the shell's state so a later attach can prove it is the same shell.
fn detach_checks(d: &Daemon, cli: &str) {
    let c = format!("dk-{cli}");
    let cfg_dir = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let _ = std::fs::remove_file(cfg_dir.join("config.json"));

    // run -it, then ctrl-p ctrl-q: the client leaves, the container runs on.
    let mut t = Term::spawn(
        d,
        cli,
        &[
            "run",
            "-it",
            "--name",
            &c,
            "--network",
            "none",
            "busybox",
            "sh",
        ],
    );
    t.send("export MARK=kept-$((40+2)); echo ready-$((1+1))\r");
    t.wait_for("ready-2");
    t.type_keys(&api_keys::DEFAULT);
    let status = t.wait_exit();
    assert_eq!(status.code(), Some(0), "{cli} run: {:?}", t.output());
    assert!(
        !t.output().contains("escape"),
        "{cli} run: {:?}",
        t.output()
    );
    assert!(running(d, &c), "{cli}: the container stopped on detach");

    // attach, see the same shell, detach with --detach-keys.
    let mut t = Term::spawn(d, cli, &["attach", "--detach-keys", "ctrl-x,x", &c]);
    std::thread::sleep(Duration::from_millis(500));
    t.send("echo mark=$MARK\r");
    t.wait_for("mark=kept-42");
    t.type_keys(b"\x18x");
    // docker's CLI reports the escape as the attach's error.
    assert_eq!(
        t.wait_exit().code(),
        Some(1),
        "{cli} attach: {:?}",
        t.output()
    );
    assert!(
        t.output().contains("read escape sequence"),
        "{cli}: {:?}",
        t.output()
    );
    assert!(running(d, &c));

    // config.json's detachKeys.
    std::fs::write(cfg_dir.join("config.json"), r#"{"detachKeys":"ctrl-a"}"#).unwrap();
    let mut t = Term::spawn(d, cli, &["attach", &c]);
    std::thread::sleep(Duration::from_millis(500));
    t.send("echo again-$((2+3))\r");
    t.wait_for("again-5");
    t.type_keys(b"\x01");
    assert_eq!(
        t.wait_exit().code(),
        Some(1),
        "{cli} attach (config): {:?}",
        t.output()
    );
    assert!(
        t.output().contains("read escape sequence"),
        "{cli}: {:?}",
        t.output()
    );
    assert!(running(d, &c));
    std::fs::remove_file(cfg_dir.join("config.json")).unwrap();

    // exec -it: detaching leaves the exec'd shell running too.
    let mut t = Term::spawn(d, cli, &["exec", "-it", &c, "sh"]);
    t.send("echo in-exec-$((3+4))\r");
    t.wait_for("in-exec-7");
    t.type_keys(&api_keys::DEFAULT);
    let status = t.wait_exit();
    let exec_out = t.output();
    eprintln!("{cli} exec: {status:?} {exec_out:?}");
    assert!(running(d, &c));
    let ps = d.berth(&["exec", &c, "ps", "-o", "comm"]);
    assert!(
        stdout(&ps).matches("sh").count() >= 2,
        "{cli}: the exec'd shell ended on detach: {}",
        stdout(&ps)
    );
    // docker's CLI reports the escape as an error of the exec.
    assert!(
        exec_out.contains("read escape sequence"),
        "{cli} exec: {exec_out:?}"
    );
    assert_eq!(status.code(), Some(1), "{cli} exec");

    // start -ai after a stop: a new shell, detached the same way.
    let out = d.berth(&["stop", "-t", "1", &c]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut t = Term::spawn(d, cli, &["start", "-ai", &c]);
    std::thread::sleep(Duration::from_millis(500));
    t.send("echo started-$((5+5))\r");
    t.wait_for("started-10");
    t.type_keys(&api_keys::DEFAULT);
    let status = t.wait_exit();
    eprintln!("{cli} start -ai: {status:?} {:?}", t.output());
    assert_eq!(status.code(), Some(0), "{cli} start -ai: {:?}", t.output());
    assert!(running(d, &c));

    // An invalid spec is refused in docker's words.
    let mut t = Term::spawn(d, cli, &["attach", "--detach-keys", "ctrl-1", &c]);
    let status = t.wait_exit();
    assert_ne!(status.code(), Some(0));
    // docker's CLI drops the body of a refused upgrade (dockerd answers the same way).
    let expected = if cli == "docker" {
        "unable to upgrade to tcp, received 400"
    } else {
        "Invalid detach keys (ctrl-1) provided"
    };
    assert!(t.output().contains(expected), "{cli}: {:?}", t.output());
    let curl = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            "--unix-socket",
            d.socket.to_str().unwrap(),
        ])
        .arg(format!(
            "http://x/v1.43/containers/{c}/attach?stream=1&stdin=1&detachKeys=ctrl-1"
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        "{\"message\":\"Invalid detach keys (ctrl-1) provided\"}\n"
    );
    let mut t = Term::spawn(
        d,
        cli,
        &["exec", "-it", "--detach-keys", "ctrl-1", &c, "true"],
    );
    let status = t.wait_exit();
    assert_ne!(status.code(), Some(0));
    assert!(
        t.output().contains("Invalid escape keys (ctrl-1) provided"),
        "{cli}: {:?}",
        t.output()
    );
}

mod api_keys {
    pub const DEFAULT: [u8; 2] = [0x10, 0x11];
}

#[test]
fn detach_keys_with_the_docker_cli() {
    let d = Daemon::start();
    detach_checks(&d, "docker");
}

#[test]
fn detach_keys_with_the_berth_cli() {
    let d = Daemon::start();
    detach_checks(&d, "berth");
}

/// A raw hijacked connection, to check the daemon's own key matching (docker's CLI never
/// sends the keys: it matches them itself).
fn hijack(d: &Daemon, request_line: &str, body: &str) -> std::os::unix::net::UnixStream {
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{request_line} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).unwrap(),
            1,
            "connection closed during the upgrade"
        );
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

fn read_until(s: &mut std::os::unix::net::UnixStream, text: &str) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(text) {
        let n = s.read(&mut buf).expect("read before timeout");
        assert!(
            n > 0,
            "closed before {text:?}: {:?}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
}

/// Reads until the daemon closes the connection; fails after the read timeout.
fn read_to_close(s: &mut std::os::unix::net::UnixStream) {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => panic!("the daemon did not close the connection: {e}"),
        }
    }
}

#[test]
fn the_daemon_matches_detach_keys_itself() {
    let d = Daemon::start();
    let out = d.berth(&[
        "run",
        "-dit",
        "--name",
        "raw",
        "--network",
        "none",
        "busybox",
        "sh",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Default keys, arriving in one write with the command before them.
    let mut s = hijack(
        &d,
        "POST /v1.43/containers/raw/attach?stream=1&stdin=1&stdout=1&stderr=1",
        "",
    );
    s.write_all(b"echo one-$((0+1))\n").unwrap();
    read_until(&mut s, "one-1");
    s.write_all(b"\x10\x11").unwrap();
    read_to_close(&mut s);
    assert!(running(&d, "raw"));
    let until = (std::time::SystemTime::now() + Duration::from_secs(1))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let events = d.berth(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "event=detach",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    assert_eq!(stdout(&events), "detach raw\n", "{}", stderr(&events));

    // detachKeys, with a partial match that is not the sequence passing through.
    let mut s = hijack(
        &d,
        "POST /v1.43/containers/raw/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-x,y",
        "",
    );
    s.write_all(b"echo \x18two-$((1+1))\n").unwrap();
    read_until(&mut s, "two-2");
    s.write_all(b"\x18y").unwrap();
    read_to_close(&mut s);
    assert!(running(&d, "raw"));

    // An exec with DetachKeys: the client is let go, the process runs on.
    let out = Command::new("curl")
        .args(["-sS", "-X", "POST", "--unix-socket", d.socket.to_str().unwrap()])
        .args(["-H", "Content-Type: application/json", "-d"])
        .arg(r#"{"AttachStdin":true,"AttachStdout":true,"Tty":true,"DetachKeys":"ctrl-e","Cmd":["sh"]}"#)
        .arg("http://x/v1.43/containers/raw/exec")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let exec_id = v["Id"].as_str().unwrap().to_string();
    let mut s = hijack(
        &d,
        &format!("POST /v1.43/exec/{exec_id}/start"),
        r#"{"Detach":false,"Tty":true}"#,
    );
    s.write_all(b"echo three-$((1+2))\n").unwrap();
    read_until(&mut s, "three-3");
    s.write_all(b"\x05").unwrap();
    read_to_close(&mut s);
    let out = Command::new("curl")
        .args(["-sS", "--unix-socket", d.socket.to_str().unwrap()])
        .arg(format!("http://x/v1.43/exec/{exec_id}/json"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Running"], true, "{v}");
}
