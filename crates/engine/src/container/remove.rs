//! Remove: refuse a running container unless forced, then delete the root snapshot, the
//! container's directories and its record.

use std::sync::Arc;

use super::record::Status;
use super::Engine;
use crate::error::EngineError;

impl Engine {
    /// Removes a container (`force` kills it first when it runs).
    pub async fn remove(
        self: &Arc<Engine>,
        name_or_id: &str,
        force: bool,
    ) -> Result<(), EngineError> {
        self.remove_with_volumes(name_or_id, force, false).await
    }

    /// `docker rm [-f] [-v]`: with `volumes`, the container's anonymous volumes go too (unless
    /// another container uses them).
    pub async fn remove_with_volumes(
        self: &Arc<Engine>,
        name_or_id: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), EngineError> {
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        if c.lifecycle.borrow().removed {
            return Ok(());
        }
        if c.status().is_running() && !force && c.status() != Status::Restarting {
            return Err(EngineError::RemoveRunning(c.id.to_string()));
        }
        // No policy may restart what is being removed.
        let _ = c.update(&self.paths, |r| r.manually_stopped = true);
        self.cancel_restart(&c);
        if c.status().is_running() {
            if !force {
                return Err(EngineError::RemoveRunning(c.id.to_string()));
            }
            self.stop_locked(&c, Some(0), None).await?;
        }
        let id = c.id.to_string();
        // Mark first: a crash from here on finishes the removal at the next start.
        c.update(&self.paths, |r| r.state.status = Status::Removing)?;
        self.pending_attach_close(&c);
        // A shim that died uncleanly may have left the root mounted or the runtime container.
        if self.paths.state_dir(&id).join("rootfs").exists()
            && is_mountpoint(&self.paths.state_dir(&id).join("rootfs"))
        {
            self.cleanup_dead_shim(&id).await;
        }
        self.release_network(&id).await;
        self.remove_files(&id).await?;
        self.forget(&id);
        if volumes {
            self.remove_anonymous_volumes(&c.record().mount_points);
        }
        c.lifecycle.send_modify(|lc| lc.removed = true);
        self.forget_restart(&id);
        self.container_event(&c.record(), "destroy", &[]);
        tracing::info!(container = %id, "removed");
        Ok(())
    }

    /// Deletes the root snapshot and the container's directories.
    pub(crate) async fn remove_files(&self, id: &str) -> Result<(), EngineError> {
        let images = self.images.clone();
        let key = id.to_string();
        tokio::task::spawn_blocking(move || images.remove_rootfs(&key))
            .await
            .map_err(super::create::join_error)??;
        for dir in [self.paths.state_dir(id), self.paths.data_dir(id)] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(EngineError::io(format!("remove {}", dir.display()))(e)),
            }
        }
        Ok(())
    }
}

/// True if `path` is a mount point (listed in our mountinfo).
fn is_mountpoint(path: &std::path::Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let p = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&*p))
}
