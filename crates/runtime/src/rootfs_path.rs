//! Resolving container paths inside a root filesystem without ever leaving it.

use std::path::{Component, Path, PathBuf};

/// Joins `path` (as seen inside the container) onto `root`, resolving symlinks as the container
/// would: absolute link targets restart at `root`, `..` never climbs above `root`. Missing
/// components are appended as they are. At most 255 links are followed.
pub fn secure_join(root: &Path, path: &str) -> PathBuf {
    let mut resolved = PathBuf::new(); // relative to root
    let mut pending: Vec<std::ffi::OsString> = Path::new(path)
        .components()
        .rev()
        .filter_map(component_name)
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let full = root.join(&candidate);
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() && links < 255 => {
                links += 1;
                let Ok(target) = std::fs::read_link(&full) else {
                    resolved = candidate;
                    continue;
                };
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                for c in target.components().rev().filter_map(component_name) {
                    pending.push(c);
                }
            }
            _ => resolved = candidate,
        }
    }
    root.join(resolved)
}

fn component_name(c: Component<'_>) -> Option<std::ffi::OsString> {
    match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let d = testkit::TempDir::new("securejoin");
        let root = d.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        symlink("/etc/shadow", root.join("etc/escape")).unwrap();
        symlink("../../../../etc", root.join("up")).unwrap();
        assert_eq!(secure_join(root, "/etc/escape"), root.join("etc/shadow"));
        assert_eq!(secure_join(root, "up/passwd"), root.join("etc/passwd"));
        assert_eq!(secure_join(root, "/../../x"), root.join("x"));
        assert_eq!(secure_join(root, "/a/b"), root.join("a/b"));
    }
}
