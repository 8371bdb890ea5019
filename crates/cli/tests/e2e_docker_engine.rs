//! Image archives both ways between berth and a real Docker Engine (Debian's docker.io,
//! dockerd 20.10, started here with its own data root, no bridge and no netfilter rules), and
//! berth's archive read as an OCI layout by skopeo.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::dockerd::DockerEngine;
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

fn untar(archive: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(st.success());
    into.to_path_buf()
}

#[test]
fn archives_round_trip_between_berth_and_docker_engine() {
    let engine = DockerEngine::start();
    let d = Daemon::start();
    let w = d.dir.path();

    // Docker Engine -> berth.
    let tar = w.join("bb.tar");
    testkit::busybox_tarball(&tar, false).unwrap();
    ok(engine.docker(&["import", tar.to_str().unwrap(), "fromdocker:1"]));
    let saved = w.join("fromdocker.tar");
    ok(engine.docker(&["save", "-o", saved.to_str().unwrap(), "fromdocker:1"]));
    let loaded = ok(d.berth(&["load", "-i", saved.to_str().unwrap()]));
    assert!(loaded.contains("Loaded image: fromdocker:1"), "{loaded}");
    let run = ok(d.berth(&["run", "--rm", "fromdocker:1", "echo", "from-docker"]));
    assert_eq!(run.trim(), "from-docker");

    // berth -> Docker Engine (two images sharing their layer, in one archive).
    ok(d.berth(&["tag", "busybox", "fromberth:2"]));
    let ours = w.join("fromberth.tar");
    ok(d.berth(&[
        "save",
        "-o",
        ours.to_str().unwrap(),
        "fromberth:2",
        "busybox",
    ]));
    let loaded = ok(engine.docker(&["load", "-i", ours.to_str().unwrap()]));
    assert!(loaded.contains("fromberth:2"), "{loaded}");
    let run = ok(engine.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "fromberth:2",
        "echo",
        "from-berth",
    ]));
    assert_eq!(run.trim(), "from-berth");

    // The same archive is an OCI layout skopeo reads and copies.
    let layout = untar(&ours, &w.join("layout"));
    let inspect = ok(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:2", layout.display()))
        .output()
        .unwrap());
    assert!(inspect.contains("\"layers\""), "{inspect}");
    let copy = w.join("copy");
    ok(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:2", layout.display()))
        .arg(format!("oci:{}:copied", copy.display()))
        .output()
        .unwrap());
    assert!(copy.join("index.json").exists());
}

/// `berth ps` and `inspect` skip the ping and send `/v1.43/...` at once; dockerd 20.10 (API
/// 1.41) refuses that path as too new, and the CLI then negotiates 1.41 and asks again.
#[test]
fn berth_cli_negotiates_down_to_an_older_docker_engine() {
    let engine = DockerEngine::start();
    let tar = engine.dir.path().join("bb.tar");
    testkit::busybox_tarball(&tar, false).unwrap();
    ok(engine.docker(&["import", tar.to_str().unwrap(), "bb:1"]));
    ok(engine.docker(&["create", "--name", "neg", "bb:1", "true"]));
    let berth = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("-H")
            .arg(format!(
                "unix://{}",
                engine.dir.path().join("d.sock").display()
            ))
            .args(args)
            .env_remove("DOCKER_API_VERSION")
            .env_remove("BERTH_API_VERSION")
            .output()
            .unwrap()
    };
    assert_eq!(
        ok(berth(&["ps", "-a", "--format", "{{.Names}}"])).trim(),
        "neg"
    );
    assert_eq!(
        ok(berth(&["inspect", "--format", "{{.Name}}", "neg"])).trim(),
        "/neg"
    );
    let missing = berth(&["inspect", "nope"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("No such object: nope"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
