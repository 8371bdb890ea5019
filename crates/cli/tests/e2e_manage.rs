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
