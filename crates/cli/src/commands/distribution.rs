//! `pull`, `push`, `login`, `logout`: the daemon talks to the registry; the client keeps the
//! credentials in docker's config file (`$DOCKER_CONFIG/config.json`, default
//! `~/.docker/config.json`, `{"auths":{"<registry>":{"auth":"base64(user:pass)"}}}`) so docker,
//! skopeo and berth share one login, and sends them as `X-Registry-Auth`.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use api::docker::JsonMessage;
use api::ImageRef;
use hyper::Method;
use image::distribution::client::DOCKER_HUB_AUTH_KEY;
use image::distribution::{auth, login_domain, AuthConfig};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use super::{println, Ctx};
use crate::args::{LoginArgs, LogoutArgs, PullArgs, PushArgs};
use crate::client::{empty_body, json_body, next_chunk, read_json, Client, Query};
use crate::error::StatusError;

/// Docker's config file.
pub fn config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker/config.json")
}

fn read_config() -> anyhow::Result<Value> {
    let path = config_path();
    match std::fs::read(&path) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("reading {}: invalid JSON", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces the config file atomically, private to the user (0600).
fn write_config(v: &Value) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = config_path();
    let dir = path.parent().expect("config path has a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut bytes = serde_json::to_vec_pretty(v)?;
    bytes.push(b'\n');
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("writing {}", path.display()))
    })
}

/// The key credentials for registry `domain` are stored under (Docker Hub's is its v1 URL).
fn auth_key(domain: &str) -> String {
    if domain == "docker.io" {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        domain.to_string()
    }
}

/// Stored credentials for registry `domain` (entries written with a scheme match too).
pub fn credentials(domain: &str) -> Option<AuthConfig> {
    let config = read_config().ok()?;
    let auths = config.get("auths")?.as_object()?;
    let key = auth_key(domain);
    let entry = auths.get(&key).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| login_domain(k) == domain)
            .map(|(_, v)| v)
    })?;
    let mut a: AuthConfig = serde_json::from_value(entry.clone()).ok()?;
    a.serveraddress = key;
    let a = a.normalized();
    (!a.is_empty()).then_some(a)
}

/// The `X-Registry-Auth` value for registry `domain` (`e30=` without credentials).
pub fn auth_header(domain: &str) -> String {
    credentials(domain)
        .map(|a| a.to_header())
        .unwrap_or_else(|| "e30=".to_string())
}

/// `berth pull NAME[:TAG|@DIGEST]`.
pub async fn pull(ctx: &Ctx, args: PullArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let r: ImageRef = args
        .name
        .parse()
        .map_err(|e| StatusError::new(1, format!("{e}")))?;
    let code = pull_with(&client, &r, args.platform.as_deref(), args.quiet, false).await?;
    if code == 0 {
        println(&r.to_string())?;
    }
    Ok(code)
}

/// Pulls `r` through the daemon and renders the progress (on stderr when `to_stderr`, as
/// `run` does). Returns the exit code.
pub async fn pull_with(
    client: &Client,
    r: &ImageRef,
    platform: Option<&str>,
    quiet: bool,
    to_stderr: bool,
) -> anyhow::Result<i32> {
    let mut q = Query::new();
    q.add("fromImage", r.repository());
    match (r.digest(), r.tag()) {
        (Some(d), _) => q.add("tag", d.to_string()),
        (None, Some(t)) => q.add("tag", t),
        (None, None) => q.add("tag", "latest"),
    };
    if let Some(p) = platform {
        q.add("platform", p);
    }
    let auth = auth_header(r.domain());
    let resp = client
        .request(
            Method::POST,
            "/images/create",
            &q,
            empty_body(),
            &[("x-registry-auth", auth.as_str())],
        )
        .await?;
    render(resp.into_body(), quiet, to_stderr).await
}

/// `berth push NAME[:TAG]` (`-a`: every tag of the repository).
pub async fn push(ctx: &Ctx, args: PushArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let r: ImageRef = args
        .name
        .parse()
        .map_err(|e| StatusError::new(1, format!("{e}")))?;
    let explicit_tag = args.name.rsplit('/').next().unwrap_or("").contains(':');
    if args.all_tags && explicit_tag {
        return Err(StatusError::new(1, "tag can't be used with --all-tags/-a").into());
    }
    let mut q = Query::new();
    if !args.all_tags {
        q.add("tag", r.tag().unwrap_or("latest"));
    }
    let auth = auth_header(r.domain());
    let path = format!("/images/{}/push", r.familiar_name());
    let resp = client
        .request(
            Method::POST,
            &path,
            &q,
            empty_body(),
            &[("x-registry-auth", auth.as_str())],
        )
        .await?;
    render(resp.into_body(), args.quiet, false).await
}

/// `berth login [SERVER] [-u USER] [-p PASS | --password-stdin]`.
pub async fn login(ctx: &Ctx, args: LoginArgs) -> anyhow::Result<i32> {
    let server = args.server.clone().unwrap_or_default();
    let domain = login_domain(&server);
    let key = auth_key(&domain);
    let mut username = args.username.clone().unwrap_or_default();
    let mut password = args.password.clone().unwrap_or_default();
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if args.password_stdin {
        if args.password.is_some() {
            return Err(StatusError::new(
                1,
                "--password and --password-stdin are mutually exclusive",
            )
            .into());
        }
        if username.is_empty() {
            return Err(
                StatusError::new(1, "Must provide --username with --password-stdin").into(),
            );
        }
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        password = line.trim_end_matches(['\n', '\r']).to_string();
    }
    if username.is_empty() {
        if let Some(stored) = credentials(&domain) {
            username = stored.username.clone();
            if password.is_empty() {
                password = stored.password.clone();
            }
        }
    }
    if username.is_empty() {
        username = prompt("Username: ", true)?;
    }
    if password.is_empty() {
        password = prompt("Password: ", false)?;
    }
    if username.is_empty() || password.is_empty() {
        return Err(StatusError::new(1, "Error: Non-null Username and Password Required").into());
    }
    let client = ctx.client().await?;
    let body = json!({"username": username, "password": password, "serveraddress": key});
    let resp = client
        .request(
            Method::POST,
            "/auth",
            &Query::new(),
            json_body(&body),
            &[("content-type", "application/json")],
        )
        .await
        .map_err(|e| StatusError::new(1, e.to_string()))?;
    let answer: Value = read_json(resp).await?;
    let mut config = read_config()?;
    if !config.is_object() {
        config = json!({});
    }
    let auths = config
        .as_object_mut()
        .expect("object")
        .entry("auths")
        .or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    auths.as_object_mut().expect("object").insert(
        key,
        json!({"auth": auth::encode_basic(&username, &password)}),
    );
    write_config(&config)?;
    eprintln!(
        "WARNING! Your password will be stored unencrypted in {}.",
        config_path().display()
    );
    println(answer["Status"].as_str().unwrap_or("Login Succeeded"))?;
    Ok(0)
}

/// `berth logout [SERVER]`: removes the stored credentials (no daemon call, as docker).
pub fn logout(args: LogoutArgs) -> anyhow::Result<i32> {
    let domain = login_domain(args.server.as_deref().unwrap_or(""));
    let key = auth_key(&domain);
    let mut config = read_config()?;
    let removed = config
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .map(|auths| {
            let keys: Vec<String> = auths
                .keys()
                .filter(|k| **k == key || login_domain(k) == domain)
                .cloned()
                .collect();
            for k in &keys {
                auths.remove(k);
            }
            !keys.is_empty()
        })
        .unwrap_or(false);
    if !removed {
        println(&format!("Not logged in to {key}"))?;
        return Ok(0);
    }
    println(&format!("Removing login credentials for {key}"))?;
    write_config(&config)?;
    Ok(0)
}

fn prompt(label: &str, echo: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(StatusError::new(
            1,
            "Error: Cannot perform an interactive login from a non TTY device",
        )
        .into());
    }
    eprint!("{label}");
    std::io::stderr().flush()?;
    let saved = if echo {
        None
    } else {
        crate::tty::echo_off().ok()
    };
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if let Some(s) = saved {
        crate::tty::restore(s);
        eprintln!();
    }
    r?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Renders a JSON message stream: per-layer bars on a terminal, status changes otherwise.
/// Returns 1 when the stream ends with an error.
pub async fn render(
    mut body: hyper::body::Incoming,
    quiet: bool,
    to_stderr: bool,
) -> anyhow::Result<i32> {
    let terminal = !quiet
        && if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
    let mut view = View::new(terminal, quiet, to_stderr);
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        pending.extend_from_slice(&chunk);
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            view.line(&line)?;
        }
    }
    view.line(&pending)?;
    view.finish();
    Ok(view.code)
}

struct View {
    terminal: bool,
    quiet: bool,
    to_stderr: bool,
    bars: Option<MultiProgress>,
    by_id: HashMap<String, ProgressBar>,
    last: HashMap<String, String>,
    code: i32,
}

impl View {
    fn new(terminal: bool, quiet: bool, to_stderr: bool) -> View {
        let bars = terminal.then(|| {
            MultiProgress::with_draw_target(if to_stderr {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::stdout()
            })
        });
        View {
            terminal,
            quiet,
            to_stderr,
            bars,
            by_id: HashMap::new(),
            last: HashMap::new(),
            code: 0,
        }
    }

    fn out(&self, text: &str) -> std::io::Result<()> {
        if let Some(mp) = &self.bars {
            return mp.println(text);
        }
        if self.to_stderr {
            eprintln!("{text}");
            Ok(())
        } else {
            println(text)
        }
    }

    fn line(&mut self, line: &[u8]) -> anyhow::Result<()> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let m: JsonMessage = serde_json::from_str(text)
            .with_context(|| format!("invalid message from the daemon: {text}"))?;
        if let Some(e) = m
            .error_detail
            .as_ref()
            .map(|d| d.message.clone())
            .or(m.error)
        {
            if let Some(mp) = &self.bars {
                let _ = mp.clear();
            }
            self.bars = None;
            eprintln!("{e}");
            self.code = 1;
            return Ok(());
        }
        if self.quiet {
            return Ok(());
        }
        if let Some(s) = &m.stream {
            self.out(s.trim_end_matches('\n'))?;
            return Ok(());
        }
        let Some(status) = m.status.clone() else {
            return Ok(());
        };
        let id = m.id.clone().unwrap_or_default();
        let is_progress = m
            .progress_detail
            .as_ref()
            .is_some_and(|d| d.current.is_some());
        // Messages without a layer id, and the "Pulling from" header, are plain lines.
        if id.is_empty() || status.starts_with("Pulling from") {
            let shown = if id.is_empty() {
                status
            } else {
                format!("{id}: {status}")
            };
            return Ok(self.out(&shown)?);
        }
        if !self.terminal {
            if is_progress || self.last.get(&id) == Some(&status) {
                return Ok(());
            }
            self.last.insert(id.clone(), status.clone());
            return Ok(self.out(&format!("{id}: {status}"))?);
        }
        let mp = self.bars.as_ref().expect("terminal has bars");
        let bar = self.by_id.entry(id.clone()).or_insert_with(|| {
            let b = mp.add(ProgressBar::new(0));
            b.set_style(ProgressStyle::with_template("{prefix}: {msg}").expect("valid template"));
            b.set_prefix(id.clone());
            b
        });
        match m
            .progress_detail
            .as_ref()
            .and_then(|d| d.current.zip(d.total))
        {
            Some((current, total)) if total > 0 => {
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix}: {msg} [{bar:40.cyan/blue}] {bytes}/{total_bytes}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                bar.set_length(total);
                bar.set_position(current);
            }
            _ => bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg}").expect("valid template"),
            ),
        }
        bar.set_message(status);
        Ok(())
    }

    /// Replaces the bars by their final lines, in the order the layers appeared.
    fn finish(&mut self) {
        let Some(mp) = self.bars.take() else {
            return;
        };
        let _ = mp.clear();
        let mut done: Vec<(u64, String)> = self
            .by_id
            .drain()
            .map(|(id, bar)| {
                (
                    bar.elapsed().as_nanos() as u64,
                    format!("{id}: {}", bar.message()),
                )
            })
            .collect();
        // Older bars have run longer: show them first.
        done.sort_by_key(|d| std::cmp::Reverse(d.0));
        for (_, line) in done {
            let _ = self.out(&line);
        }
    }
}
