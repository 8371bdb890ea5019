//! Volumes with the `local` driver: `<root>/volumes/<name>/_data`, and their metadata in
//! `<root>/volumes/metadata.json` (written atomically). Which container uses which volume is
//! derived from the container records, so it cannot go stale.
//!
//! A volume created with driver options (`type`, `device`, `o`, as moby's
//! `volume/local/local_unix.go`) is mounted on its `_data` directory while containers run with
//! it: `acquire` mounts it for the first running holder, `release` unmounts it after the last
//! (dockerd's `Mount`/`Unmount` reference count). The holders live in memory; a daemon that
//! starts rebuilds them from the running containers and unmounts what no one holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    /// Driver options (`type`, `device`, `o`; checked by [`validate_options`]).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for `-v /path` or an image `VOLUME` (no name given).
    #[serde(default)]
    pub anonymous: bool,
    /// The image's content was copied in (or copying was declined): never again.
    #[serde(default)]
    pub populated: bool,
}

impl VolumeMeta {
    /// Whether the volume is mounted while used (moby's `needsMount`: a type or a device).
    pub fn needs_mount(&self) -> bool {
        self.options.get("type").is_some_and(|t| !t.is_empty())
            || self.options.get("device").is_some_and(|d| !d.is_empty())
    }
}

/// The volumes of this daemon.
pub struct Volumes {
    dir: PathBuf,
    meta: Mutex<BTreeMap<String, VolumeMeta>>,
    /// Volumes with mount options that are mounted or held: holders (container ids).
    active: Mutex<HashMap<String, Active>>,
}

#[derive(Debug, Default)]
struct Active {
    holders: BTreeSet<String>,
    mounted: bool,
}

/// The keys the local driver takes (moby's `validOpts`).
const VALID_OPTIONS: [&str; 4] = ["type", "o", "device", "size"];

/// Checks a local volume's driver options with dockerd's rules and messages: only `type`,
/// `o`, `device` and `size`; `size` needs quota support (which berth does not have); `type`
/// and `device` need each other and `o` needs both.
pub fn validate_options(opts: &BTreeMap<String, String>) -> Result<(), EngineError> {
    for k in opts.keys() {
        if !VALID_OPTIONS.contains(&k.as_str()) {
            return Err(EngineError::Invalid(format!("invalid option: {k:?}")));
        }
    }
    if let Some(size) = opts.get("size") {
        let bytes = api::units::ram_in_bytes(size)
            .map_err(|_| EngineError::Invalid(format!("invalid size: '{size}'")))?;
        if bytes > 0 {
            return Err(EngineError::Invalid(
                "quota size requested but no quota support".into(),
            ));
        }
    }
    for (key, needs) in [
        ("device", &["type"][..]),
        ("type", &["device"][..]),
        ("o", &["device", "type"][..]),
    ] {
        if opts.contains_key(key) {
            if let Some(missing) = needs.iter().find(|n| !opts.contains_key(**n)) {
                return Err(EngineError::Invalid(format!(
                    "missing required option: {missing:?}"
                )));
            }
        }
    }
    Ok(())
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
            active: Mutex::new(HashMap::new()),
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

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Active>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a hold on a volume for `holder` (a container being started): a volume with
    /// mount options is mounted on its `_data` for the first holder. A failed mount leaves
    /// nothing mounted and returns dockerd's `error while mounting volume '<path>': failed to
    /// mount local volume: mount ...` error.
    pub fn acquire(&self, name: &str, holder: &str) -> Result<(), EngineError> {
        let Some(meta) = self.get(name) else {
            return Err(EngineError::NoSuchVolume(name.to_string()));
        };
        if !meta.needs_mount() {
            return Ok(());
        }
        let data = self.data_path(name);
        let mut active = self.active();
        let a = active.entry(name.to_string()).or_default();
        if !a.mounted {
            let opt = |k: &str| meta.options.get(k).map(String::as_str).unwrap_or("");
            if opt("device").is_empty() {
                return Err(mount_failure(&data, "missing device in volume options"));
            }
            if let Err(e) =
                crate::volume_mount::mount_volume(opt("device"), &data, opt("type"), opt("o"))
            {
                if a.holders.is_empty() {
                    active.remove(name);
                }
                return Err(mount_failure(
                    &data,
                    &format!("failed to mount local volume: {e}"),
                ));
            }
            a.mounted = true;
            tracing::info!(volume = %name, "mounted volume");
        }
        a.holders.insert(holder.to_string());
        Ok(())
    }

    /// Drops `holder`'s hold; the last one unmounts the volume.
    pub fn release(&self, name: &str, holder: &str) {
        let mut active = self.active();
        let Some(a) = active.get_mut(name) else {
            return;
        };
        a.holders.remove(holder);
        if !a.holders.is_empty() {
            return;
        }
        if a.mounted {
            let data = self.data_path(name);
            match crate::volume_mount::unmount(&data) {
                Ok(()) => tracing::info!(volume = %name, "unmounted volume"),
                Err(e) => {
                    // Still mounted: a later start reuses it, `rm` and the next daemon retry.
                    tracing::warn!(volume = %name, error = %e, "could not unmount volume");
                    return;
                }
            }
        }
        active.remove(name);
    }

    /// At daemon start, before the containers are re-adopted: `holder` was running with the
    /// volume, so its mount (if any) stays until that container exits.
    pub fn restore_holder(&self, name: &str, holder: &str) {
        if !self.get(name).is_some_and(|m| m.needs_mount()) {
            return;
        }
        let data = self.data_path(name);
        let mut active = self.active();
        let a = active.entry(name.to_string()).or_insert_with(|| Active {
            holders: BTreeSet::new(),
            mounted: crate::volume_mount::is_mounted(&data),
        });
        a.holders.insert(holder.to_string());
    }

    /// At daemon start, after the containers were re-adopted: unmounts volumes that are
    /// mounted but held by no running container (left by a daemon killed meanwhile).
    pub fn unmount_stale(&self) {
        let list = self.list();
        let active = self.active();
        for (name, m) in list {
            if !m.needs_mount() || active.get(&name).is_some_and(|a| !a.holders.is_empty()) {
                continue;
            }
            let data = self.data_path(&name);
            if crate::volume_mount::is_mounted(&data) {
                match crate::volume_mount::unmount(&data) {
                    Ok(()) => tracing::info!(volume = %name, "unmounted stale volume mount"),
                    Err(e) => {
                        tracing::warn!(volume = %name, error = %e, "could not unmount a stale volume mount")
                    }
                }
            }
        }
    }

    /// Deletes a volume and its data (the caller checked it is unused). A volume still
    /// mounted (its device, e.g. a bound host directory) is unmounted first, or the removal
    /// is refused: the device's content is never deleted.
    pub fn remove(&self, name: &str) -> Result<u64, EngineError> {
        let mut meta = self.lock();
        if !meta.contains_key(name) {
            return Err(EngineError::NoSuchVolume(name.to_string()));
        }
        let data = self.data_path(name);
        {
            let mut active = self.active();
            if let Some(a) = active.get(name) {
                if !a.holders.is_empty() {
                    return Err(EngineError::Conflict(format!(
                        "remove {name}: volume is in use - [{}]",
                        a.holders.iter().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            }
            if crate::volume_mount::is_mounted(&data) {
                crate::volume_mount::unmount(&data).map_err(|e| {
                    EngineError::Conflict(format!("remove {name}: volume is still mounted: {e}"))
                })?;
                if crate::volume_mount::is_mounted(&data) {
                    return Err(EngineError::Conflict(format!(
                        "remove {name}: volume is still mounted at {}",
                        data.display()
                    )));
                }
            }
            active.remove(name);
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

/// dockerd's start error for a volume that could not be mounted.
fn mount_failure(data: &Path, why: &str) -> EngineError {
    EngineError::Io {
        what: format!("error while mounting volume '{}'", data.display()),
        source: std::io::Error::other(why.to_string()),
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

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_are_checked_as_dockerd_does() {
        let msg = |kv: &[(&str, &str)]| validate_options(&opts(kv)).err().map(|e| e.to_string());
        assert_eq!(msg(&[]), None);
        assert_eq!(
            msg(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]),
            None
        );
        assert_eq!(msg(&[("x", "1")]).unwrap(), "invalid option: \"x\"");
        assert_eq!(
            msg(&[("type", "tmpfs")]).unwrap(),
            "missing required option: \"device\""
        );
        assert_eq!(
            msg(&[("device", "/d"), ("o", "bind")]).unwrap(),
            "missing required option: \"type\""
        );
        assert_eq!(
            msg(&[("size", "1g"), ("type", "tmpfs"), ("device", "tmpfs")]).unwrap(),
            "quota size requested but no quota support"
        );
        assert_eq!(msg(&[("size", "0")]), None);
        assert_eq!(msg(&[("size", "1q")]).unwrap(), "invalid size: '1q'");
        let meta = |kv: &[(&str, &str)]| VolumeMeta {
            options: opts(kv),
            ..Default::default()
        };
        assert!(meta(&[("type", "tmpfs"), ("device", "tmpfs")]).needs_mount());
        assert!(!meta(&[("type", ""), ("device", "")]).needs_mount());
        assert!(!meta(&[]).needs_mount());
    }

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
