//! `/_ping`, `/version`, `/info`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{json_response, AppState, API_VERSION, MIN_API_VERSION};

pub async fn ping() -> Response {
    let mut resp = (StatusCode::OK, "OK").into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

pub async fn version() -> Response {
    let v = env!("CARGO_PKG_VERSION");
    let arch = std::env::consts::ARCH.replace("x86_64", "amd64");
    let details = json!({"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": arch,
        "KernelVersion": kernel_version(), "GitCommit": "", "GoVersion": "", "BuildTime": "", "Experimental": "false"});
    json_response(
        StatusCode::OK,
        &json!({
            "Platform": {"Name": "berth"},
            "Components": [{"Name": "Engine", "Version": v, "Details": details}],
            "Version": v,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": "",
            "Os": "linux",
            "Arch": arch,
            "KernelVersion": kernel_version(),
            "BuildTime": "",
        }),
    )
}

fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

fn os_name() -> String {
    let release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|s| s.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// `VERSION_ID` of /etc/os-release (Docker's `OSVersion`).
fn os_version() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_ID="))
        .map(|s| s.trim_matches('"').to_string())
        .unwrap_or_default()
}

/// A `/proc/sys` switch is `1`.
fn sysctl_on(path: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1")
}

/// Docker's name for the filesystem under `path` (`Backing Filesystem`).
fn backing_filesystem(path: &std::path::Path) -> String {
    use nix::sys::statfs::{statfs, FsType};
    let Ok(fs) = statfs(path) else {
        return "unknown".into();
    };
    let magic = fs.filesystem_type();
    let known: [(FsType, &str); 6] = [
        (FsType(0xEF53), "extfs"),
        (FsType(0x5846_5342), "xfs"),
        (FsType(0x9123_683E), "btrfs"),
        (FsType(0x0102_1994), "tmpfs"),
        (FsType(0x794C_7630), "overlayfs"),
        (FsType(0x2FC1_2FC1), "zfs"),
    ];
    known
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("<unknown> ({:#x})", magic.0))
}

/// Open file descriptors and threads of the daemon (`NFd`; `NGoroutines` is Go's, berth reports
/// its threads there).
fn fds_and_threads() -> (usize, usize) {
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let threads = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (fds, threads)
}

/// cgroup v1 with `memory.memsw.*` (swap accounting) or v2 (always has `memory.swap.max`).
fn swap_limit() -> bool {
    cgroup_version() == "2"
        || std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
}

pub async fn info(State(engine): State<AppState>) -> Response {
    let (total, running, paused, stopped) = engine.counts();
    let images = engine.images.clone();
    let n_images = tokio::task::spawn_blocking(move || images.list().len())
        .await
        .unwrap_or(0);
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let runtime = engine.runtime.clone();
    let driver = engine.images.driver_name();
    let driver_status = if driver == "overlay2" {
        json!([
            ["Backing Filesystem", backing_filesystem(&engine.paths.root)],
            ["Supports d_type", "true"]
        ])
    } else {
        json!([])
    };
    let networks = if engine.net.is_some() {
        json!(["bridge", "host", "null"])
    } else {
        json!(["host", "null"])
    };
    let (nfd, threads) = fds_and_threads();
    json_response(
        StatusCode::OK,
        &json!({
            "ID": engine.id, "Containers": total, "ContainersRunning": running, "ContainersPaused": paused,
            "ContainersStopped": stopped, "Images": n_images, "Driver": driver,
            "DriverStatus": driver_status,
            "Plugins": {"Volume": ["local"], "Network": networks, "Authorization": null, "Log": ["json-file"]},
            "MemoryLimit": true, "SwapLimit": swap_limit(), "KernelMemory": false, "KernelMemoryTCP": false,
            "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true, "CPUSet": true, "PidsLimit": true,
            "IPv4Forwarding": sysctl_on("/proc/sys/net/ipv4/ip_forward"),
            "BridgeNfIptables": sysctl_on("/proc/sys/net/bridge/bridge-nf-call-iptables"),
            "BridgeNfIp6tables": sysctl_on("/proc/sys/net/bridge/bridge-nf-call-ip6tables"), "Debug": false,
            "NFd": nfd, "OomKillDisable": false, "NGoroutines": threads,
            "SystemTime": api::time::rfc3339_nano(std::time::SystemTime::now()),
            "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version(),
            "NEventsListener": engine.events.listeners(), "KernelVersion": kernel_version(),
            "OperatingSystem": os_name(), "OSVersion": os_version(), "OSType": "linux", "Architecture": std::env::consts::ARCH,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
                "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {}, "Mirrors": []},
            "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "MemTotal": mem_total(), "GenericResources": null, "DockerRootDir": engine.paths.root,
            "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": hostname, "Labels": [],
            "ExperimentalBuild": false, "ServerVersion": env!("CARGO_PKG_VERSION"),
            "Runtimes": {"berth": {"path": "berth"}, "runc": {"path": "runc"}}, "DefaultRuntime": runtime,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
                "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true, "Isolation": "", "InitBinary": "berth",
            "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"], "Warnings": null,
        }),
    )
}
