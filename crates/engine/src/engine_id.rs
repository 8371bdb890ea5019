//! The engine's persistent ID (`info`'s `ID`): a random UUID kept in `<root>/engine-id`, as
//! dockerd keeps its own. Made once, on the first start with a new root; every later start
//! reads it back, so it identifies this data root across daemon restarts.

use std::io::{self, Read};
use std::path::Path;

/// The file under the data root.
pub const FILE: &str = "engine-id";

/// Reads `<root>/engine-id`, creating it (atomically: a crash leaves no partial file) when it
/// is missing or does not hold a UUID.
pub fn load_or_create(root: &Path) -> io::Result<String> {
    let path = root.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if is_uuid(s.trim()) => return Ok(s.trim().to_string()),
        Ok(_) => tracing::warn!(path = %path.display(), "replacing an invalid engine ID"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let id = new_uuid()?;
    content::atomic::write_file(&path, id.as_bytes())?;
    Ok(id)
}

/// A random (version 4) UUID in its usual text form.
fn new_uuid() -> io::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_and_read_back() {
        let dir = testkit::TempDir::new("engine-id");
        let a = load_or_create(dir.path()).unwrap();
        assert!(is_uuid(&a), "{a}");
        assert_eq!(&a[14..15], "4");
        assert_eq!(load_or_create(dir.path()).unwrap(), a);
        assert_eq!(std::fs::read_to_string(dir.path().join(FILE)).unwrap(), a);
        // A damaged file is replaced by a new valid ID.
        std::fs::write(dir.path().join(FILE), "garbage").unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert!(is_uuid(&b) && b != a);
    }

    #[test]
    fn ids_differ() {
        assert_ne!(new_uuid().unwrap(), new_uuid().unwrap());
    }
}
