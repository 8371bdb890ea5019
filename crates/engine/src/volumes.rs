//! Volumes with the `local` driver: `<root>/volumes/<name>/_data`, and their metadata in
//! `<root>/volumes/metadata.json` (written atomically). Which container uses which volume is
//! derived from the container records, so it cannot go stale.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::EngineError;

/// What berth keeps about a volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct VolumeMeta {
    /// RFC 3339 creation time.
    pub created: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Driver options (accepted and shown; the local driver here takes none).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for `-v /path` or an image `VOLUME` (no name given).
    #[serde(default)]
    pub anonymous: bool,
    /// The image's content was copied in (or copying was declined): never again.
    #[serde(default)]
    pub populated: bool,
}

/// The volumes of this daemon.
pub struct Volumes {
    dir: PathBuf,
    meta: Mutex<BTreeMap<String, VolumeMeta>>,
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

impl Volumes {
    /// Opens (creating) the volume directory under the data root.
    pub fn open(root: &Path) -> Result<Volumes, EngineError> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir)
            .map_err(EngineError::io(format!("create {}", dir.display())))?;
        let _ = content::atomic::remove_stray_temps(&dir);
        let meta = match std::fs::read(dir.join("metadata.json")) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| EngineError::Io {
                what: format!("parse {}", dir.join("metadata.json").display()),
                source: std::io::Error::other(e),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(EngineError::io("read volume metadata")(e)),
        };
        Ok(Volumes {
            dir,
            meta: Mutex::new(meta),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, VolumeMeta>> {
        self.meta.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, meta: &BTreeMap<String, VolumeMeta>) -> Result<(), EngineError> {
        let bytes = serde_json::to_vec_pretty(meta).expect("volume metadata serialises");
        content::atomic::write_file(&self.dir.join("metadata.json"), &bytes)
            .map_err(EngineError::io("write volume metadata"))
    }

    /// Where the volume's data lives.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// Creates a volume (a random name when `name` is `None`); an existing name is returned
    /// as is, as Docker does. Returns (name, created now).
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(String, bool), EngineError> {
        let anonymous = name.is_none();
        let name = match name {
            Some(n) => {
                if !valid_name(n) {
                    return Err(EngineError::Invalid(format!(
                        "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                    )));
                }
                n.to_string()
            }
            None => crate::names::random_hex(64),
        };
        let mut meta = self.lock();
        if meta.contains_key(&name) {
            return Ok((name, false));
        }
        let data = self.data_path(&name);
        std::fs::create_dir_all(&data)
            .map_err(EngineError::io(format!("create {}", data.display())))?;
        let mut next = meta.clone();
        next.insert(
            name.clone(),
            VolumeMeta {
                created: api::time::rfc3339_nano(std::time::SystemTime::now()),
                labels,
                options,
                anonymous,
                populated: false,
            },
        );
        self.save(&next)?;
        *meta = next;
        tracing::info!(volume = %name, "created volume");
        Ok((name, true))
    }

    /// A volume's metadata.
    pub fn get(&self, name: &str) -> Option<VolumeMeta> {
        self.lock().get(name).cloned()
    }

    /// Every volume, by name.
    pub fn list(&self) -> BTreeMap<String, VolumeMeta> {
        self.lock().clone()
    }

    /// Marks a volume as populated (the image's content was copied, or must not be).
    pub fn mark_populated(&self, name: &str) -> Result<(), EngineError> {
        let mut meta = self.lock();
        let mut next = meta.clone();
        if let Some(m) = next.get_mut(name) {
            m.populated = true;
        }
        self.save(&next)?;
        *meta = next;
        Ok(())
    }

    /// Deletes a volume and its data (the caller checked it is unused).
    pub fn remove(&self, name: &str) -> Result<u64, EngineError> {
        let mut meta = self.lock();
        if !meta.contains_key(name) {
            return Err(EngineError::NoSuchVolume(name.to_string()));
        }
        let size = dir_size(&self.data_path(name));
        let mut next = meta.clone();
        next.remove(name);
        // Metadata first: a crash leaves an orphan directory, never a volume without data.
        self.save(&next)?;
        *meta = next;
        let dir = self.dir.join(name);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(volume = %name, error = %e, "could not remove volume data");
        }
        tracing::info!(volume = %name, "removed volume");
        Ok(size)
    }

    /// Docker's volume JSON.
    pub fn to_json(&self, name: &str, m: &VolumeMeta) -> Value {
        json!({
            "CreatedAt": m.created,
            "Driver": "local",
            "Labels": m.labels,
            "Mountpoint": self.data_path(name).to_string_lossy(),
            "Name": name,
            "Options": m.options,
            "Scope": "local",
        })
    }
}

/// Bytes of regular files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if let Ok(md) = e.path().symlink_metadata() {
                if md.is_dir() {
                    stack.push(e.path());
                } else if md.is_file() {
                    total += md.len();
                }
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_create_get_remove() {
        let d = testkit::TempDir::new("vols");
        let v = Volumes::open(d.path()).unwrap();
        assert!(valid_name("data_1.x"));
        assert!(!valid_name("/abs") && !valid_name("a") && !valid_name("-x"));
        let (n, made) = v
            .create(Some("data"), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(made);
        assert!(
            !v.create(Some("data"), BTreeMap::new(), BTreeMap::new())
                .unwrap()
                .1
        );
        let (anon, _) = v.create(None, BTreeMap::new(), BTreeMap::new()).unwrap();
        assert_eq!(anon.len(), 64);
        assert!(v.get(&anon).unwrap().anonymous);
        std::fs::write(v.data_path(&n).join("f"), b"12345").unwrap();
        // Survives a reopen.
        let v = Volumes::open(d.path()).unwrap();
        assert_eq!(v.list().len(), 2);
        assert_eq!(v.remove(&n).unwrap(), 5);
        assert!(!v.data_path(&n).exists());
        assert!(matches!(v.remove(&n), Err(EngineError::NoSuchVolume(_))));
    }
}
