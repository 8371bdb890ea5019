//! The build graph (reference §1 steps, §4 FROM/ARG, §6, §7): stages split at `FROM`, global
//! ARGs and their use in `FROM`, `--build-arg` and the unused-arg warning, `--target`, which
//! stages the target needs, an order that lets independent stages run in parallel, and the
//! `Step n/N` numbering Docker prints.
//!
//! Terms: a *stage* starts at a `FROM`; its index is the order of the `FROM` lines (0-based).
//! A stage *depends on* another when it starts `FROM` it, or copies/mounts `--from` it. A
//! stage may only refer to **earlier** stages; a later stage's name is an image reference.
//!
//! The classic builder runs every stage up to the target; BuildKit only the ones the target
//! needs. [`BuildPlan::needed`] and [`BuildPlan::waves`] give the BuildKit view; the step
//! numbers count every stage up to the target, as the classic builder prints them.

use std::collections::BTreeMap;

use api::image::Platform;
use api::ErrorKind;

use crate::expand::{expand_word, ExpandError};
use crate::parse::{Command, Dockerfile, Instruction, KeyValue};
use crate::scope::{is_proxy_arg, ArgScope};

/// What the user asked for besides the Dockerfile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--build-arg K=V`; `None` for `--build-arg K` whose value the client did not find.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--target`.
    pub target: Option<String>,
    /// `--label k=v`: each becomes an extra final `LABEL` step.
    pub labels: BTreeMap<String, String>,
    /// `--platform` (`os/arch[/variant]`): the target platform, the default of every stage's
    /// `FROM --platform` and the value of `TARGETPLATFORM` (the host's when unset).
    pub platform: Option<String>,
}

/// A plan that cannot be made. `Display` is Docker's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An instruction other than ARG before the first FROM.
    #[error("no build stage in current context")]
    NoStage {
        /// Its line.
        line: usize,
    },
    /// Two stages with the same name.
    #[error("{name} stage name already used")]
    DuplicateStage {
        /// The name (lower case).
        name: String,
        /// The second FROM's line.
        line: usize,
    },
    /// `--target` names no stage.
    #[error("failed to reach build target {0} in Dockerfile")]
    UnknownTarget(String),
    /// `--from=<index>` not of an earlier stage.
    #[error("invalid from flag value {0}: index out of bounds")]
    FromIndexOutOfBounds(String),
    /// `FROM $X` with X empty.
    #[error("base name ({0}) should not be blank")]
    BlankBase(String),
    /// `FROM --platform=$X` with X empty (the classic builder predefines no platform args).
    #[error("failed to parse platform {0}: \"\" is an invalid component")]
    BlankPlatform(String),
    /// A platform that is not `os/arch[/variant]`.
    #[error("failed to parse platform {0}: expected os/arch[/variant], e.g. linux/arm64")]
    InvalidPlatform(String),
    /// Substitution in a FROM line failed.
    #[error(transparent)]
    Expand(#[from] ExpandError),
}

impl PlanError {
    /// The error class: always the user's Dockerfile or options.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageBase {
    /// `FROM scratch`: empty filesystem, empty config.
    Scratch,
    /// `FROM <earlier stage>`: its files and config (not its ARGs).
    Stage(usize),
    /// An image reference to resolve (pull if missing).
    Image(String),
}

/// Where `COPY --from` / `RUN --mount from=` takes files from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromSource {
    /// An earlier stage's result.
    Stage(usize),
    /// An image reference.
    Image(String),
}

/// One stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// 0-based index.
    pub index: usize,
    /// `AS name`, lower case.
    pub name: Option<String>,
    /// What it starts from (after global-ARG substitution).
    pub base: StageBase,
    /// `--platform`, substituted with global ARGs.
    pub platform: Option<String>,
    /// The FROM instruction.
    pub from: Instruction,
    /// The instructions after FROM.
    pub instructions: Vec<Instruction>,
    /// Stages this one needs first (FROM, COPY --from, RUN --mount from=), sorted, unique.
    pub deps: Vec<usize>,
    /// Step number of its FROM line (the instructions follow consecutively).
    pub first_step: usize,
}

/// A Dockerfile planned against the user's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    /// The escape character (for substitution).
    pub escape: char,
    /// The ARG lines before the first FROM: numbered steps 1.. that print no `--->` line and
    /// add no history entry (do not dispatch them; their values are in `global_args`).
    pub global_arg_lines: Vec<Instruction>,
    /// Global ARGs with their resolved values (build arg, else default), in order.
    pub global_args: Vec<(String, Option<String>)>,
    /// Stages up to and including the target (later ones are not built).
    pub stages: Vec<Stage>,
    /// Index of the target stage (the last one in `stages`).
    pub target: usize,
    /// `needed[i]`: stage `i` is reachable from the target (BuildKit builds only these).
    pub needed: Vec<bool>,
    /// Needed stages grouped so that every stage's dependencies are in earlier groups:
    /// the stages of one group can run in parallel.
    pub waves: Vec<Vec<usize>>,
    /// `LABEL` instructions for `--label`, appended to the target stage by the executor.
    pub label_steps: Vec<Instruction>,
    /// `N` of `Step n/N`.
    pub total_steps: usize,
    /// The user's build args.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--platform` when given: the platform of stages without `FROM --platform`.
    pub target_platform: Option<Platform>,
}

/// The names BuildKit predefines in the global scope, with the build (host) and target
/// platforms: `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`, and the same
/// four for `BUILD`.
pub const PLATFORM_ARGS: [&str; 8] = [
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

fn platform_args(build: &Platform, target: &Platform) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (prefix, p) in [("TARGET", target), ("BUILD", build)] {
        out.push((format!("{prefix}PLATFORM"), Some(format_platform(p))));
        out.push((format!("{prefix}OS"), Some(p.os.clone())));
        out.push((format!("{prefix}ARCH"), Some(p.architecture.clone())));
        out.push((
            format!("{prefix}VARIANT"),
            Some(p.variant.clone().unwrap_or_default()),
        ));
    }
    out
}

/// `os/arch[/variant]`, as `--platform` takes it and containerd prints it.
pub fn format_platform(p: &Platform) -> String {
    match &p.variant {
        Some(v) if !v.is_empty() => format!("{}/{}/{v}", p.os, p.architecture),
        _ => format!("{}/{}", p.os, p.architecture),
    }
}

/// Parses `os/arch[/variant]` (or a bare `arch`, taken as Linux), normalised as containerd
/// does: lower case, `x86_64` -> `amd64`, `aarch64` -> `arm64`, `arm64/v8` -> `arm64`,
/// `arm` -> `arm/v7`.
pub fn parse_platform(s: &str) -> Result<Platform, PlanError> {
    let lower = s.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('/').collect();
    let bad = || PlanError::InvalidPlatform(s.to_string());
    if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
        return Err(bad());
    }
    let (os, arch, variant) = match parts.as_slice() {
        [arch] => ("linux", *arch, None),
        [os, arch] => (*os, *arch, None),
        [os, arch, v] => (*os, *arch, Some(v.to_string())),
        _ => return Err(bad()),
    };
    let (arch, variant) = match (arch, variant) {
        ("x86_64" | "x86-64", v) => ("amd64", v),
        ("aarch64" | "arm64", Some(v)) if v == "v8" => ("arm64", None),
        ("aarch64", v) => ("arm64", v),
        ("armhf", None) => ("arm", Some("v7".to_string())),
        ("armel", None) => ("arm", Some("v6".to_string())),
        ("arm", None) => ("arm", Some("v7".to_string())),
        ("i386" | "i686", v) => ("386", v),
        (a, v) => (a, v),
    };
    if !os
        .bytes()
        .chain(arch.bytes())
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(bad());
    }
    Ok(Platform {
        os: os.to_string(),
        architecture: arch.to_string(),
        variant,
        ..Platform::host()
    })
}

/// Whether an image of platform `have` serves `want`: same OS and architecture, and the
/// same variant when `want` names one (an image without a variant serves any).
pub fn platform_matches(want: &Platform, have: &Platform) -> bool {
    let norm = |p: &Platform| parse_platform(&format_platform(p)).unwrap_or_else(|_| p.clone());
    let (w, h) = (norm(want), norm(have));
    w.os == h.os
        && w.architecture == h.architecture
        && match (&w.variant, &h.variant) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// Splits the Dockerfile into stages and plans the build.
pub fn plan(dockerfile: &Dockerfile, options: &BuildOptions) -> Result<BuildPlan, PlanError> {
    let escape = dockerfile.directives.escape;
    let mut global_arg_lines = Vec::new();
    let target_platform = options
        .platform
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(parse_platform)
        .transpose()?;
    let host = Platform::host();
    let mut global_args: Vec<(String, Option<String>)> =
        platform_args(&host, target_platform.as_ref().unwrap_or(&host));
    let mut stages: Vec<Stage> = Vec::new();
    for (k, instr) in dockerfile.instructions.iter().enumerate() {
        let step = k + 1;
        match &instr.command {
            Command::Arg(decls) if stages.is_empty() => {
                global_arg_lines.push(instr.clone());
                let vars = defined(&global_args);
                let mut resolved = Vec::new();
                for d in decls {
                    let value = match options.build_args.get(&d.name).cloned().flatten() {
                        Some(v) => Some(v),
                        None => match d.default.as_deref() {
                            Some(v) => Some(expand_word(v, escape, vars.as_slice())?),
                            // A bare `ARG TARGETARCH` keeps the predefined value.
                            None => global_args
                                .iter()
                                .find(|(n, _)| *n == d.name)
                                .and_then(|(_, v)| v.clone())
                                .filter(|_| PLATFORM_ARGS.contains(&d.name.as_str())),
                        },
                    };
                    resolved.push((d.name.clone(), value));
                }
                for (name, value) in resolved {
                    global_args.retain(|(n, _)| *n != name);
                    global_args.push((name, value));
                }
            }
            Command::From(f) => {
                let vars = defined(&global_args);
                let image = expand_word(&f.image, escape, vars.as_slice())?;
                if image.is_empty() {
                    return Err(PlanError::BlankBase(f.image.clone()));
                }
                let platform = f
                    .platform
                    .as_deref()
                    .map(|p| expand_word(p, escape, vars.as_slice()))
                    .transpose()?;
                if let Some(p) = &platform {
                    if p.is_empty() || p.split('/').any(str::is_empty) {
                        return Err(PlanError::BlankPlatform(p.clone()));
                    }
                    parse_platform(p)?;
                }
                let base = if image == "scratch" {
                    StageBase::Scratch
                } else {
                    match find_stage(&stages, &image) {
                        Some(i) => StageBase::Stage(i),
                        None => StageBase::Image(image),
                    }
                };
                stages.push(Stage {
                    index: stages.len(),
                    name: f.name.clone(),
                    base,
                    platform,
                    from: instr.clone(),
                    instructions: Vec::new(),
                    deps: Vec::new(),
                    first_step: step,
                });
            }
            _ => match stages.last_mut() {
                Some(s) => s.instructions.push(instr.clone()),
                None => return Err(PlanError::NoStage { line: instr.line }),
            },
        }
    }
    if stages.is_empty() {
        return Err(PlanError::NoStage {
            line: dockerfile.instructions.last().map_or(1, |i| i.line),
        });
    }

    let target = match &options.target {
        None => stages.len() - 1,
        Some(t) => stages
            .iter()
            .position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
            .ok_or_else(|| PlanError::UnknownTarget(t.clone()))?,
    };
    stages.truncate(target + 1);

    for (i, s) in stages.iter().enumerate() {
        if let Some(name) = &s.name {
            if stages[..i].iter().any(|p| p.name.as_deref() == Some(name)) {
                return Err(PlanError::DuplicateStage {
                    name: name.clone(),
                    line: s.from.line,
                });
            }
        }
    }

    for i in 0..stages.len() {
        let mut deps = Vec::new();
        if let StageBase::Stage(d) = stages[i].base {
            deps.push(d);
        }
        for instr in &stages[i].instructions {
            for from in from_flags(&instr.command) {
                if let FromSource::Stage(d) = resolve_from_in(&stages, i, &from)? {
                    deps.push(d);
                }
            }
        }
        deps.sort_unstable();
        deps.dedup();
        stages[i].deps = deps;
    }

    let mut needed = vec![false; stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !needed[i] {
            needed[i] = true;
            todo.extend(stages[i].deps.iter().copied());
        }
    }
    // Dependencies always point to earlier stages, so one forward pass gives the levels.
    let mut level = vec![0usize; stages.len()];
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for i in (0..stages.len()).filter(|i| needed[*i]) {
        level[i] = stages[i]
            .deps
            .iter()
            .map(|d| level[*d] + 1)
            .max()
            .unwrap_or(0);
        if waves.len() <= level[i] {
            waves.resize(level[i] + 1, Vec::new());
        }
        waves[level[i]].push(i);
    }

    let label_steps: Vec<Instruction> = options
        .labels
        .iter()
        .map(|(k, v)| label_instruction(k, v, escape))
        .collect();
    let last = stages.last().expect("at least one stage");
    let total_steps = last.first_step + last.instructions.len() + label_steps.len();

    Ok(BuildPlan {
        escape,
        global_arg_lines,
        global_args,
        stages,
        target,
        needed,
        waves,
        label_steps,
        total_steps,
        build_args: options.build_args.clone(),
        target_platform,
    })
}

/// Global args that have a value, for substitution.
fn defined(args: &[(String, Option<String>)]) -> Vec<(String, String)> {
    args.iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect()
}

fn find_stage(stages: &[Stage], name: &str) -> Option<usize> {
    stages.iter().position(|s| {
        s.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

/// The `--from` values an instruction carries.
fn from_flags(cmd: &Command) -> Vec<String> {
    match cmd {
        Command::Copy(c) => c.from.iter().cloned().collect(),
        Command::Run(r) => r.mounts.iter().filter_map(|m| m.from.clone()).collect(),
        _ => Vec::new(),
    }
}

fn resolve_from_in(stages: &[Stage], current: usize, value: &str) -> Result<FromSource, PlanError> {
    let earlier = &stages[..current.min(stages.len())];
    if let Some(i) = find_stage(earlier, value) {
        return Ok(FromSource::Stage(i));
    }
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return match value.parse::<usize>() {
            Ok(i) if i < current => Ok(FromSource::Stage(i)),
            _ => Err(PlanError::FromIndexOutOfBounds(value.to_string())),
        };
    }
    Ok(FromSource::Image(value.to_string()))
}

/// A `LABEL k=v` step for `--label`, its value protected from substitution (Docker does not
/// substitute these).
fn label_instruction(key: &str, value: &str, escape: char) -> Instruction {
    let protect = |s: &str| {
        let mut out = String::new();
        for c in s.chars() {
            if c == escape || c == '$' || c == '"' || c == '\'' {
                out.push(escape);
            }
            out.push(c);
        }
        out
    };
    Instruction {
        line: 0,
        end_line: 0,
        original: format!("LABEL {key}={value}"),
        command: Command::Label(vec![KeyValue {
            key: protect(key),
            value: protect(value),
        }]),
        heredocs: Vec::new(),
    }
}

/// One `Step n/N` line of the classic builder's output, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedStep<'a> {
    /// `n`.
    pub number: usize,
    /// What the step is.
    pub kind: StepKind,
    /// The instruction (its `original` is the text after `Step n/N : `).
    pub instruction: &'a Instruction,
}

/// Where a [`PlannedStep`] belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// An ARG before the first FROM (no `--->` line, no history).
    GlobalArg,
    /// The FROM of stage `i`.
    From(usize),
    /// Instruction `k` (0-based, after FROM) of stage `i`.
    Instruction(usize, usize),
    /// A `--label` step, appended to the target stage.
    Label,
}

impl BuildPlan {
    /// Every step in the order the classic builder prints them, numbered.
    pub fn steps(&self) -> Vec<PlannedStep<'_>> {
        let mut out = Vec::new();
        let mut number = 0;
        let mut push = |kind, instruction| {
            number += 1;
            out.push(PlannedStep {
                number,
                kind,
                instruction,
            });
        };
        for a in &self.global_arg_lines {
            push(StepKind::GlobalArg, a);
        }
        for s in &self.stages {
            push(StepKind::From(s.index), &s.from);
            for (k, i) in s.instructions.iter().enumerate() {
                push(StepKind::Instruction(s.index, k), i);
            }
        }
        for l in &self.label_steps {
            push(StepKind::Label, l);
        }
        out
    }

    /// The platform stage `index` is built for: its `FROM --platform`, else `--platform`;
    /// `None` when neither is given (then any local image serves, as the classic builder
    /// does).
    pub fn stage_platform(&self, index: usize) -> Option<Platform> {
        self.stages[index]
            .platform
            .as_deref()
            .and_then(|p| parse_platform(p).ok())
            .or_else(|| self.target_platform.clone())
    }

    /// A fresh ARG scope for a stage (global values known, nothing declared yet).
    pub fn stage_scope(&self) -> ArgScope {
        ArgScope::new(self.build_args.clone(), self.global_args.clone())
    }

    /// Resolves a `--from` value of an instruction of stage `stage`: an earlier stage's name
    /// (any case) or index, else an image reference.
    pub fn resolve_from(&self, stage: usize, value: &str) -> Result<FromSource, PlanError> {
        resolve_from_in(&self.stages, stage, value)
    }

    /// Build args no ARG consumed (global ARGs and the ARGs of every stage up to the target),
    /// proxy args excepted; sorted.
    pub fn unused_build_args(&self) -> Vec<String> {
        let declared = |name: &str| {
            self.global_args.iter().any(|(n, _)| n == name)
                || self.stages.iter().any(|s| {
                    s.instructions.iter().any(|i| match &i.command {
                        Command::Arg(d) => d.iter().any(|d| d.name == name),
                        _ => false,
                    })
                })
        };
        self.build_args
            .keys()
            .filter(|k| !is_proxy_arg(k) && !declared(k))
            .cloned()
            .collect()
    }

    /// Docker's warning for [`Self::unused_build_args`], printed before `Successfully built`.
    pub fn unused_build_args_warning(&self) -> Option<String> {
        let unused = self.unused_build_args();
        (!unused.is_empty()).then(|| {
            format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            )
        })
    }

    /// Step number of instruction `k` (0-based, after FROM) of stage `stage`.
    pub fn step_number(&self, stage: usize, k: usize) -> usize {
        self.stages[stage].first_step + 1 + k
    }

    /// Docker's step line: `Step 3/7 : RUN echo hi`.
    pub fn step_line(&self, number: usize, instr: &Instruction) -> String {
        format!("Step {number}/{} : {}", self.total_steps, instr.original)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    fn plan_of(src: &str, opts: &BuildOptions) -> Result<BuildPlan, PlanError> {
        plan(&parse("Dockerfile", src).unwrap(), opts)
    }

    fn opts(args: &[(&str, &str)], target: Option<&str>) -> BuildOptions {
        BuildOptions {
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
            target: target.map(str::to_string),
            labels: BTreeMap::new(),
            platform: None,
        }
    }

    #[test]
    fn global_args_substitute_from_and_build_args_override() {
        // "Global ARGs (before the first FROM) are usable only in FROM lines."
        let src = "ARG TAG=1\nARG IMG=busybox:$TAG\nFROM $IMG\nFROM ${IMG}-x\n";
        let p = plan_of(src, &BuildOptions::default()).unwrap();
        assert_eq!(p.stages[0].base, StageBase::Image("busybox:1".into()));
        let p = plan_of(src, &opts(&[("TAG", "2")], None)).unwrap();
        assert_eq!(p.stages[1].base, StageBase::Image("busybox:2-x".into()));
        assert!(matches!(
            plan_of("ARG X\nFROM $X\n", &BuildOptions::default()),
            Err(PlanError::BlankBase(_))
        ));
    }

    #[test]
    fn platform_args_are_predefined_as_buildkit_does() {
        // "BuildKit predefines TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT,
        // BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT in the global scope."
        let host = Platform::host();
        let host_text = format!("{}/{}", host.os, host.architecture);
        let p = plan_of(
            "FROM --platform=$BUILDPLATFORM busybox\nFROM --platform=$TARGETOS/$TARGETARCH busybox\n",
            &BuildOptions::default(),
        )
        .unwrap();
        assert_eq!(p.stages[0].platform.as_deref(), Some(host_text.as_str()));
        assert_eq!(p.stages[1].platform.as_deref(), Some(host_text.as_str()));
        assert_eq!(
            p.stage_platform(0),
            Some(parse_platform(&host_text).unwrap())
        );
        let arm = BuildOptions {
            platform: Some("linux/arm/v7".into()),
            ..BuildOptions::default()
        };
        let p = plan_of(
            "ARG TARGETPLATFORM\nFROM --platform=$TARGETPLATFORM busybox\nFROM --platform=$BUILDPLATFORM busybox\nFROM busybox\nARG TARGETVARIANT\n",
            &arm,
        )
        .unwrap();
        assert_eq!(p.stages[0].platform.as_deref(), Some("linux/arm/v7"));
        assert_eq!(p.stages[1].platform.as_deref(), Some(host_text.as_str()));
        assert_eq!(p.stage_platform(2).unwrap().variant.as_deref(), Some("v7"));
        let mut scope = p.stage_scope();
        scope.declare("TARGETVARIANT", None);
        assert_eq!(scope.value("TARGETVARIANT").as_deref(), Some("v7"));
        // An unset user ARG still fails as the classic builder does.
        let e = plan_of(
            "ARG P\nFROM --platform=$P busybox\n",
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to parse platform : \"\" is an invalid component"
        );
        let e = plan_of(
            "FROM --platform=linux/a+b busybox\n",
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(e, PlanError::InvalidPlatform(_)), "{e}");
    }

    #[test]
    fn platforms_parse_and_match_normalised() {
        let p = parse_platform("linux/arm64/v8").unwrap();
        assert_eq!((p.architecture.as_str(), p.variant), ("arm64", None));
        assert_eq!(parse_platform("x86_64").unwrap().architecture, "amd64");
        assert_eq!(
            format_platform(&parse_platform("LINUX/ARM").unwrap()),
            "linux/arm/v7"
        );
        assert!(parse_platform("linux//x").is_err());
        assert!(parse_platform("a/b/c/d").is_err());
        let want = parse_platform("linux/arm64").unwrap();
        let mut have = parse_platform("linux/arm64").unwrap();
        have.variant = Some("v8".into());
        assert!(platform_matches(&want, &have));
        assert!(!platform_matches(
            &want,
            &parse_platform("linux/amd64").unwrap()
        ));
        assert!(!platform_matches(
            &parse_platform("linux/arm/v7").unwrap(),
            &parse_platform("linux/arm/v6").unwrap()
        ));
    }

    #[test]
    fn platform_from_unset_arg_fails_like_the_classic_builder() {
        let p = plan_of(
            "ARG P=linux/arm64\nFROM --platform=$P busybox\n",
            &BuildOptions::default(),
        )
        .unwrap();
        assert_eq!(p.stages[0].platform.as_deref(), Some("linux/arm64"));
    }

    #[test]
    fn missing_from_is_no_build_stage() {
        // "Missing FROM before the first non-ARG instruction: no build stage in current context"
        let e = plan_of("ARG A\nRUN true\n", &BuildOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "no build stage in current context");
        assert!(plan_of("ARG A\n", &BuildOptions::default()).is_err());
    }

    #[test]
    fn stage_names_earlier_later_scratch() {
        // "A name that is not an earlier stage is an image reference (a later stage's name too)"
        let src = "FROM scratch AS a\nFROM A\nFROM later\nFROM busybox AS later\n";
        let p = plan_of(src, &BuildOptions::default()).unwrap();
        assert_eq!(p.stages[0].base, StageBase::Scratch);
        assert_eq!(p.stages[1].base, StageBase::Stage(0));
        assert_eq!(p.stages[2].base, StageBase::Image("later".into()));
    }

    #[test]
    fn duplicate_stage_names() {
        // "| duplicate stage name | dup stage name already used |"
        let e = plan_of("FROM a AS dup\nFROM b AS DUP\n", &BuildOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "dup stage name already used");
    }

    #[test]
    fn targets_and_needed_stages() {
        // "unknown target: failed to reach build target nosuch in Dockerfile"
        let src = "FROM busybox AS base\nRUN a\nFROM busybox AS other\nRUN b\n\
                   FROM base AS app\nCOPY --from=other /x /x\nCOPY --from=0 /y /y\n\
                   FROM busybox AS unused\nFROM app AS final\n";
        let e = plan_of(src, &opts(&[], Some("nosuch"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to reach build target nosuch in Dockerfile"
        );
        let p = plan_of(src, &opts(&[], Some("APP"))).unwrap();
        assert_eq!(p.target, 2);
        assert_eq!(p.stages.len(), 3);
        assert_eq!(p.stages[2].deps, [0, 1]);
        assert_eq!(p.waves, vec![vec![0, 1], vec![2]]);
        let p = plan_of(src, &BuildOptions::default()).unwrap();
        assert_eq!(p.needed, [true, true, true, false, true]);
        assert_eq!(p.waves, vec![vec![0, 1], vec![2], vec![4]]);
    }

    #[test]
    fn copy_from_index_must_be_earlier() {
        // "Bad index: invalid from flag value 5: index out of bounds"
        let e = plan_of("FROM a\nCOPY --from=5 /x /x\n", &BuildOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid from flag value 5: index out of bounds"
        );
        let p = plan_of(
            "FROM a\nCOPY --from=busybox:latest /bin/echo /e\n",
            &BuildOptions::default(),
        )
        .unwrap();
        assert_eq!(
            p.resolve_from(0, "busybox:latest").unwrap(),
            FromSource::Image("busybox:latest".into())
        );
    }

    #[test]
    fn step_numbers_count_global_args_and_stages_up_to_target() {
        // "ARG lines before the first FROM are counted as steps"; "The step total N covers
        // the stages up to --target only"; "--label k=v gets an extra final step"
        let src = "ARG V=1\nFROM busybox AS a\nRUN x\nFROM busybox AS b\nRUN y\nCMD z\n";
        let p = plan_of(src, &opts(&[], Some("a"))).unwrap();
        assert_eq!(p.total_steps, 3);
        let mut o = BuildOptions::default();
        o.labels.insert("k".into(), "v$x".into());
        let p = plan_of(src, &o).unwrap();
        assert_eq!(p.total_steps, 7);
        assert_eq!(p.step_number(1, 1), 6);
        assert_eq!(
            p.step_line(6, &p.stages[1].instructions[1]),
            "Step 6/7 : CMD z"
        );
        assert_eq!(p.label_steps[0].original, "LABEL k=v$x");
        let steps = p.steps();
        assert_eq!(steps.len(), p.total_steps);
        assert_eq!(steps[0].kind, StepKind::GlobalArg);
        assert_eq!(steps[3].kind, StepKind::From(1));
        assert_eq!(steps[5].kind, StepKind::Instruction(1, 1));
        assert_eq!(steps[5].number, p.step_number(1, 1));
        assert_eq!(steps[6].kind, StepKind::Label);
        assert!(steps.iter().enumerate().all(|(i, s)| s.number == i + 1));
        // --label values are not substituted.
        let mut state = crate::dispatch::StageState::new(
            api::image::ContainerConfig::default(),
            p.stage_scope(),
            p.escape,
        );
        state.dispatch(&p.label_steps[0]).unwrap();
        assert_eq!(state.config.labels.unwrap()["k"], "v$x");
    }

    #[test]
    fn unused_build_args_warning() {
        // "[Warning] One or more build-args [UNUSED] were not consumed"
        let src = "ARG G\nFROM busybox\nARG S\n";
        let o = opts(
            &[("G", "1"), ("S", "2"), ("UNUSED", "3"), ("HTTP_PROXY", "p")],
            None,
        );
        let p = plan_of(src, &o).unwrap();
        assert_eq!(
            p.unused_build_args_warning().unwrap(),
            "[Warning] One or more build-args [UNUSED] were not consumed"
        );
    }
}
