//! [`Writer`]: a blob being written, hashed as it goes, committed under its digest.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;

use api::digest::{Algorithm, Hasher};
use api::Digest;

use crate::atomic::{start_writeback, sync_dir};
use crate::store::ContentStore;
use crate::ContentError;

/// An in-flight blob. Write bytes with [`io::Write`], then [`Writer::commit`]. Dropping a
/// writer without committing removes its temp file.
pub struct Writer {
    store: ContentStore,
    temp: PathBuf,
    file: Option<io::BufWriter<File>>,
    hasher: Option<Hasher>,
    written: u64,
    /// Bytes whose writeback to disk has been started (see [`WRITEBACK_STEP`]).
    written_back: u64,
}

/// Bytes written between two requests to start their writeback, so the fsync at commit
/// finds little left to write.
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

impl Writer {
    pub(crate) fn new(
        store: ContentStore,
        temp: PathBuf,
        file: File,
        algorithm: Algorithm,
    ) -> Writer {
        Writer {
            store,
            temp,
            file: Some(io::BufWriter::with_capacity(128 * 1024, file)),
            hasher: Some(Hasher::new(algorithm)),
            written: 0,
            written_back: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies the digest (when `expected` is given), makes the blob durable and visible, and
    /// returns its digest and size. On a mismatch nothing is stored.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64), ContentError> {
        self.commit_inner(expected, None)
    }

    /// Like [`Writer::commit`], also requiring exactly `size` bytes.
    pub fn commit_exact(self, expected: &Digest, size: u64) -> Result<(Digest, u64), ContentError> {
        self.commit_inner(Some(expected), Some(size))
    }

    fn commit_inner(
        mut self,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<(Digest, u64), ContentError> {
        let mut file = self.file.take().expect("writer file present until commit");
        file.flush()
            .map_err(ContentError::io("write temp file", &self.temp))?;
        let file = file.into_inner().map_err(|e| ContentError::Io {
            op: "write temp file",
            path: self.temp.clone(),
            source: e.into_error(),
        })?;
        file.sync_all()
            .map_err(ContentError::io("fsync temp file", &self.temp))?;
        drop(file);
        let actual = self
            .hasher
            .take()
            .expect("hasher present until commit")
            .finish();
        if let Some(exp) = expected {
            if *exp != actual {
                return Err(ContentError::DigestMismatch {
                    expected: exp.clone(),
                    actual,
                });
            }
        }
        if let Some(s) = size {
            if s != self.written {
                return Err(ContentError::SizeMismatch {
                    digest: actual,
                    expected: s,
                    actual: self.written,
                });
            }
        }
        let target = self.store.blob_path(&actual);
        if target.exists() {
            // Same digest, same bytes: keep the existing blob.
            return Ok((actual, self.written));
        }
        let dir = target
            .parent()
            .expect("blob path has a parent")
            .to_path_buf();
        fs::create_dir_all(&dir).map_err(ContentError::io("create blob directory", &dir))?;
        fs::rename(&self.temp, &target)
            .map_err(ContentError::io("rename blob into place", &target))?;
        sync_dir(&dir).map_err(ContentError::io("fsync blob directory", &dir))?;
        tracing::debug!(digest = %actual, size = self.written, "blob committed");
        Ok((actual, self.written))
    }
}

impl io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("writer already committed"))?;
        let n = file.write(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        self.written += n as u64;
        if self.written - self.written_back >= WRITEBACK_STEP {
            // What is still buffered is left for the next step.
            let unbuffered = self.written - file.buffer().len() as u64;
            if unbuffered > self.written_back {
                start_writeback(
                    file.get_ref(),
                    self.written_back,
                    unbuffered - self.written_back,
                );
                self.written_back = unbuffered;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // After a successful commit the temp was renamed away and this is a no-op.
        self.file = None;
        if let Err(e) = fs::remove_file(&self.temp) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %self.temp.display(), error = %e, "could not remove ingest temp file");
            }
        }
    }
}
