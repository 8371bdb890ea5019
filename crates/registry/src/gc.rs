//! Offline mark-and-sweep garbage collection of the registry's content store.
//!
//! Mark: for every repository and every manifest it links (tagged or not, so referrers stay
//! alive with their subjects), mark the manifest itself, its config and layers, and the child
//! manifests of an index. Sweep: delete every blob of the content store that is not marked, and
//! remove repository blob links that now point at nothing.
//!
//! Assumes the registry is stopped (offline GC): a push running concurrently could upload a
//! layer, have it swept, and then push a manifest referencing it. Upload sessions are not in the
//! content store until they complete, so GC never touches them.

use std::collections::BTreeSet;
use std::path::Path;

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

/// Runs GC on the registry rooted at `root`. The registry must not be serving.
pub fn gc(root: &Path) -> Result<GcReport, RegistryError> {
    let store = RegistryStore::open(root)?;
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
    fn gc_of_an_empty_root() {
        let t = testkit::TempDir::new("registry-gc");
        assert_eq!(gc(t.path()).unwrap(), GcReport::default());
    }
}
