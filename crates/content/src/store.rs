//! [`ContentStore`]: blobs by digest on the local filesystem.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use api::digest::Algorithm;
use api::Digest;

use crate::atomic::unique_suffix;
use crate::{ContentError, Writer};

/// A content-addressed blob store rooted at one directory (see the crate doc for the layout).
/// Cheap to clone; clones share the directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the store at `root` and removes stray ingest temp files left
    /// by a crash.
    pub fn new(root: &Path) -> Result<ContentStore, ContentError> {
        for d in [
            root.join("blobs/sha256"),
            root.join("blobs/sha512"),
            root.join("ingest"),
        ] {
            fs::create_dir_all(&d).map_err(ContentError::io("create directory", &d))?;
        }
        let ingest = root.join("ingest");
        let entries = fs::read_dir(&ingest).map_err(ContentError::io("read directory", &ingest))?;
        for entry in entries {
            let path = entry
                .map_err(ContentError::io("read directory", &ingest))?
                .path();
            tracing::info!(path = %path.display(), "removing stray ingest file");
            fs::remove_file(&path).map_err(ContentError::io("remove stray ingest file", &path))?;
        }
        Ok(ContentStore {
            root: root.to_path_buf(),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// A writer hashing with sha256.
    pub fn writer(&self) -> Result<Writer, ContentError> {
        self.writer_with(Algorithm::Sha256)
    }

    /// A writer hashing with `algorithm`.
    pub fn writer_with(&self, algorithm: Algorithm) -> Result<Writer, ContentError> {
        let temp = self.root.join("ingest").join(unique_suffix());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp)
            .map_err(ContentError::io("create temp file", &temp))?;
        Ok(Writer::new(self.clone(), temp, file, algorithm))
    }

    /// Streams `reader` into the store, verifying the digest when `expected` is given (and
    /// hashing with its algorithm). Returns the digest and size.
    pub fn ingest(
        &self,
        reader: impl Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64), ContentError> {
        let mut w =
            self.writer_with(expected.map(|d| d.algorithm()).unwrap_or(Algorithm::Sha256))?;
        copy_into(reader, &mut w)?;
        w.commit(expected)
    }

    /// Like [`ContentStore::ingest`] with both digest and size known (a descriptor).
    pub fn ingest_exact(
        &self,
        reader: impl Read,
        expected: &Digest,
        size: u64,
    ) -> Result<(Digest, u64), ContentError> {
        let mut w = self.writer_with(expected.algorithm())?;
        // Read one byte past the expected size so an over-long stream is caught.
        copy_into(reader.take(size.saturating_add(1)), &mut w)?;
        w.commit_exact(expected, size)
    }

    /// Moves a file whose bytes the caller has already hashed to `digest` into the store by
    /// rename (it must be on the store's filesystem), making it durable first. When the blob
    /// exists already, it is kept and `path` is removed. Returns the size.
    pub fn adopt_verified(&self, path: &Path, digest: &Digest) -> Result<u64, ContentError> {
        let file = File::open(path).map_err(ContentError::io("open", path))?;
        file.sync_all().map_err(ContentError::io("fsync", path))?;
        let size = file
            .metadata()
            .map_err(ContentError::io("stat", path))?
            .len();
        drop(file);
        let target = self.blob_path(digest);
        if target.exists() {
            fs::remove_file(path).map_err(ContentError::io("remove", path))?;
            return Ok(size);
        }
        let dir = target.parent().expect("blob path has a parent");
        fs::create_dir_all(dir).map_err(ContentError::io("create blob directory", dir))?;
        fs::rename(path, &target).map_err(ContentError::io("rename blob into place", &target))?;
        crate::atomic::sync_dir(dir).map_err(ContentError::io("fsync blob directory", dir))?;
        Ok(size)
    }

    /// Stores bytes held in memory (a manifest, a config).
    pub fn put(&self, bytes: &[u8]) -> Result<Digest, ContentError> {
        Ok(self.ingest(bytes, None)?.0)
    }

    /// Opens a blob for reading.
    pub fn open(&self, digest: &Digest) -> Result<File, ContentError> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| not_found_or(e, digest, "open blob", &p))
    }

    /// Reads a whole blob into memory (for small JSON documents).
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let p = self.blob_path(digest);
        fs::read(&p).map_err(|e| not_found_or(e, digest, "read blob", &p))
    }

    /// Whether a blob is present.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A blob's size in bytes.
    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let p = self.blob_path(digest);
        fs::metadata(&p)
            .map(|m| m.len())
            .map_err(|e| not_found_or(e, digest, "stat blob", &p))
    }

    /// Deletes a blob. Deleting an absent blob is [`ContentError::NotFound`].
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let p = self.blob_path(digest);
        fs::remove_file(&p).map_err(|e| not_found_or(e, digest, "delete blob", &p))?;
        let dir = p.parent().expect("blob path has a parent");
        crate::atomic::sync_dir(dir).map_err(ContentError::io("fsync blob directory", dir))
    }

    /// Every blob's digest, sorted.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let mut out = Vec::new();
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join("blobs").join(alg.as_str());
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ContentError::io("read directory", &dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(ContentError::io("read directory", &dir))?;
                if let Ok(d) = Digest::new(alg, &entry.file_name().to_string_lossy()) {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

fn copy_into(mut reader: impl Read, w: &mut Writer) -> Result<u64, ContentError> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ContentError::Read(e)),
        };
        io::Write::write_all(w, &buf[..n]).map_err(|e| ContentError::Io {
            op: "write temp file",
            path: PathBuf::from("ingest"),
            source: e,
        })?;
        total += n as u64;
    }
}

fn not_found_or(e: io::Error, digest: &Digest, op: &'static str, path: &Path) -> ContentError {
    if e.kind() == io::ErrorKind::NotFound {
        ContentError::NotFound(digest.clone())
    } else {
        ContentError::Io {
            op,
            path: path.to_path_buf(),
            source: e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::ErrorKind;
    use std::io::Write;

    fn ingest_files(store: &ContentStore) -> usize {
        fs::read_dir(store.root().join("ingest")).unwrap().count()
    }

    #[test]
    fn ingest_stores_under_digest_and_reads_back() {
        let d = testkit::TempDir::new("content");
        let s = ContentStore::new(d.path()).unwrap();
        let (digest, size) = s.ingest(&b"hello"[..], None).unwrap();
        assert_eq!(digest, Digest::sha256_of(b"hello"));
        assert_eq!(size, 5);
        assert!(s.exists(&digest));
        assert_eq!(s.size(&digest).unwrap(), 5);
        assert_eq!(s.read(&digest).unwrap(), b"hello");
        let mut text = String::new();
        s.open(&digest).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
        assert_eq!(s.list().unwrap(), vec![digest.clone()]);
        assert!(d.path().join("blobs/sha256").join(digest.hex()).is_file());
        // Ingesting the same bytes again is fine.
        assert_eq!(s.ingest(&b"hello"[..], Some(&digest)).unwrap().0, digest);
        assert_eq!(ingest_files(&s), 0);
    }

    #[test]
    fn ingest_with_wrong_digest_stores_nothing() {
        let d = testkit::TempDir::new("content");
        let s = ContentStore::new(d.path()).unwrap();
        let wrong = Digest::sha256_of(b"other");
        let err = s.ingest(&b"hello"[..], Some(&wrong)).unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err
            .to_string()
            .starts_with(&format!("digest mismatch: expected {wrong}, got sha256:")));
        assert!(s.list().unwrap().is_empty());
        assert_eq!(ingest_files(&s), 0);
    }

    #[test]
    fn ingest_exact_checks_size() {
        let d = testkit::TempDir::new("content");
        let s = ContentStore::new(d.path()).unwrap();
        let digest = Digest::sha256_of(b"hello");
        assert!(s.ingest_exact(&b"hello"[..], &digest, 5).is_ok());
        let err = s.ingest_exact(&b"hello world"[..], &digest, 5).unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }), "{err}");
        assert_eq!(ingest_files(&s), 0);
    }

    #[test]
    fn sha512_is_supported() {
        let d = testkit::TempDir::new("content");
        let s = ContentStore::new(d.path()).unwrap();
        let mut w = s.writer_with(Algorithm::Sha512).unwrap();
        w.write_all(b"x").unwrap();
        let (digest, _) = w.commit(None).unwrap();
        assert_eq!(digest.algorithm(), Algorithm::Sha512);
        assert!(d.path().join("blobs/sha512").join(digest.hex()).is_file());
        assert_eq!(s.ingest(&b"x"[..], Some(&digest)).unwrap().0, digest);
    }

    #[test]
    fn writer_dropped_without_commit_leaves_nothing() {
        let d = testkit::TempDir::new("content");
        let s = ContentStore::new(d.path()).unwrap();
        let mut w = s.writer().unwrap();
        w.write_all(b"partial").unwrap();
        assert_eq!(ingest_files(&s), 1);
        drop(w);
        assert_eq!(ingest_files(&s), 0);
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn failing_reader_stores_nothing() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"))
            }
        }
        let d = testkit::TempDir::new("content");
        let s = ContentStore::new(d.path()).unwrap();
        let err = s.ingest(Broken, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(ingest_files(&s), 0);
    }

    #[test]
    fn startup_removes_stray_temps() {
        let d = testkit::TempDir::new("content");
        let s = ContentStore::new(d.path()).unwrap();
        let mut w = s.writer().unwrap();
        w.write_all(b"x").unwrap();
        std::mem::forget(w); // a crash: the temp stays
        assert_eq!(ingest_files(&s), 1);
        let s = ContentStore::new(d.path()).unwrap();
        assert_eq!(ingest_files(&s), 0);
    }

    #[test]
    fn missing_blobs_are_not_found() {
        let d = testkit::TempDir::new("content");
        let s = ContentStore::new(d.path()).unwrap();
        let digest = Digest::sha256_of(b"nope");
        assert!(!s.exists(&digest));
        for err in [
            s.open(&digest).unwrap_err(),
            s.size(&digest).unwrap_err(),
            s.delete(&digest).unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert_eq!(err.to_string(), format!("blob {digest} not found"));
        }
        let (dg, _) = s.ingest(&b"nope"[..], None).unwrap();
        s.delete(&dg).unwrap();
        assert!(!s.exists(&dg));
    }

    #[test]
    fn large_blob_written_in_small_pieces_commits_intact() {
        // Crosses the writer's writeback step several times with writes that do not line up
        // with it or with the write buffer.
        let d = testkit::TempDir::new("content");
        let s = ContentStore::new(d.path()).unwrap();
        let bytes: Vec<u8> = (0..20 * 1024 * 1024 + 777u32)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let mut w = s.writer().unwrap();
        for piece in bytes.chunks(100_003) {
            w.write_all(piece).unwrap();
        }
        let expected = Digest::sha256_of(&bytes);
        let (digest, size) = w.commit_exact(&expected, bytes.len() as u64).unwrap();
        assert_eq!(digest, expected);
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(s.read(&digest).unwrap(), bytes);
        assert_eq!(ingest_files(&s), 0);
    }
}
