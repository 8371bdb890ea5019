//! The metadata both snapshotters share: which keys exist, their state, parent and numbered
//! directory, persisted in `<root>/metadata.json` with [`content::atomic::write_file`].

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::{ApplyTarget, Info, Kind, SnapshotError, WhiteoutStyle};

/// One snapshot as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// Its directory is `<root>/snapshots/<id>`.
    pub id: u64,
    pub kind: Kind,
    pub parent: Option<String>,
    pub created: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    next_id: u64,
    snapshots: BTreeMap<String, Record>,
}

/// Metadata plus directory bookkeeping; the implementations add content handling and mounts.
pub(crate) struct Core {
    root: PathBuf,
    state: Mutex<Meta>,
}

/// Prepares a new snapshot directory: `(new_dir, parent_dir)`.
pub(crate) type Init<'a> = &'a dyn Fn(&Path, Option<&Path>) -> Result<(), SnapshotError>;

impl Core {
    /// Opens `root`, loading metadata and removing stray temps and unrecorded directories.
    pub fn open(root: &Path) -> Result<Core, SnapshotError> {
        let snaps = root.join("snapshots");
        fs::create_dir_all(&snaps).map_err(SnapshotError::io("create directory", &snaps))?;
        content::atomic::remove_stray_temps(root)
            .map_err(SnapshotError::io("remove stray temps in", root))?;
        let path = root.join("metadata.json");
        let meta = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| SnapshotError::Corrupt { path, source })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(SnapshotError::io("read", &path)(e)),
        };
        let core = Core {
            root: root.to_path_buf(),
            state: Mutex::new(meta),
        };
        core.remove_orphans()?;
        Ok(core)
    }

    fn lock(&self) -> MutexGuard<'_, Meta> {
        // A panic while holding the lock leaves the in-memory copy as valid as the file.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remove_orphans(&self) -> Result<(), SnapshotError> {
        let meta = self.lock();
        let known: std::collections::HashSet<String> =
            meta.snapshots.values().map(|r| r.id.to_string()).collect();
        let snaps = self.root.join("snapshots");
        for entry in fs::read_dir(&snaps).map_err(SnapshotError::io("read directory", &snaps))? {
            let entry = entry.map_err(SnapshotError::io("read directory", &snaps))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if !known.contains(&name) {
                tracing::info!(dir = %entry.path().display(), "removing unrecorded snapshot directory");
                remove_tree(&entry.path())?;
            }
        }
        Ok(())
    }

    pub fn dir(&self, id: u64) -> PathBuf {
        self.root.join("snapshots").join(id.to_string())
    }

    fn save(&self, meta: &Meta) -> Result<(), SnapshotError> {
        let path = self.root.join("metadata.json");
        let bytes = serde_json::to_vec_pretty(meta).expect("metadata serialises");
        content::atomic::write_file(&path, &bytes).map_err(SnapshotError::io("write", &path))
    }

    pub fn get(&self, key: &str) -> Result<Record, SnapshotError> {
        self.lock()
            .snapshots
            .get(key)
            .cloned()
            .ok_or_else(|| SnapshotError::NotFound(key.to_string()))
    }

    /// Where a layer is unpacked into the active snapshot `key` (its `fs` directory), with the
    /// whiteout style of the calling snapshotter.
    pub fn apply_target(
        &self,
        key: &str,
        whiteouts: WhiteoutStyle,
    ) -> Result<ApplyTarget, SnapshotError> {
        let r = self.get(key)?;
        if r.kind != Kind::Active {
            return Err(SnapshotError::WrongKind {
                key: key.to_string(),
                kind: r.kind,
                op: "apply a layer",
            });
        }
        Ok(ApplyTarget {
            dir: self.dir(r.id).join("fs"),
            whiteouts,
        })
    }

    /// The record of `key` and its ancestors' records, nearest parent first.
    pub fn chain(&self, key: &str) -> Result<(Record, Vec<Record>), SnapshotError> {
        let meta = self.lock();
        let rec = meta
            .snapshots
            .get(key)
            .cloned()
            .ok_or_else(|| SnapshotError::NotFound(key.to_string()))?;
        let mut parents = Vec::new();
        let mut next = rec.parent.clone();
        while let Some(p) = next {
            let r = meta
                .snapshots
                .get(&p)
                .cloned()
                .ok_or_else(|| SnapshotError::NotFound(p.clone()))?;
            next = r.parent.clone();
            parents.push(r);
        }
        Ok((rec, parents))
    }

    /// Creates `key` in state `kind` on `parent`, running `init` on the new directory (under
    /// the lock) before recording it.
    pub fn create(
        &self,
        key: &str,
        parent: Option<&str>,
        kind: Kind,
        init: Init<'_>,
    ) -> Result<Record, SnapshotError> {
        if key.is_empty() || key.contains('\n') {
            return Err(SnapshotError::InvalidKey(key.to_string()));
        }
        let mut meta = self.lock();
        if meta.snapshots.contains_key(key) {
            return Err(SnapshotError::AlreadyExists(key.to_string()));
        }
        let parent_dir = match parent {
            Some(p) => {
                let pr = meta
                    .snapshots
                    .get(p)
                    .ok_or_else(|| SnapshotError::NotFound(p.to_string()))?;
                if pr.kind != Kind::Committed {
                    return Err(SnapshotError::ParentNotCommitted {
                        parent: p.to_string(),
                        kind: pr.kind,
                    });
                }
                Some(self.dir(pr.id))
            }
            None => None,
        };
        meta.next_id += 1;
        let id = meta.next_id;
        let dir = self.dir(id);
        let made = fs::create_dir(&dir)
            .map_err(SnapshotError::io("create directory", &dir))
            .and_then(|()| init(&dir, parent_dir.as_deref()));
        if let Err(e) = made {
            let _ = remove_tree(&dir);
            return Err(e);
        }
        let rec = Record {
            id,
            kind,
            parent: parent.map(str::to_string),
            created: api::time::rfc3339_nano(std::time::SystemTime::now()),
        };
        meta.snapshots.insert(key.to_string(), rec.clone());
        if let Err(e) = self.save(&meta) {
            meta.snapshots.remove(key);
            let _ = remove_tree(&dir);
            return Err(e);
        }
        Ok(rec)
    }

    pub fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError> {
        if name.is_empty() || name.contains('\n') {
            return Err(SnapshotError::InvalidKey(name.to_string()));
        }
        let mut meta = self.lock();
        let rec = meta
            .snapshots
            .get(key)
            .cloned()
            .ok_or_else(|| SnapshotError::NotFound(key.to_string()))?;
        if rec.kind != Kind::Active {
            return Err(SnapshotError::WrongKind {
                key: key.to_string(),
                kind: rec.kind,
                op: "commit",
            });
        }
        if meta.snapshots.contains_key(name) {
            return Err(SnapshotError::AlreadyExists(name.to_string()));
        }
        let mut committed = rec.clone();
        committed.kind = Kind::Committed;
        meta.snapshots.remove(key);
        meta.snapshots.insert(name.to_string(), committed);
        if let Err(e) = self.save(&meta) {
            meta.snapshots.remove(name);
            meta.snapshots.insert(key.to_string(), rec);
            return Err(e);
        }
        Ok(())
    }

    pub fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        let mut meta = self.lock();
        let rec = meta
            .snapshots
            .get(key)
            .cloned()
            .ok_or_else(|| SnapshotError::NotFound(key.to_string()))?;
        let children: Vec<String> = meta
            .snapshots
            .iter()
            .filter(|(_, r)| r.parent.as_deref() == Some(key))
            .map(|(k, _)| k.clone())
            .collect();
        if !children.is_empty() {
            return Err(SnapshotError::HasChildren {
                key: key.to_string(),
                children,
            });
        }
        meta.snapshots.remove(key);
        if let Err(e) = self.save(&meta) {
            meta.snapshots.insert(key.to_string(), rec);
            return Err(e);
        }
        // Forgotten first, deleted second: a crash in between leaves an orphan directory that
        // the next open removes.
        remove_tree(&self.dir(rec.id))
    }

    pub fn list(&self) -> Vec<Info> {
        self.lock()
            .snapshots
            .iter()
            .map(|(k, r)| Info {
                name: k.clone(),
                parent: r.parent.clone(),
                kind: r.kind,
                created: r.created.clone(),
            })
            .collect()
    }

    pub fn stat(&self, key: &str) -> Result<Info, SnapshotError> {
        let r = self.get(key)?;
        Ok(Info {
            name: key.to_string(),
            parent: r.parent,
            kind: r.kind,
            created: r.created,
        })
    }
}

/// Removes a directory tree; absent is fine.
pub(crate) fn remove_tree(path: &Path) -> Result<(), SnapshotError> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SnapshotError::io("remove", path)(e)),
    }
}
