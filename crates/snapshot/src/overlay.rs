//! [`OverlaySnapshotter`]: each snapshot is an overlayfs upper directory; a snapshot's tree is
//! its own directory stacked on its ancestors'.
//!
//! Layout under the root (e.g. `/var/lib/berth/snapshots/overlay`):
//!
//! ```text
//! metadata.json            keys, states, parents, directory numbers
//! snapshots/<n>/fs         the snapshot's own content (overlay upperdir, or lowerdir once committed)
//! snapshots/<n>/work       overlay workdir (active snapshots)
//! ```
//!
//! Mounts:
//! - active, no parent: read-write bind of `fs`;
//! - active with parents: `overlay` with `lowerdir=<parent fs>:<grandparent fs>:...,
//!   upperdir=<fs>,workdir=<work>`;
//! - view with no parent: read-only bind of its (empty) `fs`; with one parent: read-only bind
//!   of the parent's `fs`; with more: `overlay` with only `lowerdir=`.

use std::fs;
use std::path::Path;

use api::mount::Mount;

use crate::meta::{Core, Record};
use crate::{ApplyTarget, Info, Kind, SnapshotError, Snapshotter, Usage, WhiteoutStyle};

/// Snapshots as overlayfs layers. See the module doc for layout and mounts.
pub struct OverlaySnapshotter {
    core: Core,
}

impl OverlaySnapshotter {
    /// Opens (creating) a snapshotter rooted at `root`, cleaning up after a crash.
    pub fn open(root: &Path) -> Result<OverlaySnapshotter, SnapshotError> {
        Ok(OverlaySnapshotter {
            core: Core::open(root)?,
        })
    }

    /// Whether this kernel supports overlayfs (listed in `/proc/filesystems`).
    pub fn supported() -> bool {
        fs::read_to_string("/proc/filesystems")
            .map(|s| s.lines().any(|l| l.ends_with("\toverlay")))
            .unwrap_or(false)
    }

    fn fs_dir(&self, r: &Record) -> String {
        self.core
            .dir(r.id)
            .join("fs")
            .to_string_lossy()
            .into_owned()
    }

    fn mounts_of(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let (rec, parents) = self.core.chain(key)?;
        let lower = || {
            parents
                .iter()
                .map(|p| self.fs_dir(p))
                .collect::<Vec<_>>()
                .join(":")
        };
        let bind = |source: String, mode: &str| Mount {
            kind: "bind".to_string(),
            source,
            options: vec!["rbind".to_string(), mode.to_string()],
        };
        Ok(match (rec.kind, parents.len()) {
            (Kind::Committed, _) => {
                return Err(SnapshotError::WrongKind {
                    key: key.to_string(),
                    kind: rec.kind,
                    op: "mount",
                })
            }
            (Kind::Active, 0) => vec![bind(self.fs_dir(&rec), "rw")],
            (Kind::Active, _) => vec![Mount {
                kind: "overlay".to_string(),
                source: "overlay".to_string(),
                options: vec![
                    format!("lowerdir={}", lower()),
                    format!("upperdir={}", self.fs_dir(&rec)),
                    format!("workdir={}", self.core.dir(rec.id).join("work").display()),
                ],
            }],
            (Kind::View, 0) => vec![bind(self.fs_dir(&rec), "ro")],
            (Kind::View, 1) => vec![bind(self.fs_dir(&parents[0]), "ro")],
            (Kind::View, _) => vec![Mount {
                kind: "overlay".to_string(),
                source: "overlay".to_string(),
                options: vec![format!("lowerdir={}", lower())],
            }],
        })
    }
}

fn make_dirs(dir: &Path, with_work: bool) -> Result<(), SnapshotError> {
    let fs_dir = dir.join("fs");
    fs::create_dir(&fs_dir).map_err(SnapshotError::io("create directory", &fs_dir))?;
    if with_work {
        let work = dir.join("work");
        fs::create_dir(&work).map_err(SnapshotError::io("create directory", &work))?;
    }
    Ok(())
}

impl Snapshotter for OverlaySnapshotter {
    fn driver_name(&self) -> &'static str {
        "overlay2"
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
        self.core
            .create(key, parent, Kind::Active, &|dir, _| make_dirs(dir, true))?;
        self.mounts_of(key)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.core
            .create(key, parent, Kind::View, &|dir, _| make_dirs(dir, false))?;
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
        self.core.apply_target(key, WhiteoutStyle::Overlay)
    }

    fn lower_dirs(&self, key: &str) -> Result<Vec<std::path::PathBuf>, SnapshotError> {
        let (_, parents) = self.core.chain(key)?;
        Ok(parents
            .iter()
            .map(|p| self.core.dir(p.id).join("fs"))
            .collect())
    }
}
