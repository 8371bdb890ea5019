//! The build cache on disk: step key -> the image that step made. One JSON file
//! (`<root>/builder/cache.json`), replaced atomically after each change, so it survives a
//! daemon restart and a crash leaves either the old or the new map. `berth build` and
//! `docker build` go through the same daemon, so they share it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use api::Digest;

/// The persisted step cache. Safe to share between threads.
pub struct BuildCache {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, Digest>>,
}

impl BuildCache {
    /// Opens (or starts) the cache file `dir/cache.json`. An unreadable file starts empty (a
    /// cache may always be dropped) and is logged.
    pub fn open(dir: &Path) -> io::Result<BuildCache> {
        fs::create_dir_all(dir)?;
        content::atomic::remove_stray_temps(dir)?;
        let path = dir.join("cache.json");
        let entries = match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable build cache");
                BTreeMap::new()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(BuildCache {
            path,
            entries: Mutex::new(entries),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Digest>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, map: &BTreeMap<String, Digest>) -> io::Result<()> {
        let bytes = serde_json::to_vec(map).expect("cache serialises");
        content::atomic::write_file(&self.path, &bytes)
    }

    /// The image a step with this key made.
    pub fn get(&self, key: &Digest) -> Option<Digest> {
        self.lock().get(&key.to_string()).cloned()
    }

    /// Records a step's image.
    pub fn put(&self, key: &Digest, image: &Digest) -> io::Result<()> {
        let mut map = self.lock();
        if map.get(&key.to_string()) == Some(image) {
            return Ok(());
        }
        let mut next = map.clone();
        next.insert(key.to_string(), image.clone());
        self.save(&next)?;
        *map = next;
        Ok(())
    }

    /// Forgets a key (its image is gone).
    pub fn forget(&self, key: &Digest) -> io::Result<()> {
        let mut map = self.lock();
        if !map.contains_key(&key.to_string()) {
            return Ok(());
        }
        let mut next = map.clone();
        next.remove(&key.to_string());
        self.save(&next)?;
        *map = next;
        Ok(())
    }

    /// Every image the cache refers to.
    pub fn images(&self) -> Vec<Digest> {
        let mut v: Vec<Digest> = self.lock().values().cloned().collect();
        v.sort();
        v.dedup();
        v
    }

    /// Drops every entry; returns the removed (key, image) pairs.
    pub fn clear(&self) -> io::Result<Vec<(String, Digest)>> {
        let mut map = self.lock();
        let next = BTreeMap::new();
        self.save(&next)?;
        let old = std::mem::replace(&mut *map, next);
        Ok(old.into_iter().collect())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening_and_clear_empties() {
        let dir = std::env::temp_dir().join(format!(
            "berth-cache-test-{}",
            content::atomic::unique_suffix()
        ));
        let key = Digest::sha256_of(b"k");
        let img = Digest::sha256_of(b"i");
        {
            let c = BuildCache::open(&dir).unwrap();
            assert!(c.get(&key).is_none());
            c.put(&key, &img).unwrap();
        }
        let c = BuildCache::open(&dir).unwrap();
        assert_eq!(c.get(&key), Some(img.clone()));
        assert_eq!(c.images(), vec![img.clone()]);
        let removed = c.clear().unwrap();
        assert_eq!(removed.len(), 1);
        assert!(BuildCache::open(&dir).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
