//! One module per command; each takes its parsed flags and returns the process exit code.

pub mod archive;
pub mod build;
pub mod commit;
pub mod cp;
pub mod distribution;
pub mod events;
pub mod exec;
pub mod images;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod network;
pub mod plumbing;
pub mod prune;
pub mod ps;
pub mod run;
pub mod stats;
pub mod system;
pub mod volume;

use std::io::Write;

use crate::client::{Client, ClientError};
use crate::host::Host;

/// What every client command needs: where the daemon is.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The resolved daemon address.
    pub host: Host,
}

impl Ctx {
    /// Pings the daemon and negotiates the API version.
    pub async fn client(&self) -> Result<Client, ClientError> {
        Client::connect(self.host.clone()).await
    }

    /// A client that negotiates the API version on its first request, without a ping first
    /// ([`Client::lazy`]): for commands whose first request is a `GET`.
    pub fn lazy_client(&self) -> Client {
        Client::lazy(self.host.clone())
    }
}

/// Writes `text` and a newline to stdout (errors, e.g. a closed pipe, go to the caller).
pub fn println(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes `text` to stdout as is.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Prints a prune answer as docker does: `Deleted <What>:` and one line per entry (when any),
/// then `Total reclaimed space: <size>`.
pub fn print_prune(
    title: &str,
    lines: &[String],
    reclaimed: &serde_json::Value,
) -> std::io::Result<()> {
    if !lines.is_empty() {
        println(title)?;
        for l in lines {
            println(l)?;
        }
        println("")?;
    }
    println(&format!(
        "Total reclaimed space: {}",
        crate::format::human_size(reclaimed.as_i64().unwrap_or(0) as f64, 4)
    ))
}

/// Runs `f` for each name and reports like docker's multi-object commands: successes print the
/// name, failures print their error to stderr, and the command fails at the end with exit 1.
pub async fn for_each<F, Fut>(names: &[String], mut f: F) -> anyhow::Result<i32>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, ClientError>>,
{
    let mut failed = false;
    for name in names {
        match f(name.clone()).await {
            Ok(Some(line)) => println(&line)?,
            Ok(None) => {}
            Err(e @ (ClientError::Connect { .. } | ClientError::PermissionDenied { .. })) => {
                return Err(e.into())
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
