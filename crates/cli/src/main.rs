//! `berth`: one binary for the whole platform. Client commands speak the Docker Engine API to the
//! daemon over its unix socket; `daemon`, `shim` and `runtime` are wired to the engine, shim and
//! runtime crates. This file only parses, dispatches and turns errors into exit codes.

mod args;
mod client;
mod commands;
mod create_body;
mod error;
mod format;
mod host;
mod logging;
mod opts;
mod stream;
mod template;
mod tty;

use std::io::Write;

use clap::error::{ContextKind, ContextValue, ErrorKind as ClapKind};
use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};
use crate::client::ClientError;
use crate::commands::Ctx;
use crate::error::StatusError;

fn main() {
    // The shim first, before any thread exists and without the client's command tree.
    if std::env::args_os().nth(1).is_some_and(|a| a == "shim") {
        let a = match args::ShimCli::try_parse_from(std::env::args_os().skip(1)) {
            Ok(a) => a.args,
            Err(e) => std::process::exit(report_clap_error(e)),
        };
        logging::init("info", "text");
        commands::plumbing::shim(a)
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => std::process::exit(report_clap_error(e)),
    };
    let code = match cli.command {
        // Before any runtime or logging thread: the shim stays single-threaded.
        Command::Shim(a) => {
            logging::init("info", "text");
            commands::plumbing::shim(a)
        }
        Command::Runtime(a) => {
            logging::init(&cli.log_level, "text");
            finish(commands::plumbing::runtime(a), "runtime")
        }
        Command::Daemon(a) => {
            logging::init(&a.log_level, &a.log_format);
            finish(commands::plumbing::daemon(a), "daemon")
        }
        Command::Registry(a) => {
            logging::init(&a.log_level, "text");
            finish(commands::plumbing::registry(a), "registry")
        }
        command => {
            logging::init(&cli.log_level, "text");
            run_client(cli.host.as_deref(), command)
        }
    };
    std::process::exit(code)
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Run(_) => "run",
        Command::Create(_) => "create",
        Command::Build(_) => "build",
        Command::Builder(_) => "builder",
        Command::Start(_) => "start",
        Command::Ps(_) => "ps",
        Command::Logs(_) => "logs",
        Command::Stop(_) => "stop",
        Command::Kill(_) => "kill",
        Command::Restart(_) => "restart",
        Command::Pause(_) => "pause",
        Command::Unpause(_) => "unpause",
        Command::Rm(_) => "rm",
        Command::Wait(_) => "wait",
        Command::Inspect(_) => "inspect",
        Command::Import(_) => "import",
        Command::Images(_) => "images",
        Command::Rmi(_) => "rmi",
        Command::Tag(_) => "tag",
        Command::History(_) => "history",
        Command::Save(_) => "save",
        Command::Load(_) => "load",
        Command::Image(_) => "image",
        Command::Container(g) => match g.command {
            args::ContainerCommand::Run(_) => "run",
            args::ContainerCommand::Create(_) => "create",
            _ => "container",
        },
        Command::Rename(_) => "rename",
        Command::Update(_) => "update",
        Command::Volume(_) => "volume",
        Command::Events(_) => "events",
        Command::System(_) => "system",
        Command::Exec(_) => "exec",
        Command::Top(_) => "top",
        Command::Stats(_) => "stats",
        Command::Commit(_) => "commit",
        Command::Export(_) => "export",
        Command::Cp(_) => "cp",
        Command::Attach(_) => "attach",
        Command::Diff(_) => "diff",
        Command::Pull(_) => "pull",
        Command::Push(_) => "push",
        Command::Login(_) => "login",
        Command::Logout(_) => "logout",
        Command::Version(_) => "version",
        Command::Info(_) => "info",
        Command::Network(_) => "network",
        Command::Port(_) => "port",
        Command::Daemon(_) => "daemon",
        Command::Registry(_) => "registry",
        Command::Shim(_) => "shim",
        Command::Runtime(_) => "runtime",
    }
}

fn run_client(host_flag: Option<&str>, command: Command) -> i32 {
    let name = command_name(&command);
    let is_run = matches!(name, "run" | "create");
    let host = match host::from_env(host_flag) {
        Ok(h) => h,
        Err(e) if is_run => return finish(Err(error::run_error(name, e, 125).into()), name),
        Err(e) => return finish(Err(e.into()), name),
    };
    let ctx = Ctx { host };
    // One request and a printout need no worker threads: on the calling thread, nothing is
    // handed between threads (each hand-off is a wake-up and a context switch).
    let single = matches!(
        command,
        Command::Ps(_)
            | Command::Inspect(_)
            | Command::Version(_)
            | Command::Info(_)
            | Command::Exec(_)
            | Command::Container(args::ContainerGroupArgs {
                command: args::ContainerCommand::Ls(_) | args::ContainerCommand::Inspect(_),
            })
    );
    let rt = if single {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => return finish(Err(e.into()), name),
    };
    let result = rt.block_on(async move {
        match command {
            Command::Run(a) => commands::run::run(&ctx, a, "run").await,
            Command::Create(a) => commands::run::run(&ctx, a, "create").await,
            Command::Build(a) => commands::build::build(&ctx, a).await,
            Command::Builder(g) => match g.command {
                args::BuilderCommand::Prune(a) => commands::build::prune(&ctx, a).await,
            },
            Command::Start(a) => commands::run::start_cmd(&ctx, a).await,
            Command::Ps(a) => commands::ps::ps(&ctx, a).await,
            Command::Logs(a) => commands::logs::logs(&ctx, a).await,
            Command::Stop(a) => commands::lifecycle::stop(&ctx, a).await,
            Command::Kill(a) => commands::lifecycle::kill(&ctx, a).await,
            Command::Restart(a) => commands::lifecycle::restart(&ctx, a).await,
            Command::Pause(a) => commands::lifecycle::pause(&ctx, a).await,
            Command::Unpause(a) => commands::lifecycle::unpause(&ctx, a).await,
            Command::Rm(a) => commands::lifecycle::rm(&ctx, a).await,
            Command::Wait(a) => commands::lifecycle::wait(&ctx, a).await,
            Command::Inspect(a) => commands::inspect::inspect(&ctx, a).await,
            Command::Import(a) => commands::images::import(&ctx, a).await,
            Command::Images(a) => commands::images::images(&ctx, a).await,
            Command::Rmi(a) => commands::images::rmi(&ctx, a).await,
            Command::Tag(a) => commands::archive::tag(&ctx, a).await,
            Command::History(a) => commands::archive::history(&ctx, a).await,
            Command::Save(a) => commands::archive::save(&ctx, a).await,
            Command::Load(a) => commands::archive::load(&ctx, a).await,
            Command::Image(a) => commands::images::image(&ctx, a).await,
            Command::Container(g) => {
                use args::ContainerCommand as C;
                match g.command {
                    C::Ls(a) => commands::ps::ps(&ctx, a).await,
                    C::Run(a) => commands::run::run(&ctx, a, "run").await,
                    C::Create(a) => commands::run::run(&ctx, a, "create").await,
                    C::Start(a) => commands::run::start_cmd(&ctx, a).await,
                    C::Stop(a) => commands::lifecycle::stop(&ctx, a).await,
                    C::Restart(a) => commands::lifecycle::restart(&ctx, a).await,
                    C::Kill(a) => commands::lifecycle::kill(&ctx, a).await,
                    C::Rm(a) => commands::lifecycle::rm(&ctx, a).await,
                    C::Logs(a) => commands::logs::logs(&ctx, a).await,
                    C::Inspect(mut a) => {
                        a.kind = Some("container".into());
                        commands::inspect::inspect(&ctx, a).await
                    }
                    C::Pause(a) => commands::lifecycle::pause(&ctx, a).await,
                    C::Unpause(a) => commands::lifecycle::unpause(&ctx, a).await,
                    C::Wait(a) => commands::lifecycle::wait(&ctx, a).await,
                    C::Commit(a) => commands::commit::commit(&ctx, a).await,
                    C::Export(a) => commands::commit::export(&ctx, a).await,
                    C::Cp(a) => commands::cp::cp(&ctx, a).await,
                    C::Attach(a) => commands::run::attach_cmd(&ctx, a).await,
                    C::Diff(a) => commands::commit::diff(&ctx, a).await,
                    C::Rename(a) => commands::lifecycle::rename(&ctx, a).await,
                    C::Prune(a) => commands::lifecycle::prune(&ctx, a).await,
                }
            }
            Command::Rename(a) => commands::lifecycle::rename(&ctx, a).await,
            Command::Update(a) => commands::lifecycle::update(&ctx, a).await,
            Command::Volume(a) => commands::volume::volume(&ctx, a).await,
            Command::Events(a) => commands::events::events(&ctx, a).await,
            Command::System(a) => commands::system::system(&ctx, a).await,
            Command::Exec(a) => commands::exec::exec(&ctx, a).await,
            Command::Top(a) => commands::stats::top(&ctx, a).await,
            Command::Stats(a) => commands::stats::stats(&ctx, a).await,
            Command::Commit(a) => commands::commit::commit(&ctx, a).await,
            Command::Export(a) => commands::commit::export(&ctx, a).await,
            Command::Cp(a) => commands::cp::cp(&ctx, a).await,
            Command::Attach(a) => commands::run::attach_cmd(&ctx, a).await,
            Command::Diff(a) => commands::commit::diff(&ctx, a).await,
            Command::Pull(a) => commands::distribution::pull(&ctx, a).await,
            Command::Push(a) => commands::distribution::push(&ctx, a).await,
            Command::Login(a) => commands::distribution::login(&ctx, a).await,
            Command::Logout(a) => commands::distribution::logout(a),
            Command::Version(a) => commands::system::version(&ctx, a).await,
            Command::Info(a) => commands::system::info(&ctx, a).await,
            Command::Network(a) => commands::network::network(&ctx, a).await,
            Command::Port(a) => commands::network::port(&ctx, a).await,
            Command::Daemon(_) | Command::Registry(_) | Command::Shim(_) | Command::Runtime(_) => {
                unreachable!("dispatched before the client runtime")
            }
        }
    });
    // Don't wait for blocking tasks: a stdin read may never return.
    rt.shutdown_background();
    finish(result, name)
}

/// Prints an error the way docker would and returns the exit code.
fn finish(result: anyhow::Result<i32>, command: &str) -> i32 {
    let err = match result {
        Ok(code) => return code,
        Err(e) => e,
    };
    if error::is_broken_pipe(&err) {
        return 0;
    }
    let _ = std::io::stdout().flush();
    if let Some(s) = err.downcast_ref::<StatusError>() {
        if !s.message.is_empty() {
            eprintln!("{}", s.message);
        }
        return s.code;
    }
    if let Some(c) = err.downcast_ref::<ClientError>() {
        eprintln!("{c}");
        return 1;
    }
    let chain: Vec<String> = err.chain().map(ToString::to_string).collect();
    eprintln!("Error: {}", chain.join(": "));
    let _ = command;
    1
}

/// Renders a flag error like docker (`invalid argument "12zb" for "-m, --memory" flag: ...`,
/// the usage line and the help hint) and returns 125; help and version print and return 0.
fn report_clap_error(e: clap::Error) -> i32 {
    match e.kind() {
        ClapKind::DisplayHelp
        | ClapKind::DisplayVersion
        | ClapKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return 0;
        }
        _ => {}
    }
    let argv: Vec<String> = std::env::args().collect();
    let root = Cli::command();
    let sub = argv
        .iter()
        .skip(1)
        .find_map(|a| root.find_subcommand(a).map(|c| c.get_name().to_string()));
    let string_ctx = |k: ContextKind| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let usage = sub.as_deref().and_then(args::usage_line);
    if e.kind() == ClapKind::MissingRequiredArgument {
        if let Some(sub) = &sub {
            let mut out = format!("berth: 'berth {sub}' requires at least 1 argument");
            if let Some(usage) = usage {
                out.push_str(&format!("\n\nUsage:  {usage}"));
            }
            out.push_str(&format!(
                "\n\nSee 'berth {sub} --help' for more information"
            ));
            eprintln!("{out}");
            return 1;
        }
    }
    let message = match e.kind() {
        ClapKind::ValueValidation | ClapKind::InvalidValue => {
            let arg = string_ctx(ContextKind::InvalidArg).unwrap_or_default();
            let value = string_ctx(ContextKind::InvalidValue).unwrap_or_default();
            let long = arg
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_start_matches('-')
                .to_string();
            let flag = sub
                .as_deref()
                .and_then(|s| root.find_subcommand(s))
                .and_then(|c| {
                    c.get_arguments()
                        .find(|a| a.get_long() == Some(long.as_str()))
                })
                .map(|a| match a.get_short() {
                    Some(s) => format!("-{s}, --{long}"),
                    None => format!("--{long}"),
                })
                .unwrap_or_else(|| format!("--{long}"));
            let cause = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| "invalid value".to_string());
            format!("invalid argument {value:?} for {flag:?} flag: {cause}")
        }
        ClapKind::UnknownArgument => {
            let arg = string_ctx(ContextKind::InvalidArg).unwrap_or_default();
            if !arg.starts_with('-') {
                format!("unexpected argument \"{arg}\"")
            } else if arg.starts_with("--") {
                format!("unknown flag: {arg}")
            } else {
                format!(
                    "unknown shorthand flag: '{}' in {arg}",
                    arg.trim_start_matches('-').chars().next().unwrap_or('?')
                )
            }
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            first.trim_start_matches("error: ").to_string()
        }
    };
    let mut out = message;
    if let Some(sub) = &sub {
        if let Some(usage) = usage {
            out.push_str(&format!("\n\nUsage:  {usage}"));
        }
        out.push_str(&format!(
            "\n\nRun 'berth {sub} --help' for more information"
        ));
    } else {
        out.push_str("\n\nRun 'berth --help' for more information");
    }
    eprintln!("{out}");
    125
}
