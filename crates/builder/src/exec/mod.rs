//! The IO half of `berth build`: runs a [`crate::plan::BuildPlan`] against the image store.
//!
//! Shape: [`build`] takes an unpacked context directory, the [`BuildSettings`] (Dockerfile
//! name, options, tags, `--no-cache`, `--pull`, network), the [`ImageStore`], the persisted
//! [`BuildCache`], an [`Executor`] (declared here, implemented by the engine: it runs `RUN`
//! steps as real containers and pulls base images) and an [`Output`] for Docker's message
//! stream. It is synchronous (call it on a blocking thread); every step commits an image:
//!
//! - metadata steps (ENV, CMD, LABEL, ...): [`ImageStore::derive_image`], no layer,
//!   `empty_layer: true`;
//! - RUN: the executor creates a container on the parent image, streams its output, the
//!   container's changes are committed as a layer;
//! - COPY/ADD/WORKDIR: an active snapshot on the parent, mounted here, written, committed.
//!
//! Each step's key ([`crate::cache::step_key`]: parent image, substituted instruction, for
//! COPY/ADD the content hash of the selected files) maps to the image it made in the cache;
//! a hit whose image still exists is reused (` ---> Using cache`). Stages the target does not
//! need are skipped; stages run in file order.

mod cache_store;
pub mod context;
pub mod files;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::SystemTime;

use api::image::{ContainerConfig, History, Platform};
use api::{Digest, ErrorKind, ImageRef};
use image::{CommitOptions, ImageError, ImageInfo, ImageStore};

pub use cache_store::BuildCache;

use crate::cache::{files_digest, source_description, step_key, CacheInput};
use crate::dispatch::{CopySource, CopyStep, MetadataStep, RunStep, StageState, Step, WorkdirStep};
use crate::ignore::IgnoreMatcher;
use crate::parse::{Instruction, MountType, Network};
use crate::plan::{
    format_platform, plan, platform_matches, BuildOptions, BuildPlan, FromSource, StageBase,
};
use files::{Ownership, Selected, SourceError};

/// Runs stages as soon as the stages they need are built, at most `slots` at a time (one per
/// CPU): independent stages in parallel, a `COPY --from` waiting only for its own stage.
struct Scheduler {
    state: Mutex<SchedState>,
    changed: Condvar,
}

struct SchedState {
    results: Vec<Option<Digest>>,
    failed: Option<(usize, BuildError)>,
    free: usize,
}

impl Scheduler {
    fn new(stages: usize, slots: usize) -> Scheduler {
        Scheduler {
            state: Mutex::new(SchedState {
                results: vec![None; stages],
                failed: None,
                free: slots.max(1),
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SchedState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until every stage in `deps` is built; the results so far. Fails (with a
    /// placeholder the caller never reports) when another stage failed.
    fn wait_for(&self, deps: &[usize]) -> Result<Vec<Option<Digest>>, BuildError> {
        let mut st = self.lock();
        loop {
            if st.failed.is_some() {
                return Err(BuildError::Cancelled);
            }
            if deps.iter().all(|d| st.results[*d].is_some()) {
                return Ok(st.results.clone());
            }
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Takes a CPU slot until the guard drops.
    fn slot(&self) -> SlotGuard<'_> {
        let mut st = self.lock();
        while st.free == 0 {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.free -= 1;
        SlotGuard(self)
    }

    fn done(&self, index: usize, result: Result<Digest, BuildError>) {
        let mut st = self.lock();
        match result {
            Ok(id) => st.results[index] = Some(id),
            Err(e) => {
                // The first failure in stage order is the one reported; a stage that only
                // stopped because another failed reports nothing.
                let replace = match &st.failed {
                    None => true,
                    Some((i, BuildError::Cancelled)) => {
                        !matches!(e, BuildError::Cancelled) || index < *i
                    }
                    Some((i, _)) => index < *i && !matches!(e, BuildError::Cancelled),
                };
                if replace {
                    st.failed = Some((index, e));
                }
            }
        }
        self.changed.notify_all();
    }

    fn failed(&self) -> bool {
        self.lock().failed.is_some()
    }

    /// The last stage's image, or the failure.
    fn outcome(&self, order: &[usize]) -> Result<Option<Digest>, BuildError> {
        let mut st = self.lock();
        if let Some((_, e)) = st.failed.take() {
            return Err(e);
        }
        Ok(order.last().and_then(|i| st.results[*i].clone()))
    }
}

struct SlotGuard<'a>(&'a Scheduler);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.lock().free += 1;
        self.0.changed.notify_all();
    }
}

/// Keeps the message stream in stage order while stages run in parallel: the first unfinished
/// stage streams live, later ones are held and flushed when their turn comes.
struct Ordered<'a> {
    out: &'a dyn Output,
    state: Mutex<OrderedState>,
}

enum Held {
    Stream(String),
    Aux(Digest),
}

struct OrderedState {
    head: usize,
    finished: Vec<bool>,
    held: Vec<Vec<Held>>,
}

impl<'a> Ordered<'a> {
    fn new(out: &'a dyn Output, stages: usize) -> Ordered<'a> {
        Ordered {
            out,
            state: Mutex::new(OrderedState {
                head: 0,
                finished: vec![false; stages],
                held: (0..stages).map(|_| Vec::new()).collect(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OrderedState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, h: &Held) {
        match h {
            Held::Stream(t) => self.out.stream(t),
            Held::Aux(id) => self.out.aux_id(id),
        }
    }

    fn send(&self, pos: usize, h: Held) {
        let mut st = self.lock();
        if pos == st.head {
            self.emit(&h);
        } else {
            st.held[pos].push(h);
        }
    }

    fn finish(&self, pos: usize) {
        let mut st = self.lock();
        st.finished[pos] = true;
        while st.head < st.finished.len() {
            let head = st.head;
            for h in std::mem::take(&mut st.held[head]) {
                self.emit(&h);
            }
            if !st.finished[head] {
                break;
            }
            st.head += 1;
        }
    }
}

/// One stage's view of the ordered output.
struct StageOutput<'a> {
    ordered: &'a Ordered<'a>,
    pos: usize,
    sched: &'a Scheduler,
}

impl Output for StageOutput<'_> {
    fn stream(&self, text: &str) {
        self.ordered.send(self.pos, Held::Stream(text.to_string()));
    }
    fn aux_id(&self, id: &Digest) {
        self.ordered.send(self.pos, Held::Aux(id.clone()));
    }
    fn cancelled(&self) -> bool {
        self.ordered.out.cancelled() || self.sched.failed()
    }
}

/// Prefix of the snapshots a build writes into: the image store removes leftovers of this
/// prefix at start, so a crash mid-step leaks nothing.
const SNAPSHOT_PREFIX: &str = "extract-build-";

/// A build that failed. `Display` is what Docker prints.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile cannot be read.
    #[error("{0}")]
    Dockerfile(String),
    /// Parse error (Docker's `dockerfile parse error line N: ...`).
    #[error(transparent)]
    Parse(#[from] crate::ParseError),
    /// Plan error (no FROM, unknown target, ...).
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// An instruction cannot be applied.
    #[error(transparent)]
    Dispatch(#[from] crate::dispatch::DispatchError),
    /// `.dockerignore` is invalid.
    #[error(transparent)]
    Ignore(#[from] crate::ignore::IgnoreError),
    /// COPY/ADD failed (`COPY failed: ...`).
    #[error("{verb} failed: {source}")]
    Copy {
        /// `COPY` or `ADD`.
        verb: &'static str,
        /// Why.
        source: SourceError,
    },
    /// A RUN exited non-zero.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        /// The argv joined with blanks.
        command: String,
        /// Its exit code (what the CLI exits with).
        code: i64,
    },
    /// Something the build cannot do (yet).
    #[error("{0}")]
    Unsupported(String),
    /// The base image is not of the stage's platform and none of that platform is found.
    #[error("{0}")]
    Platform(String),
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The executor (container runtime, registry) failed.
    #[error("{0}")]
    Executor(String),
    /// The client went away.
    #[error("build cancelled")]
    Cancelled,
    /// Local IO failed.
    #[error("{0}")]
    Io(String),
}

impl BuildError {
    /// The error class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Dockerfile(_)
            | BuildError::Parse(_)
            | BuildError::Plan(_)
            | BuildError::Dispatch(_)
            | BuildError::Ignore(_)
            | BuildError::Copy { .. }
            | BuildError::Unsupported(_)
            | BuildError::Platform(_) => ErrorKind::InvalidArgument,
            BuildError::RunFailed { .. } => ErrorKind::Conflict,
            BuildError::Image(e) => e.kind(),
            BuildError::Cancelled => ErrorKind::Unavailable,
            BuildError::Executor(_) | BuildError::Io(_) => ErrorKind::Internal,
        }
    }

    /// The exit code the client should exit with (`errorDetail.code`), for a failing RUN.
    pub fn code(&self) -> Option<i64> {
        match self {
            BuildError::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for errors found before anything ran (Docker answers them with a 400).
    pub fn is_early(&self) -> bool {
        matches!(
            self,
            BuildError::Dockerfile(_)
                | BuildError::Parse(_)
                | BuildError::Plan(_)
                | BuildError::Ignore(_)
        )
    }
}

/// Where the build's messages go: Docker's `{"stream": ...}` and `{"aux": {"ID": ...}}`.
pub trait Output: Send + Sync {
    /// A `stream` message.
    fn stream(&self, text: &str);
    /// The `aux` message with an image id (end of each stage).
    fn aux_id(&self, id: &Digest);
    /// The client went away: stop.
    fn cancelled(&self) -> bool;
}

/// A RUN to execute.
#[derive(Debug, Clone)]
pub struct RunRequest<'a> {
    /// The image the container starts from.
    pub image: &'a Digest,
    /// argv, env, user, working dir.
    pub step: &'a RunStep,
    /// `none`, `host`, or a network name (`default`/`bridge`: the default bridge).
    pub network: String,
    /// Bind mounts (host dir, container target) for `--mount=type=cache`.
    pub binds: Vec<(PathBuf, String)>,
}

/// A RUN that finished.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The container (still present: commit it, then remove it).
    pub container: String,
    /// Its exit code.
    pub exit_code: i64,
}

/// What the build needs from the daemon: containers for RUN, and registry pulls.
pub trait Executor: Send + Sync {
    /// Creates a container for `req`, says ` ---> Running in <id>` through `out`, runs it to
    /// the end with its output streamed to `out`, and returns its exit code. When
    /// `out.cancelled()` turns true while it runs, the container is killed and removed and
    /// the result is [`BuildError::Cancelled`].
    fn run(&self, req: &RunRequest<'_>, out: &dyn Output) -> Result<RunOutcome, BuildError>;
    /// Commits the (stopped) container's changes on `parent`.
    fn commit(
        &self,
        container: &str,
        parent: &Digest,
        opts: &CommitOptions,
    ) -> Result<ImageInfo, BuildError>;
    /// Removes the container (best effort).
    fn remove(&self, container: &str);
    /// Pulls `reference` (for `platform` when given: an index resolves to that platform's
    /// manifest; else the host's), progress to `out`; returns the image id.
    fn pull(
        &self,
        reference: &ImageRef,
        platform: Option<&Platform>,
        out: &dyn Output,
    ) -> Result<Digest, BuildError>;
    /// Downloads an `http(s)` URL (ADD) into the file `dest`; returns the response's
    /// `Last-Modified` header.
    fn download(&self, url: &str, dest: &Path) -> Result<Option<String>, BuildError>;
}

/// What the user asked for besides the context.
#[derive(Debug, Clone, Default)]
pub struct BuildSettings {
    /// The Dockerfile's path inside the context (`Dockerfile` by default).
    pub dockerfile: String,
    /// Build args, target, labels.
    pub options: BuildOptions,
    /// `-t` tags.
    pub tags: Vec<ImageRef>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`: pull every base image even when present.
    pub pull: bool,
    /// `--network` of RUN steps (`default` when empty).
    pub network: String,
    /// `--rm=false`: keep the containers of successful RUN steps.
    pub keep_containers: bool,
    /// `--force-rm`: remove RUN containers even when their step fails (and when
    /// `keep_containers` is set).
    pub force_rm: bool,
    /// `--cache-from` images: steps their history matches are taken from them.
    pub cache_from: Vec<String>,
}

/// The build's environment.
#[derive(Clone, Copy)]
pub struct Build<'a> {
    /// The image store.
    pub store: &'a Arc<ImageStore>,
    /// The step cache.
    pub cache: &'a BuildCache,
    /// Containers and pulls.
    pub executor: &'a dyn Executor,
    /// Messages.
    pub out: &'a dyn Output,
    /// Where `RUN --mount=type=cache` directories live.
    pub cache_mounts: &'a Path,
    /// A private directory for downloads (ADD of a URL).
    pub scratch: &'a Path,
    /// The digests the context's unpack recorded (spares hashing unchanged files).
    pub context_digests: Option<&'a context::ContextDigests>,
}

/// The finished build.
#[derive(Debug, Clone)]
pub struct Built {
    /// The final image.
    pub id: Digest,
}

fn short(d: &Digest) -> String {
    d.hex().chars().take(12).collect()
}

fn now() -> String {
    api::time::rfc3339_nano(SystemTime::now())
}

/// Reads the Dockerfile `name` from the context `ctx` (also `dockerfile` when the default
/// name is missing, as Docker does).
fn read_dockerfile(ctx: &Path, name: &str) -> Result<(String, Vec<u8>), BuildError> {
    let rel = crate::copy::context_relative(name).map_err(|_| {
        BuildError::Dockerfile(format!(
            "forbidden path outside the build context: {name} ()"
        ))
    })?;
    let mut tries = vec![rel.clone()];
    if name == "Dockerfile" {
        tries.push("dockerfile".into());
    }
    for t in &tries {
        if let Ok(Some(p)) = files::resolve(ctx, t, true) {
            if p.is_file() {
                return fs::read(&p)
                    .map(|b| (t.clone(), b))
                    .map_err(|e| BuildError::Dockerfile(format!("cannot read {name}: {e}")));
            }
        }
    }
    Err(BuildError::Dockerfile(format!(
        "Cannot locate specified Dockerfile: {name}"
    )))
}

/// Parses and plans the build (no side effects): the early errors Docker answers with 400.
pub fn prepare(ctx: &Path, settings: &BuildSettings) -> Result<Prepared, BuildError> {
    let name = if settings.dockerfile.is_empty() {
        "Dockerfile"
    } else {
        settings.dockerfile.as_str()
    };
    let (file, bytes) = read_dockerfile(ctx, name)?;
    let df = crate::parse::parse_bytes(name, &bytes)?;
    check_stage_order(&df)?;
    let plan = plan(&df, &settings.options)?;
    let ignore_text = fs::read_to_string(ctx.join(".dockerignore")).unwrap_or_default();
    let ignore = IgnoreMatcher::for_build(&ignore_text, &file)?;
    Ok(Prepared {
        plan,
        ignore,
        file: name.to_string(),
        warnings: df.warnings,
    })
}

/// Refuses a stage name used (`FROM name`, `COPY --from=name`) before the stage that
/// defines it: the classic builder would take it for an image and try to pull it, which
/// only hides the mistake.
fn check_stage_order(df: &crate::Dockerfile) -> Result<(), BuildError> {
    use crate::parse::Command;
    let names: Vec<(usize, String)> = df
        .instructions
        .iter()
        .filter_map(|i| match &i.command {
            Command::From(f) => f.name.clone().map(|n| (i.line, n)),
            _ => None,
        })
        .collect();
    for i in &df.instructions {
        let used = match &i.command {
            Command::From(f) => Some(f.image.to_ascii_lowercase()),
            Command::Copy(c) | Command::Add(c) => c.from.as_ref().map(|f| f.to_ascii_lowercase()),
            _ => None,
        };
        let Some(used) = used else { continue };
        if let Some((line, _)) = names.iter().find(|(l, n)| *n == used && *l >= i.line) {
            return Err(BuildError::Dockerfile(format!(
                "dockerfile error line {}: stage {used:?} is used before it is defined (line {line}): stages can only refer to earlier stages",
                i.line
            )));
        }
    }
    Ok(())
}

/// A parsed and planned build.
pub struct Prepared {
    plan: BuildPlan,
    ignore: IgnoreMatcher,
    file: String,
    warnings: Vec<String>,
}

struct StageCtx {
    index: usize,
    state: StageState,
    image: Digest,
    /// The stage's platform when one was asked for.
    platform: Option<Platform>,
}

impl Build<'_> {
    /// Runs the build in context directory `ctx`. Tags are moved only when every step
    /// succeeded.
    pub fn run(
        &self,
        ctx: &Path,
        settings: &BuildSettings,
        prepared: Prepared,
    ) -> Result<Built, BuildError> {
        let Prepared {
            plan,
            ignore,
            file,
            warnings,
        } = prepared;
        for w in &warnings {
            self.out.stream(&format!("{w}\n"));
        }
        let mut n = 0;
        for a in &plan.global_arg_lines {
            n += 1;
            self.step_line(&plan, n, a);
        }
        let order: Vec<usize> = plan
            .stages
            .iter()
            .filter(|s| plan.needed[s.index])
            .map(|s| s.index)
            .collect();
        let slots = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let sched = Scheduler::new(plan.stages.len(), slots);
        let ordered = Ordered::new(self.out, order.len());
        std::thread::scope(|scope| {
            for (pos, &index) in order.iter().enumerate() {
                let (plan, ignore, file, sched, ordered) =
                    (&plan, &ignore, &file, &sched, &ordered);
                scope.spawn(move || {
                    let stage = &plan.stages[index];
                    let out = StageOutput {
                        ordered,
                        pos,
                        sched,
                    };
                    let b = Build { out: &out, ..*self };
                    let result = sched.wait_for(&stage.deps).and_then(|results| {
                        let _slot = sched.slot();
                        b.build_stage(plan, index, ctx, ignore, file, settings, &results)
                    });
                    ordered.finish(pos);
                    sched.done(index, result);
                });
            }
        });
        let last = sched.outcome(&order)?;
        let id = last.ok_or_else(|| BuildError::Executor("no stage was built".into()))?;
        if let Some(w) = plan.unused_build_args_warning() {
            self.out.stream(&format!("{w}\n"));
        }
        self.out
            .stream(&format!("Successfully built {}\n", short(&id)));
        for t in &settings.tags {
            self.store.tag(&id, t)?;
            self.out
                .stream(&format!("Successfully tagged {}\n", t.familiar()));
        }
        Ok(Built { id })
    }

    /// Builds stage `index` once its dependencies' images are in `results`.
    #[allow(clippy::too_many_arguments)]
    fn build_stage(
        &self,
        plan: &BuildPlan,
        index: usize,
        ctx: &Path,
        ignore: &IgnoreMatcher,
        file: &str,
        settings: &BuildSettings,
        results: &[Option<Digest>],
    ) -> Result<Digest, BuildError> {
        let stage = &plan.stages[index];
        self.check_cancelled()?;
        self.step_line(plan, stage.first_step, &stage.from);
        let platform = plan.stage_platform(index);
        let base = match &stage.base {
            StageBase::Scratch => {
                let id = match &platform {
                    Some(p) => self.store.scratch_image(p)?.id,
                    None => {
                        self.store
                            .derive_image(None, ContainerConfig::default(), None, None)?
                            .id
                    }
                };
                self.out.stream(" ---> \n");
                id
            }
            StageBase::Stage(j) => {
                let id = results[*j]
                    .clone()
                    .ok_or_else(|| BuildError::Executor(format!("stage {j} was not built")))?;
                self.out.stream(&format!(" ---> {}\n", short(&id)));
                id
            }
            StageBase::Image(r) => {
                let id = self.base_image(r, settings.pull, platform.as_ref())?;
                self.out.stream(&format!(" ---> {}\n", short(&id)));
                id
            }
        };
        let config = self.store.config(&base)?.config.unwrap_or_default();
        let mut sc = StageCtx {
            index: stage.index,
            platform: platform.clone(),
            state: StageState::new(config, plan.stage_scope(), plan.escape),
            image: base,
        };
        let triggers = sc.state.trigger_instructions(file, stage.from.line)?;
        if !triggers.is_empty() {
            self.out.stream(&format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ));
            for t in &triggers {
                self.check_cancelled()?;
                self.step(plan, &mut sc, t, ctx, ignore, settings, results)?;
            }
        }
        sc.state.triggers.clear();
        for (k, instr) in stage.instructions.iter().enumerate() {
            self.check_cancelled()?;
            self.step_line(plan, plan.step_number(stage.index, k), instr);
            self.step(plan, &mut sc, instr, ctx, ignore, settings, results)?;
        }
        if stage.index == plan.target {
            let first_label = plan.total_steps + 1 - plan.label_steps.len();
            for (k, l) in plan.label_steps.iter().enumerate() {
                self.step_line(plan, first_label + k, l);
                self.step(plan, &mut sc, l, ctx, ignore, settings, results)?;
            }
        }
        self.out.aux_id(&sc.image);
        Ok(sc.image)
    }

    fn check_cancelled(&self) -> Result<(), BuildError> {
        if self.out.cancelled() {
            Err(BuildError::Cancelled)
        } else {
            Ok(())
        }
    }

    fn step_line(&self, plan: &BuildPlan, n: usize, instr: &Instruction) {
        self.out.stream(&plan.step_line(n, instr));
        self.out.stream("\n");
    }

    /// The image `reference` names: the local one (when `pull` is off and, with a
    /// `platform`, its config is of that platform), else pulled (for `platform`).
    fn base_image(
        &self,
        reference: &str,
        pull: bool,
        platform: Option<&Platform>,
    ) -> Result<Digest, BuildError> {
        let image_platform = |id: &Digest| -> Result<Platform, BuildError> {
            let c = self.store.config(id)?;
            Ok(Platform {
                os: c.os,
                architecture: c.architecture,
                variant: c.variant,
                ..Platform::host()
            })
        };
        let mismatch = |want: &Platform, have: &Platform| {
            format!(
                "image with reference {reference} was found but does not match the specified platform: wanted {}, actual: {}",
                format_platform(want),
                format_platform(have)
            )
        };
        let mut local_mismatch = None;
        if !pull {
            if let Ok(info) = self.store.resolve(reference) {
                match platform {
                    None => return Ok(info.id),
                    Some(want) => {
                        let have = image_platform(&info.id)?;
                        if platform_matches(want, &have) {
                            return Ok(info.id);
                        }
                        local_mismatch = Some(have);
                    }
                }
            }
        }
        let r: ImageRef = reference
            .parse()
            .map_err(|e: api::reference::InvalidReference| {
                BuildError::Unsupported(e.to_string())
            })?;
        let id = match self.executor.pull(&r, platform, self.out) {
            Ok(id) => id,
            Err(e) => {
                return Err(match (platform, local_mismatch) {
                    (Some(want), Some(have)) => BuildError::Platform(format!(
                        "{} (pulling {reference} for {} failed: {e})",
                        mismatch(want, &have),
                        format_platform(want)
                    )),
                    _ => e,
                })
            }
        };
        if let Some(want) = platform {
            // A registry's single-platform manifest is what it is: refuse another platform.
            let have = image_platform(&id)?;
            if !platform_matches(want, &have) {
                return Err(BuildError::Platform(mismatch(want, &have)));
            }
        }
        Ok(id)
    }

    /// A cached image for `key`, if the cache has one that still exists.
    fn cached(&self, key: &Digest, settings: &BuildSettings) -> Option<Digest> {
        if settings.no_cache {
            return None;
        }
        let id = self.cache.get(key)?;
        match self.store.resolve(&id.to_string()) {
            Ok(_) => Some(id),
            Err(_) => {
                let _ = self.cache.forget(key);
                None
            }
        }
    }

    /// The image for a step: the step cache's, else one restored from a `--cache-from`
    /// image (then recorded in the cache too).
    fn lookup(
        &self,
        key: &Digest,
        settings: &BuildSettings,
        sc: &StageCtx,
        created_by: &str,
    ) -> Result<Option<Digest>, BuildError> {
        if let Some(id) = self.cached(key, settings) {
            return Ok(Some(id));
        }
        let found = self.restore_from_sources(sc, created_by, settings)?;
        if let Some(id) = &found {
            self.remember(key, id);
        }
        Ok(found)
    }

    /// The classic builder's `--cache-from` matcher: a source image whose history and
    /// layers start with the parent's, and whose next history entry is this step's
    /// `created_by`, gives the step: that entry (its time too) and, unless it is an empty
    /// layer, that layer stacked on the parent (same blob), with the step's config.
    fn restore_from_sources(
        &self,
        sc: &StageCtx,
        created_by: &str,
        settings: &BuildSettings,
    ) -> Result<Option<Digest>, BuildError> {
        if settings.no_cache || settings.cache_from.is_empty() {
            return Ok(None);
        }
        let parent = self.store.config(&sc.image)?;
        let n = parent.history.len();
        for source in &settings.cache_from {
            let Ok(info) = self.store.resolve(source) else {
                continue;
            };
            let Ok(target) = self.store.config(&info.id) else {
                continue;
            };
            if !continues(&target, &parent)
                || target.history[n].created_by.as_deref() != Some(created_by)
            {
                continue;
            }
            let entry = target.history[n].clone();
            let image = if entry.empty_layer == Some(true) {
                self.store.derive_image(
                    Some(&sc.image),
                    sc.state.config.clone(),
                    sc.state.author.clone(),
                    Some(entry),
                )?
            } else {
                let layer = target.history[..n]
                    .iter()
                    .filter(|h| h.empty_layer != Some(true))
                    .count();
                let opts = self.commit_options(sc, created_by.to_string());
                self.store
                    .append_layer_at(&sc.image, &info.id, Some(layer), &opts, Some(entry))?
            };
            return Ok(Some(image.id));
        }
        Ok(None)
    }

    fn remember(&self, key: &Digest, id: &Digest) {
        if let Err(e) = self.cache.put(key, id) {
            tracing::warn!(error = %e, "could not write the build cache");
        }
    }

    fn finish(&self, sc: &mut StageCtx, key: &Digest, id: Digest, hit: bool) {
        if hit {
            self.out.stream(" ---> Using cache\n");
        } else {
            self.remember(key, &id);
        }
        self.out.stream(&format!(" ---> {}\n", short(&id)));
        sc.image = id;
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        plan: &BuildPlan,
        sc: &mut StageCtx,
        instr: &Instruction,
        ctx: &Path,
        ignore: &IgnoreMatcher,
        settings: &BuildSettings,
        results: &[Option<Digest>],
    ) -> Result<(), BuildError> {
        match sc.state.dispatch(instr)? {
            Step::Metadata(m) => self.metadata(sc, m, settings),
            Step::Run(r) => self.run_step(sc, &r, settings),
            Step::Copy(c) => self.copy_step(plan, sc, &c, ctx, ignore, settings, results),
            Step::Workdir(w) => self.workdir_step(sc, &w, settings),
        }
    }

    fn metadata(
        &self,
        sc: &mut StageCtx,
        m: MetadataStep,
        settings: &BuildSettings,
    ) -> Result<(), BuildError> {
        if let Some(note) = &m.note {
            self.out.stream(&format!("{note}\n"));
        }
        let text = m.history.created_by.clone().unwrap_or_default();
        let config_text = serde_json::to_string(&sc.state.config).unwrap_or_default();
        let key = step_key(&CacheInput {
            parent: &sc.image.to_string(),
            instruction: &format!("{text}\n{config_text}"),
            build_args: &[],
            files: None,
        });
        if let Some(id) = self.lookup(&key, settings, sc, &text)? {
            self.finish(sc, &key, id, true);
            return Ok(());
        }
        let mut history = m.history;
        history.created = Some(now());
        let info = self.store.derive_image(
            Some(&sc.image),
            sc.state.config.clone(),
            sc.state.author.clone(),
            Some(history),
        )?;
        self.finish(sc, &key, info.id, false);
        Ok(())
    }

    fn commit_options(&self, sc: &StageCtx, created_by: String) -> CommitOptions {
        CommitOptions {
            config: sc.state.config.clone(),
            author: sc.state.author.clone(),
            comment: None,
            created_by,
            tag: None,
        }
    }

    fn run_step(
        &self,
        sc: &mut StageCtx,
        r: &RunStep,
        settings: &BuildSettings,
    ) -> Result<(), BuildError> {
        let network = match r.network {
            Some(Network::None) => "none".to_string(),
            Some(Network::Host) => "host".to_string(),
            _ if settings.network.is_empty() => "default".to_string(),
            _ => settings.network.clone(),
        };
        let mut binds = Vec::new();
        for m in &r.mounts {
            match m.kind {
                MountType::Cache => {
                    let id = m.id.clone().unwrap_or_else(|| m.target.clone());
                    let dir = self
                        .cache_mounts
                        .join(Digest::sha256_of(id.as_bytes()).hex());
                    fs::create_dir_all(&dir)
                        .map_err(|e| BuildError::Io(format!("create {}: {e}", dir.display())))?;
                    binds.push((dir, m.target.clone()));
                }
                other => {
                    return Err(BuildError::Unsupported(format!(
                        "RUN --mount=type={} is not supported by berth yet (only type=cache)",
                        other.name()
                    )))
                }
            }
        }
        // A heredoc script (`RUN <<EOF` starting with `#!`) is bind-mounted where the argv
        // expects it (`/dev/pipes/<name>`), as BuildKit provides it.
        let mut script_dir = None;
        if let Some(script) = &r.script {
            use std::os::unix::fs::PermissionsExt;
            let dir = self.scratch.join(content::atomic::unique_suffix());
            fs::create_dir_all(&dir)
                .map_err(|e| BuildError::Io(format!("create {}: {e}", dir.display())))?;
            let file = dir.join("script");
            fs::write(&file, script.data.as_bytes())
                .and_then(|()| fs::set_permissions(&file, fs::Permissions::from_mode(0o755)))
                .map_err(|e| BuildError::Io(format!("write {}: {e}", file.display())))?;
            binds.push((file, format!("/dev/pipes/{}", script.name)));
            script_dir = Some(dir);
        }
        let _cleanup = script_dir.map(RemoveOnDrop);
        let key = step_key(&CacheInput {
            parent: &sc.image.to_string(),
            instruction: &format!(
                "{}\nnetwork={network}\nmounts={:?}\nuser={}\nworkdir={}\nscript={:?}",
                r.created_by,
                binds.iter().map(|b| &b.1).collect::<Vec<_>>(),
                r.user,
                r.working_dir,
                r.script.as_ref().map(|f| &f.data)
            ),
            build_args: &[],
            files: None,
        });
        if let Some(id) = self.lookup(&key, settings, sc, &r.created_by)? {
            self.finish(sc, &key, id, true);
            return Ok(());
        }
        let req = RunRequest {
            image: &sc.image,
            step: r,
            network,
            binds,
        };
        let outcome = self
            .executor
            .run(&req, self.out)
            .map_err(|e| match (e, &sc.platform) {
                // A stage of a foreign architecture: say why its programs cannot run.
                (BuildError::Executor(m), Some(p))
                    if m.contains("exec format error")
                        && !platform_matches(p, &Platform::host()) =>
                {
                    BuildError::Executor(format!(
                        "{m} (the stage's platform {} cannot run on this {} host)",
                        format_platform(p),
                        format_platform(&Platform::host())
                    ))
                }
                (e, _) => e,
            })?;
        if outcome.exit_code != 0 {
            // Docker keeps the failed step's container (to inspect it) unless --force-rm.
            if settings.force_rm {
                self.executor.remove(&outcome.container);
            }
            return Err(BuildError::RunFailed {
                command: r.argv.join(" "),
                code: outcome.exit_code,
            });
        }
        let opts = self.commit_options(sc, r.created_by.clone());
        let committed = self.executor.commit(&outcome.container, &sc.image, &opts);
        if !settings.keep_containers || settings.force_rm {
            self.out.stream(&format!(
                "Removing intermediate container {}\n",
                outcome.container.chars().take(12).collect::<String>()
            ));
            self.executor.remove(&outcome.container);
        }
        let info = committed?;
        self.finish(sc, &key, info.id, false);
        Ok(())
    }

    /// An active snapshot on `image`, mounted; removed (after `f`) in every case.
    fn with_snapshot<T>(
        &self,
        image: &Digest,
        f: impl FnOnce(&Path, &str) -> Result<T, BuildError>,
    ) -> Result<T, BuildError> {
        self.with_snapshot_on(Some(image), f)
    }

    /// [`Self::with_snapshot`] on `image`, or on nothing (an empty tree) for `None`.
    fn with_snapshot_on<T>(
        &self,
        image: Option<&Digest>,
        f: impl FnOnce(&Path, &str) -> Result<T, BuildError>,
    ) -> Result<T, BuildError> {
        let key = format!("{SNAPSHOT_PREFIX}{}", content::atomic::unique_suffix());
        match image {
            Some(image) => self.store.prepare_rootfs(image, &key)?,
            None => self.store.prepare_empty_rootfs(&key)?,
        };
        let result = (|| {
            let mount = self.store.mount_rootfs(&key)?;
            let r = f(mount.path(), &key);
            drop(mount);
            r
        })();
        if let Err(e) = self.store.remove_rootfs(&key) {
            tracing::warn!(snapshot = %key, error = %e, "could not remove a build snapshot");
        }
        result
    }

    fn workdir_step(
        &self,
        sc: &mut StageCtx,
        w: &WorkdirStep,
        settings: &BuildSettings,
    ) -> Result<(), BuildError> {
        let key = step_key(&CacheInput {
            parent: &sc.image.to_string(),
            instruction: &format!(
                "{}\n{}",
                w.created_by,
                serde_json::to_string(&sc.state.config).unwrap_or_default()
            ),
            build_args: &[],
            files: None,
        });
        if let Some(id) = self.lookup(&key, settings, sc, &w.created_by)? {
            self.finish(sc, &key, id, true);
            return Ok(());
        }
        let parent = sc.image.clone();
        let opts = self.commit_options(sc, w.created_by.clone());
        let info = self.with_snapshot(&parent, |root, snap| {
            let existed = matches!(files::resolve(root, &w.path, false), Ok(Some(p)) if p.is_dir());
            if existed {
                return Ok(None);
            }
            files::make_dirs(root, &w.path, None).map_err(|source| BuildError::Copy {
                verb: "WORKDIR",
                source,
            })?;
            Ok(Some(self.store.commit_snapshot(snap, &parent, &opts)?))
        })?;
        let info = match info {
            Some(i) => i,
            None => self.store.derive_image(
                Some(&parent),
                sc.state.config.clone(),
                sc.state.author.clone(),
                Some(History {
                    created: Some(now()),
                    created_by: Some(w.created_by.clone()),
                    empty_layer: Some(true),
                    ..History::default()
                }),
            )?,
        };
        self.finish(sc, &key, info.id, false);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn copy_step(
        &self,
        plan: &BuildPlan,
        sc: &mut StageCtx,
        c: &CopyStep,
        ctx: &Path,
        ignore: &IgnoreMatcher,
        settings: &BuildSettings,
        results: &[Option<Digest>],
    ) -> Result<(), BuildError> {
        let verb = if c.add { "ADD" } else { "COPY" };
        let fail = |source: SourceError| BuildError::Copy { verb, source };
        let urls: Vec<&String> = c
            .sources
            .iter()
            .filter_map(|s| match s {
                CopySource::Path(p) if crate::copy::is_url(p) => Some(p),
                _ => None,
            })
            .collect();
        if !urls.is_empty() {
            if !c.add {
                return Err(fail(SourceError::Io(
                    "source can't be a URL for COPY".into(),
                )));
            }
            if urls.len() != c.sources.len() || c.from.is_some() {
                return Err(BuildError::Unsupported(
                    "ADD of a URL together with other sources or --from is not supported by berth yet"
                        .into(),
                ));
            }
            // Each URL is downloaded into a private directory, then copied like a context file
            // under the name its URL ends with (Docker's rule); downloads are not extracted.
            let dir = self.scratch.join(content::atomic::unique_suffix());
            fs::create_dir_all(&dir)
                .map_err(|e| BuildError::Io(format!("create {}: {e}", dir.display())))?;
            let result = (|| {
                let mut names = Vec::new();
                for (i, u) in urls.iter().enumerate() {
                    let base = u
                        .split(['?', '#'])
                        .next()
                        .unwrap_or("")
                        .rsplit('/')
                        .next()
                        .filter(|b| !b.is_empty() && *b != "." && *b != "..")
                        .unwrap_or("download")
                        .to_string();
                    let sub = dir.join(i.to_string());
                    fs::create_dir_all(&sub)
                        .map_err(|e| BuildError::Io(format!("create {}: {e}", sub.display())))?;
                    let file = sub.join(&base);
                    let last_modified = self.executor.download(u, &file)?;
                    use std::os::unix::fs::PermissionsExt;
                    fs::set_permissions(&file, fs::Permissions::from_mode(0o600))
                        .map_err(|e| BuildError::Io(e.to_string()))?;
                    // The file's mtime is the server's Last-Modified (kept by the copy).
                    if let Some(secs) = last_modified
                        .as_deref()
                        .and_then(crate::copy::parse_http_date)
                    {
                        let t = if secs >= 0 {
                            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
                        } else {
                            SystemTime::UNIX_EPOCH
                        };
                        fs::File::options()
                            .write(true)
                            .open(&file)
                            .and_then(|f| f.set_modified(t))
                            .map_err(|e| {
                                BuildError::Io(format!("set the mtime of {}: {e}", file.display()))
                            })?;
                    }
                    names.push(CopySource::Path(format!("{i}/{base}")));
                }
                let mut local = c.clone();
                local.sources = names;
                self.copy_from_root(sc, &local, &dir, None, chmod_of(c)?, settings, false)
            })();
            let _ = fs::remove_dir_all(&dir);
            let (key, id, hit) = result?;
            self.finish(sc, &key, id, hit);
            return Ok(());
        }
        // The source root: the context, or a stage's / image's files.
        let from_image = match &c.from {
            None => None,
            Some(f) => Some(match plan.resolve_from(sc.index, f)? {
                FromSource::Stage(j) => results
                    .get(j)
                    .cloned()
                    .flatten()
                    .ok_or_else(|| BuildError::Executor(format!("stage {f} was not built")))?,
                FromSource::Image(r) => {
                    self.base_image(&r, false, plan.stage_platform(sc.index).as_ref())?
                }
            }),
        };
        let chmod =
            match &c.chmod {
                None => None,
                Some(m) => Some(u32::from_str_radix(m, 8).map_err(|_| {
                    BuildError::Unsupported(format!("invalid chmod parameter: {m}"))
                })?),
            };
        let (key, id, hit) = match &from_image {
            None => self.copy_from_root(sc, c, ctx, Some(ignore), chmod, settings, c.add)?,
            Some(img) => {
                let img = img.clone();
                self.with_snapshot(&img, |root, _| {
                    self.copy_from_root(sc, c, root, None, chmod, settings, c.add)
                })?
            }
        };
        self.finish(sc, &key, id, hit);
        Ok(())
    }

    /// Selects, hashes and (on a cache miss) copies `c`'s sources from `src_root` (the
    /// context when `ignore` is given); `extract` unpacks local archives (ADD). Returns (key,
    /// image, cache hit).
    #[allow(clippy::too_many_arguments)]
    fn copy_from_root(
        &self,
        sc: &StageCtx,
        c: &CopyStep,
        src_root: &Path,
        ignore: Option<&IgnoreMatcher>,
        chmod: Option<u32>,
        settings: &BuildSettings,
        extract: bool,
    ) -> Result<(Digest, Digest, bool), BuildError> {
        let verb = if c.add { "ADD" } else { "COPY" };
        let fail = |source: SourceError| BuildError::Copy { verb, source };
        let mut selected: Vec<Selected> = Vec::new();
        let mut inline = Vec::new();
        for s in &c.sources {
            match s {
                CopySource::Path(p) => {
                    selected.extend(files::select(src_root, p, ignore).map_err(fail)?)
                }
                CopySource::Inline(f) => inline.push(f.clone()),
            }
        }
        crate::copy::check_destination(c.add, selected.len() + inline.len(), &c.dest)
            .map_err(|e| fail(SourceError::Io(e.to_string())))?;
        let ctx_root = src_root.to_path_buf();
        let context_rel = move |p: &Path| -> Option<String> {
            p.strip_prefix(&ctx_root)
                .ok()
                .map(|r| r.to_string_lossy().into_owned())
        };
        let context_rel: &dyn Fn(&Path) -> Option<String> = &context_rel;
        let known = ignore.and(self.context_digests).map(|d| (src_root, d));
        let (mut entries, mut kind) =
            files::describe(&selected, context_rel, ignore, known).map_err(fail)?;
        for (i, f) in inline.iter().enumerate() {
            entries.push(crate::cache::FileEntry {
                path: format!("inline{i}:{}", f.name),
                kind: crate::cache::EntryKind::File,
                mode: f.mode,
                uid: 0,
                gid: 0,
                content: Some(Digest::sha256_of(f.data.as_bytes())),
                link_target: None,
            });
            kind = crate::cache::SourceKind::Multi;
        }
        if selected.len() + inline.len() == 1 && !inline.is_empty() {
            kind = crate::cache::SourceKind::File;
        }
        let digest = files_digest(&entries);
        let created_by = c.created_by(&source_description(kind, &digest));
        let sources = Sources {
            selected: &selected,
            inline: &inline,
            context_rel,
            ignore,
            chmod,
            extract,
        };
        if c.link {
            return self.copy_linked(sc, c, &sources, &digest, created_by, settings);
        }
        let key = step_key(&CacheInput {
            parent: &sc.image.to_string(),
            instruction: &format!("{created_by}\nchmod={chmod:?}\nlink={}", c.link),
            build_args: &[],
            files: Some(&digest),
        });
        if let Some(id) = self.lookup(&key, settings, sc, &created_by)? {
            return Ok((key, id, true));
        }
        let parent = sc.image.clone();
        let opts = self.commit_options(sc, created_by);
        let info = self.with_snapshot(&parent, |root, snap| {
            let owner = match &c.chown {
                Some(spec) => {
                    let read = |p: &str| {
                        files::resolve(root, p, false)
                            .ok()
                            .flatten()
                            .and_then(|p| fs::read_to_string(p).ok())
                    };
                    let (passwd, group) = (read("etc/passwd"), read("etc/group"));
                    Some(
                        crate::copy::resolve_chown(spec, passwd.as_deref(), group.as_deref())
                            .map_err(|e| fail(SourceError::Io(e.to_string())))?,
                    )
                }
                None if ignore.is_some() => Some((0, 0)),
                None => None,
            };
            let many = selected.len() + inline.len() > 1;
            let dest_dir = c.dest.ends_with('/')
                || many
                || matches!(files::resolve(root, &c.dest, false), Ok(Some(p)) if p.is_dir());
            write_sources(root, c, &sources, owner, dest_dir).map_err(fail)?;
            Ok(self.store.commit_snapshot(snap, &parent, &opts)?)
        })?;
        Ok((key, info.id, false))
    }

    /// `COPY --link` / `ADD --link` (BuildKit): the files form a layer of their own, built in
    /// an empty tree and stacked on the parent, so its cache key leaves the parent out (only
    /// the sources' hash, destination, owner, mode). After the base changed, the earlier
    /// step's layer is stacked on the new parent as is: same blob, same layer digest. The
    /// destination cannot be looked up below: it is a directory only when it ends in `/`
    /// or there are several sources; directories it creates get the `--chown` owner (else
    /// root) and mode 0755.
    fn copy_linked(
        &self,
        sc: &StageCtx,
        c: &CopyStep,
        src: &Sources<'_>,
        digest: &Digest,
        created_by: String,
        settings: &BuildSettings,
    ) -> Result<(Digest, Digest, bool), BuildError> {
        let verb = if c.add { "ADD" } else { "COPY" };
        let fail = |source: SourceError| BuildError::Copy { verb, source };
        let owner = match &c.chown {
            Some(spec) => Some(self.chown_ids(&sc.image, spec).map_err(fail)?),
            None if src.ignore.is_some() => Some((0, 0)),
            None => None,
        };
        let key = step_key(&CacheInput {
            parent: "--link",
            instruction: &format!(
                "{created_by}\nchmod={:?}\ndest={}\nowner={owner:?}\nextract={}",
                src.chmod, c.dest, src.extract
            ),
            build_args: &[],
            files: Some(digest),
        });
        let opts = self.commit_options(sc, created_by);
        if let Some(prev) = self.cached(&key, settings) {
            let same_parent = self
                .store
                .resolve(&prev.to_string())
                .is_ok_and(|i| i.parent.as_ref() == Some(&sc.image));
            let same_config = self
                .store
                .config(&prev)
                .is_ok_and(|cfg| cfg.config.as_ref() == Some(&sc.state.config));
            if same_parent && same_config {
                return Ok((key, prev, true));
            }
            let info = self.store.append_layer_of(&sc.image, &prev, &opts)?;
            self.remember(&key, &info.id);
            return Ok((key, info.id, true));
        }
        let many = src.selected.len() + src.inline.len() > 1;
        let dest_dir = c.dest.ends_with('/') || many;
        let info = self.with_snapshot_on(None, |root, snap| {
            write_sources(root, c, src, owner, dest_dir).map_err(fail)?;
            Ok(self.store.commit_snapshot_onto(snap, &sc.image, &opts)?)
        })?;
        Ok((key, info.id, false))
    }

    /// `--chown` as ids: numbers as they are, names looked up in `image`'s `/etc/passwd` and
    /// `/etc/group`.
    fn chown_ids(&self, image: &Digest, spec: &str) -> Result<(u32, u32), SourceError> {
        let numeric = spec
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let resolve = |passwd: Option<&str>, group: Option<&str>| {
            crate::copy::resolve_chown(spec, passwd, group)
                .map_err(|e| SourceError::Io(e.to_string()))
        };
        if numeric {
            return resolve(None, None);
        }
        let files = self
            .with_snapshot(image, |root, _| {
                let read = |p: &str| {
                    files::resolve(root, p, false)
                        .ok()
                        .flatten()
                        .and_then(|p| fs::read_to_string(p).ok())
                };
                Ok((read("etc/passwd"), read("etc/group")))
            })
            .map_err(|e| SourceError::Io(e.to_string()))?;
        resolve(files.0.as_deref(), files.1.as_deref())
    }
}

/// What a COPY/ADD writes: the selected sources, heredoc files and how to copy them.
struct Sources<'a> {
    selected: &'a [Selected],
    inline: &'a [crate::dispatch::InlineFile],
    /// A source's path relative to the context (for `.dockerignore` inside directories).
    context_rel: &'a dyn Fn(&Path) -> Option<String>,
    ignore: Option<&'a IgnoreMatcher>,
    chmod: Option<u32>,
    /// ADD: unpack local archives.
    extract: bool,
}

/// Writes `src` under `root` at `c.dest`; `dest_dir`: a single file goes inside the
/// destination rather than at it; `owner` of the files and of the directories made.
fn write_sources(
    root: &Path,
    c: &CopyStep,
    src: &Sources<'_>,
    owner: Option<(u32, u32)>,
    dest_dir: bool,
) -> Result<(), SourceError> {
    let own = Ownership {
        owner,
        mode: src.chmod,
    };
    for s in src.selected {
        if s.is_dir {
            let target = files::make_dirs(root, &c.dest, owner)?;
            files::copy_into(s, &target, own, src.context_rel, src.ignore)?;
        } else if src.extract && is_archive(&s.path) {
            let target = files::make_dirs(root, &c.dest, owner)?;
            extract_archive(&s.path, &target)?;
        } else {
            let target = file_target(root, &c.dest, dest_dir, &s.name, owner)?;
            files::copy_into(s, &target, own, src.context_rel, src.ignore)?;
        }
    }
    for f in src.inline {
        let target = file_target(root, &c.dest, dest_dir, &f.name, owner)?;
        write_inline(&target, f, own)?;
    }
    Ok(())
}

/// Whether image config `target` continues `parent` (moby's `isValidParent`): a longer
/// history whose start equals the parent's, and the parent's layers first.
fn continues(target: &api::image::ImageConfig, parent: &api::image::ImageConfig) -> bool {
    let (h, d) = (&parent.history, &parent.rootfs.diff_ids);
    let (th, td) = (&target.history, &target.rootfs.diff_ids);
    h.len() < th.len() && d.len() <= td.len() && th[..h.len()] == h[..] && td[..d.len()] == d[..]
}

/// Removes a directory tree when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `--chmod` as octal bits.
fn chmod_of(c: &CopyStep) -> Result<Option<u32>, BuildError> {
    match &c.chmod {
        None => Ok(None),
        Some(m) => u32::from_str_radix(m, 8)
            .map(Some)
            .map_err(|_| BuildError::Unsupported(format!("invalid chmod parameter: {m}"))),
    }
}

/// Where a single file lands: inside `dest` when it is a directory, else at `dest`.
fn file_target(
    root: &Path,
    dest: &str,
    dest_dir: bool,
    name: &str,
    owner: Option<(u32, u32)>,
) -> Result<PathBuf, SourceError> {
    if dest_dir {
        Ok(files::make_dirs(root, dest, owner)?.join(name))
    } else {
        let (parent, base) = dest
            .trim_end_matches('/')
            .rsplit_once('/')
            .unwrap_or(("", dest));
        Ok(files::make_dirs(root, parent, owner)?.join(base))
    }
}

fn write_inline(
    target: &Path,
    f: &crate::dispatch::InlineFile,
    own: Ownership,
) -> Result<(), SourceError> {
    use std::os::unix::fs::PermissionsExt;
    fs::write(target, f.data.as_bytes())
        .map_err(|e| SourceError::Io(format!("write {}: {e}", target.display())))?;
    let mode = own.mode.unwrap_or(f.mode);
    fs::set_permissions(target, fs::Permissions::from_mode(mode))
        .map_err(|e| SourceError::Io(e.to_string()))?;
    if let Some((u, g)) = own.owner {
        nix::unistd::chown(
            target,
            Some(nix::unistd::Uid::from_raw(u)),
            Some(nix::unistd::Gid::from_raw(g)),
        )
        .map_err(|e| SourceError::Io(format!("chown {}: {e}", target.display())))?;
    }
    Ok(())
}

/// A local tar archive (plain, gzip or zstd) that ADD extracts.
fn is_archive(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    let Ok((_, mut r)) = image::decompress(f) else {
        return false;
    };
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return false,
        }
    }
    n == 512 && &head[257..262] == b"ustar"
}

fn extract_archive(path: &Path, target: &Path) -> Result<(), SourceError> {
    let f = fs::File::open(path).map_err(|e| SourceError::Io(e.to_string()))?;
    let (_, r) = image::decompress(f).map_err(|e| SourceError::Io(e.to_string()))?;
    image::unpack_layer(r, target, snapshot::WhiteoutStyle::Delete)
        .map_err(|e| SourceError::Io(format!("extracting {}: {e}", path.display())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::continues;
    use api::image::{History, ImageConfig};
    use api::Digest;

    fn image(history: &[&str], layers: &[&str]) -> ImageConfig {
        let mut c = ImageConfig {
            history: history
                .iter()
                .map(|h| History {
                    created_by: Some(h.to_string()),
                    ..History::default()
                })
                .collect(),
            ..ImageConfig::default()
        };
        c.rootfs.diff_ids = layers
            .iter()
            .map(|l| Digest::sha256_of(l.as_bytes()))
            .collect();
        c
    }

    #[test]
    fn a_cache_source_must_continue_the_parent() {
        // moby's isValidParent: a longer history that starts with the parent's, and the
        // parent's layers first; an empty parent (scratch) is continued by anything.
        let source = image(&["base", "ENV a", "RUN x"], &["l0", "l1"]);
        assert!(continues(&source, &image(&["base"], &["l0"])));
        assert!(continues(&source, &image(&["base", "ENV a"], &["l0"])));
        assert!(continues(&source, &image(&[], &[])));
        assert!(!continues(&source, &image(&["base", "ENV b"], &["l0"])));
        assert!(!continues(&source, &image(&["base"], &["other"])));
        assert!(!continues(
            &source,
            &image(&["base", "ENV a", "RUN x"], &["l0", "l1"])
        ));
        let mut later = image(&["base"], &["l0"]);
        later.history[0].created = Some("2020-01-01T00:00:00Z".into());
        assert!(
            !continues(&source, &later),
            "entries compare whole, times too"
        );
    }
}
