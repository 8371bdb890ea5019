//! `rename`, `container prune` and `ps` filters, with the berth CLI and the real docker CLI.

mod support;

use std::process::Output;

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

#[test]
fn rename_prune_and_ps_filters() {
    let d = Daemon::start();
    ok(d.berth(&[
        "run",
        "--name",
        "first",
        "-v",
        "vol1:/data",
        "busybox",
        "true",
    ]));
    ok(d.berth(&[
        "run", "-d", "--name", "second", "--label", "tier=web", "busybox", "sleep", "60",
    ]));
    ok(d.berth(&["run", "--name", "third", "busybox", "true"]));

    // rename, running or not; the old name is free again, a taken one is a conflict.
    ok(d.berth(&["rename", "second", "web"]));
    ok(d.docker(&["rename", "first", "one"]));
    let names = ok(d.berth(&["ps", "-a", "--format", "{{.Names}}"]));
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["one", "third", "web"]);
    let taken = d.berth(&["rename", "one", "web"]);
    assert!(!taken.status.success());
    assert!(String::from_utf8_lossy(&taken.stderr).contains("is already in use"));

    // ps filters: volume, label, before/since, and an unknown one.
    let ps = |f: &str| ok(d.berth(&["ps", "-a", "--filter", f, "--format", "{{.Names}}"]));
    assert_eq!(ps("volume=vol1"), "one");
    assert_eq!(ps("volume=/data"), "one");
    assert_eq!(ps("label=tier=web"), "web");
    assert_eq!(ps("before=third"), "web\none");
    assert_eq!(ps("since=one"), "third\nweb");
    let bad = d.berth(&["ps", "--filter", "colour=red"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid filter 'colour'"));
    assert_eq!(
        ok(d.docker(&[
            "ps",
            "-a",
            "--filter",
            "volume=vol1",
            "--format",
            "{{.Names}}"
        ])),
        "one"
    );

    // prune: every stopped container, not the running one.
    let out = ok(d.berth(&["container", "prune", "-f"]));
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert_eq!(ok(d.berth(&["ps", "-a", "--format", "{{.Names}}"])), "web");
    let again = ok(d.docker(&["container", "prune", "-f"]));
    assert!(again.contains("Total reclaimed space: 0B"), "{again}");
}

#[test]
fn update_changes_limits_of_a_running_container_and_its_policy() {
    let d = Daemon::start();
    ok(d.berth(&[
        "run", "-d", "--name", "upd", "-m", "64m", "busybox", "sleep", "60",
    ]));
    let id = ok(d.berth(&["inspect", "--format", "{{.Id}}", "upd"]));
    let cg = |ctrl: &str, file: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{ctrl}/berth/{id}/{file}"))
            .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/berth/{id}/{file}")))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(
        ok(d.docker(&[
            "update",
            "--memory",
            "32m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "40",
            "upd"
        ])),
        "upd"
    );
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory/berth").exists();
    if v1 {
        assert_eq!(cg("memory", "memory.limit_in_bytes"), "33554432");
        assert_eq!(cg("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(cg("pids", "pids.max"), "40");
    } else {
        assert_eq!(cg("", "memory.max"), "33554432");
        assert_eq!(cg("", "cpu.max"), "50000 100000");
        assert_eq!(cg("", "pids.max"), "40");
    }
    assert_eq!(
        ok(d.berth(&[
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
            "upd"
        ])),
        "33554432 500000000 40"
    );
    // The restart policy, also on a stopped container.
    ok(d.berth(&["update", "--restart", "on-failure:3", "upd"]));
    assert_eq!(
        ok(d.berth(&[
            "inspect",
            "--format",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "upd"
        ])),
        "on-failure:3"
    );
    let bad = d.berth(&["update", "--memory", "1m", "upd"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Minimum memory limit allowed is 6MB"));
    ok(d.berth(&["stop", "-t", "0", "upd"]));
    ok(d.berth(&["update", "--memory", "48m", "upd"]));
    assert_eq!(
        ok(d.berth(&["inspect", "--format", "{{.HostConfig.Memory}}", "upd"])),
        "50331648"
    );
}

fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Differences with dockerd found by `tests/parity/run.sh`: `ps` refuses filter values it can
/// never match and shows sizes with `-s`; kill errors carry dockerd's prefix; rename looks the
/// container up before it checks the new name.
#[test]
fn docker_cli_ps_kill_and_rename_errors_match_dockerd() {
    let d = Daemon::start();
    ok(d.docker(&[
        "run",
        "--network",
        "none",
        "--name",
        "done",
        "busybox",
        "sh",
        "-c",
        "echo x > /f",
    ]));
    for (filter, want) in [
        ("status=bogus", "invalid filter 'status=bogus'"),
        (
            "health=bogus",
            "Unrecognised filter value for health: bogus",
        ),
        ("exited=x", "invalid filter 'exited=x'"),
    ] {
        let out = d.docker(&["ps", "-a", "--filter", filter]);
        assert_eq!(out.status.code(), Some(1), "{filter}");
        assert!(
            stderr_of(&out).contains(want),
            "{filter}: {}",
            stderr_of(&out)
        );
    }
    // `-s`: the writable layer, then the virtual size with the image.
    let size = ok(d.docker(&["ps", "-a", "-s", "--format", "{{.Size}}"]));
    assert!(
        size.starts_with("2B (virtual ") || size.starts_with("0B (virtual "),
        "{size}"
    );
    assert!(!size.contains("virtual 0B"), "{size}");
    let out = d.docker(&["kill", "nosuch"]);
    assert_eq!(
        stderr_of(&out),
        "Error response from daemon: cannot kill container: nosuch: No such container: nosuch\n"
    );
    let out = d.docker(&["kill", "done"]);
    assert!(
        stderr_of(&out)
            .starts_with("Error response from daemon: cannot kill container: done: Container ")
            && stderr_of(&out).ends_with(" is not running\n"),
        "{}",
        stderr_of(&out)
    );
    let out = d.docker(&["rename", "nosuch", "x"]);
    assert!(
        stderr_of(&out).starts_with("Error response from daemon: No such container: nosuch\n"),
        "{}",
        stderr_of(&out)
    );
}
