//! `docker diff`, `docker commit` and `docker export` over the container's root snapshot.

use std::path::PathBuf;
use std::sync::Arc;

use api::ImageRef;
use image::{Change, CommitOptions, ImageInfo, ImportChanges};

use super::{Engine, Status};
use crate::error::EngineError;

/// Mount points the runtime creates in a container's root: not changes of the container (an
/// init layer hides them in Docker).
pub const MOUNT_POINTS: [&str; 6] = [
    "/proc",
    "/sys",
    "/dev",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
];

fn exclude() -> Vec<String> {
    MOUNT_POINTS.iter().map(|s| s.to_string()).collect()
}

/// What `POST /commit` asked for.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `repo[:tag]`, if any.
    pub reference: Option<ImageRef>,
    /// `--message`.
    pub comment: Option<String>,
    /// `--author`.
    pub author: Option<String>,
    /// `--change` lines (Dockerfile instructions).
    pub changes: Vec<String>,
    /// Pause a running container while committing (default true).
    pub pause: bool,
    /// Config fields from the request body, overriding the container's.
    pub config: Option<serde_json::Value>,
}

impl Engine {
    /// The container's filesystem changes, sorted by path.
    pub async fn changes(&self, name_or_id: &str) -> Result<Vec<Change>, EngineError> {
        let c = self.get(name_or_id)?;
        let key = c.id.to_string();
        let images = self.images.clone();
        Ok(
            tokio::task::spawn_blocking(move || images.changes(&key, &exclude()))
                .await
                .map_err(super::create::join_error)??,
        )
    }

    /// The mounted root of a running container (where its shim mounted it).
    fn live_root(&self, id: &str, status: Status) -> Option<PathBuf> {
        status
            .is_running()
            .then(|| self.paths.state_dir(id).join("rootfs"))
            .filter(|p| p.is_dir())
    }

    /// Streams the container's filesystem as a tar into `out`.
    pub async fn export(
        &self,
        name_or_id: &str,
        out: impl std::io::Write + Send + 'static,
    ) -> Result<(), EngineError> {
        let c = self.get(name_or_id)?;
        let key = c.id.to_string();
        let live = self.live_root(&key, c.status());
        let images = self.images.clone();
        tokio::task::spawn_blocking(move || images.export_rootfs(&key, live.as_deref(), out))
            .await
            .map_err(super::create::join_error)??;
        Ok(())
    }

    /// Makes an image of the container's changes on its image.
    pub async fn commit(
        self: &Arc<Engine>,
        name_or_id: &str,
        req: CommitRequest,
    ) -> Result<ImageInfo, EngineError> {
        let c = self.get(name_or_id)?;
        let rec = c.record();
        let image: api::Digest = rec.image.parse().map_err(|_| {
            EngineError::Invalid(format!("container has an invalid image id {}", rec.image))
        })?;
        // The container's config, then the body's fields, then the --change lines.
        let mut merged = serde_json::to_value(&rec.config).unwrap_or_default();
        if let (Some(serde_json::Value::Object(over)), Some(obj)) =
            (req.config.clone(), merged.as_object_mut())
        {
            for (k, v) in over {
                if !v.is_null() {
                    obj.insert(k, v);
                }
            }
        }
        let mut config: api::image::ContainerConfig = serde_json::from_value(merged)
            .map_err(|e| EngineError::Invalid(format!("invalid container config: {e}")))?;
        ImportChanges::parse(&req.changes)?.apply_to(&mut config);
        let mut created_by = vec![rec.path.clone()];
        created_by.extend(rec.args.iter().cloned());
        let opts = CommitOptions {
            config,
            author: req.author.clone(),
            comment: req.comment.clone(),
            created_by: created_by.join(" "),
            tag: req.reference.clone(),
        };
        let pause = req.pause && c.status() == Status::Running;
        if pause {
            self.pause(name_or_id).await?;
        }
        let key = c.id.to_string();
        let images = self.images.clone();
        let result = tokio::task::spawn_blocking(move || {
            images.commit_container(&key, &image, &exclude(), &opts)
        })
        .await
        .map_err(super::create::join_error);
        if pause {
            if let Err(e) = self.unpause(name_or_id).await {
                tracing::warn!(container = %c.id, error = %e, "could not unpause after commit");
            }
        }
        Ok(result??)
    }
}
