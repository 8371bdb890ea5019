//! Volumes, binds and tmpfs mounts with the berth CLI and the real docker CLI.

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

fn err(o: Output) -> String {
    assert!(
        !o.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn named_and_anonymous_volumes_binds_and_tmpfs() {
    let d = Daemon::start();
    // An image with content at /data, for the copy-on-first-mount rule.
    ok(d.berth(&[
        "run",
        "--name",
        "seed",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && echo from-image > /data/seed",
    ]));
    ok(d.berth(&["commit", "-c", "VOLUME /cache", "seed", "seeded:1"]));

    // A named volume: created on first use, filled from the image, shared and persistent.
    ok(d.berth(&[
        "run",
        "--rm",
        "-v",
        "appdata:/data",
        "seeded:1",
        "sh",
        "-c",
        "cat /data/seed && echo written > /data/new",
    ]));
    assert_eq!(
        ok(d.docker(&[
            "run",
            "--rm",
            "-v",
            "appdata:/srv",
            "busybox",
            "cat",
            "/srv/seed",
            "/srv/new"
        ])),
        "from-image\nwritten"
    );
    let inspect = ok(d.berth(&[
        "volume",
        "inspect",
        "--format",
        "{{.Driver}} {{.Name}}",
        "appdata",
    ]));
    assert_eq!(inspect, "local appdata");
    assert!(ok(d.docker(&["volume", "ls", "-q"]))
        .lines()
        .any(|l| l == "appdata"));

    // In use: refused; --rm of a container does not take a named volume along.
    ok(d.berth(&[
        "run",
        "-d",
        "--name",
        "user",
        "-v",
        "appdata:/data",
        "busybox",
        "sleep",
        "60",
    ]));
    let e = err(d.berth(&["volume", "rm", "appdata"]));
    assert!(e.contains("volume is in use"), "{e}");
    let mounts: serde_json::Value = serde_json::from_str(&ok(d.berth(&[
        "inspect",
        "--format",
        "{{json .Mounts}}",
        "user",
    ])))
    .unwrap();
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Name"], "appdata");
    assert_eq!(mounts[0]["Destination"], "/data");
    assert_eq!(mounts[0]["RW"], true);
    ok(d.berth(&["rm", "-f", "user"]));
    ok(d.docker(&["volume", "rm", "appdata"]));
    assert!(!ok(d.berth(&["volume", "ls", "-q"]))
        .lines()
        .any(|l| l == "appdata"));

    // Anonymous volumes: `-v /path` and the image's VOLUME; removed with rm -v.
    ok(d.berth(&[
        "create", "--name", "anon", "-v", "/scratch", "seeded:1", "true",
    ]));
    let anon: serde_json::Value = serde_json::from_str(&ok(d.berth(&[
        "inspect",
        "--format",
        "{{json .Mounts}}",
        "anon",
    ])))
    .unwrap();
    let names: Vec<String> = anon
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2, "{anon}");
    assert!(names.iter().all(|n| n.len() == 64));
    ok(d.berth(&["rm", "-v", "anon"]));
    let left = ok(d.berth(&["volume", "ls", "-q"]));
    assert!(names.iter().all(|n| !left.contains(n.as_str())), "{left}");
    // Without -v they stay, and prune takes them.
    ok(d.berth(&[
        "create", "--name", "anon2", "-v", "/scratch", "busybox", "true",
    ]));
    ok(d.berth(&["rm", "anon2"]));
    assert_eq!(ok(d.berth(&["volume", "ls", "-q"])).lines().count(), 1);
    let pruned = ok(d.berth(&["volume", "prune", "-f"]));
    assert!(pruned.contains("Deleted Volumes:"), "{pruned}");
    assert_eq!(ok(d.berth(&["volume", "ls", "-q"])), "");

    // Bind mounts, read-write and read-only; --mount; --tmpfs; --read-only with a volume.
    let host = d.dir.path().join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("in"), "from-host").unwrap();
    let bind = format!("{}:/mnt", host.display());
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "-v",
            &bind,
            "busybox",
            "sh",
            "-c",
            "cat /mnt/in; echo out > /mnt/out"
        ])),
        "from-host"
    );
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "out\n");
    let ro = format!("{}:/mnt:ro", host.display());
    let e = d.berth(&["run", "--rm", "-v", &ro, "busybox", "touch", "/mnt/x"]);
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("Read-only file system"));
    let m = format!("type=bind,source={},target=/m,readonly", host.display());
    assert_eq!(
        ok(d.docker(&["run", "--rm", "--mount", &m, "busybox", "cat", "/m/in"])),
        "from-host"
    );
    let e = err(d.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,source=/nonexistent/berth,target=/m",
        "busybox",
        "true",
    ]));
    assert!(
        e.contains("bind source path does not exist: /nonexistent/berth"),
        "{e}"
    );
    let t = ok(d.berth(&[
        "run",
        "--rm",
        "--tmpfs",
        "/fast:size=1m",
        "busybox",
        "sh",
        "-c",
        "grep ' /fast ' /proc/mounts",
    ]));
    assert!(
        t.starts_with("tmpfs /fast tmpfs") && t.contains("size=1024k"),
        "{t}"
    );
    let t = ok(d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,target=/t",
        "busybox",
        "sh",
        "-c",
        "grep ' /t ' /proc/mounts",
    ]));
    assert!(t.contains("nosuid,nodev,noexec"), "{t}");
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "--read-only",
            "-v",
            "rw1:/w",
            "busybox",
            "sh",
            "-c",
            "echo ok > /w/f && cat /w/f && touch /x 2>/dev/null || echo ro"
        ])),
        "ok\nro"
    );

    // --volumes-from shares the other container's volumes, read-only on request.
    ok(d.berth(&[
        "run",
        "--name",
        "src",
        "-v",
        "shared:/shared",
        "busybox",
        "sh",
        "-c",
        "echo s > /shared/f",
    ]));
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "--volumes-from",
            "src",
            "busybox",
            "cat",
            "/shared/f"
        ])),
        "s"
    );
    let e = d.berth(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "touch",
        "/shared/g",
    ]);
    assert!(!e.status.success());

    // Bad specs: docker's messages.
    let e = err(d.berth(&["run", "--rm", "-v", "bad name:/x", "busybox", "true"]));
    assert!(
        e.contains("includes invalid characters for a local volume name"),
        "{e}"
    );
    let e = err(d.berth(&["run", "--rm", "-v", "vol:relative", "busybox", "true"]));
    assert!(e.contains("invalid volume specification"), "{e}");
    let e = err(d.berth(&[
        "run", "--rm", "-v", "a1:/x", "-v", "a2:/x", "busybox", "true",
    ]));
    assert!(e.contains("Duplicate mount point: /x"), "{e}");
}

/// Differences with dockerd 20.10 found by `tests/parity/run.sh`: `Mounts[].Mode` is the
/// `-v` mode as written (`z` for a local volume without one), and a refused volume create
/// names the volume.
#[test]
fn docker_cli_mount_modes_and_volume_errors_match_dockerd() {
    let d = Daemon::start();
    let host = testkit::TempDir::new("bind");
    let bind = format!("{}:/h:ro", host.path().display());
    let bind_rw = format!("{}:/w", host.path().display());
    ok(d.docker(&[
        "create",
        "--network",
        "none",
        "--name",
        "mm",
        "-v",
        "vm:/data",
        "-v",
        &bind,
        "-v",
        &bind_rw,
        "-v",
        "vro:/ro:ro",
        "busybox",
        "true",
    ]));
    let out = ok(d.docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Destination}}={{.Mode}},{{.RW}};{{end}}",
        "mm",
    ]));
    let mut modes: Vec<&str> = out.split(';').filter(|s| !s.is_empty()).collect();
    modes.sort();
    assert_eq!(
        modes,
        ["/data=z,true", "/h=ro,false", "/ro=ro,false", "/w=,true"]
    );
    let e = err(d.docker(&["volume", "create", "--driver", "nosuch", "v2"]));
    assert!(
        e.contains(
            "Error response from daemon: create v2: error looking up volume plugin nosuch: plugin \"nosuch\" not found"
        ),
        "{e}"
    );
    ok(d.docker(&["rm", "-v", "mm"]));
    ok(d.docker(&["volume", "rm", "vm", "vro"]));
}
