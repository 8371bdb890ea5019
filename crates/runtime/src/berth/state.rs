//! The on-disk state of one container: `<state_root>/<id>/state.json` and `exec.fifo`.
//!
//! `state.json` is written atomically (temp file, fsync, rename). `exec.fifo` exists from
//! create until start; its presence means "created". The init's start time (field 22 of
//! `/proc/<pid>/stat`) is recorded so a recycled pid is never mistaken for the init.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::RuntimeError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateFile {
    pub id: String,
    pub pid: i32,
    pub start_time: u64,
    pub bundle: PathBuf,
    pub cgroups_path: String,
}

pub const STATE_JSON: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

fn io_err(op: &str, path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Io {
        op: format!("{op} {}", path.display()),
        source: e,
    }
}

impl StateFile {
    pub fn write(&self, dir: &Path) -> Result<(), RuntimeError> {
        let tmp = dir.join(".state.json.tmp");
        let path = dir.join(STATE_JSON);
        let text = serde_json::to_vec(self).unwrap_or_default();
        let mut f = std::fs::File::create(&tmp).map_err(|e| io_err("create", &tmp, e))?;
        f.write_all(&text)
            .and_then(|()| f.sync_all())
            .map_err(|e| io_err("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io_err("rename", &path, e))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    pub fn read(dir: &Path, id: &str) -> Result<StateFile, RuntimeError> {
        let path = dir.join(STATE_JSON);
        let text = std::fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                RuntimeError::NotFound(id.to_string())
            } else {
                io_err("read", &path, e)
            }
        })?;
        serde_json::from_slice(&text).map_err(|e| io_err("parse", &path, std::io::Error::other(e)))
    }
}

/// (state char, start time) of a process from `/proc/<pid>/stat`.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether the recorded init is alive (not a zombie, same start time).
pub fn init_alive(s: &StateFile) -> bool {
    matches!(proc_stat(s.pid), Some((state, start)) if start == s.start_time && state != 'Z' && state != 'X')
}
