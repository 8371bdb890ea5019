//! The local terminal: raw mode on stdin for `-t` (restored on drop, also on error) and the
//! window size sent with `resize`.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use nix::sys::termios::{self, SetArg, Termios};

/// True when stdin is a terminal.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Puts stdin in raw mode until dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Switches stdin to raw mode; `None` when stdin is not a terminal.
    pub fn enable() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        if let Err(e) = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &self.saved) {
            tracing::warn!(error = %e, "cannot restore the terminal mode");
        }
    }
}

nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);

/// The terminal size as `[rows, cols]` (stdout first, then stdin), if either is a terminal.
#[allow(unsafe_code)]
pub fn size() -> Option<[u16; 2]> {
    use std::os::fd::AsRawFd;
    for fd in [std::io::stdout().as_raw_fd(), std::io::stdin().as_raw_fd()] {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` into the pointer we pass, which points at a
        // live, properly aligned local; the fd is one of our standard streams.
        let ok = unsafe { tiocgwinsz(fd, &mut ws) }.is_ok();
        if ok && ws.ws_row > 0 && ws.ws_col > 0 {
            return Some([ws.ws_row, ws.ws_col]);
        }
    }
    None
}

/// True when stderr is a terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Turns off echo on stdin (for a password prompt); returns the mode to [`restore`].
pub fn echo_off() -> nix::Result<Termios> {
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(stdin.as_fd())?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(termios::LocalFlags::ECHO);
    termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &quiet)?;
    Ok(saved)
}

/// Restores a terminal mode saved by [`echo_off`].
pub fn restore(saved: Termios) {
    let stdin = std::io::stdin();
    if let Err(e) = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &saved) {
        tracing::warn!(error = %e, "cannot restore the terminal mode");
    }
}
