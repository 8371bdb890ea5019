//! Restart policies (with Docker's back-off and across daemon restarts) and the event stream,
//! with the berth CLI and the real docker CLI.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::Daemon;

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    ok(d.berth(&["inspect", "--format", format, name]))
}

/// Polls `f` until it is true or `secs` pass.
fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn restart_policies_follow_docker() {
    let mut d = Daemon::start();
    // on-failure:2 — two restarts, then it stays exited.
    ok(d.berth(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        "--name",
        "flaky",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]));
    eventually(20, "two restarts", || {
        inspect(&d, "flaky", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        inspect(&d, "flaky", "{{.RestartCount}} {{.State.ExitCode}}"),
        "2 3"
    );
    // on-failure does not restart a clean exit.
    ok(d.berth(&[
        "run",
        "-d",
        "--restart",
        "on-failure",
        "--name",
        "clean",
        "busybox",
        "true",
    ]));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        inspect(&d, "clean", "{{.RestartCount}} {{.State.Status}}"),
        "0 exited"
    );

    // always — restarts after every exit, with a growing back-off; stop ends it.
    ok(d.docker(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        "looper",
        "busybox",
        "sh",
        "-c",
        "sleep 0.2",
    ]));
    eventually(20, "restarts of an always container", || {
        inspect(&d, "looper", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 3
    });
    ok(d.berth(&["stop", "looper"]));
    let count = inspect(&d, "looper", "{{.RestartCount}}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(inspect(&d, "looper", "{{.State.Status}}"), "exited");
    assert_eq!(
        inspect(&d, "looper", "{{.RestartCount}}"),
        count,
        "restarted after stop"
    );

    // Across a daemon restart: `always` comes back even after a stop by hand,
    // `unless-stopped` does not; a running one is simply re-adopted.
    ok(d.berth(&[
        "run",
        "-d",
        "--restart",
        "unless-stopped",
        "--name",
        "held",
        "busybox",
        "sleep",
        "600",
    ]));
    ok(d.berth(&["stop", "-t", "0", "held"]));
    ok(d.berth(&[
        "run",
        "-d",
        "--restart",
        "always",
        "--name",
        "keeper",
        "busybox",
        "sleep",
        "600",
    ]));
    let pid = inspect(&d, "keeper", "{{.State.Pid}}");
    d.kill9();
    d.spawn();
    eventually(20, "looper back at boot", || {
        inspect(&d, "looper", "{{.State.Status}}") == "running"
    });
    assert_eq!(inspect(&d, "held", "{{.State.Status}}"), "exited");
    assert_eq!(
        inspect(&d, "keeper", "{{.State.Status}} {{.State.Pid}}"),
        format!("running {pid}")
    );

    // Bad policies: docker's messages.
    let bad = d.berth(&["run", "-d", "--restart", "always:3", "busybox", "true"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("maximum retry count cannot be used with restart policy"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let bad = d.berth(&["run", "--rm", "--restart", "always", "busybox", "true"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("Conflicting options: --restart and --rm")
    );
}

#[test]
fn events_replay_filter_and_stream() {
    let d = Daemon::start();
    let start = ok(d.berth(&["version", "--format", "{{.Server.Version}}"]));
    assert!(!start.is_empty());
    // A live subscriber, started first.
    let mut live = Command::new(support::BERTH)
        .args([
            "--host",
            &d.host(),
            "events",
            "--filter",
            "event=start",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let run = d.berth(&["run", "--name", "ev1", "busybox", "sh", "-c", "exit 4"]);
    assert_eq!(run.status.code(), Some(4));
    ok(d.berth(&["tag", "busybox", "evimg:1"]));
    let mut reader = BufReader::new(live.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert_eq!(first.trim(), "ev1");
    let _ = live.kill();
    let _ = live.wait();

    // Replay with since/until, from both CLIs.
    let until = (std::time::SystemTime::now() + Duration::from_secs(1))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let actions = ok(d.berth(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "container=ev1",
        "--format",
        "{{.Action}}",
    ]));
    // `run` attaches before it starts, as dockerd logs it.
    assert_eq!(
        actions.lines().collect::<Vec<_>>(),
        ["create", "attach", "start", "die"]
    );
    let docker = ok(d.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "container=ev1",
        "--format",
        "{{.Action}}",
    ]));
    assert_eq!(docker, actions);
    let lines = ok(d.berth(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "event=die",
    ]));
    assert!(lines.contains(" container die "), "{lines}");
    assert!(lines.contains("exitCode=4"), "{lines}");
    assert!(lines.contains("name=ev1"), "{lines}");
    let images = ok(d.berth(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=image",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]));
    assert!(images.lines().any(|l| l == "tag evimg:1"), "{images}");

    // Network and volume events.
    ok(d.berth(&[
        "network",
        "create",
        "--subnet",
        &format!("10.{}.77.0/24", 150 + std::process::id() % 60),
        "evnet",
    ]));
    ok(d.berth(&["volume", "create", "evvol"]));
    ok(d.berth(&["network", "rm", "evnet"]));
    ok(d.berth(&["volume", "rm", "evvol"]));
    let until = (std::time::SystemTime::now() + Duration::from_secs(1))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let other = ok(d.berth(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "type=network",
        "--filter",
        "type=volume",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]));
    let lines: Vec<&str> = other.lines().collect();
    for want in ["network create evnet", "network destroy evnet"] {
        assert!(lines.contains(&want), "{want}: {other}");
    }
    assert!(
        lines.iter().any(|l| l.starts_with("volume create")),
        "{other}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("volume destroy")),
        "{other}"
    );
}

#[test]
fn health_checks_go_starting_unhealthy_healthy() {
    let d = Daemon::start();
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "sleep 2; touch /tmp/ok; sleep 60",
    ]));
    let status = || inspect(&d, "hc", "{{.State.Health.Status}}");
    let first = status();
    assert!(first == "starting" || first == "unhealthy", "{first}");
    eventually(10, "unhealthy", || status() == "unhealthy");
    let ps = ok(d.berth(&["ps", "--format", "{{.Status}}", "--filter", "name=hc"]));
    assert!(ps.ends_with("(unhealthy)"), "{ps}");
    eventually(15, "healthy", || status() == "healthy");
    let docker_ps = ok(d.docker(&["ps", "--format", "{{.Status}}", "--filter", "name=hc"]));
    assert!(docker_ps.ends_with("(healthy)"), "{docker_ps}");
    let log: serde_json::Value =
        serde_json::from_str(&inspect(&d, "hc", "{{json .State.Health}}")).unwrap();
    assert_eq!(log["FailingStreak"], 0);
    let entries = log["Log"].as_array().unwrap();
    assert!(!entries.is_empty() && entries.len() <= 5, "{log}");
    assert_eq!(entries.last().unwrap()["ExitCode"], 0);
    let until = (std::time::SystemTime::now() + Duration::from_secs(1))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let events = ok(d.berth(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "container=hc",
        "--format",
        "{{.Action}}",
    ]));
    assert!(
        events.lines().any(|l| l == "health_status: unhealthy"),
        "{events}"
    );
    assert!(
        events.lines().any(|l| l == "health_status: healthy"),
        "{events}"
    );
    // A bad duration is refused.
    let bad = d.berth(&[
        "run",
        "--rm",
        "--health-interval",
        "soon",
        "busybox",
        "true",
    ]);
    assert!(!bad.status.success());
}

/// `stop` of an `always` container that exits at once races with its own exit and restart;
/// dockerd's stop succeeds whatever the moment (found by `tests/parity/run.sh`).
#[test]
fn stop_of_a_container_exiting_at_once_always_succeeds() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--restart",
        "always",
        "--name",
        "flap",
        "busybox",
        "true",
    ]));
    for i in 0..12u64 {
        std::thread::sleep(Duration::from_millis(i * 37 % 400));
        ok(d.docker(&["stop", "-t", "1", "flap"]));
        assert_eq!(inspect(&d, "flap", "{{.State.Status}}"), "exited");
        ok(d.docker(&["start", "flap"]));
    }
    ok(d.docker(&["rm", "-f", "flap"]));
}

/// dockerd's `attach` and `prune` events (found missing by `tests/parity/run.sh`).
#[test]
fn attach_and_prune_events_as_dockerd() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "att",
        "busybox",
        "true",
    ]));
    ok(d.docker(&["container", "prune", "-f"]));
    ok(d.docker(&["volume", "prune", "-f"]));
    ok(d.docker(&["network", "prune", "-f"]));
    ok(d.docker(&["image", "prune", "-f"]));
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    let out = ok(d.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "event=attach",
        "--filter",
        "event=prune",
        "--format",
        "{{.Type}} {{.Action}} {{json .Actor.Attributes}}",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("container attach ") && lines[0].contains(r#""name":"att""#),
        "{out}"
    );
    for kind in ["container", "volume", "network", "image"] {
        let want = format!(r#"{kind} prune {{"reclaimed":""#);
        assert!(lines.iter().any(|l| l.starts_with(&want)), "{kind}: {out}");
    }
}

/// dockerd's `volume mount` (before `start`) and `volume unmount` (after `die`) events, with
/// its attributes (compared with dockerd 20.10 by `tests/parity/run.sh`).
#[test]
fn volume_mount_events_as_dockerd() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "vm1",
        "-v",
        "vv:/data",
        "busybox",
        "true",
    ]));
    let id = ok(d.docker(&["inspect", "-f", "{{.Id}}", "vm1"]));
    let until = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    );
    let out = ok(d.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}",
    ]));
    let lines: Vec<&str> = out.lines().collect();
    let pos = |want: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(want))
            .unwrap_or_else(|| panic!("no {want:?} in:\n{out}"))
    };
    let mount = format!(
        r#"volume mount vv {{"container":"{id}","destination":"/data","driver":"local","propagation":"","read/write":"true"}}"#
    );
    let unmount = format!(r#"volume unmount vv {{"container":"{id}","driver":"local"}}"#);
    assert!(pos(&mount) < pos("container start"), "{out}");
    assert!(pos("container die") < pos(&unmount), "{out}");
}
