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
    let details = json!({"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": "amd64",
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
            "Arch": std::env::consts::ARCH.replace("x86_64", "amd64"),
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
    json_response(
        StatusCode::OK,
        &json!({
            "ID": "", "Containers": total, "ContainersRunning": running, "ContainersPaused": paused,
            "ContainersStopped": stopped, "Images": n_images, "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["host", "null"], "Authorization": null, "Log": ["json-file"]},
            "MemoryLimit": true, "SwapLimit": true, "KernelMemory": false, "KernelMemoryTCP": false,
            "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true, "CPUSet": true, "PidsLimit": true,
            "IPv4Forwarding": true, "BridgeNfIptables": false, "BridgeNfIp6tables": false, "Debug": false,
            "NFd": 0, "OomKillDisable": false, "NGoroutines": 0,
            "SystemTime": api::time::rfc3339_nano(std::time::SystemTime::now()),
            "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version(),
            "NEventsListener": 0, "KernelVersion": kernel_version(), "OperatingSystem": os_name(),
            "OSVersion": "", "OSType": "linux", "Architecture": std::env::consts::ARCH,
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
