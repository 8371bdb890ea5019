//! The CLI's protocol against a scripted fake daemon (no root, no containers): version
//! negotiation, the create body, attach before wait before start, the write half-close, stream
//! demultiplexing and the exit status taken from wait.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const ID: &str = "e445fa2c1ab2e8ea2b7fe71e84ffe16613ea752128356b5678b75a1f660b3e09";

#[derive(Default)]
struct State {
    log: Vec<String>,
    started: bool,
    create_body: String,
}

struct Fake {
    socket: PathBuf,
    state: Arc<(Mutex<State>, Condvar)>,
}

fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

impl Fake {
    fn start(name: &str) -> Fake {
        let dir =
            std::env::temp_dir().join(format!("berth-cli-fake-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("d.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || serve(conn, st));
            }
        });
        Fake { socket, state }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn log(&self) -> Vec<String> {
        self.state.0.lock().unwrap().log.clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(dir) = self.socket.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn serve(conn: UnixStream, st: Arc<(Mutex<State>, Condvar)>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        if h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let (lock, cv) = &*st;
    let path = target.split('?').next().unwrap_or_default().to_string();
    if path.ends_with("/start") {
        // The attach connection is served by another thread: give it up to 2 s to log the
        // client's half-close (which the client sends before `start`), so the log's order is
        // the client's and not the two threads' race.
        for _ in 0..200 {
            let settled = {
                let log = &lock.lock().unwrap().log;
                !log.iter().any(|l| l.contains("/attach"))
                    || log.iter().any(|l| l == "attach half-closed")
            };
            if settled {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    lock.lock().unwrap().log.push(format!("{method} {target}"));
    if path == "/_ping" {
        w.write_all(b"HTTP/1.1 200 OK\r\nApi-Version: 1.45\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
    } else if path == "/v1.43/containers/create" {
        lock.lock().unwrap().create_body = String::from_utf8_lossy(&body).to_string();
        let answer = format!("{{\"Id\":\"{ID}\",\"Warnings\":[\"careful\"]}}\n");
        write!(
            w,
            "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
    } else if path.ends_with("/attach") {
        w.write_all(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n").unwrap();
        // The client half-closes its write side at once (no -i).
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        lock.lock()
            .unwrap()
            .log
            .push("attach half-closed".to_string());
        let mut g = lock.lock().unwrap();
        while !g.started {
            g = cv.wait(g).unwrap();
        }
        drop(g);
        let mut out = frame(1, b"out\n");
        out.extend(frame(2, b"err\n"));
        // Split mid-header to exercise reassembly.
        w.write_all(&out[..5]).unwrap();
        w.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        w.write_all(&out[5..]).unwrap();
        let _ = w.shutdown(std::net::Shutdown::Both);
    } else if path.ends_with("/wait") {
        w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        w.flush().unwrap();
        let mut g = lock.lock().unwrap();
        while !g.started {
            g = cv.wait(g).unwrap();
        }
        drop(g);
        std::thread::sleep(Duration::from_millis(100));
        let body = "{\"Error\":null,\"StatusCode\":3}\n";
        let _ = write!(w, "{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    } else if path.ends_with("/start") {
        lock.lock().unwrap().started = true;
        cv.notify_all();
        w.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
    } else {
        let msg = "{\"message\":\"page not found\"}\n";
        let _ = write!(
            w,
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{msg}",
            msg.len()
        );
    }
}

#[test]
fn run_follows_dockers_request_order_and_exits_with_the_wait_status() {
    let fake = Fake::start("run");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "-H",
            &fake.host(),
            "run",
            "--rm",
            "--name",
            "web",
            "busybox",
            "sh",
            "-c",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "WARNING: careful\nerr\n"
    );
    assert_eq!(out.status.code(), Some(3));
    let log = fake.log();
    let pos = |p: &str| {
        log.iter()
            .position(|l| l.contains(p))
            .unwrap_or_else(|| panic!("no {p} in {log:?}"))
    };
    assert_eq!(log[0], "HEAD /_ping");
    assert!(
        log[1].starts_with("POST /v1.43/containers/create?name=web"),
        "{log:?}"
    );
    assert!(
        log.contains(&format!(
            "POST /v1.43/containers/{ID}/attach?stderr=1&stdout=1&stream=1"
        )),
        "{log:?}"
    );
    assert!(log.contains(&format!(
        "POST /v1.43/containers/{ID}/wait?condition=removed"
    )));
    assert!(
        pos("/attach") < pos("/start") && pos("/wait") < pos("/start"),
        "{log:?}"
    );
    assert!(pos("attach half-closed") < pos("/start"), "{log:?}");
    let body: serde_json::Value =
        serde_json::from_str(&fake.state.0.lock().unwrap().create_body).unwrap();
    assert_eq!(body["Image"], "busybox");
    assert_eq!(body["Cmd"], serde_json::json!(["sh", "-c", "x"]));
    assert_eq!(body["HostConfig"]["AutoRemove"], true);
    assert_eq!(body["AttachStdout"], true);
}

#[test]
fn unknown_routes_show_the_daemon_message() {
    let fake = Fake::start("err");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", &fake.host(), "ps"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error response from daemon: page not found\n"
    );
}
