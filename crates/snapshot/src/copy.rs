//! [`CopySnapshotter`]: every snapshot is a full copy of its parent's tree. Slow and
//! space-hungry, but needs nothing from the kernel beyond bind mounts; for hosts (or nested
//! containers) without overlayfs.
//!
//! Layout: like the overlay snapshotter (`metadata.json`, `snapshots/<n>/fs`), without `work`.
//! Mounts: an active snapshot is a read-write bind of its `fs`, a view a read-only one.

use std::fs;
use std::path::Path;

use api::mount::Mount;

use crate::meta::Core;
use crate::{ApplyTarget, Info, Kind, SnapshotError, Snapshotter, Usage, WhiteoutStyle};

/// Snapshots as full directory copies.
pub struct CopySnapshotter {
    core: Core,
}

impl CopySnapshotter {
    /// Opens (creating) a snapshotter rooted at `root`, cleaning up after a crash.
    pub fn open(root: &Path) -> Result<CopySnapshotter, SnapshotError> {
        Ok(CopySnapshotter {
            core: Core::open(root)?,
        })
    }

    fn mounts_of(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let r = self.core.get(key)?;
        let mode = match r.kind {
            Kind::Active => "rw",
            Kind::View => "ro",
            Kind::Committed => {
                return Err(SnapshotError::WrongKind {
                    key: key.to_string(),
                    kind: r.kind,
                    op: "mount",
                })
            }
        };
        Ok(vec![Mount {
            kind: "bind".to_string(),
            source: self
                .core
                .dir(r.id)
                .join("fs")
                .to_string_lossy()
                .into_owned(),
            options: vec!["rbind".to_string(), mode.to_string()],
        }])
    }
}

fn make_copy(dir: &Path, parent: Option<&Path>) -> Result<(), SnapshotError> {
    let fs_dir = dir.join("fs");
    fs::create_dir(&fs_dir).map_err(SnapshotError::io("create directory", &fs_dir))?;
    match parent {
        Some(p) => crate::tree::copy_tree(&p.join("fs"), &fs_dir),
        None => Ok(()),
    }
}

impl Snapshotter for CopySnapshotter {
    fn driver_name(&self) -> &'static str {
        "vfs"
    }

    fn stat(&self, key: &str) -> Result<Info, SnapshotError> {
        self.core.stat(key)
    }

    fn usage(&self, key: &str) -> Result<Usage, SnapshotError> {
        let r = self.core.get(key)?;
        crate::tree::usage(&self.core.dir(r.id).join("fs"))
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        self.mounts_of(key)
    }

    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.core.create(key, parent, Kind::Active, &make_copy)?;
        self.mounts_of(key)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.core.create(key, parent, Kind::View, &make_copy)?;
        self.mounts_of(key)
    }

    fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError> {
        self.core.commit(name, key)
    }

    fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        self.core.remove(key)
    }

    fn list(&self) -> Result<Vec<Info>, SnapshotError> {
        Ok(self.core.list())
    }

    fn apply_target(&self, key: &str) -> Result<ApplyTarget, SnapshotError> {
        self.core.apply_target(key, WhiteoutStyle::Delete)
    }

    fn lower_dirs(&self, key: &str) -> Result<Vec<std::path::PathBuf>, SnapshotError> {
        let (_, parents) = self.core.chain(key)?;
        Ok(parents
            .first()
            .map(|p| self.core.dir(p.id).join("fs"))
            .into_iter()
            .collect())
    }
}
