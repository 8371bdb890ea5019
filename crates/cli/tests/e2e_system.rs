//! `system prune` (berth's CLI and docker's), the network events of a container's start and
//! stop, and `info` reporting real numbers.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{stdout, Daemon};

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

/// What a system prune should take and what it should leave, made on daemon `d`.
struct Litter {
    stopped: String,
    running: String,
    unused_net: String,
    used_net: String,
    volume: String,
    dangling: String,
}

fn litter(d: &Daemon, tag: &str) -> Litter {
    let unused_net = format!("{tag}-unused");
    let used_net = format!("{tag}-used");
    ok(d.berth(&["network", "create", &unused_net]));
    ok(d.berth(&["network", "create", &used_net]));
    let running = ok(d.berth(&[
        "run",
        "-d",
        "--network",
        &used_net,
        "busybox",
        "sleep",
        "600",
    ]));
    // A stopped container with an anonymous volume, and an image committed twice under one
    // tag: the first commit is left dangling.
    let stopped = ok(d.berth(&[
        "run",
        "-v",
        "/data",
        "busybox",
        "sh",
        "-c",
        "echo x > /data/x; echo y > /y",
    ]));
    let stopped = ok(d.berth(&["ps", "-aq", "--no-trunc", "--filter", "status=exited"]))
        .lines()
        .next()
        .unwrap_or(&stopped)
        .to_string();
    let volume = ok(d.berth(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Name}}{{end}}",
        &stopped,
    ]));
    let dangling = ok(d.berth(&["commit", &stopped, &format!("{tag}:1")]));
    std::thread::sleep(Duration::from_millis(1100));
    ok(d.berth(&["commit", &stopped, &format!("{tag}:1")]));
    Litter {
        stopped,
        running,
        unused_net,
        used_net,
        volume,
        dangling,
    }
}

/// Checks what the prune printed and what is left.
fn check_pruned(d: &Daemon, l: &Litter, out: &str, volumes: bool) {
    let mut want = format!(
        "Deleted Containers:\n{}\n\nDeleted Networks:\n{}\n\n",
        l.stopped, l.unused_net
    );
    if volumes {
        want.push_str(&format!("Deleted Volumes:\n{}\n\n", l.volume));
    }
    want.push_str(&format!("Deleted Images:\ndeleted: {}\n", l.dangling));
    assert!(out.starts_with(&want), "want prefix:\n{want}\ngot:\n{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with("Total reclaimed space: "), "{out}");
    assert_ne!(last, "Total reclaimed space: 0B", "{out}");

    let all = ok(d.berth(&["ps", "-aq", "--no-trunc"]));
    assert_eq!(all, l.running, "only the running container is left");
    let nets = ok(d.berth(&["network", "ls", "--format", "{{.Name}}"]));
    assert!(nets.lines().any(|n| n == l.used_net), "{nets}");
    assert!(!nets.lines().any(|n| n == l.unused_net), "{nets}");
    let vols = ok(d.berth(&["volume", "ls", "-q"]));
    assert_eq!(vols.lines().any(|v| v == l.volume), !volumes, "{vols}");
    let images = ok(d.berth(&["images", "-q", "--no-trunc"]));
    assert!(!images.contains(&l.dangling), "{images}");
    assert!(ok(d.berth(&["images", "busybox", "-q"])).len() >= 12);
}

#[test]
fn system_prune_with_berth_cli() {
    let d = Daemon::start();
    let l = litter(&d, "bprune");

    // Without -f: docker's warning, and "n" keeps everything.
    let out = d.berth_stdin(&["system", "prune", "--volumes"], b"n\n");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all anonymous volumes not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(ok(d.berth(&["ps", "-aq", "--no-trunc"])).lines().count(), 2);

    // A label filter that matches nothing removes nothing.
    let out = ok(d.berth(&["system", "prune", "-f", "--filter", "label=nothing=here"]));
    assert_eq!(out, "Total reclaimed space: 0B");

    let out = d.berth_stdin(&["system", "prune", "--volumes"], b"y\n");
    check_pruned(&d, &l, &stdout(&out), true);

    // `until` cannot go with --volumes (docker's check and words).
    let out = d.berth(&["system", "prune", "-f", "--volumes", "--filter", "until=1h"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        r#"ERROR: The "until" filter is not supported with "--volumes""#
    );

    // -a: every image without a container goes, busybox stays (the running one uses it).
    let extra = ok(d.berth(&["commit", &l.running, "extra:1"]));
    let out = ok(d.berth(&["system", "prune", "-a", "-f"]));
    assert!(out.contains("untagged: extra:1\n"), "{out}");
    assert!(out.contains(&format!("deleted: {extra}\n")), "{out}");
    assert!(out.contains("untagged: bprune:1"), "{out}");
    assert!(ok(d.berth(&["images", "busybox", "-q"])).len() >= 12);
    ok(d.berth(&["rm", "-f", &l.running]));
}

#[test]
fn system_prune_with_docker_cli() {
    let d = Daemon::start();
    let l = litter(&d, "dprune");
    // A build leaves a step cache behind.
    let ctx = d.dir.path().join("prune-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN echo hi > /hi\n").unwrap();
    let build = |d: &Daemon| ok(d.berth(&["build", "-t", "bcache:1", ctx.to_str().unwrap()]));
    build(&d);
    assert!(
        build(&d).contains("Using cache"),
        "the second build is cached"
    );
    // docker's CLI calls the four prune endpoints and then POST /build/prune (API >= 1.31).
    let out = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .args(["system", "prune", "-f", "--volumes"])
        .stdin(Stdio::null())
        .output()
        .expect("run the docker CLI");
    let text = ok(out);
    check_pruned(&d, &l, &text, true);
    assert!(text.contains("Deleted build cache objects:\n"), "{text}");
    assert!(!build(&d).contains("Using cache"), "the step cache is gone");
    ok(d.berth(&["rm", "-f", &l.running]));
}

#[test]
fn start_and_stop_emit_network_connect_and_disconnect() {
    let d = Daemon::start();
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let id = ok(d.berth(&["run", "-d", "busybox", "sleep", "600"]));
    ok(d.berth(&["stop", "-t", "1", &id]));
    let net = ok(d.berth(&["network", "inspect", "-f", "{{.Id}}", "bridge"]));
    let until = (SystemTime::now() + Duration::from_secs(1))
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let events = ok(d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=network",
        "--filter",
        "type=container",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.container}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}",
    ]));
    let lines: Vec<&str> = events.lines().collect();
    let connect = format!("network connect {net} {id} bridge bridge");
    let disconnect = format!("network disconnect {net} {id} bridge bridge");
    let pos = |want: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(want))
            .unwrap_or_else(|| panic!("no {want:?} in:\n{events}"))
    };
    // Docker's order: connect before start; die, then disconnect.
    assert!(pos(&connect) < pos("container start"), "{events}");
    assert!(pos("container die") < pos(&disconnect), "{events}");
    assert_eq!(lines.iter().filter(|l| l.starts_with(&connect)).count(), 1);
}

#[test]
fn info_reports_real_numbers() {
    let d = Daemon::start();
    ok(d.berth(&["run", "-d", "--name", "up", "busybox", "sleep", "600"]));
    ok(d.berth(&["run", "--name", "down", "busybox", "true"]));
    ok(d.berth(&["create", "--name", "fresh", "busybox", "true"]));
    ok(d.berth(&["pause", "up"]));
    let fields = "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}} {{.Driver}} {{.NCPU}} {{.MemTotal}} {{.DockerRootDir}} {{.LoggingDriver}} {{.CgroupDriver}} {{.CgroupVersion}} {{.KernelVersion}} {{.IPv4Forwarding}}";
    let got = ok(d.docker(&["info", "--format", fields]));
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let cgroup = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let want = format!(
        // 3 containers: 1 paused (not counted as running, as Docker does), 2 stopped.
        "3 0 1 2 1 overlay2 {} {} {} json-file cgroupfs {} {} {}",
        std::thread::available_parallelism().unwrap(),
        mem_kib * 1024,
        d.root().display(),
        cgroup,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap()
            .trim(),
        forwarding.trim() == "1",
    );
    assert_eq!(got, want);
    ok(d.berth(&["unpause", "up"]));
    let got = ok(d.docker(&[
        "info",
        "--format",
        "{{.ContainersRunning}} {{.ContainersPaused}} {{json .DriverStatus}} {{json .Plugins.Network}}",
    ]));
    assert!(got.starts_with("1 0 [[\"Backing Filesystem\",\""), "{got}");
    assert!(got.ends_with("[\"bridge\",\"host\",\"null\"]"), "{got}");
    ok(d.berth(&["rm", "-f", "up", "down", "fresh"]));
}

#[test]
fn engine_id_is_made_once_and_survives_a_restart() {
    let mut d = Daemon::start();
    let id = ok(d.docker(&["info", "--format", "{{.ID}}"]));
    assert_eq!(id.len(), 36, "{id:?}");
    assert!(
        id.bytes()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }),
        "{id:?}"
    );
    let file = std::fs::read_to_string(d.root().join("engine-id")).unwrap();
    assert_eq!(file.trim(), id);
    assert_eq!(ok(d.berth(&["info", "--format", "{{.ID}}"])), id);
    d.kill9();
    d.spawn();
    assert_eq!(ok(d.docker(&["info", "--format", "{{.ID}}"])), id);
    assert_eq!(ok(d.berth(&["info", "--format", "{{.ID}}"])), id);
}

/// The pid of the shim of container `id`.
fn shim_pid(id: &str) -> u32 {
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        if args.get(1) == Some(&&b"shim"[..]) && args.contains(&id.as_bytes()) {
            return pid;
        }
    }
    panic!("no shim for {id}");
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn idle_shim_gives_memory_back_and_keeps_working() {
    let d = Daemon::start();
    let id = ok(d.berth(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 600",
    ]));
    let pid = shim_pid(&id);
    // After a quiet second the shim unmaps the binary's pages it touched during setup (about
    // 10 MiB of a debug build; what the idle loop touches again stays under 2 MiB).
    support::eventually("the idle shim to drop its file pages", || {
        status_kib(pid, "RssFile:") < 2048
    });
    // Everything still works through the trimmed shim: exec, logs, stats, stop.
    assert_eq!(
        ok(d.berth(&["exec", &id, "sh", "-c", "echo from-exec"])),
        "from-exec"
    );
    assert_eq!(ok(d.berth(&["logs", &id])), "started");
    support::eventually("the shim to idle again", || {
        status_kib(pid, "RssFile:") < 2048
    });
    ok(d.berth(&["stats", "--no-stream", &id]));
    ok(d.berth(&["stop", "-t", "1", &id]));
    assert_eq!(
        ok(d.berth(&["inspect", "-f", "{{.State.Status}}", &id])),
        "exited"
    );
    ok(d.berth(&["rm", &id]));
}
