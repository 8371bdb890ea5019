//! `exec` (and `top`, `stats`) with the real docker CLI and berth's CLI against a private
//! daemon, with berth's runtime and with runc.

mod support;

use std::process::{Command, Stdio};

use support::{stderr, stdout, Daemon};

/// A running busybox container named `name` that sleeps.
fn sleeper(d: &Daemon, name: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "300"]);
    let out = d.berth(&args);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The checks both CLIs must pass; `cli` runs one of them.
fn exec_checks(cli: &dyn Fn(&[&str]) -> std::process::Output, c: &str) {
    let out = cli(&["exec", c, "echo", "hello"]);
    assert_eq!(stdout(&out), "hello\n", "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));

    let out = cli(&["exec", c, "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");

    // Env: the container's plus -e; cwd: -w; user: -u from /etc/passwd.
    let out = cli(&[
        "exec",
        "-e",
        "FOO=bar",
        "-w",
        "/etc",
        "-u",
        "nobody",
        c,
        "sh",
        "-c",
        "echo $FOO $PATH; pwd; id -u; id -g; cat /proc/1/cmdline",
    ]);
    assert_eq!(
        stdout(&out),
        "bar /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/etc\n65534\n65534\nsleep\x00300\x00",
        "{}",
        stderr(&out)
    );

    let out = cli(&["exec", "-u", "nosuchuser", c, "true"]);
    assert_ne!(out.status.code(), Some(0));
    let text = stdout(&out) + &stderr(&out);
    assert!(
        text.contains("unable to find user nosuchuser: no matching entries in passwd file"),
        "{text}"
    );

    let out = cli(&["exec", c, "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let text = stdout(&out) + &stderr(&out);
    assert!(
        text.contains("OCI runtime exec failed: exec failed:")
            && text.contains("executable file not found in $PATH: unknown"),
        "{text}"
    );

    // A missing -w directory: runc's wording, exit 126 (exec never creates it, unlike run).
    let out = cli(&["exec", "-w", "/no/such/dir", c, "true"]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    let text = stdout(&out) + &stderr(&out);
    assert!(
        text.contains(
            "chdir to cwd (\"/no/such/dir\") set in config.json failed: no such file or directory"
        ),
        "{text}"
    );

    // -t: a pty from the container's devpts, CRLF output.
    let out = cli(&["exec", "-t", c, "sh", "-c", "tty; echo x"]);
    let text = stdout(&out);
    assert!(
        text.starts_with("/dev/pts/") && text.ends_with("\r\nx\r\n"),
        "{text:?}"
    );

    // Without -i the process reads EOF at once.
    let out = cli(&["exec", c, "cat"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // --privileged: every capability of the host's bounding set.
    let out = cli(&[
        "exec",
        "--privileged",
        c,
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let bounding = host
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim();
    assert_eq!(stdout(&out), format!("CapEff:\t{bounding}\n"));
    let out = cli(&["exec", c, "grep", "CapEff", "/proc/self/status"]);
    assert_eq!(stdout(&out), "CapEff:\t00000000a80425fb\n");

    // -d: returns at once; the process runs in the container.
    let out = cli(&["exec", "-d", c, "sh", "-c", "echo detached > /tmp/d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    support::eventually("the detached exec", || {
        stdout(&cli(&["exec", c, "cat", "/tmp/d"])) == "detached\n"
    });
}

fn piped(d: &Daemon, docker: bool, c: &str) -> String {
    let (bin, env): (&str, Vec<(&str, String)>) = if docker {
        ("docker", vec![("DOCKER_HOST", d.host())])
    } else {
        (support::BERTH, vec![("DOCKER_HOST", d.host())])
    };
    let mut cmd = Command::new(bin);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args(["exec", "-i", c, "sh", "-c", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped input\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    stdout(&out)
}

#[test]
fn exec_with_both_clis() {
    let d = Daemon::start();
    sleeper(&d, "ex", &[]);
    exec_checks(&|a| d.berth(a), "ex");
    exec_checks(&|a| d.docker(a), "ex");

    // docker exec -it on a real terminal (script's pty): size, input and exit code.
    let out = Command::new("sh")
        .arg("-c")
        .arg("(sleep 1; echo 'stty size; exit 3') | script -qec 'stty rows 31 cols 91; docker exec -it ex sh' /dev/null")
        .env("DOCKER_HOST", d.host())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).contains("31 91"), "{}", stdout(&out));
    assert_eq!(piped(&d, false, "ex"), "piped input\ndone\n");
    assert_eq!(piped(&d, true, "ex"), "piped input\ndone\n");

    // The API: create 201 {"Id"}, detached start 200, inspect with the final ExitCode.
    let api = |method: &str, path: &str, body: &str| -> (String, String) {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
            .arg(&d.socket)
            .args([
                "-X",
                method,
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
            ])
            .arg(format!("http://x/v1.43{path}"))
            .output()
            .unwrap();
        let text = stdout(&out);
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_string(), body.to_string())
    };
    let (code, body) = api(
        "POST",
        "/containers/ex/exec",
        r#"{"Cmd":["sh","-c","exit 7"],"AttachStdout":true}"#,
    );
    assert_eq!(code, "201", "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let exec_id = v["Id"].as_str().unwrap().to_string();
    assert_eq!(exec_id.len(), 64);
    let (code, body) = api(
        "POST",
        &format!("/exec/{exec_id}/start"),
        r#"{"Detach":true}"#,
    );
    assert_eq!(code, "200", "{body}");
    support::eventually("the exec's exit code", || {
        let (_, body) = api("GET", &format!("/exec/{exec_id}/json"), "");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["ExitCode"] == 7 && v["Running"] == false
    });
    let (_, body) = api("GET", &format!("/exec/{exec_id}/json"), "");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ID"], exec_id.as_str());
    assert_eq!(v["ProcessConfig"]["entrypoint"], "sh");
    assert_eq!(
        v["ProcessConfig"]["arguments"],
        serde_json::json!(["-c", "exit 7"])
    );
    assert_eq!(v["OpenStdout"], true);
    assert_eq!(v["OpenStdin"], false);
    assert!(v["Pid"].as_i64().unwrap() > 0, "{v}");
    assert_eq!(v["ContainerID"].as_str().unwrap().len(), 64);
    let (code, _) = api(
        "POST",
        &format!("/exec/{exec_id}/start"),
        r#"{"Detach":true}"#,
    );
    assert_eq!(code, "409", "an exec starts once");
    let (code, _) = api("GET", "/exec/nosuchexec/json", "");
    assert_eq!(code, "404");

    // A stopped container: 409 Container <id> is not running.
    let out = d.berth(&["create", "--name", "stopped", "busybox", "true"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&["exec", "stopped", "true"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
}

#[test]
fn exec_with_runc() {
    let d = Daemon::start_with(&["--runtime", "runc"]);
    sleeper(&d, "rx", &[]);
    let out = d.docker(&[
        "exec",
        "-e",
        "A=1",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "rx",
        "sh",
        "-c",
        "echo $A; id -u; pwd; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1\n65534\n/tmp\n");
    let out = d.docker(&["exec", "-t", "rx", "tty"]);
    assert!(stdout(&out).starts_with("/dev/pts/"), "{}", stdout(&out));
    let out = d.docker(&["exec", "rx", "nosuchcmd"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert_eq!(piped(&d, true, "rx"), "piped input\ndone\n");
    // top and stats read the same cgroup runc created.
    let text = stdout(&d.docker(&["top", "rx"]));
    assert!(text.contains("sleep 300"), "{text}");
    let out = d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "rx",
    ]);
    assert_eq!(stdout(&out), "rx 1\n", "{}", stderr(&out));
}

#[test]
fn top_and_stats() {
    let d = Daemon::start();
    sleeper(&d, "ts", &["--memory", "64m"]);
    // An exec'd process is in the container's cgroup, so top lists it too.
    let out = d.berth(&["exec", "-d", "ts", "sleep", "200"]);
    assert!(out.status.success(), "{}", stderr(&out));
    support::eventually("top lists both processes", || {
        let out = d.docker(&["top", "ts"]);
        let text = stdout(&out);
        text.starts_with("UID ") && text.contains("sleep 300") && text.contains("sleep 200")
    });
    let text = stdout(&d.berth(&["top", "ts"]));
    let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let row = text.lines().find(|l| l.contains("sleep 300")).unwrap();
    assert!(row.starts_with("root "), "{row}");
    let out = d.docker(&["top", "ts", "-o", "pid,comm"]);
    let text = stdout(&out);
    assert!(
        text.starts_with("PID") && text.contains("sleep"),
        "{text} {}",
        stderr(&out)
    );
    assert_eq!(text.lines().count(), 3, "{text}");

    // stats: both CLIs, sane numbers (memory > 0 below the 64 MiB limit, pids >= 2).
    for out in [
        d.berth(&["stats", "--no-stream", "ts"]),
        d.docker(&["stats", "--no-stream", "ts"]),
    ] {
        let text = stdout(&out);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with("CONTAINER ID   NAME "), "{text}");
        let row = lines.next().unwrap();
        let cols: Vec<&str> = row
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cols[1], "ts", "{row}");
        assert!(cols[2].ends_with('%'), "{row}");
        let (usage, limit) = cols[3].split_once(" / ").unwrap();
        assert_ne!(usage, "0B", "{row}");
        assert_eq!(limit, "64MiB", "{row}");
        assert!(cols[7].parse::<u32>().unwrap() >= 2, "{row}");
    }
    let raw = d.docker(&["inspect", "--format", "{{len .ExecIDs}}", "ts"]);
    assert_eq!(stdout(&raw).trim(), "1", "{}", stderr(&raw));

    // A stopped container: top is a 409.
    let out = d.docker(&["stop", "-t", "0", "ts"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&["top", "ts"]);
    assert!(stderr(&out).contains("is not running"), "{}", stderr(&out));
}

/// Differences with dockerd 20.10 found by `tests/parity/run.sh`, through the docker CLI.
#[test]
fn docker_cli_exec_errors_match_dockerd() {
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "ex",
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A missing working directory: the runtime's text behind dockerd's exec prefix.
    let out = d.docker(&["exec", "-w", "/nosuchdir", "ex", "pwd"]);
    // (dockerd writes it into the exec's stream: stdout)
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd (\"/nosuchdir\") set in config.json failed: no such file or directory: unknown"
        ),
        "{}",
        stdout(&out)
    );
    // HOME and groups as runc gives them.
    let out = d.docker(&["exec", "-u", "nobody", "ex", "sh", "-c", "echo $HOME; id"]);
    assert_eq!(
        stdout(&out),
        "/nonexistent\nuid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n",
        "{}",
        stderr(&out)
    );
    // A paused container is named as the request named it.
    assert!(d.docker(&["pause", "ex"]).status.success());
    let out = d.docker(&["exec", "ex", "true"]);
    assert!(
        stderr(&out).contains(
            "Error response from daemon: Container ex is paused, unpause the container before exec"
        ),
        "{}",
        stderr(&out)
    );
    let _ = d.docker(&["rm", "-f", "ex"]);
}
