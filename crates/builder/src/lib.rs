//! The front half of `berth build`: a pure Dockerfile parser, variable substitution, the build
//! graph (stages, targets, build args, step numbering), the image-config effect of each
//! instruction with its history entry, `.dockerignore` matching and cache keys.
//!
//! Place in the crate graph: depends only on `api` (for `ContainerConfig`, `History`,
//! `Digest`, `ErrorKind`). No IO anywhere in this crate: the executor (which runs `RUN` steps
//! as containers, copies files and commits layers) calls in with data and gets data back.
//!
//! Flow for the executor:
//! 1. [`parse::parse`] the Dockerfile → [`parse::Dockerfile`];
//! 2. [`plan::plan`] it with the [`plan::BuildOptions`] → [`plan::BuildPlan`] (stages, which
//!    are needed, waves that may run in parallel, step numbers, unused build-arg warning);
//! 3. per stage, a [`dispatch::StageState`] from the base image's config; for every
//!    instruction [`dispatch::StageState::dispatch`] returns a [`dispatch::Step`]: either a
//!    finished metadata change (config already updated, history entry ready) or work for the
//!    executor (`RUN` argv and environment, `COPY` sources, `WORKDIR` to create);
//! 4. [`cache::step_key`] gives each step's cache key; [`ignore::IgnoreMatcher`] filters the
//!    context; [`copy`] holds the pure COPY/ADD rules (context confinement, wildcards, the
//!    several-sources rule, `--chown` resolution over `/etc/passwd` text).
//!
//! Non-goals here: running anything, reading the context, pulling images, the `/build` API.

pub mod cache;
pub mod copy;
pub mod dispatch;
pub mod exec;
pub mod expand;
pub mod history;
pub mod ignore;
pub mod parse;
pub mod plan;
pub mod scope;

pub use parse::{parse, Dockerfile, Instruction, ParseError};
