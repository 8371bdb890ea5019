//! `diff`, `commit` and `export` of a container, with the berth CLI and the real docker CLI.

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
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn tar_names(path: &std::path::Path) -> Vec<String> {
    let f = std::fs::File::open(path).unwrap();
    tar::Archive::new(f)
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string()
        })
        .collect()
}

#[test]
fn diff_commit_and_export_a_container() {
    let d = Daemon::start();
    ok(d.berth(&[
        "run",
        "--name",
        "changer",
        "busybox",
        "sh",
        "-c",
        "echo hi > /tmp/new && mkdir -p /srv/app && echo app > /srv/app/conf && rm /etc/group && chmod 600 /etc/passwd",
    ]));

    // diff: the same lines from both CLIs, without the runtime's mount points.
    let diff = ok(d.berth(&["diff", "changer"]));
    let lines: Vec<&str> = diff.lines().collect();
    for want in [
        "C /tmp",
        "A /tmp/new",
        "A /srv",
        "A /srv/app",
        "A /srv/app/conf",
        "C /etc",
        "D /etc/group",
        "C /etc/passwd",
    ] {
        assert!(lines.contains(&want), "{want}: {diff}");
    }
    assert!(
        !diff.contains("/etc/hosts") && !diff.contains("/proc"),
        "{diff}"
    );
    assert_eq!(ok(d.docker(&["diff", "changer"])), diff);

    // commit: a new layer with those changes, a new CMD, the message in the history.
    let id = ok(d.berth(&[
        "commit",
        "-m",
        "saved changes",
        "-a",
        "tester",
        "-c",
        "CMD [\"cat\", \"/tmp/new\"]",
        "changer",
        "committed:1",
    ]));
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(ok(d.berth(&["run", "--rm", "committed:1"])).trim(), "hi");
    assert_eq!(
        ok(d.berth(&["run", "--rm", "committed:1", "cat", "/srv/app/conf"])).trim(),
        "app"
    );
    let gone = d.berth(&["run", "--rm", "committed:1", "cat", "/etc/group"]);
    assert!(!gone.status.success());
    let mode = ok(d.berth(&[
        "run",
        "--rm",
        "committed:1",
        "stat",
        "-c",
        "%a",
        "/etc/passwd",
    ]));
    assert_eq!(mode.trim(), "600");
    let history = ok(d.berth(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.Comment}}|{{.CreatedBy}}",
        "committed:1",
    ]));
    assert!(
        history
            .lines()
            .next()
            .unwrap()
            .starts_with("saved changes|"),
        "{history}"
    );
    let author = ok(d.berth(&["inspect", "--format", "{{.Author}}", "committed:1"]));
    assert_eq!(author.trim(), "tester");

    // The docker CLI commits too; a commit of a commit stacks layers.
    ok(d.berth(&[
        "run",
        "--name",
        "second",
        "committed:1",
        "sh",
        "-c",
        "echo two > /tmp/two",
    ]));
    ok(d.docker(&["commit", "second", "committed:2"]));
    let layers = ok(d.berth(&[
        "inspect",
        "--format",
        "{{len .RootFS.Layers}}",
        "committed:2",
    ]));
    assert_eq!(layers.trim(), "3");
    assert_eq!(
        ok(d.berth(&["run", "--rm", "committed:2", "cat", "/tmp/new", "/tmp/two"])),
        "hi\ntwo\n"
    );

    // export: the whole tree, stopped or running, with either CLI.
    let out = d.dir.path().join("changer.tar");
    ok(d.berth(&["export", "-o", out.to_str().unwrap(), "changer"]));
    let names = tar_names(&out);
    assert!(names.iter().any(|n| n == "tmp/new"), "{names:?}");
    assert!(names.iter().any(|n| n == "bin/busybox"), "{names:?}");
    assert!(!names.iter().any(|n| n == "etc/group"), "{names:?}");
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "live",
        "busybox",
        "sh",
        "-c",
        "echo up > /tmp/live; sleep 60",
    ]));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let live = d.dir.path().join("live.tar");
    ok(d.docker(&["export", "-o", live.to_str().unwrap(), "live"]));
    assert!(tar_names(&live).iter().any(|n| n == "tmp/live"));
    ok(d.berth(&["rm", "-f", "live"]));
    assert!(
        d.mounts().iter().all(|m| !m.contains("export-")),
        "{:?}",
        d.mounts()
    );

    // Unknown container: docker's 404 text.
    let e = d.berth(&["diff", "nosuch"]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("No such container: nosuch"));
}

#[test]
fn system_df_counts_images_and_containers() {
    let d = Daemon::start();
    ok(d.berth(&[
        "run",
        "--name",
        "writer",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/tmp/f",
        "bs=1024",
        "count=300",
    ]));
    ok(d.berth(&["tag", "busybox", "other:1"]));
    let row = |out: &str, kind: &str| -> Vec<String> {
        let line = out
            .lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} row: {out}"));
        line[kind.len()..]
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    for out in [
        ok(d.berth(&["system", "df"])),
        ok(d.docker(&["system", "df"])),
    ] {
        assert!(out.starts_with("TYPE"), "{out}");
        let images = row(&out, "Images");
        // Used by a container (even a stopped one): active, nothing reclaimable.
        assert_eq!(&images[..2], ["1", "1"], "{out}");
        assert!(images[2].ends_with("MB"), "{out}");
        assert_eq!(images[3..].join(" "), "0B (0%)", "{out}");
        let containers = row(&out, "Containers");
        assert_eq!(&containers[..2], ["1", "0"], "{out}");
        assert_eq!(containers[2], "307.2kB", "{out}");
        assert_eq!(containers[3..].join(" "), "307.2kB (100%)", "{out}");
    }
}
