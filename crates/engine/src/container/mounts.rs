//! A container's mounts: `-v`/`--volume` binds and volumes, `--mount`, `--tmpfs`,
//! `--volumes-from` and the image's (or `-v /path`) anonymous volumes, resolved once at create
//! into the record's mount points; at start, turned into OCI mounts (after a new volume got a
//! copy of the image's content at its path, as Docker does).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use api::docker::{ContainerConfig, HostConfig};
use api::oci::Mount;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Engine;
use crate::error::EngineError;

/// One resolved mount of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MountPoint {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Host path (bind) or volume name (volume).
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Writable.
    pub rw: bool,
    /// A volume made for this container alone (removed with `rm -v` / `--rm`).
    #[serde(default)]
    pub anonymous: bool,
    /// Do not copy the image's content into a new volume.
    #[serde(default)]
    pub no_copy: bool,
    /// Mount options (tmpfs size/mode, bind propagation).
    #[serde(default)]
    pub options: Vec<String>,
    /// `Mode` of inspect: a `-v` spec's mode as written (`z` for a local volume without
    /// one, as dockerd), empty for `--mount`, `--tmpfs` and image volumes.
    #[serde(default)]
    pub mode: String,
}

fn invalid_spec(spec: &str) -> EngineError {
    EngineError::Invalid(format!("invalid volume specification: '{spec}'"))
}

/// dockerd's `setBindModeIfNull` for a `-v` local volume: `z` when no mode is written.
fn volume_mode(mode: &str) -> String {
    if mode.is_empty() {
        "z".into()
    } else {
        mode.to_string()
    }
}

fn absolute(p: &str) -> bool {
    p.starts_with('/')
}

/// Cleans a container path (`/data/` -> `/data`).
fn clean(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// `--tmpfs` / `TmpfsOptions` to mount options (Docker's defaults: nosuid,nodev,noexec).
fn tmpfs_options(extra: &str) -> Result<Vec<String>, EngineError> {
    let mut opts = vec![
        "nosuid".to_string(),
        "nodev".to_string(),
        "noexec".to_string(),
    ];
    for o in extra.split(',').filter(|o| !o.is_empty()) {
        let key = o.split('=').next().unwrap_or("");
        match key {
            "size" | "mode" | "uid" | "gid" | "nr_inodes" | "nr_blocks" => opts.push(o.to_string()),
            "exec" => opts.retain(|x| x != "noexec"),
            "suid" => opts.retain(|x| x != "nosuid"),
            "dev" => opts.retain(|x| x != "nodev"),
            "noexec" | "nosuid" | "nodev" | "rw" | "ro" => {
                if !opts.iter().any(|x| x == o) {
                    opts.push(o.to_string())
                }
            }
            _ => return Err(EngineError::Invalid(format!("invalid tmpfs option {o:?}"))),
        }
    }
    if !opts.iter().any(|o| o.starts_with("mode=")) {
        opts.push("mode=1777".into());
    }
    Ok(opts)
}

impl Engine {
    /// Resolves every mount source of a container being created and creates the volumes it
    /// names (named ones when missing, anonymous ones always). On error, the anonymous volumes
    /// made here are removed again.
    pub(crate) fn resolve_mounts(
        &self,
        config: &ContainerConfig,
        hc: &HostConfig,
    ) -> Result<Vec<MountPoint>, EngineError> {
        let mut made: Vec<String> = Vec::new();
        let r = self.resolve_mounts_inner(config, hc, &mut made);
        if r.is_err() {
            for v in made {
                let _ = self.volumes.remove(&v);
            }
        }
        r
    }

    fn resolve_mounts_inner(
        &self,
        config: &ContainerConfig,
        hc: &HostConfig,
        made: &mut Vec<String>,
    ) -> Result<Vec<MountPoint>, EngineError> {
        let mut out: Vec<MountPoint> = Vec::new();
        let push = |m: MountPoint, out: &mut Vec<MountPoint>| -> Result<(), EngineError> {
            if out.iter().any(|x| x.destination == m.destination) {
                return Err(EngineError::Invalid(format!(
                    "Duplicate mount point: {}",
                    m.destination
                )));
            }
            out.push(m);
            Ok(())
        };
        let volume_with = |name: Option<&str>,
                           labels: BTreeMap<String, String>,
                           options: BTreeMap<String, String>,
                           made: &mut Vec<String>|
         -> Result<String, EngineError> {
            // Options count only for a volume made now (dockerd ignores them otherwise).
            if name.is_none_or(|n| crate::volumes::valid_name(n) && self.volumes.get(n).is_none()) {
                crate::volumes::validate_options(&options).map_err(|e| {
                    // dockerd names the volume, a random name for an anonymous one.
                    let n = name.map_or_else(|| crate::names::random_hex(64), String::from);
                    EngineError::Invalid(format!("create {n}: {e}"))
                })?;
            }
            let (n, created) = self.volumes.create(name, labels, options)?;
            if created {
                made.push(n.clone());
                self.volume_event("create", &n);
            }
            Ok(n)
        };
        let volume = |name: Option<&str>,
                      labels: BTreeMap<String, String>,
                      made: &mut Vec<String>|
         -> Result<String, EngineError> {
            volume_with(name, labels, BTreeMap::new(), made)
        };
        for spec in hc.binds.iter().flatten() {
            let parts: Vec<&str> = spec.split(':').collect();
            let (src, dst, mode) = match parts.as_slice() {
                [dst] => ("", *dst, ""),
                [src, dst] => (*src, *dst, ""),
                [src, dst, mode] => (*src, *dst, *mode),
                _ => return Err(invalid_spec(spec)),
            };
            if !absolute(dst) {
                let kind = if absolute(src) { "bind" } else { "volume" };
                return Err(EngineError::Invalid(format!(
                    "invalid volume specification: '{spec}': invalid mount config for type \"{kind}\": invalid mount path: '{dst}' mount path must be absolute"
                )));
            }
            if dst == "/" {
                return Err(invalid_spec(spec));
            }
            let mut rw = true;
            let mut no_copy = false;
            let mut options = Vec::new();
            for m in mode.split(',').filter(|m| !m.is_empty()) {
                match m {
                    "ro" => rw = false,
                    "rw" => rw = true,
                    "nocopy" => no_copy = true,
                    "z" | "Z" | "consistent" | "cached" | "delegated" => {}
                    "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                        options.push(m.to_string())
                    }
                    _ => return Err(EngineError::Invalid(format!("invalid mode: {m}"))),
                }
            }
            let m = if src.is_empty() {
                let n = volume(None, BTreeMap::new(), made)?;
                MountPoint {
                    kind: "volume".into(),
                    source: n,
                    destination: clean(dst),
                    rw,
                    anonymous: true,
                    no_copy,
                    options,
                    mode: volume_mode(mode),
                }
            } else if absolute(src) {
                // `-v /host:/ctr` creates a missing host directory, as Docker does.
                if !Path::new(src).exists() {
                    std::fs::create_dir_all(src)
                        .map_err(EngineError::io(format!("create bind source {src}")))?;
                }
                MountPoint {
                    kind: "bind".into(),
                    source: src.to_string(),
                    destination: clean(dst),
                    rw,
                    anonymous: false,
                    no_copy: false,
                    options,
                    mode: mode.to_string(),
                }
            } else {
                let n = volume(Some(src), BTreeMap::new(), made)?;
                MountPoint {
                    kind: "volume".into(),
                    source: n,
                    destination: clean(dst),
                    rw,
                    anonymous: false,
                    no_copy,
                    options,
                    mode: volume_mode(mode),
                }
            };
            push(m, &mut out)?;
        }
        for m in hc.mounts.iter().flatten() {
            let bad = |why: String| {
                EngineError::Invalid(format!(
                    "invalid mount config for type \"{}\": {why}",
                    m.kind
                ))
            };
            if !absolute(&m.target) {
                return Err(bad(format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    m.target
                )));
            }
            let point = match m.kind.as_str() {
                "bind" => {
                    if !absolute(&m.source) {
                        return Err(bad(format!(
                            "invalid mount path: '{}' mount path must be absolute",
                            m.source
                        )));
                    }
                    if !Path::new(&m.source).exists() {
                        if m.bind_options.as_ref().is_some_and(|b| b.create_mountpoint) {
                            std::fs::create_dir_all(&m.source)
                                .map_err(EngineError::io(format!("create {}", m.source)))?;
                        } else {
                            return Err(bad(format!(
                                "bind source path does not exist: {}",
                                m.source
                            )));
                        }
                    }
                    MountPoint {
                        kind: "bind".into(),
                        source: m.source.clone(),
                        destination: clean(&m.target),
                        rw: !m.read_only,
                        anonymous: false,
                        no_copy: false,
                        options: m
                            .bind_options
                            .as_ref()
                            .filter(|b| !b.propagation.is_empty())
                            .map(|b| vec![b.propagation.clone()])
                            .unwrap_or_default(),
                        mode: String::new(),
                    }
                }
                "volume" => {
                    let labels = m
                        .volume_options
                        .as_ref()
                        .and_then(|v| v.labels.clone())
                        .unwrap_or_default();
                    let driver = m
                        .volume_options
                        .as_ref()
                        .and_then(|v| v.driver_config.clone());
                    let driver = driver.unwrap_or_default();
                    if !driver.name.is_empty() && driver.name != "local" {
                        return Err(EngineError::NotFound(format!(
                            "error looking up volume plugin {0}: plugin \"{0}\" not found",
                            driver.name
                        )));
                    }
                    let anonymous = m.source.is_empty();
                    let n = volume_with(
                        (!anonymous).then_some(m.source.as_str()),
                        labels,
                        driver.options.unwrap_or_default(),
                        made,
                    )?;
                    MountPoint {
                        kind: "volume".into(),
                        source: n,
                        destination: clean(&m.target),
                        rw: !m.read_only,
                        anonymous,
                        no_copy: m.volume_options.as_ref().is_some_and(|v| v.no_copy),
                        options: Vec::new(),
                        mode: String::new(),
                    }
                }
                "tmpfs" => {
                    if !m.source.is_empty() {
                        return Err(bad("source must not be specified".into()));
                    }
                    let mut extra = Vec::new();
                    if let Some(t) = &m.tmpfs_options {
                        if t.size_bytes > 0 {
                            extra.push(format!("size={}", t.size_bytes));
                        }
                        if t.mode != 0 {
                            extra.push(format!("mode={:o}", t.mode));
                        }
                    }
                    MountPoint {
                        kind: "tmpfs".into(),
                        source: String::new(),
                        destination: clean(&m.target),
                        rw: !m.read_only,
                        anonymous: false,
                        no_copy: false,
                        options: tmpfs_options(&extra.join(","))?,
                        mode: String::new(),
                    }
                }
                other => {
                    return Err(EngineError::Invalid(format!(
                        "invalid mount config for type \"{other}\": mount type unknown"
                    )))
                }
            };
            push(point, &mut out)?;
        }
        for (dst, opts) in hc.tmpfs.iter().flatten() {
            if !absolute(dst) {
                return Err(EngineError::Invalid(format!(
                    "invalid mount path: '{dst}' mount path must be absolute"
                )));
            }
            push(
                MountPoint {
                    kind: "tmpfs".into(),
                    source: String::new(),
                    destination: clean(dst),
                    rw: !opts.split(',').any(|o| o == "ro"),
                    anonymous: false,
                    no_copy: false,
                    options: tmpfs_options(opts)?,
                    mode: String::new(),
                },
                &mut out,
            )?;
        }
        for from in hc.volumes_from.iter().flatten() {
            let (name, mode) = from.split_once(':').unwrap_or((from.as_str(), ""));
            let other = self.get(name)?;
            for mut m in other.record().mount_points {
                if m.kind == "tmpfs" {
                    continue;
                }
                match mode {
                    "ro" => m.rw = false,
                    "rw" => m.rw = true,
                    "" => {}
                    _ => return Err(EngineError::Invalid(format!("invalid mode: {mode}"))),
                }
                // Shared, not this container's own: `rm -v` here must not delete it.
                m.anonymous = false;
                push(m, &mut out)?;
            }
        }
        // The image's VOLUMEs and `-v /path`: anonymous volumes where nothing else is mounted.
        for dst in config.volumes.iter().flat_map(|v| v.keys()) {
            let dst = clean(dst);
            if out.iter().any(|m| m.destination == dst) {
                continue;
            }
            let n = volume(None, BTreeMap::new(), made)?;
            out.push(MountPoint {
                kind: "volume".into(),
                source: n,
                destination: dst,
                rw: true,
                anonymous: true,
                no_copy: false,
                options: Vec::new(),
                mode: String::new(),
            });
        }
        Ok(out)
    }

    /// Publishes a volume event.
    pub fn volume_event(&self, action: &str, name: &str) {
        let mut attrs = BTreeMap::new();
        attrs.insert("driver".to_string(), "local".to_string());
        self.events
            .publish(crate::events::Event::new("volume", action, name, attrs));
    }

    /// dockerd's `volume mount` (at a start, before `container start`) or `volume unmount`
    /// (after `die`) events for each volume the container mounts.
    pub(crate) fn volume_mount_events(&self, rec: &super::record::Record, mount: bool) {
        for m in rec.mount_points.iter().filter(|m| m.kind == "volume") {
            let mut attrs = BTreeMap::from([
                ("container".to_string(), rec.id.clone()),
                ("driver".to_string(), "local".to_string()),
            ]);
            if mount {
                attrs.insert("destination".into(), m.destination.clone());
                attrs.insert("propagation".into(), String::new());
                attrs.insert("read/write".into(), m.rw.to_string());
            }
            let action = if mount { "mount" } else { "unmount" };
            self.events.publish(crate::events::Event::new(
                "volume", action, &m.source, attrs,
            ));
        }
    }

    /// Before a start: takes container `id`'s hold on each volume it mounts, which mounts a
    /// volume with driver options for its first holder. On error, the holds taken here are
    /// dropped again.
    pub(crate) fn mount_volumes(&self, id: &str, mounts: &[MountPoint]) -> Result<(), EngineError> {
        let mut held: Vec<&str> = Vec::new();
        for m in mounts.iter().filter(|m| m.kind == "volume") {
            if let Err(e) = self.volumes.acquire(&m.source, id) {
                for v in held {
                    self.volumes.release(v, id);
                }
                return Err(e);
            }
            held.push(&m.source);
        }
        Ok(())
    }

    /// After a container's exit (or a failed start): drops its holds on its volumes; the last
    /// holder of a volume with driver options unmounts it.
    pub(crate) fn unmount_volumes(&self, id: &str, mounts: &[MountPoint]) {
        for m in mounts.iter().filter(|m| m.kind == "volume") {
            self.volumes.release(&m.source, id);
        }
    }

    /// [`Engine::unmount_volumes`] off the async threads.
    pub(crate) async fn unmount_volumes_async(self: &Arc<Engine>, id: &str, mounts: &[MountPoint]) {
        if !mounts.iter().any(|m| m.kind == "volume") {
            return;
        }
        let (engine, id, points) = (self.clone(), id.to_string(), mounts.to_vec());
        let _ = tokio::task::spawn_blocking(move || engine.unmount_volumes(&id, &points)).await;
    }

    /// Before a start: copies the image's content at each new volume's path into it (once,
    /// only into an empty volume, not with `nocopy`).
    pub(crate) async fn populate_volumes(
        self: &Arc<Engine>,
        id: &str,
        mounts: &[MountPoint],
    ) -> Result<(), EngineError> {
        for m in mounts.iter().filter(|m| m.kind == "volume") {
            let Some(meta) = self.volumes.get(&m.source) else {
                return Err(EngineError::NoSuchVolume(m.source.clone()));
            };
            if meta.populated {
                continue;
            }
            let data = self.volumes.data_path(&m.source);
            let empty = std::fs::read_dir(&data)
                .map(|mut d| d.next().is_none())
                .unwrap_or(false);
            if empty && !m.no_copy {
                let images = self.images.clone();
                let (key, path) = (id.to_string(), m.destination.clone());
                let data2 = data.clone();
                tokio::task::spawn_blocking(move || images.copy_path_out(&key, &path, &data2))
                    .await
                    .map_err(super::create::join_error)??;
            }
            self.volumes.mark_populated(&m.source)?;
        }
        Ok(())
    }

    /// The OCI mounts of a container's mount points, parents before children.
    pub(crate) fn oci_mounts(&self, mounts: &[MountPoint]) -> Vec<Mount> {
        let mut sorted: Vec<&MountPoint> = mounts.iter().collect();
        sorted.sort_by_key(|m| m.destination.matches('/').count());
        sorted
            .into_iter()
            .map(|m| match m.kind.as_str() {
                "tmpfs" => {
                    let mut opts: Vec<&str> = m.options.iter().map(String::as_str).collect();
                    if !m.rw {
                        opts.push("ro");
                    }
                    Mount::new(&m.destination, "tmpfs", "tmpfs", &opts)
                }
                kind => {
                    let source = if kind == "volume" {
                        self.volumes
                            .data_path(&m.source)
                            .to_string_lossy()
                            .into_owned()
                    } else {
                        m.source.clone()
                    };
                    let propagation = m.options.first().map(String::as_str).unwrap_or("rprivate");
                    Mount::new(
                        &m.destination,
                        "bind",
                        &source,
                        &["rbind", propagation, if m.rw { "rw" } else { "ro" }],
                    )
                }
            })
            .collect()
    }

    /// `Mounts` of container inspect.
    pub(crate) fn mounts_json(&self, mounts: &[MountPoint]) -> Value {
        Value::Array(
            mounts
                .iter()
                .map(|m| match m.kind.as_str() {
                    "volume" => json!({
                        "Type": "volume",
                        "Name": m.source,
                        "Source": self.volumes.data_path(&m.source).to_string_lossy(),
                        "Destination": m.destination,
                        "Driver": "local",
                        "Mode": m.mode,
                        "RW": m.rw,
                        "Propagation": "",
                    }),
                    "bind" => json!({
                        "Type": "bind",
                        "Source": m.source,
                        "Destination": m.destination,
                        "Mode": m.mode,
                        "RW": m.rw,
                        "Propagation": m.options.first().cloned().unwrap_or_else(|| "rprivate".into()),
                    }),
                    _ => json!({
                        "Type": "tmpfs",
                        "Source": "",
                        "Destination": m.destination,
                        "Mode": "",
                        "RW": m.rw,
                        "Propagation": "",
                    }),
                })
                .collect(),
        )
    }

    /// Containers (ids) whose mounts use volume `name`.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|c| {
                c.record()
                    .mount_points
                    .iter()
                    .any(|m| m.kind == "volume" && m.source == name)
            })
            .map(|c| c.id.to_string())
            .collect()
    }

    /// Removes the anonymous volumes of a removed container that no other container uses.
    pub(crate) fn remove_anonymous_volumes(&self, mounts: &[MountPoint]) {
        for m in mounts.iter().filter(|m| m.kind == "volume" && m.anonymous) {
            if !self.volume_users(&m.source).is_empty() {
                continue;
            }
            match self.volumes.remove(&m.source) {
                Ok(_) => self.volume_event("destroy", &m.source),
                Err(e) => {
                    tracing::warn!(volume = %m.source, error = %e, "could not remove anonymous volume")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_options_follow_docker() {
        assert_eq!(
            tmpfs_options("").unwrap(),
            ["nosuid", "nodev", "noexec", "mode=1777"]
        );
        assert_eq!(
            tmpfs_options("size=64m,exec,mode=700").unwrap(),
            ["nosuid", "nodev", "size=64m", "mode=700"]
        );
        assert!(tmpfs_options("bogus").is_err());
        assert_eq!(clean("/data/"), "/data");
        assert_eq!(clean("/a//b/./c"), "/a/b/c");
    }
}
