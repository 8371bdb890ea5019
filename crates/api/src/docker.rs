//! Docker Engine API models: the container create body, the stored container configuration and
//! the answers of `inspect`, `ps` and `wait`, with Docker's field names.
//!
//! Zero values mean "unset", as they do for the docker CLI, which sends ~1.7 KB of mostly zero
//! fields; unknown fields are ignored. Serialisation writes every field so `inspect` output has
//! the shape clients expect.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `Config` of a container (the image-independent part of the create body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<serde_json::Value>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// `HostConfig`: how the container is run on this host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    /// `--mount` entries.
    pub mounts: Option<Vec<MountSpec>>,
    /// `--tmpfs`: destination -> options (`size=64m,mode=1777`).
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `--volumes-from`: `container[:ro|rw]`.
    pub volumes_from: Option<Vec<String>>,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: Option<BTreeMap<String, serde_json::Value>>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub cap_add: Option<Vec<String>>,
    /// `--group-add`: extra groups (names in the container's `/etc/group`, or gids).
    pub group_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub publish_all_ports: bool,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    pub shm_size: i64,
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    /// Absent from inspect when not set, as dockerd's `*bool` with `omitempty`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    pub console_size: Option<[u32; 2]>,
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

/// One `HostConfig.Mounts` entry (`--mount type=...`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountSpec {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path (bind) or volume name (volume; empty: anonymous).
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// Bind options.
    pub bind_options: Option<BindOptions>,
    /// Volume options.
    pub volume_options: Option<VolumeOptions>,
    /// Tmpfs options.
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `BindOptions` of a mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    /// `rprivate`, `private`, `rshared`, ...
    pub propagation: String,
    /// Create the host path if missing (`bind-create-src`).
    pub create_mountpoint: bool,
}

/// `VolumeOptions` of a mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    /// Do not copy the image's content into a new volume.
    pub no_copy: bool,
    /// Labels of a volume created for this mount.
    pub labels: Option<BTreeMap<String, String>>,
    /// Driver and driver options of a volume created for this mount.
    pub driver_config: Option<DriverConfig>,
}

/// `VolumeOptions.DriverConfig` of a mount (`volume-driver`, `volume-opt`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverConfig {
    /// The volume driver (empty: `local`).
    pub name: String,
    /// Its options.
    pub options: Option<BTreeMap<String, String>>,
}

/// `TmpfsOptions` of a mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Size limit in bytes (0: the kernel's default).
    pub size_bytes: i64,
    /// File mode of the tmpfs root (0: 1777).
    pub mode: u32,
}

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// One `--ulimit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// The body of `POST /containers/create`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub networking_config: Option<NetworkingConfig>,
}

/// `NetworkingConfig` of the create body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, EndpointSettings>>,
}

/// One network's settings of a container (`EndpointsConfig.<net>`, the `EndpointConfig` of
/// `POST /networks/{id}/connect`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// `IPAMConfig` of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// The body of `POST /networks/create`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateRequest {
    pub name: String,
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Option<Ipam>,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: Option<bool>,
    pub options: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// `IPAM` of a network.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    pub driver: String,
    pub config: Option<Vec<IpamConfig>>,
}

/// One pool of `IPAM.Config`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    pub subnet: String,
    #[serde(rename = "IPRange")]
    pub ip_range: String,
    pub gateway: String,
}

/// The body of `POST /networks/{id}/connect` and `/disconnect`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConnectRequest {
    pub container: String,
    pub endpoint_config: Option<EndpointSettings>,
    pub force: bool,
}

/// Answer of `POST /containers/create`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateResponse {
    pub id: String,
    pub warnings: Vec<String>,
}

/// Answer of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResponse {
    pub error: Option<WaitError>,
    pub status_code: i64,
}

/// The error member of [`WaitResponse`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    pub message: String,
}

/// Docker's error body: `{"message": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_docker_cli_create_body() {
        let body = r#"{"Hostname":"","User":"","AttachStdout":true,"Tty":false,"Env":null,"Cmd":["sh","-c","exit 3"],"Image":"busybox","Volumes":{},"Entrypoint":null,"Labels":{},"HostConfig":{"Binds":null,"LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"ConsoleSize":[0,0],"CapAdd":null,"Memory":0,"MemorySwappiness":-1,"PidsLimit":0,"Ulimits":[]},"NetworkingConfig":{"EndpointsConfig":{"default":{}}}}"#;
        let req: CreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.config.image, "busybox");
        assert_eq!(
            req.config.cmd.as_deref(),
            Some(&["sh".to_string(), "-c".into(), "exit 3".into()][..])
        );
        assert!(req.host_config.auto_remove);
        assert_eq!(req.host_config.network_mode, "default");
    }
}

/// One object of Docker's JSON message stream (pull, push, load, import, build): exactly one
/// of `status`, `stream`, `error` or `aux` carries the news; `id` names the layer or tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonMessage {
    /// A status line (`Pulling fs layer`, `Digest: sha256:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Raw output (build steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// The layer (12 hex digits) or tag the status is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Byte counts behind a progress bar; `{}` when there are none.
    #[serde(
        rename = "progressDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub progress_detail: Option<ProgressDetail>,
    /// The pre-rendered bar Docker's CLI prints on a terminal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// A failure, ending the stream.
    #[serde(
        rename = "errorDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_detail: Option<ErrorDetail>,
    /// The failure's message again (older clients read this one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Extra structured data (push: `{"Tag","Digest","Size"}`; build: `{"ID"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

/// `progressDetail`: both absent serialises as `{}`, as Docker sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgressDetail {
    /// Bytes done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// Bytes in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// `errorDetail` of a [`JsonMessage`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Exit code (build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// What failed.
    #[serde(default)]
    pub message: String,
}

impl JsonMessage {
    /// A bare status line.
    pub fn status(status: impl Into<String>) -> JsonMessage {
        JsonMessage {
            status: Some(status.into()),
            ..JsonMessage::default()
        }
    }

    /// A status about one layer or tag, with an empty `progressDetail` as Docker sends.
    pub fn layer(id: impl Into<String>, status: impl Into<String>) -> JsonMessage {
        JsonMessage {
            status: Some(status.into()),
            id: Some(id.into()),
            progress_detail: Some(ProgressDetail::default()),
            ..JsonMessage::default()
        }
    }

    /// A progress report about one layer, with Docker's rendered bar.
    pub fn progress(
        id: impl Into<String>,
        status: impl Into<String>,
        current: u64,
        total: u64,
    ) -> JsonMessage {
        JsonMessage {
            status: Some(status.into()),
            id: Some(id.into()),
            progress_detail: Some(ProgressDetail {
                current: Some(current),
                total: Some(total),
            }),
            progress: Some(progress_bar(current, total)),
            ..JsonMessage::default()
        }
    }

    /// The final error object of a failed stream.
    pub fn error(message: impl Into<String>) -> JsonMessage {
        let message = message.into();
        JsonMessage {
            error_detail: Some(ErrorDetail {
                code: None,
                message: message.clone(),
            }),
            error: Some(message),
            ..JsonMessage::default()
        }
    }
}

/// Docker's progress bar: 50 columns of `=` up to a `>`, then `current/total` in
/// [`human_size`] units (`[==>      ]  36.45kB/3.001MB`).
pub fn progress_bar(current: u64, total: u64) -> String {
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let pct = ((current as f64 / total as f64 * 100.0) as usize / 2).min(50);
    format!(
        "[{}>{}] {:>8}/{}",
        "=".repeat(pct),
        " ".repeat(50 - pct),
        human_size(current),
        human_size(total)
    )
}

/// go-units' `HumanSize`: decimal units with 4 significant digits (`36.45kB`, `3.001MB`,
/// `3MB`, `512B`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", significant4(v), UNITS[i])
}

/// `%.4g` for values below 1000: four significant digits, trailing zeros dropped.
fn significant4(v: f64) -> String {
    let decimals = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.decimals$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod json_message_tests {
    use super::*;

    #[test]
    fn human_sizes_match_go_units() {
        assert_eq!(human_size(34304), "34.3kB");
        assert_eq!(human_size(3000005), "3MB");
        assert_eq!(human_size(36445), "36.45kB");
        assert_eq!(human_size(3001174), "3.001MB");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(123456789), "123.5MB");
    }

    #[test]
    fn messages_serialise_like_docker() {
        let m = JsonMessage::layer("be513873bda3", "Pulling fs layer");
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"status":"Pulling fs layer","id":"be513873bda3","progressDetail":{}}"#
        );
        let e = JsonMessage::error("no basic auth credentials");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"errorDetail":{"message":"no basic auth credentials"},"error":"no basic auth credentials"}"#
        );
        let p = JsonMessage::progress("x", "Downloading", 50, 100);
        assert!(p
            .progress
            .unwrap()
            .starts_with("[=========================>"));
    }
}

/// `POST /containers/{id}/exec` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreateRequest {
    pub user: String,
    pub privileged: bool,
    pub tty: bool,
    /// `[rows, columns]` (API 1.42+ with `-t`).
    pub console_size: Option<[u16; 2]>,
    pub attach_stdin: bool,
    pub attach_stderr: bool,
    pub attach_stdout: bool,
    pub detach: bool,
    pub detach_keys: String,
    pub env: Option<Vec<String>>,
    pub working_dir: String,
    pub cmd: Option<Vec<String>>,
}

/// `POST /exec/{id}/start` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartRequest {
    pub detach: bool,
    pub tty: bool,
    pub console_size: Option<[u16; 2]>,
}

/// `ProcessConfig` of `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecProcessConfig {
    pub tty: bool,
    pub entrypoint: String,
    pub arguments: Vec<String>,
    pub privileged: bool,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub user: String,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub process_config: ExecProcessConfig,
    pub open_stdin: bool,
    pub open_stderr: bool,
    pub open_stdout: bool,
    pub can_remove: bool,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub detach_keys: String,
    pub pid: i32,
}
