//! json-file log rotation (`--log-opt max-size/max-file`, also as daemon defaults) and `logs`
//! across the rotated files, with the real docker CLI and berth's CLI.

mod support;

use std::process::{Command, Output, Stdio};

use support::{stderr, stdout, Daemon};

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

/// The numbers of `line-N` lines, asserting every line has that shape.
fn numbers(text: &str) -> Vec<u32> {
    text.lines()
        .map(|l| {
            l.rsplit("line-")
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected log line {l:?}"))
        })
        .collect()
}

fn contiguous(n: &[u32]) -> bool {
    n.windows(2).all(|w| w[1] == w[0] + 1)
}

/// The log files of a container: (name, size).
fn log_files(d: &Daemon, id: &str) -> Vec<(String, u64)> {
    let dir = d.root().join("containers").join(id);
    let mut v: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("-json.log"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    v.sort();
    v
}

const WRITER: &str = "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done";

#[test]
fn rotation_keeps_sizes_bounded_and_logs_read_across_files() {
    let d = Daemon::start();
    let id = ok(&d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--log-opt",
        "max-size=10k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        WRITER,
    ]))
    .trim()
    .to_string();
    ok(&d.docker(&["wait", &id]));

    // Three files, none past max-size by more than one entry.
    let files = log_files(&d, &id);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            format!("{id}-json.log"),
            format!("{id}-json.log.1"),
            format!("{id}-json.log.2")
        ]
    );
    for (n, size) in &files {
        assert!(*size <= 10_000 + 100, "{n} is {size} bytes");
    }
    assert!(files.iter().map(|f| f.1).sum::<u64>() > 20_000, "{files:?}");

    let inspect = ok(&d.docker(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", &id]));
    assert_eq!(
        inspect.trim(),
        r#"{"Type":"json-file","Config":{"max-file":"3","max-size":"10k"}}"#
    );

    for cli in ["docker", "berth"] {
        let run = |args: &[&str]| {
            if cli == "docker" {
                d.docker(args)
            } else {
                d.berth(args)
            }
        };
        // Everything the three files hold, in order, ending with the last line.
        let all = numbers(&ok(&run(&["logs", &id])));
        assert!(contiguous(&all), "{cli}: gap in {all:?}");
        assert_eq!(*all.last().unwrap(), 2999, "{cli}");
        assert!(all.len() > 250, "{cli}: only {} lines", all.len());
        assert_eq!(
            numbers(&ok(&run(&["logs", "--tail", "3", &id]))),
            [2997, 2998, 2999]
        );
        // --tail larger than the current file reaches into the rotated ones.
        let tail = numbers(&ok(&run(&["logs", "--tail", "250", &id])));
        assert_eq!(tail.len(), 250);
        assert_eq!(tail, all[all.len() - 250..]);
        let stamped = ok(&run(&["logs", "-t", "--tail", "1", &id]));
        let (ts, rest) = stamped.trim_end().split_once(' ').unwrap();
        assert!(ts.ends_with('Z') && ts.contains('T'), "{stamped}");
        assert_eq!(rest, "line-2999");
        assert_eq!(
            numbers(&ok(&run(&["logs", "--since", "2000-01-01T00:00:00Z", &id]))),
            all
        );
        assert!(ok(&run(&["logs", "--until", "2000-01-01T00:00:00Z", &id])).is_empty());
    }
}

#[test]
fn follow_keeps_reading_across_rotations() {
    let d = Daemon::start();
    // Lines in bursts of 50 (about 1.7 kB), pausing between bursts: several rotations
    // while `logs -f` reads.
    let script = "i=0; while [ $i -lt 1500 ]; do echo line-$i; i=$((i+1)); \
                  if [ $((i % 50)) = 0 ]; then sleep 0.1; fi; done";
    for cli in ["docker", "berth"] {
        let id = ok(&d.docker(&[
            "run",
            "-d",
            "--network",
            "none",
            "--log-opt",
            "max-size=4k",
            "--log-opt",
            "max-file=3",
            "busybox",
            "sh",
            "-c",
            script,
        ]))
        .trim()
        .to_string();
        let out = if cli == "docker" {
            Command::new("docker")
                .env("DOCKER_HOST", d.host())
                .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
                .args(["logs", "-f", &id])
                .stdin(Stdio::null())
                .output()
                .unwrap()
        } else {
            d.berth(&["logs", "-f", &id])
        };
        let seen = numbers(&ok(&out));
        assert!(contiguous(&seen), "{cli}: gap in {seen:?}");
        assert_eq!(*seen.last().unwrap(), 1499, "{cli}");
        // Far more than the three 4 kB files hold: the follower went through rotations.
        assert!(
            seen.len() > 600,
            "{cli}: only {} lines followed",
            seen.len()
        );
        let files = log_files(&d, &id);
        assert_eq!(files.len(), 3, "{files:?}");
    }
}

#[test]
fn log_opt_errors_in_dockers_words() {
    let d = Daemon::start();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--log-opt", "max-sise=1m"],
            "unknown log opt 'max-sise' for json-file log driver",
        ),
        (
            &["--log-opt", "max-size=abc"],
            "failed to initialize logging driver: invalid size: 'abc'",
        ),
        (
            &["--log-opt", "max-size=0"],
            "failed to initialize logging driver: max-size must be a positive number",
        ),
        (
            &["--log-opt", "max-size=1m", "--log-opt", "max-file=0"],
            "failed to initialize logging driver: max-file cannot be less than 1",
        ),
        (
            &["--log-driver", "nosuch"],
            "error looking up logging plugin nosuch: plugin \"nosuch\" not found",
        ),
        (
            &["--log-driver", "journald"],
            "logger: no log driver named 'journald' is registered (berth has json-file and none)",
        ),
    ];
    for (flags, message) in cases {
        for cli in ["docker", "berth"] {
            let mut args = vec!["create"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["busybox", "true"]);
            let out = if cli == "docker" {
                d.docker(&args)
            } else {
                d.berth(&args)
            };
            // docker's `create` exits 1 on a daemon error; berth's `create` shares `run`'s
            // 125 (a known difference of berth's CLI, not of the daemon).
            let code = if cli == "docker" { 1 } else { 125 };
            assert_eq!(
                out.status.code(),
                Some(code),
                "{cli} {flags:?}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains(&format!("Error response from daemon: {message}")),
                "{cli} {flags:?}: {}",
                stderr(&out)
            );
        }
    }
    // max-file alone is accepted (it only matters with max-size), as in Docker.
    ok(&d.docker(&["create", "--log-opt", "max-file=3", "busybox", "true"]));

    // The none driver: output still reaches an attached client, nothing is kept.
    let out = d.docker(&[
        "run",
        "--name",
        "quiet",
        "--network",
        "none",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hi",
    ]);
    assert_eq!(stdout(&out), "hi\n", "{}", stderr(&out));
    for cli in ["docker", "berth"] {
        let out = if cli == "docker" {
            d.docker(&["logs", "quiet"])
        } else {
            d.berth(&["logs", "quiet"])
        };
        assert_ne!(out.status.code(), Some(0));
        assert!(
            stderr(&out).contains(
                "Error response from daemon: configured logging driver does not support reading"
            ),
            "{cli}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn daemon_log_opts_are_defaults_for_new_containers() {
    let d = Daemon::start_with(&["--log-opt", "max-size=3k", "--log-opt", "max-file=2"]);
    let id = ok(&d.berth(&[
        "run",
        "-d",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        WRITER,
    ]))
    .trim()
    .to_string();
    ok(&d.berth(&["wait", &id]));
    let inspect = ok(&d.docker(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", &id]));
    assert_eq!(
        inspect.trim(),
        r#"{"Type":"json-file","Config":{"max-file":"2","max-size":"3k"}}"#
    );
    let files = log_files(&d, &id);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| f.1 <= 3_100), "{files:?}");
    // A container's own option wins over the daemon's.
    let id2 = ok(&d.docker(&["create", "--log-opt", "max-size=1m", "busybox", "true"]))
        .trim()
        .to_string();
    let inspect = ok(&d.docker(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", &id2]));
    assert_eq!(
        inspect.trim(),
        r#"{"Type":"json-file","Config":{"max-file":"2","max-size":"1m"}}"#
    );
}
