//! `POST /containers/create`: validate, merge the image's defaults, prepare the root snapshot and
//! write the record. Nothing runs until start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use api::docker::{ContainerConfig, CreateRequest, HostConfig};
use api::ContainerId;

use super::record::{Record, State};
use super::{ensure_dir, Container, Engine};
use crate::error::EngineError;
use crate::names;

/// Docker's lower bound for `--memory`.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

impl Engine {
    /// Creates a container; returns its id and warnings.
    pub async fn create(
        self: &Arc<Engine>,
        name: Option<&str>,
        req: CreateRequest,
    ) -> Result<(ContainerId, Vec<String>), EngineError> {
        let mut req = req;
        validate_host_config(&req.host_config)?;
        let wd = &req.config.working_dir;
        if !wd.is_empty() && !wd.starts_with('/') {
            return Err(EngineError::Invalid(format!(
                "the working directory '{wd}' is invalid, it needs to be an absolute path"
            )));
        }
        crate::network::validate_input(&req.host_config)?;
        self.resolve_log_config(&mut req.host_config.log_config)?;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                validate_name(n)?;
                n.to_string()
            }
            None => loop {
                let n = names::random_name();
                if self.name_owner(&n).is_none() {
                    break n;
                }
            },
        };
        if let Some(id) = self.name_owner(&name) {
            return Err(EngineError::NameInUse { name, id });
        }
        let images = self.images.clone();
        let image_name = req.config.image.clone();
        if image_name.is_empty() {
            return Err(EngineError::Invalid(
                "no image specified: an image name is required".into(),
            ));
        }
        let (info, image_config) = tokio::task::spawn_blocking(move || {
            let info = images.resolve(&image_name)?;
            let cfg = images.config(&info.id)?;
            Ok::<_, image::ImageError>((info, cfg))
        })
        .await
        .map_err(join_error)??;
        let image_cfg = serde_json::to_value(&image_config).unwrap_or_default();
        let config = merge_image_config(req.config, &image_cfg["config"]);
        let exposed = config.exposed_ports.as_ref().is_some_and(|p| !p.is_empty());
        let endpoints = req
            .networking_config
            .as_ref()
            .and_then(|n| n.endpoints_config.as_ref());
        let (networks, warnings) = self.plan_networks(&req.host_config, endpoints, exposed)?;
        let mut argv: Vec<String> = config.entrypoint.clone().unwrap_or_default();
        argv.extend(config.cmd.clone().unwrap_or_default());
        if argv.is_empty() {
            return Err(EngineError::Invalid("No command specified".into()));
        }

        let id = ContainerId::from_random(random_bytes()?);
        let mut config = config;
        if config.hostname.is_empty() {
            config.hostname = id.short().to_string();
        }
        let mount_points = self.resolve_mounts(&config, &req.host_config)?;
        let data_dir = self.paths.data_dir(id.as_str());
        if let Err(e) = ensure_dir(&data_dir) {
            self.remove_anonymous_volumes(&mount_points);
            return Err(e);
        }
        let images = self.images.clone();
        let key = id.to_string();
        let image_id = info.id.clone();
        let prepared = tokio::task::spawn_blocking(move || images.prepare_rootfs(&image_id, &key))
            .await
            .map_err(join_error)?;
        if let Err(e) = prepared {
            let _ = std::fs::remove_dir_all(&data_dir);
            self.remove_anonymous_volumes(&mount_points);
            return Err(e.into());
        }
        let record = Record {
            id: id.to_string(),
            name: name.clone(),
            created: api::time::rfc3339_nano(SystemTime::now()),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config,
            host_config: req.host_config,
            image: info.id.to_string(),
            state: State::default(),
            restart_count: 0,
            manually_stopped: false,
            mount_points: mount_points.clone(),
            runtime: self.runtime.clone(),
            networks,
            networks_detached: false,
        };
        if let Err(e) = record.save(&data_dir) {
            let images = self.images.clone();
            let key = id.to_string();
            let _ = tokio::task::spawn_blocking(move || images.remove_rootfs(&key)).await;
            let _ = std::fs::remove_dir_all(&data_dir);
            return Err(e);
        }
        // A concurrent create may have taken the name meanwhile: the first to insert wins.
        if let Err(owner) = self.insert_unique(Container::new(record), &name) {
            let _ = self.remove_files(id.as_str()).await;
            return Err(EngineError::NameInUse { name, id: owner });
        }
        tracing::info!(container = %id, name = %name, "created");
        if let Ok(c) = self.get(id.as_str()) {
            self.container_event(&c.record(), "create", &[]);
        }
        Ok((id, warnings))
    }
}

/// Checks the host configuration before anything is written.
fn validate_host_config(hc: &HostConfig) -> Result<(), EngineError> {
    if hc.memory != 0 && hc.memory < MIN_MEMORY {
        return Err(EngineError::Invalid(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    if hc.memory < 0 {
        return Err(EngineError::Invalid(format!(
            "invalid value {} for HostConfig.Memory: must not be negative",
            hc.memory
        )));
    }
    if hc.memory_swap > 0 && hc.memory > 0 && hc.memory_swap < hc.memory {
        return Err(EngineError::Invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    if hc.nano_cpus < 0 || hc.nano_cpus > cpus * 1_000_000_000 {
        return Err(EngineError::Invalid(format!(
            "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )));
    }
    if hc.nano_cpus > 0 && (hc.cpu_quota > 0 || hc.cpu_period > 0) {
        return Err(EngineError::Invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
        ));
    }
    if hc.nano_cpus > 0 {
        let online = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as i64;
        if hc.nano_cpus > online * 1_000_000_000 {
            return Err(EngineError::Invalid(format!(
                "range of CPUs is from 0.01 to {online}.00, as there are only {online} CPUs available"
            )));
        }
    }
    if hc.cpu_shares < 0 {
        return Err(EngineError::Invalid(
            "invalid value for HostConfig.CpuShares: must not be negative".into(),
        ));
    }
    super::restart::validate(
        &hc.restart_policy.name,
        hc.restart_policy.maximum_retry_count,
        hc.auto_remove,
    )?;
    Ok(())
}

/// Docker's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_name(name: &str) -> Result<(), EngineError> {
    let b = name.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::Invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// Applies the image's defaults (`config` of the image config, Docker field names) to the
/// requested configuration, as Docker does: Env merged by key, Cmd from the image only when
/// neither Cmd nor Entrypoint is given, Entrypoint, WorkingDir, User, Labels, StopSignal and
/// ExposedPorts filled when unset.
pub fn merge_image_config(mut c: ContainerConfig, image: &serde_json::Value) -> ContainerConfig {
    let strings = |v: &serde_json::Value| -> Option<Vec<String>> {
        v.as_array().map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
    };
    let mut env: Vec<String> = strings(&image["Env"]).unwrap_or_default();
    for kv in c.env.take().unwrap_or_default() {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    // No default PATH here: Docker's Config.Env is what the image and the user set; the
    // process gets a PATH when the spec is made (`api::oci::defaults`), execs and health
    // checks when they are built.
    c.env = Some(env);
    let user_entrypoint = c.entrypoint.as_ref().is_some_and(|e| !e.is_empty());
    let entrypoint_cleared = c
        .entrypoint
        .as_ref()
        .is_some_and(|e| e.len() == 1 && e[0].is_empty());
    if entrypoint_cleared {
        c.entrypoint = None;
    } else if !user_entrypoint {
        c.entrypoint = strings(&image["Entrypoint"]).filter(|e| !e.is_empty());
    }
    if c.cmd.as_ref().is_none_or(|c| c.is_empty()) && !user_entrypoint {
        c.cmd = strings(&image["Cmd"]);
    }
    if c.working_dir.is_empty() {
        c.working_dir = image["WorkingDir"].as_str().unwrap_or("").to_string();
    }
    if c.user.is_empty() {
        c.user = image["User"].as_str().unwrap_or("").to_string();
    }
    if c.stop_signal.is_none() {
        c.stop_signal = image["StopSignal"].as_str().map(String::from);
    }
    // Healthcheck: the container's fields win, unset ones come from the image's.
    if let Some(img_hc) = image["Healthcheck"].as_object() {
        let mut hc = c
            .healthcheck
            .take()
            .and_then(|v| v.as_object().cloned())
            .unwrap_or_default();
        for (k, v) in img_hc {
            let unset = match hc.get(k) {
                None | Some(serde_json::Value::Null) => true,
                Some(serde_json::Value::Array(a)) => a.is_empty(),
                Some(serde_json::Value::Number(n)) => n.as_i64() == Some(0),
                _ => false,
            };
            if unset {
                hc.insert(k.clone(), v.clone());
            }
        }
        c.healthcheck = Some(serde_json::Value::Object(hc));
    }
    if let Some(vols) = image["Volumes"].as_object().filter(|v| !v.is_empty()) {
        let mut merged = c.volumes.take().unwrap_or_default();
        for k in vols.keys() {
            merged
                .entry(k.clone())
                .or_insert_with(|| serde_json::json!({}));
        }
        c.volumes = Some(merged);
    }
    if let Some(labels) = image["Labels"].as_object() {
        let mut merged: BTreeMap<String, String> = labels
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect();
        merged.extend(c.labels.take().unwrap_or_default());
        c.labels = Some(merged);
    }
    if let Some(ports) = image["ExposedPorts"].as_object() {
        let mut merged = c.exposed_ports.take().unwrap_or_default();
        for (k, v) in ports {
            merged.entry(k.clone()).or_insert_with(|| v.clone());
        }
        c.exposed_ports = Some(merged);
    }
    c
}

/// 32 random bytes from the kernel.
pub(crate) fn random_bytes() -> Result<[u8; 32], EngineError> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(EngineError::io("read /dev/urandom"))?;
    Ok(b)
}

/// A panicked or cancelled blocking task.
pub(crate) fn join_error(e: tokio::task::JoinError) -> EngineError {
    EngineError::Io {
        what: "background task".into(),
        source: std::io::Error::other(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_docker_rule() {
        assert!(validate_name("web-1.a_b").is_ok());
        for bad in ["", "a", "-web", "we b", "we/b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_below_six_megabytes_is_refused() {
        let hc = HostConfig {
            memory: 1024,
            ..Default::default()
        };
        assert_eq!(
            validate_host_config(&hc).unwrap_err().to_string(),
            "Minimum memory limit allowed is 6MB"
        );
    }

    #[test]
    fn image_defaults_fill_unset_fields() {
        let image = json!({"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"], "WorkingDir": "/w", "Labels": {"x": "1"}});
        let c = merge_image_config(
            ContainerConfig {
                env: Some(vec!["A=2".into()]),
                ..Default::default()
            },
            &image,
        );
        assert_eq!(c.env.unwrap(), vec!["PATH=/bin".to_string(), "A=2".into()]);
        assert_eq!(c.cmd.unwrap(), vec!["sh".to_string()]);
        assert_eq!(c.working_dir, "/w");
        assert_eq!(c.labels.unwrap()["x"], "1");
        let c = merge_image_config(
            ContainerConfig {
                entrypoint: Some(vec!["echo".into()]),
                ..Default::default()
            },
            &image,
        );
        assert_eq!(
            c.cmd, None,
            "an entrypoint given on the command line drops the image's Cmd"
        );
    }
}
