//! `berth build` and `docker build` (the real docker CLI through berth's daemon, legacy
//! builder API): the message stream, the resulting config and history, the step cache (shared
//! by both CLIs, surviving a restart, keyed by content not mtime), multi-stage targets, every
//! bad input the builder refuses, a failing RUN's exit code, a client that goes away, and a
//! big context streamed rather than held in memory.

mod registry_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::{eventually, stderr, stdout, Daemon};

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// A context directory under the daemon's temp dir with `files` (name, contents).
fn context(d: &Daemon, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = d.dir.path().join(name);
    for (f, text) in files {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const APP: &str = r#"FROM busybox
ARG GREETING=hello
LABEL stage=capture
ENV APP_HOME=/app
WORKDIR /app
COPY hello.txt .
RUN echo "$GREETING from build" > /app/greeting && cat /app/greeting
EXPOSE 8080/tcp
USER nobody
CMD ["cat", "/app/greeting"]
"#;

fn inspect(d: &Daemon, name: &str) -> serde_json::Value {
    let out = ok(d.berth(&["image", "inspect", name]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

#[test]
fn build_with_both_clis_shares_a_content_keyed_cache() {
    let d = Daemon::start();
    let ctx = context(
        &d,
        "app",
        &[
            ("Dockerfile", APP),
            ("hello.txt", "hello file\n"),
            (".dockerignore", "*.log\n"),
            ("x.log", "no"),
        ],
    );
    let out = ok(d.berth(&["build", "-t", "app:v1", s(&ctx)]));
    for want in [
        "Step 1/10 : FROM busybox\n",
        "Step 7/10 : RUN echo \"$GREETING from build\" > /app/greeting && cat /app/greeting\n ---> Running in ",
        "hello from build\nRemoving intermediate container ",
        "Successfully tagged app:v1\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains("Using cache"), "{out}");
    assert_eq!(
        ok(d.berth(&["run", "--rm", "app:v1"])),
        "hello from build\n"
    );

    // The config and history Docker's classic builder makes for this Dockerfile.
    let img = inspect(&d, "app:v1");
    let c = &img["Config"];
    assert_eq!(c["Cmd"], serde_json::json!(["cat", "/app/greeting"]));
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["Labels"]["stage"], "capture");
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(
        c["Env"],
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "APP_HOME=/app"
        ])
    );
    let hist = ok(d.berth(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "app:v1",
    ]));
    let lines: Vec<&str> = hist.lines().collect();
    assert_eq!(lines.len(), 10, "{hist}");
    assert_eq!(
        lines[0],
        "/bin/sh -c #(nop)  CMD [\"cat\" \"/app/greeting\"]|0B"
    );
    assert_eq!(lines[1], "/bin/sh -c #(nop)  USER nobody|0B");
    assert_eq!(lines[2], "/bin/sh -c #(nop)  EXPOSE 8080/tcp|0B");
    assert_eq!(
        lines[3],
        "|1 GREETING=hello /bin/sh -c echo \"$GREETING from build\" > /app/greeting && cat /app/greeting|17B"
    );
    assert!(
        lines[4].starts_with("/bin/sh -c #(nop) COPY file:") && lines[4].ends_with(" in . |11B"),
        "{}",
        lines[4]
    );
    assert_eq!(lines[5], "/bin/sh -c #(nop) WORKDIR /app|0B");
    assert_eq!(lines[6], "/bin/sh -c #(nop)  ENV APP_HOME=/app|0B");
    assert_eq!(lines[8], "/bin/sh -c #(nop)  ARG GREETING=hello|0B");
    // Ignored files never reach the daemon: not in the image.
    assert!(!d
        .berth(&["run", "--rm", "app:v1", "ls", "/app/x.log"])
        .status
        .success());

    // The docker CLI through the same daemon: every step from the cache.
    let o = d.docker(&["build", "-t", "app:v2", s(&ctx)]);
    let out = ok(o);
    assert_eq!(out.matches(" ---> Using cache").count(), 9, "{out}");
    assert!(out.contains("Successfully tagged app:v2"), "{out}");
    assert_eq!(inspect(&d, "app:v2")["Id"], img["Id"]);

    // Touching a file keeps the cache (mtime is not part of the key).
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.join("hello.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(f);
    let out = ok(d.berth(&["build", "-t", "app:v3", s(&ctx)]));
    assert_eq!(out.matches(" ---> Using cache").count(), 9, "{out}");

    // Changing it re-runs only the COPY and what follows.
    std::fs::write(ctx.join("hello.txt"), "changed\n").unwrap();
    let out = ok(d.berth(&["build", "-t", "app:v4", s(&ctx)]));
    assert_eq!(out.matches(" ---> Using cache").count(), 4, "{out}");
    let after_copy = out.split("Step 6/10").nth(1).unwrap();
    assert!(!after_copy.contains("Using cache"), "{out}");
    assert!(after_copy.contains("Running in"), "{out}");

    // --no-cache: nothing from the cache; intermediate images hidden from `images`.
    let out = ok(d.berth(&["build", "--no-cache", "-q", "-t", "nc:1", s(&ctx)]));
    assert!(
        out.trim().starts_with("sha256:") && out.trim().len() == 71,
        "{out}"
    );
    let listed = ok(d.berth(&["images", "--format", "{{.Repository}}"]));
    assert!(!listed.contains("<none>"), "{listed}");
    let all = ok(d.berth(&["images", "-a", "--format", "{{.Repository}}"]));
    assert!(all.contains("<none>"), "{all}");
}

#[test]
fn cache_survives_a_restart_and_builder_prune_drops_it() {
    let mut d = Daemon::start();
    let ctx = context(
        &d,
        "c",
        &[
            (
                "Dockerfile",
                "FROM busybox\nRUN echo one > /one\nCOPY f /f\n",
            ),
            ("f", "x"),
        ],
    );
    ok(d.berth(&["build", "-t", "c:1", s(&ctx)]));
    d.kill9();
    d.spawn();
    let out = ok(d.docker(&["build", "-t", "c:2", s(&ctx)]));
    assert_eq!(out.matches("Using cache").count(), 2, "{out}");
    let pruned = ok(d.berth(&["builder", "prune", "-f"]));
    assert!(pruned.contains("Total reclaimed space:"), "{pruned}");
    // The tagged result stays; the intermediate images only the cache held are gone.
    ok(d.berth(&["image", "inspect", "c:1"]));
    let all = ok(d.berth(&["images", "-a", "--format", "{{.Repository}}"]));
    assert!(!all.contains("<none>"), "{all}");
    let out = ok(d.berth(&["build", "-t", "c:3", s(&ctx)]));
    assert!(!out.contains("Using cache"), "{out}");
    // Docker's answer shape (what `docker system prune` reads).
    let raw = Command::new("curl")
        .args([
            "-s",
            "-X",
            "POST",
            "--unix-socket",
            s(&d.socket),
            "http://x/build/prune",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert!(
        v["CachesDeleted"].is_array() && v["SpaceReclaimed"].is_u64(),
        "{v}"
    );
}

const MULTI: &str = "FROM busybox AS base\nRUN echo base > /base.txt\nFROM base AS fail\nRUN echo about to fail && exit 7\nFROM busybox AS final\nCOPY --from=base /base.txt /copied.txt\n";

#[test]
fn multi_stage_target_skips_unneeded_stages() {
    let d = Daemon::start();
    let ctx = context(&d, "m", &[("Dockerfile.multi", MULTI)]);
    let out = ok(d.berth(&[
        "build",
        "-t",
        "final",
        "-f",
        s(&ctx.join("Dockerfile.multi")),
        "--target",
        "final",
        s(&ctx),
    ]));
    assert!(!out.contains("about to fail"), "{out}");
    assert!(
        out.contains("Step 6/6 : COPY --from=base /base.txt /copied.txt"),
        "{out}"
    );
    assert_eq!(
        ok(d.berth(&["run", "--rm", "final", "cat", "/copied.txt"])),
        "base\n"
    );
}

#[test]
fn failing_run_exits_with_its_code_and_moves_no_tag() {
    let d = Daemon::start();
    let ctx = context(&d, "f", &[("Dockerfile.multi", MULTI)]);
    ok(d.berth(&["tag", "busybox", "capbuild:fail"]));
    let before = inspect(&d, "capbuild:fail")["Id"].clone();
    for cli in ["berth", "docker"] {
        let args = [
            "build",
            "-t",
            "capbuild:fail",
            "-f",
            "Dockerfile.multi",
            "--target",
            "fail",
        ];
        let o = if cli == "berth" {
            Command::new(support::BERTH)
                .current_dir(&ctx)
                .args(["--host", &d.host()])
                .args(args)
                .arg(".")
                .output()
                .unwrap()
        } else {
            Command::new("docker")
                .current_dir(&ctx)
                .env("DOCKER_HOST", d.host())
                .args(args)
                .arg(".")
                .output()
                .unwrap()
        };
        assert_eq!(
            o.status.code(),
            Some(7),
            "{cli}: {}\n{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(
            stdout(&o).contains("about to fail"),
            "{cli}: {}",
            stdout(&o)
        );
        assert!(
            stderr(&o).contains(
                "The command '/bin/sh -c echo about to fail && exit 7' returned a non-zero code: 7"
            ),
            "{cli}: {}",
            stderr(&o)
        );
        assert_eq!(inspect(&d, "capbuild:fail")["Id"], before);
        // As docker: the failed step's container is kept (Exited with the code), and
        // --force-rm removes it.
        let kept = ok(d.berth(&["ps", "-aq", "--no-trunc"]));
        let kept: Vec<&str> = kept.lines().collect();
        assert_eq!(kept.len(), 1, "{cli}: {kept:?}");
        assert_eq!(
            ok(d.berth(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{.State.ExitCode}}",
                kept[0]
            ])),
            "exited 7\n"
        );
        assert!(
            stdout(&o).contains(&format!(" ---> Running in {}", &kept[0][..12])),
            "{cli}: {}",
            stdout(&o)
        );
        ok(d.berth(&["rm", kept[0]]));
        let forced = if cli == "berth" {
            d.berth(&[
                "build",
                "--force-rm",
                "--target",
                "fail",
                "-f",
                s(&ctx.join("Dockerfile.multi")),
                s(&ctx),
            ])
        } else {
            d.docker(&[
                "build",
                "--force-rm",
                "--target",
                "fail",
                "-f",
                s(&ctx.join("Dockerfile.multi")),
                s(&ctx),
            ])
        };
        assert_eq!(forced.status.code(), Some(7), "{cli}: {}", stderr(&forced));
        assert_eq!(ok(d.berth(&["ps", "-aq"])), "", "{cli} --force-rm");
    }

    // --rm=false keeps every RUN container of a successful build (exited 0).
    let keep = context(
        &d,
        "keep",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo one > /1\nRUN echo two > /2\n",
        )],
    );
    for cli in ["berth", "docker"] {
        let o = if cli == "berth" {
            d.berth(&["build", "--no-cache", "--rm=false", s(&keep)])
        } else {
            d.docker(&["build", "--no-cache", "--rm=false", s(&keep)])
        };
        let out = ok(o);
        assert!(
            !out.contains("Removing intermediate container"),
            "{cli}: {out}"
        );
        let kept = ok(d.berth(&["ps", "-a", "--format", "{{.Status}}"]));
        assert_eq!(kept.lines().count(), 2, "{cli}: {kept}");
        assert!(
            kept.lines().all(|l| l.starts_with("Exited (0)")),
            "{cli}: {kept}"
        );
        for id in ok(d.berth(&["ps", "-aq"])).lines() {
            ok(d.berth(&["rm", id]));
        }
    }
}

/// Builds `dockerfile` with `files` and expects failure with `message` on stderr.
fn refused(dockerfile: &str, files: &[(&str, &str)], message: &str) {
    let d = Daemon::start();
    let mut all = vec![("Dockerfile", dockerfile)];
    all.extend_from_slice(files);
    let ctx = context(&d, "bad", &all);
    if !files.iter().any(|(f, _)| *f == "out-link") {
        let _ = std::os::unix::fs::symlink("/etc/passwd", ctx.join("out-link"));
    }
    for o in [
        d.berth(&["build", "-t", "bad:1", s(&ctx)]),
        d.docker(&["build", "-t", "bad:1", s(&ctx)]),
    ] {
        assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
        assert!(
            stderr(&o).contains(message),
            "want {message:?} in:\n{}",
            stderr(&o)
        );
    }
    assert!(!d.berth(&["image", "inspect", "bad:1"]).status.success());
}

#[test]
fn unknown_instruction_is_refused() {
    refused(
        "FROM busybox\nFORM x\n",
        &[],
        "dockerfile parse error line 2: unknown instruction: FORM (did you mean FROM?)",
    );
}

#[test]
fn missing_from_is_refused() {
    refused("RUN echo hi\n", &[], "no build stage in current context");
}

#[test]
fn stage_used_before_defined_is_refused() {
    refused(
        "FROM busybox\nCOPY --from=later /x /y\nFROM busybox AS later\nFROM busybox\n",
        &[],
        "stage \"later\" is used before it is defined",
    );
}

#[test]
fn copy_of_a_missing_path_names_it() {
    refused(
        "FROM busybox\nCOPY missing.txt /\n",
        &[],
        "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist",
    );
}

#[test]
fn copy_of_an_ignored_path_names_it() {
    refused(
        "FROM busybox\nCOPY secret.key /\n",
        &[("secret.key", "k"), (".dockerignore", "*.key\n")],
        "COPY failed: file not found in build context or excluded by .dockerignore: stat secret.key: file does not exist",
    );
}

#[test]
fn copy_escaping_the_context_is_refused() {
    refused(
        "FROM busybox\nCOPY ../x /\n",
        &[],
        "COPY failed: forbidden path outside the build context: ../x ()",
    );
}

#[test]
fn copy_through_a_symlink_out_of_the_context_is_refused() {
    refused(
        "FROM busybox\nCOPY out-link /\n",
        &[],
        "COPY failed: forbidden path outside the build context: out-link ()",
    );
}

#[test]
fn options_dockerfile_outside_context_stdin_build_args_labels_iidfile() {
    let d = Daemon::start();
    let ctx = context(&d, "o", &[("f.txt", "F\n")]);
    let outside = d.dir.path().join("Dockerfile.elsewhere");
    std::fs::write(
        &outside,
        "FROM busybox\nARG V=default\nCOPY f.txt /f.txt\nRUN echo \"v=$V\" > /v\n",
    )
    .unwrap();
    let iid = d.dir.path().join("iid");
    let out = ok(d.berth(&[
        "build",
        "-f",
        s(&outside),
        "--build-arg",
        "V=given",
        "--build-arg",
        "UNUSED=1",
        "--label",
        "team=cap",
        "-t",
        "o:1",
        "-t",
        "o:2",
        "--iidfile",
        s(&iid),
        s(&ctx),
    ]));
    assert!(
        out.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{out}"
    );
    assert!(
        out.contains("Successfully tagged o:1") && out.contains("Successfully tagged o:2"),
        "{out}"
    );
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(inspect(&d, "o:2")["Id"], id.as_str());
    assert_eq!(inspect(&d, "o:1")["Config"]["Labels"]["team"], "cap");
    assert_eq!(
        ok(d.berth(&["run", "--rm", "o:1", "cat", "/v", "/f.txt"])),
        "v=given\nF\n"
    );
    // The docker CLI sends the outside Dockerfile inside the tar under another name.
    ok(d.docker(&["build", "-f", s(&outside), "-t", "o:3", s(&ctx)]));
    // `-f -` and a Dockerfile as the whole context on stdin.
    ok(d.berth_stdin(
        &["build", "-f", "-", "-t", "o:4", s(&ctx)],
        b"FROM busybox\nCMD [\"x\"]\n",
    ));
    assert_eq!(
        inspect(&d, "o:4")["Config"]["Cmd"],
        serde_json::json!(["x"])
    );
    ok(d.berth_stdin(
        &["build", "-t", "o:5", "-"],
        b"FROM busybox\nRUN echo stdin > /s\n",
    ));
    assert_eq!(ok(d.berth(&["run", "--rm", "o:5", "cat", "/s"])), "stdin\n");
}

#[test]
fn client_going_away_kills_and_removes_the_run_container() {
    let d = Daemon::start();
    let ctx = context(
        &d,
        "k",
        &[("Dockerfile", "FROM busybox\nRUN echo started; sleep 300\n")],
    );
    let mut child = Command::new(support::BERTH)
        .args(["--host", &d.host(), "build", s(&ctx)])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("the RUN container", || {
        !ok(d.berth(&["ps", "-q"])).trim().is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    eventually("the RUN container to be removed", || {
        ok(d.berth(&["ps", "-aq"])).trim().is_empty()
    });
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[test]
fn a_one_gigabyte_context_is_streamed() {
    let d = Daemon::start();
    let ctx = context(
        &d,
        "big",
        &[
            ("Dockerfile", "FROM busybox\nCOPY small /small\n"),
            ("small", "s"),
        ],
    );
    let big = std::fs::File::create(ctx.join("big.bin")).unwrap();
    big.set_len(1 << 30).unwrap();
    drop(big);
    let pid = d.pid();
    let before = vm_hwm_kib(pid);
    let out = ok(d.berth(&["build", "-t", "big:1", s(&ctx)]));
    assert!(out.contains("Successfully tagged big:1"), "{out}");
    let after = vm_hwm_kib(pid);
    assert!(
        after < before + 200 * 1024,
        "daemon peak memory grew from {before} KiB to {after} KiB for a 1 GiB context"
    );
    // Only the context kept for the next build remains (kept just after the answer ends),
    // and it holds no gigabyte on disk.
    let reuse = d.root().join("builder/contexts/reuse");
    eventually("the context kept for reuse", || reuse.exists());
    let contexts: Vec<String> = std::fs::read_dir(d.root().join("builder/contexts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(contexts, vec!["reuse".to_string()]);
    let listing: Vec<String> = std::fs::read_dir(reuse.join("ctx"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let big = std::fs::metadata(reuse.join("ctx/big.bin"))
        .unwrap_or_else(|e| panic!("{e}: the kept context has {listing:?}"));
    assert_eq!(big.len(), 1 << 30);
    assert!(
        std::os::unix::fs::MetadataExt::blocks(&big) < 1024,
        "the zeros were written"
    );
}

const EVERY_INSTRUCTION: &str = r#"FROM busybox
ARG GREETING=hello
LABEL stage=capture version="1.0"
ENV APP_HOME=/app PATH2=/x
WORKDIR /app
WORKDIR sub
COPY hello.txt .
COPY dir /d/
ADD hello.txt /h2
RUN echo "$GREETING from build" > /app/greeting
EXPOSE 8080/tcp 53/udp
VOLUME ["/data"]
USER nobody
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD true
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "cat /app/greeting"]
ONBUILD RUN echo child
SHELL ["/bin/sh", "-xc"]
MAINTAINER me
"#;

/// `COPY file:<hex> in` with the hex masked: the source hashes are berth's own.
fn masked_history(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let mut out = String::new();
            for w in l.split(' ') {
                let w = match w.split_once(':') {
                    Some((k @ ("file" | "dir" | "multi"), h)) if h.len() == 64 => {
                        format!("{k}:<hex>")
                    }
                    _ => w.to_string(),
                };
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&w);
            }
            out
        })
        .collect()
}

#[test]
fn config_and_history_match_dockerd_20_10() {
    let d = Daemon::start();
    let engine = support::dockerd::DockerEngine::start();
    let saved = d.dir.path().join("busybox.saved.tar");
    ok(d.berth(&["save", "-o", s(&saved), "busybox"]));
    ok(engine.docker(&["load", "-i", s(&saved)]));
    let ctx = context(
        &d,
        "every",
        &[
            ("Dockerfile", EVERY_INSTRUCTION),
            ("hello.txt", "hi\n"),
            ("dir/a", "a\n"),
        ],
    );
    // dockerd runs without a bridge here: RUN steps on no network in both.
    let dk = Command::new("docker")
        .env(
            "DOCKER_HOST",
            format!("unix://{}", engine.dir.path().join("d.sock").display()),
        )
        .env("DOCKER_CONFIG", engine.dir.path().join("config"))
        .env("DOCKER_API_VERSION", "1.41")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "--network", "none", "-t", "every:1", s(&ctx)])
        .output()
        .unwrap();
    ok(dk);
    ok(d.berth(&["build", "--network", "none", "-t", "every:1", s(&ctx)]));
    let config = |o: Output| -> serde_json::Value { serde_json::from_str(&ok(o)).unwrap() };
    let fmt = [
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        "every:1",
    ];
    let want = config(engine.docker(&fmt));
    let got = config(d.berth(&fmt));
    assert_eq!(got, want, "config differs from dockerd's");
    let hist = [
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "every:1",
    ];
    assert_eq!(
        masked_history(&ok(d.berth(&hist))),
        masked_history(&ok(engine.docker(&hist))),
        "history differs from dockerd's"
    );
}

#[test]
fn independent_stages_run_in_parallel_and_output_stays_in_stage_order() {
    let d = Daemon::start();
    // Each stage waits (up to 20 s) for the other to have started: sequential stages would
    // time out. They meet in a shared RUN cache mount. The cache mount's content is not part
    // of the step key, so --no-cache makes sure both RUNs really run.
    let wait = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,id=meet,target=/meet rm -f /meet/{me}; touch /meet/{me}; i=0; while [ ! -e /meet/{other} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; [ -e /meet/{other} ] && echo {me} met {other} > /{me}.txt\n"
        )
    };
    let dockerfile = format!(
        "FROM busybox AS a\n{}FROM busybox AS b\n{}FROM busybox\nCOPY --from=a /a.txt /a.txt\nCOPY --from=b /b.txt /b.txt\n",
        wait("a", "b"),
        wait("b", "a")
    );
    let ctx = context(&d, "par", &[("Dockerfile", &dockerfile)]);
    let out = ok(d.berth(&["build", "--no-cache", "-t", "par:1", s(&ctx)]));
    assert_eq!(
        ok(d.berth(&["run", "--rm", "par:1", "cat", "/a.txt", "/b.txt"])),
        "a met b\nb met a\n"
    );
    let step = |n: usize| {
        out.find(&format!("Step {n}/7 "))
            .unwrap_or_else(|| panic!("step {n} in {out}"))
    };
    assert!(
        step(1) < step(2) && step(2) < step(3) && step(3) < step(4) && step(4) < step(5),
        "{out}"
    );
}

/// `python3 -m http.server` on a free loopback port serving `dir`; killed on drop.
struct WebServer(std::process::Child, u16);

impl WebServer {
    fn start(dir: &Path) -> WebServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
                s(dir),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 for a local web server");
        let w = WebServer(child, port);
        eventually("the web server", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        w
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.1)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn add_of_a_url_and_a_remote_tarball_context() {
    let d = Daemon::start();
    let www = d.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("file.txt"), "downloaded\n").unwrap();
    // python's http.server sends the file's mtime as Last-Modified: ADD gives it to the file.
    std::fs::File::options()
        .write(true)
        .open(www.join("file.txt"))
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        .unwrap();
    let ctx = context(
        &d,
        "remote",
        &[
            ("Dockerfile", "FROM busybox\nCOPY hello.txt /hello.txt\n"),
            ("hello.txt", "remote hello\n"),
        ],
    );
    let tgz = Command::new("tar")
        .args([
            "-C",
            s(&ctx),
            "-czf",
            s(&www.join("ctx.tgz")),
            "Dockerfile",
            "hello.txt",
        ])
        .status()
        .unwrap();
    assert!(tgz.success());
    let web = WebServer::start(&www);

    let dockerfile = format!(
        "FROM busybox\nADD {} /x/\nADD {} /y\n",
        web.url("file.txt"),
        web.url("file.txt")
    );
    ok(d.berth_stdin(&["build", "-t", "addurl:1", "-"], dockerfile.as_bytes()));
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "addurl:1",
            "sh",
            "-c",
            "cat /x/file.txt /y; stat -c '%a %Y' /y /x/file.txt"
        ])),
        "downloaded\ndownloaded\n600 1000000000\n600 1000000000\n"
    );
    // A URL context: the berth CLI asks the daemon to fetch it (`remote=`), the docker CLI
    // downloads it and sends it gzip-compressed.
    ok(d.berth(&["build", "-t", "remote:1", &web.url("ctx.tgz")]));
    ok(d.docker(&["build", "-t", "remote:2", &web.url("ctx.tgz")]));
    for t in ["remote:1", "remote:2"] {
        assert_eq!(
            ok(d.berth(&["run", "--rm", t, "cat", "/hello.txt"])),
            "remote hello\n"
        );
    }
    // A missing URL fails the build with the status.
    let o = d.berth_stdin(
        &["build", "-"],
        format!("FROM busybox\nADD {} /z\n", web.url("nope")).as_bytes(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("404"), "{}", stderr(&o));
}

#[test]
fn copy_add_run_semantics_heredocs_cache_mounts_onbuild_and_users() {
    let d = Daemon::start();
    let ctx = context(
        &d,
        "sem",
        &[
            ("src/a.txt", "A\n"),
            ("src/sub/b.txt", "B\n"),
            ("one.md", "1\n"),
            ("two.md", "2\n"),
        ],
    );
    // A local tar archive for ADD (extracted) and COPY (not extracted).
    let st = Command::new("tar")
        .args([
            "-C",
            s(&ctx.join("src")),
            "-czf",
            s(&ctx.join("arch.tgz")),
            "a.txt",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let parent = "FROM busybox\nRUN echo app:x:1234:1234::/home/app:/bin/sh >> /etc/passwd && echo app:x:1234: >> /etc/group\nONBUILD RUN echo triggered > /trig\n";
    std::fs::write(ctx.join("Dockerfile.parent"), parent).unwrap();
    ok(d.berth(&[
        "build",
        "-f",
        s(&ctx.join("Dockerfile.parent")),
        "-t",
        "parent:1",
        s(&ctx),
    ]));
    let dockerfile = r#"FROM parent:1
WORKDIR rel/dir
COPY src /dst
COPY src/ /dst2/
COPY *.md /docs/
COPY --chown=app:app --chmod=640 one.md /owned
ADD arch.tgz /extracted/
COPY arch.tgz /copied/
COPY <<EOT /etc/greet
hi there
EOT
RUN <<EOF
#!/bin/sh
echo script ran > /script
EOF
RUN --mount=type=cache,target=/cache echo $(( $(cat /cache/n 2>/dev/null || echo 0) + 1 )) > /cache/n && cp /cache/n /n
USER app
RUN id -u > /tmp/uid && pwd > /tmp/pwd
"#;
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let out = ok(d.berth(&["build", "-t", "sem:1", s(&ctx)]));
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    let check = ok(d.berth(&[
        "run", "--rm", "sem:1", "sh", "-c",
        "cat /trig /dst/a.txt /dst/sub/b.txt /dst2/sub/b.txt /docs/one.md /docs/two.md /extracted/a.txt /etc/greet /script /n /tmp/uid /tmp/pwd; \
         stat -c '%U:%G %a' /owned; ls /copied; test -d /rel/dir && echo workdir",
    ]));
    assert_eq!(
        check,
        "triggered\nA\nB\nB\n1\n2\nA\nhi there\nscript ran\n1\n1234\n/rel/dir\napp:app 640\narch.tgz\nworkdir\n"
    );
    // The cache mount persists between builds (the RUN itself re-runs with --no-cache).
    ok(d.berth(&["build", "--no-cache", "-t", "sem:2", s(&ctx)]));
    assert_eq!(ok(d.berth(&["run", "--rm", "sem:2", "cat", "/n"])), "2\n");
}

/// Debian's docker-registry on a free loopback port (no auth); killed on drop.
struct Registry(
    std::process::Child,
    u16,
    #[allow(dead_code)] testkit::TempDir,
);

impl Registry {
    fn start() -> Registry {
        let dir = testkit::TempDir::new("breg");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (is the docker-registry package installed?)");
        let r = Registry(child, port, dir);
        eventually("the registry", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn from_an_image_pulled_from_a_registry_and_pull_refreshes_it() {
    let d = Daemon::start();
    let reg = Registry::start();
    let name = format!("127.0.0.1:{}/bb:1", reg.1);
    ok(d.berth(&["tag", "busybox", &name]));
    ok(d.berth(&["push", &name]));
    ok(d.berth(&["rmi", &name]));
    let ctx = context(
        &d,
        "pull",
        &[(
            "Dockerfile",
            &format!("FROM {name}\nRUN cat /marker 2>/dev/null || echo none\n"),
        )],
    );
    let out = ok(d.berth(&["build", "-t", "pulled:1", s(&ctx)]));
    assert!(out.contains("none\n"), "{out}");
    ok(d.berth(&["image", "inspect", &name]));
    // A newer image under the same tag: used only with --pull.
    let newer = context(
        &d,
        "newer",
        &[("Dockerfile", "FROM busybox\nRUN echo newer > /marker\n")],
    );
    ok(d.berth(&["build", "-t", &name, s(&newer)]));
    ok(d.berth(&["push", &name]));
    ok(d.berth(&["tag", "busybox", &name]));
    let out = ok(d.berth(&["build", "-t", "pulled:2", s(&ctx)]));
    assert!(
        out.contains("none\n") || out.contains("Using cache"),
        "{out}"
    );
    let out = ok(d.docker(&["build", "--pull", "-t", "pulled:3", s(&ctx)]));
    assert!(out.contains("newer\n"), "{out}");
}

/// A `berth registry` (no auth) on a free port under the daemon's directory.
fn berth_registry(d: &Daemon) -> registry_support::RegistryProc {
    let dir = d.dir.path().join("berth-registry");
    std::fs::create_dir_all(&dir).unwrap();
    let port = registry_support::free_port();
    registry_support::RegistryProc::start(
        &dir,
        port,
        &format!(
            "addr: 127.0.0.1:{port}\nroot: {}\n",
            dir.join("data").display()
        ),
    )
}

/// An uncompressed layer tar with `files` (path, content, mode).
fn layer_tar(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(1_600_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Pushes `repo:tag` to `addr` as an OCI index with one single-layer Linux image per
/// (architecture, layer tar), through the distribution API.
fn push_index(addr: std::net::SocketAddr, repo: &str, tag: &str, images: &[(&str, Vec<u8>)]) {
    use registry_support::{http, sha256};
    let blob = |bytes: &[u8]| {
        let d = sha256(bytes);
        let (status, _, body) = http(
            addr,
            "POST",
            &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            &[("Content-Type", "application/octet-stream")],
            bytes,
        )
        .unwrap();
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        d
    };
    let manifest = |reference: &str, media_type: &str, bytes: &[u8]| {
        let (status, _, body) = http(
            addr,
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            bytes,
        )
        .unwrap();
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    };
    let mut entries = Vec::new();
    for (arch, layer) in images {
        let ld = blob(layer);
        let config = serde_json::json!({"architecture": arch, "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [ld]},
            "history": [{"created_by": format!("layer for {arch}")}]})
        .to_string();
        let cd = blob(config.as_bytes());
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}]})
        .to_string();
        let md = sha256(m.as_bytes());
        manifest(
            &md,
            "application/vnd.oci.image.manifest.v1+json",
            m.as_bytes(),
        );
        entries.push(
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": m.len(), "platform": {"architecture": arch, "os": "linux"}}),
        );
    }
    let index = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
    .to_string();
    manifest(
        tag,
        "application/vnd.oci.image.index.v1+json",
        index.as_bytes(),
    );
}

/// The first 64 bytes of an aarch64 ELF executable: what the kernel refuses on x86_64 with
/// ENOEXEC ("exec format error").
fn aarch64_elf_header() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little endian
    h[6] = 1; // version
    h[16] = 2; // ET_EXEC
    h[18] = 183; // EM_AARCH64
    h[20] = 1;
    h[32] = 64; // e_phoff
    h[52] = 64; // e_ehsize
    h[54] = 56; // e_phentsize
    h
}

#[test]
fn from_platform_chooses_the_base_image() {
    assert_eq!(
        std::env::consts::ARCH,
        "x86_64",
        "the test assumes an amd64 host"
    );
    let d = Daemon::start();
    let reg = berth_registry(&d);
    let multi = format!("{}/multi:1", reg.addr);
    push_index(
        reg.addr,
        "multi",
        "1",
        &[
            ("amd64", layer_tar(&[("arch", b"amd64\n", 0o644)])),
            (
                "arm64",
                layer_tar(&[
                    ("arch", b"arm64\n", 0o644),
                    ("bin/sh", &aarch64_elf_header(), 0o755),
                ]),
            ),
        ],
    );

    // FROM --platform picks each stage's manifest from the index; the platform args are
    // predefined in the global scope.
    let df = format!(
        "FROM --platform=linux/arm64 {multi} AS arm\n\
         FROM --platform=$BUILDPLATFORM {multi} AS native\n\
         FROM --platform=$BUILDPLATFORM busybox\n\
         COPY --from=arm /arch /arm.txt\n\
         COPY --from=native /arch /native.txt\n"
    );
    ok(d.berth_stdin(&["build", "-t", "plat:stages", "-"], df.as_bytes()));
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "plat:stages",
            "cat",
            "/arm.txt",
            "/native.txt"
        ])),
        "arm64\namd64\n"
    );

    // `build --platform` (both CLIs): TARGET* follow it, BUILD* stay the host's, a stage
    // without --platform is of the target platform, and so is the image it makes.
    let df = format!(
        "FROM {multi} AS target\n\
         FROM --platform=$BUILDPLATFORM busybox AS tool\n\
         ARG TARGETPLATFORM\nARG TARGETARCH\nARG BUILDPLATFORM\nARG TARGETVARIANT\n\
         RUN echo \"$TARGETPLATFORM $TARGETARCH [$TARGETVARIANT] $BUILDPLATFORM\" > /t\n\
         COPY --from=target /arch /arch\n\
         FROM {multi}\n\
         COPY --from=tool /t /arch /\n"
    );
    let ctx = context(&d, "plat", &[("Dockerfile", &df)]);
    ok(d.berth(&[
        "build",
        "--platform",
        "linux/arm64",
        "-t",
        "plat:arm",
        s(&ctx),
    ]));
    ok(d.docker(&[
        "build",
        "--platform",
        "linux/arm64",
        "-t",
        "plat:arm2",
        s(&ctx),
    ]));
    for t in ["plat:arm", "plat:arm2"] {
        let img = inspect(&d, t);
        assert_eq!(
            (img["Os"].as_str(), img["Architecture"].as_str()),
            (Some("linux"), Some("arm64")),
            "{t}"
        );
    }
    let out = ok(d.berth(&[
        "build",
        "--platform",
        "linux/arm64",
        "--target",
        "tool",
        "-t",
        "plat:tool",
        s(&ctx),
    ]));
    assert!(out.contains("Using cache"), "{out}");
    assert_eq!(
        ok(d.berth(&["run", "--rm", "plat:tool", "cat", "/t", "/arch"])),
        "linux/arm64 arm64 [] linux/amd64\narm64\n"
    );
    assert_eq!(inspect(&d, "plat:tool")["Architecture"], "amd64");

    // FROM scratch gets the target platform too.
    let out = d.berth_stdin(
        &[
            "build",
            "--platform",
            "linux/arm/v7",
            "-t",
            "plat:scratch",
            "-",
        ],
        b"FROM scratch\nLABEL a=b\n",
    );
    ok(out);
    let img = inspect(&d, "plat:scratch");
    assert_eq!(
        (img["Architecture"].as_str(), img["Variant"].as_str()),
        (Some("arm"), Some("v7"))
    );

    // A local image of the platform is used; of another one with nothing to pull: an error
    // naming both platforms.
    let local = format!("{}/only-local:1", reg.addr);
    ok(d.berth(&["tag", "plat:arm", &local]));
    ok(d.berth_stdin(
        &["build", "-t", "plat:local", "-"],
        format!("FROM --platform=linux/arm64 {local}\nLABEL ok=1\n").as_bytes(),
    ));
    assert_eq!(inspect(&d, "plat:local")["Architecture"], "arm64");
    for cli in ["berth", "docker"] {
        let df = format!("FROM --platform=linux/amd64 {local}\nLABEL no=1\n");
        let ctx = context(&d, &format!("mismatch-{cli}"), &[("Dockerfile", &df)]);
        let o = if cli == "berth" {
            d.berth(&["build", s(&ctx)])
        } else {
            d.docker(&["build", s(&ctx)])
        };
        assert_eq!(o.status.code(), Some(1), "{cli}: {}", stdout(&o));
        assert!(
            stderr(&o).contains(&format!(
                "image with reference {local} was found but does not match the specified platform: wanted linux/amd64, actual: linux/arm64"
            )),
            "{cli}: {}",
            stderr(&o)
        );
    }
    // Without a platform the local image serves whatever its platform (the classic builder).
    ok(d.berth_stdin(
        &["build", "-"],
        format!("FROM {local}\nLABEL any=1\n").as_bytes(),
    ));

    // RUN in a stage of a foreign architecture fails at once with the exec error.
    let started = std::time::Instant::now();
    let o = d.berth_stdin(
        &["build", "--force-rm", "-"],
        format!("FROM --platform=linux/arm64 {multi}\nRUN echo never\n").as_bytes(),
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains(
            "exec format error: unknown (the stage's platform linux/arm64 cannot run on this linux/amd64 host)"
        ),
        "{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn copy_link_layers_survive_a_changed_base() {
    let d = Daemon::start();
    let ctx = context(
        &d,
        "link",
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 ARG V\n\
                 RUN echo $V > /base\n\
                 COPY --link app.txt /opt/app/\n\
                 COPY --link --chown=1234:5678 dir /srv/data\n\
                 RUN cat /base /opt/app/app.txt\n",
            ),
            ("app.txt", "app\n"),
            ("dir/one.txt", "one\n"),
        ],
    );
    let layers = |t: &str| -> Vec<String> {
        inspect(&d, t)["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    let out1 = ok(d.berth(&["build", "--build-arg", "V=1", "-t", "link:1", s(&ctx)]));
    assert!(out1.contains("1\napp\n"), "{out1}");
    let out2 = ok(d.berth(&["build", "--build-arg", "V=2", "-t", "link:2", s(&ctx)]));
    assert!(out2.contains("2\napp\n"), "{out2}");
    // The base changed (the RUN re-ran), the --link steps were reused.
    for step in [
        "Step 4/6 : COPY --link app.txt /opt/app/\n ---> Using cache\n",
        "Step 5/6 : COPY --link --chown=1234:5678 dir /srv/data\n ---> Using cache\n",
    ] {
        assert!(out2.contains(step), "missing {step:?} in:\n{out2}");
    }
    assert!(
        !out2.contains("Step 3/6 : RUN echo $V > /base\n ---> Using cache"),
        "{out2}"
    );
    let (l1, l2) = (layers("link:1"), layers("link:2"));
    // busybox, RUN, the two --link layers, the last RUN's (empty) layer.
    assert_eq!(l1.len(), 5, "{l1:?}");
    assert_eq!(l1.len(), l2.len());
    assert_eq!(l1[0], l2[0], "busybox");
    assert_ne!(l1[1], l2[1], "the RUN layer depends on V");
    assert_eq!(l1[2..4], l2[2..4], "the --link layers are the same blobs");
    assert_ne!(inspect(&d, "link:1")["Id"], inspect(&d, "link:2")["Id"]);
    // The files are right, stacked on the new base; created directories are root's (or the
    // --chown owner's) with mode 0755.
    assert_eq!(
        ok(d.berth(&[
            "run",
            "--rm",
            "link:2",
            "sh",
            "-c",
            "cat /base /opt/app/app.txt /srv/data/one.txt; \
             stat -c '%n %u:%g %a' /opt /opt/app /opt/app/app.txt /srv /srv/data /srv/data/one.txt; \
             ls /bin/busybox"
        ])),
        "2\napp\none\n\
         /opt 0:0 755\n/opt/app 0:0 755\n/opt/app/app.txt 0:0 644\n\
         /srv 1234:5678 755\n/srv/data 1234:5678 755\n/srv/data/one.txt 1234:5678 644\n\
         /bin/busybox\n"
    );
    // Unchanged everything: the same image again; a changed file: a new layer.
    let out3 = ok(d.berth(&["build", "--build-arg", "V=2", "-t", "link:3", s(&ctx)]));
    assert_eq!(out3.matches("Using cache").count(), 5, "{out3}");
    assert_eq!(inspect(&d, "link:3")["Id"], inspect(&d, "link:2")["Id"]);
    std::fs::write(ctx.join("app.txt"), "changed\n").unwrap();
    let out4 = ok(d.berth(&["build", "--build-arg", "V=2", "-t", "link:4", s(&ctx)]));
    assert!(out4.contains("2\nchanged\n"), "{out4}");
    let l4 = layers("link:4");
    assert_eq!(l4[1], l2[1]);
    assert_ne!(l4[2], l2[2]);
    assert_eq!(
        l4[3], l2[3],
        "the second --link layer is reused on the new parent"
    );
}

#[test]
fn cache_from_an_image_restores_its_steps() {
    let d = Daemon::start();
    let ctx = context(
        &d,
        "cf",
        &[("Dockerfile", APP), ("hello.txt", "hello file\n")],
    );
    ok(d.berth(&["build", "-t", "cf:1", s(&ctx)]));
    let img = inspect(&d, "cf:1");
    let tar = d.dir.path().join("cf.tar");
    ok(d.berth(&["save", "-o", s(&tar), "cf:1"]));
    // Only the saved image comes back: no intermediate images, no step cache.
    let forget = || {
        for t in ["cf:1", "cf:2"] {
            let _ = d.berth(&["rmi", t]);
        }
        ok(d.berth(&["builder", "prune", "-af"]));
        ok(d.berth(&["load", "-i", s(&tar)]));
        assert_eq!(inspect(&d, "cf:1")["Id"], img["Id"]);
    };
    for cli in ["berth", "docker"] {
        forget();
        let args = ["build", "--cache-from", "cf:1", "-t", "cf:2", s(&ctx)];
        let out = ok(if cli == "berth" {
            d.berth(&args)
        } else {
            d.docker(&args)
        });
        assert_eq!(out.matches(" ---> Using cache").count(), 9, "{cli}: {out}");
        assert!(!out.contains("Running in"), "{cli}: {out}");
        let rebuilt = inspect(&d, "cf:2");
        assert_eq!(rebuilt["RootFS"], img["RootFS"], "{cli}: the same layers");
        assert_eq!(rebuilt["Id"], img["Id"], "{cli}: the same image");
        assert_eq!(rebuilt["Config"], img["Config"], "{cli}");
        assert_eq!(
            ok(d.berth(&["run", "--rm", "cf:2"])),
            "hello from build\n",
            "{cli}"
        );
    }
    // A changed step and everything after it are built again; the steps before still come
    // from the image.
    forget();
    std::fs::write(ctx.join("hello.txt"), "changed\n").unwrap();
    let out = ok(d.berth(&["build", "--cache-from", "cf:1", "-t", "cf:2", s(&ctx)]));
    assert_eq!(out.matches(" ---> Using cache").count(), 4, "{out}");
    assert!(out.contains("hello from build\n"), "{out}");
    // Without --cache-from nothing is reused.
    std::fs::write(ctx.join("hello.txt"), "hello file\n").unwrap();
    forget();
    let out = ok(d.berth(&["build", "-t", "cf:2", s(&ctx)]));
    assert_eq!(out.matches(" ---> Using cache").count(), 0, "{out}");
}

/// The `written=` and `read=` (bytes read back to compare) of the daemon's last "build
/// context unpacked" line.
fn last_unpack(d: &Daemon) -> (u64, u64) {
    let log = d.log();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("build context unpacked"))
        .unwrap_or_else(|| panic!("no unpack line in the log:\n{log}"));
    let field = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {line}"))
    };
    (field("written="), field("read="))
}

/// Sets a file's mtime back to `t` after a write.
fn set_mtime(p: &Path, t: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn context_digests_catch_same_size_edits_and_survive_a_restart() {
    let mut d = Daemon::start_with(&["--log-level", "info,engine::api::build=debug"]);
    let ctx = context(
        &d,
        "dig",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY data/ /data/\nRUN cat /data/a /data/b\n",
            ),
            ("data/a", "aaaa\n"),
            ("data/b", "bbbb\n"),
        ],
    );
    let a = ctx.join("data/a");
    let t = std::fs::metadata(&a).unwrap().modified().unwrap();
    let out = ok(d.berth(&["build", "-t", "dig:1", s(&ctx)]));
    assert!(out.contains("aaaa\nbbbb\n"), "{out}");
    // Unchanged: every step cached, no file rewritten or read back (compared by digest).
    let out = ok(d.berth(&["build", "-t", "dig:1", s(&ctx)]));
    assert_eq!(out.matches(" ---> Using cache").count(), 2, "{out}");
    assert_eq!(last_unpack(&d), (0, 0));

    // One byte changed, same size, mtime put back: the COPY and the RUN run again.
    std::fs::write(&a, "aaab\n").unwrap();
    set_mtime(&a, t);
    let out = ok(d.docker(&["build", "-t", "dig:2", s(&ctx)]));
    assert_eq!(out.matches(" ---> Using cache").count(), 0, "{out}");
    assert!(out.contains("aaab\nbbbb\n"), "{out}");
    assert_eq!(last_unpack(&d), (1, 0));

    // After a restart the kept context and its digests are used as they are.
    d.kill9();
    d.spawn();
    let out = ok(d.berth(&["build", "-t", "dig:2", s(&ctx)]));
    assert_eq!(out.matches(" ---> Using cache").count(), 2, "{out}");
    assert_eq!(last_unpack(&d), (0, 0));
    std::fs::write(&a, "aaac\n").unwrap();
    set_mtime(&a, t);
    let out = ok(d.berth(&["build", "-t", "dig:3", s(&ctx)]));
    assert!(out.contains("aaac\nbbbb\n"), "{out}");
    assert_eq!(out.matches(" ---> Using cache").count(), 0, "{out}");

    // A kept file changed behind the daemon's back (size and mtime kept) is neither
    // trusted nor left: its stat no longer matches its digest, so the unpack compares its
    // bytes and puts the context's back, and the image gets the context's content.
    let kept = d.root().join("builder/contexts/reuse/ctx/data/b");
    let kept_t = std::fs::metadata(&kept).unwrap().modified().unwrap();
    std::fs::write(&kept, "bbbX\n").unwrap();
    set_mtime(&kept, kept_t);
    let out = ok(d.berth(&["build", "-t", "dig:4", s(&ctx)]));
    assert_eq!(out.matches(" ---> Using cache").count(), 2, "{out}");
    assert_eq!(last_unpack(&d), (1, 5));
    assert_eq!(
        ok(d.berth(&["run", "--rm", "dig:4", "cat", "/data/b"])),
        "bbbb\n"
    );
}

/// `rmi` of a built image takes its untagged intermediate images along, as dockerd does
/// (`noprune` keeps them); found by `tests/parity/run.sh`.
#[test]
fn rmi_of_a_built_image_deletes_its_intermediate_images() {
    let d = Daemon::start();
    let ctx = context(
        &d,
        "chain",
        &[(
            "Dockerfile",
            "FROM busybox\nENV A=1\nRUN echo x > /f\nCMD [\"cat\", \"/f\"]\n",
        )],
    );
    let all = |d: &Daemon| {
        ok(d.docker(&["images", "-aq", "--no-trunc"]))
            .lines()
            .count()
    };
    let base = all(&d);
    ok(d.docker(&["build", "-t", "chain:1", s(&ctx)]));
    assert_eq!(all(&d), base + 3);
    let out = ok(d.docker(&["rmi", "chain:1"]));
    assert_eq!(out.matches("Deleted: sha256:").count(), 3, "{out}");
    assert_eq!(all(&d), base);
    // A tagged base stays, and so does everything with --no-prune.
    ok(d.docker(&["build", "-t", "chain:2", s(&ctx)]));
    let out = ok(d.docker(&["rmi", "--no-prune", "chain:2"]));
    assert_eq!(out.matches("Deleted: sha256:").count(), 1, "{out}");
    assert_eq!(all(&d), base + 2);
    ok(d.docker(&["image", "inspect", "busybox"]));
}
