//! `berth run` end to end as root: the built binary, a private daemon, real containers.

mod support;

use support::{stderr, stdout, Daemon};

#[test]
fn run_rm_echo_prints_and_exits_zero() {
    let d = Daemon::start();
    let out = d.berth(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(stdout(&out), "hi\n", "stderr: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
    // --rm removed it.
    let ps = d.berth(&["ps", "-aq"]);
    assert_eq!(stdout(&ps), "");
}

#[test]
fn exit_status_and_streams_are_propagated() {
    let d = Daemon::start();
    let out = d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
}

#[test]
fn command_not_found_is_127_and_not_executable_is_126() {
    let d = Daemon::start();
    let out = d.berth(&["run", "--rm", "busybox", "nosuchcommand"]);
    assert_eq!(out.status.code(), Some(127), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );
    let out = d.berth(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "stderr: {}", stderr(&out));
    assert_eq!(
        stdout(&d.berth(&["ps", "-aq"])),
        "",
        "--rm removes failed containers too"
    );
}

#[test]
fn unknown_image_is_pulled_and_a_failed_pull_is_125() {
    let d = Daemon::start();
    // Nothing listens on port 1: the pull fails at once, as docker's does without a registry.
    let out = d.berth(&["run", "--rm", "127.0.0.1:1/nosuchimage:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains("Unable to find image '127.0.0.1:1/nosuchimage:1' locally"),
        "{err}"
    );
    assert!(err.contains("connection refused"), "{err}");
}

#[test]
fn stdin_is_fed_with_dash_i() {
    let d = Daemon::start();
    let out = d.berth_stdin(
        &["run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done"],
        b"piped\n",
    );
    assert_eq!(stdout(&out), "piped\ndone\n", "stderr: {}", stderr(&out));
}

#[test]
fn runtime_settings_reach_the_container() {
    let d = Daemon::start();
    let check = |args: &[&str], want: &str| {
        let mut full = vec!["run", "--rm"];
        full.extend_from_slice(args);
        let out = d.berth(&full);
        assert_eq!(
            stdout(&out).trim(),
            want,
            "berth {full:?}: stderr {}",
            stderr(&out)
        );
    };
    check(&["--hostname", "box1", "busybox", "hostname"], "box1");
    check(&["-u", "nobody", "busybox", "id", "-u"], "65534");
    check(
        &[
            "-u",
            "1234:5678",
            "busybox",
            "sh",
            "-c",
            "echo $(id -u):$(id -g)",
        ],
        "1234:5678",
    );
    check(&["-w", "/made/here", "busybox", "pwd"], "/made/here");
    check(
        &["-e", "FOO=bar", "busybox", "sh", "-c", "echo $FOO"],
        "bar",
    );
    check(
        &["--entrypoint", "echo", "busybox", "from", "entrypoint"],
        "from entrypoint",
    );
    check(
        &[
            "--read-only",
            "busybox",
            "sh",
            "-c",
            "touch /x 2>/dev/null && echo rw || echo ro",
        ],
        "ro",
    );
    check(&["busybox", "sh", "-c", "echo $$"], "1");
    check(
        &[
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "ls /sys/class/net | tr '\\n' ' '",
        ],
        "lo",
    );
    // Docker's 14 default capabilities: CapEff 00000000a80425fb.
    check(
        &[
            "busybox",
            "sh",
            "-c",
            "grep CapEff /proc/self/status | cut -f2",
        ],
        "00000000a80425fb",
    );
    check(
        &[
            "--cap-drop",
            "ALL",
            "busybox",
            "sh",
            "-c",
            "grep CapEff /proc/self/status | cut -f2",
        ],
        "0000000000000000",
    );
    // The default seccomp profile refuses unshare without CAP_SYS_ADMIN; unconfined lets it
    // reach the capability check instead.
    check(
        &[
            "busybox",
            "sh",
            "-c",
            "unshare -U true 2>/dev/null && echo allowed || echo denied",
        ],
        "denied",
    );
    check(&["--memory", "64m", "busybox", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"], "67108864");
    check(
        &[
            "--pids-limit",
            "7",
            "busybox",
            "sh",
            "-c",
            "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
        ],
        "7",
    );
    check(
        &[
            "busybox",
            "sh",
            "-c",
            "cat /proc/kcore >/dev/null 2>&1 && echo readable || echo masked",
        ],
        "masked",
    );
    check(&["--init", "busybox", "sh", "-c", "echo $$"], "2");
}

#[test]
fn tty_mode_gives_a_terminal() {
    let d = Daemon::start();
    let out = d.berth(&["run", "--rm", "-t", "busybox", "tty"]);
    assert_eq!(
        stdout(&out).trim(),
        "/dev/pts/0",
        "stderr: {}",
        stderr(&out)
    );
}

#[test]
fn memory_flag_is_validated_before_the_daemon() {
    let d = Daemon::start();
    let out = d.berth(&["run", "-m", "12zb", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("--memory"), "{}", stderr(&out));
}

#[test]
fn security_options_cpu_limits_and_privileged() {
    let d = Daemon::start();
    let profile = d.dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let run = |args: &[&str]| {
        let mut full = vec!["run", "--rm"];
        full.extend_from_slice(args);
        let out = d.berth(&full);
        assert!(out.status.code().is_some(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    assert_eq!(
        run(&[
            "--security-opt",
            &opt,
            "busybox",
            "sh",
            "-c",
            "mkdir /tmp/x 2>/dev/null && echo made || echo denied"
        ]),
        "denied"
    );
    assert_eq!(
        run(&[
            "--security-opt",
            "seccomp=unconfined",
            "busybox",
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status | cut -f2"
        ]),
        "0"
    );
    assert_eq!(
        run(&[
            "busybox",
            "sh",
            "-c",
            "grep Seccomp: /proc/self/status | cut -f2"
        ]),
        "2"
    );
    assert_eq!(
        run(&["--cpus", "0.5", "busybox", "sh", "-c", "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d' ' -f1 /sys/fs/cgroup/cpu.max"]),
        "50000"
    );
    assert_eq!(
        run(&[
            "--cpu-shares",
            "512",
            "busybox",
            "sh",
            "-c",
            "cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null || cat /sys/fs/cgroup/cpu.weight"
        ]),
        "512"
    );
    // Privileged: every capability the host allows (this VM's bounding set lacks
    // CAP_SYS_RESOURCE), no seccomp filter.
    let host_bnd = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:").map(|v| v.trim().to_string()))
        .unwrap();
    assert_eq!(
        run(&[
            "--privileged",
            "busybox",
            "sh",
            "-c",
            "grep CapEff /proc/self/status | cut -f2"
        ]),
        host_bnd
    );
    assert_eq!(
        run(&[
            "--cap-add",
            "SYS_ADMIN",
            "busybox",
            "sh",
            "-c",
            "grep CapEff /proc/self/status | cut -f2"
        ]),
        "00000000a82425fb"
    );
}

#[test]
fn version_and_info_describe_the_daemon() {
    let d = Daemon::start();
    let out = d.berth(&["version"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1.43"), "{}", stdout(&out));
    let out = d.berth(&["info"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info = stdout(&out);
    assert!(
        info.contains("Images: 1") && info.contains("overlay2"),
        "{info}"
    );
}

#[test]
fn host_network_env_file_and_user_group() {
    let d = Daemon::start();
    let ifaces = || -> Vec<String> {
        std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect()
    };
    let before = ifaces();
    let out = d.berth(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    let inside: Vec<String> = stdout(&out).split_whitespace().map(String::from).collect();
    // Tests running beside this one add and remove their own bridges and veths: only the
    // interfaces present before and after the run must have been seen.
    let after = ifaces();
    for iface in before.iter().filter(|i| after.contains(i)) {
        assert!(
            inside.contains(iface),
            "host interface {iface} missing with --network host: {inside:?}"
        );
    }
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = d.berth(&["run", "--rm", "--network", "host", "busybox", "hostname"]);
    assert_eq!(stdout(&out).trim(), host_name.trim());

    let env_file = d.dir.path().join("env.list");
    std::fs::write(
        &env_file,
        "# a comment\nFROM_FILE=yes\n\nSECOND=two words\n",
    )
    .unwrap();
    let out = d.berth(&[
        "run",
        "--rm",
        "--env-file",
        env_file.to_str().unwrap(),
        "busybox",
        "sh",
        "-c",
        "echo $FROM_FILE-$SECOND",
    ]);
    assert_eq!(stdout(&out), "yes-two words\n", "{}", stderr(&out));

    let out = d.berth(&[
        "run",
        "--rm",
        "-u",
        "nobody:root",
        "busybox",
        "sh",
        "-c",
        "echo $(id -u):$(id -g)",
    ]);
    assert_eq!(stdout(&out), "65534:0\n", "{}", stderr(&out));
    let out = d.berth(&["run", "--rm", "-u", "nosuchuser", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("unable to find user nosuchuser: no matching entries in passwd file"),
        "{}",
        stderr(&out)
    );
}

/// Differences with dockerd 20.10 found by `tests/parity/run.sh`, through the docker CLI.
#[test]
fn docker_cli_run_matches_dockerd() {
    let d = Daemon::start();
    // A relative working directory is refused at create (125), not run into a chdir error.
    let out = d.docker(&["run", "--network", "none", "-w", "rel", "busybox", "pwd"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "Error response from daemon: the working directory 'rel' is invalid, it needs to be an absolute path"
        ),
        "{}",
        stderr(&out)
    );
    // The primary group is a supplementary one too (dockerd's additionalGids), and the
    // process gets HOSTNAME and HOME; Config.Env holds only what the image and user set.
    let out = d.docker(&["run", "--network", "none", "--name", "ids", "busybox", "id"]);
    assert_eq!(
        stdout(&out),
        "uid=0(root) gid=0(root) groups=0(root)\n",
        "{}",
        stderr(&out)
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "nobody",
        "busybox",
        "id",
    ]);
    assert_eq!(
        stdout(&out),
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
    );
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-h",
        "hn",
        "busybox",
        "sh",
        "-c",
        "echo $HOSTNAME $HOME $PATH",
    ]);
    assert_eq!(
        stdout(&out),
        "hn /root /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
    let out = d.docker(&["inspect", "-f", "{{json .Config.Env}}", "ids"]);
    assert_eq!(stdout(&out), "[]\n", "{}", stderr(&out));
    // An unknown user: dockerd's text, without the runtime's prefix.
    let out = d.docker(&[
        "run",
        "--network",
        "none",
        "-u",
        "nosuch",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains(
            "Error response from daemon: unable to find user nosuch: no matching entries in passwd file\n"
        ),
        "{}",
        stderr(&out)
    );
    // Published ports: nothing for none, a warning for host, an error for container:.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-p",
        "80:80",
        "busybox",
        "true",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-p",
        "80:80",
        "busybox",
        "true",
    ]);
    assert!(
        stderr(&out).contains("Published ports are discarded when using host network mode"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "base",
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&[
        "run",
        "--network",
        "container:base",
        "-p",
        "80:80",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out)
            .contains("conflicting options: port publishing and the container type network mode"),
        "{}",
        stderr(&out)
    );
    // A missing container to join is the start's 404: the CLI must not try to pull.
    let out = d.docker(&["run", "--network", "container:nosuch", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("Error response from daemon: No such container: nosuch")
            && !stderr(&out).contains("Unable to find image"),
        "{}",
        stderr(&out)
    );
    let _ = d.docker(&["rm", "-f", "base"]);
}

/// `--group-add` (names from the container's /etc/group, or gids) for the init and execs;
/// dockerd's text for an unknown group. It used to be ignored.
#[test]
fn docker_cli_group_add() {
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "nobody",
        "--group-add",
        "root",
        "--group-add",
        "777",
        "busybox",
        "id",
        "-G",
    ]);
    assert_eq!(stdout(&out), "65534 0 777\n", "{}", stderr(&out));
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--group-add",
        "nosuch",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains(
            "Error response from daemon: Unable to find group nosuch: no matching entries in group file"
        ),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "ga",
        "--group-add",
        "777",
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&["exec", "-u", "nobody", "ga", "id", "-G"]);
    assert_eq!(stdout(&out), "65534 777\n", "{}", stderr(&out));
    let _ = d.docker(&["rm", "-f", "ga"]);
}

/// What the docker CLI shows for these is dockerd's (the differences came from
/// tests/parity/run.sh against dockerd 20.10; moby still words them so).
#[test]
fn docker_cli_answers_in_dockerds_words() {
    let d = Daemon::start();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let refused: [(&[&str], String); 4] = [
        (
            &["run", "--network", "none", "--cpus", "-1", "busybox", "true"],
            format!("Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"),
        ),
        (
            &["run", "--network", "none", "-v", "/tmp:relative", "busybox", "true"],
            "invalid volume specification: '/tmp:relative': invalid mount config for type \"bind\": invalid mount path: 'relative' mount path must be absolute".into(),
        ),
        (
            &["run", "--network", "none", "--mount", "type=bogus,target=/x", "busybox", "true"],
            "invalid mount config for type \"bogus\": mount type unknown".into(),
        ),
        (&["rmi", "bad name"], "invalid reference format".into()),
    ];
    for (args, message) in &refused {
        let out = d.docker(args);
        assert!(!out.status.success(), "{args:?}");
        let line = format!("Error response from daemon: {message}\n");
        assert!(stderr(&out).contains(&line), "{args:?}: {}", stderr(&out));
    }

    // A bad signal is refused as it is, not wrapped as a failed kill.
    let out = d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "sig",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; sleep 100",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&["kill", "-s", "BOGUS", "sig"]);
    assert_eq!(
        stderr(&out),
        "Error response from daemon: Invalid signal: BOGUS\n"
    );

    // A tail that is not a number means all lines, as in dockerd.
    support::eventually("both lines logged", || {
        let out = d.docker(&["logs", "--tail", "bogus", "sig"]);
        out.status.success() && stdout(&out) == "out\n" && stderr(&out) == "err\n"
    });

    // `Init` is absent from HostConfig unless set (dockerd's omitempty), so templates that
    // read it fail the same way.
    let hc = |name: &str| stdout(&d.docker(&["inspect", "-f", "{{json .HostConfig}}", name]));
    assert!(!hc("sig").contains("\"Init\""), "{}", hc("sig"));
    let out = d.docker(&["create", "--init", "--name", "withinit", "busybox", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        hc("withinit").contains("\"Init\":true"),
        "{}",
        hc("withinit")
    );
    assert!(d.docker(&["rm", "-f", "sig", "withinit"]).status.success());

    // With --dns, --dns-search or --dns-option, resolv.conf is rebuilt in libnetwork's order.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--dns",
        "9.9.9.9",
        "--dns-search",
        "ex.com",
        "--dns-option",
        "ndots:3",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert_eq!(
        stdout(&out),
        "search ex.com\nnameserver 9.9.9.9\noptions ndots:3\n",
        "{}",
        stderr(&out)
    );
}
