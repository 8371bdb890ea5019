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

/// Whether the volume's `_data` is a mount point now.
fn volume_mounted(d: &Daemon, name: &str) -> bool {
    let data = d.root().join("volumes").join(name).join("_data");
    d.mounts().iter().any(|m| std::path::Path::new(m) == data)
}

/// Mount points under the daemon's volume directory.
fn volume_mounts(d: &Daemon) -> Vec<String> {
    let dir = d.root().join("volumes");
    d.mounts()
        .into_iter()
        .filter(|m| m.starts_with(&*dir.to_string_lossy()))
        .collect()
}

/// `docker volume create --opt type=tmpfs ...`: the local driver mounts the tmpfs on the
/// volume's `_data` for its first running user and unmounts it after the last, so the data is
/// shared while containers run and gone afterwards (as with dockerd).
#[test]
fn local_driver_tmpfs_volume_is_mounted_while_used() {
    let d = Daemon::start();
    ok(d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=64m,uid=1000",
        "tv",
    ]));
    let opts: serde_json::Value = serde_json::from_str(&ok(d.docker(&[
        "volume",
        "inspect",
        "--format",
        "{{json .Options}}",
        "tv",
    ])))
    .unwrap();
    assert_eq!(
        opts,
        serde_json::json!({"device": "tmpfs", "o": "size=64m,uid=1000", "type": "tmpfs"})
    );
    assert!(ok(d.docker(&["volume", "ls", "-q"]))
        .lines()
        .any(|l| l == "tv"));
    assert!(!volume_mounted(&d, "tv"), "mounted before any use");

    for name in ["c1", "c2"] {
        ok(d.berth(&[
            "run", "-d", "--name", name, "-v", "tv:/data", "busybox", "sleep", "60",
        ]));
    }
    assert!(volume_mounted(&d, "tv"));
    let line = ok(d.berth(&["exec", "c1", "grep", " /data ", "/proc/mounts"]));
    assert!(
        line.starts_with("tmpfs /data tmpfs")
            && line.contains("size=65536k")
            && line.contains("uid=1000"),
        "{line}"
    );
    let df = ok(d.berth(&["exec", "c2", "df", "-k", "/data"]));
    assert!(
        df.lines()
            .last()
            .is_some_and(|l| l.starts_with("tmpfs") && l.contains(" 65536 ")),
        "{df}"
    );
    ok(d.berth(&["exec", "c1", "sh", "-c", "echo shared > /data/f"]));
    assert_eq!(ok(d.berth(&["exec", "c2", "cat", "/data/f"])), "shared");

    // One user left: still mounted, the data still there.
    ok(d.berth(&["stop", "-t", "0", "c1"]));
    assert!(volume_mounted(&d, "tv"));
    assert_eq!(ok(d.berth(&["exec", "c2", "cat", "/data/f"])), "shared");
    // The last one stops: unmounted, and the tmpfs's content is gone.
    ok(d.berth(&["stop", "-t", "0", "c2"]));
    support::eventually("the volume unmounted", || !volume_mounted(&d, "tv"));
    let data = d.root().join("volumes/tv/_data");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
    ok(d.berth(&["start", "c1"]));
    assert!(volume_mounted(&d, "tv"));
    assert_eq!(
        ok(d.berth(&[
            "exec",
            "c1",
            "sh",
            "-c",
            "ls -A /data; grep -c ' /data tmpfs' /proc/mounts"
        ])),
        "1"
    );
    // In use: refused; after the containers go, removed and nothing stays mounted.
    let e = err(d.docker(&["volume", "rm", "tv"]));
    assert!(e.contains("volume is in use"), "{e}");
    ok(d.berth(&["rm", "-f", "c1", "c2"]));
    support::eventually("the volume unmounted", || !volume_mounted(&d, "tv"));
    ok(d.docker(&["volume", "rm", "tv"]));
    assert!(volume_mounts(&d).is_empty(), "{:?}", volume_mounts(&d));
}

/// A bind volume (`type=none,o=bind,device=DIR`) through berth's own `volume create -o`:
/// the container writes into DIR, the image's content is copied into an empty DIR, and
/// `volume rm` leaves DIR's files alone.
#[test]
fn local_driver_bind_volume_keeps_the_device_content() {
    let d = Daemon::start();
    let dir = testkit::TempDir::new("bindvol");
    std::fs::write(dir.path().join("pre"), "pre").unwrap();
    let device = format!("device={}", dir.path().display());
    ok(d.berth(&[
        "volume",
        "create",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "--opt",
        &device,
        "bv",
    ]));
    let opts = ok(d.berth(&["volume", "inspect", "-f", "{{json .Options}}", "bv"]));
    let opts: serde_json::Value = serde_json::from_str(&opts).unwrap();
    assert_eq!(opts["type"], "none");
    assert_eq!(opts["o"], "bind");
    assert_eq!(opts["device"], dir.path().to_string_lossy().as_ref());
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "-v",
            "bv:/data",
            "busybox",
            "sh",
            "-c",
            "cat /data/pre; echo; echo from-container > /data/c"
        ])),
        "pre"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("c")).unwrap(),
        "from-container\n"
    );
    assert!(!volume_mounted(&d, "bv"));
    ok(d.docker(&["volume", "rm", "bv"]));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("pre")).unwrap(),
        "pre"
    );
    assert!(dir.path().join("c").exists());

    // `bind,ro` is a read-only remount after the bind; a propagation word a second call.
    let device = format!("device={}", dir.path().display());
    ok(d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind,ro,rprivate",
        "--opt",
        &device,
        "bro",
    ]));
    let out = d.berth(&[
        "run",
        "--rm",
        "-v",
        "bro:/data",
        "busybox",
        "sh",
        "-c",
        "cat /data/pre && touch /data/x",
    ]);
    assert!(!out.status.success());
    assert_eq!(support::stdout(&out), "pre");
    assert!(
        support::stderr(&out).contains("Read-only file system"),
        "{}",
        support::stderr(&out)
    );
    assert!(!dir.path().join("x").exists());
    assert!(volume_mounts(&d).is_empty(), "{:?}", volume_mounts(&d));
    ok(d.docker(&["volume", "rm", "bro"]));

    // Image content is copied into a new, empty bind volume (into its device).
    ok(d.berth(&[
        "run",
        "--name",
        "seed",
        "busybox",
        "sh",
        "-c",
        "mkdir /data && echo from-image > /data/seed",
    ]));
    ok(d.berth(&["commit", "seed", "seeded:1"]));
    let empty = testkit::TempDir::new("bindvol2");
    let device = format!("device={}", empty.path().display());
    ok(d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &device,
        "bv2",
    ]));
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "-v",
            "bv2:/data",
            "seeded:1",
            "cat",
            "/data/seed"
        ])),
        "from-image"
    );
    assert_eq!(
        std::fs::read_to_string(empty.path().join("seed")).unwrap(),
        "from-image\n"
    );
    // `cp` to and from a stopped container mounts the volume for the copy (into DIR).
    ok(d.berth(&[
        "create",
        "--name",
        "cpc",
        "-v",
        "bv2:/data",
        "busybox",
        "true",
    ]));
    let local = d.dir.path().join("fromcp");
    std::fs::write(&local, "copied").unwrap();
    ok(d.docker(&["cp", &local.to_string_lossy(), "cpc:/data/fromcp"]));
    assert_eq!(
        std::fs::read_to_string(empty.path().join("fromcp")).unwrap(),
        "copied"
    );
    let back = d.dir.path().join("back");
    ok(d.berth(&["cp", "cpc:/data/seed", &back.to_string_lossy()]));
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "from-image\n");
    assert!(volume_mounts(&d).is_empty(), "{:?}", volume_mounts(&d));
    ok(d.berth(&["rm", "cpc"]));
    // `rm` of a volume whose device is (still) mounted unmounts it first: its files stay.
    let data = d.root().join("volumes/bv2/_data");
    let status = std::process::Command::new("mount")
        .args([
            "--bind",
            &empty.path().to_string_lossy(),
            &data.to_string_lossy(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    ok(d.berth(&["volume", "rm", "bv2"]));
    assert!(empty.path().join("seed").exists());
    assert!(volume_mounts(&d).is_empty(), "{:?}", volume_mounts(&d));
}

/// Refused driver options (dockerd 20.10's words), and a mount that fails at start: the
/// start fails with dockerd's text and nothing stays mounted.
#[test]
fn local_driver_options_refused_and_failed_mounts_match_dockerd() {
    let d = Daemon::start();
    for (opts, want) in [
        (&["x=1"][..], "create vv: invalid option: \"x\""),
        (
            &["type=tmpfs"][..],
            "create vv: missing required option: \"device\"",
        ),
        (
            &["device=tmpfs"][..],
            "create vv: missing required option: \"type\"",
        ),
        (
            &["o=size=1m"][..],
            "create vv: missing required option: \"device\"",
        ),
        (
            &["o=bind", "device=/tmp"][..],
            "create vv: missing required option: \"type\"",
        ),
        (
            &["size=10m", "type=tmpfs", "device=tmpfs"][..],
            "create vv: quota size requested but no quota support",
        ),
        (&["size=bogus"][..], "create vv: invalid size: 'bogus'"),
    ] {
        let mut args = vec!["volume", "create"];
        for o in opts {
            args.extend(["--opt", o]);
        }
        args.push("vv");
        let e = err(d.docker(&args));
        assert!(
            e.contains(&format!("Error response from daemon: {want}")),
            "{opts:?}: {e}"
        );
        let e = err(d.berth(&args));
        assert!(e.contains(want), "{opts:?}: {e}");
    }
    assert_eq!(ok(d.docker(&["volume", "ls", "-q"])), "");
    // An existing volume is returned as it is (dockerd does not check the options then).
    ok(d.docker(&["volume", "create", "vv"]));
    assert_eq!(
        ok(d.docker(&["volume", "create", "--opt", "x=1", "vv"])),
        "vv"
    );
    assert_eq!(
        ok(d.docker(&["volume", "inspect", "-f", "{{len .Options}}", "vv"])),
        "0"
    );
    ok(d.docker(&["volume", "rm", "vv"]));
    // Empty type and device: accepted and never mounted (dockerd's `needsMount`).
    ok(d.docker(&[
        "volume", "create", "--opt", "type=", "--opt", "device=", "plain",
    ]));
    ok(d.berth(&["run", "--rm", "-v", "plain:/p", "busybox", "touch", "/p/x"]));
    assert!(d.root().join("volumes/plain/_data/x").exists());

    ok(d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=bogusfs",
        "--opt",
        "device=nodev",
        "--opt",
        "o=size=1m,ro,nosuid",
        "bad",
    ]));
    let e = err(d.docker(&["run", "--name", "fb", "-v", "bad:/data", "busybox", "true"]));
    let data = d.root().join("volumes/bad/_data");
    let want = format!(
        "Error response from daemon: error while mounting volume '{p}': failed to mount local volume: mount nodev:{p}, flags: 0x3, data: size=1m: no such device",
        p = data.display()
    );
    assert!(e.contains(&want), "{e}");
    assert_eq!(
        ok(d.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}",
            "fb"
        ])),
        format!(
            "created 128 {}",
            want.trim_start_matches("Error response from daemon: ")
        )
    );
    assert!(volume_mounts(&d).is_empty(), "{:?}", volume_mounts(&d));
    // A failed mount next to a good one: the good one is released again.
    ok(d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "good",
    ]));
    let e = err(d.berth(&[
        "run", "--rm", "-v", "good:/a", "-v", "bad:/b", "busybox", "true",
    ]));
    assert!(e.contains("failed to mount local volume"), "{e}");
    assert!(volume_mounts(&d).is_empty(), "{:?}", volume_mounts(&d));
    // A bind of a missing directory: ENOENT, flags of `bind` only.
    let device = format!("device={}", d.dir.path().join("nonexist").display());
    ok(d.docker(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &device,
        "nob",
    ]));
    let e = err(d.docker(&["run", "--rm", "-v", "nob:/d", "busybox", "true"]));
    assert!(
        e.contains(&format!(
            "failed to mount local volume: mount {}:{}, flags: 0x1000: no such file or directory",
            d.dir.path().join("nonexist").display(),
            d.root().join("volumes/nob/_data").display()
        )),
        "{e}"
    );
    assert!(volume_mounts(&d).is_empty(), "{:?}", volume_mounts(&d));
}

/// A daemon restart keeps a volume's options and its mount while a container runs with it;
/// a container that died while the daemon was away releases it, and a mount nobody holds
/// (left by a killed daemon) is unmounted when the daemon starts.
#[test]
fn local_driver_volumes_across_daemon_restarts() {
    let mut d = Daemon::start();
    ok(d.berth(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "device=tmpfs",
        "-o",
        "o=size=8m",
        "rv",
    ]));
    ok(d.berth(&[
        "run", "-d", "--name", "r1", "-v", "rv:/data", "busybox", "sleep", "300",
    ]));
    ok(d.berth(&["exec", "r1", "sh", "-c", "echo kept > /data/f"]));
    d.kill9();
    d.spawn();
    ok(d.berth(&["ps"]));
    assert_eq!(
        ok(d.berth(&["volume", "inspect", "-f", "{{.Options.o}}", "rv"])),
        "size=8m"
    );
    assert!(volume_mounted(&d, "rv"));
    assert_eq!(ok(d.berth(&["exec", "r1", "cat", "/data/f"])), "kept");
    // Still counted: a second user and its stop leave it mounted for r1.
    ok(d.berth(&["run", "--rm", "-v", "rv:/data", "busybox", "cat", "/data/f"]));
    assert!(volume_mounted(&d, "rv"));

    // The container dies while the daemon is away: the next daemon releases its mount.
    let pid = ok(d.berth(&["inspect", "-f", "{{.State.Pid}}", "r1"]));
    d.kill9();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    d.spawn();
    support::eventually("r1 exited", || {
        ok(d.berth(&["inspect", "-f", "{{.State.Status}}", "r1"])) == "exited"
    });
    support::eventually("the volume unmounted", || !volume_mounted(&d, "rv"));

    // A stale mount nobody holds (a daemon killed between mount and start).
    d.kill9();
    let data = d.root().join("volumes/rv/_data");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs", &data.to_string_lossy()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(volume_mounted(&d, "rv"));
    d.spawn();
    // (The socket answers while the daemon still loads its state.)
    support::eventually("the stale mount gone", || !volume_mounted(&d, "rv"));
    assert!(
        d.log().contains("unmounted stale volume mount"),
        "{}",
        d.log()
    );
    // And it mounts again for the next user.
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "-v",
            "rv:/data",
            "busybox",
            "sh",
            "-c",
            "grep -c ' /data tmpfs' /proc/mounts"
        ])),
        "1"
    );
    ok(d.berth(&["rm", "-f", "r1"]));
    ok(d.berth(&["volume", "rm", "rv"]));
    assert!(volume_mounts(&d).is_empty(), "{:?}", volume_mounts(&d));
}

/// `--mount type=volume,volume-opt=...` (what compose's `driver_opts` and the CLI send as
/// `VolumeOptions.DriverConfig`): a volume made for the mount gets the options; an existing
/// one keeps its own; bad options are refused with dockerd's words.
#[test]
fn mount_flag_volume_options_create_the_volume_with_them() {
    let d = Daemon::start();
    let spec = "type=volume,src=mv,dst=/m,\"volume-opt=o=size=2m,uid=5\",volume-opt=type=tmpfs,volume-opt=device=tmpfs";
    for cli in ["docker", "berth"] {
        let args = [
            "run",
            "--rm",
            "--mount",
            spec,
            "busybox",
            "grep",
            " /m ",
            "/proc/mounts",
        ];
        let out = if cli == "docker" {
            ok(d.docker(&args))
        } else {
            ok(d.berth(&args))
        };
        assert_eq!(
            out, "tmpfs /m tmpfs rw,relatime,size=2048k,uid=5 0 0",
            "{cli}"
        );
    }
    assert_eq!(
        ok(d.docker(&["volume", "inspect", "-f", "{{.Options}}", "mv"])),
        "map[device:tmpfs o:size=2m,uid=5 type:tmpfs]"
    );
    // Existing: its options stand, the mount's are ignored (dockerd's rule).
    assert!(ok(d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=mv,dst=/m,volume-opt=x=1",
        "busybox",
        "grep",
        " /m ",
        "/proc/mounts"
    ]))
    .starts_with("tmpfs /m tmpfs"));
    let e = err(d.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=mv2,dst=/m,volume-opt=x=1",
        "busybox",
        "true",
    ]));
    assert!(
        e.contains("Error response from daemon: create mv2: invalid option: \"x\""),
        "{e}"
    );
    let e = err(d.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,dst=/m,volume-opt=type=tmpfs",
        "busybox",
        "true",
    ]));
    assert!(e.contains(": missing required option: \"device\""), "{e}");
    assert_eq!(ok(d.docker(&["volume", "ls", "-q"])), "mv");
    assert!(volume_mounts(&d).is_empty(), "{:?}", volume_mounts(&d));
}
