//! Cache keys (reference §10). A step's key is a digest of: the parent state (image id or
//! snapshot id the step starts from), the instruction text after substitution (for RUN the
//! classic signature `|N K=V ... /bin/sh -c cmd`), the build args in scope, and for COPY/ADD a
//! content hash of the selected files.
//!
//! The file hash covers, per file: its path inside the copy, type, mode bits, uid, gid, link
//! target and content digest; **not** mtime (a `touch` keeps the cache, a `chmod` does not).
//! The executor stats and hashes files (IO); this module only combines the descriptions, so
//! it is pure and the same file set always gives the same key whatever order it was listed in.
//!
//! Keys are berth's own (content-addressed, like BuildKit's): they never equal Docker's ids.

use api::digest::{Algorithm, Hasher};
use api::Digest;

/// Bumped when the key layout changes, so old cache entries stop matching.
const KEY_VERSION: &[u8] = b"berth-build-cache-v1";

/// The type of a copied entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link (target in [`FileEntry::link_target`]).
    Symlink,
    /// Anything else (device, fifo): only metadata counts.
    Other,
}

/// One entry selected by a COPY/ADD, as the executor saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path relative to the copy's source root, `/`-separated.
    pub path: String,
    /// Type.
    pub kind: EntryKind,
    /// Permission bits (and setuid/setgid/sticky).
    pub mode: u32,
    /// Owner (0 for context files: the client sends everything as 0:0).
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Content digest of a regular file.
    pub content: Option<Digest>,
    /// Target of a symlink.
    pub link_target: Option<String>,
}

/// How Docker names a source set in history: one file, one directory, or several sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// `file:<hex>`.
    File,
    /// `dir:<hex>`.
    Dir,
    /// `multi:<hex>` (several sources or a wildcard).
    Multi,
}

fn put(h: &mut Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// The content hash of a file set: order-independent, mtime-free.
pub fn files_digest(files: &[FileEntry]) -> Digest {
    let mut sorted: Vec<&FileEntry> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path).then(a.kind.cmp(&b.kind)));
    let mut h = Hasher::new(Algorithm::Sha256);
    put(&mut h, b"files");
    for f in sorted {
        put(&mut h, f.path.as_bytes());
        put(&mut h, &[f.kind as u8]);
        put(&mut h, &f.mode.to_be_bytes());
        put(&mut h, &f.uid.to_be_bytes());
        put(&mut h, &f.gid.to_be_bytes());
        put(
            &mut h,
            f.content
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
        put(&mut h, f.link_target.as_deref().unwrap_or("").as_bytes());
    }
    h.finish()
}

/// The history form of a source hash: `file:<hex>`, `dir:<hex>`, `multi:<hex>`.
pub fn source_description(kind: SourceKind, digest: &Digest) -> String {
    let prefix = match kind {
        SourceKind::File => "file",
        SourceKind::Dir => "dir",
        SourceKind::Multi => "multi",
    };
    format!("{prefix}:{}", digest.hex())
}

/// What a step's cache key is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheInput<'a> {
    /// The state the step starts from: the parent image id, or `""` for `scratch`.
    pub parent: &'a str,
    /// The instruction after substitution (for RUN: [`crate::dispatch::RunStep::created_by`];
    /// for metadata steps their history text).
    pub instruction: &'a str,
    /// `K=V` build args in scope (RUN), in any order.
    pub build_args: &'a [String],
    /// COPY/ADD: [`files_digest`] of the selected files.
    pub files: Option<&'a Digest>,
}

/// The cache key of a step.
pub fn step_key(input: &CacheInput<'_>) -> Digest {
    let mut args: Vec<&String> = input.build_args.iter().collect();
    args.sort();
    let mut h = Hasher::new(Algorithm::Sha256);
    put(&mut h, KEY_VERSION);
    put(&mut h, input.parent.as_bytes());
    put(&mut h, input.instruction.as_bytes());
    put(&mut h, &(args.len() as u64).to_be_bytes());
    for a in args {
        put(&mut h, a.as_bytes());
    }
    put(
        &mut h,
        input
            .files
            .map(|d| d.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &[u8], mode: u32) -> FileEntry {
        FileEntry {
            path: path.into(),
            kind: EntryKind::File,
            mode,
            uid: 0,
            gid: 0,
            content: Some(Digest::sha256_of(content)),
            link_target: None,
        }
    }

    #[test]
    fn file_hash_ignores_order_but_not_mode_or_content() {
        // "| touch (mtime only) | still fully cached |", "| chmod | that COPY ... re-run |",
        // "| content restored to the earlier bytes | the first build's chain is reused |"
        let a = files_digest(&[file("a", b"1", 0o644), file("b", b"2", 0o644)]);
        assert_eq!(
            a,
            files_digest(&[file("b", b"2", 0o644), file("a", b"1", 0o644)])
        );
        assert_ne!(
            a,
            files_digest(&[file("a", b"1", 0o600), file("b", b"2", 0o644)])
        );
        assert_ne!(
            a,
            files_digest(&[file("a", b"x", 0o644), file("b", b"2", 0o644)])
        );
        assert_ne!(
            a,
            files_digest(&[file("c", b"1", 0o644), file("b", b"2", 0o644)])
        );
        let mut owned = file("a", b"1", 0o644);
        owned.uid = 1000;
        assert_ne!(
            files_digest(&[owned.clone()]),
            files_digest(&[file("a", b"1", 0o644)])
        );
        assert_eq!(
            source_description(SourceKind::File, &a),
            format!("file:{}", a.hex())
        );
    }

    #[test]
    fn step_key_depends_on_every_input() {
        // "| --build-arg V=2 where ARG V is declared | every RUN after the ARG line re-runs |"
        let d = Digest::sha256_of(b"files");
        let base = CacheInput {
            parent: "sha256:p",
            instruction: "/bin/sh -c true",
            build_args: &["V=1".to_string()],
            files: None,
        };
        let k = step_key(&base);
        assert_eq!(k, step_key(&base));
        assert_ne!(
            k,
            step_key(&CacheInput {
                parent: "sha256:q",
                ..base
            })
        );
        assert_ne!(
            k,
            step_key(&CacheInput {
                instruction: "/bin/sh -c false",
                ..base
            })
        );
        assert_ne!(
            k,
            step_key(&CacheInput {
                build_args: &["V=2".to_string()],
                ..base
            })
        );
        assert_ne!(
            k,
            step_key(&CacheInput {
                files: Some(&d),
                ..base
            })
        );
        let two = ["A=1".to_string(), "B=2".to_string()];
        let swapped = ["B=2".to_string(), "A=1".to_string()];
        assert_eq!(
            step_key(&CacheInput {
                build_args: &two,
                ..base
            }),
            step_key(&CacheInput {
                build_args: &swapped,
                ..base
            })
        );
    }
}
