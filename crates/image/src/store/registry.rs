//! The store's side of registry pulls and pushes: blobs arrive in the content store (the
//! distribution client writes them, digest-verified), layers are unpacked from there one by
//! one, and the image is recorded last, under the lock, after checking that every blob and
//! layer snapshot it needs is still present.

use std::collections::BTreeSet;
use std::io::{self, BufReader, Read};

use api::digest::{Algorithm, HashingReader};
use api::image::ImageConfig;
use api::{Digest, ImageRef};
use content::ContentStore;
use snapshot::SnapshotError;

use super::{resolve_in, ImageInfo, ImageRecord, ImageStore, EXTRACT_PREFIX};
use crate::{decompress, unpack_layer, ImageError, UnpackError};

/// An image whose blobs are all in the content store, ready to be recorded.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The (platform) manifest, as the registry served it.
    pub manifest: Vec<u8>,
    /// The config blob.
    pub config: Vec<u8>,
    /// Layer blob digests, base first (each unpacked with [`ImageStore::unpack_blob`]).
    pub layers: Vec<Digest>,
    /// The tag to point at the image.
    pub tag: Option<ImageRef>,
    /// The digest reference the image was pulled by (`repo@<index or manifest digest>`).
    pub repo_digest: Option<ImageRef>,
    /// Canonical repository it came from (`127.0.0.1:5000/bb`).
    pub source: String,
}

/// What a push needs from the store.
#[derive(Debug, Clone)]
pub struct PushSource {
    /// The image id.
    pub id: Digest,
    /// Its manifest bytes, pushed unchanged (so its digest stays the same).
    pub manifest: Vec<u8>,
    /// Canonical repository the image was pulled from or last pushed to.
    pub source: Option<String>,
}

fn bad(msg: String) -> ImageError {
    ImageError::Archive(msg)
}

impl ImageStore {
    /// The content store holding blobs.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// Whether the layer snapshot `chain_id` exists.
    pub fn has_layer(&self, chain_id: &Digest) -> bool {
        self.snapshots.stat(&chain_id.to_string()).is_ok()
    }

    /// Unpacks layer blob `blob` (already in the content store) as snapshot `chain_id` on
    /// `parent`, verifying the uncompressed stream against `diff_id`. Returns `false` when the
    /// snapshot already existed. `on_read` is told how many blob bytes were read so far.
    pub fn unpack_blob(
        &self,
        blob: &Digest,
        diff_id: &Digest,
        chain_id: &Digest,
        parent: Option<&Digest>,
        on_read: &mut dyn FnMut(u64),
    ) -> Result<bool, ImageError> {
        if self.has_layer(chain_id) {
            return Ok(false);
        }
        let key = format!("{EXTRACT_PREFIX}{}", content::atomic::unique_suffix());
        self.snapshots
            .prepare(&key, parent.map(Digest::to_string).as_deref())?;
        let result = (|| {
            let file = self.content.open(blob)?;
            let counting = Counting {
                inner: BufReader::with_capacity(256 << 10, file),
                read: 0,
                on_read,
            };
            let (_, dec) = decompress(counting)?;
            let mut hashing = HashingReader::new(dec, Algorithm::Sha256);
            let target = self.snapshots.apply_target(&key)?;
            unpack_layer(&mut hashing, &target.dir, target.whiteouts)?;
            io::copy(&mut hashing, &mut io::sink()).map_err(UnpackError::Read)?;
            let (got, _, _) = hashing.finish();
            if &got != diff_id {
                return Err(bad(format!(
                    "layer {blob} does not match its diff id {diff_id} (got {got})"
                )));
            }
            match self.snapshots.commit(&chain_id.to_string(), &key) {
                Ok(()) => Ok(true),
                Err(SnapshotError::AlreadyExists(_)) => {
                    self.snapshots.remove(&key)?;
                    Ok(false)
                }
                Err(e) => Err(e.into()),
            }
        })();
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

    /// Records a pulled image and its tag. Returns the image and whether anything changed
    /// (a new image, or the tag moved), which decides Docker's "Downloaded newer image" vs
    /// "Image is up to date".
    pub fn record_pulled(&self, p: PulledImage) -> Result<(ImageInfo, bool), ImageError> {
        self.record_image(p, None)
    }

    /// [`Self::record_pulled`] for an image made here from `parent` (a commit or build step).
    pub(crate) fn record_image(
        &self,
        p: PulledImage,
        parent: Option<&Digest>,
    ) -> Result<(ImageInfo, bool), ImageError> {
        let config: ImageConfig = serde_json::from_slice(&p.config)
            .map_err(|e| bad(format!("invalid image config: {e}")))?;
        let id = Digest::sha256_of(&p.config);
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != p.layers.len() {
            return Err(bad(format!(
                "image {id} has {} layers but its config lists {} diff ids",
                p.layers.len(),
                diff_ids.len()
            )));
        }
        let chain: Vec<Digest> = (0..diff_ids.len())
            .map(|i| api::image::chain_id(&diff_ids[..=i]).expect("non-empty"))
            .collect();
        let manifest_digest = Digest::sha256_of(&p.manifest);
        let mut state = self.lock();
        if chain.iter().any(|c| !self.has_layer(c))
            || p.layers.iter().any(|b| !self.content.exists(b))
        {
            return Err(bad(
                "a layer was removed while the image was being pulled: try again".to_string(),
            ));
        }
        for bytes in [&p.config, &p.manifest] {
            if !self.content.exists(&Digest::sha256_of(bytes)) {
                self.content.put(bytes)?;
            }
        }
        let mut size = 0;
        for c in &chain {
            size += self.snapshots.usage(&c.to_string())?.size;
        }
        let mut next = state.clone();
        let existed = next.images.contains_key(&id);
        let rec = next
            .images
            .entry(id.clone())
            .or_insert_with(|| ImageRecord {
                manifest: manifest_digest,
                layers: p.layers.clone(),
                chain: chain.clone(),
                created: config
                    .created
                    .clone()
                    .unwrap_or_else(|| api::time::ZERO_TIME.to_string()),
                size,
                repo_digests: BTreeSet::new(),
                source: None,
                parent: parent.cloned(),
            });
        let mut changed = !existed;
        if let Some(r) = &p.repo_digest {
            if let Some(d) = r.digest() {
                changed |= rec.repo_digests.insert(format!("{}@{d}", r.repository()));
            }
        }
        if parent.is_none() {
            rec.source = Some(p.source.clone());
        }
        if let Some(t) = &p.tag {
            changed |= next.tags.insert(t.clone(), id.clone()).as_ref() != Some(&id);
        }
        self.save(&next)?;
        *state = next;
        let info = state.info(&id, &state.images[&id]);
        tracing::info!(image = %id, tag = ?p.tag.as_ref().map(ImageRef::familiar), "pulled image");
        Ok((info, changed))
    }

    /// The image `name` and its manifest, for a push.
    pub fn push_source(&self, name: &str) -> Result<PushSource, ImageError> {
        let (id, manifest_digest, source) = {
            let state = self.lock();
            let (id, _) = resolve_in(&state, name)?;
            let rec = &state.images[&id];
            (id.clone(), rec.manifest.clone(), rec.source.clone())
        };
        let manifest = self.content.read(&manifest_digest)?;
        Ok(PushSource {
            id,
            manifest,
            source,
        })
    }

    /// Records that image `id` is in the registry as `repository@digest` (after a push).
    pub fn add_repo_digest(
        &self,
        id: &Digest,
        repository: &str,
        digest: &Digest,
    ) -> Result<(), ImageError> {
        let mut state = self.lock();
        let mut next = state.clone();
        let Some(rec) = next.images.get_mut(id) else {
            return Err(ImageError::NotFound(id.to_string()));
        };
        rec.repo_digests.insert(format!("{repository}@{digest}"));
        rec.source = Some(repository.to_string());
        self.save(&next)?;
        *state = next;
        Ok(())
    }
}

/// Counts the bytes read through it.
struct Counting<'a, R> {
    inner: R,
    read: u64,
    on_read: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.on_read)(self.read);
        Ok(n)
    }
}
