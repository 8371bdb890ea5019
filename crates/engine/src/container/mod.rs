//! Containers: the [`Engine`] service (usable without HTTP: tests, compose and the node agent
//! call it directly), the in-memory table of containers, and name/id resolution. One file per
//! lifecycle verb: create, start, stop (and kill), remove, wait, logs, attach; `view` renders the
//! Docker JSON of inspect and list.

mod archive;
mod attach;
mod commit;
mod create;
mod exec;
mod health;
mod logs;
mod manage;
mod mounts;
pub mod record;
mod remove;
mod restart;
mod spec;
mod start;
mod stats;
mod stop;
mod update;
mod view;
mod wait;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use api::ContainerId;
use image::ImageStore;
use tokio::sync::watch;

pub use archive::{ArchiveStream, PathStat, PutArchive};
pub use attach::AttachOptions;
pub use commit::{CommitRequest, MOUNT_POINTS};
pub(crate) use create::join_error;
pub use exec::{Exec, ExecStart};
pub use logs::LogsOptions;
pub use stats::StatsSample;
pub use update::UpdateConfig;
pub use view::{ListOptions, PS_FILTERS};
pub use wait::WaitCondition;

use crate::error::EngineError;
use record::{Record, Status};

/// Where the engine keeps things.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Data root (`/var/lib/berth`).
    pub root: PathBuf,
    /// Exec root (`/run/berth`).
    pub exec_root: PathBuf,
}

impl Paths {
    /// Persistent files of a container: record, log, exit status, hosts files.
    pub fn data_dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// Runtime files of a container: bundle, rootfs mount point, shim socket.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join("containers").join(id)
    }

    /// State root of the OCI runtimes.
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime")
    }

    /// The shim's socket of a container.
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        self.state_dir(id).join("shim.sock")
    }

    /// The json-file log of a container.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.data_dir(id).join(format!("{id}-json.log"))
    }
}

/// What waiters watch: changes whenever the container starts, exits or is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// Current status.
    pub status: Status,
    /// Exit code of the last exit.
    pub exit_code: i32,
    /// Number of exits so far (for `next-exit`).
    pub exits: u64,
    /// The container is gone.
    pub removed: bool,
}

/// One container known to the engine.
pub struct Container {
    /// Full id.
    pub id: ContainerId,
    record: Mutex<Record>,
    lifecycle: watch::Sender<Lifecycle>,
    /// Serialises start, stop, kill and remove of this container.
    pub(crate) op: tokio::sync::Mutex<()>,
    /// Attach streams that arrived before start.
    pending_attach: Mutex<Vec<attach::PendingAttach>>,
}

impl Container {
    fn new(record: Record) -> Arc<Container> {
        let lc = Lifecycle {
            status: record.state.status,
            exit_code: record.state.exit_code,
            exits: 0,
            removed: false,
        };
        Arc::new(Container {
            id: record
                .id
                .parse()
                .expect("records are created with valid ids"),
            record: Mutex::new(record),
            lifecycle: watch::channel(lc).0,
            op: tokio::sync::Mutex::new(()),
            pending_attach: Mutex::new(Vec::new()),
        })
    }

    /// A copy of the record.
    pub fn record(&self) -> Record {
        self.record.lock().expect("record lock").clone()
    }

    /// Runs `f` on the record under its lock, without copying it. `f` must not lock this
    /// container's record again (nor resolve names through the engine, which does).
    pub fn with_record<R>(&self, f: impl FnOnce(&Record) -> R) -> R {
        f(&self.record.lock().expect("record lock"))
    }

    /// The RFC 3339 creation time.
    pub fn created(&self) -> String {
        self.with_record(|r| r.created.clone())
    }

    /// Current status.
    pub fn status(&self) -> Status {
        self.record.lock().expect("record lock").state.status
    }

    /// Changes the record and saves it atomically (for other engine modules).
    pub(crate) fn update_record(
        &self,
        paths: &Paths,
        f: impl FnOnce(&mut Record),
    ) -> Result<(), EngineError> {
        self.update(paths, f)
    }

    /// Changes the record, saves it atomically and tells waiters.
    fn update(&self, paths: &Paths, f: impl FnOnce(&mut Record)) -> Result<(), EngineError> {
        let snapshot = {
            let mut rec = self.record.lock().expect("record lock");
            f(&mut rec);
            rec.clone()
        };
        let result = snapshot.save(&paths.data_dir(&snapshot.id));
        self.lifecycle.send_modify(|lc| {
            // A process ended: running or paused before, not now (`restarting` included, as a
            // policy restart goes there straight from the exit).
            let live = |s: Status| matches!(s, Status::Running | Status::Paused);
            if live(lc.status) && !live(snapshot.state.status) {
                lc.exits += 1;
            }
            lc.status = snapshot.state.status;
            lc.exit_code = snapshot.state.exit_code;
        });
        result
    }
}

/// The container engine.
pub struct Engine {
    /// Directories.
    pub paths: Paths,
    /// Local images.
    pub images: Arc<ImageStore>,
    /// `berth` or an external OCI runtime binary.
    pub runtime: String,
    /// The berth binary, exec'd as `berth shim`.
    pub self_exe: PathBuf,
    /// When the daemon started.
    pub started: SystemTime,
    /// The engine's persistent ID (`<root>/engine-id`, `info`'s `ID`).
    pub id: String,
    /// Networks (None: no bridge networking, the default network is an empty namespace).
    pub net: Option<Arc<net::NetworkManager>>,
    containers: Mutex<BTreeMap<String, Arc<Container>>>,
    /// Exec instances by id.
    execs: Mutex<std::collections::HashMap<String, Arc<Exec>>>,
    registries: std::sync::RwLock<Arc<image::distribution::Transport>>,
    /// Container and image events (`GET /events`).
    pub events: crate::events::Events,
    /// Local volumes.
    pub volumes: crate::volumes::Volumes,
    /// Restart back-off per container id (in memory, as Docker's restart manager).
    restarts: Mutex<BTreeMap<String, restart::Backoff>>,
    /// The build cache (`<root>/builder/cache.json`).
    pub build_cache: Arc<builder::exec::BuildCache>,
    /// The daemon's `--log-opt` defaults for json-file containers.
    default_log_opts: std::sync::RwLock<BTreeMap<String, String>>,
}

impl Engine {
    /// Opens the engine's state under `paths` without bridge networking (tests); see
    /// [`Engine::open_with`].
    pub async fn open(
        paths: Paths,
        runtime: String,
        self_exe: PathBuf,
    ) -> Result<Arc<Engine>, EngineError> {
        Engine::open_with(paths, runtime, self_exe, None).await
    }

    /// Opens the engine's state under `paths`, opens the network manager with `net` (None: no
    /// bridge networking), loads every container record and re-adopts the running containers
    /// from their shims; then releases the networking of containers that stopped meanwhile.
    pub async fn open_with(
        paths: Paths,
        runtime: String,
        self_exe: PathBuf,
        net: Option<net::manager::Config>,
    ) -> Result<Arc<Engine>, EngineError> {
        for dir in [
            paths.root.join("containers"),
            paths.exec_root.join("containers"),
            paths.runtime_root(),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(EngineError::io(format!("create {}", dir.display())))?;
        }
        let root_dir = paths.root.clone();
        let root = paths.root.clone();
        let images = tokio::task::spawn_blocking(move || ImageStore::open(&root))
            .await
            .map_err(|e| EngineError::Io {
                what: "open image store".into(),
                source: std::io::Error::other(e),
            })??;
        let build_dir = root_dir.join("builder");
        let build_cache = tokio::task::spawn_blocking(move || {
            builder::exec::context::remove_stale_contexts(&build_dir.join("contexts"));
            builder::exec::BuildCache::open(&build_dir)
        })
        .await
        .map_err(join_error)?
        .map_err(EngineError::io("open the build cache"))?;
        let net = match net {
            Some(cfg) => Some(Arc::new(
                tokio::task::spawn_blocking(move || net::NetworkManager::open(cfg))
                    .await
                    .map_err(join_error)??,
            )),
            None => None,
        };
        let id = crate::engine_id::load_or_create(&root_dir).map_err(EngineError::io(format!(
            "create {}",
            root_dir.join(crate::engine_id::FILE).display()
        )))?;
        let engine = Arc::new(Engine {
            id,
            paths,
            images: Arc::new(images),
            runtime,
            self_exe,
            started: SystemTime::now(),
            net,
            containers: Mutex::new(BTreeMap::new()),
            execs: Mutex::new(std::collections::HashMap::new()),
            registries: std::sync::RwLock::new(Arc::new(image::distribution::Transport::new(
                image::distribution::TransportConfig::default(),
            ))),
            events: crate::events::Events::default(),
            volumes: crate::volumes::Volumes::open(&root_dir)?,
            restarts: Mutex::new(BTreeMap::new()),
            build_cache: Arc::new(build_cache),
            default_log_opts: std::sync::RwLock::new(BTreeMap::new()),
        });
        engine.load().await;
        engine.release_stale_networks().await;
        engine.restart_on_boot().await;
        Ok(engine)
    }

    async fn load(self: &Arc<Engine>) {
        let dir = self.paths.root.join("containers");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut loaded = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.parse::<ContainerId>().is_err() {
                continue;
            }
            match Record::load(&entry.path()) {
                Ok(rec) => {
                    // Containers recorded as running hold their volumes' mounts until they
                    // are found dead or exit.
                    if rec.state.status.is_running() {
                        for m in rec.mount_points.iter().filter(|m| m.kind == "volume") {
                            self.volumes.restore_holder(&m.source, &rec.id);
                        }
                    }
                    let c = Container::new(rec);
                    self.containers
                        .lock()
                        .expect("containers lock")
                        .insert(name, c.clone());
                    loaded.push(c);
                }
                Err(e) => {
                    // A create that crashed before its record was written: roll it back.
                    tracing::warn!(container = %name, error = %e, "removing a half-created container");
                    let images = self.images.clone();
                    let key = name.clone();
                    let _ = tokio::task::spawn_blocking(move || images.remove_rootfs(&key)).await;
                    let _ = std::fs::remove_dir_all(entry.path());
                    let _ = std::fs::remove_dir_all(self.paths.state_dir(&name));
                }
            }
        }
        for c in loaded {
            self.adopt(c).await;
        }
        self.volumes.unmount_stale();
    }

    /// Publishes a container event with Docker's attributes (name, image, labels, `extra`).
    pub fn container_event(&self, rec: &Record, action: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = rec.config.labels.clone().unwrap_or_default();
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("image".into(), rec.config.image.clone());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.events.publish(crate::events::Event::new(
            "container",
            action,
            rec.id.clone(),
            attrs,
        ));
    }

    /// Publishes dockerd's `prune` event of a kind (`container`, `image`, `network`,
    /// `volume`): no actor id, the bytes reclaimed as an attribute.
    pub fn prune_event(&self, kind: &'static str, reclaimed: u64) {
        let attrs = BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]);
        self.events
            .publish(crate::events::Event::new(kind, "prune", "", attrs));
    }

    /// Publishes an image event (`id` is the image id or, as Docker does for pull/push/tag,
    /// the reference).
    pub fn image_event(&self, action: &str, id: &str, name: Option<&str>) {
        let mut attrs = BTreeMap::new();
        if let Some(n) = name {
            attrs.insert("name".to_string(), n.to_string());
        }
        self.events
            .publish(crate::events::Event::new("image", action, id, attrs));
    }

    /// How registries are reached (insecure registries, `certs.d`).
    pub fn registries(&self) -> Arc<image::distribution::Transport> {
        self.registries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the registry settings (the daemon's `--insecure-registry` and `certs.d`).
    pub fn set_registries(&self, config: image::distribution::TransportConfig) {
        *self.registries.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(image::distribution::Transport::new(config));
    }

    /// Sets the daemon-wide json-file `--log-opt` defaults after checking them as a
    /// container's would be checked. They apply to containers created afterwards whose
    /// `LogConfig` does not set the key (Docker's `mergeAndVerifyLogConfig`).
    pub fn set_default_log_opts(&self, opts: BTreeMap<String, String>) -> Result<(), EngineError> {
        api::log_opts::validate_keys(&opts).map_err(EngineError::Invalid)?;
        api::log_opts::rotation(&opts).map_err(EngineError::Invalid)?;
        *self
            .default_log_opts
            .write()
            .unwrap_or_else(|p| p.into_inner()) = opts;
        Ok(())
    }

    /// Fills in a container's `LogConfig` (driver `json-file`, the daemon's defaults) and
    /// checks it with dockerd's messages.
    pub(crate) fn resolve_log_config(
        &self,
        lc: &mut api::docker::LogConfig,
    ) -> Result<(), EngineError> {
        if lc.kind.is_empty() {
            lc.kind = api::log_opts::JSON_FILE.to_string();
        }
        if lc.kind == api::log_opts::NONE {
            return Ok(());
        }
        if lc.kind != api::log_opts::JSON_FILE {
            // Docker's other built-in drivers exist there but not here; any other name is
            // looked up as a plugin by dockerd, which berth does not have.
            const DOCKER_BUILTIN: [&str; 10] = [
                "local",
                "syslog",
                "journald",
                "gelf",
                "fluentd",
                "awslogs",
                "splunk",
                "etwlogs",
                "gcplogs",
                "logentries",
            ];
            return Err(EngineError::Invalid(
                if DOCKER_BUILTIN.contains(&lc.kind.as_str()) {
                    format!(
                        "logger: no log driver named '{}' is registered (berth has json-file and none)",
                        lc.kind
                    )
                } else {
                    format!(
                        "error looking up logging plugin {0}: plugin \"{0}\" not found",
                        lc.kind
                    )
                },
            ));
        }
        let defaults = self
            .default_log_opts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (k, v) in defaults {
            lc.config.entry(k).or_insert(v);
        }
        api::log_opts::validate_keys(&lc.config).map_err(EngineError::Invalid)?;
        api::log_opts::rotation(&lc.config).map_err(|e| {
            EngineError::Invalid(format!("failed to initialize logging driver: {e}"))
        })?;
        Ok(())
    }

    /// All containers, oldest first.
    pub fn all(&self) -> Vec<Arc<Container>> {
        let mut v: Vec<Arc<Container>> = self
            .containers
            .lock()
            .expect("containers lock")
            .values()
            .cloned()
            .collect();
        v.sort_by_cached_key(|c| c.created());
        v
    }

    /// Resolves a full id, a name (with or without its slash) or a unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Arc<Container>, EngineError> {
        let map = self.containers.lock().expect("containers lock");
        if let Some(c) = map.get(name_or_id) {
            return Ok(c.clone());
        }
        let name = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if let Some(c) = map
            .values()
            .find(|c| c.record.lock().expect("record lock").name == name)
        {
            return Ok(c.clone());
        }
        if !name_or_id.is_empty() && name_or_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = map
                .range(name_or_id.to_string()..)
                .take_while(|(k, _)| k.starts_with(name_or_id));
            if let Some((_, c)) = found.next() {
                if found.next().is_some() {
                    return Err(EngineError::Ambiguous(name_or_id.to_string()));
                }
                return Ok(c.clone());
            }
        }
        Err(EngineError::NoSuchContainer(name_or_id.to_string()))
    }

    /// Adds a container unless another one holds `name`; Err carries that one's id. The check
    /// and the insert happen under one lock, so concurrent creates cannot share a name.
    fn insert_unique(&self, c: Arc<Container>, name: &str) -> Result<(), String> {
        let mut map = self.containers.lock().expect("containers lock");
        if let Some(owner) = map
            .values()
            .find(|o| o.record.lock().expect("record lock").name == name)
        {
            return Err(owner.id.to_string());
        }
        map.insert(c.id.to_string(), c);
        Ok(())
    }

    fn forget(&self, id: &str) {
        self.exec_forget(id);
        self.containers.lock().expect("containers lock").remove(id);
    }

    fn name_owner(&self, name: &str) -> Option<String> {
        let map = self.containers.lock().expect("containers lock");
        map.values()
            .find(|c| c.record.lock().expect("record lock").name == name)
            .map(|c| c.id.to_string())
    }

    /// Ids of containers that use `image` (`sha256:...`).
    pub fn containers_using(&self, image: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|c| c.record().image == image)
            .map(|c| c.id.to_string())
            .collect()
    }

    /// Number of containers per status (running, paused, stopped).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let all = self.all();
        let running = all.iter().filter(|c| c.status() == Status::Running).count();
        let paused = all.iter().filter(|c| c.status() == Status::Paused).count();
        (all.len(), running, paused, all.len() - running - paused)
    }
}

/// Creates `path` and its parents.
fn ensure_dir(path: &Path) -> Result<(), EngineError> {
    std::fs::create_dir_all(path).map_err(EngineError::io(format!("create {}", path.display())))
}
