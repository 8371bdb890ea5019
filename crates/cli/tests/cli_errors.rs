//! Drives the built `berth` binary for behaviour that needs no daemon: the "cannot connect"
//! message and docker's flag errors, which must happen before any connection attempt.

use std::process::Command;

fn berth(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .output()
        .expect("the berth binary runs")
}

#[test]
fn ps_without_daemon_says_how_to_start_it() {
    let out = berth(&["-H", "unix:///nonexistent.sock", "ps"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Cannot connect to the berth daemon at unix:///nonexistent.sock. Is the daemon running? Start it with 'berth daemon'.\n"
    );
}

#[test]
fn run_without_daemon_exits_125() {
    let out = berth(&[
        "-H",
        "unix:///nonexistent.sock",
        "run",
        "--rm",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "berth: Cannot connect to the berth daemon at unix:///nonexistent.sock. Is the daemon running? Start it with 'berth daemon'.\nSee 'berth run --help'.\n"
    );
}

#[test]
fn bad_memory_value_fails_before_contacting_the_daemon() {
    // The socket does not exist: reaching it would print the connect error instead.
    let out = berth(&[
        "-H",
        "unix:///nonexistent.sock",
        "run",
        "-m",
        "12zb",
        "busybox",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "invalid argument \"12zb\" for \"-m, --memory\" flag: invalid suffix: 'zb'\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("Run 'berth run --help' for more information"),
        "{stderr}"
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = berth(&["-H", "unix:///nonexistent.sock", "ps", "--bogus"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("unknown flag: --bogus\n"));
}

#[test]
fn default_host_is_the_berth_socket() {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["ps"])
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .output()
        .expect("the berth binary runs");
    if std::path::Path::new("/run/berth/berth.sock").exists() {
        return; // a real daemon is running here; nothing to assert about the message
    }
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("Cannot connect to the berth daemon at unix:///run/berth/berth.sock."));
}
