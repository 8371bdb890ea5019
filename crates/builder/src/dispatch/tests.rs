//! Config effects and history text, one test per rule of reference §3.2, §4, §8, §9.

use std::collections::BTreeMap;

use super::*;
use crate::parse::parse;
use crate::scope::ArgScope;

fn state_with(base: ContainerConfig, build_args: &[(&str, &str)]) -> StageState {
    let args = ArgScope::new(
        build_args
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect(),
        Vec::new(),
    );
    StageState::new(base, args, '\\')
}

/// Dispatches every line of `src` (no FROM) and returns the steps.
fn run(state: &mut StageState, src: &str) -> Vec<Step> {
    let d = parse("Dockerfile", src).unwrap();
    d.instructions
        .iter()
        .map(|i| {
            state
                .dispatch(i)
                .unwrap_or_else(|e| panic!("{}: {e}", i.original))
        })
        .collect()
}

fn fresh(src: &str) -> (StageState, Vec<Step>) {
    let mut s = state_with(ContainerConfig::default(), &[]);
    let steps = run(&mut s, src);
    (s, steps)
}

fn dispatch_err(src: &str) -> String {
    let mut s = state_with(ContainerConfig::default(), &[]);
    let d = parse("Dockerfile", src).unwrap();
    let mut last = None;
    for i in &d.instructions {
        if let Err(e) = s.dispatch(i) {
            last = Some(e.to_string());
            break;
        }
    }
    last.expect("an error")
}

fn created_by(step: &Step) -> String {
    match step {
        Step::Metadata(m) => m.history.created_by.clone().unwrap(),
        Step::Run(r) => r.created_by.clone(),
        Step::Workdir(w) => w.created_by.clone(),
        Step::Copy(c) => c.created_by("file:abc"),
    }
}

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn default_path_is_added_when_missing() {
    // "Every stage's config gets PATH=... appended to Env if the base has no PATH — including
    // FROM scratch."
    let s = state_with(ContainerConfig::default(), &[]);
    assert_eq!(s.config.env, Some(vec![DEFAULT_PATH.to_string()]));
    let base = ContainerConfig {
        env: Some(sv(&["PATH=/x", "A=1"])),
        ..ContainerConfig::default()
    };
    assert_eq!(
        state_with(base, &[]).config.env,
        Some(sv(&["PATH=/x", "A=1"]))
    );
}

#[test]
fn cmd_entrypoint_table() {
    // Reference §4 "CMD and ENTRYPOINT" table, row by row.
    let cfg = |src: &str| fresh(src).0.config;
    let c = cfg("CMD echo a $HOME");
    assert_eq!(
        (c.entrypoint, c.cmd),
        (None, Some(sv(&["/bin/sh", "-c", "echo a $HOME"])))
    );
    let c = cfg(r#"CMD ["echo","a","$HOME"]"#);
    assert_eq!(c.cmd, Some(sv(&["echo", "a", "$HOME"])));
    let c = cfg("ENTRYPOINT echo e");
    assert_eq!(
        (c.entrypoint, c.cmd),
        (Some(sv(&["/bin/sh", "-c", "echo e"])), None)
    );
    let c = cfg("ENTRYPOINT echo e\nCMD [\"c\"]");
    assert_eq!((c.entrypoint.unwrap().len(), c.cmd), (3, Some(sv(&["c"]))));
    let c = cfg("ENTRYPOINT [\"echo\"]\nCMD echo c");
    assert_eq!(
        (c.entrypoint, c.cmd),
        (Some(sv(&["echo"])), Some(sv(&["/bin/sh", "-c", "echo c"])))
    );
    let c = cfg("CMD []");
    assert_eq!(c.cmd, Some(vec![]));
    let c = cfg("ENTRYPOINT []\nCMD [\"echo\",\"x\"]");
    assert_eq!((c.entrypoint, c.cmd), (None, Some(sv(&["echo", "x"]))));
    let c = cfg("ENTRYPOINT \"\"");
    assert_eq!(c.entrypoint, Some(sv(&["/bin/sh", "-c", "\"\""])));
    let c = cfg("CMD");
    assert_eq!(c.cmd, Some(sv(&["/bin/sh", "-c"])));
}

#[test]
fn entrypoint_inheritance_rules() {
    // "Setting ENTRYPOINT clears a Cmd inherited from the base image or parent stage."
    let base = ContainerConfig {
        cmd: Some(sv(&["sh"])),
        entrypoint: Some(sv(&["/ep"])),
        ..ContainerConfig::default()
    };
    let mut s = state_with(base.clone(), &[]);
    run(&mut s, "ENTRYPOINT [\"x\"]");
    assert_eq!(s.config.cmd, None);
    // "A CMD written earlier in the same stage survives a later ENTRYPOINT"
    let mut s = state_with(base.clone(), &[]);
    run(&mut s, "CMD [\"a\"]\nENTRYPOINT [\"echo\",\"ep\"]");
    assert_eq!(s.config.cmd, Some(sv(&["a"])));
    // "A child that only sets CMD keeps the inherited Entrypoint."
    let mut s = state_with(base, &[]);
    run(&mut s, "CMD [\"b\"]");
    assert_eq!(s.config.entrypoint, Some(sv(&["/ep"])));
}

#[test]
fn shell_forms_use_current_shell() {
    // "SHELL [\"/bin/sh\",\"-ec\"] then CMD echo a stores [\"/bin/sh\",\"-ec\",\"echo a\"]"
    // and "#(nop)  SHELL [/bin/sh -xc], and later entries use the new shell as prefix"
    let (s, steps) = fresh("SHELL [\"/bin/sh\",\"-ec\"]\nCMD echo a\nRUN echo b");
    assert_eq!(s.config.cmd, Some(sv(&["/bin/sh", "-ec", "echo a"])));
    assert_eq!(s.config.shell, Some(sv(&["/bin/sh", "-ec"])));
    assert_eq!(
        created_by(&steps[0]),
        "/bin/sh -ec #(nop)  SHELL [/bin/sh -ec]"
    );
    assert_eq!(
        created_by(&steps[1]),
        r#"/bin/sh -ec #(nop)  CMD ["/bin/sh" "-ec" "echo a"]"#
    );
    let Step::Run(r) = &steps[2] else { panic!() };
    assert_eq!(r.argv, sv(&["/bin/sh", "-ec", "echo b"]));
}

#[test]
fn env_same_line_rule_and_quoting() {
    // "ENV A=2 L=$A after ENV A=1 gives L=1"
    let (s, steps) = fresh(
        "ENV A=1\nENV A=2 L=$A\nENV B=\"two words\" C=three\\ words D='$A'\nENV E four five $A",
    );
    let env = s.config.env.unwrap();
    assert_eq!(
        env,
        sv(&[
            DEFAULT_PATH,
            "A=2",
            "L=1",
            "B=two words",
            "C=three words",
            "D=$A",
            "E=four five 2"
        ])
    );
    // "Redefining a key replaces it in place"; history "ENV E=2 (after substitution)"
    assert_eq!(created_by(&steps[1]), "/bin/sh -c #(nop)  ENV A=2 L=1");
    assert_eq!(
        created_by(&steps[3]),
        "/bin/sh -c #(nop)  ENV E=four five 2"
    );
}

#[test]
fn arg_scope_substitution_and_env_precedence() {
    // "Variables come from ENV values so far plus ARG values in scope; an ENV of the same
    // name wins over an ARG."
    let mut s = state_with(ContainerConfig::default(), &[("V", "b")]);
    let steps = run(
        &mut s,
        "LABEL before=$V\nARG V=1\nLABEL after=$V\nENV V=env\nLABEL env=$V\nARG W=${V}x",
    );
    let labels = s.config.labels.clone().unwrap();
    assert_eq!(labels["before"], "");
    assert_eq!(labels["after"], "b");
    assert_eq!(labels["env"], "env");
    assert_eq!(created_by(&steps[1]), "/bin/sh -c #(nop)  ARG V=1");
    assert_eq!(created_by(&steps[5]), "/bin/sh -c #(nop)  ARG W=envx");
    // "ARG values are not persisted in Env"
    assert!(!s.config.env.unwrap().iter().any(|e| e.starts_with("W=")));
}

#[test]
fn run_history_with_build_args() {
    // "RUN echo $V > /v with ARG V in scope | |1 V=1 /bin/sh -c echo $V > /v"
    let (_, steps) = fresh("ARG V=1\nRUN echo $V > /v\nRUN [\"true\"]");
    assert_eq!(created_by(&steps[1]), "|1 V=1 /bin/sh -c echo $V > /v");
    assert_eq!(created_by(&steps[2]), "|1 V=1 true");
    let (_, steps) = fresh("RUN echo hi > /x");
    assert_eq!(created_by(&steps[0]), "/bin/sh -c echo hi > /x");
    let Step::Run(r) = &steps[0] else { panic!() };
    assert_eq!(r.working_dir, "/");
    // "Predefined proxy args ... (History of such a RUN begins with |0 )"
    let mut s = state_with(ContainerConfig::default(), &[("HTTP_PROXY", "p")]);
    let steps = run(&mut s, "RUN true");
    assert_eq!(created_by(&steps[0]), "|0 /bin/sh -c true");
    let Step::Run(r) = &steps[0] else { panic!() };
    assert!(r.env.contains(&"HTTP_PROXY=p".to_string()));
    // "RUN, CMD, ENTRYPOINT ... not substituted by the builder"
    let Step::Run(r) = &fresh("ENV X=1\nRUN echo $X").1[1] else {
        panic!()
    };
    assert_eq!(r.argv[2], "echo $X");
    assert!(r.env.contains(&"X=1".to_string()));
}

#[test]
fn run_heredocs() {
    let (_, steps) = fresh("ENV X=1\nRUN <<EOF\necho $X\nEOF\nRUN <<EOF\n#!/bin/sh\necho hi\nEOF\nRUN cat <<A > /f\nbody\nA\n");
    let Step::Run(r) = &steps[1] else { panic!() };
    assert_eq!(r.argv, sv(&["/bin/sh", "-c", "echo $X\n"]));
    let Step::Run(r) = &steps[2] else { panic!() };
    assert_eq!(r.argv, sv(&["/bin/sh", "-c", "/dev/pipes/EOF"]));
    assert_eq!(r.script.as_ref().unwrap().data, "#!/bin/sh\necho hi\n");
    let Step::Run(r) = &steps[3] else { panic!() };
    assert_eq!(r.argv[2], "cat <<A > /f\nbody\nA");
}

#[test]
fn copy_substitution_dest_and_heredoc() {
    // "COPY/ADD (sources, destination, --chown value)" are substituted; "A relative destination
    // is relative to WorkingDir"
    let (_, steps) = fresh("ENV D=dst U=1 F=a.txt\nWORKDIR /w\nCOPY --chown=$U:2 --from=$D $F ${D}/\nADD <<EOF rel\nv=$U\nEOF\nCOPY x .\n");
    let Step::Copy(c) = &steps[2] else { panic!() };
    assert_eq!(c.sources, vec![CopySource::Path("a.txt".into())]);
    assert_eq!(c.dest, "/w/dst/");
    assert_eq!(c.chown.as_deref(), Some("1:2"));
    assert_eq!(c.from.as_deref(), Some("$D"));
    // "COPY --chown=1:2 a /c | ... COPY --chown=1:2file:<sha256> in /c "; the destination as
    // written (dockerd 20.10 prints `COPY file:<hex> in . ` for `COPY f .`).
    assert_eq!(
        c.created_by("file:abc"),
        "/bin/sh -c #(nop) COPY --chown=1:2file:abc in dst/ "
    );
    let Step::Copy(c) = &steps[3] else { panic!() };
    assert!(c.add);
    assert_eq!(
        c.sources,
        vec![CopySource::Inline(InlineFile {
            name: "EOF".into(),
            data: "v=1\n".into(),
            mode: 0o644
        })]
    );
    assert_eq!(c.dest, "/w/rel");
    let Step::Copy(c) = &steps[4] else { panic!() };
    assert_eq!(c.dest, "/w");
    assert_eq!(c.created_by("dir:x"), "/bin/sh -c #(nop) COPY dir:x in . ");
}

#[test]
fn workdir_resolution() {
    // "WORKDIR a, WORKDIR b, WORKDIR ../c → /a/c"; "/bin/sh -c #(nop) WORKDIR /w (one blank)"
    let (s, steps) = fresh("WORKDIR a\nWORKDIR b\nWORKDIR ../c\nENV P=/x\nWORKDIR $P/y/");
    assert_eq!(s.config.working_dir.as_deref(), Some("/x/y"));
    let Step::Workdir(w) = &steps[2] else {
        panic!()
    };
    assert_eq!(w.path, "/a/c");
    assert_eq!(w.created_by, "/bin/sh -c #(nop) WORKDIR /a/c");
}

#[test]
fn expose_ports() {
    // "EXPOSE 80 443/tcp 53/udp 7000-7002 → keys ..."; "EXPOSE 80:80 ... records 80/tcp";
    // the history shows the words as moby's parser sorted them (`$P` sorts first);
    // "EXPOSE abc → Invalid containerPort: abc"
    let (s, steps) = fresh("ENV P=\"8080 9090\"\nEXPOSE 80 443/tcp 53/udp 7000-7002 81:82 $P");
    let keys: Vec<String> = s.config.exposed_ports.unwrap().into_keys().collect();
    assert_eq!(
        keys,
        sv(&[
            "443/tcp", "53/udp", "7000/tcp", "7001/tcp", "7002/tcp", "80/tcp", "8080/tcp",
            "82/tcp", "9090/tcp"
        ])
    );
    assert_eq!(
        created_by(&steps[1]),
        "/bin/sh -c #(nop)  EXPOSE 8080 9090 443/tcp 53/udp 7000-7002 80 81:82"
    );
    assert_eq!(dispatch_err("EXPOSE abc"), "Invalid containerPort: abc");
    assert_eq!(dispatch_err("EXPOSE 80/xyz"), "invalid proto: xyz");
}

#[test]
fn user_volume_stopsignal_maintainer_label() {
    // "USER ... stored verbatim (after substitution)", "VOLUME /data → #(nop)  VOLUME [/data]",
    // "STOPSIGNAL ... Invalid: Invalid signal: bogus", "MAINTAINER sets author"
    let (s, steps) = fresh("ENV U=1234\nUSER $U:$U\nVOLUME /data $U\nVOLUME [\"/j\"]\nSTOPSIGNAL SIGQUIT\nMAINTAINER me\nLABEL a=b \"c d\"='e $U'");
    assert_eq!(s.config.user.as_deref(), Some("1234:1234"));
    let vols: Vec<String> = s.config.volumes.clone().unwrap().into_keys().collect();
    assert_eq!(vols, sv(&["/data", "/j", "1234"]));
    assert_eq!(s.config.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(s.author.as_deref(), Some("me"));
    assert_eq!(s.config.labels.as_ref().unwrap()["c d"], "e $U");
    assert_eq!(created_by(&steps[1]), "/bin/sh -c #(nop)  USER 1234:1234");
    assert_eq!(
        created_by(&steps[2]),
        "/bin/sh -c #(nop)  VOLUME [/data 1234]"
    );
    assert_eq!(
        created_by(&steps[4]),
        "/bin/sh -c #(nop)  STOPSIGNAL SIGQUIT"
    );
    assert_eq!(created_by(&steps[5]), "/bin/sh -c #(nop)  MAINTAINER me");
    assert_eq!(
        created_by(&steps[6]),
        "/bin/sh -c #(nop)  LABEL a=b c d=e $U"
    );
    for m in &steps {
        if let Step::Metadata(m) = m {
            assert_eq!(m.history.empty_layer, Some(true));
        }
    }
    assert_eq!(dispatch_err("STOPSIGNAL bogus"), "Invalid signal: bogus");
    assert!(valid_signal("9") && valid_signal("sigrtmin+3") && valid_signal("TERM"));
    assert!(!valid_signal("0") && !valid_signal("RTMIN+16"));
    assert_eq!(
        dispatch_err("ENV X=${Y-z}"),
        "failed to process \"${Y-z}\": missing ':' in substitution"
    );
}

#[test]
fn cmd_history_text() {
    // "CMD [\"sh\"] | #(nop)  CMD [\"sh\"] (shell form: CMD [\"/bin/sh\" \"-c\" \"echo hi\"])"
    let (_, steps) = fresh("CMD [\"cat\",\"/x\"]\nCMD echo hi\nENTRYPOINT [\"a\"]\nENTRYPOINT []");
    assert_eq!(
        created_by(&steps[0]),
        r#"/bin/sh -c #(nop)  CMD ["cat" "/x"]"#
    );
    assert_eq!(
        created_by(&steps[1]),
        r#"/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo hi"]"#
    );
    assert_eq!(
        created_by(&steps[2]),
        r#"/bin/sh -c #(nop)  ENTRYPOINT ["a"]"#
    );
    assert_eq!(created_by(&steps[3]), "/bin/sh -c #(nop)  ENTRYPOINT []");
}

#[test]
fn healthcheck_config_history_and_inheritance() {
    // "HEALTHCHECK &{[\"CMD\" \"true\"] \"3s\" \"0s\" \"0s\" '\x00'}"
    let (s, steps) = fresh("HEALTHCHECK --interval=3s CMD [\"true\"]");
    assert_eq!(
        created_by(&steps[0]),
        r#"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD" "true"] "3s" "0s" "0s" '\x00'}"#
    );
    let hc = s.config.healthcheck.clone().unwrap();
    assert_eq!(hc.test, sv(&["CMD", "true"]));
    assert_eq!(hc.interval, Some(3_000_000_000));
    // "a child HEALTHCHECK (or NONE) that leaves options unset keeps the parent's ..."
    // and "Overriding an inherited check prints Note: overriding previous HEALTHCHECK: [...]"
    let base = ContainerConfig {
        healthcheck: Some(Healthcheck {
            test: sv(&["CMD-SHELL", "curl x"]),
            interval: Some(5),
            retries: Some(2),
            ..Healthcheck::default()
        }),
        ..ContainerConfig::default()
    };
    let mut s = state_with(base, &[]);
    let steps = run(&mut s, "HEALTHCHECK --retries=4 CMD true");
    let Step::Metadata(m) = &steps[0] else {
        panic!()
    };
    assert_eq!(
        m.note.as_deref(),
        Some("Note: overriding previous HEALTHCHECK: [CMD-SHELL curl x]")
    );
    let hc = s.config.healthcheck.clone().unwrap();
    assert_eq!((hc.interval, hc.retries), (Some(5), Some(4)));
    assert_eq!(hc.test, sv(&["CMD-SHELL", "true"]));
    run(&mut s, "HEALTHCHECK NONE");
    assert_eq!(s.config.healthcheck.unwrap().test, sv(&["NONE"]));
}

#[test]
fn onbuild_stored_unsubstituted_and_triggers_taken() {
    // "Stores the trigger text (unsubstituted) in Config.OnBuild"; "the child's own OnBuild
    // list is reset"
    let (s, steps) = fresh("ENV X=1\nONBUILD RUN echo $X");
    assert_eq!(s.config.on_build, Some(sv(&["RUN echo $X"])));
    assert_eq!(
        created_by(&steps[1]),
        "/bin/sh -c #(nop)  ONBUILD RUN echo $X"
    );
    let child = StageState::new(s.config, ArgScope::default(), '\\');
    assert_eq!(child.triggers, sv(&["RUN echo $X"]));
    assert_eq!(child.config.on_build, None);
    let mut child = child;
    let triggers = child.trigger_instructions("Dockerfile", 1).unwrap();
    let Step::Run(r) = child.dispatch(&triggers[0]).unwrap() else {
        panic!()
    };
    assert_eq!(r.argv[2], "echo $X");
}

#[test]
fn stage_args_do_not_leak_and_labels_merge() {
    // "labels from the base image are inherited"; "later values override earlier ones"
    let base = ContainerConfig {
        labels: Some(BTreeMap::from([("a".to_string(), "base".to_string())])),
        ..ContainerConfig::default()
    };
    let mut s = state_with(base, &[]);
    run(&mut s, "LABEL b=1\nLABEL b=2");
    let l = s.config.labels.unwrap();
    assert_eq!((l["a"].as_str(), l["b"].as_str()), ("base", "2"));
}

#[test]
fn helpers() {
    assert_eq!(resolve_workdir("", "a"), "/a");
    assert_eq!(resolve_workdir("/a/b", "../../.."), "/");
    assert_eq!(normalize_dest("/w", "x/"), "/w/x/");
    assert_eq!(normalize_dest("", "."), "/");
    assert_eq!(normalize_dest("/w", "/abs/../x"), "/abs/../x");
    assert_eq!(
        port_keys(&sv(&["1.2.3.4:80:81/udp"])).unwrap(),
        sv(&["81/udp"])
    );
    assert!(port_keys(&sv(&["9-1"])).is_err());
}
