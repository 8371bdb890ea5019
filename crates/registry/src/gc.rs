//! Mark-and-sweep garbage collection of the registry's content store, offline ([`gc()`],
//! `berth registry gc --root`) or online while serving ([`collect`] with a grace period, run
//! periodically by the server).
//!
//! Mark: for every repository and every manifest it links (tagged or not, so referrers stay
//! alive with their subjects), mark the manifest itself, its config and layers, and the child
//! manifests of an index. Sweep: delete every blob of the content store that is not marked, and
//! remove repository blob links that now point at nothing.
//!
//! Online safety: [`collect`] holds the store's GC lock exclusively while it marks and sweeps,
//! so no manifest push or blob link interleaves with it; and it never sweeps a blob modified
//! within the grace period, so a layer uploaded (or mounted, or found by HEAD and re-linked)
//! for a manifest not yet pushed survives. Upload sessions are not in the content store until
//! they complete, so GC never touches them. A kill at any point leaves at worst unreferenced
//! blobs (swept next time) or links to swept blobs (treated as absent, removed next time).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use api::Digest;

use crate::error::RegistryError;
use crate::manifest::references;
use crate::name::{Reference, RepoName};
use crate::store::RegistryStore;

/// What a GC run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs (including manifests) found reachable.
    pub blobs_marked: usize,
    /// Blobs deleted.
    pub blobs_deleted: usize,
    /// Bytes freed by those deletions.
    pub bytes_freed: u64,
    /// Repository blob links removed because their blob was deleted.
    pub links_removed: usize,
}

/// Runs GC on the registry rooted at `root`. Refuses ([`RegistryError::Locked`]) while a
/// registry serves that root.
pub fn gc(root: &Path) -> Result<GcReport, RegistryError> {
    let _lock = crate::store::RootLock::acquire(root)?;
    let store = RegistryStore::open(root)?;
    collect(&store, Duration::ZERO)
}

/// Runs GC on an open store, safe while it serves: blobs modified less than `grace` ago are
/// kept.
pub fn collect(store: &RegistryStore, grace: Duration) -> Result<GcReport, RegistryError> {
    let _exclusive = store.gc_guard();
    let cutoff = SystemTime::now().checked_sub(grace);
    let repos: Vec<RepoName> = store
        .repositories()?
        .into_iter()
        .filter_map(|r| r.parse().ok())
        .collect();
    // Worklist of manifests to visit: every linked manifest (with its recorded media type),
    // then every child of an index (media type from its own document).
    let mut marked: BTreeSet<Digest> = BTreeSet::new();
    let mut visited: BTreeSet<Digest> = BTreeSet::new();
    let mut work: Vec<(Digest, Option<String>)> = Vec::new();
    for repo in &repos {
        for manifest in store.manifest_digests(repo)? {
            let media_type = store
                .get_manifest(repo, &Reference::Digest(manifest.clone()))
                .ok()
                .map(|m| m.media_type);
            work.push((manifest, media_type));
        }
    }
    while let Some((manifest, media_type)) = work.pop() {
        marked.insert(manifest.clone());
        if !visited.insert(manifest.clone()) {
            continue;
        }
        let bytes = match store.content().read(&manifest) {
            Ok(b) => b,
            Err(content::ContentError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let (blobs, children) = references(&bytes, media_type.as_deref());
        marked.extend(blobs);
        work.extend(children.into_iter().map(|c| (c, None)));
    }
    let mut report = GcReport {
        blobs_marked: marked.len(),
        ..GcReport::default()
    };
    let content = store.content();
    let mut deleted = BTreeSet::new();
    for digest in content.list()? {
        if marked.contains(&digest) {
            continue;
        }
        if !grace.is_zero() {
            let modified = std::fs::metadata(content.blob_path(&digest)).and_then(|m| m.modified());
            match (modified, cutoff) {
                (Ok(m), Some(c)) if m < c => {}
                _ => continue,
            }
        }
        let size = content.size(&digest).unwrap_or(0);
        content.delete(&digest)?;
        tracing::info!(digest = %digest, size, "gc deleted blob");
        report.blobs_deleted += 1;
        report.bytes_freed += size;
        deleted.insert(digest);
    }
    for repo in &repos {
        for blob in store.blob_digests(repo)? {
            if deleted.contains(&blob) && store.unlink_blob_if_linked(repo, &blob)? {
                report.links_removed += 1;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
    use serde_json::json;

    fn push_blob(s: &RegistryStore, name: &RepoName, bytes: &[u8]) -> Digest {
        let d = Digest::sha256_of(bytes);
        s.put_blob(name, &d, bytes).unwrap();
        d
    }

    #[test]
    fn gc_keeps_reachable_and_deletes_the_rest() {
        let t = testkit::TempDir::new("registry-gc");
        let s = RegistryStore::open(t.path()).unwrap();
        let name: RepoName = "app".parse().unwrap();
        let config = push_blob(&s, &name, b"{}");
        let layer = push_blob(&s, &name, b"layer");
        let orphan = push_blob(&s, &name, b"orphan bytes");
        let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
            "layers": [{"mediaType": "x", "digest": layer, "size": 5}]})
        .to_string();
        let md = s
            .put_manifest(
                &name,
                &Reference::Digest(Digest::sha256_of(m.as_bytes())),
                m.as_bytes(),
                Some(OCI_MANIFEST),
            )
            .unwrap()
            .digest;
        let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": md, "size": m.len()}]})
        .to_string();
        s.put_manifest(
            &name,
            &Reference::Tag("v1".parse().unwrap()),
            idx.as_bytes(),
            Some(OCI_INDEX),
        )
        .unwrap();
        // An untagged referrer with a live subject survives.
        let art = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-sig",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
            "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": md, "size": m.len()}})
        .to_string();
        let ad = s
            .put_manifest(
                &name,
                &Reference::Digest(Digest::sha256_of(art.as_bytes())),
                art.as_bytes(),
                Some(OCI_MANIFEST),
            )
            .unwrap()
            .digest;

        let report = gc(t.path()).unwrap();
        assert_eq!(report.blobs_deleted, 1);
        assert_eq!(report.bytes_freed, b"orphan bytes".len() as u64);
        assert_eq!(report.links_removed, 1);
        assert_eq!(report.blobs_marked, 5);
        let c = s.content();
        for d in [&config, &layer, &md, &ad] {
            assert!(c.exists(d), "{d}");
        }
        assert!(!c.exists(&orphan));
        assert!(s.blob_size(&name, &orphan).is_err());
        // A second run has nothing to do.
        assert_eq!(gc(t.path()).unwrap().blobs_deleted, 0);
    }

    #[test]
    fn online_gc_spares_blobs_within_the_grace_period() {
        let t = testkit::TempDir::new("registry-gc");
        let s = RegistryStore::open(t.path()).unwrap();
        let name: RepoName = "app".parse().unwrap();
        let fresh = push_blob(&s, &name, b"just uploaded");
        let r = collect(&s, Duration::from_secs(3600)).unwrap();
        assert_eq!(r.blobs_deleted, 0);
        assert!(s.content().exists(&fresh));
        // Age the blob past the grace period.
        let old = SystemTime::now() - Duration::from_secs(7200);
        std::fs::File::open(s.content().blob_path(&fresh))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let r = collect(&s, Duration::from_secs(3600)).unwrap();
        assert_eq!(r.blobs_deleted, 1);
        assert!(!s.content().exists(&fresh));
        assert!(s.blob_size(&name, &fresh).is_err());
    }

    #[test]
    fn offline_gc_refuses_a_locked_root() {
        let t = testkit::TempDir::new("registry-gc");
        let lock = crate::store::RootLock::acquire(t.path()).unwrap();
        assert!(matches!(gc(t.path()), Err(RegistryError::Locked(_))));
        drop(lock);
        gc(t.path()).unwrap();
    }

    #[test]
    fn gc_of_an_empty_root() {
        let t = testkit::TempDir::new("registry-gc");
        assert_eq!(gc(t.path()).unwrap(), GcReport::default());
    }
}
