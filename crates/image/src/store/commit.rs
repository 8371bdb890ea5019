//! A container's filesystem changes: `docker diff` (the list), `docker commit` (the changes as
//! a new layer on the container's image) and `docker export` (the whole tree as a tar).
//!
//! Changes come from the container's active snapshot: with overlayfs, its upper directory
//! (whiteout devices are deletions; an entry found in a lower directory is a modification,
//! otherwise an addition); with the copy snapshotter, a comparison of its full tree against the
//! parent's. Mount points the runtime creates (`/etc/hosts`, `/dev`, ...) are passed in as
//! `exclude` and left out, as Docker's init layer hides them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use api::image::{
    ContainerConfig, Descriptor, History, ImageConfig, Manifest, MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_MANIFEST,
};
use api::{Digest, ImageRef};
use snapshot::WhiteoutStyle;

use super::{ImageInfo, ImageStore};
use crate::ImageError;

/// What happened to a path, with Docker's numbering (`Kind` in `/containers/{id}/changes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// `C`
    Modified = 0,
    /// `A`
    Added = 1,
    /// `D`
    Deleted = 2,
}

impl ChangeKind {
    /// `C`, `A` or `D`.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path (absolute, as seen in the container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `/tmp/x`.
    pub path: String,
    /// What happened.
    pub kind: ChangeKind,
}

/// How to make an image from a container.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The new image's container config (the image's, updated by the container's and `-c`).
    pub config: ContainerConfig,
    /// `--author`.
    pub author: Option<String>,
    /// `--message`.
    pub comment: Option<String>,
    /// The history line (the container's command).
    pub created_by: String,
    /// The tag to give the new image.
    pub tag: Option<ImageRef>,
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ImageError + 'a {
    move |e| ImageError::Archive(format!("{what} {}: {e}", path.display()))
}

fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn excluded(rel: &str, exclude: &[String]) -> bool {
    exclude.iter().any(|x| {
        rel == x || (rel.starts_with(x.as_str()) && rel.as_bytes().get(x.len()) == Some(&b'/'))
    })
}

/// Every path under `dir` (relative, as `/a/b`), parents before children, sorted.
fn walk(dir: &Path) -> Result<Vec<(String, fs::Metadata)>, ImageError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((abs, rel)) = stack.pop() {
        let mut children: Vec<(String, PathBuf)> = fs::read_dir(&abs)
            .map_err(io_err("read directory", &abs))?
            .flatten()
            .map(|e| {
                (
                    format!("{rel}/{}", e.file_name().to_string_lossy()),
                    e.path(),
                )
            })
            .collect();
        children.sort();
        for (r, p) in children.into_iter().rev() {
            let md = fs::symlink_metadata(&p).map_err(io_err("stat", &p))?;
            if md.is_dir() {
                stack.push((p.clone(), r.clone()));
            }
            out.push((r, md));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The entry at `rel` in the union of `lowers` (top first), honouring whiteouts.
fn in_lowers(lowers: &[PathBuf], rel: &str) -> Option<fs::Metadata> {
    for l in lowers {
        let p = l.join(rel.trim_start_matches('/'));
        if let Ok(md) = fs::symlink_metadata(&p) {
            return (!is_whiteout(&md)).then_some(md);
        }
    }
    None
}

fn differs(a: &fs::Metadata, b: &fs::Metadata, pa: &Path, pb: &Path) -> bool {
    if a.file_type() != b.file_type()
        || a.mode() != b.mode()
        || a.uid() != b.uid()
        || a.gid() != b.gid()
        || a.rdev() != b.rdev()
    {
        return true;
    }
    if a.is_dir() {
        return false;
    }
    if a.file_type().is_symlink() {
        return fs::read_link(pa).ok() != fs::read_link(pb).ok();
    }
    a.size() != b.size() || a.mtime() != b.mtime() || a.mtime_nsec() != b.mtime_nsec()
}

impl ImageStore {
    /// The changes of container snapshot `key` against its image, sorted by path.
    pub fn changes(&self, key: &str, exclude: &[String]) -> Result<Vec<Change>, ImageError> {
        let target = self.snapshots.apply_target(key)?;
        let lowers = self.snapshots.lower_dirs(key)?;
        let mut out: Vec<Change> = Vec::new();
        match target.whiteouts {
            WhiteoutStyle::Overlay => {
                let mut deleted_dirs: Vec<String> = Vec::new();
                for (rel, md) in walk(&target.dir)? {
                    if excluded(&rel, exclude)
                        || deleted_dirs
                            .iter()
                            .any(|d| rel.starts_with(&format!("{d}/")))
                    {
                        continue;
                    }
                    let kind = if is_whiteout(&md) {
                        deleted_dirs.push(rel.clone());
                        ChangeKind::Deleted
                    } else if in_lowers(&lowers, &rel).is_some() {
                        ChangeKind::Modified
                    } else {
                        ChangeKind::Added
                    };
                    out.push(Change { path: rel, kind });
                }
            }
            WhiteoutStyle::Delete => {
                let lower = lowers.first();
                for (rel, md) in walk(&target.dir)? {
                    if excluded(&rel, exclude) {
                        continue;
                    }
                    let here = target.dir.join(rel.trim_start_matches('/'));
                    let kind = match lower.map(|l| (l.join(rel.trim_start_matches('/')), l)) {
                        Some((there, _)) => match fs::symlink_metadata(&there) {
                            Ok(lmd) if differs(&md, &lmd, &here, &there) => ChangeKind::Modified,
                            Ok(lmd) if md.is_dir() && md.mtime() != lmd.mtime() => {
                                ChangeKind::Modified
                            }
                            Ok(_) => continue,
                            Err(_) => ChangeKind::Added,
                        },
                        None => ChangeKind::Added,
                    };
                    out.push(Change { path: rel, kind });
                }
                if let Some(l) = lower {
                    let mut gone: Vec<String> = Vec::new();
                    for (rel, _) in walk(l)? {
                        if excluded(&rel, exclude)
                            || gone.iter().any(|d| rel.starts_with(&format!("{d}/")))
                        {
                            continue;
                        }
                        if fs::symlink_metadata(target.dir.join(rel.trim_start_matches('/')))
                            .is_err()
                        {
                            gone.push(rel.clone());
                            out.push(Change {
                                path: rel,
                                kind: ChangeKind::Deleted,
                            });
                        }
                    }
                }
            }
        }
        // A directory copied up only because an excluded mount point was created in it.
        let changed: BTreeSet<String> = out.iter().map(|c| c.path.clone()).collect();
        out.retain(|c| {
            if c.kind != ChangeKind::Modified {
                return true;
            }
            let is_dir = fs::symlink_metadata(target.dir.join(c.path.trim_start_matches('/')))
                .map(|m| m.is_dir())
                .unwrap_or(false);
            !is_dir
                || changed
                    .range(format!("{}/", c.path)..)
                    .next()
                    .is_some_and(|p| p.starts_with(&format!("{}/", c.path)))
        });
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Writes the changes of `key` as a layer tar (whiteouts for deletions).
    fn write_changes_tar(
        &self,
        key: &str,
        exclude: &[String],
        out: impl Write,
    ) -> Result<(), ImageError> {
        let changes = self.changes(key, exclude)?;
        let target = self.snapshots.apply_target(key)?;
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Complete);
        let mut links: BTreeMap<(u64, u64), String> = BTreeMap::new();
        let kept: BTreeSet<String> = changes.iter().map(|c| c.path.clone()).collect();
        // Parents of kept paths must be in the layer too (unchanged ones as they are).
        let mut needed: BTreeSet<String> = BTreeSet::new();
        for p in &kept {
            let mut cur = p.as_str();
            while let Some((parent, _)) = cur.rsplit_once('/') {
                if parent.is_empty() {
                    break;
                }
                needed.insert(parent.to_string());
                cur = parent;
            }
        }
        let mut all: BTreeMap<String, Option<ChangeKind>> =
            needed.into_iter().map(|p| (p, None)).collect();
        for c in &changes {
            all.insert(c.path.clone(), Some(c.kind));
        }
        let tar_err = |e: io::Error| ImageError::Archive(format!("writing layer: {e}"));
        for (rel, kind) in all {
            let name = rel.trim_start_matches('/');
            let abs = target.dir.join(name);
            if kind == Some(ChangeKind::Deleted) {
                let (dir, base) = name.rsplit_once('/').unwrap_or(("", name));
                let wh = if dir.is_empty() {
                    format!(".wh.{base}")
                } else {
                    format!("{dir}/.wh.{base}")
                };
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o644);
                h.set_mtime(0);
                tar.append_data(&mut h, wh, io::empty()).map_err(tar_err)?;
                continue;
            }
            let md = match fs::symlink_metadata(&abs) {
                Ok(m) => m,
                // A parent only in the lowers: nothing of its own to record.
                Err(_) => continue,
            };
            if md.is_file() && md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    h.set_mode(md.mode());
                    tar.append_link(&mut h, name, first).map_err(tar_err)?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), name.to_string());
            }
            tar.append_path_with_name(&abs, name).map_err(tar_err)?;
            if md.is_dir()
                && crate::xattr::lget(&abs, b"trusted.overlay.opaque")
                    .ok()
                    .flatten()
                    .is_some_and(|v| v == b"y")
            {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o644);
                h.set_mtime(0);
                tar.append_data(&mut h, format!("{name}/.wh..wh..opq"), io::empty())
                    .map_err(tar_err)?;
            }
        }
        tar.into_inner()
            .map_err(tar_err)?
            .flush()
            .map_err(tar_err)?;
        Ok(())
    }

    /// Makes a new image from container snapshot `key` (on image `image`): its changes as one
    /// uncompressed layer on top of the image's, the config and history from `opts`.
    pub fn commit_container(
        &self,
        key: &str,
        image: &Digest,
        exclude: &[String],
        opts: &CommitOptions,
    ) -> Result<ImageInfo, ImageError> {
        self.commit_changes(key, image, exclude, opts, false)
    }

    /// [`Self::commit_container`] for a snapshot only this caller uses (a build step's COPY):
    /// the active snapshot itself becomes the new layer snapshot (as containerd commits), so
    /// its files are not written a second time. `key` is gone afterwards.
    pub fn commit_snapshot(
        &self,
        key: &str,
        image: &Digest,
        opts: &CommitOptions,
    ) -> Result<ImageInfo, ImageError> {
        self.commit_changes(key, image, &[], opts, true)
    }

    fn commit_changes(
        &self,
        key: &str,
        image: &Digest,
        exclude: &[String],
        opts: &CommitOptions,
        adopt: bool,
    ) -> Result<ImageInfo, ImageError> {
        if let Some(t) = &opts.tag {
            if t.digest().is_some() {
                return Err(ImageError::TagWithDigest(t.familiar()));
            }
        }
        // The layer, streamed into the content store while hashed.
        let mut writer = self.content.writer()?;
        self.write_changes_tar(key, exclude, &mut writer)?;
        let (blob, size) = writer.commit(None)?;
        let layer = Descriptor::new(MEDIA_TYPE_OCI_LAYER, blob.clone(), size);
        self.stack_layer(image, layer, &blob, opts, adopt.then_some(key))
    }

    /// The changes of snapshot `key` as a layer stacked on `image`, not on the snapshot's
    /// own parent: what a build's `COPY --link` does with a snapshot prepared on the empty
    /// image. The layer is unpacked on `image`'s layers; `key` is left to the caller.
    pub fn commit_snapshot_onto(
        &self,
        key: &str,
        image: &Digest,
        opts: &CommitOptions,
    ) -> Result<ImageInfo, ImageError> {
        self.commit_changes(key, image, &[], opts, false)
    }

    /// The last layer of image `from` stacked on `image` (the same blob and diff id, so the
    /// same layer digest): a `COPY --link` step reused after its base changed.
    pub fn append_layer_of(
        &self,
        image: &Digest,
        from: &Digest,
        opts: &CommitOptions,
    ) -> Result<ImageInfo, ImageError> {
        self.append_layer_at(image, from, None, opts, None)
    }

    /// Layer `index` of image `from` (the last when `None`) stacked on `image`, with
    /// `history` as the new entry when given (else one made from `opts`, created now): a
    /// build step restored from a `--cache-from` image.
    pub fn append_layer_at(
        &self,
        image: &Digest,
        from: &Digest,
        index: Option<usize>,
        opts: &CommitOptions,
        history: Option<History>,
    ) -> Result<ImageInfo, ImageError> {
        let config = self.config(from)?;
        let manifest = {
            let state = self.lock();
            let rec = state
                .images
                .get(from)
                .ok_or_else(|| ImageError::NotFound(from.to_string()))?;
            rec.manifest.clone()
        };
        let manifest: Manifest = serde_json::from_slice(&self.content.read(&manifest)?)
            .map_err(|e| ImageError::Archive(format!("invalid manifest of {from}: {e}")))?;
        let i = index.unwrap_or(manifest.layers.len().saturating_sub(1));
        let (Some(layer), Some(diff_id)) = (manifest.layers.get(i), config.rootfs.diff_ids.get(i))
        else {
            return Err(ImageError::Archive(format!(
                "image {from} has no layer {i}"
            )));
        };
        self.stack_layer_with(image, layer.clone(), diff_id, opts, None, history)
    }

    /// Records a new image: `image` plus the stored blob `layer` (diff id `diff_id`), config
    /// and history from `opts`. `adopt`: the active snapshot on `image` that holds exactly
    /// these changes becomes the layer's snapshot; otherwise the blob is unpacked.
    fn stack_layer(
        &self,
        image: &Digest,
        layer: Descriptor,
        diff_id: &Digest,
        opts: &CommitOptions,
        adopt: Option<&str>,
    ) -> Result<ImageInfo, ImageError> {
        self.stack_layer_with(image, layer, diff_id, opts, adopt, None)
    }

    fn stack_layer_with(
        &self,
        image: &Digest,
        layer: Descriptor,
        diff_id: &Digest,
        opts: &CommitOptions,
        adopt: Option<&str>,
        entry: Option<History>,
    ) -> Result<ImageInfo, ImageError> {
        let base = self.config(image)?;
        let (base_layers, base_chain, base_manifest) = {
            let state = self.lock();
            let rec = state
                .images
                .get(image)
                .ok_or_else(|| ImageError::NotFound(image.to_string()))?;
            (rec.layers.clone(), rec.chain.clone(), rec.manifest.clone())
        };
        let base_manifest: Manifest =
            serde_json::from_slice(&self.content.read(&base_manifest)?)
                .map_err(|e| ImageError::Archive(format!("invalid manifest of {image}: {e}")))?;
        let blob = layer.digest.clone();
        let mut diff_ids = base.rootfs.diff_ids.clone();
        diff_ids.push(diff_id.clone());
        let chain_id = api::image::chain_id(&diff_ids).expect("non-empty");
        match adopt {
            Some(key) => {
                if !self.has_layer(&chain_id) {
                    match self.snapshots.commit(&chain_id.to_string(), key) {
                        Ok(()) | Err(snapshot::SnapshotError::AlreadyExists(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            None => {
                self.unpack_blob(&blob, diff_id, &chain_id, base_chain.last(), &mut |_| {})?;
            }
        }

        let entry = entry.unwrap_or_else(|| History {
            created: Some(api::time::rfc3339_nano(std::time::SystemTime::now())),
            created_by: Some(opts.created_by.clone()),
            author: opts.author.clone(),
            comment: opts.comment.clone(),
            ..History::default()
        });
        let created = entry.created.clone();
        let mut history = base.history.clone();
        history.push(entry);
        let config = ImageConfig {
            created,
            author: opts.author.clone(),
            config: Some(opts.config.clone()),
            rootfs: api::image::RootFs {
                kind: "layers".into(),
                diff_ids,
            },
            history,
            ..base
        };
        let config_bytes = serde_json::to_vec(&config).expect("config serialises");
        let mut layers: Vec<Descriptor> = base_manifest.layers.clone();
        layers.push(layer);
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_string()),
            artifact_type: None,
            config: Descriptor::new(
                MEDIA_TYPE_OCI_CONFIG,
                Digest::sha256_of(&config_bytes),
                config_bytes.len() as u64,
            ),
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        };
        let mut all_layers = base_layers;
        all_layers.push(blob);
        let pulled = super::PulledImage {
            manifest: serde_json::to_vec(&manifest).expect("manifest serialises"),
            config: config_bytes,
            layers: all_layers,
            tag: opts.tag.clone(),
            repo_digest: None,
            source: String::new(),
        };
        let (info, _) = self.record_image(pulled, Some(image))?;
        Ok(info)
    }

    /// Writes the container's whole filesystem as a tar: from `live` (the mounted root of a
    /// running container) or, when stopped, from a private read-only mount of its snapshot.
    pub fn export_rootfs(
        &self,
        key: &str,
        live: Option<&Path>,
        out: impl Write,
    ) -> Result<(), ImageError> {
        let write = |dir: &Path, out: &mut dyn Write| -> Result<(), ImageError> {
            let mut tar = tar::Builder::new(out);
            tar.follow_symlinks(false);
            tar.mode(tar::HeaderMode::Complete);
            let tar_err = |e: io::Error| ImageError::Archive(format!("exporting: {e}"));
            for (rel, _) in walk(dir)? {
                let name = rel.trim_start_matches('/');
                tar.append_path_with_name(dir.join(name), name)
                    .map_err(tar_err)?;
            }
            tar.into_inner().map_err(tar_err)?.flush().map_err(tar_err)
        };
        let mut out = out;
        if let Some(dir) = live {
            return write(dir, &mut out);
        }
        let images_dir = self.index_path.parent().expect("index has a directory");
        let mnt = images_dir.join(format!("export-{}", content::atomic::unique_suffix()));
        fs::create_dir_all(&mnt).map_err(io_err("create directory", &mnt))?;
        let result = (|| {
            let mounts = self.snapshots.mounts(key)?;
            let guard = snapshot::mount::mount_all(&mounts, &mnt)
                .map_err(io_err("mount the container's filesystem at", &mnt))?;
            let r = write(guard.target(), &mut out);
            drop(guard);
            r
        })();
        let _ = fs::remove_dir(&mnt);
        result
    }
}

impl ImageStore {
    /// Copies what the container's root (snapshot `key`) holds at `path` into the directory
    /// `dest`, from a private read-only mount: how a new volume gets the image's content.
    /// Nothing is copied when `path` is missing or not a directory.
    pub fn copy_path_out(&self, key: &str, path: &str, dest: &Path) -> Result<(), ImageError> {
        let images_dir = self.index_path.parent().expect("index has a directory");
        let mnt = images_dir.join(format!("copy-{}", content::atomic::unique_suffix()));
        fs::create_dir_all(&mnt).map_err(io_err("create directory", &mnt))?;
        let result = (|| {
            let mounts = self.snapshots.mounts(key)?;
            let guard = snapshot::mount::mount_all(&mounts, &mnt)
                .map_err(io_err("mount the container's filesystem at", &mnt))?;
            // Resolve inside the mount without following symlinks out of it.
            let mut src = guard.target().to_path_buf();
            for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
                if c == ".." {
                    return Ok(());
                }
                src.push(c);
                match fs::symlink_metadata(&src) {
                    Ok(md) if md.is_dir() => {}
                    _ => return Ok(()),
                }
            }
            snapshot::tree::copy_tree(&src, dest)?;
            drop(guard);
            Ok(())
        })();
        let _ = fs::remove_dir(&mnt);
        result
    }
}

impl ImageStore {
    /// Makes an image from `parent` (or from nothing: `FROM scratch`) with a new container
    /// config and, when given, one more history entry, but no new layer: what a build's
    /// metadata steps (`ENV`, `CMD`, ...) commit. The history entry should say
    /// `empty_layer: true`. Without a parent and a history entry the result is the empty base
    /// image of `FROM scratch`, whose id is always the same.
    pub fn derive_image(
        &self,
        parent: Option<&Digest>,
        config: ContainerConfig,
        author: Option<String>,
        history: Option<History>,
    ) -> Result<ImageInfo, ImageError> {
        self.derive(parent, config, author, history, None)
    }

    /// The empty base image of `FROM scratch` for `platform` (`FROM --platform=... scratch`,
    /// `build --platform`): its config names that platform; the same id every time.
    pub fn scratch_image(&self, platform: &api::image::Platform) -> Result<ImageInfo, ImageError> {
        self.derive(
            None,
            ContainerConfig::default(),
            None,
            None,
            Some(platform.clone()),
        )
    }

    fn derive(
        &self,
        parent: Option<&Digest>,
        config: ContainerConfig,
        author: Option<String>,
        history: Option<History>,
        platform: Option<api::image::Platform>,
    ) -> Result<ImageInfo, ImageError> {
        let (base, layers, manifest_layers) = match parent {
            Some(id) => {
                let base = self.config(id)?;
                let (layers, manifest) = {
                    let state = self.lock();
                    let rec = state
                        .images
                        .get(id)
                        .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
                    (rec.layers.clone(), rec.manifest.clone())
                };
                let manifest: Manifest = serde_json::from_slice(&self.content.read(&manifest)?)
                    .map_err(|e| ImageError::Archive(format!("invalid manifest of {id}: {e}")))?;
                (base, layers, manifest.layers)
            }
            None => {
                let host = platform.unwrap_or_else(api::image::Platform::host);
                let base = ImageConfig {
                    created: None,
                    author: None,
                    architecture: host.architecture,
                    os: host.os,
                    os_version: None,
                    variant: host.variant,
                    config: None,
                    rootfs: api::image::RootFs {
                        kind: "layers".into(),
                        diff_ids: Vec::new(),
                    },
                    history: Vec::new(),
                };
                (base, Vec::new(), Vec::new())
            }
        };
        let mut config = ImageConfig {
            config: Some(config),
            author: author.or(base.author.clone()),
            ..base
        };
        if let Some(h) = history {
            config.created = h.created.clone();
            config.history.push(h);
        }
        let config_bytes = serde_json::to_vec(&config).expect("config serialises");
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_string()),
            artifact_type: None,
            config: Descriptor::new(
                MEDIA_TYPE_OCI_CONFIG,
                Digest::sha256_of(&config_bytes),
                config_bytes.len() as u64,
            ),
            layers: manifest_layers,
            subject: None,
            annotations: BTreeMap::new(),
        };
        let pulled = super::PulledImage {
            manifest: serde_json::to_vec(&manifest).expect("manifest serialises"),
            config: config_bytes,
            layers,
            tag: None,
            repo_digest: None,
            source: String::new(),
        };
        let (info, _) = self.record_image(pulled, parent)?;
        Ok(info)
    }

    /// The active snapshot `key` on image `image` mounted at a fresh private directory, for
    /// writing files into it (a build's COPY) or reading them (COPY --from). Unmounted and
    /// removed when the guard drops.
    pub fn mount_rootfs(&self, key: &str) -> Result<RootfsMount, ImageError> {
        let images_dir = self.index_path.parent().expect("index has a directory");
        let mnt = images_dir.join(format!("build-{}", content::atomic::unique_suffix()));
        fs::create_dir_all(&mnt).map_err(io_err("create directory", &mnt))?;
        let mounts = match self.snapshots.mounts(key) {
            Ok(m) => m,
            Err(e) => {
                let _ = fs::remove_dir(&mnt);
                return Err(e.into());
            }
        };
        match snapshot::mount::mount_all(&mounts, &mnt) {
            Ok(guard) => Ok(RootfsMount {
                guard: Some(guard),
                dir: mnt,
            }),
            Err(e) => {
                let _ = fs::remove_dir(&mnt);
                Err(io_err("mount the snapshot at", &mnt)(e))
            }
        }
    }
}

/// A snapshot mounted by [`ImageStore::mount_rootfs`].
pub struct RootfsMount {
    guard: Option<snapshot::mount::MountGuard>,
    dir: PathBuf,
}

impl RootfsMount {
    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RootfsMount {
    fn drop(&mut self) {
        drop(self.guard.take());
        let _ = fs::remove_dir(&self.dir);
    }
}
