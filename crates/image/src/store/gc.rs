//! Content garbage collection: blobs and layer snapshots that no image references are
//! deleted — never those an operation in flight holds a [`Lease`] on (a pull's downloaded
//! layers before its image is recorded). Leases live in memory: after a crash nothing holds
//! one, so whatever a killed pull left behind is collectable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use api::Digest;
use snapshot::{Kind, SnapshotError};

use super::ImageStore;
use crate::ImageError;

/// The blobs and layer snapshots operations in flight are using.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    next: u64,
    held: BTreeMap<u64, (BTreeSet<Digest>, BTreeSet<Digest>)>,
}

/// Keeps blobs and layer snapshots from garbage collection until dropped.
pub struct Lease {
    store: Arc<ImageStore>,
    id: u64,
}

impl Lease {
    /// Adds blobs and layer chain ids to the lease.
    pub fn add(&self, blobs: &[Digest], chain: &[Digest]) {
        let mut l = self.store.lock_leases();
        let entry = l.held.entry(self.id).or_default();
        entry.0.extend(blobs.iter().cloned());
        entry.1.extend(chain.iter().cloned());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.store.lock_leases().held.remove(&self.id);
    }
}

/// What a collection freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Blobs deleted.
    pub blobs: Vec<Digest>,
    /// Layer snapshots removed (chain ids).
    pub layers: Vec<String>,
    /// Bytes freed: blob sizes plus the removed layers' disk usage.
    pub bytes: u64,
}

impl ImageStore {
    fn lock_leases(&self) -> std::sync::MutexGuard<'_, Leases> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new, empty lease.
    pub fn lease(self: &Arc<Self>) -> Lease {
        let mut l = self.lock_leases();
        l.next += 1;
        let id = l.next;
        l.held.insert(id, Default::default());
        Lease {
            store: self.clone(),
            id,
        }
    }

    /// Deletes every blob and committed layer snapshot that no image references and no lease
    /// holds. Layers that containers sit on have children and stay.
    pub fn collect_garbage(&self) -> Result<Pruned, ImageError> {
        let state = self.lock();
        let (mut keep_blobs, mut keep_chain) = (BTreeSet::new(), BTreeSet::new());
        for (id, r) in &state.images {
            keep_blobs.insert(id.clone());
            keep_blobs.insert(r.manifest.clone());
            keep_blobs.extend(r.layers.iter().cloned());
            keep_chain.extend(r.chain.iter().map(Digest::to_string));
        }
        for (blobs, chain) in self.lock_leases().held.values() {
            keep_blobs.extend(blobs.iter().cloned());
            keep_chain.extend(chain.iter().map(Digest::to_string));
        }
        let mut out = Pruned::default();
        for d in self.content.list()? {
            if keep_blobs.contains(&d) {
                continue;
            }
            let size = self.content.size(&d).unwrap_or(0);
            match self.content.delete(&d) {
                Ok(()) => {
                    out.bytes += size;
                    out.blobs.push(d);
                }
                Err(content::ContentError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Children first, so an unreferenced chain goes in one pass.
        let mut infos = self.snapshots.list()?;
        infos.sort_by_key(|i| std::cmp::Reverse(i.parent.is_some()));
        loop {
            let mut removed_any = false;
            for info in &infos {
                let layer = info.kind == Kind::Committed && info.name.parse::<Digest>().is_ok();
                if !layer || keep_chain.contains(&info.name) || out.layers.contains(&info.name) {
                    continue;
                }
                let size = self
                    .snapshots
                    .usage(&info.name)
                    .map(|u| u.size)
                    .unwrap_or(0);
                match self.snapshots.remove(&info.name) {
                    Ok(()) => {
                        out.bytes += size;
                        out.layers.push(info.name.clone());
                        removed_any = true;
                    }
                    Err(SnapshotError::HasChildren { .. }) | Err(SnapshotError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if !removed_any {
                break;
            }
        }
        drop(state);
        if !out.blobs.is_empty() || !out.layers.is_empty() {
            tracing::info!(
                blobs = out.blobs.len(),
                layers = out.layers.len(),
                bytes = out.bytes,
                "collected unreferenced content"
            );
        }
        Ok(out)
    }
}

/// Disk use of images, as `docker system df` reports it.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// Every layer's own size, each counted once.
    pub layers_size: u64,
    /// Per image: (image, bytes shared with other images).
    pub images: Vec<(crate::ImageInfo, u64)>,
}

impl ImageStore {
    /// Sizes of images and of the layers they share.
    pub fn disk_usage(&self) -> Result<DiskUsage, ImageError> {
        let chains: Vec<(crate::ImageInfo, Vec<Digest>)> = {
            let state = self.lock();
            state
                .images
                .iter()
                .map(|(id, r)| (state.info(id, r), r.chain.clone()))
                .collect()
        };
        let mut users: BTreeMap<Digest, usize> = BTreeMap::new();
        for (_, chain) in &chains {
            for c in chain {
                *users.entry(c.clone()).or_default() += 1;
            }
        }
        let mut sizes: BTreeMap<Digest, u64> = BTreeMap::new();
        for c in users.keys() {
            let size = self
                .snapshots
                .usage(&c.to_string())
                .map(|u| u.size)
                .unwrap_or(0);
            sizes.insert(c.clone(), size);
        }
        let layers_size = sizes.values().sum();
        let images = chains
            .into_iter()
            .map(|(info, chain)| {
                let shared = chain
                    .iter()
                    .filter(|c| users.get(*c).copied().unwrap_or(0) > 1)
                    .map(|c| sizes.get(c).copied().unwrap_or(0))
                    .sum();
                (info, shared)
            })
            .collect();
        Ok(DiskUsage {
            layers_size,
            images,
        })
    }

    /// Bytes a container wrote into its root snapshot.
    pub fn rootfs_usage(&self, container_key: &str) -> u64 {
        self.snapshots
            .usage(container_key)
            .map(|u| u.size)
            .unwrap_or(0)
    }
}
