//! `docker history` and `docker save` over the [`ImageStore`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use api::digest::{Algorithm, HashingReader};
use api::image::{
    Descriptor, ImageConfig, Index, Manifest, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_MANIFEST,
};
use api::{Digest, ImageRef};
use snapshot::SnapshotError;

use super::{resolve_in, ImageRecord, ImageStore, Tee, EXTRACT_PREFIX};
use crate::{decompress, unpack_layer, ImageError, UnpackError};

/// Prefix of the spool directories `load` extracts archives into (under `images/`).
pub(crate) const LOAD_PREFIX: &str = "load-";

/// One image `load` recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// The image id.
    pub id: Digest,
    /// The tags it was given (familiar form: `busybox:latest`), possibly none.
    pub tags: Vec<String>,
}

/// An image found in an archive, before anything is stored.
struct Candidate {
    config: Vec<u8>,
    config_digest: Digest,
    /// Original manifest bytes (OCI layout), or `None` to build one (docker-archive).
    manifest: Option<(Vec<u8>, Manifest)>,
    /// Layer files in the spool, base first, with their expected blob digest when known.
    layers: Vec<(PathBuf, Option<Digest>)>,
    tags: Vec<ImageRef>,
    tag_names: Vec<String>,
}

fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::Archive(msg.into())
}

/// One row of `docker history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image id for the top entry, `<missing>` for the others (as Docker shows them).
    pub id: String,
    /// RFC 3339 creation time (empty when unknown).
    pub created: String,
    /// The command that made the layer.
    pub created_by: String,
    /// Tags (familiar form) on the top entry; empty on the others.
    pub tags: Vec<String>,
    /// Unpacked size of the layer this entry made, 0 for an empty-layer entry.
    pub size: u64,
    /// Free text.
    pub comment: String,
}

impl ImageStore {
    /// The image's history, newest first, as `GET /images/{name}/history` returns it.
    pub fn history(&self, name_or_id: &str) -> Result<Vec<HistoryEntry>, ImageError> {
        let (id, chain, tags) = {
            let state = self.lock();
            let (id, _) = resolve_in(&state, name_or_id)?;
            let info = state.info(&id, &state.images[&id]);
            (id.clone(), state.images[&id].chain.clone(), info.repo_tags)
        };
        let config = self.config(&id)?;
        let mut layer = 0usize;
        let mut out = Vec::new();
        for h in &config.history {
            let size = if h.empty_layer.unwrap_or(false) {
                0
            } else {
                let s = chain
                    .get(layer)
                    .and_then(|c| self.snapshots.usage(&c.to_string()).ok())
                    .map(|u| u.size)
                    .unwrap_or(0);
                layer += 1;
                s
            };
            out.push(HistoryEntry {
                id: "<missing>".to_string(),
                created: h.created.clone().unwrap_or_default(),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = id.to_string();
            top.tags = tags;
        }
        Ok(out)
    }

    /// Writes the named images as one tar that is both a docker-archive (`manifest.json`,
    /// `repositories`) and an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`), as
    /// Docker 25+ does: `manifest.json` points at the blobs, every blob (config, layers as
    /// stored, manifest) is written once however many images share it. Names that are tags
    /// are recorded as `RepoTags` and as index annotations; ids are saved untagged.
    pub fn save_archive(&self, names: &[String], out: impl Write) -> Result<(), ImageError> {
        struct Entry {
            config: Digest,
            manifest: Digest,
            repo_tags: Vec<ImageRef>,
            layers: Vec<Digest>,
        }
        let mut entries: Vec<Entry> = Vec::new();
        {
            let state = self.lock();
            for n in names {
                let (id, by_ref) = resolve_in(&state, n)?;
                let rec = &state.images[&id];
                if let Some(e) = entries.iter_mut().find(|e| e.config == id) {
                    if let Some(t) = by_ref {
                        if !e.repo_tags.contains(&t) {
                            e.repo_tags.push(t);
                        }
                    }
                    continue;
                }
                entries.push(Entry {
                    config: id.clone(),
                    manifest: rec.manifest.clone(),
                    repo_tags: by_ref.into_iter().collect(),
                    layers: rec.layers.clone(),
                });
            }
        }
        let io_err =
            |what: &'static str| move |e: io::Error| ImageError::Archive(format!("{what}: {e}"));
        let blob_name = |d: &Digest| format!("blobs/{}/{}", d.algorithm(), d.hex());
        let mut tar = tar::Builder::new(out);
        append_dir(&mut tar, "blobs/").map_err(io_err("write directory"))?;
        append_dir(&mut tar, "blobs/sha256/").map_err(io_err("write directory"))?;
        let mut written = BTreeSet::new();
        let mut put_blob = |tar: &mut tar::Builder<_>, d: &Digest| -> Result<(), ImageError> {
            if !written.insert(d.clone()) {
                return Ok(());
            }
            let size = self.content.size(d)?;
            let f = self.content.open(d)?;
            let mut h = header(size);
            tar.append_data(
                &mut h,
                blob_name(d),
                io::BufReader::with_capacity(256 << 10, f).take(size),
            )
            .map_err(io_err("write blob"))
        };
        let mut manifest_json = Vec::new();
        let mut index_entries = Vec::new();
        let mut repositories = serde_json::Map::new();
        for e in &entries {
            put_blob(&mut tar, &e.config)?;
            for l in &e.layers {
                put_blob(&mut tar, l)?;
            }
            put_blob(&mut tar, &e.manifest)?;
            let manifest_bytes = self.content.read(&e.manifest)?;
            let media_type = serde_json::from_slice::<serde_json::Value>(&manifest_bytes)
                .ok()
                .and_then(|v| v["mediaType"].as_str().map(String::from))
                .unwrap_or_else(|| MEDIA_TYPE_OCI_MANIFEST.to_string());
            let descriptor = |annotations: serde_json::Value| {
                let mut d = serde_json::json!({
                    "mediaType": media_type,
                    "digest": e.manifest.to_string(),
                    "size": manifest_bytes.len(),
                });
                if !annotations.is_null() {
                    d["annotations"] = annotations;
                }
                d
            };
            if e.repo_tags.is_empty() {
                index_entries.push(descriptor(serde_json::Value::Null));
            }
            for t in &e.repo_tags {
                index_entries.push(descriptor(serde_json::json!({
                    "io.containerd.image.name": t.to_string(),
                    "org.opencontainers.image.ref.name": t.tag().unwrap_or("latest"),
                })));
            }
            let tags: Vec<String> = e.repo_tags.iter().map(ImageRef::familiar).collect();
            manifest_json.push(serde_json::json!({
                "Config": blob_name(&e.config),
                "RepoTags": if tags.is_empty() { serde_json::Value::Null } else { tags.clone().into() },
                "Layers": e.layers.iter().map(&blob_name).collect::<Vec<_>>(),
            }));
            let config = self.config(&e.config)?;
            let top = config.rootfs.diff_ids.last().map(|d| d.hex().to_string());
            for t in &tags {
                if let (Some((repo, tag)), Some(top)) = (t.rsplit_once(':'), &top) {
                    let m = repositories
                        .entry(repo.to_string())
                        .or_insert_with(|| serde_json::Value::Object(Default::default()));
                    m[tag] = serde_json::Value::String(top.clone());
                }
            }
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": api::image::MEDIA_TYPE_OCI_INDEX,
            "manifests": index_entries,
        });
        append_bytes(
            &mut tar,
            "index.json",
            &serde_json::to_vec(&index).expect("index serialises"),
        )
        .map_err(io_err("write index"))?;
        let manifest = serde_json::to_vec(&manifest_json).expect("manifest serialises");
        append_bytes(&mut tar, "manifest.json", &manifest).map_err(io_err("write manifest"))?;
        append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(io_err("write oci-layout"))?;
        if !repositories.is_empty() {
            let r = serde_json::to_vec(&repositories).expect("repositories serialise");
            append_bytes(&mut tar, "repositories", &r).map_err(io_err("write repositories"))?;
        }
        tar.into_inner()
            .map_err(io_err("finish archive"))?
            .flush()
            .map_err(io_err("flush archive"))?;
        Ok(())
    }
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, name: &str) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Directory);
    tar.append_data(&mut h, name, io::empty())
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut h = header(bytes.len() as u64);
    tar.append_data(&mut h, name, bytes)
}

/// The archive's regular files extracted under a spool directory; symlinks resolved by name.
struct Spool {
    dir: PathBuf,
    links: BTreeMap<PathBuf, PathBuf>,
}

impl Spool {
    fn extract(dir: &Path, input: impl Read) -> Result<Spool, ImageError> {
        let mut links = BTreeMap::new();
        let mut archive = tar::Archive::new(input);
        let read_err = |e: io::Error| bad(format!("reading archive: {e}"));
        for entry in archive.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let raw = entry.path().map_err(read_err)?.into_owned();
            let rel = clean(&raw)
                .ok_or_else(|| bad(format!("invalid path in archive: {}", raw.display())))?;
            let kind = entry.header().entry_type();
            if kind.is_symlink() {
                let target = entry
                    .link_name()
                    .map_err(read_err)?
                    .ok_or_else(|| bad("symlink without target"))?;
                let joined = rel.parent().unwrap_or(Path::new("")).join(target);
                let t = clean(&joined)
                    .ok_or_else(|| bad(format!("invalid link in archive: {}", raw.display())))?;
                links.insert(rel, t);
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                let path = dir.join(&rel);
                if let Some(p) = path.parent() {
                    fs::create_dir_all(p).map_err(ImageError::io("create directory", p))?;
                }
                let mut f = fs::File::create(&path).map_err(ImageError::io("create", &path))?;
                io::copy(&mut entry, &mut f).map_err(read_err)?;
            }
        }
        // Anything after the end-of-archive blocks is ignored, as Docker does.
        Ok(Spool {
            dir: dir.to_path_buf(),
            links,
        })
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        let mut rel = clean(Path::new(name))?;
        for _ in 0..16 {
            match self.links.get(&rel) {
                Some(t) => rel = t.clone(),
                None => break,
            }
        }
        let p = self.dir.join(rel);
        p.is_file().then_some(p)
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, ImageError> {
        let p = self
            .path(name)
            .ok_or_else(|| bad(format!("archive is missing {name}")))?;
        fs::read(&p).map_err(ImageError::io("read", &p))
    }

    fn blob_name(d: &Digest) -> String {
        format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
    }

    /// A blob of an OCI layout, its digest and size verified.
    fn blob(&self, d: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let bytes = self.read(&Spool::blob_name(&d.digest))?;
        if Digest::sha256_of(&bytes) != d.digest || bytes.len() as u64 != d.size {
            return Err(bad(format!(
                "blob {} does not match its descriptor",
                d.digest
            )));
        }
        Ok(bytes)
    }
}

/// A relative path of plain components, or `None`.
fn clean(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn parse_config(bytes: &[u8]) -> Result<ImageConfig, ImageError> {
    serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid image config: {e}")))
}

fn is_index(media_type: &str) -> bool {
    media_type == api::image::MEDIA_TYPE_OCI_INDEX
        || media_type == api::image::MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

impl ImageStore {
    /// Loads the images of a docker-archive (`manifest.json`) or OCI image layout
    /// (`index.json`) tar, as `docker load` does, and tags them. The archive is spooled under
    /// the data root first. Every config, manifest and layer blob digest and every diff id is
    /// verified; any failure leaves no new image, tag, blob or snapshot.
    ///
    /// Names: a docker-archive's `RepoTags` are parsed as references (`busybox:latest` is
    /// `docker.io/library/busybox:latest`). In an OCI layout, an index entry's
    /// `io.containerd.image.name` annotation wins over `org.opencontainers.image.ref.name`;
    /// either is used as-is when it parses as a reference (so a bare tag `v1` names the image
    /// `v1:latest`), otherwise the image is loaded untagged. Indexes resolve to the host
    /// platform's manifest; entries without one are skipped. A tag already pointing at
    /// another image is moved silently (Docker prints a "renaming the old one" notice).
    pub fn load(&self, input: impl Read) -> Result<Vec<LoadedImage>, ImageError> {
        let images_dir = self
            .index_path
            .parent()
            .expect("index path has a parent")
            .to_path_buf();
        let spool_dir =
            images_dir.join(format!("{LOAD_PREFIX}{}", content::atomic::unique_suffix()));
        fs::create_dir_all(&spool_dir).map_err(ImageError::io("create directory", &spool_dir))?;
        let result = Spool::extract(&spool_dir, input).and_then(|spool| self.load_spool(&spool));
        if let Err(e) = fs::remove_dir_all(&spool_dir) {
            tracing::warn!(dir = %spool_dir.display(), error = %e, "could not remove load spool");
        }
        result
    }

    fn candidates(&self, spool: &Spool) -> Result<Vec<Candidate>, ImageError> {
        let mut out = Vec::new();
        if spool.path("manifest.json").is_some() {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "PascalCase")]
            struct Entry {
                config: String,
                #[serde(default)]
                repo_tags: Option<Vec<String>>,
                #[serde(default)]
                layers: Vec<String>,
            }
            let entries: Vec<Entry> = serde_json::from_slice(&spool.read("manifest.json")?)
                .map_err(|e| bad(format!("invalid manifest.json: {e}")))?;
            for e in entries {
                let config = spool.read(&e.config)?;
                let config_digest = Digest::sha256_of(&config);
                let mut tags = Vec::new();
                let mut tag_names = Vec::new();
                for t in e.repo_tags.unwrap_or_default() {
                    let r: ImageRef = t
                        .parse()
                        .map_err(|_| bad(format!("invalid tag {t:?} in manifest.json")))?;
                    tag_names.push(r.familiar());
                    tags.push(r);
                }
                let layers = e
                    .layers
                    .iter()
                    .map(|l| {
                        spool
                            .path(l)
                            .map(|p| (p, None))
                            .ok_or_else(|| bad(format!("archive is missing {l}")))
                    })
                    .collect::<Result<_, _>>()?;
                out.push(Candidate {
                    config,
                    config_digest,
                    manifest: None,
                    layers,
                    tags,
                    tag_names,
                });
            }
            return Ok(out);
        }
        if spool.path("index.json").is_none() {
            return Err(bad(
                "archive has neither manifest.json nor index.json: not a docker-archive or OCI layout",
            ));
        }
        let index: Index = serde_json::from_slice(&spool.read("index.json")?)
            .map_err(|e| bad(format!("invalid index.json: {e}")))?;
        for d in &index.manifests {
            let name = d
                .annotations
                .get("io.containerd.image.name")
                .or_else(|| d.annotations.get("org.opencontainers.image.ref.name"))
                .cloned();
            let Some((bytes, manifest)) = self.pick_manifest(spool, d, 0)? else {
                continue;
            };
            let config = spool.blob(&manifest.config)?;
            let layers = manifest
                .layers
                .iter()
                .map(|l| {
                    spool
                        .path(&Spool::blob_name(&l.digest))
                        .map(|p| (p, Some(l.digest.clone())))
                        .ok_or_else(|| bad(format!("archive is missing layer {}", l.digest)))
                })
                .collect::<Result<_, _>>()?;
            let (mut tags, mut tag_names) = (Vec::new(), Vec::new());
            if let Some(r) = name.as_deref().and_then(|n| n.parse::<ImageRef>().ok()) {
                tag_names.push(r.familiar());
                tags.push(r);
            }
            out.push(Candidate {
                config_digest: manifest.config.digest.clone(),
                config,
                manifest: Some((bytes, manifest)),
                layers,
                tags,
                tag_names,
            });
        }
        Ok(out)
    }

    /// The manifest `d` names, or for an index the host platform's one (`None` if absent).
    fn pick_manifest(
        &self,
        spool: &Spool,
        d: &Descriptor,
        depth: usize,
    ) -> Result<Option<(Vec<u8>, Manifest)>, ImageError> {
        if depth > 4 {
            return Err(bad("image indexes nest too deeply"));
        }
        let bytes = spool.blob(d)?;
        if is_index(&d.media_type) {
            let index: Index = serde_json::from_slice(&bytes)
                .map_err(|e| bad(format!("invalid image index {}: {e}", d.digest)))?;
            let host = api::image::Platform::host();
            let hit = index.manifests.iter().find(|m| {
                m.platform
                    .as_ref()
                    .is_some_and(|p| p.os == host.os && p.architecture == host.architecture)
            });
            return match hit {
                Some(m) => self.pick_manifest(spool, m, depth + 1),
                None => Ok(None),
            };
        }
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("invalid manifest {}: {e}", d.digest)))?;
        Ok(Some((bytes, manifest)))
    }

    fn load_spool(&self, spool: &Spool) -> Result<Vec<LoadedImage>, ImageError> {
        let candidates = self.candidates(spool)?;
        if candidates.is_empty() {
            return Err(bad("no image for this platform in the archive"));
        }
        let mut made_blobs: Vec<Digest> = Vec::new();
        let mut made_chain: Vec<Digest> = Vec::new();
        let result = self.load_candidates(&candidates, &mut made_blobs, &mut made_chain);
        if result.is_err() {
            let state = self.lock();
            self.collect(&state, &made_blobs, &made_chain);
        }
        result
    }

    fn load_candidates(
        &self,
        candidates: &[Candidate],
        made_blobs: &mut Vec<Digest>,
        made_chain: &mut Vec<Digest>,
    ) -> Result<Vec<LoadedImage>, ImageError> {
        let mut records = Vec::new();
        for c in candidates {
            if Digest::sha256_of(&c.config) != c.config_digest {
                return Err(bad(format!(
                    "config {} does not match its digest",
                    c.config_digest
                )));
            }
            let config = parse_config(&c.config)?;
            let diff_ids = &config.rootfs.diff_ids;
            if diff_ids.len() != c.layers.len() {
                return Err(bad(format!(
                    "image {} has {} layers but its config lists {} diff ids",
                    c.config_digest,
                    c.layers.len(),
                    diff_ids.len()
                )));
            }
            let mut blobs = Vec::new();
            let mut chain = Vec::new();
            let mut media_types = Vec::new();
            let mut size = 0;
            for (i, (path, expected)) in c.layers.iter().enumerate() {
                let chain_id = api::image::chain_id(&diff_ids[..=i]).expect("non-empty");
                let parent = chain.last().map(Digest::to_string);
                let (blob, compression) = self.load_layer(
                    path,
                    expected.as_ref(),
                    &diff_ids[i],
                    &chain_id,
                    parent.as_deref(),
                    made_blobs,
                    made_chain,
                )?;
                size += self.snapshots.usage(&chain_id.to_string())?.size;
                media_types.push((compression.oci_media_type(), blob.clone()));
                blobs.push(blob);
                chain.push(chain_id);
            }
            if !self.content.exists(&c.config_digest) {
                let d = self.content.put(&c.config)?;
                made_blobs.push(d);
            }
            let manifest_bytes = match &c.manifest {
                Some((bytes, _)) => bytes.clone(),
                None => {
                    let layers = media_types
                        .iter()
                        .map(|(mt, d)| {
                            let size = self.content.size(d)?;
                            Ok(Descriptor::new(mt, d.clone(), size))
                        })
                        .collect::<Result<Vec<_>, ImageError>>()?;
                    let m = Manifest {
                        schema_version: 2,
                        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_string()),
                        artifact_type: None,
                        config: Descriptor::new(
                            MEDIA_TYPE_OCI_CONFIG,
                            c.config_digest.clone(),
                            c.config.len() as u64,
                        ),
                        layers,
                        subject: None,
                        annotations: BTreeMap::new(),
                    };
                    serde_json::to_vec(&m).expect("manifest serialises")
                }
            };
            let manifest_digest = Digest::sha256_of(&manifest_bytes);
            if !self.content.exists(&manifest_digest) {
                self.content.put(&manifest_bytes)?;
                made_blobs.push(manifest_digest.clone());
            }
            records.push((
                c,
                ImageRecord {
                    manifest: manifest_digest,
                    layers: blobs,
                    chain,
                    created: config
                        .created
                        .clone()
                        .unwrap_or_else(|| api::time::ZERO_TIME.to_string()),
                    size,
                    repo_digests: BTreeSet::new(),
                    source: None,
                    parent: None,
                },
            ));
        }
        let mut state = self.lock();
        // Layers found present were reused outside the lock: a concurrent removal may have
        // deleted one since. Check under the lock, where removals are serialised.
        for (_, rec) in &records {
            let gone = rec
                .chain
                .iter()
                .any(|c| self.snapshots.stat(&c.to_string()).is_err())
                || rec.layers.iter().any(|b| !self.content.exists(b));
            if gone {
                return Err(bad(
                    "a layer was removed while the archive was loading: try again",
                ));
            }
        }
        let mut next = state.clone();
        let mut out = Vec::new();
        for (c, rec) in records {
            next.images.entry(c.config_digest.clone()).or_insert(rec);
            for t in &c.tags {
                next.tags.insert(t.clone(), c.config_digest.clone());
            }
            out.push(LoadedImage {
                id: c.config_digest.clone(),
                tags: c.tag_names.clone(),
            });
        }
        self.save(&next)?;
        *state = next;
        tracing::info!(images = out.len(), "loaded images");
        Ok(out)
    }

    /// Stores one layer file as a blob (if new) and unpacks it as snapshot `chain_id` (if
    /// new), verifying its blob digest (when known) and diff id.
    #[allow(clippy::too_many_arguments)]
    fn load_layer(
        &self,
        path: &Path,
        expected: Option<&Digest>,
        diff_id: &Digest,
        chain_id: &Digest,
        parent: Option<&str>,
        made_blobs: &mut Vec<Digest>,
        made_chain: &mut Vec<Digest>,
    ) -> Result<(Digest, crate::Compression), ImageError> {
        let have_snapshot = self.snapshots.stat(&chain_id.to_string()).is_ok();
        let key = format!("{EXTRACT_PREFIX}{}", content::atomic::unique_suffix());
        if !have_snapshot {
            self.snapshots.prepare(&key, parent)?;
        }
        let result = (|| {
            let file = fs::File::open(path).map_err(ImageError::io("open", path))?;
            let mut writer = self.content.writer()?;
            let (compression, got_diff) = {
                let mut tee = Tee {
                    inner: io::BufReader::new(file),
                    out: &mut writer,
                };
                let (compression, dec) = decompress(&mut tee)?;
                let mut hashing = HashingReader::new(dec, Algorithm::Sha256);
                if !have_snapshot {
                    let target = self.snapshots.apply_target(&key)?;
                    unpack_layer(&mut hashing, &target.dir, target.whiteouts)?;
                }
                io::copy(&mut hashing, &mut io::sink()).map_err(UnpackError::Read)?;
                let (got, _, dec) = hashing.finish();
                drop(dec);
                io::copy(&mut tee, &mut io::sink()).map_err(UnpackError::Read)?;
                (compression, got)
            };
            if &got_diff != diff_id {
                return Err(bad(format!(
                    "layer {} does not match its diff id {diff_id} (got {got_diff})",
                    path.file_name().unwrap_or_default().to_string_lossy()
                )));
            }
            let blob = match expected {
                Some(d) if self.content.exists(d) => {
                    drop(writer);
                    d.clone()
                }
                _ => {
                    let (d, _) = writer.commit(expected).map_err(|e| match expected {
                        Some(x) => bad(format!("layer blob {x} does not match its digest: {e}")),
                        None => e.into(),
                    })?;
                    made_blobs.push(d.clone());
                    d
                }
            };
            if !have_snapshot {
                match self.snapshots.commit(&chain_id.to_string(), &key) {
                    Ok(()) => made_chain.push(chain_id.clone()),
                    Err(SnapshotError::AlreadyExists(_)) => self.snapshots.remove(&key)?,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok((blob, compression))
        })();
        if result.is_err() && !have_snapshot {
            match self.snapshots.remove(&key) {
                Ok(()) | Err(SnapshotError::NotFound(_)) => {}
                Err(e) => {
                    tracing::warn!(snapshot = %key, error = %e, "could not remove extract snapshot")
                }
            }
        }
        result
    }
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
