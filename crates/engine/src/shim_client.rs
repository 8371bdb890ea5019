//! The daemon's side of the shim protocol (see [`api::shim`]): one JSON line each way per
//! connection, and attach streams.

use std::io;
use std::path::Path;

use api::shim::{Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Connects to a shim socket. Socket paths are limited to 108 bytes; a longer one (a deep
/// `--exec-root`) is reached through `/proc/self/fd/<dir fd>/<name>`.
async fn connect(sock: &Path) -> io::Result<UnixStream> {
    if sock.as_os_str().len() < 100 {
        return UnixStream::connect(sock).await;
    }
    let dir = sock
        .parent()
        .ok_or_else(|| io::Error::other("socket path has no parent"))?;
    let name = sock
        .file_name()
        .ok_or_else(|| io::Error::other("socket path has no name"))?;
    let dir = std::fs::File::open(dir)?;
    use std::os::fd::AsRawFd;
    let short = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    let stream = UnixStream::connect(&short).await;
    drop(dir);
    stream
}

/// Sends `req` and reads the one-line answer.
pub async fn request(sock: &Path, req: &Request) -> io::Result<Response> {
    let mut stream = connect(sock).await?;
    send(&mut stream, req).await?;
    read_response(&mut stream).await
}

/// Opens an attach stream: after the shim's ok, the stream carries output frames one way and
/// stdin the other.
pub async fn attach(
    sock: &Path,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> io::Result<UnixStream> {
    let mut stream = connect(sock).await?;
    send(
        &mut stream,
        &Request::Attach {
            stdin,
            stdout,
            stderr,
        },
    )
    .await?;
    let resp = read_response(&mut stream).await?;
    if !resp.ok {
        return Err(io::Error::other(resp.error.unwrap_or_default()));
    }
    Ok(stream)
}

async fn send(stream: &mut UnixStream, req: &Request) -> io::Result<()> {
    let mut line = serde_json::to_vec(req).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line).await
}

/// Reads one response line byte by byte, so nothing after it is consumed.
async fn read_response(stream: &mut UnixStream) -> io::Result<Response> {
    let mut line = Vec::with_capacity(128);
    let mut byte = [0u8; 1];
    loop {
        let n = stream.read(&mut byte).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the shim closed the connection",
            ));
        }
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
        if line.len() > 1 << 20 {
            return Err(io::Error::other("shim response too long"));
        }
    }
    serde_json::from_slice(&line).map_err(io::Error::other)
}

/// Starts an exec'd process: the shim's answer, and on success the stream that carries its
/// output frames (ending with the exit frame) and takes its stdin.
pub async fn exec(
    sock: &Path,
    cfg: api::shim::ExecConfig,
) -> io::Result<(Response, Option<UnixStream>)> {
    let mut stream = connect(sock).await?;
    send(&mut stream, &Request::Exec(cfg)).await?;
    let resp = read_response(&mut stream).await?;
    if resp.ok {
        Ok((resp, Some(stream)))
    } else {
        Ok((resp, None))
    }
}
