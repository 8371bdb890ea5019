//! Container lifecycle through the berth CLI: detached runs, ps, logs, stop, kill, rm, name
//! conflicts, and a daemon killed with SIGKILL while containers run.

mod support;

use support::{eventually, stderr, stdout, Daemon};

#[test]
fn detached_container_lists_logs_stops_and_removes() {
    let d = Daemon::start();
    let out = d.berth(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert_eq!(id.len(), 64);
    let ps = stdout(&d.berth(&["ps"]));
    assert!(
        ps.contains("web") && ps.contains(&id[..12]) && ps.contains("Up "),
        "{ps}"
    );
    eventually("log line", || {
        stdout(&d.berth(&["logs", "web"])) == "started\n"
    });
    // Short id prefix and name both resolve.
    let inspect = d.berth(&["inspect", &id[..6]]);
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(v[0]["State"]["Status"], "running");
    assert_eq!(v[0]["Name"], "/web");
    // Removing a running container without -f is refused.
    let rm = d.berth(&["rm", "web"]);
    assert_ne!(rm.status.code(), Some(0));
    assert!(
        stderr(&rm).contains("You cannot remove a running container"),
        "{}",
        stderr(&rm)
    );
    // The name is taken.
    let dup = d.berth(&["run", "-d", "--name", "web", "busybox", "true"]);
    assert_eq!(dup.status.code(), Some(125));
    assert!(
        stderr(&dup).contains("is already in use"),
        "{}",
        stderr(&dup)
    );
    let stop = d.berth(&["stop", "-t", "5", "web"]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert_eq!(stdout(&d.berth(&["logs", "web"])), "started\nbye\n");
    let ps = stdout(&d.berth(&["ps", "-a"]));
    assert!(ps.contains("Exited (0)"), "{ps}");
    assert!(d.berth(&["rm", "web"]).status.success());
    assert_eq!(stdout(&d.berth(&["ps", "-aq"])), "");
    assert!(d.mounts().is_empty(), "leaked mounts: {:?}", d.mounts());
}

#[test]
fn kill_sends_signals_and_wait_reports_status() {
    let d = Daemon::start();
    let id = stdout(&d.berth(&["run", "-d", "busybox", "sleep", "60"]))
        .trim()
        .to_string();
    let bad = d.berth(&["kill", "-s", "BOGUS", &id]);
    assert!(
        stderr(&bad).contains("Invalid signal: BOGUS"),
        "{}",
        stderr(&bad)
    );
    assert!(d.berth(&["kill", &id]).status.success());
    let wait = d.berth(&["wait", &id]);
    assert_eq!(stdout(&wait).trim(), "137");
    let again = d.berth(&["kill", &id]);
    assert!(
        stderr(&again).contains("is not running"),
        "{}",
        stderr(&again)
    );
    assert!(d.berth(&["rm", "-f", &id]).status.success());
}

#[test]
fn logs_follow_and_tail() {
    let d = Daemon::start();
    let id = stdout(&d.berth(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line $i; done; sleep 0.5; echo last",
    ]))
    .trim()
    .to_string();
    let out = d.berth(&["logs", "-f", &id]);
    assert_eq!(
        stdout(&out),
        "line 1\nline 2\nline 3\nline 4\nline 5\nlast\n"
    );
    let out = d.berth(&["logs", "--tail", "2", &id]);
    assert_eq!(stdout(&out), "line 5\nlast\n");
    assert!(d.berth(&["rm", "-f", &id]).status.success());
}

#[test]
fn daemon_killed_with_sigkill_readopts_all_running_containers() {
    let mut d = Daemon::start();
    let mut ids = Vec::new();
    for i in 0..10 {
        let out = d.berth(&[
            "run",
            "-d",
            "--name",
            &format!("c{i}"),
            "busybox",
            "sleep",
            "300",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        ids.push(stdout(&out).trim().to_string());
    }
    d.kill9();
    d.spawn();
    let running = stdout(&d.berth(&["ps", "-q", "--no-trunc"]));
    for id in &ids {
        assert!(
            running.contains(id.as_str()),
            "{id} lost after restart: {running}\n{}",
            d.log()
        );
    }
    // Still controllable: logs -f follows until the container stops, stop one, wait on
    // another, force-remove all.
    let follow = std::process::Command::new(support::BERTH)
        .args(["--host", &d.host(), "logs", "-f", "c2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(d.berth(&["stop", "-t", "1", "c2"]).status.success());
    let followed = follow.wait_with_output().unwrap();
    assert!(
        followed.status.success(),
        "logs -f did not end cleanly after stop"
    );
    assert!(d.berth(&["stop", "-t", "1", "c0"]).status.success());
    assert!(stdout(&d.berth(&["ps", "-a", "--filter", "name=c0"])).contains("Exited (137)"));
    assert!(d.berth(&["kill", "c1"]).status.success());
    assert_eq!(stdout(&d.berth(&["wait", "c1"])).trim(), "137");
    for id in &ids {
        let out = d.berth(&["rm", "-f", id]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(stdout(&d.berth(&["ps", "-aq"])), "");
    assert!(d.mounts().is_empty(), "leaked mounts: {:?}", d.mounts());
}

#[test]
fn import_of_a_corrupt_tarball_leaves_nothing() {
    let d = Daemon::start();
    let bad = d.dir.path().join("bad.tar.gz");
    let good = std::fs::read(d.dir.path().join("busybox.tar")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &good).unwrap();
    let mut gz = enc.finish().unwrap();
    gz.truncate(gz.len() / 2);
    std::fs::write(&bad, &gz).unwrap();
    let before = stdout(&d.berth(&["images", "-q"]));
    let out = d.berth(&["import", bad.to_str().unwrap(), "broken:1"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(!stderr(&out).is_empty());
    assert_eq!(stdout(&d.berth(&["images", "-q"])), before);
    let blobs = std::fs::read_dir(d.root().join("content/ingest"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "temp blobs left behind");
}

#[test]
fn a_killed_shim_is_noticed_and_its_container_cleaned_up() {
    let d = Daemon::start();
    let id = stdout(&d.berth(&["run", "-d", "busybox", "sleep", "300"]))
        .trim()
        .to_string();
    let shim = std::process::Command::new("pgrep")
        .args(["-f", &format!("shim --id {id}")])
        .output()
        .unwrap();
    let pid = stdout(&shim).trim().to_string();
    assert!(!pid.is_empty(), "no shim process for {id}");
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap()
        .success());
    eventually("the container to be marked exited", || {
        stdout(&d.berth(&["ps", "-a"])).contains("Exited (255)")
    });
    let out = d.berth(&["rm", "-f", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(d.mounts().is_empty(), "leaked mounts: {:?}", d.mounts());
    let leftover: Vec<_> = ["cpu", "memory", "pids"]
        .iter()
        .map(|c| {
            std::path::Path::new("/sys/fs/cgroup")
                .join(c)
                .join("berth")
                .join(&id)
        })
        .filter(|p| p.exists())
        .collect();
    assert!(leftover.is_empty(), "leaked cgroups: {leftover:?}");
}

#[test]
fn runc_as_the_runtime_runs_the_same_containers() {
    let d = Daemon::start_with(&["--runtime", "runc"]);
    let out = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo via runc; exit 4",
    ]);
    assert_eq!(
        stdout(&out),
        "via runc\n",
        "stderr: {}\n{}",
        stderr(&out),
        d.log()
    );
    assert_eq!(out.status.code(), Some(4));
    let out = d.berth(&["run", "--rm", "-t", "busybox", "tty"]);
    assert_eq!(
        stdout(&out).trim(),
        "/dev/pts/0",
        "stderr: {}",
        stderr(&out)
    );
    let out = d.berth(&["run", "--rm", "busybox", "nosuchcommand"]);
    assert_eq!(out.status.code(), Some(127), "stderr: {}", stderr(&out));
    let id = stdout(&d.berth(&["run", "-d", "busybox", "sleep", "300"]))
        .trim()
        .to_string();
    assert!(d.berth(&["stop", "-t", "1", &id]).status.success());
    assert!(stdout(&d.berth(&["ps", "-a"])).contains("Exited (137)"));
    assert!(d.berth(&["rm", &id]).status.success());
    assert!(d.mounts().is_empty(), "leaked mounts: {:?}", d.mounts());
}

#[test]
fn pause_unpause_restart_and_stop_of_a_paused_container() {
    let d = Daemon::start();
    let id = stdout(&d.berth(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.05; done",
    ]))
    .trim()
    .to_string();
    let pause = d.docker(&["pause", &id]);
    assert!(pause.status.success(), "{}", stderr(&pause));
    assert!(stdout(&d.berth(&["ps"])).contains("(Paused)"));
    let a = stdout(&d.berth(&["logs", &id])).lines().count();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let b = stdout(&d.berth(&["logs", &id])).lines().count();
    assert_eq!(a, b, "a paused container wrote output");
    assert!(d.docker(&["unpause", &id]).status.success());
    eventually("output after unpause", || {
        stdout(&d.berth(&["logs", &id])).lines().count() > b
    });
    let again = d.docker(&["unpause", &id]);
    assert!(
        stderr(&again).contains("is not paused"),
        "{}",
        stderr(&again)
    );
    // Stop thaws a paused container so its signals take effect.
    assert!(d.docker(&["pause", &id]).status.success());
    let stop = d.docker(&["stop", "-t", "1", &id]);
    assert!(stop.status.success(), "{}", stderr(&stop));
    assert!(stdout(&d.berth(&["ps", "-a"])).contains("Exited (137)"));
    let restart = d.docker(&["restart", "-t", "1", &id]);
    assert!(restart.status.success(), "{}", stderr(&restart));
    assert!(stdout(&d.berth(&["ps"])).contains("Up "));
    let exec = d.docker(&["exec", &id, "true"]);
    assert!(exec.status.success(), "{}", stderr(&exec));
    assert!(d.berth(&["rm", "-f", &id]).status.success());
}

#[test]
fn berth_pause_unpause_restart_and_stop_with_a_signal() {
    let d = Daemon::start();
    let id = stdout(&d.berth(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-hup; exit 0' HUP; while true; do sleep 0.1; done",
    ]))
    .trim()
    .to_string();
    let out = d.berth(&["pause", &id]);
    assert_eq!(stdout(&out).trim(), id, "{}", stderr(&out));
    assert!(stdout(&d.berth(&["ps"])).contains("(Paused)"));
    assert!(d.berth(&["unpause", &id]).status.success());
    let out = d.berth(&["stop", "-s", "HUP", "-t", "5", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&d.berth(&["logs", &id])).contains("got-hup"));
    assert!(stdout(&d.berth(&["ps", "-a"])).contains("Exited (0)"));
    let out = d.berth(&["restart", "-t", "1", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&d.berth(&["ps"])).contains("Up "));
    let out = d.berth(&["stop", "-s", "BOGUS", &id]);
    assert!(
        stderr(&out).contains("Invalid signal: BOGUS"),
        "{}",
        stderr(&out)
    );
    assert!(d.berth(&["rm", "-f", &id]).status.success());
}
