//! Fuzz-style check that no input panics the pure front half: random bytes and random
//! Dockerfile-like text go through parse → plan → dispatch, substitution and `.dockerignore`
//! matching. Fixed seeds, so failures reproduce; a hand-rolled generator, so no dependency.

use api::image::ContainerConfig;
use builder::dispatch::StageState;
use builder::expand::{expand_heredoc, expand_word, expand_words};
use builder::ignore::IgnoreMatcher;
use builder::parse::{parse, parse_bytes};
use builder::plan::{plan, BuildOptions};

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYWORDS: &[&str] = &[
    "FROM",
    "from",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "ARG",
    "LABEL",
    "EXPOSE",
    "WORKDIR",
    "USER",
    "VOLUME",
    "COPY",
    "ADD",
    "SHELL",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "ONBUILD",
    "MAINTAINER",
    "FORM",
    "#",
    "# escape=`",
    "# syntax=x",
    "",
];

const PIECES: &[&str] = &[
    " ",
    "  ",
    "\t",
    "\\",
    "`",
    "\n",
    "\r\n",
    "$",
    "$$",
    "${",
    "}",
    "${A:-x}",
    "${A:+",
    "${A?",
    "${:}",
    "$A",
    "'",
    "\"",
    "[",
    "]",
    "[\"a\"",
    ",",
    "=",
    "A=1",
    "B=\"x y\"",
    "--from=0",
    "--from=a",
    "--chown=1:2",
    "--platform=$P",
    "--mount=type=cache,target=/c",
    "--mount=",
    "--network=none",
    "--interval=1s",
    "--retries=0",
    "CMD",
    "NONE",
    "AS",
    "as",
    "a",
    "stage",
    "scratch",
    "<<EOF",
    "<<-'E'",
    "EOF",
    "E",
    "\tEOF",
    "80",
    "80/udp",
    "1-3",
    "x:y",
    "/abs",
    "../up",
    "*",
    "**",
    "?",
    "!",
    "#",
    "ONBUILD",
    "FROM",
    "\u{feff}",
    "é",
    "\u{0}",
    "0",
    "--",
    "-",
    "--link",
    "--chmod=7",
    "SIGTERM",
    "[]",
    "[1]",
    "[\"a\",\"b\"]",
    "\\\n",
];

fn random_dockerfile(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(12) {
        s.push_str(rng.pick(KEYWORDS));
        for _ in 0..rng.below(8) {
            if rng.below(3) == 0 {
                s.push(' ');
            }
            s.push_str(rng.pick(PIECES));
        }
        s.push('\n');
    }
    s
}

/// Mostly valid instructions with holes filled from small pools, so that many files get
/// through the parser and the planner and reach `dispatch`.
const TEMPLATES: &[&str] = &[
    "FROM {img}",
    "FROM {img} AS {name}",
    "FROM --platform={v} {img} AS {name}",
    "ARG {k}",
    "ARG {k}={v} {k}",
    "ENV {k}={v} {k}={v}",
    "ENV {k} {v} {v}",
    "LABEL {k}={v}",
    "RUN {v} {v}",
    "RUN [\"{v}\", \"{v}\"]",
    "RUN --mount=type=cache,target=/{v} --network=none {v}",
    "RUN <<EOF\n{v}\nEOF",
    "CMD {v}",
    "CMD [\"{v}\"]",
    "ENTRYPOINT {v}",
    "ENTRYPOINT []",
    "EXPOSE {port} {port}",
    "WORKDIR {v}",
    "USER {v}",
    "VOLUME {v} [\"{v}\"]",
    "COPY --from={name} {v} {v}",
    "COPY --chown={v} {v} {v}/",
    "ADD <<EOF {v}\n{v}\nEOF",
    "SHELL [\"/bin/sh\", \"-c{v}\"]",
    "STOPSIGNAL {v}",
    "HEALTHCHECK --interval={dur} --retries={port} CMD {v}",
    "HEALTHCHECK NONE",
    "ONBUILD RUN {v}",
    "MAINTAINER {v}",
];

const VALUES: &[&str] = &[
    "a",
    "$A",
    "${A}",
    "${A:-x}",
    "${B:+y}",
    "${C:?m}",
    "${D-x}",
    "$$",
    "x$",
    "'$A'",
    "\"$A b\"",
    "\\$A",
    "../x",
    "/abs",
    "*.txt",
    "SIGKILL",
    "9",
    "bogus",
    "",
    " ",
    "é",
    "1000:1000",
    "a\\ b",
    "$(x)",
    "[",
    "\"",
];

fn fill(rng: &mut Rng, template: &str) -> String {
    let mut out = template.to_string();
    for (hole, pool) in [
        (
            "{img}",
            &["busybox", "scratch", "$A", "a", "0", "stage"][..],
        ),
        ("{name}", &["a", "stage", "0", "b", "1"][..]),
        ("{k}", &["A", "B", "HTTP_PROXY", "=x", "k"][..]),
        ("{port}", &["80", "53/udp", "1-3", "x", "0", "3"][..]),
        ("{dur}", &["1s", "1ms", "0", "5x", "1m30s"][..]),
        ("{v}", VALUES),
    ] {
        while let Some(i) = out.find(hole) {
            let v = rng.pick(pool);
            out.replace_range(i..i + hole.len(), v);
        }
    }
    out
}

fn templated_dockerfile(rng: &mut Rng) -> String {
    let mut s = String::new();
    if rng.below(4) == 0 {
        s.push_str("ARG A=busybox\n");
    }
    s.push_str("FROM busybox AS a\n");
    for _ in 0..rng.below(14) {
        let template = rng.pick(TEMPLATES);
        let line = fill(rng, template);
        s.push_str(&line);
        if rng.below(10) == 0 {
            s.push_str(rng.pick(PIECES));
        }
        s.push('\n');
    }
    s
}

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(200);
    (0..len)
        .map(|_| {
            // Bias towards the characters the parser treats specially.
            let special = b" \t\n\r\\`$#{}[]\"'=:-<>!*?/";
            if rng.below(2) == 0 {
                special[rng.below(special.len())]
            } else {
                rng.next() as u8
            }
        })
        .collect()
}

/// Runs the whole pure pipeline; only panics matter, errors are expected. Returns how many
/// instructions reached `dispatch`, so the generators can be checked for reaching that far.
fn exercise(text: &str) -> usize {
    let mut dispatched = 0;
    let Ok(df) = parse("Dockerfile", text) else {
        return 0;
    };
    for target in [None, Some("a".to_string()), Some("stage".to_string())] {
        let options = BuildOptions {
            build_args: [("A".to_string(), Some("1 2".to_string()))].into(),
            target,
            labels: [("k".to_string(), "$v".to_string())].into(),
            platform: None,
        };
        let Ok(p) = plan(&df, &options) else {
            continue;
        };
        let _ = p.unused_build_args_warning();
        for stage in &p.stages {
            let mut state = StageState::new(ContainerConfig::default(), p.stage_scope(), p.escape);
            for (k, instr) in stage.instructions.iter().chain(&p.label_steps).enumerate() {
                let _ = p.step_number(stage.index, k);
                let _ = state.dispatch(instr);
                dispatched += 1;
            }
        }
    }
    dispatched
}

#[test]
fn random_dockerfile_like_text_never_panics() {
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let text = random_dockerfile(&mut rng);
        exercise(&text);
    }
}

#[test]
fn templated_dockerfiles_never_panic() {
    let mut dispatched = 0;
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x94d0_49bb_1331_11eb) | 1);
        let text = templated_dockerfile(&mut rng);
        dispatched += exercise(&text);
    }
    // The generator must get past the parser and the planner often enough to mean something.
    assert!(
        dispatched > 3000,
        "only {dispatched} instructions dispatched"
    );
}

#[test]
fn random_bytes_never_panic() {
    for seed in 1..=4000u64 {
        let mut rng = Rng(seed.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1);
        let bytes = random_bytes(&mut rng);
        let _ = parse_bytes("Dockerfile", &bytes);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        exercise(&text);
        let vars = vec![("A".to_string(), "x y".to_string())];
        for escape in ['\\', '`'] {
            let _ = expand_word(&text, escape, vars.as_slice());
            let _ = expand_words(&text, escape, vars.as_slice());
            let _ = expand_heredoc(&text, vars.as_slice());
        }
        if let Ok(m) = IgnoreMatcher::for_build(&text, "Dockerfile") {
            for path in ["a", "a/b/c", "Dockerfile", ".", "x.log", "..", "/abs"] {
                let _ = m.is_excluded(path);
                let _ = m.can_skip_dir(path);
            }
        }
    }
}
