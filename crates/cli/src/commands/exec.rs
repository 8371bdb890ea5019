//! `exec`: create an exec instance, start it on a hijacked connection (or detached), stream
//! its output, and exit with its `ExitCode` from `GET /exec/{id}/json`, in docker's order.

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::Ctx;
use crate::args::ExecArgs;
use crate::client::{Client, Query};
use crate::stream::OutputSink;
use crate::tty;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdResponse {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ExecInspect {
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    running: bool,
}

/// `berth exec`.
pub async fn exec(ctx: &Ctx, args: ExecArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let keys = super::run::detach_keys(args.detach_keys.clone());
    let size = if args.tty { tty::size() } else { None };
    let detach = args.detach;
    let mut body = json!({
        "User": args.user.clone().unwrap_or_default(),
        "Privileged": args.privileged,
        "Tty": args.tty,
        "AttachStdin": args.interactive && !detach,
        "AttachStderr": !detach,
        "AttachStdout": !detach,
        "Detach": detach,
        "DetachKeys": keys.clone().unwrap_or_default(),
        "Env": if args.env.is_empty() { serde_json::Value::Null } else { json!(args.env) },
        "WorkingDir": args.workdir.clone().unwrap_or_default(),
        "Cmd": args.command,
    });
    if let Some(s) = size {
        body["ConsoleSize"] = json!(s);
    }
    let created: IdResponse = client
        .post_json(
            &format!("/containers/{}/exec", args.container),
            &Query::new(),
            &body,
        )
        .await?;
    let id = created.id;
    let mut start = json!({"Detach": detach, "Tty": args.tty});
    if let Some(s) = size {
        start["ConsoleSize"] = json!(s);
    }
    if detach {
        client
            .request(
                hyper::Method::POST,
                &format!("/exec/{id}/start"),
                &Query::new(),
                crate::client::json_body(&start),
                &[("content-type", "application/json")],
            )
            .await?;
        return Ok(0);
    }
    let conn = client
        .hijack_json(&format!("/exec/{id}/start"), &start)
        .await?;
    let raw = if args.tty && args.interactive && tty::stdin_is_terminal() {
        tty::RawMode::enable()
    } else {
        None
    };
    let (reader, mut writer) = tokio::io::split(conn);
    let (detach_tx, detach_rx) = tokio::sync::oneshot::channel::<()>();
    let tty_mode = args.tty;
    let stdin_task = if args.interactive {
        Some(tokio::spawn(async move {
            if super::run::copy_stdin(writer, keys.as_deref(), tty_mode).await {
                let _ = detach_tx.send(());
            }
        }))
    } else {
        writer
            .shutdown()
            .await
            .context("cannot half-close the exec connection")?;
        None
    };
    let winch = if args.tty {
        resize(&client, &id).await;
        Some(tokio::spawn(resize_on_winch(client.clone(), id.clone())))
    } else {
        None
    };
    let mut sink = OutputSink::stdio(args.tty);
    let (streamed, detached) = tokio::select! {
        r = sink.copy_from(reader) => (r, false),
        Ok(()) = detach_rx => (Ok(()), true),
    };
    if let Some(t) = winch {
        t.abort();
    }
    if let Some(t) = stdin_task {
        t.abort();
    }
    drop(raw);
    streamed.context("cannot copy the exec's output")?;
    if detached {
        // docker's exec reports the escape as its error; the process runs on.
        return Err(crate::error::StatusError::new(1, "read escape sequence").into());
    }
    // The daemon records the exit code before it closes the stream.
    let mut info: ExecInspect = client
        .get_json(&format!("/exec/{id}/json"), &Query::new())
        .await?;
    for _ in 0..50 {
        if !info.running {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        info = client
            .get_json(&format!("/exec/{id}/json"), &Query::new())
            .await?;
    }
    Ok(info.exit_code.unwrap_or(0))
}

async fn resize(client: &Client, id: &str) {
    let Some([rows, cols]) = tty::size() else {
        return;
    };
    let mut q = Query::new();
    q.add("h", rows.to_string()).add("w", cols.to_string());
    if let Err(e) = client.post(&format!("/exec/{id}/resize"), &q).await {
        tracing::debug!(error = %e, "exec resize failed");
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
