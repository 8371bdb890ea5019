//! Exit statuses: an error that carries the code docker would exit with and the exact text to
//! print, so `main` stays a dumb printer.

use std::fmt;

/// An error with its own exit code and already-rendered message (may be empty: print nothing).
#[derive(Debug)]
pub struct StatusError {
    /// Process exit code.
    pub code: i32,
    /// Text printed to stderr, verbatim.
    pub message: String,
}

impl StatusError {
    /// An error that exits with `code` after printing `message`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        StatusError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StatusError {}

/// docker's exit code for a start failure, from the daemon's message (reference 3.8): 127 when
/// the command is not found, 126 when it cannot be executed, 125 otherwise.
pub fn start_failure_code(message: &str) -> i32 {
    let m = message.to_lowercase();
    if m.contains("executable file not found") || m.contains("no such file or directory") {
        127
    } else if m.contains("permission denied") || m.contains("not executable") {
        126
    } else {
        125
    }
}

/// The `run`/`create` rendering of an error: `berth: <error>` and the help hint, exit 125.
pub fn run_error(command: &str, err: impl fmt::Display, code: i32) -> StatusError {
    StatusError::new(code, format!("berth: {err}\nSee 'berth {command} --help'."))
}

/// True when the error chain holds a closed-pipe write (the reader went away: exit quietly).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_docker_codes() {
        assert_eq!(
            start_failure_code("failed to create shim task: OCI runtime create failed: exec: \"ping\": executable file not found in $PATH: unknown"),
            127
        );
        assert_eq!(
            start_failure_code("exec: /nonexistent: no such file or directory"),
            127
        );
        assert_eq!(
            start_failure_code("exec: /etc/passwd: permission denied"),
            126
        );
        assert_eq!(start_failure_code("unable to find user nosuchuser"), 125);
    }

    #[test]
    fn run_errors_carry_the_hint() {
        let e = run_error("run", "Error response from daemon: x", 125);
        assert_eq!(e.code, 125);
        assert_eq!(
            e.message,
            "berth: Error response from daemon: x\nSee 'berth run --help'."
        );
    }
}
