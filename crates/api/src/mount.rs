//! A filesystem mount described as data: what a snapshotter returns and the shim performs.

use serde::{Deserialize, Serialize};

/// One mount, in the shape of mount(8): `mount -t TYPE -o OPTIONS SOURCE TARGET`.
/// The target is chosen by whoever performs the mount (the shim mounts a container's root at
/// its bundle's `rootfs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Filesystem type: `overlay` or `bind`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Mount source: `overlay` for overlayfs, a directory for a bind mount.
    pub source: String,
    /// Options as mount(8) takes them (`lowerdir=...`, `upperdir=...`, `workdir=...`, `rbind`, `ro`).
    pub options: Vec<String>,
}

/// mount(8)'s flag words: (word, clears instead of sets, the flag bits).
const FLAG_WORDS: &[(&str, bool, libc::c_ulong)] = &[
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("nosuid", false, libc::MS_NOSUID),
    ("suid", true, libc::MS_NOSUID),
    ("nodev", false, libc::MS_NODEV),
    ("dev", true, libc::MS_NODEV),
    ("noexec", false, libc::MS_NOEXEC),
    ("exec", true, libc::MS_NOEXEC),
    ("sync", false, libc::MS_SYNCHRONOUS),
    ("async", true, libc::MS_SYNCHRONOUS),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("remount", false, libc::MS_REMOUNT),
    ("mand", false, libc::MS_MANDLOCK),
    ("nomand", true, libc::MS_MANDLOCK),
    ("noatime", false, libc::MS_NOATIME),
    ("atime", true, libc::MS_NOATIME),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("diratime", true, libc::MS_NODIRATIME),
    ("bind", false, libc::MS_BIND),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("norelatime", true, libc::MS_RELATIME),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
];

/// mount(8)'s propagation words and their flags.
const PROPAGATION_WORDS: &[(&str, libc::c_ulong)] = &[
    ("private", libc::MS_PRIVATE),
    ("rprivate", libc::MS_PRIVATE | libc::MS_REC),
    ("shared", libc::MS_SHARED),
    ("rshared", libc::MS_SHARED | libc::MS_REC),
    ("slave", libc::MS_SLAVE),
    ("rslave", libc::MS_SLAVE | libc::MS_REC),
    ("unbindable", libc::MS_UNBINDABLE),
    ("runbindable", libc::MS_UNBINDABLE | libc::MS_REC),
];

/// Mount options as mount(8), runc and moby's `mount.parseOptions` read them: the mount flags,
/// the propagation flags (the last propagation word wins; applied by a second mount call),
/// and every other word, in order and comma-joined, as the file system's data.
pub fn parse_options<'a>(
    options: impl IntoIterator<Item = &'a str>,
) -> (libc::c_ulong, libc::c_ulong, String) {
    let mut flags: libc::c_ulong = 0;
    let mut propagation: libc::c_ulong = 0;
    let mut data: Vec<&str> = Vec::new();
    for word in options {
        if let Some((_, clear, f)) = FLAG_WORDS.iter().find(|(w, _, _)| *w == word) {
            if *clear {
                flags &= !f;
            } else {
                flags |= f;
            }
        } else if let Some((_, p)) = PROPAGATION_WORDS.iter().find(|(w, _)| *w == word) {
            propagation = *p;
        } else {
            data.push(word);
        }
    }
    (flags, propagation, data.join(","))
}

#[cfg(test)]
mod tests {
    use super::parse_options;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        assert_eq!(
            parse_options(["nosuid", "size=1m", "defaults", "rbind", "rslave"]),
            (
                libc::MS_NOSUID | libc::MS_BIND | libc::MS_REC,
                libc::MS_SLAVE | libc::MS_REC,
                "size=1m,defaults".to_string()
            )
        );
        assert_eq!(parse_options(["ro", "rw"]), (0, 0, String::new()));
        assert_eq!(
            parse_options(["private", "shared"]),
            (0, libc::MS_SHARED, String::new())
        );
    }
}
