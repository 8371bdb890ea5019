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
