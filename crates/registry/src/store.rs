//! [`RegistryStore`]: the registry's storage, usable without HTTP.
//!
//! # Layout
//!
//! ```text
//! <root>/
//!   content/                                  a content::ContentStore: every blob and manifest once
//!   repositories/<name>/                      <name> may contain '/', so repositories nest
//!     _layers/<alg>/<hex>                     link: this repository has blob <alg>:<hex> (file holds the digest)
//!     _manifests/<alg>/<hex>                  link: this repository has manifest <alg>:<hex> (file holds a ManifestLink JSON)
//!     _tags/<tag>                             the digest the tag points to
//!   uploads/<id>/repository                   the repository the session belongs to
//!   uploads/<id>/data                         the bytes received so far
//! ```
//!
//! Directory names starting with `_` cannot collide with repository name components, which
//! must start with a lowercase letter or digit. Every metadata file under `repositories/` is
//! written with [`content::atomic::write_file`]; blobs become visible only through a verified
//! [`content::ContentStore`] commit, so a crash leaves either the old or the new state. Upload
//! sessions are not durable until completion (their files are written without fsync).
//!
//! Visibility is per repository: a blob or manifest in the content store is served under
//! `<name>` only when `<name>` links it. API deletes remove links; [`crate::gc()`] reclaims
//! bytes.
//!
//! Online GC safety: every operation that makes a blob reachable (linking a finished upload or
//! a mount, pushing a manifest) holds the shared side of one `RwLock`; online GC holds the
//! exclusive side while it marks and sweeps, and never sweeps blobs modified within its grace
//! period (linking a blob touches its mtime). Upload sessions live outside the content store
//! and are purged by age ([`RegistryStore::purge_uploads`]).
//!
//! Not here yet: locking of concurrent PATCHes to one session (clients send one at a time),
//! and an index for referrers (they are found by scanning the repository's manifest links).

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use api::digest::{Algorithm, Hasher};
use api::Digest;
use content::atomic::write_file;
use content::ContentStore;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;
use crate::manifest::{parse_manifest, Descriptor};
use crate::name::{Reference, RepoName, Tag, UploadId};

const LAYERS: &str = "_layers";
const MANIFESTS: &str = "_manifests";
const TAGS: &str = "_tags";

/// Bytes appended to an upload between two requests to start writing them back to disk.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// What a repository records about one of its manifests.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestLink {
    /// Media type it is served with.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Its `subject`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Digest>,
    /// Artifact type for the referrers API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Top-level annotations, copied into referrers descriptors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A manifest as served.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Digest of the bytes.
    pub digest: Digest,
    /// Media type.
    pub media_type: String,
    /// The exact bytes pushed.
    pub bytes: Vec<u8>,
}

/// The outcome of a manifest push.
#[derive(Debug, Clone)]
pub struct PushedManifest {
    /// Digest of the bytes.
    pub digest: Digest,
    /// The manifest's subject, for the `OCI-Subject` header.
    pub subject: Option<Digest>,
}

/// The registry's storage rooted at one directory (see the module doc for the layout).
#[derive(Clone)]
pub struct RegistryStore {
    root: PathBuf,
    content: ContentStore,
    /// Taken shared by every operation that makes a blob reachable (blob link, manifest
    /// push) and exclusively by online GC's mark and sweep, so a push never interleaves with
    /// a sweep.
    gc_lock: Arc<RwLock<()>>,
    /// Upload sessions on disk (counted at open, kept up to date since).
    open_uploads: Arc<AtomicUsize>,
    /// sha256 state of sessions written in order since this process started, with the
    /// offset it covers: completion then needs no second read of the data.
    hashers: Arc<Mutex<HashMap<String, (Hasher, u64)>>>,
}

/// Exclusive hold on a data root (`<root>/.lock`, flock): one serving registry or one offline
/// GC at a time. Released on drop or when the process dies.
#[derive(Debug)]
pub struct RootLock {
    _lock: nix::fcntl::Flock<File>,
}

impl RootLock {
    /// Takes the lock, failing at once with [`RegistryError::Locked`] when it is held.
    pub fn acquire(root: &Path) -> Result<RootLock, RegistryError> {
        fs::create_dir_all(root).map_err(RegistryError::io("create directory", root))?;
        let path = root.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(RegistryError::io("open", &path))?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(RootLock { _lock: lock }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                Err(RegistryError::Locked(root.to_path_buf()))
            }
            Err((_, errno)) => Err(RegistryError::io("lock", &path)(errno.into())),
        }
    }
}

impl std::fmt::Debug for RegistryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryStore")
            .field("root", &self.root)
            .field("open_uploads", &self.open_uploads)
            .finish_non_exhaustive()
    }
}

impl RegistryStore {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<RegistryStore, RegistryError> {
        for d in [root.join("repositories"), root.join("uploads")] {
            fs::create_dir_all(&d).map_err(RegistryError::io("create directory", &d))?;
        }
        let content = ContentStore::new(&root.join("content"))?;
        let uploads = list_names(&root.join("uploads"))?.len();
        Ok(RegistryStore {
            root: root.to_path_buf(),
            content,
            gc_lock: Arc::new(RwLock::new(())),
            open_uploads: Arc::new(AtomicUsize::new(uploads)),
            hashers: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Shared side of the GC lock (see the field).
    fn push_guard(&self) -> RwLockReadGuard<'_, ()> {
        self.gc_lock.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Exclusive side of the GC lock, for online GC.
    pub(crate) fn gc_guard(&self) -> RwLockWriteGuard<'_, ()> {
        self.gc_lock.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Upload sessions in progress.
    pub fn uploads_in_progress(&self) -> usize {
        self.open_uploads.load(Ordering::Relaxed)
    }

    /// The store's root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The content store holding every blob and manifest.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    fn repo_dir(&self, name: &RepoName) -> PathBuf {
        self.root.join("repositories").join(name.as_str())
    }

    fn link_path(&self, name: &RepoName, kind: &str, digest: &Digest) -> PathBuf {
        self.repo_dir(name)
            .join(kind)
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    fn tag_path(&self, name: &RepoName, tag: &Tag) -> PathBuf {
        self.repo_dir(name).join(TAGS).join(tag.as_str())
    }

    fn upload_dir(&self, id: &UploadId) -> PathBuf {
        self.root.join("uploads").join(id.as_str())
    }

    fn write_meta(path: &Path, bytes: &[u8]) -> Result<(), RegistryError> {
        let dir = path.parent().expect("metadata path has a parent");
        fs::create_dir_all(dir).map_err(RegistryError::io("create directory", dir))?;
        write_file(path, bytes).map_err(RegistryError::io("write", path))
    }

    /// Whether `name` has any blob, manifest or tag.
    pub fn repository_exists(&self, name: &RepoName) -> bool {
        is_repository(&self.repo_dir(name))
    }

    // ---- blobs ----

    /// The size of a blob linked into `name`.
    pub fn blob_size(&self, name: &RepoName, digest: &Digest) -> Result<u64, RegistryError> {
        let unknown = || RegistryError::BlobUnknown {
            name: name.to_string(),
            digest: digest.clone(),
        };
        if !self.link_path(name, LAYERS, digest).is_file() {
            return Err(unknown());
        }
        self.content.size(digest).map_err(|e| match e {
            content::ContentError::NotFound(_) => unknown(),
            other => other.into(),
        })
    }

    /// Opens a blob linked into `name`, returning the file and its size.
    pub fn open_blob(
        &self,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<(File, u64), RegistryError> {
        let size = self.blob_size(name, digest)?;
        let file = self.content.open(digest).map_err(|e| match e {
            content::ContentError::NotFound(_) => RegistryError::BlobUnknown {
                name: name.to_string(),
                digest: digest.clone(),
            },
            other => other.into(),
        })?;
        Ok((file, size))
    }

    /// Links an existing blob into `name`, and marks the blob as recently used so online GC's
    /// grace period protects it until a manifest references it.
    fn link_blob(&self, name: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        let blob = self.content.blob_path(digest);
        if let Ok(f) = File::open(&blob) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        let link = self.link_path(name, LAYERS, digest);
        if link.is_file() {
            return Ok(());
        }
        Self::write_meta(
            &self.link_path(name, LAYERS, digest),
            digest.to_string().as_bytes(),
        )
    }

    /// Removes `name`'s link to a blob; the bytes stay until GC.
    pub fn delete_blob(&self, name: &RepoName, digest: &Digest) -> Result<(), RegistryError> {
        let p = self.link_path(name, LAYERS, digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(RegistryError::BlobUnknown {
                name: name.to_string(),
                digest: digest.clone(),
            }),
            Err(e) => Err(RegistryError::io("remove", &p)(e)),
        }
    }

    /// Cross-repository mount: links `digest` into `name` when `from` has it. Returns whether
    /// it did.
    pub fn mount_blob(
        &self,
        name: &RepoName,
        from: &RepoName,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let _guard = self.push_guard();
        match self.blob_size(from, digest) {
            Ok(_) => {
                self.link_blob(name, digest)?;
                Ok(true)
            }
            Err(RegistryError::BlobUnknown { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores a whole blob in one step (monolithic upload), verifying `digest`.
    pub fn put_blob(
        &self,
        name: &RepoName,
        digest: &Digest,
        reader: impl Read,
    ) -> Result<u64, RegistryError> {
        let (_, size) = self.content.ingest(reader, Some(digest))?;
        let _guard = self.push_guard();
        if !self.content.exists(digest) {
            // Swept between ingest and link (only possible with a zero grace period).
            return Err(RegistryError::UploadInvalid(
                "blob removed by gc; retry".into(),
            ));
        }
        self.link_blob(name, digest)?;
        Ok(size)
    }

    // ---- uploads ----

    /// Starts an upload session for `name`.
    pub fn start_upload(&self, name: &RepoName) -> Result<UploadId, RegistryError> {
        let id = UploadId::random()?;
        let dir = self.upload_dir(&id);
        fs::create_dir(&dir).map_err(RegistryError::io("create upload directory", &dir))?;
        let data = dir.join("data");
        File::create(&data).map_err(RegistryError::io("create", &data))?;
        // Not fsynced: a session does not survive a crash anyway (its data is not durable
        // until completion); a torn `repository` file makes the session unknown, and the purge
        // removes it.
        let owner = dir.join("repository");
        fs::write(&owner, name.as_str().as_bytes()).map_err(RegistryError::io("write", &owner))?;
        self.open_uploads.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// When a session started (the time its `repository` file was written).
    pub fn upload_started(&self, name: &RepoName, id: &UploadId) -> Option<std::time::SystemTime> {
        self.upload_data(name, id).ok()?;
        fs::metadata(self.upload_dir(id).join("repository"))
            .and_then(|m| m.modified())
            .ok()
    }

    /// Removes upload sessions whose data was last written more than `max_age` ago (all of
    /// them for a zero age). Returns how many were removed.
    pub fn purge_uploads(&self, max_age: std::time::Duration) -> Result<usize, RegistryError> {
        let base = self.root.join("uploads");
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for entry in list_names(&base)? {
            let dir = base.join(&entry);
            let newest = ["data", "repository", ""]
                .iter()
                .filter_map(|f| fs::metadata(dir.join(f)).and_then(|m| m.modified()).ok())
                .max();
            let stale = match newest {
                Some(t) => now.duration_since(t).unwrap_or_default() >= max_age,
                None => true,
            };
            if stale {
                match fs::remove_dir_all(&dir) {
                    Ok(()) => {
                        removed += 1;
                        let _ = self.open_uploads.fetch_update(
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                            |n| Some(n.saturating_sub(1)),
                        );
                        tracing::info!(upload = %entry, "purged stale upload session");
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(RegistryError::io("remove upload directory", &dir)(e)),
                }
            }
        }
        Ok(removed)
    }

    /// Bytes of blobs and manifests linked into each repository (a blob shared by several
    /// repositories counts in each).
    pub fn usage(&self) -> Result<Vec<(String, u64)>, RegistryError> {
        let mut out = Vec::new();
        for repo in self.repositories()? {
            let Ok(name) = repo.parse::<RepoName>() else {
                continue;
            };
            let mut total = 0u64;
            for d in self.blob_digests(&name)? {
                total += self.content.size(&d).unwrap_or(0);
            }
            for d in self.manifest_digests(&name)? {
                total += self.content.size(&d).unwrap_or(0);
            }
            out.push((repo, total));
        }
        Ok(out)
    }

    /// The data file of a session that belongs to `name`.
    fn upload_data(&self, name: &RepoName, id: &UploadId) -> Result<PathBuf, RegistryError> {
        let dir = self.upload_dir(id);
        match fs::read_to_string(dir.join("repository")) {
            Ok(owner) if owner == name.as_str() => Ok(dir.join("data")),
            Ok(_) => Err(RegistryError::UploadUnknown(id.to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(RegistryError::UploadUnknown(id.to_string()))
            }
            Err(e) => Err(RegistryError::io("read", dir.join("repository"))(e)),
        }
    }

    /// Bytes received so far by a session.
    pub fn upload_size(&self, name: &RepoName, id: &UploadId) -> Result<u64, RegistryError> {
        let data = self.upload_data(name, id)?;
        fs::metadata(&data)
            .map(|m| m.len())
            .map_err(RegistryError::io("stat", &data))
    }

    /// Appends `reader` to a session. With `start`, the chunk must begin where the upload
    /// ends ([`RegistryError::ChunkOutOfOrder`] otherwise). Returns the new size.
    ///
    /// The bytes are written and hashed straight from the reader's buffers, and writeback to
    /// disk is started every [`WRITEBACK_STEP`] bytes, so the one fsync at completion finds
    /// little left to write.
    pub fn append_upload(
        &self,
        name: &RepoName,
        id: &UploadId,
        start: Option<u64>,
        mut reader: impl BufRead,
    ) -> Result<u64, RegistryError> {
        let data = self.upload_data(name, id)?;
        let mut file = OpenOptions::new()
            .append(true)
            .open(&data)
            .map_err(RegistryError::io("open", &data))?;
        let size = file
            .metadata()
            .map_err(RegistryError::io("stat", &data))?
            .len();
        if let Some(start) = start {
            if start != size {
                return Err(RegistryError::ChunkOutOfOrder { start, size });
            }
        }
        // Continue the running hash when it covers exactly what is on disk.
        let mut hasher = match self
            .hashers
            .lock()
            .expect("hashers lock")
            .remove(id.as_str())
        {
            Some((h, at)) if at == size => Some(h),
            None if size == 0 => Some(Hasher::new(Algorithm::Sha256)),
            _ => None,
        };
        let mut total = size;
        let mut written_back = size;
        loop {
            let chunk = match reader.fill_buf() {
                Ok([]) => break,
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Keep the session consistent: drop what this failed chunk appended.
                    let _ = file.set_len(size);
                    return Err(RegistryError::UploadInvalid(format!(
                        "reading the request body: {e}"
                    )));
                }
            };
            if let Err(e) = file.write_all(chunk) {
                let _ = file.set_len(size);
                return Err(RegistryError::io("write", &data)(e));
            }
            if let Some(h) = hasher.as_mut() {
                h.update(chunk);
            }
            let n = chunk.len();
            reader.consume(n);
            total += n as u64;
            if total - written_back >= WRITEBACK_STEP {
                content::atomic::start_writeback(&file, written_back, total - written_back);
                written_back = total;
            }
        }
        // No fsync here: the data is made durable once, when the session completes; a crash
        // before that loses only an unfinished session (purged later). The tail's writeback
        // starts now, so it runs while the client sends the completing PUT.
        if total > written_back {
            content::atomic::start_writeback(&file, written_back, total - written_back);
        }
        if let Some(h) = hasher {
            self.hashers
                .lock()
                .expect("hashers lock")
                .insert(id.as_str().to_string(), (h, total));
        }
        Ok(total)
    }

    /// Finishes a session: verifies the whole content against `digest`, makes the blob
    /// visible in `name` and removes the session. A mismatch also ends the session.
    pub fn complete_upload(
        &self,
        name: &RepoName,
        id: &UploadId,
        digest: &Digest,
    ) -> Result<u64, RegistryError> {
        let data = self.upload_data(name, id)?;
        let running = self
            .hashers
            .lock()
            .expect("hashers lock")
            .remove(id.as_str());
        let on_disk = fs::metadata(&data)
            .map_err(RegistryError::io("stat", &data))?
            .len();
        let result = match running {
            // Fast path: the running hash covers the whole file; verify and rename it into
            // the content store without reading it again.
            Some((h, at)) if at == on_disk && digest.algorithm() == Algorithm::Sha256 => {
                let actual = h.finish();
                if actual == *digest {
                    self.content
                        .adopt_verified(&data, digest)
                        .map(|size| (actual, size))
                } else {
                    Err(content::ContentError::DigestMismatch {
                        expected: digest.clone(),
                        actual,
                    })
                }
            }
            _ => {
                let file = File::open(&data).map_err(RegistryError::io("open", &data))?;
                self.content.ingest(file, Some(digest))
            }
        };
        self.remove_upload(id)?;
        let (_, size) = result?;
        let _guard = self.push_guard();
        if !self.content.exists(digest) {
            return Err(RegistryError::UploadInvalid(
                "blob removed by gc; retry".into(),
            ));
        }
        self.link_blob(name, digest)?;
        Ok(size)
    }

    /// Cancels a session.
    pub fn cancel_upload(&self, name: &RepoName, id: &UploadId) -> Result<(), RegistryError> {
        self.upload_data(name, id)?;
        self.remove_upload(id)
    }

    fn remove_upload(&self, id: &UploadId) -> Result<(), RegistryError> {
        self.hashers
            .lock()
            .expect("hashers lock")
            .remove(id.as_str());
        let dir = self.upload_dir(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => {
                let _ = self
                    .open_uploads
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        Some(n.saturating_sub(1))
                    });
                Ok(())
            }
            // Purged concurrently.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RegistryError::io("remove upload directory", &dir)(e)),
        }
    }

    // ---- manifests ----

    /// Validates and stores a manifest under a tag or its digest.
    pub fn put_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
        bytes: &[u8],
        content_type: Option<&str>,
    ) -> Result<PushedManifest, RegistryError> {
        let parsed = parse_manifest(bytes, content_type)?;
        let _guard = self.push_guard();
        let digest = match reference {
            Reference::Digest(d) => {
                let mut h = api::digest::Hasher::new(d.algorithm());
                h.update(bytes);
                let actual = h.finish();
                if actual != *d {
                    return Err(RegistryError::DigestMismatch {
                        expected: d.clone(),
                        actual,
                    });
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(bytes),
        };
        for blob in &parsed.blobs {
            if !self.link_path(name, LAYERS, blob).is_file() || !self.content.exists(blob) {
                return Err(RegistryError::ManifestBlobUnknown {
                    what: "blob",
                    digest: blob.clone(),
                });
            }
        }
        for child in &parsed.children {
            if !self.link_path(name, MANIFESTS, child).is_file() {
                return Err(RegistryError::ManifestBlobUnknown {
                    what: "manifest",
                    digest: child.clone(),
                });
            }
        }
        if digest.algorithm() == Algorithm::Sha256 {
            self.content.put(bytes)?;
        } else {
            self.content.ingest(bytes, Some(&digest))?;
        }
        let link = ManifestLink {
            media_type: parsed.media_type,
            size: bytes.len() as u64,
            subject: parsed.subject.clone(),
            artifact_type: parsed.artifact_type,
            annotations: parsed.annotations,
        };
        let json = serde_json::to_vec(&link).expect("manifest link serializes");
        Self::write_meta(&self.link_path(name, MANIFESTS, &digest), &json)?;
        if let Reference::Tag(tag) = reference {
            Self::write_meta(&self.tag_path(name, tag), digest.to_string().as_bytes())?;
        }
        tracing::info!(repository = %name, digest = %digest, reference = %reference, "manifest pushed");
        Ok(PushedManifest {
            digest,
            subject: parsed.subject,
        })
    }

    fn read_link(
        &self,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<Option<ManifestLink>, RegistryError> {
        let p = self.link_path(name, MANIFESTS, digest);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
                RegistryError::io("parse manifest link", &p)(io::Error::new(
                    io::ErrorKind::InvalidData,
                    e,
                ))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RegistryError::io("read", &p)(e)),
        }
    }

    /// Resolves a reference to a digest linked in `name`.
    pub fn resolve(&self, name: &RepoName, reference: &Reference) -> Result<Digest, RegistryError> {
        let unknown = || RegistryError::ManifestUnknown {
            name: name.to_string(),
            reference: reference.to_string(),
        };
        match reference {
            Reference::Digest(d) => Ok(d.clone()),
            Reference::Tag(t) => {
                let p = self.tag_path(name, t);
                match fs::read_to_string(&p) {
                    Ok(s) => s.trim().parse().map_err(|_| unknown()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Err(unknown()),
                    Err(e) => Err(RegistryError::io("read", &p)(e)),
                }
            }
        }
    }

    /// A manifest by tag or digest.
    pub fn get_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<StoredManifest, RegistryError> {
        let unknown = || RegistryError::ManifestUnknown {
            name: name.to_string(),
            reference: reference.to_string(),
        };
        let digest = self.resolve(name, reference)?;
        let link = self.read_link(name, &digest)?.ok_or_else(unknown)?;
        let bytes = self.content.read(&digest).map_err(|e| match e {
            content::ContentError::NotFound(_) => unknown(),
            other => other.into(),
        })?;
        Ok(StoredManifest {
            digest,
            media_type: link.media_type,
            bytes,
        })
    }

    /// Deletes a tag (reference is a tag), or a manifest and every tag pointing to it
    /// (reference is a digest).
    pub fn delete_manifest(
        &self,
        name: &RepoName,
        reference: &Reference,
    ) -> Result<(), RegistryError> {
        let unknown = || RegistryError::ManifestUnknown {
            name: name.to_string(),
            reference: reference.to_string(),
        };
        let remove = |p: &Path| match fs::remove_file(p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(RegistryError::io("remove", p)(e)),
        };
        match reference {
            Reference::Tag(t) => {
                if !remove(&self.tag_path(name, t))? {
                    return Err(unknown());
                }
            }
            Reference::Digest(d) => {
                if !remove(&self.link_path(name, MANIFESTS, d))? {
                    return Err(unknown());
                }
                for tag in self.tags(name).unwrap_or_default() {
                    let tag: Tag = tag.parse().expect("stored tags are valid");
                    if self
                        .resolve(name, &Reference::Tag(tag.clone()))
                        .ok()
                        .as_ref()
                        == Some(d)
                    {
                        remove(&self.tag_path(name, &tag))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every tag of `name`, in byte order. [`RegistryError::NameUnknown`] when the repository
    /// does not exist.
    pub fn tags(&self, name: &RepoName) -> Result<Vec<String>, RegistryError> {
        if !self.repository_exists(name) {
            return Err(RegistryError::NameUnknown(name.to_string()));
        }
        let dir = self.repo_dir(name).join(TAGS);
        let mut tags: Vec<String> = list_names(&dir)?
            .into_iter()
            .filter(|t| crate::name::is_valid_tag(t))
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// Every repository, in byte order.
    pub fn repositories(&self) -> Result<Vec<String>, RegistryError> {
        let base = self.root.join("repositories");
        let mut out = Vec::new();
        let mut stack = vec![base.clone()];
        while let Some(dir) = stack.pop() {
            if dir != base && is_repository(&dir) {
                let rel = dir.strip_prefix(&base).expect("below base");
                out.push(rel.to_string_lossy().into_owned());
            }
            for child in list_names(&dir)? {
                if !child.starts_with('_') && !child.starts_with('.') {
                    let p = dir.join(&child);
                    if p.is_dir() {
                        stack.push(p);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Manifests in `name` whose subject is `subject`, as descriptors, optionally filtered by
    /// artifact type. Sorted by digest.
    pub fn referrers(
        &self,
        name: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        let mut out = Vec::new();
        for digest in self.manifest_digests(name)? {
            let Some(link) = self.read_link(name, &digest)? else {
                continue;
            };
            if link.subject.as_ref() != Some(subject) {
                continue;
            }
            if artifact_type.is_some() && link.artifact_type.as_deref() != artifact_type {
                continue;
            }
            out.push(Descriptor {
                media_type: link.media_type,
                digest,
                size: link.size,
                artifact_type: link.artifact_type,
                annotations: link.annotations,
                urls: None,
            });
        }
        Ok(out)
    }

    /// Digests of every manifest linked into `name`, sorted.
    pub fn manifest_digests(&self, name: &RepoName) -> Result<Vec<Digest>, RegistryError> {
        self.linked(name, MANIFESTS)
    }

    /// Digests of every blob linked into `name`, sorted.
    pub fn blob_digests(&self, name: &RepoName) -> Result<Vec<Digest>, RegistryError> {
        self.linked(name, LAYERS)
    }

    fn linked(&self, name: &RepoName, kind: &str) -> Result<Vec<Digest>, RegistryError> {
        let mut out = Vec::new();
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.repo_dir(name).join(kind).join(alg.as_str());
            for hex in list_names(&dir)? {
                if let Ok(d) = Digest::new(alg, &hex) {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes `name`'s link to a blob whose bytes are gone (used by GC). Returns whether a
    /// link was removed.
    pub(crate) fn unlink_blob_if_linked(
        &self,
        name: &RepoName,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        match self.delete_blob(name, digest) {
            Ok(()) => Ok(true),
            Err(RegistryError::BlobUnknown { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn is_repository(dir: &Path) -> bool {
    [LAYERS, MANIFESTS, TAGS]
        .iter()
        .any(|k| dir.join(k).is_dir())
}

/// File names in `dir`, skipping dot files (atomic-write temps); empty when `dir` is absent.
fn list_names(dir: &Path) -> Result<Vec<String>, RegistryError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RegistryError::io("read directory", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(RegistryError::io("read directory", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            out.push(name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::OCI_MANIFEST;
    use serde_json::json;

    fn repo(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    #[test]
    fn chunked_upload_then_manifest_then_delete() {
        let t = testkit::TempDir::new("registry-store");
        let s = RegistryStore::open(t.path()).unwrap();
        let name = repo("a/b");
        let id = s.start_upload(&name).unwrap();
        assert_eq!(s.upload_size(&name, &id).unwrap(), 0);
        assert_eq!(
            s.append_upload(&name, &id, Some(0), &b"hel"[..]).unwrap(),
            3
        );
        let e = s
            .append_upload(&name, &id, Some(0), &b"hel"[..])
            .unwrap_err();
        assert!(matches!(
            e,
            RegistryError::ChunkOutOfOrder { start: 0, size: 3 }
        ));
        assert_eq!(s.append_upload(&name, &id, None, &b"lo"[..]).unwrap(), 5);
        let d = Digest::sha256_of(b"hello");
        assert_eq!(s.complete_upload(&name, &id, &d).unwrap(), 5);
        assert!(matches!(
            s.upload_size(&name, &id),
            Err(RegistryError::UploadUnknown(_))
        ));
        assert_eq!(s.blob_size(&name, &d).unwrap(), 5);
        // Not visible in another repository.
        assert!(s.blob_size(&repo("other"), &d).is_err());

        let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": d, "size": 5}, "layers": []}).to_string();
        let tag = Reference::Tag("v1".parse().unwrap());
        let pushed = s
            .put_manifest(&name, &tag, m.as_bytes(), Some(OCI_MANIFEST))
            .unwrap();
        assert_eq!(pushed.digest, Digest::sha256_of(m.as_bytes()));
        assert_eq!(s.get_manifest(&name, &tag).unwrap().bytes, m.as_bytes());
        assert_eq!(s.tags(&name).unwrap(), vec!["v1"]);
        assert_eq!(s.repositories().unwrap(), vec!["a/b"]);
        s.delete_manifest(&name, &Reference::Digest(pushed.digest))
            .unwrap();
        assert!(s.get_manifest(&name, &tag).is_err());
        assert!(s.tags(&name).unwrap().is_empty());
    }

    #[test]
    fn large_chunked_upload_completes_from_the_running_hash() {
        // Chunks that cross the writeback step at odd offsets, read in small pieces.
        let t = testkit::TempDir::new("registry-store");
        let s = RegistryStore::open(t.path()).unwrap();
        let name = repo("big");
        let bytes: Vec<u8> = (0..19 * 1024 * 1024 + 5u32)
            .map(|i| (i * 7 % 253) as u8)
            .collect();
        let id = s.start_upload(&name).unwrap();
        let (first, second) = bytes.split_at(9 * 1024 * 1024 + 3);
        let piecewise = |b| io::BufReader::with_capacity(65_537, b);
        assert_eq!(
            s.append_upload(&name, &id, Some(0), piecewise(first))
                .unwrap(),
            first.len() as u64
        );
        assert_eq!(
            s.append_upload(&name, &id, Some(first.len() as u64), piecewise(second))
                .unwrap(),
            bytes.len() as u64
        );
        let d = Digest::sha256_of(&bytes);
        assert_eq!(
            s.complete_upload(&name, &id, &d).unwrap(),
            bytes.len() as u64
        );
        assert_eq!(s.content().read(&d).unwrap(), bytes);
        assert_eq!(s.uploads_in_progress(), 0);
    }

    #[test]
    fn wrong_digest_ends_the_session() {
        let t = testkit::TempDir::new("registry-store");
        let s = RegistryStore::open(t.path()).unwrap();
        let name = repo("x");
        let id = s.start_upload(&name).unwrap();
        s.append_upload(&name, &id, None, &b"abc"[..]).unwrap();
        let e = s
            .complete_upload(&name, &id, &Digest::sha256_of(b"xyz"))
            .unwrap_err();
        assert_eq!(e.code().as_str(), "DIGEST_INVALID");
        assert!(s.content().list().unwrap().is_empty());
        assert!(matches!(
            s.upload_size(&name, &id),
            Err(RegistryError::UploadUnknown(_))
        ));
    }

    #[test]
    fn session_of_another_repository_is_unknown() {
        let t = testkit::TempDir::new("registry-store");
        let s = RegistryStore::open(t.path()).unwrap();
        let id = s.start_upload(&repo("x")).unwrap();
        assert!(matches!(
            s.upload_size(&repo("y"), &id),
            Err(RegistryError::UploadUnknown(_))
        ));
    }
}
