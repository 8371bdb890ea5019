//! Parser tests, one per rule of reference §2 and the parse-time rules of §4.

use super::*;

fn p(src: &str) -> Dockerfile {
    parse("Dockerfile", src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

fn err(src: &str) -> String {
    parse("Dockerfile", src).unwrap_err().to_string()
}

fn only(src: &str) -> Command {
    let d = p(src);
    assert_eq!(d.instructions.len(), 1, "{src:?}");
    d.instructions[0].command.clone()
}

#[test]
fn keywords_are_case_insensitive_and_original_is_kept() {
    // "Instruction keywords are case-insensitive (from, Run); leading blanks before the
    // keyword are allowed." / "Step 1/4 : from busybox:latest"
    let d = p("from busybox:latest\n   Run echo hi\n");
    assert_eq!(d.instructions[0].original, "from busybox:latest");
    assert!(matches!(d.instructions[0].command, Command::From(_)));
    assert_eq!(d.instructions[1].line, 2);
    assert_eq!(d.instructions[1].original, "Run echo hi");
}

#[test]
fn comments_and_hash_elsewhere() {
    // "A line whose first non-blank character is # is a comment ... A # elsewhere is
    // ordinary text (it goes to the shell in RUN)."
    let d = p("# c\n  # indented\nFROM a\nRUN echo a # not a comment\n");
    assert_eq!(d.instructions.len(), 2);
    assert_eq!(
        d.instructions[1].command,
        Command::Run(RunCmd {
            cmd: ShellOrExec::Shell("echo a # not a comment".into()),
            mounts: vec![],
            network: None
        })
    );
}

#[test]
fn continuation_keeps_next_line_leading_blanks() {
    // "RUN echo a \ + '   b' gives 'echo a    b'"
    let d = p("FROM a\nRUN echo a \\\n   b\n");
    assert_eq!(d.instructions[1].original, "RUN echo a    b");
    assert_eq!(d.instructions[1].line, 2);
    assert_eq!(d.instructions[1].end_line, 3);
    // Blanks after the escape still make a continuation.
    assert_eq!(
        p("FROM a\nRUN a\\  \nb\n").instructions[1].original,
        "RUN ab"
    );
}

#[test]
fn comment_lines_inside_continuation_are_dropped() {
    // "Comment lines inside a continuation are dropped entirely."
    let d = p("FROM a\nRUN echo a \\\n# comment\n  b\n");
    assert_eq!(d.instructions[1].original, "RUN echo a   b");
    assert!(d.warnings.is_empty());
}

#[test]
fn empty_continuation_lines_warn() {
    // "[WARNING]: Empty continuation line found in: ... Empty continuation lines will become
    // errors in a future release."
    let d = p("FROM a\nRUN echo a \\\n\n  b\n");
    assert_eq!(d.instructions[1].original, "RUN echo a   b");
    assert_eq!(
        d.warnings[0],
        "[WARNING]: Empty continuation line found in:"
    );
    assert_eq!(d.warnings[1], "    RUN echo a   b");
    assert_eq!(
        d.warnings[2],
        "[WARNING]: Empty continuation lines will become errors in a future release."
    );
    let d = p("FROM a\nRUN a \\\n\n b\nRUN c \\\n \n d\n");
    assert_eq!(d.warnings.len(), 5);
    assert_eq!(d.warnings[3], "    RUN c  d");
}

#[test]
fn empty_file_error() {
    // "A file with no instructions: the Dockerfile (Dockerfile) cannot be empty"
    assert_eq!(err(""), "the Dockerfile (Dockerfile) cannot be empty");
    assert_eq!(
        err("# only\n\n  \n"),
        "the Dockerfile (Dockerfile) cannot be empty"
    );
    let e = parse("app.Dockerfile", "\\\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "the Dockerfile (app.Dockerfile) cannot be empty"
    );
    assert_eq!(e.file(), "app.Dockerfile");
}

#[test]
fn escape_directive_at_top_only() {
    // "# escape=` makes the backtick the escape and continuation character; backslashes
    // become literal"
    let d = p("# escape=`\nFROM a\nRUN echo a `\n  b\nENV P=C:\\dir\n");
    assert_eq!(d.directives.escape, '`');
    assert_eq!(d.instructions[1].original, "RUN echo a   b");
    // "a directive after a plain comment was ignored and the backtick continuation then
    // failed with unknown instruction: B"
    let e = err("# hello\n# escape=`\nFROM a\nRUN echo a `\nb\n");
    assert_eq!(e, "dockerfile parse error line 5: unknown instruction: B");
    // A blank line ends the directives too.
    assert_eq!(p("\n# escape=`\nFROM a\n").directives.escape, '\\');
    assert_eq!(
        err("# escape=x\nFROM a\n"),
        "dockerfile parse error line 1: invalid escape token 'x' does not match ` or \\"
    );
    assert!(err("# escape=`\n# escape=\\\nFROM a\n").contains("only one escape parser directive"));
    assert!(err("# syntax=a\n# syntax=b\nFROM a\n").contains("only one syntax parser directive"));
    // `# escape=` with no value is an ordinary comment.
    assert_eq!(p("# escape=\nFROM a\n").directives.escape, '\\');
}

#[test]
fn syntax_directive_is_recorded() {
    // "# syntax= selects a BuildKit frontend image; the classic builder ignores it."
    let d = p("# syntax=docker/dockerfile:1\n# Escape = `\nFROM a\n");
    assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(d.directives.escape, '`');
}

#[test]
fn bom_and_crlf() {
    let d = p("\u{feff}FROM a\r\nRUN b\r\n");
    assert_eq!(d.instructions[0].original, "FROM a");
    assert_eq!(d.instructions[1].original, "RUN b");
}

#[test]
fn exec_form_and_silent_shell_fallback() {
    // "CMD ['cat','/x'] stores [\"/bin/sh\",\"-c\",\"['cat','/x']\"]"
    assert_eq!(
        only("CMD ['cat','/x']"),
        Command::Cmd(ShellOrExec::Shell("['cat','/x']".into()))
    );
    assert_eq!(
        only(r#"CMD ["cat", "/x"]"#),
        Command::Cmd(ShellOrExec::Exec(vec!["cat".into(), "/x".into()]))
    );
    assert_eq!(
        only(r#"ENTRYPOINT ["a",]"#),
        Command::Entrypoint(ShellOrExec::Shell(r#"["a",]"#.into()))
    );
    assert_eq!(only("CMD []"), Command::Cmd(ShellOrExec::Exec(vec![])));
    assert_eq!(only("CMD"), Command::Cmd(ShellOrExec::Shell(String::new())));
    assert!(err(r#"CMD ["a", 1]"#).contains("arrays must be comprised of strings only"));
}

#[test]
fn volume_mixed_is_shell_form() {
    // "VOLUME /a [\"/b\"] is shell form: it declares /a and the literal path [/b]."
    assert_eq!(
        only(r#"VOLUME /a ["/b"]"#),
        Command::Volume(vec!["/a".into(), r#"["/b"]"#.into()])
    );
    assert_eq!(
        only(r#"VOLUME ["/a", "/b c"]"#),
        Command::Volume(vec!["/a".into(), "/b c".into()])
    );
    // "VOLUME [] and bare VOLUME → VOLUME requires at least one argument"
    assert!(err("VOLUME []").ends_with("VOLUME requires at least one argument"));
    assert!(err("VOLUME").ends_with("VOLUME requires at least one argument"));
}

#[test]
fn unknown_instruction_with_suggestion() {
    // "dockerfile parse error line 1: unknown instruction: FORM (BuildKit adds (did you mean
    // FROM?))"
    assert_eq!(
        err("FORM busybox"),
        "dockerfile parse error line 1: unknown instruction: FORM (did you mean FROM?)"
    );
    assert_eq!(
        err("FROM a\n\nexpse 80"),
        "dockerfile parse error line 3: unknown instruction: EXPSE (did you mean EXPOSE?)"
    );
    assert_eq!(
        err("FROM a\nECHO hi"),
        "dockerfile parse error line 2: unknown instruction: ECHO"
    );
    let e = parse("Dockerfile", "FROM a\nECHO hi").unwrap_err();
    assert_eq!(e.line(), Some(2));
}

#[test]
fn heredocs_are_parsed_buildkit_style() {
    // "BuildKit semantics: the body runs through the shell ...; <<- strips leading tabs;
    // quoting the delimiter disables expansion."
    let d = p("FROM a\nRUN <<EOF\necho $HOME\nEOF\nRUN <<-'X' cat <<Y\n\tone\n\tX\ntwo\nY\nCOPY <<EOF /file\nhi\nEOF\nRUN after\n");
    let run = &d.instructions[1];
    assert_eq!(run.heredocs.len(), 1);
    assert_eq!(run.heredocs[0].content, "echo $HOME\n");
    assert!(run.heredocs[0].expand);
    let two = &d.instructions[2];
    assert_eq!(two.heredocs.len(), 2);
    assert_eq!(two.heredocs[0].name, "X");
    assert!(!two.heredocs[0].expand);
    assert!(two.heredocs[0].chomp);
    assert_eq!(two.heredocs[0].body(), "one\n");
    assert_eq!(two.heredocs[1].content, "two\n");
    let copy = &d.instructions[3];
    assert!(
        matches!(&copy.command, Command::Copy(c) if c.sources == ["<<EOF"] && c.dest == "/file")
    );
    assert_eq!(copy.heredocs[0].content, "hi\n");
    assert_eq!(d.instructions[4].original, "RUN after");
    assert_eq!(d.instructions[4].line, 13);
    assert_eq!(
        err("FROM a\nRUN <<EOF\nno end\n"),
        "dockerfile parse error line 2: unterminated heredoc"
    );
    // Other instructions do not take heredocs.
    assert!(p("FROM a\nCMD <<EOF\n").instructions.len() == 2);
}

#[test]
fn from_forms_and_stage_names() {
    // "FROM [--platform=<p>] <image> [AS <name>]; exactly one or three words otherwise
    // FROM requires either one or three arguments"
    assert_eq!(
        only("FROM --platform=$BUILDPLATFORM golang:1 AS Build-1.x"),
        Command::From(FromCmd {
            image: "golang:1".into(),
            name: Some("build-1.x".into()),
            platform: Some("$BUILDPLATFORM".into()),
        })
    );
    for bad in ["FROM", "FROM a b", "FROM a to b", "FROM a as b c"] {
        assert_eq!(
            err(bad),
            "dockerfile parse error line 1: FROM requires either one or three arguments",
            "{bad}"
        );
    }
    // "invalid name for build stage: \"Bad_Name!\", name can't start with a number or contain
    // symbols"
    assert_eq!(
        err("FROM a AS Bad_Name!"),
        "dockerfile parse error line 1: invalid name for build stage: \"Bad_Name!\", name can't start with a number or contain symbols"
    );
    assert!(err("FROM a AS 1st").contains("invalid name for build stage"));
    assert!(err("FROM --plat=x a").ends_with("Unknown flag: plat"));
}

#[test]
fn run_flags() {
    let c = only("RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked --network=none pip install x");
    let Command::Run(r) = c else { panic!() };
    assert_eq!(r.network, Some(Network::None));
    assert_eq!(r.mounts[0].kind, MountType::Cache);
    assert_eq!(r.mounts[0].target, "/root/.cache");
    assert_eq!(r.mounts[0].id.as_deref(), Some("pip"));
    assert_eq!(r.mounts[0].sharing.as_deref(), Some("locked"));
    assert!(!r.mounts[0].read_only);
    assert_eq!(r.cmd, ShellOrExec::Shell("pip install x".into()));
    let Command::Run(r) = only("RUN --mount=target=/src,from=build --mount=type=secret,id=tok cat")
    else {
        panic!()
    };
    assert_eq!(r.mounts[0].kind, MountType::Bind);
    assert!(r.mounts[0].read_only);
    assert_eq!(r.mounts[1].target, "/run/secrets/tok");
    assert!(err("RUN --network=bridge x").contains("unsupported network mode \"bridge\""));
    assert!(err("RUN --mount=type=nfs,target=/x x").contains("unsupported mount type"));
    assert!(err("RUN --mount=type=cache x").contains("requires a target"));
    assert!(
        err("RUN --mount=type=bind,target=/x,sharing=shared x").contains("invalid cache sharing")
    );
    assert!(err("RUN --mount=target=/x,bogus=1 x").contains("unexpected key 'bogus'"));
    assert!(err("RUN --bogus x").ends_with("Unknown flag: bogus"));
    assert!(err("RUN --network x").ends_with("Missing a value on flag: network"));
}

#[test]
fn env_forms() {
    // "ENV A=1 B=\"two words\" C=three\\ words" / "Legacy ENV k rest of line"
    let Command::Env(kv) = only(r#"ENV A=1 B="two words" C=three\ words"#) else {
        panic!()
    };
    let pairs: Vec<(&str, &str)> = kv
        .iter()
        .map(|k| (k.key.as_str(), k.value.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [("A", "1"), ("B", "\"two words\""), ("C", "three\\ words")]
    );
    let Command::Env(kv) = only("ENV D four five six") else {
        panic!()
    };
    assert_eq!(
        (kv[0].key.as_str(), kv[0].value.as_str()),
        ("D", "four five six")
    );
    // "ENV A (no value) → ENV must have two arguments; ENV A= sets an empty value; bare ENV →
    // ENV requires at least one argument"
    assert!(err("ENV A").ends_with("ENV must have two arguments"));
    assert!(err("ENV").ends_with("ENV requires at least one argument"));
    let Command::Env(kv) = only("ENV A=") else {
        panic!()
    };
    assert_eq!(kv[0].value, "");
    assert!(err("ENV A=1 B").contains("can't find = in \"B\""));
    assert!(err("ENV =1").ends_with("ENV names can not be blank"));
}

#[test]
fn label_and_arg_forms() {
    // "LABEL novalue → LABEL must have two arguments"; "keys may be quoted and contain blanks"
    assert!(err("LABEL novalue").ends_with("LABEL must have two arguments"));
    let Command::Label(kv) = only(r#"LABEL "my key"="v 1" b=2"#) else {
        panic!()
    };
    assert_eq!(kv[0].key, "\"my key\"");
    assert_eq!(kv[1].value, "2");
    // "ARG name[=default]; several per line are accepted."
    let Command::Arg(a) = only("ARG A B=2 C=") else {
        panic!()
    };
    assert_eq!(
        a[0],
        ArgDecl {
            name: "A".into(),
            default: None
        }
    );
    assert_eq!(a[1].default.as_deref(), Some("2"));
    assert_eq!(a[2].default.as_deref(), Some(""));
    assert!(err("ARG").ends_with("ARG requires at least one argument"));
}

#[test]
fn single_argument_instructions() {
    // "Missing argument: WORKDIR requires exactly one argument"
    assert!(err("WORKDIR").ends_with("WORKDIR requires exactly one argument"));
    assert!(err("USER").ends_with("USER requires exactly one argument"));
    assert_eq!(only("WORKDIR /a b"), Command::Workdir("/a b".into()));
    assert_eq!(only("USER a:b:c"), Command::User("a:b:c".into()));
    assert_eq!(
        only("STOPSIGNAL SIGQUIT"),
        Command::StopSignal("SIGQUIT".into())
    );
    assert_eq!(
        only("MAINTAINER Me <me@x>"),
        Command::Maintainer("Me <me@x>".into())
    );
    assert!(err("EXPOSE").ends_with("EXPOSE requires at least one argument"));
    // moby sorts EXPOSE words when it parses them.
    assert_eq!(
        only("EXPOSE 80 53/udp"),
        Command::Expose(vec!["53/udp".into(), "80".into()])
    );
}

#[test]
fn copy_and_add() {
    // "COPY requires at least two arguments, but only one was provided. Destination could
    // not be determined" (moby's errNoDestinationArgument ends the sentence with a period)
    assert_eq!(
        err("COPY x"),
        "dockerfile parse error line 1: COPY requires at least two arguments, but only one was provided. Destination could not be determined."
    );
    assert!(err("ADD x").contains("ADD requires at least two arguments"));
    let Command::Copy(c) = only("COPY --from=build --chown=1:2 --chmod=644 --link a b /d/") else {
        panic!()
    };
    assert_eq!(c.sources, ["a", "b"]);
    assert_eq!(c.dest, "/d/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chown.as_deref(), Some("1:2"));
    assert_eq!(c.chmod.as_deref(), Some("644"));
    assert!(c.link);
    // "JSON form allows blanks: COPY [\"a.txt\", \"/with space\"]"
    let Command::Copy(c) = only(r#"COPY ["a.txt", "/with space"]"#) else {
        panic!()
    };
    assert_eq!(c.dest, "/with space");
    assert!(err("ADD --from=x a b").ends_with("Unknown flag: from"));
    assert!(err("COPY --chown a b").ends_with("Missing a value on flag: chown"));
}

#[test]
fn shell_requires_json() {
    // "Exec form only: SHELL requires the arguments to be in JSON form"
    assert!(err("SHELL /bin/bash -c").ends_with("SHELL requires the arguments to be in JSON form"));
    assert!(err("SHELL []").ends_with("SHELL requires at least one argument"));
    assert_eq!(
        only(r#"SHELL ["/bin/sh","-ec"]"#),
        Command::Shell(vec!["/bin/sh".into(), "-ec".into()])
    );
}

#[test]
fn healthcheck_forms() {
    // "Shell form becomes [\"CMD-SHELL\",\"<text>\"]; exec form [\"CMD\", ...]; NONE → [\"NONE\"]"
    assert_eq!(
        only("HEALTHCHECK NONE"),
        Command::Healthcheck(HealthcheckCmd::None)
    );
    assert_eq!(
        only("HEALTHCHECK --interval=5s --timeout=1m30s --start-period=1ms --start-interval=2s --retries=3 CMD curl -f x"),
        Command::Healthcheck(HealthcheckCmd::Cmd {
            test: vec!["CMD-SHELL".into(), "curl -f x".into()],
            interval: Some(5_000_000_000),
            timeout: Some(90_000_000_000),
            start_period: Some(1_000_000),
            start_interval: Some(2_000_000_000),
            retries: Some(3),
        })
    );
    let Command::Healthcheck(HealthcheckCmd::Cmd { test, interval, .. }) =
        only(r#"healthcheck cmd ["true"]"#)
    else {
        panic!()
    };
    assert_eq!(test, ["CMD", "true"]);
    assert_eq!(interval, None);
    // "--retries=0 → --retries must be at least 1 (not 0); HEALTHCHECK CMD with nothing after
    // → Missing command after HEALTHCHECK CMD; unknown option → Unknown flag: foo"
    assert!(
        err("HEALTHCHECK --retries=0 CMD true").ends_with("--retries must be at least 1 (not 0)")
    );
    assert!(err("HEALTHCHECK CMD").ends_with("Missing command after HEALTHCHECK CMD"));
    assert!(err("HEALTHCHECK --foo=1 CMD true").ends_with("Unknown flag: foo"));
    assert!(err("HEALTHCHECK --interval=abc CMD true").contains("time: invalid duration \"abc\""));
    assert!(err("HEALTHCHECK --interval=1 CMD true").contains("missing unit"));
    // "--interval=1ms was accepted by 20.10"; below the 1ms minimum is refused.
    assert!(err("HEALTHCHECK --timeout=1us CMD true")
        .ends_with("Interval \"timeout\" cannot be less than 1ms"));
    assert!(err("HEALTHCHECK RUN true").contains("Unknown type \"RUN\" in HEALTHCHECK (try CMD)"));
    assert!(err("HEALTHCHECK NONE x").contains("HEALTHCHECK NONE takes no arguments"));
}

#[test]
fn onbuild_rules() {
    // "Not allowed as triggers: ONBUILD ONBUILD (Chaining ONBUILD via `ONBUILD ONBUILD`
    // isn't allowed), FROM and MAINTAINER (<X> isn't allowed as an ONBUILD trigger)"
    assert_eq!(
        only("ONBUILD RUN echo $X"),
        Command::OnBuild(OnBuildCmd {
            expression: "RUN echo $X".into()
        })
    );
    assert!(err("ONBUILD onbuild RUN x")
        .ends_with("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"));
    assert!(err("ONBUILD from a").ends_with("FROM isn't allowed as an ONBUILD trigger"));
    assert!(err("ONBUILD MAINTAINER a").ends_with("MAINTAINER isn't allowed as an ONBUILD trigger"));
    assert!(err("ONBUILD").ends_with("ONBUILD requires at least one argument"));
    let t = parse_line("Dockerfile", 4, "RUN echo hi", '\\').unwrap();
    assert!(matches!(t.command, Command::Run(_)));
    assert!(parse_line("Dockerfile", 4, "NOPE x", '\\')
        .unwrap_err()
        .to_string()
        .contains("line 4"));
}

#[test]
fn go_durations_parse() {
    use super::instruction::parse_go_duration;
    assert_eq!(parse_go_duration("1h2m3.5s").unwrap(), 3_723_500_000_000);
    assert_eq!(parse_go_duration("0").unwrap(), 0);
    assert_eq!(parse_go_duration("1.5us").unwrap(), 1_500);
    assert!(parse_go_duration("").is_err());
    assert!(parse_go_duration("5x")
        .unwrap_err()
        .contains("unknown unit \"x\""));
}
