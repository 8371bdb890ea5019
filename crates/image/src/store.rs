//! [`ImageStore`]: the images on this host, their tags, and the snapshots containers run on.
//!
//! # State
//!
//! `images/index.json` holds every image (keyed by id = config digest: its manifest digest,
//! layer blob digests, layer chain ids, creation time, unpacked size) and every tag (canonical
//! reference -> id). It is replaced atomically after each change, under an internal lock that
//! also serialises the steps that publish or delete blobs and snapshots.
//!
//! # Import, step by step
//!
//! 1. `prepare("extract-<unique>", None)`: a private active snapshot.
//! 2. Outside the lock, the input is streamed once: a tee writes the raw bytes into a content
//!    [`content::Writer`] (the layer blob), compression is detected from the first bytes, the
//!    uncompressed stream is hashed (the layer's diff id) and unpacked into the snapshot.
//! 3. Under the lock: commit the blob, commit the snapshot as the chain id (reuse an existing
//!    one), store config and manifest, record image and tag, write the index.
//! 4. Any failure removes the extract snapshot, drops the unfinished blob, and deletes any blob
//!    or snapshot step 3 made that no recorded image references. So a corrupt or truncated
//!    tar leaves no blob, snapshot or tag.
//!
//! # Crash recovery
//!
//! [`ImageStore::open`] removes stray index temps, ingest temps (content store), unrecorded
//! snapshot directories (snapshotter), `extract-*` snapshots, and committed layer snapshots no
//! image references. Blobs written by an import that crashed before recording its image stay
//! (harmless; a later content GC will collect them).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use api::digest::{Algorithm, HashingReader};
use api::image::{
    ContainerConfig, Descriptor, History, ImageConfig, Manifest, Platform, RootFs,
    MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_MANIFEST,
};
use api::mount::Mount;
use api::{Digest, ImageRef};
use content::ContentStore;
use serde::{Deserialize, Serialize};
use snapshot::{CopySnapshotter, Kind, OverlaySnapshotter, SnapshotError, Snapshotter};

use crate::{decompress, unpack_layer, ImageError, ImportChanges, UnpackError};

const EXTRACT_PREFIX: &str = "extract-";

/// An image as `docker images` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image id: its config digest.
    pub id: Digest,
    /// Tags in familiar form (`busybox:latest`), sorted.
    pub repo_tags: Vec<String>,
    /// Creation time from the config (RFC 3339).
    pub created: String,
    /// Unpacked size of all layers, in bytes.
    pub size: u64,
    /// The manifest's digest.
    pub manifest: Digest,
    /// The chain id of the top layer (the snapshot containers start from); `None` for an
    /// image without layers.
    pub top_layer: Option<Digest>,
    /// Digest references in familiar form (`127.0.0.1:5000/bb@sha256:...`), sorted.
    pub repo_digests: Vec<String>,
    /// The image this one was made from (`docker commit`, a build step), if recorded.
    pub parent: Option<Digest>,
}

/// One step of an image removal, as Docker reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A tag was removed (familiar form).
    Untagged(String),
    /// The image itself was deleted.
    Deleted(Digest),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    images: BTreeMap<Digest, ImageRecord>,
    tags: BTreeMap<ImageRef, Digest>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageRecord {
    manifest: Digest,
    /// Layer blob digests, base first.
    layers: Vec<Digest>,
    /// Chain ids, base first: the snapshot names.
    chain: Vec<Digest>,
    created: String,
    size: u64,
    /// Canonical `domain/path@digest` references this image was pulled or pushed as.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    repo_digests: BTreeSet<String>,
    /// Canonical repository (`domain/path`) the image was last pulled from or pushed to: a
    /// push to another repository on the same registry tries a cross-repository mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    /// The image this one was made from (commit, build step): Docker's `Parent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<Digest>,
}

impl State {
    fn tags_of(&self, id: &Digest) -> Vec<ImageRef> {
        self.tags
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn info(&self, id: &Digest, r: &ImageRecord) -> ImageInfo {
        let mut repo_tags: Vec<String> = self.tags_of(id).iter().map(ImageRef::familiar).collect();
        repo_tags.sort();
        ImageInfo {
            id: id.clone(),
            repo_tags,
            created: r.created.clone(),
            size: r.size,
            manifest: r.manifest.clone(),
            top_layer: r.chain.last().cloned(),
            repo_digests: r
                .repo_digests
                .iter()
                .map(|d| {
                    d.parse::<ImageRef>()
                        .map(|r| r.familiar())
                        .unwrap_or_else(|_| d.clone())
                })
                .collect(),
            parent: r.parent.clone(),
        }
    }
}

/// The image store. See the module doc. Safe to share between threads.
pub struct ImageStore {
    content: ContentStore,
    snapshots: Box<dyn Snapshotter>,
    index_path: PathBuf,
    state: Mutex<State>,
    leases: Mutex<Leases>,
}

impl ImageStore {
    /// Opens the store under data root `root`, with the overlay snapshotter when the kernel has
    /// overlayfs (or when a copy-snapshotter root already exists, the copy snapshotter).
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        let copy_root = root.join("snapshots/copy");
        let snapshots: Box<dyn Snapshotter> =
            if copy_root.join("metadata.json").exists() || !OverlaySnapshotter::supported() {
                Box::new(CopySnapshotter::open(&copy_root)?)
            } else {
                Box::new(OverlaySnapshotter::open(&root.join("snapshots/overlay"))?)
            };
        ImageStore::with_snapshotter(root, snapshots)
    }

    /// The storage driver's name as Docker reports it (`overlay2`, `vfs`).
    pub fn driver_name(&self) -> &'static str {
        self.snapshots.driver_name()
    }

    /// Opens the store under `root` with a given snapshotter (its root is the caller's choice).
    pub fn with_snapshotter(
        root: &Path,
        snapshots: Box<dyn Snapshotter>,
    ) -> Result<ImageStore, ImageError> {
        let content = ContentStore::new(&root.join("content"))?;
        let images = root.join("images");
        fs::create_dir_all(&images).map_err(ImageError::io("create directory", &images))?;
        content::atomic::remove_stray_temps(&images)
            .map_err(ImageError::io("remove stray temps in", &images))?;
        remove_load_spools(&images)?;
        let index_path = images.join("index.json");
        let state: State = match fs::read(&index_path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| ImageError::Corrupt {
                what: "image index",
                path: index_path.clone(),
                source,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(ImageError::io("read", &index_path)(e)),
        };
        let store = ImageStore {
            content,
            snapshots,
            index_path,
            state: Mutex::new(state),
            leases: Mutex::new(Leases::default()),
        };
        store.recover()?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The in-memory state is only replaced after the index was written: still valid.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn recover(&self) -> Result<(), ImageError> {
        let state = self.lock();
        let used: BTreeSet<String> = state
            .images
            .values()
            .flat_map(|r| r.chain.iter().map(Digest::to_string))
            .collect();
        let mut infos = self.snapshots.list()?;
        // Children before parents, so a chain of unreferenced layers goes in one pass.
        infos.sort_by_key(|i| std::cmp::Reverse(i.parent.is_some()));
        for info in infos {
            let stale_extract = info.kind == Kind::Active && info.name.starts_with(EXTRACT_PREFIX);
            let orphan_layer = info.kind == Kind::Committed
                && info.name.parse::<Digest>().is_ok()
                && !used.contains(&info.name);
            if stale_extract || orphan_layer {
                match self.snapshots.remove(&info.name) {
                    Ok(()) => tracing::info!(snapshot = %info.name, "removed leftover snapshot"),
                    Err(SnapshotError::HasChildren { .. }) | Err(SnapshotError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    fn save(&self, state: &State) -> Result<(), ImageError> {
        let bytes = serde_json::to_vec_pretty(state).expect("image index serialises");
        content::atomic::write_file(&self.index_path, &bytes)
            .map_err(ImageError::io("write", &self.index_path))
    }

    /// Imports a single-layer image from a (possibly gzip-compressed) root filesystem tar, as
    /// `docker import` does, optionally tagging it. See the module doc for the steps.
    pub fn import(
        &self,
        tar: impl Read,
        reference: Option<&ImageRef>,
        changes: &ImportChanges,
        message: Option<&str>,
    ) -> Result<ImageInfo, ImageError> {
        if let Some(r) = reference {
            if r.digest().is_some() {
                return Err(ImageError::TagWithDigest(r.familiar()));
            }
        }
        let key = format!("{EXTRACT_PREFIX}{}", content::atomic::unique_suffix());
        self.snapshots.prepare(&key, None)?;
        let result = self.import_into(&key, tar, reference, changes, message);
        if result.is_err() {
            match self.snapshots.remove(&key) {
                Ok(()) | Err(SnapshotError::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(snapshot = %key, error = %e, "could not remove extract snapshot")
                }
            }
        }
        result
    }

    fn import_into(
        &self,
        key: &str,
        tar: impl Read,
        reference: Option<&ImageRef>,
        changes: &ImportChanges,
        message: Option<&str>,
    ) -> Result<ImageInfo, ImageError> {
        let target = self.snapshots.apply_target(key)?;
        let mut writer = self.content.writer()?;
        let (compression, diff_id) = {
            let mut tee = Tee {
                inner: tar,
                out: &mut writer,
            };
            let (compression, dec) = decompress(&mut tee)?;
            let mut hashing = HashingReader::new(dec, Algorithm::Sha256);
            unpack_layer(&mut hashing, &target.dir, target.whiteouts)?;
            // The tar's trailing blocks belong to the diff id, and anything after the
            // compressed stream to the blob.
            io::copy(&mut hashing, &mut io::sink()).map_err(UnpackError::Read)?;
            let (diff_id, _, dec) = hashing.finish();
            drop(dec);
            io::copy(&mut tee, &mut io::sink()).map_err(UnpackError::Read)?;
            (compression, diff_id)
        };
        let size = self.snapshots.usage(key)?.size;

        let now = api::time::rfc3339_nano(std::time::SystemTime::now());
        let mut container_config = ContainerConfig::default();
        changes.apply_to(&mut container_config);
        let platform = Platform::host();
        let config = ImageConfig {
            created: Some(now.clone()),
            author: None,
            architecture: platform.architecture,
            os: platform.os,
            os_version: None,
            variant: None,
            config: Some(container_config),
            rootfs: RootFs {
                kind: "layers".to_string(),
                diff_ids: vec![diff_id.clone()],
            },
            history: vec![History {
                created: Some(now.clone()),
                comment: Some(message.unwrap_or("Imported from -").to_string()),
                ..History::default()
            }],
        };
        let config_bytes = serde_json::to_vec(&config).expect("config serialises");
        let chain_id = api::image::chain_id(std::slice::from_ref(&diff_id)).expect("one layer");

        let mut state = self.lock();
        let mut made_blobs = Vec::new();
        let published = (|| {
            let (layer_digest, layer_size) = writer.commit(None)?;
            made_blobs.push(layer_digest.clone());
            match self.snapshots.commit(&chain_id.to_string(), key) {
                Ok(()) => {}
                Err(SnapshotError::AlreadyExists(_)) => self.snapshots.remove(key)?,
                Err(e) => return Err(e.into()),
            }
            let config_digest = self.content.put(&config_bytes)?;
            made_blobs.push(config_digest.clone());
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_string()),
                artifact_type: None,
                config: Descriptor::new(
                    MEDIA_TYPE_OCI_CONFIG,
                    config_digest.clone(),
                    config_bytes.len() as u64,
                ),
                layers: vec![Descriptor::new(
                    compression.oci_media_type(),
                    layer_digest.clone(),
                    layer_size,
                )],
                subject: None,
                annotations: BTreeMap::new(),
            };
            let manifest_digest = self
                .content
                .put(&serde_json::to_vec(&manifest).expect("manifest serialises"))?;
            made_blobs.push(manifest_digest.clone());
            let mut next = state.clone();
            next.images.insert(
                config_digest.clone(),
                ImageRecord {
                    manifest: manifest_digest,
                    layers: vec![layer_digest],
                    chain: vec![chain_id.clone()],
                    created: now,
                    size,
                    repo_digests: BTreeSet::new(),
                    source: None,
                    parent: None,
                },
            );
            if let Some(r) = reference {
                next.tags.insert(r.clone(), config_digest.clone());
            }
            self.save(&next)?;
            Ok::<_, ImageError>((next, config_digest))
        })();
        match published {
            Ok((next, id)) => {
                *state = next;
                let info = state.info(&id, &state.images[&id]);
                tracing::info!(image = %id, reference = ?reference.map(ImageRef::familiar), "imported image");
                Ok(info)
            }
            Err(e) => {
                self.collect(&state, &made_blobs, std::slice::from_ref(&chain_id));
                Err(e)
            }
        }
    }

    /// Every image, newest first.
    pub fn list(&self) -> Vec<ImageInfo> {
        let state = self.lock();
        let mut out: Vec<ImageInfo> = state
            .images
            .iter()
            .map(|(id, r)| state.info(id, r))
            .collect();
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        out
    }

    /// Finds an image by reference (normalised: `busybox` is `docker.io/library/busybox:latest`),
    /// `name@digest` (manifest digest), full id (`sha256:...`), 64-hex id, or unique hex prefix
    /// (with or without `sha256:`).
    pub fn resolve(&self, name_or_id: &str) -> Result<ImageInfo, ImageError> {
        let state = self.lock();
        let (id, _) = resolve_in(&state, name_or_id)?;
        Ok(state.info(&id, &state.images[&id]))
    }

    /// The image's config.
    pub fn config(&self, id: &Digest) -> Result<ImageConfig, ImageError> {
        if !self.lock().images.contains_key(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        let bytes = self.content.read(id)?;
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Corrupt {
            what: "image config",
            path: self.content.blob_path(id),
            source,
        })
    }

    /// Points tag `r` at image `id` (moving it from another image if needed).
    pub fn tag(&self, id: &Digest, r: &ImageRef) -> Result<(), ImageError> {
        if r.digest().is_some() {
            return Err(ImageError::TagWithDigest(r.familiar()));
        }
        let mut state = self.lock();
        if !state.images.contains_key(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        let mut next = state.clone();
        next.tags.insert(r.clone(), id.clone());
        self.save(&next)?;
        *state = next;
        Ok(())
    }

    /// Removes an image or one of its tags, with `docker rmi` semantics:
    ///
    /// - by reference, when the image has other tags: only that tag goes;
    /// - by reference, last tag: the tag goes and the image is deleted, unless `in_use` names
    ///   a container using it: then a conflict without `force`, and with `force` the tag goes but
    ///   the image stays (a container's snapshot still sits on its layers);
    /// - by id: refused without `force` when in use or tagged in several repositories;
    ///   otherwise (or with `force`) every tag goes and the image is deleted unless in use.
    ///
    /// Deleting an image deletes its blobs and layer snapshots that no other image uses.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        in_use: &dyn Fn(&Digest) -> Option<String>,
    ) -> Result<Vec<Removed>, ImageError> {
        // dockerd refuses what is neither a reference nor an id (`invalid reference format`).
        if let Err(e @ api::reference::InvalidReference::Format(_)) = name_or_id.parse::<ImageRef>()
        {
            if name_or_id.parse::<Digest>().is_err() {
                return Err(ImageError::InvalidReference(e));
            }
        }
        let mut state = self.lock();
        // `repo@digest`: that digest reference goes; the image too if nothing else names it.
        if let Ok(r) = name_or_id.parse::<ImageRef>() {
            if let Some(d) = r.digest() {
                let canonical = format!("{}@{d}", r.repository());
                let hit = state
                    .images
                    .iter()
                    .find(|(_, rec)| rec.repo_digests.contains(&canonical))
                    .map(|(id, _)| id.clone());
                if let Some(id) = hit {
                    let user = in_use(&id);
                    let mut next = state.clone();
                    let rec = next.images.get_mut(&id).expect("found above");
                    rec.repo_digests.remove(&canonical);
                    let orphan = rec.repo_digests.is_empty() && next.tags_of(&id).is_empty();
                    if orphan && user.is_some() && !force {
                        return Err(ImageError::Conflict(format!(
                            "conflict: unable to remove repository reference \"{name_or_id}\" (must force) - container {} is using its referenced image {}",
                            user.unwrap_or_default().chars().take(12).collect::<String>(),
                            id.short()
                        )));
                    }
                    let removed = (orphan && user.is_none())
                        .then(|| next.images.remove(&id))
                        .flatten();
                    self.save(&next)?;
                    *state = next;
                    let mut out = vec![Removed::Untagged(r.familiar())];
                    if let Some(rec) = removed {
                        let mut blobs = rec.layers.clone();
                        blobs.push(id.clone());
                        blobs.push(rec.manifest.clone());
                        self.collect(&state, &blobs, &rec.chain);
                        out.push(Removed::Deleted(id));
                    }
                    return Ok(out);
                }
            }
        }
        let (id, by_ref) = resolve_in(&state, name_or_id)?;
        let tags = state.tags_of(&id);
        let user = in_use(&id);
        let short_ctr = |c: &str| c.chars().take(12).collect::<String>();
        let mut next = state.clone();
        let mut out = Vec::new();
        match by_ref {
            Some(r) if tags.len() > 1 => {
                next.tags.remove(&r);
                out.push(Removed::Untagged(r.familiar()));
            }
            Some(r) => {
                if let (Some(c), false) = (&user, force) {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to remove repository reference \"{name_or_id}\" (must force) - container {} is using its referenced image {}",
                        short_ctr(c),
                        id.short()
                    )));
                }
                next.tags.remove(&r);
                out.push(Removed::Untagged(r.familiar()));
            }
            None => {
                if !force {
                    if let Some(c) = &user {
                        return Err(ImageError::Conflict(format!(
                            "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                            id.short(),
                            short_ctr(c)
                        )));
                    }
                    if tags.len() > 1 {
                        return Err(ImageError::Conflict(format!(
                            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                            id.short()
                        )));
                    }
                }
                for t in &tags {
                    next.tags.remove(t);
                    out.push(Removed::Untagged(t.familiar()));
                }
            }
        }
        // Docker untags a repository's digest references with its last tag.
        let remaining: BTreeSet<String> =
            next.tags_of(&id).iter().map(ImageRef::repository).collect();
        if let Some(rec) = next.images.get_mut(&id) {
            let gone: Vec<String> = rec
                .repo_digests
                .iter()
                .filter(|d| {
                    d.split_once('@')
                        .is_some_and(|(repo, _)| !remaining.contains(repo))
                })
                .cloned()
                .collect();
            for d in gone {
                rec.repo_digests.remove(&d);
                let shown = d.parse::<ImageRef>().map(|r| r.familiar()).unwrap_or(d);
                out.push(Removed::Untagged(shown));
            }
        }
        let delete = next.tags_of(&id).is_empty() && user.is_none();
        let removed = if delete {
            next.images.remove(&id)
        } else {
            None
        };
        self.save(&next)?;
        *state = next;
        if let Some(rec) = removed {
            let mut blobs = rec.layers.clone();
            blobs.push(id.clone());
            blobs.push(rec.manifest.clone());
            self.collect(&state, &blobs, &rec.chain);
            out.push(Removed::Deleted(id.clone()));
            tracing::info!(image = %id, "deleted image");
        }
        Ok(out)
    }

    /// Deletes those of `blobs` and layer snapshots `chain` (base first) that no image in
    /// `state` references. Best effort: failures are logged, they only leak space.
    fn collect(&self, state: &State, blobs: &[Digest], chain: &[Digest]) {
        let mut used_blobs = BTreeSet::new();
        let mut used_chain = BTreeSet::new();
        for (id, r) in &state.images {
            used_blobs.insert(id.clone());
            used_blobs.insert(r.manifest.clone());
            used_blobs.extend(r.layers.iter().cloned());
            used_chain.extend(r.chain.iter().cloned());
        }
        for b in blobs.iter().filter(|b| !used_blobs.contains(*b)) {
            match self.content.delete(b) {
                Ok(()) | Err(content::ContentError::NotFound(_)) => {}
                Err(e) => tracing::warn!(blob = %b, error = %e, "could not delete blob"),
            }
        }
        for c in chain.iter().rev().filter(|c| !used_chain.contains(*c)) {
            match self.snapshots.remove(&c.to_string()) {
                Ok(()) | Err(SnapshotError::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(snapshot = %c, error = %e, "could not remove layer snapshot")
                }
            }
        }
    }

    /// Creates the active snapshot `container_key` on top of the image's layers and returns
    /// the mounts for the container's root.
    pub fn prepare_rootfs(
        &self,
        image: &Digest,
        container_key: &str,
    ) -> Result<Vec<Mount>, ImageError> {
        // Held across prepare so a concurrent removal cannot delete the parent in between.
        let state = self.lock();
        let rec = state
            .images
            .get(image)
            .ok_or_else(|| ImageError::NotFound(image.to_string()))?;
        let parent = rec.chain.last().map(Digest::to_string);
        Ok(self.snapshots.prepare(container_key, parent.as_deref())?)
    }

    /// An active snapshot `key` on nothing (an empty directory tree), for building a layer
    /// that does not depend on any image (`COPY --link`). Remove it with
    /// [`Self::remove_rootfs`].
    pub fn prepare_empty_rootfs(&self, key: &str) -> Result<Vec<Mount>, ImageError> {
        Ok(self.snapshots.prepare(key, None)?)
    }

    /// The mounts of a container's root prepared earlier.
    pub fn rootfs_mounts(&self, container_key: &str) -> Result<Vec<Mount>, ImageError> {
        Ok(self.snapshots.mounts(container_key)?)
    }

    /// Removes a container's root snapshot. Removing one that does not exist succeeds, so
    /// cleanup can be retried.
    pub fn remove_rootfs(&self, container_key: &str) -> Result<(), ImageError> {
        match self.snapshots.remove(container_key) {
            Ok(()) | Err(SnapshotError::NotFound(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Resolves to (id, the tag it matched, if it matched one).
fn resolve_in(state: &State, s: &str) -> Result<(Digest, Option<ImageRef>), ImageError> {
    // dockerd names a missing reference in its familiar form with the tag (`x:latest`).
    let not_found = || {
        ImageError::NotFound(match s.parse::<ImageRef>() {
            Ok(r) if r.digest().is_none() && r.tag().is_none() => r
                .with_tag("latest")
                .map_or_else(|_| s.to_string(), |r| r.familiar()),
            Ok(r) if r.digest().is_none() => r.familiar(),
            _ => s.to_string(),
        })
    };
    if let Ok(d) = s.parse::<Digest>() {
        return if state.images.contains_key(&d) {
            Ok((d, None))
        } else {
            Err(not_found())
        };
    }
    if let Ok(r) = s.parse::<ImageRef>() {
        if let Some(d) = r.digest() {
            let canonical = format!("{}@{d}", r.repository());
            let hit = state
                .images
                .iter()
                .find(|(_, rec)| &rec.manifest == d || rec.repo_digests.contains(&canonical))
                .map(|(id, _)| id.clone());
            return hit.map(|id| (id, None)).ok_or_else(not_found);
        }
        if let Some(id) = state.tags.get(&r) {
            return Ok((id.clone(), Some(r)));
        }
    }
    let prefix = s.strip_prefix("sha256:").unwrap_or(s);
    if !prefix.is_empty()
        && prefix.len() <= 64
        && prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        let mut hits = state
            .images
            .keys()
            .filter(|id| id.algorithm() == Algorithm::Sha256 && id.hex().starts_with(prefix));
        if let Some(first) = hits.next() {
            if hits.next().is_some() {
                return Err(ImageError::Ambiguous(s.to_string()));
            }
            return Ok((first.clone(), None));
        }
    }
    Err(not_found())
}

/// Removes the spool directories of `load` calls a crash interrupted.
fn remove_load_spools(images: &Path) -> Result<(), ImageError> {
    let entries = fs::read_dir(images).map_err(ImageError::io("read directory", images))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(archive::LOAD_PREFIX) {
            let p = e.path();
            fs::remove_dir_all(&p).map_err(ImageError::io("remove", &p))?;
        } else if name.starts_with("export-")
            || name.starts_with("copy-")
            || name.starts_with("build-")
        {
            // A private mount of a container root that a crash left behind.
            let p = e.path();
            let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
            let _ = fs::remove_dir(&p);
        }
    }
    Ok(())
}

/// Copies everything read from `inner` into `out`.
struct Tee<'a, R, W> {
    inner: R,
    out: &'a mut W,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out
            .write_all(&buf[..n])
            .map_err(|e| io::Error::new(e.kind(), format!("storing layer blob: {e}")))?;
        Ok(n)
    }
}

mod archive;
mod commit;
mod gc;
mod registry;
pub use archive::{HistoryEntry, LoadedImage};
pub use commit::{Change, ChangeKind, CommitOptions, RootfsMount};
use gc::Leases;
pub use gc::{DiskUsage, Lease, Pruned};
pub use registry::{PulledImage, PushSource};

#[cfg(test)]
mod tests;
