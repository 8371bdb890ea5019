//! What each instruction does to a stage (reference §4, §8, §9): the image-config effect as a
//! pure function, and the history entry the classic builder writes for it.
//!
//! The executor keeps one [`StageState`] per stage, created from the base image's config
//! ([`StageState::new`] adds the default `PATH` and takes the base's ONBUILD triggers), and
//! calls [`StageState::dispatch`] for every instruction after `FROM`. Metadata instructions
//! are finished when `dispatch` returns ([`Step::Metadata`]: commit an empty layer with the
//! given history). `RUN`, `COPY`/`ADD` and `WORKDIR` return what the executor must do
//! ([`RunStep`], [`CopyStep`], [`WorkdirStep`]) with everything already substituted.
//!
//! Behaviour follows Docker's classic builder, including its quirks: shell-form commands use
//! the current `SHELL`; `ENTRYPOINT` clears a `Cmd` not set in this stage; a child
//! `HEALTHCHECK` keeps the parent's unset options.

use std::collections::BTreeMap;

use api::image::{ContainerConfig, EmptyObject, Healthcheck, History};
use api::ErrorKind;

use crate::expand::{expand_heredoc, expand_word, expand_words, ExpandError};
use crate::history::{go_duration, go_quote_rune, go_quote_slice, go_slice, nop, nop_one_blank};
use crate::parse::{
    Command, CopyCmd, HealthcheckCmd, Heredoc, Instruction, KeyValue, Network, RunMount,
    ShellOrExec,
};
use crate::scope::{env_key, ArgScope};

/// `PATH` every stage gets when its base has none (also `FROM scratch`).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The shell of shell-form commands when `SHELL` was never set.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".to_string(), "-c".to_string()]
}

/// An instruction that cannot be applied. `Display` is Docker's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// Substitution failed.
    #[error(transparent)]
    Expand(#[from] ExpandError),
    /// `EXPOSE abc`.
    #[error("Invalid containerPort: {0}")]
    InvalidPort(String),
    /// `EXPOSE 80/xyz`.
    #[error("invalid proto: {0}")]
    InvalidProto(String),
    /// `EXPOSE 9-1`.
    #[error("invalid range specified for the Port: {0}")]
    InvalidRange(String),
    /// `STOPSIGNAL bogus`.
    #[error("Invalid signal: {0}")]
    InvalidSignal(String),
    /// A value that substitutes to nothing where one is needed.
    #[error("{0}")]
    Invalid(String),
    /// `FROM` reached `dispatch` (the plan splits stages at `FROM`).
    #[error("FROM must be handled by the build plan")]
    UnexpectedFrom,
}

impl DispatchError {
    /// Always the user's Dockerfile.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DispatchError::UnexpectedFrom => ErrorKind::Internal,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

/// The result of dispatching one instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The config is already updated; commit an empty layer with this history entry.
    Metadata(MetadataStep),
    /// Run a command in a build container.
    Run(RunStep),
    /// Copy files into the stage.
    Copy(CopyStep),
    /// Create the (already set) working directory.
    Workdir(WorkdirStep),
}

/// A finished metadata change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataStep {
    /// The history entry (`empty_layer: true`).
    pub history: History,
    /// A line to print before the step's result, e.g. Docker's
    /// `Note: overriding previous HEALTHCHECK: [CMD-SHELL ...]`.
    pub note: Option<String>,
}

/// A `RUN` for the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    /// The argv to execute (shell form already wrapped in the stage's shell).
    pub argv: Vec<String>,
    /// The container's environment: the config's `Env` plus the allowed build args it does
    /// not shadow (`HOSTNAME` and `HOME` are the executor's).
    pub env: Vec<String>,
    /// `Config.User` at this point (resolved by the executor in the image's passwd).
    pub user: String,
    /// `Config.WorkingDir` at this point (`/` when unset).
    pub working_dir: String,
    /// `--mount`s, values substituted.
    pub mounts: Vec<RunMount>,
    /// `--network`.
    pub network: Option<Network>,
    /// Files to provide: a heredoc-only RUN whose body starts with `#!` runs as a script at
    /// `/dev/pipes/<name>` (BuildKit); other heredocs are passed inline in the shell text.
    pub script: Option<InlineFile>,
    /// The classic builder's `created_by` (`|1 V=1 /bin/sh -c ...`) and cache signature.
    pub created_by: String,
}

/// A heredoc turned into a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFile {
    /// File name (the heredoc delimiter).
    pub name: String,
    /// Contents (tabs stripped for `<<-`, variables expanded unless quoted).
    pub data: String,
    /// Mode bits.
    pub mode: u32,
}

/// One `COPY`/`ADD` source after substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A path (maybe with wildcards, maybe a URL for ADD) relative to the context or the
    /// `--from` stage's root.
    Path(String),
    /// A heredoc written as a file (mode 0644).
    Inline(InlineFile),
}

/// A `COPY`/`ADD` for the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStep {
    /// True for `ADD` (archives are extracted, URLs downloaded).
    pub add: bool,
    /// Sources in order.
    pub sources: Vec<CopySource>,
    /// Destination made absolute against the working directory; a trailing `/` is kept.
    pub dest: String,
    /// `--from` as written (resolve it with [`crate::plan::BuildPlan::resolve_from`]).
    pub from: Option<String>,
    /// `--chown`, substituted.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// The destination as written (substituted): Docker's history shows it unresolved
    /// (`COPY file:<hex> in . `).
    pub dest_text: String,
    /// The shell prefix of the history text.
    shell: Vec<String>,
}

impl CopyStep {
    /// The classic builder's `created_by` once the executor knows the sources' hash
    /// description (`file:<hex>`, `dir:<hex>`, `multi:<hex>`, or a URL's `<hex>`):
    /// `/bin/sh -c #(nop) COPY file:<hex> in /f `.
    pub fn created_by(&self, source_hash: &str) -> String {
        let chown = self
            .chown
            .as_deref()
            .map(|c| format!("--chown={c}"))
            .unwrap_or_default();
        let name = if self.add { "ADD" } else { "COPY" };
        nop_one_blank(
            &self.shell,
            &format!("{name} {chown}{source_hash} in {} ", self.dest_text),
        )
    }
}

/// A `WORKDIR` for the executor: create `path` (mode 0755) if missing; the layer is empty when
/// it already existed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkdirStep {
    /// The new absolute, cleaned working directory.
    pub path: String,
    /// `/bin/sh -c #(nop) WORKDIR /w` (set `empty_layer` from whether it existed).
    pub created_by: String,
}

/// A stage being built: its config and variables.
#[derive(Debug, Clone, PartialEq)]
pub struct StageState {
    /// The config so far (what `docker image inspect .Config` will show).
    pub config: ContainerConfig,
    /// `MAINTAINER` (the image's top-level `author`).
    pub author: Option<String>,
    /// The stage's ARGs.
    pub args: ArgScope,
    /// The escape character of the Dockerfile.
    pub escape: char,
    /// ONBUILD triggers of the base image, to run right after FROM (then forgotten).
    pub triggers: Vec<String>,
    cmd_set: bool,
}

impl StageState {
    /// A stage on top of `base` (the base image's or parent stage's config; default for
    /// `scratch`). Adds the default PATH when missing and takes the ONBUILD triggers out.
    pub fn new(mut base: ContainerConfig, args: ArgScope, escape: char) -> StageState {
        let env = base.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| env_key(e) == "PATH") {
            env.push(DEFAULT_PATH.to_string());
        }
        let triggers = base.on_build.take().unwrap_or_default();
        StageState {
            config: base,
            author: None,
            args,
            escape,
            triggers,
            cmd_set: false,
        }
    }

    /// Parses the base image's ONBUILD triggers (in [`Self::triggers`]) so the executor can
    /// dispatch them right after FROM (`# Executing N build triggers`). Errors name `file`
    /// and the FROM line.
    pub fn trigger_instructions(
        &self,
        file: &str,
        from_line: usize,
    ) -> Result<Vec<Instruction>, crate::parse::ParseError> {
        self.triggers
            .iter()
            .map(|t| crate::parse::parse_line(file, from_line, t, self.escape))
            .collect()
    }

    /// The current shell (`SHELL`, or `/bin/sh -c`).
    pub fn shell(&self) -> Vec<String> {
        self.config.shell.clone().unwrap_or_else(default_shell)
    }

    fn env(&self) -> Vec<String> {
        self.config.env.clone().unwrap_or_default()
    }

    /// Substitution variables at this point (Env, then allowed args not shadowed).
    pub fn vars(&self) -> Vec<(String, String)> {
        self.args.substitution_vars(&self.env())
    }

    fn expand(&self, vars: &[(String, String)], word: &str) -> Result<String, ExpandError> {
        expand_word(word, self.escape, vars)
    }

    fn metadata(&self, text: &str) -> Step {
        Step::Metadata(MetadataStep {
            history: empty_history(nop(&self.shell(), text)),
            note: None,
        })
    }

    fn with_shell(&self, cmd: &ShellOrExec) -> Vec<String> {
        match cmd {
            ShellOrExec::Exec(v) => v.clone(),
            ShellOrExec::Shell(text) => {
                let mut v = self.shell();
                if !text.is_empty() {
                    v.push(text.clone());
                }
                v
            }
        }
    }

    /// Applies one instruction (not `FROM`).
    pub fn dispatch(&mut self, instr: &Instruction) -> Result<Step, DispatchError> {
        let vars = self.vars();
        match &instr.command {
            Command::From(_) => Err(DispatchError::UnexpectedFrom),
            Command::Env(pairs) => {
                let pairs = self.expand_pairs(&vars, pairs)?;
                let env = self.config.env.get_or_insert_with(Vec::new);
                let mut text = String::from("ENV");
                for (k, v) in pairs {
                    let entry = format!("{k}={v}");
                    text.push(' ');
                    text.push_str(&entry);
                    match env.iter_mut().find(|e| env_key(e) == k) {
                        Some(e) => *e = entry,
                        None => env.push(entry),
                    }
                }
                Ok(self.metadata(&text))
            }
            Command::Label(pairs) => {
                let pairs = self.expand_pairs(&vars, pairs)?;
                let labels = self.config.labels.get_or_insert_with(BTreeMap::new);
                let mut text = String::from("LABEL");
                for (k, v) in pairs {
                    text.push_str(&format!(" {k}={v}"));
                    labels.insert(k, v);
                }
                Ok(self.metadata(&text))
            }
            Command::Arg(decls) => {
                let mut text = String::from("ARG ");
                let mut expanded = Vec::new();
                for (i, d) in decls.iter().enumerate() {
                    let default = match &d.default {
                        Some(v) => Some(self.expand(&vars, v)?),
                        None => None,
                    };
                    if i > 0 {
                        text.push(' ');
                    }
                    text.push_str(&d.name);
                    if let Some(v) = &default {
                        text.push('=');
                        text.push_str(v);
                    }
                    expanded.push((d.name.clone(), default));
                }
                for (name, default) in expanded {
                    self.args.declare(&name, default);
                }
                Ok(self.metadata(&text))
            }
            Command::Expose(words) => {
                let mut ports = Vec::new();
                for w in words {
                    ports.extend(expand_words(w, self.escape, vars.as_slice())?);
                }
                let keys = port_keys(&ports)?;
                let set = self.config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for k in keys {
                    set.insert(k, EmptyObject {});
                }
                Ok(self.metadata(&format!("EXPOSE {}", ports.join(" "))))
            }
            Command::Workdir(path) => {
                let path = self.expand(&vars, path)?;
                if path.is_empty() {
                    return Err(DispatchError::Invalid("cannot normalize nothing".into()));
                }
                let current = self.config.working_dir.clone().unwrap_or_default();
                let new = resolve_workdir(&current, &path);
                self.config.working_dir = Some(new.clone());
                Ok(Step::Workdir(WorkdirStep {
                    created_by: nop_one_blank(&self.shell(), &format!("WORKDIR {new}")),
                    path: new,
                }))
            }
            Command::User(user) => {
                let user = self.expand(&vars, user)?;
                self.config.user = Some(user.clone());
                Ok(self.metadata(&format!("USER {user}")))
            }
            Command::Volume(paths) => {
                let mut expanded = Vec::new();
                for p in paths {
                    let v = self.expand(&vars, p)?;
                    if v.is_empty() {
                        return Err(DispatchError::Invalid(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    expanded.push(v);
                }
                let set = self.config.volumes.get_or_insert_with(BTreeMap::new);
                for v in &expanded {
                    set.insert(v.clone(), EmptyObject {});
                }
                Ok(self.metadata(&format!("VOLUME {}", go_slice(&expanded))))
            }
            Command::StopSignal(sig) => {
                let sig = self.expand(&vars, sig)?;
                if !valid_signal(&sig) {
                    return Err(DispatchError::InvalidSignal(sig));
                }
                self.config.stop_signal = Some(sig.clone());
                Ok(self.metadata(&format!("STOPSIGNAL {sig}")))
            }
            Command::Maintainer(m) => {
                self.author = Some(m.clone());
                Ok(self.metadata(&format!("MAINTAINER {}", m)))
            }
            Command::Cmd(cmd) => {
                let argv = self.with_shell(cmd);
                if !matches!(cmd, ShellOrExec::Exec(v) if v.is_empty()) {
                    self.cmd_set = true;
                }
                let text = format!("CMD {}", go_quote_slice(&argv));
                self.config.cmd = Some(argv);
                Ok(self.metadata(&text))
            }
            Command::Entrypoint(cmd) => {
                let argv = match cmd {
                    ShellOrExec::Exec(v) if v.is_empty() => None,
                    other => Some(self.with_shell(other)),
                };
                let text = format!(
                    "ENTRYPOINT {}",
                    go_quote_slice(argv.as_deref().unwrap_or_default())
                );
                self.config.entrypoint = argv;
                if !self.cmd_set {
                    self.config.cmd = None;
                }
                Ok(self.metadata(&text))
            }
            Command::Shell(shell) => {
                self.config.shell = Some(shell.clone());
                Ok(self.metadata(&format!("SHELL {}", go_slice(shell))))
            }
            Command::OnBuild(o) => {
                self.config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(o.expression.clone());
                Ok(self.metadata(&format!("ONBUILD {}", o.expression)))
            }
            Command::Healthcheck(h) => Ok(self.healthcheck(h)),
            Command::Run(run) => self.run(instr, run, &vars),
            Command::Copy(c) => self.copy(instr, c, false, &vars),
            Command::Add(c) => self.copy(instr, c, true, &vars),
        }
    }

    fn expand_pairs(
        &self,
        vars: &[(String, String)],
        pairs: &[KeyValue],
    ) -> Result<Vec<(String, String)>, ExpandError> {
        // Every reference on one line sees the values from before the line.
        pairs
            .iter()
            .map(|kv| Ok((self.expand(vars, &kv.key)?, self.expand(vars, &kv.value)?)))
            .collect()
    }

    fn healthcheck(&mut self, h: &HealthcheckCmd) -> Step {
        let note = self
            .config
            .healthcheck
            .as_ref()
            .filter(|old| old.test.first().is_some_and(|t| t != "NONE"))
            .map(|old| {
                format!(
                    "Note: overriding previous HEALTHCHECK: {}",
                    go_slice(&old.test)
                )
            });
        let written = match h {
            HealthcheckCmd::None => Healthcheck {
                test: vec!["NONE".to_string()],
                ..Healthcheck::default()
            },
            HealthcheckCmd::Cmd {
                test,
                interval,
                timeout,
                start_period,
                start_interval,
                retries,
            } => Healthcheck {
                test: test.clone(),
                interval: *interval,
                timeout: *timeout,
                start_period: *start_period,
                start_interval: *start_interval,
                retries: *retries,
            },
        };
        let text = format!(
            "HEALTHCHECK &{{{} {} {} {} {}}}",
            go_quote_slice(&written.test),
            go_quote_dur(written.interval),
            go_quote_dur(written.timeout),
            go_quote_dur(written.start_period),
            go_quote_rune(written.retries.unwrap_or(0)),
        );
        // Classic-builder quirk: options the child leaves unset keep the parent's values.
        let stored = match self.config.healthcheck.take() {
            Some(parent) => Healthcheck {
                test: written.test,
                interval: written.interval.or(parent.interval),
                timeout: written.timeout.or(parent.timeout),
                start_period: written.start_period.or(parent.start_period),
                start_interval: written.start_interval.or(parent.start_interval),
                retries: written.retries.or(parent.retries),
            },
            None => written,
        };
        self.config.healthcheck = Some(stored);
        Step::Metadata(MetadataStep {
            history: empty_history(nop(&self.shell(), &text)),
            note,
        })
    }

    fn run(
        &self,
        instr: &Instruction,
        run: &crate::parse::RunCmd,
        vars: &[(String, String)],
    ) -> Result<Step, DispatchError> {
        let env = self.env();
        let mut script = None;
        let argv = match (&run.cmd, instr.heredocs.as_slice()) {
            (ShellOrExec::Shell(text), [doc]) if is_only_heredoc(text, doc) => {
                let data = heredoc_data(doc, vars, false)?;
                if data.starts_with("#!") {
                    // BuildKit mounts the script read-only at /dev/pipes and still prefixes
                    // the shell: `/bin/sh -c /dev/pipes/EOF` executes it.
                    let mut argv = self.shell();
                    argv.push(format!("/dev/pipes/{}", doc.name));
                    script = Some(InlineFile {
                        name: doc.name.clone(),
                        data,
                        mode: 0o755,
                    });
                    argv
                } else {
                    let mut v = self.shell();
                    v.push(data);
                    v
                }
            }
            (ShellOrExec::Shell(text), docs) if !docs.is_empty() => {
                // The shell reads the heredocs itself: hand it the whole script.
                let mut full = text.clone();
                for d in docs {
                    full.push('\n');
                    full.push_str(&d.content);
                    full.push_str(&d.name);
                }
                let mut v = self.shell();
                v.push(full);
                v
            }
            (cmd, _) => self.with_shell(cmd),
        };
        let history_args = self.args.history_args(&env);
        let mut created_by = Vec::new();
        if !history_args.is_empty() {
            created_by.push(format!("|{}", history_args.len()));
            created_by.extend(history_args);
        } else if !self.args.allowed_outside(&env).is_empty() {
            // Only proxy args: Docker still writes the count.
            created_by.push("|0".to_string());
        }
        created_by.extend(argv.iter().cloned());
        let mut run_env = env.clone();
        run_env.extend(
            self.args
                .allowed_outside(&env)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}")),
        );
        let mounts = run
            .mounts
            .iter()
            .map(|m| self.expand_mount(vars, m))
            .collect::<Result<_, _>>()?;
        Ok(Step::Run(RunStep {
            argv,
            env: run_env,
            user: self.config.user.clone().unwrap_or_default(),
            working_dir: self
                .config
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".to_string()),
            mounts,
            network: run.network,
            script,
            created_by: created_by.join(" "),
        }))
    }

    fn expand_mount(
        &self,
        vars: &[(String, String)],
        m: &RunMount,
    ) -> Result<RunMount, ExpandError> {
        let opt = |v: &Option<String>| -> Result<Option<String>, ExpandError> {
            v.as_deref().map(|s| self.expand(vars, s)).transpose()
        };
        Ok(RunMount {
            target: self.expand(vars, &m.target)?,
            source: opt(&m.source)?,
            from: opt(&m.from)?,
            id: opt(&m.id)?,
            ..m.clone()
        })
    }

    fn copy(
        &self,
        instr: &Instruction,
        c: &CopyCmd,
        add: bool,
        vars: &[(String, String)],
    ) -> Result<Step, DispatchError> {
        let mut sources = Vec::new();
        for s in &c.sources {
            let heredoc = crate::parse::words_heredoc_marker(s)
                .and_then(|m| instr.heredocs.iter().find(|d| d.name == m.name));
            match heredoc {
                Some(doc) => sources.push(CopySource::Inline(InlineFile {
                    name: doc.name.clone(),
                    data: heredoc_data(doc, vars, true)?,
                    mode: 0o644,
                })),
                None => sources.push(CopySource::Path(self.expand(vars, s)?)),
            }
        }
        let dest = self.expand(vars, &c.dest)?;
        let chown = c
            .chown
            .as_deref()
            .map(|v| self.expand(vars, v))
            .transpose()?
            .filter(|v| !v.is_empty());
        Ok(Step::Copy(CopyStep {
            add,
            sources,
            dest: normalize_dest(self.config.working_dir.as_deref().unwrap_or(""), &dest),
            dest_text: dest.clone(),
            from: c.from.clone(),
            chown,
            chmod: c.chmod.clone(),
            link: c.link,
            shell: self.shell(),
        }))
    }
}

fn go_quote_dur(ns: Option<i64>) -> String {
    crate::history::go_quote(&go_duration(ns.unwrap_or(0)))
}

fn empty_history(created_by: String) -> History {
    History {
        created_by: Some(created_by),
        empty_layer: Some(true),
        ..History::default()
    }
}

/// Is the shell text just the heredoc marker (`RUN <<EOF`)?
fn is_only_heredoc(text: &str, doc: &Heredoc) -> bool {
    let t = text.trim();
    crate::parse::words_heredoc_marker(t).is_some_and(|m| m.name == doc.name)
}

fn heredoc_data(
    doc: &Heredoc,
    vars: &[(String, String)],
    expand: bool,
) -> Result<String, ExpandError> {
    let body = doc.body();
    if expand && doc.expand {
        expand_heredoc(&body, vars)
    } else {
        Ok(body)
    }
}

/// `WORKDIR`: relative to the previous directory (or `/`), cleaned.
pub fn resolve_workdir(current: &str, requested: &str) -> String {
    if requested.starts_with('/') {
        clean_path(requested)
    } else {
        clean_path(&format!("/{current}/{requested}"))
    }
}

/// Go's `path.Clean` for absolute paths: no `.`, `..` or doubled slashes.
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `COPY` destination: relative ones are joined to the working directory and cleaned, with a
/// trailing `/` kept; absolute ones are kept as written.
pub fn normalize_dest(working_dir: &str, dest: &str) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    let mut out = clean_path(&format!("/{working_dir}/{dest}"));
    if dest.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// `EXPOSE` words to `port/proto` keys: `80`, `80/tcp`, `53/udp`, `7000-7002`, `80:80`
/// (host part dropped), `1.2.3.4:80:80`.
pub fn port_keys(words: &[String]) -> Result<Vec<String>, DispatchError> {
    let mut keys = Vec::new();
    for w in words {
        let (spec, proto) = match w.rsplit_once('/') {
            Some((s, p)) => (s, p.to_ascii_lowercase()),
            None => (w.as_str(), "tcp".to_string()),
        };
        if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
            return Err(DispatchError::InvalidProto(proto));
        }
        let container = spec.rsplit(':').next().unwrap_or(spec);
        if spec.matches(':').count() > 2 {
            return Err(DispatchError::InvalidPort(w.clone()));
        }
        let bad = || DispatchError::InvalidPort(container.to_string());
        let (lo, hi) = match container.split_once('-') {
            Some((a, b)) => {
                let a: u16 = a.parse().map_err(|_| bad())?;
                let b: u16 = b.parse().map_err(|_| bad())?;
                if b < a {
                    return Err(DispatchError::InvalidRange(container.to_string()));
                }
                (a, b)
            }
            None => {
                let p: u16 = container.parse().map_err(|_| bad())?;
                (p, p)
            }
        };
        for p in lo..=hi {
            keys.push(format!("{p}/{proto}"));
        }
    }
    Ok(keys)
}

/// Linux signal names Docker's `signal.ParseSignal` knows (without `SIG`).
const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// `STOPSIGNAL`: a positive number, or a name with or without `SIG` (any case), including
/// `RTMIN+n` / `RTMAX-n`.
pub fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u64>() {
        return n > 0;
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if SIGNALS.contains(&name) {
        return true;
    }
    let offset = |rest: &str| rest.parse::<u8>().is_ok_and(|n| (1..=15).contains(&n));
    if let Some(r) = name.strip_prefix("RTMIN+") {
        return offset(r);
    }
    if let Some(r) = name.strip_prefix("RTMAX-") {
        return offset(r);
    }
    false
}

#[cfg(test)]
mod tests;
