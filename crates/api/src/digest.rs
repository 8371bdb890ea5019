//! Content digests. (owned by the image work; filled in below)
