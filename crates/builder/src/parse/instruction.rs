//! One instruction's keyword, flags and arguments, checked the way Docker checks them when it
//! parses (before any step runs). Values stay unsubstituted: substitution needs the stage's
//! variables and happens when the step is dispatched ([`crate::dispatch`]).

use super::run_mount::parse_mount;
use super::words::{extract_flags, json_array, quoted_words, JsonForm};

/// Every instruction keyword, upper-case, in Docker's documentation order.
pub const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// A parsed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `FROM [--platform=p] image [AS name]`.
    From(FromCmd),
    /// `RUN [--mount=...] [--network=...] cmd`.
    Run(RunCmd),
    /// `CMD`.
    Cmd(ShellOrExec),
    /// `ENTRYPOINT` (`ENTRYPOINT []` is an empty exec form).
    Entrypoint(ShellOrExec),
    /// `ENV k=v ...` or `ENV k rest of line`.
    Env(Vec<KeyValue>),
    /// `ARG name[=default] ...`.
    Arg(Vec<ArgDecl>),
    /// `LABEL k=v ...`.
    Label(Vec<KeyValue>),
    /// `EXPOSE` words, unsubstituted.
    Expose(Vec<String>),
    /// `WORKDIR` path, unsubstituted.
    Workdir(String),
    /// `USER` spec, unsubstituted.
    User(String),
    /// `VOLUME` paths (JSON strings, or blank-separated words still to be substituted).
    Volume(Vec<String>),
    /// `COPY`.
    Copy(CopyCmd),
    /// `ADD`.
    Add(CopyCmd),
    /// `SHELL [...]` (exec form only).
    Shell(Vec<String>),
    /// `STOPSIGNAL` value, unsubstituted.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(HealthcheckCmd),
    /// `ONBUILD <trigger>`.
    OnBuild(OnBuildCmd),
    /// `MAINTAINER` text.
    Maintainer(String),
}

impl Command {
    /// The upper-case keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::From(_) => "FROM",
            Command::Run(_) => "RUN",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Env(_) => "ENV",
            Command::Arg(_) => "ARG",
            Command::Label(_) => "LABEL",
            Command::Expose(_) => "EXPOSE",
            Command::Workdir(_) => "WORKDIR",
            Command::User(_) => "USER",
            Command::Volume(_) => "VOLUME",
            Command::Copy(_) => "COPY",
            Command::Add(_) => "ADD",
            Command::Shell(_) => "SHELL",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::OnBuild(_) => "ONBUILD",
            Command::Maintainer(_) => "MAINTAINER",
        }
    }

    /// Only `RUN`, `COPY` and `ADD` take heredocs.
    pub fn can_have_heredocs(&self) -> bool {
        matches!(self, Command::Run(_) | Command::Copy(_) | Command::Add(_))
    }
}

/// Shell form (text run by the stage's SHELL) or exec form (argv as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    /// The text as written; an empty text means the instruction had no argument at all
    /// (`CMD` alone stores just the shell).
    Shell(String),
    /// The JSON array.
    Exec(Vec<String>),
}

/// `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromCmd {
    /// The image (or stage name), unsubstituted.
    pub image: String,
    /// `AS name`, lower-cased and validated.
    pub name: Option<String>,
    /// `--platform` value, unsubstituted.
    pub platform: Option<String>,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCmd {
    /// The command.
    pub cmd: ShellOrExec,
    /// `--mount` specs (BuildKit).
    pub mounts: Vec<RunMount>,
    /// `--network` (BuildKit).
    pub network: Option<Network>,
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// `default`: the build's usual network.
    Default,
    /// `none`: only loopback.
    None,
    /// `host`: the host's network namespace.
    Host,
}

/// `RUN --mount=type=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// `bind` (the default type).
    Bind,
    /// `cache`.
    Cache,
    /// `tmpfs`.
    Tmpfs,
    /// `secret`.
    Secret,
    /// `ssh`.
    Ssh,
}

impl MountType {
    /// The name as written in `type=`.
    pub fn name(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// One `--mount` of a `RUN` (BuildKit's fields; values unsubstituted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// The mount type.
    pub kind: MountType,
    /// Where it appears in the build container.
    pub target: String,
    /// `source`/`src`: path in the `from` state (bind, cache) or secret id source.
    pub source: Option<String>,
    /// `from`: a stage or image to take the source from.
    pub from: Option<String>,
    /// `id` (cache, secret, ssh).
    pub id: Option<String>,
    /// `sharing=shared|private|locked` (cache; default shared).
    pub sharing: Option<String>,
    /// Read-only (default true for bind/secret/ssh, false for cache/tmpfs).
    pub read_only: bool,
    /// `mode` (octal), `uid`, `gid` (cache, secret, ssh).
    pub mode: Option<u32>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
    /// `required` (secret, ssh).
    pub required: bool,
}

/// `COPY`/`ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyCmd {
    /// Sources (JSON strings or blank-separated words), unsubstituted. A source may name a
    /// heredoc (`<<EOF`).
    pub sources: Vec<String>,
    /// Destination, unsubstituted.
    pub dest: String,
    /// `--from` (COPY only).
    pub from: Option<String>,
    /// `--chown`, unsubstituted.
    pub chown: Option<String>,
    /// `--chmod` (BuildKit).
    pub chmod: Option<String>,
    /// `--link` (BuildKit).
    pub link: bool,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthcheckCmd {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [options] CMD ...`.
    Cmd {
        /// `["CMD-SHELL", text]` or `["CMD", argv...]`.
        test: Vec<String>,
        /// `--interval` in nanoseconds, when given.
        interval: Option<i64>,
        /// `--timeout`.
        timeout: Option<i64>,
        /// `--start-period`.
        start_period: Option<i64>,
        /// `--start-interval`.
        start_interval: Option<i64>,
        /// `--retries`.
        retries: Option<i64>,
    },
}

/// `ONBUILD`: the trigger is stored as text and parsed when it runs in a child build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnBuildCmd {
    /// The text after `ONBUILD `.
    pub expression: String,
}

/// A `key=value` of ENV or LABEL, both unsubstituted (quotes still in place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// One name of an ARG line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub name: String,
    /// The default, unsubstituted.
    pub default: Option<String>,
}

/// The flags an instruction accepts, and what they hold after parsing.
struct Flags {
    allowed: &'static [(&'static str, FlagType)],
    values: Vec<(&'static str, Option<String>)>,
}

#[derive(Clone, Copy, PartialEq)]
enum FlagType {
    Str,
    Strings,
    Bool,
}

impl Flags {
    /// Docker's BFlags parsing: `--name=value`, or `--name` for booleans.
    fn parse(
        words: &[String],
        allowed: &'static [(&'static str, FlagType)],
    ) -> Result<Flags, String> {
        let mut values: Vec<(&'static str, Option<String>)> = Vec::new();
        for w in words {
            let Some(arg) = w.strip_prefix("--") else {
                return Err(format!("Arg {w:?} must start with '--'"));
            };
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (arg, None),
            };
            let Some(&(key, ty)) = allowed.iter().find(|(n, _)| *n == name) else {
                return Err(format!("Unknown flag: {name}"));
            };
            if ty != FlagType::Strings && values.iter().any(|(n, _)| *n == key) {
                return Err(format!("Duplicate flag specified: {name}"));
            }
            match ty {
                FlagType::Bool => match value.as_deref() {
                    None | Some("true") | Some("") => values.push((key, Some("true".into()))),
                    Some("false") => values.push((key, Some("false".into()))),
                    Some(v) => {
                        return Err(format!("expecting boolean value for flag {name}, not: {v}"))
                    }
                },
                FlagType::Str | FlagType::Strings => match value {
                    Some(v) => values.push((key, Some(v))),
                    None => return Err(format!("Missing a value on flag: {name}")),
                },
            }
        }
        Ok(Flags { allowed, values })
    }

    fn string(&self, name: &str) -> Option<String> {
        debug_assert!(self.allowed.iter().any(|(n, _)| *n == name));
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.clone())
    }

    fn strings(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }

    fn bool(&self, name: &str) -> bool {
        self.string(name).as_deref() == Some("true")
    }
}

/// Parses one joined instruction line (`keyword [flags] args`). The error is the message only;
/// the caller adds the line.
pub(crate) fn parse_command(line: &str, escape: char) -> Result<Command, String> {
    let line = line.trim();
    let (keyword, rest) = match line.find(char::is_whitespace) {
        Some(i) => (&line[..i], line[i..].trim_start()),
        None => (line, ""),
    };
    let (rest, flag_words) = extract_flags(rest);
    let rest = rest.trim().to_string();
    let upper = keyword.to_ascii_uppercase();
    let no_flags: &'static [(&'static str, FlagType)] = &[];
    let flags_for = |allowed| Flags::parse(&flag_words, allowed);
    match upper.as_str() {
        "FROM" => {
            let f = flags_for(&[("platform", FlagType::Str)])?;
            let args: Vec<&str> = rest.split_whitespace().collect();
            let name = match args.len() {
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let name = args[2].to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(format!(
                            "invalid name for build stage: {:?}, name can't start with a number or contain symbols",
                            args[2]
                        ));
                    }
                    Some(name)
                }
                1 => None,
                _ => return Err("FROM requires either one or three arguments".to_string()),
            };
            Ok(Command::From(FromCmd {
                image: args[0].to_string(),
                name,
                platform: f.string("platform"),
            }))
        }
        "RUN" => {
            let f = flags_for(&[
                ("mount", FlagType::Strings),
                ("network", FlagType::Str),
                ("security", FlagType::Str),
            ])?;
            let mounts = f
                .strings("mount")
                .iter()
                .map(|m| parse_mount(m))
                .collect::<Result<_, _>>()?;
            let network = match f.string("network").as_deref() {
                None => None,
                Some("default") => Some(Network::Default),
                Some("none") => Some(Network::None),
                Some("host") => Some(Network::Host),
                Some(other) => return Err(format!("unsupported network mode {other:?}")),
            };
            if let Some(s) = f.string("security") {
                if s != "sandbox" && s != "insecure" {
                    return Err(format!("unsupported security mode {s:?}"));
                }
            }
            Ok(Command::Run(RunCmd {
                cmd: shell_or_exec(&rest)?,
                mounts,
                network,
            }))
        }
        "CMD" => {
            flags_for(no_flags)?;
            Ok(Command::Cmd(shell_or_exec(&rest)?))
        }
        "ENTRYPOINT" => {
            flags_for(no_flags)?;
            Ok(Command::Entrypoint(shell_or_exec(&rest)?))
        }
        "ENV" | "LABEL" => {
            flags_for(no_flags)?;
            let pairs = name_values(&rest, &upper, escape)?;
            Ok(if upper == "ENV" {
                Command::Env(pairs)
            } else {
                Command::Label(pairs)
            })
        }
        "ARG" => {
            flags_for(no_flags)?;
            let words = quoted_words(&rest, escape);
            if words.is_empty() {
                return Err("ARG requires at least one argument".to_string());
            }
            words
                .into_iter()
                .map(|w| match w.split_once('=') {
                    Some(("", _)) => Err("ARG names can not be blank".to_string()),
                    Some((n, v)) => Ok(ArgDecl {
                        name: n.to_string(),
                        default: Some(v.to_string()),
                    }),
                    None => Ok(ArgDecl {
                        name: w,
                        default: None,
                    }),
                })
                .collect::<Result<_, _>>()
                .map(Command::Arg)
        }
        "EXPOSE" => {
            flags_for(no_flags)?;
            // Docker sorts the words at parse time; the history text shows them sorted.
            let mut ports: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
            ports.sort();
            if ports.is_empty() {
                return Err("EXPOSE requires at least one argument".to_string());
            }
            Ok(Command::Expose(ports))
        }
        "WORKDIR" | "USER" | "STOPSIGNAL" | "MAINTAINER" => {
            flags_for(no_flags)?;
            if rest.is_empty() {
                return Err(format!("{upper} requires exactly one argument"));
            }
            Ok(match upper.as_str() {
                "WORKDIR" => Command::Workdir(rest),
                "USER" => Command::User(rest),
                "STOPSIGNAL" => Command::StopSignal(rest),
                _ => Command::Maintainer(rest),
            })
        }
        "VOLUME" => {
            flags_for(no_flags)?;
            let paths: Vec<String> = json_or_words(&rest)?
                .iter()
                .map(|p| p.trim().to_string())
                .collect();
            if paths.is_empty() {
                return Err("VOLUME requires at least one argument".to_string());
            }
            if paths.iter().any(String::is_empty) {
                return Err("VOLUME specified can not be an empty string".to_string());
            }
            Ok(Command::Volume(paths))
        }
        "COPY" | "ADD" => {
            let f = if upper == "COPY" {
                flags_for(&[
                    ("from", FlagType::Str),
                    ("chown", FlagType::Str),
                    ("chmod", FlagType::Str),
                    ("link", FlagType::Bool),
                ])?
            } else {
                flags_for(&[
                    ("chown", FlagType::Str),
                    ("chmod", FlagType::Str),
                    ("link", FlagType::Bool),
                ])?
            };
            let mut paths = json_or_words(&rest)?;
            if paths.len() < 2 {
                return Err(format!(
                    "{upper} requires at least two arguments, but only one was provided. Destination could not be determined."
                ));
            }
            let dest = paths.pop().expect("at least two paths");
            let cmd = CopyCmd {
                sources: paths,
                dest,
                from: if upper == "COPY" {
                    f.string("from")
                } else {
                    None
                },
                chown: f.string("chown"),
                chmod: f.string("chmod"),
                link: f.bool("link"),
            };
            Ok(if upper == "COPY" {
                Command::Copy(cmd)
            } else {
                Command::Add(cmd)
            })
        }
        "SHELL" => {
            flags_for(no_flags)?;
            match json_array(&rest) {
                JsonForm::Strings(v) if v.is_empty() => {
                    Err("SHELL requires at least one argument".to_string())
                }
                JsonForm::Strings(v) => Ok(Command::Shell(v)),
                JsonForm::NotStrings => Err(NOT_STRINGS.to_string()),
                JsonForm::NotJson if rest.is_empty() => {
                    Err("SHELL requires at least one argument".to_string())
                }
                JsonForm::NotJson => {
                    Err("SHELL requires the arguments to be in JSON form".to_string())
                }
            }
        }
        "HEALTHCHECK" => parse_healthcheck(&rest, &flag_words),
        "ONBUILD" => {
            flags_for(no_flags)?;
            if rest.is_empty() {
                return Err("ONBUILD requires at least one argument".to_string());
            }
            let trigger = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string())
                }
                "FROM" | "MAINTAINER" => {
                    Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                _ => Ok(Command::OnBuild(OnBuildCmd { expression: rest })),
            }
        }
        _ => Err(unknown_instruction(keyword)),
    }
}

const NOT_STRINGS: &str = "when using JSON array syntax, arrays must be comprised of strings only";

/// Docker's message plus BuildKit's suggestion for a near miss.
fn unknown_instruction(keyword: &str) -> String {
    let upper = keyword.to_ascii_uppercase();
    match suggest(&upper, KEYWORDS) {
        Some(s) => format!("unknown instruction: {upper} (did you mean {s}?)"),
        None => format!("unknown instruction: {upper}"),
    }
}

/// The closest candidate by edit distance, if it is close enough to be a typo: at most two
/// edits, and at most half the word.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let (best, d) = candidates
        .iter()
        .map(|c| (*c, edit_distance(word, c)))
        .min_by_key(|(_, d)| *d)?;
    (d > 0 && d <= 2 && d * 2 <= word.chars().count()).then_some(best)
}

/// Levenshtein distance with adjacent transpositions counted as one edit (optimal string
/// alignment), so `FORM` is one edit from `FROM`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// Stage names: a letter, then letters, digits, `-`, `_`, `.` (already lower-cased).
pub fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// `parseMaybeJSON`: a JSON string array is exec form, anything else shell form.
fn shell_or_exec(rest: &str) -> Result<ShellOrExec, String> {
    if rest.is_empty() {
        return Ok(ShellOrExec::Shell(String::new()));
    }
    match json_array(rest) {
        JsonForm::Strings(v) => Ok(ShellOrExec::Exec(v)),
        JsonForm::NotStrings => Err(NOT_STRINGS.to_string()),
        JsonForm::NotJson => Ok(ShellOrExec::Shell(rest.to_string())),
    }
}

/// `parseMaybeJSONToList`: a JSON string array, else blank-separated words.
fn json_or_words(rest: &str) -> Result<Vec<String>, String> {
    match json_array(rest) {
        JsonForm::Strings(v) => Ok(v),
        JsonForm::NotStrings => Err(NOT_STRINGS.to_string()),
        JsonForm::NotJson => Ok(rest.split_whitespace().map(str::to_string).collect()),
    }
}

/// `parseNameVal`: `KEY name value` (legacy, one pair: the rest of the line) or
/// `KEY n=v n2="v 2" ...`.
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Vec<KeyValue>, String> {
    let words = quoted_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(format!("{keyword} requires at least one argument"));
    };
    if !first.contains('=') {
        let mut parts = rest.splitn(2, char::is_whitespace);
        let key = parts.next().unwrap_or_default();
        let value = parts.next().map(str::trim_start).unwrap_or_default();
        if value.is_empty() {
            return Err(format!("{keyword} must have two arguments"));
        }
        return Ok(vec![KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        }]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            None => Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )),
            Some(("", _)) => Err(format!("{keyword} names can not be blank")),
            Some((k, v)) => Ok(KeyValue {
                key: k.to_string(),
                value: v.to_string(),
            }),
        })
        .collect()
}

fn parse_healthcheck(rest: &str, flag_words: &[String]) -> Result<Command, String> {
    let (typ, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim_start()),
        None => (rest, ""),
    };
    if typ.is_empty() {
        return Err("HEALTHCHECK requires at least one argument".to_string());
    }
    let typ = typ.to_ascii_uppercase();
    if typ == "NONE" {
        if !args.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".to_string());
        }
        return Ok(Command::Healthcheck(HealthcheckCmd::None));
    }
    let f = Flags::parse(
        flag_words,
        &[
            ("interval", FlagType::Str),
            ("timeout", FlagType::Str),
            ("start-period", FlagType::Str),
            ("start-interval", FlagType::Str),
            ("retries", FlagType::Str),
        ],
    )?;
    if typ != "CMD" {
        return Err(format!("Unknown type \"{typ}\" in HEALTHCHECK (try CMD)"));
    }
    let test = match shell_or_exec(args)? {
        ShellOrExec::Exec(v) if v.is_empty() => Vec::new(),
        ShellOrExec::Shell(s) if s.is_empty() => Vec::new(),
        ShellOrExec::Exec(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
        ShellOrExec::Shell(s) => vec!["CMD-SHELL".to_string(), s],
    };
    if test.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".to_string());
    }
    let interval = |name: &str| -> Result<Option<i64>, String> {
        match f.string(name).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => {
                let d = parse_go_duration(&s)?;
                if d < 1_000_000 {
                    return Err(format!("Interval {name:?} cannot be less than 1ms"));
                }
                Ok(Some(d))
            }
        }
    };
    let retries = match f.string("retries").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => {
            let n: i64 = s
                .parse()
                .ok()
                .filter(|n: &i64| i32::try_from(*n).is_ok())
                .ok_or_else(|| format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))?;
            if n < 1 {
                return Err(format!("--retries must be at least 1 (not {n})"));
            }
            Some(n)
        }
    };
    Ok(Command::Healthcheck(HealthcheckCmd::Cmd {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    }))
}

/// Go's `time.ParseDuration`, in nanoseconds (`1m30s`, `1.5h`, `300ms`, `0`).
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: f64 = match unit {
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => return Err(format!("time: unknown unit {other:?} in duration {s:?}")),
        };
        total += value * scale;
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let ns = total.round() as i64;
    Ok(if neg { -ns } else { ns })
}
