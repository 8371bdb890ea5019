//! `run`, `create` and `start`: create the container, then (unless detached) attach, register
//! the wait, start, stream the output and exit with the container's status, in docker's order.

use std::time::Duration;

use anyhow::Context as _;
use hyper::Method;
use serde::Deserialize;
use tokio::io::{AsyncWriteExt, ReadHalf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{println, Ctx};
use crate::args::{RunArgs, StartArgs};
use crate::client::{empty_body, read_json, Client, ClientError, Hijacked, Query};
use crate::create_body;
use crate::error::{run_error, start_failure_code, StatusError};
use crate::stream::OutputSink;
use crate::tty;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateResponse {
    id: String,
    #[serde(default)]
    warnings: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WaitError {
    #[serde(default)]
    message: String,
}

/// The body of `POST /containers/{id}/wait`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResponse {
    /// Exit status of the container.
    pub status_code: i64,
    #[serde(default)]
    error: Option<WaitError>,
}

/// Whether a 404 from create is about the image (not, say, a network).
fn image_missing(e: &ClientError) -> bool {
    e.to_string().contains("No such image")
}

/// `berth run` (`command` = "run") and `berth create` (`command` = "create").
pub async fn run(ctx: &Ctx, args: RunArgs, command: &'static str) -> anyhow::Result<i32> {
    let env =
        crate::opts::read_env(&args.env_file, &args.env).map_err(|e| run_error(command, e, 125))?;
    let attach = command == "run" && !args.detach;
    if attach && args.tty && args.interactive && !tty::stdin_is_terminal() {
        return Err(StatusError::new(1, "the input device is not a TTY").into());
    }
    let console = if args.tty && attach {
        tty::size()
    } else {
        None
    };
    let mut body =
        create_body::build(&args, env, console).map_err(|e| run_error(command, e, 125))?;
    if command == "create" {
        // docker create attaches nothing by default but keeps stdin flags.
        body.attach_stdout = !args.detach;
        body.attach_stderr = !args.detach;
    }
    let image = body.image.clone();
    let client = ctx.client().await.map_err(|e| run_error(command, e, 125))?;

    let mut query = Query::new();
    if let Some(name) = &args.name {
        query.add("name", name);
    }
    let created: CreateResponse = match client.post_json("/containers/create", &query, &body).await
    {
        Ok(c) => c,
        Err(e) if e.is_not_found() && image_missing(&e) => {
            // As docker: pull (progress on stderr), then create once more.
            eprintln!("Unable to find image '{image}' locally");
            let r: api::ImageRef = image.parse().map_err(|_| run_error(command, e, 125))?;
            let code = super::distribution::pull_with(&client, &r, None, false, true)
                .await
                .map_err(|e| run_error(command, e, 125))?;
            if code != 0 {
                return Err(StatusError::new(125, "").into());
            }
            client
                .post_json("/containers/create", &query, &body)
                .await
                .map_err(|e| run_error(command, e, 125))?
        }
        Err(e) => return Err(run_error(command, e, 125).into()),
    };
    for w in created.warnings.iter().flatten() {
        eprintln!("WARNING: {w}");
    }
    let id = created.id;

    if command == "create" {
        println(&id)?;
        return Ok(0);
    }
    let condition = if args.rm { "removed" } else { "next-exit" };
    if args.detach {
        // docker registers the wait even when detached, then drops it once started.
        let waiter = register_wait(&client, &id, condition).await;
        let started = start(&client, &id, command).await;
        waiter.abort();
        started?;
        println(&id)?;
        return Ok(0);
    }
    let keys = detach_keys(args.detach_keys.clone());
    attach_start_wait(
        &client,
        &id,
        args.tty,
        args.interactive,
        condition,
        command,
        keys,
    )
    .await
}

/// The detach-key spec to use: the flag, else config.json's `detachKeys`, else none (the
/// default ctrl-p ctrl-q then applies on both sides).
pub fn detach_keys(flag: Option<String>) -> Option<String> {
    flag.filter(|k| !k.is_empty()).or_else(|| {
        let bytes = std::fs::read(super::distribution::config_path()).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        v["detachKeys"]
            .as_str()
            .filter(|k| !k.is_empty())
            .map(String::from)
    })
}

/// Copies stdin to the connection. With `keys` (a terminal), the detach sequence is watched
/// for: it is not sent, and the copy stops there (true). EOF half-closes the connection.
pub async fn copy_stdin(
    mut writer: tokio::io::WriteHalf<Hijacked>,
    keys: Option<&str>,
    tty_mode: bool,
) -> bool {
    use tokio::io::AsyncReadExt;
    let mut matcher = tty_mode.then(|| {
        api::detach_keys::Matcher::new(
            keys.and_then(|k| api::detach_keys::parse(k).ok())
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| api::detach_keys::DEFAULT.to_vec()),
        )
    });
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 32 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (data, detached) = match &mut matcher {
            Some(m) => {
                out.clear();
                let d = m.feed(&buf[..n], &mut out);
                (&out[..], d)
            }
            None => (&buf[..n], false),
        };
        if !data.is_empty() && writer.write_all(data).await.is_err() {
            return false;
        }
        if detached {
            return true;
        }
    }
    let _ = writer.shutdown().await;
    false
}

async fn start(client: &Client, id: &str, command: &str) -> Result<(), StatusError> {
    client
        .post(&format!("/containers/{id}/start"), &Query::new())
        .await
        .map(|_| ())
        .map_err(|e| {
            let code = match &e {
                ClientError::Daemon { message, .. } => start_failure_code(message),
                _ => 125,
            };
            run_error(command, e, code)
        })
}

/// Sends the wait request and returns once its response headers arrived (so the wait is
/// registered before `start`), or after a grace period if the daemon holds them back.
async fn register_wait(
    client: &Client,
    id: &str,
    condition: &str,
) -> JoinHandle<Result<WaitResponse, ClientError>> {
    let (tx, rx) = oneshot::channel::<()>();
    let client = client.clone();
    let path = format!("/containers/{id}/wait");
    let mut query = Query::new();
    query.add("condition", condition);
    let handle = tokio::spawn(async move {
        let resp = client
            .request(Method::POST, &path, &query, empty_body(), &[])
            .await;
        let _ = tx.send(());
        read_json::<WaitResponse>(resp?).await
    });
    if tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .is_err()
    {
        tracing::debug!("wait response headers not received yet; starting anyway");
    }
    handle
}

/// The query of `POST /containers/{id}/attach` for a streaming session: stdout and stderr,
/// stdin when `interactive`, and the detach keys when set.
fn attach_query(keys: Option<&str>, interactive: bool) -> Query {
    let mut query = Query::new();
    if let Some(k) = keys {
        query.add("detachKeys", k);
    }
    query
        .flag("stderr", true)
        .flag("stdin", interactive)
        .flag("stdout", true)
        .flag("stream", true);
    query
}

/// Attach (hijacked), wait, start, stream, and return the container's exit status.
pub async fn attach_start_wait(
    client: &Client,
    id: &str,
    tty_mode: bool,
    interactive: bool,
    condition: &str,
    command: &str,
    keys: Option<String>,
) -> anyhow::Result<i32> {
    let query = attach_query(keys.as_deref(), interactive);
    let conn = client
        .hijack(&format!("/containers/{id}/attach"), &query)
        .await
        .map_err(|e| run_error(command, e, 125))?;
    let waiter = register_wait(client, id, condition).await;

    let raw = if tty_mode && interactive && tty::stdin_is_terminal() {
        RawModeGuard(tty::RawMode::enable())
    } else {
        RawModeGuard(None)
    };
    let (reader, mut writer) = tokio::io::split(conn);
    let (detach_tx, detach_rx) = oneshot::channel::<()>();
    let stdin_task = if interactive {
        Some(tokio::spawn(async move {
            if copy_stdin(writer, keys.as_deref(), tty_mode).await {
                let _ = detach_tx.send(());
            }
        }))
    } else {
        writer
            .shutdown()
            .await
            .context("cannot half-close the attach connection")?;
        drop(writer);
        None
    };

    if let Err(e) = start(client, id, command).await {
        drop(raw);
        if let Some(t) = stdin_task {
            t.abort();
        }
        waiter.abort();
        return Err(e.into());
    }
    let signals = if tty_mode {
        resize(client, id).await;
        Some(tokio::spawn(resize_on_winch(
            client.clone(),
            id.to_string(),
        )))
    } else {
        Some(tokio::spawn(proxy_signals(client.clone(), id.to_string())))
    };

    let (streamed, detached) = tokio::select! {
        r = stream_output(reader, tty_mode) => (r, false),
        Ok(()) = detach_rx => (Ok(()), true),
    };
    if let Some(s) = signals {
        s.abort();
    }
    if let Some(t) = stdin_task {
        t.abort();
    }
    drop(raw);
    streamed?;
    if detached {
        // docker's run and start -a end quietly, leaving the container running.
        waiter.abort();
        return Ok(0);
    }

    match waiter.await {
        Ok(Ok(w)) => {
            if let Some(err) = w.error.filter(|e| !e.message.is_empty()) {
                eprintln!("Error waiting for container: {}", err.message);
                return Ok(125);
            }
            Ok(w.status_code as i32)
        }
        Ok(Err(e)) => {
            eprintln!("Error waiting for container: {e}");
            Ok(125)
        }
        Err(e) => Err(anyhow::anyhow!("wait task failed: {e}")),
    }
}

struct RawModeGuard(#[allow(dead_code)] Option<tty::RawMode>);

async fn stream_output(reader: ReadHalf<Hijacked>, tty_mode: bool) -> anyhow::Result<()> {
    let mut sink = OutputSink::stdio(tty_mode);
    sink.copy_from(reader)
        .await
        .context("cannot copy the container's output")
}

async fn resize(client: &Client, id: &str) {
    let Some([rows, cols]) = tty::size() else {
        return;
    };
    let mut q = Query::new();
    q.add("h", rows.to_string()).add("w", cols.to_string());
    if let Err(e) = client.post(&format!("/containers/{id}/resize"), &q).await {
        tracing::debug!(error = %e, "resize failed");
    }
}

async fn resize_on_winch(client: Client, id: String) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut winch) = signal(SignalKind::window_change()) else {
        return;
    };
    while winch.recv().await.is_some() {
        resize(&client, &id).await;
    }
}

/// Forwards SIGINT/SIGTERM to the container while attached without a TTY (docker's sig-proxy).
async fn proxy_signals(client: Client, id: String) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    loop {
        let name = tokio::select! {
            _ = int.recv() => "INT",
            _ = term.recv() => "TERM",
        };
        let mut q = Query::new();
        q.add("signal", name);
        if let Err(e) = client.post(&format!("/containers/{id}/kill"), &q).await {
            tracing::debug!(error = %e, "signal proxy failed");
        }
    }
}

/// `berth attach`: joins the terminal or the streams of a running container. Ends with the
/// container's exit status, or with docker's `read escape sequence` (exit 1) on detach.
pub async fn attach_cmd(ctx: &Ctx, args: crate::args::AttachArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let name = &args.container;
    let info: serde_json::Value = client
        .get_json(&format!("/containers/{name}/json"), &Query::new())
        .await?;
    let id = info["Id"].as_str().unwrap_or(name).to_string();
    if !info["State"]["Running"].as_bool().unwrap_or(false) {
        return Err(StatusError::new(
            1,
            "You cannot attach to a stopped container, start it first",
        )
        .into());
    }
    if info["State"]["Paused"].as_bool().unwrap_or(false) {
        return Err(StatusError::new(
            1,
            "You cannot attach to a paused container, unpause it first",
        )
        .into());
    }
    let tty_mode = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let interactive = !args.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    if tty_mode && interactive && !tty::stdin_is_terminal() {
        return Err(StatusError::new(1, "the input device is not a TTY").into());
    }
    let keys = detach_keys(args.detach_keys.clone());
    let query = attach_query(keys.as_deref(), interactive);
    let conn = client
        .hijack(&format!("/containers/{id}/attach"), &query)
        .await?;
    let waiter = register_wait(&client, &id, "not-running").await;
    let raw = if tty_mode && interactive {
        RawModeGuard(tty::RawMode::enable())
    } else {
        RawModeGuard(None)
    };
    let (reader, mut writer) = tokio::io::split(conn);
    let (detach_tx, detach_rx) = oneshot::channel::<()>();
    let stdin_task = if interactive {
        Some(tokio::spawn(async move {
            if copy_stdin(writer, keys.as_deref(), tty_mode).await {
                let _ = detach_tx.send(());
            }
        }))
    } else {
        let _ = writer.shutdown().await;
        None
    };
    let signals = if tty_mode {
        resize(&client, &id).await;
        tokio::spawn(resize_on_winch(client.clone(), id.clone()))
    } else {
        tokio::spawn(proxy_signals(client.clone(), id.clone()))
    };
    let (streamed, detached) = tokio::select! {
        r = stream_output(reader, tty_mode) => (r, false),
        Ok(()) = detach_rx => (Ok(()), true),
    };
    signals.abort();
    if let Some(t) = stdin_task {
        t.abort();
    }
    drop(raw);
    streamed?;
    if detached {
        waiter.abort();
        return Err(StatusError::new(1, "read escape sequence").into());
    }
    match waiter.await {
        Ok(Ok(w)) => Ok(w.status_code as i32),
        _ => Ok(0),
    }
}

/// `berth start`.
pub async fn start_cmd(ctx: &Ctx, args: StartArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            return Err(StatusError::new(
                1,
                "Error: you cannot start and attach multiple containers at once",
            )
            .into());
        }
        let name = &args.containers[0];
        let info: serde_json::Value = client
            .get_json(&format!("/containers/{name}/json"), &Query::new())
            .await?;
        let id = info["Id"].as_str().unwrap_or(name).to_string();
        let tty_mode = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let open_stdin = info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
        return attach_start_wait(
            &client,
            &id,
            tty_mode,
            args.interactive && open_stdin,
            "next-exit",
            "start",
            detach_keys(args.detach_keys.clone()),
        )
        .await;
    }
    let mut failed = Vec::new();
    for name in &args.containers {
        match client
            .post(&format!("/containers/{name}/start"), &Query::new())
            .await
        {
            Ok(_) => println(name)?,
            Err(e @ (ClientError::Connect { .. } | ClientError::PermissionDenied { .. })) => {
                return Err(e.into())
            }
            Err(e) => {
                eprintln!("{e}");
                failed.push(name.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(0)
    } else {
        Err(StatusError::new(
            1,
            format!("Error: failed to start containers: {}", failed.join(", ")),
        )
        .into())
    }
}
