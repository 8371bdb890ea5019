//! `cp` both ways with the real docker CLI and berth's CLI against a private daemon: running,
//! created and stopped containers, volumes, symlinks, ownership, read-only roots, errors.

mod support;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Output, Stdio};

use support::{stderr, stdout, Daemon};

type Cli<'a> = &'a dyn Fn(&[&str]) -> Output;
type CliStdin<'a> = &'a dyn Fn(&[&str], &[u8]) -> Output;

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

fn docker_stdin(d: &Daemon, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run docker");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The last line of stderr: the docker CLI may first log that its upload pipe closed when
/// the daemon refuses a PUT before reading the body (as dockerd does too).
fn last_err(out: &Output) -> String {
    stderr(out).lines().last().unwrap_or_default().to_string()
}

fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Everything both CLIs must do alike; `c` runs with a volume at /data, `tag` keeps the
/// two runs' files apart.
fn cp_checks(d: &Daemon, cli: Cli, cli_stdin: CliStdin, c: &str, tag: &str) {
    let host = d.dir.path().join(format!("host-{tag}"));
    std::fs::create_dir_all(host.join("cpdir/sub")).unwrap();
    std::fs::write(host.join("hello.txt"), "from host\n").unwrap();
    std::fs::write(host.join("cpdir/a.txt"), "a\n").unwrap();
    std::fs::write(host.join("cpdir/sub/b.txt"), "b\n").unwrap();
    let h = |p: &str| host.join(p).to_str().unwrap().to_string();

    // Host -> container: into a directory, to a new name, a whole directory.
    ok(&cli(&["cp", &h("hello.txt"), &format!("{c}:/etc/")]));
    ok(&cli(&["cp", &h("hello.txt"), &format!("{c}:/newname.txt")]));
    ok(&cli(&["cp", &h("cpdir"), &format!("{c}:/")]));
    let out = ok(&cli(&[
        "exec",
        c,
        "sh",
        "-c",
        "cat /etc/hello.txt /newname.txt /cpdir/a.txt /cpdir/sub/b.txt",
    ]));
    assert_eq!(out, "from host\nfrom host\na\nb\n");

    // Into the volume mounted inside the container: lands in the volume's data.
    ok(&cli(&[
        "cp",
        &h("hello.txt"),
        &format!("{c}:/data/in-volume-{tag}"),
    ]));
    let vol = d
        .root()
        .join(format!("volumes/cpvol-{tag}/_data/in-volume-{tag}"));
    assert_eq!(std::fs::read_to_string(&vol).unwrap(), "from host\n");

    // Container -> host: a file, a directory, to a new name.
    ok(&cli(&[
        "exec",
        c,
        "sh",
        "-c",
        "mkdir -p /out/d && echo inner > /out/d/f && echo top > /out/t",
    ]));
    ok(&cli(&["cp", &format!("{c}:/out/t"), &h("t.txt")]));
    assert_eq!(
        std::fs::read_to_string(host.join("t.txt")).unwrap(),
        "top\n"
    );
    ok(&cli(&["cp", &format!("{c}:/out"), &h("outcopy")]));
    assert_eq!(
        std::fs::read_to_string(host.join("outcopy/d/f")).unwrap(),
        "inner\n"
    );
    ok(&cli(&["cp", &format!("{c}:/out/d"), &h("")]));
    assert_eq!(
        std::fs::read_to_string(host.join("d/f")).unwrap(),
        "inner\n"
    );

    // A directory's contents (`/.`): into a new directory, and into an existing one.
    ok(&cli(&["cp", &format!("{c}:/out/."), &h("contents")]));
    assert_eq!(
        std::fs::read_to_string(host.join("contents/t")).unwrap(),
        "top\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("contents/d/f")).unwrap(),
        "inner\n"
    );
    std::fs::create_dir_all(host.join("existing")).unwrap();
    ok(&cli(&["cp", &format!("{c}:/out/d/."), &h("existing")]));
    assert_eq!(
        std::fs::read_to_string(host.join("existing/f")).unwrap(),
        "inner\n"
    );
    ok(&cli(&[
        "cp",
        &format!("{}/.", h("cpdir")),
        &format!("{c}:/tmp/"),
    ]));
    assert_eq!(
        ok(&cli(&["exec", c, "cat", "/tmp/a.txt", "/tmp/sub/b.txt"])),
        "a\nb\n"
    );

    // A tar to stdout, and a tar from stdin.
    let out = cli(&["cp", &format!("{c}:/out"), "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut names: Vec<String> = tar::Archive::new(&out.stdout[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["out", "out/d", "out/d/f", "out/t"]);
    let input = tar_of(&[("piped/x.txt", b"piped\n")]);
    ok(&cli_stdin(&["cp", "-", &format!("{c}:/tmp")], &input));
    assert_eq!(ok(&cli(&["exec", c, "cat", "/tmp/piped/x.txt"])), "piped\n");

    // Symlinks: copied as links, or followed with -L.
    ok(&cli(&["exec", c, "ln", "-sf", "/out/t", "/link"]));
    ok(&cli(&["cp", &format!("{c}:/link"), &h("link")]));
    let md = std::fs::symlink_metadata(host.join("link")).unwrap();
    assert!(md.file_type().is_symlink());
    assert_eq!(
        std::fs::read_link(host.join("link")).unwrap().to_str(),
        Some("/out/t")
    );
    ok(&cli(&["cp", "-L", &format!("{c}:/link"), &h("followed")]));
    assert_eq!(
        std::fs::read_to_string(host.join("followed")).unwrap(),
        "top\n"
    );

    // A symlink inside the container cannot lead a copy onto the host.
    let escape = format!("/tmp/berth-cp-escape-{tag}-{}", std::process::id());
    ok(&cli(&["exec", c, "ln", "-sf", "/../../../../tmp", "/evil"]));
    ok(&cli(&[
        "cp",
        &h("hello.txt"),
        &format!("{c}:/evil/{}", escape.trim_start_matches("/tmp/")),
    ]));
    assert!(
        !std::path::Path::new(&escape).exists(),
        "the copy escaped to the host"
    );
    let inside = ok(&cli(&["exec", c, "cat", &escape]));
    assert_eq!(inside, "from host\n");

    // Errors in docker's words.
    let out = cli(&["cp", &format!("{c}:/nonexistent"), &h("x")]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "Error response from daemon: Could not find the file /nonexistent in container {c}"
        )
    );
    let out = cli(&["cp", &h("hello.txt"), "nosuchctr:/x.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("No such container: nosuchctr"),
        "{}",
        stderr(&out)
    );
    let out = cli_stdin(&["cp", "-", &format!("{c}:/etc/hostname")], &input);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "destination \"{c}:/etc/hostname\" must be a directory"
        )),
        "{}",
        stderr(&out)
    );
    let out = cli(&["cp", &h("cpdir"), &format!("{c}:/etc/hostname")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot copy directory"),
        "{}",
        stderr(&out)
    );
    let out = cli(&["cp", &h("hello.txt"), &format!("{c}:/nodir/")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no such directory"),
        "{}",
        stderr(&out)
    );
}

fn setup(d: &Daemon, c: &str, tag: &str) {
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        c,
        "--network",
        "none",
        "-v",
        &format!("cpvol-{tag}:/data"),
        "busybox",
        "sleep",
        "300",
    ]));
}

#[test]
fn cp_with_the_docker_cli() {
    let d = Daemon::start();
    setup(&d, "web", "docker");
    cp_checks(
        &d,
        &|a| d.docker(a),
        &|a, i| docker_stdin(&d, a, i),
        "web",
        "docker",
    );
}

#[test]
fn cp_with_the_berth_cli() {
    let d = Daemon::start();
    setup(&d, "bweb", "berth");
    cp_checks(
        &d,
        &|a| d.berth(a),
        &|a, i| d.berth_stdin(a, i),
        "bweb",
        "berth",
    );
}

#[test]
fn cp_into_created_and_stopped_containers_and_ownership() {
    let d = Daemon::start();
    let host = d.dir.path().join("own");
    std::fs::create_dir_all(&host).unwrap();
    let f = host.join("owned.txt");
    std::fs::write(&f, "owned\n").unwrap();
    std::os::unix::fs::chown(&f, Some(1234), Some(2345)).unwrap();
    let fs = f.to_str().unwrap();

    // Created, never started: the snapshot and the volume are written.
    ok(&d.berth(&[
        "create",
        "--name",
        "fresh",
        "--network",
        "none",
        "-u",
        "nobody",
        "-v",
        "freshvol:/data",
        "busybox",
        "sh",
        "-c",
        "stat -c '%u:%g' /etc/owned.txt /data/owned.txt /tmp/owned.txt; cat /data/owned.txt",
    ]));
    ok(&d.docker(&["cp", fs, "fresh:/etc/"]));
    ok(&d.docker(&["cp", fs, "fresh:/data/"]));
    // -a: the container's user (nobody) owns what it receives.
    ok(&d.docker(&["cp", "-a", fs, "fresh:/tmp/"]));
    let out = d.docker(&["start", "-a", "fresh"]);
    assert_eq!(
        stdout(&out),
        "1234:2345\n1234:2345\n65534:65534\nowned\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(d.root().join("volumes/freshvol/_data/owned.txt")).unwrap(),
        "owned\n"
    );
    let md = std::fs::metadata(d.root().join("volumes/freshvol/_data/owned.txt")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1234, 2345));

    // Exited: copy out what the run left, with the stat header on HEAD.
    ok(&d.berth(&[
        "run",
        "--name",
        "done",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "echo left > /left.txt",
    ]));
    let out_path = host.join("left.txt");
    ok(&d.docker(&["cp", "done:/left.txt", out_path.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "left\n");
    ok(&d.berth(&["cp", fs, "done:/"]));
    let out = d.berth(&["cp", "done:/owned.txt", "-"]);
    let mut a = tar::Archive::new(&out.stdout[..]);
    let e = a.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(e.path().unwrap().to_str(), Some("owned.txt"));
    assert_eq!(
        (e.header().uid().unwrap(), e.header().gid().unwrap()),
        (1234, 2345)
    );
    let curl = Command::new("curl")
        .args(["-sS", "-I", "--unix-socket", d.socket.to_str().unwrap()])
        .arg("http://x/v1.43/containers/done/archive?path=/etc")
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&curl.stdout).to_string();
    let b64 = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("X-Docker-Container-Path-Stat: ")
                .or_else(|| l.strip_prefix("x-docker-container-path-stat: "))
        })
        .expect("stat header")
        .trim()
        .to_string();
    let mut dec = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    dec.stdin.take().unwrap().write_all(b64.as_bytes()).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&dec.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(json["name"], "etc");
    assert_eq!(json["mode"].as_u64().unwrap() & (1 << 31), 1 << 31);
    assert_eq!(json["linkTarget"], "");

    // PUT needs a directory (after following a symlink), in dockerd's words.
    let tar_path = host.join("one.tar");
    std::fs::write(&tar_path, tar_of(&[("x", b"x")])).unwrap();
    let put = Command::new("curl")
        .args(["-sS", "-X", "PUT", "-T", tar_path.to_str().unwrap()])
        .args(["--unix-socket", d.socket.to_str().unwrap()])
        .arg("http://x/v1.43/containers/done/archive?path=/etc/hostname")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&put.stdout),
        "{\"message\":\"extraction point is not a directory\"}\n"
    );

    // Nothing of the private mounts stays behind.
    assert!(
        d.mounts().iter().all(|m| !m.contains("cp-root")),
        "{:?}",
        d.mounts()
    );
}

#[test]
fn cp_read_only_root() {
    let d = Daemon::start();
    ok(&d.berth(&[
        "run",
        "-d",
        "--name",
        "ro",
        "--network",
        "none",
        "--read-only",
        "-v",
        "rovol:/data",
        "-v",
        "rovol2:/ro:ro",
        "busybox",
        "sleep",
        "300",
    ]));
    let f = d.dir.path().join("f.txt");
    std::fs::write(&f, "x\n").unwrap();
    let fs = f.to_str().unwrap();
    let docker = |a: &[&str]| d.docker(a);
    let berth = |a: &[&str]| d.berth(a);
    let clis: [Cli; 2] = [&docker, &berth];
    for cli in clis {
        let out = cli(&["cp", fs, "ro:/etc/"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            last_err(&out),
            "Error response from daemon: container rootfs is marked read-only"
        );
        let out = cli(&["cp", fs, "ro:/ro/"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            last_err(&out),
            "Error response from daemon: mounted volume is marked read-only"
        );
        ok(&cli(&["cp", fs, "ro:/data/"]));
    }
    assert_eq!(ok(&d.berth(&["exec", "ro", "cat", "/data/f.txt"])), "x\n");
}
