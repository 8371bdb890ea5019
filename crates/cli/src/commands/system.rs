//! `version` and `info`.

use serde_json::{json, Value};

use super::{print, println, Ctx};
use crate::args::{InfoArgs, VersionArgs};
use crate::client::{ClientError, Query, MAX_API_VERSION};
use crate::error::StatusError;
use crate::format::bytes_size;
use crate::template::Template;

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Aligns `key:\tvalue` lines like docker's `tabwriter.NewWriter(out, 20, 1, 1, ' ', 0)`.
fn align(lines: &[String]) -> String {
    let mut out = String::new();
    for l in lines {
        match l.split_once('\t') {
            Some((k, v)) => {
                let width = (k.chars().count() + 1).max(20);
                out.push_str(&format!("{k:<width$}{v}\n"));
            }
            None => {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    out
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `berth version`: client section, then the daemon's `/version`.
pub async fn version(ctx: &Ctx, args: VersionArgs) -> anyhow::Result<i32> {
    let client_info = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": MAX_API_VERSION,
        "Os": "linux",
        "Arch": go_arch(),
        "Context": "default",
    });
    let template = args
        .format
        .as_deref()
        .map(|f| Template::parse(f, None))
        .transpose()
        .map_err(|e| StatusError::new(1, e.to_string()))?;
    let mut lines = vec![
        "Client:".to_string(),
        format!(" Version:\t{}", env!("CARGO_PKG_VERSION")),
    ];
    let server = match ctx.client().await {
        Ok(client) => {
            let api = client.api_version().await?;
            if api != MAX_API_VERSION {
                lines.push(format!(
                    " API version:\t{api} (downgraded from {MAX_API_VERSION})"
                ));
            } else {
                lines.push(format!(" API version:\t{api}"));
            }
            Some(client.get_json::<Value>("/version", &Query::new()).await)
        }
        Err(e @ (ClientError::Connect { .. } | ClientError::PermissionDenied { .. })) => {
            lines.push(format!(" API version:\t{MAX_API_VERSION}"));
            Some(Err(e))
        }
        Err(e) => return Err(e.into()),
    };
    lines.push(format!(" OS/Arch:\tlinux/{}", go_arch()));
    lines.push(" Context:\tdefault".to_string());

    if let Some(t) = template {
        let server_v = match &server {
            Some(Ok(v)) => v.clone(),
            _ => Value::Null,
        };
        println(&t.render(&json!({"Client": client_info, "Server": server_v}))?)?;
        return match server {
            Some(Err(e)) => Err(e.into()),
            _ => Ok(0),
        };
    }
    match server {
        Some(Ok(v)) => {
            lines.push(String::new());
            let platform = s(&v["Platform"]["Name"]);
            lines.push(if platform.is_empty() {
                "Server:".to_string()
            } else {
                format!("Server: {platform}")
            });
            let components = v["Components"].as_array().cloned().unwrap_or_default();
            let engine_block = |lines: &mut Vec<String>, version: &Value, details: &Value| {
                lines.push(" Engine:".to_string());
                lines.push(format!("  Version:\t{}", s(version)));
                lines.push(format!(
                    "  API version:\t{} (minimum version {})",
                    s(&details["ApiVersion"]),
                    s(&details["MinAPIVersion"])
                ));
                lines.push(format!("  Go version:\t{}", s(&details["GoVersion"])));
                lines.push(format!("  Git commit:\t{}", s(&details["GitCommit"])));
                lines.push(format!("  Built:\t{}", s(&details["BuildTime"])));
                lines.push(format!(
                    "  OS/Arch:\t{}/{}",
                    s(&details["Os"]),
                    s(&details["Arch"])
                ));
                lines.push(format!(
                    "  Experimental:\t{}",
                    details["Experimental"].as_str().unwrap_or("false")
                ));
            };
            if components.is_empty() {
                engine_block(&mut lines, &v["Version"], &v);
            }
            for c in &components {
                let name = s(&c["Name"]);
                if name == "Engine" {
                    let mut details = c["Details"].clone();
                    for k in [
                        "ApiVersion",
                        "MinAPIVersion",
                        "GoVersion",
                        "GitCommit",
                        "BuildTime",
                        "Os",
                        "Arch",
                    ] {
                        if details[k].is_null() {
                            details[k] = v[k].clone();
                        }
                    }
                    engine_block(&mut lines, &c["Version"], &details);
                } else {
                    lines.push(format!(" {name}:"));
                    lines.push(format!("  Version:\t{}", s(&c["Version"])));
                    lines.push(format!("  GitCommit:\t{}", s(&c["Details"]["GitCommit"])));
                }
            }
            print(&align(&lines))?;
            Ok(0)
        }
        Some(Err(e)) => {
            print(&align(&lines))?;
            Err(e.into())
        }
        None => Ok(0),
    }
}

/// `berth info`: a docker-info-like rendering of `/info`.
pub async fn info(ctx: &Ctx, args: InfoArgs) -> anyhow::Result<i32> {
    let template = args
        .format
        .as_deref()
        .map(|f| Template::parse(f, None))
        .transpose()
        .map_err(|e| StatusError::new(1, e.to_string()))?;
    let client = ctx.client().await?;
    let v: Value = client.get_json("/info", &Query::new()).await?;
    if let Some(t) = template {
        println(&t.render(&v)?)?;
        return Ok(0);
    }
    print(&render_info(&v))?;
    for w in v["Warnings"].as_array().into_iter().flatten() {
        if let Some(w) = w.as_str() {
            eprintln!("{w}");
        }
    }
    Ok(0)
}

/// The text of `berth info` for an `/info` document.
pub fn render_info(v: &Value) -> String {
    let mut o = String::from("Client:\n");
    o.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
    o.push_str(" Context:    default\n");
    o.push_str(" Debug Mode: false\n\nServer:\n");
    let line = |o: &mut String, indent: usize, key: &str, value: String| {
        if value.is_empty() {
            o.push_str(&format!("{:indent$}{key}:\n", ""));
        } else {
            o.push_str(&format!("{:indent$}{key}: {value}\n", ""));
        }
    };
    line(&mut o, 1, "Containers", s(&v["Containers"]));
    line(&mut o, 2, "Running", s(&v["ContainersRunning"]));
    line(&mut o, 2, "Paused", s(&v["ContainersPaused"]));
    line(&mut o, 2, "Stopped", s(&v["ContainersStopped"]));
    line(&mut o, 1, "Images", s(&v["Images"]));
    line(&mut o, 1, "Server Version", s(&v["ServerVersion"]));
    line(&mut o, 1, "Storage Driver", s(&v["Driver"]));
    for pair in v["DriverStatus"].as_array().into_iter().flatten() {
        if let (Some(k), Some(val)) = (pair[0].as_str(), pair[1].as_str()) {
            line(&mut o, 2, k, val.to_string());
        }
    }
    line(&mut o, 1, "Logging Driver", s(&v["LoggingDriver"]));
    line(&mut o, 1, "Cgroup Driver", s(&v["CgroupDriver"]));
    line(&mut o, 1, "Cgroup Version", s(&v["CgroupVersion"]));
    if let Some(rt) = v["Runtimes"].as_object() {
        let names = rt.keys().cloned().collect::<Vec<_>>().join(" ");
        line(&mut o, 1, "Runtimes", names);
    }
    if !v["DefaultRuntime"].is_null() {
        line(&mut o, 1, "Default Runtime", s(&v["DefaultRuntime"]));
    }
    if let Some(opts) = v["SecurityOptions"].as_array() {
        line(&mut o, 1, "Security Options", String::new());
        for opt in opts.iter().filter_map(Value::as_str) {
            let name = opt
                .split(',')
                .find_map(|kv| kv.strip_prefix("name="))
                .unwrap_or(opt);
            o.push_str(&format!("  {name}\n"));
        }
    }
    line(&mut o, 1, "Kernel Version", s(&v["KernelVersion"]));
    line(&mut o, 1, "Operating System", s(&v["OperatingSystem"]));
    line(&mut o, 1, "OSType", s(&v["OSType"]));
    line(&mut o, 1, "Architecture", s(&v["Architecture"]));
    line(&mut o, 1, "CPUs", s(&v["NCPU"]));
    let mem = bytes_size(v["MemTotal"].as_f64().unwrap_or(0.0));
    line(&mut o, 1, "Total Memory", mem);
    line(&mut o, 1, "Name", s(&v["Name"]));
    line(&mut o, 1, "ID", s(&v["ID"]));
    line(&mut o, 1, "Docker Root Dir", s(&v["DockerRootDir"]));
    line(&mut o, 1, "Debug Mode", s(&v["Debug"]));
    line(&mut o, 1, "Experimental", s(&v["ExperimentalBuild"]));
    line(
        &mut o,
        1,
        "Live Restore Enabled",
        s(&v["LiveRestoreEnabled"]),
    );
    o.push('\n');
    o
}

/// `berth system SUBCOMMAND`.
pub async fn system(ctx: &Ctx, args: crate::args::SystemArgs) -> anyhow::Result<i32> {
    match args.command {
        crate::args::SystemCommand::Df(a) => df(ctx, a).await,
        crate::args::SystemCommand::Info(a) => info(ctx, a).await,
        crate::args::SystemCommand::Prune(a) => super::prune::system_prune(ctx, a).await,
    }
}

/// `berth system df`: docker's summary table of `/system/df`.
pub async fn df(ctx: &Ctx, args: crate::args::DfArgs) -> anyhow::Result<i32> {
    use crate::format::{human_size, ListFormat};
    let client = ctx.client().await?;
    let v: Value = client.get_json("/system/df", &Query::new()).await?;
    let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let (images, containers, volumes, cache) = (
        list("Images"),
        list("Containers"),
        list("Volumes"),
        list("BuildCache"),
    );
    let size = |n: i64| human_size(n as f64, 4);
    let with_pct = |reclaimable: i64, total: i64| {
        if total > 0 {
            format!("{} ({}%)", size(reclaimable), reclaimable * 100 / total)
        } else {
            size(reclaimable)
        }
    };
    let layers = v["LayersSize"].as_i64().unwrap_or(0);
    let used: i64 = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .map(|i| i["Size"].as_i64().unwrap_or(0) - i["SharedSize"].as_i64().unwrap_or(0))
        .sum();
    let active_images = images
        .iter()
        .filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0)
        .count();
    let rw: i64 = containers
        .iter()
        .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    let running = |c: &&Value| c["State"].as_str() == Some("running");
    let active_containers = containers.iter().filter(running).count();
    let idle_rw: i64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| c["SizeRw"].as_i64().unwrap_or(0))
        .sum();
    let vol_size: i64 = volumes
        .iter()
        .map(|x| x["UsageData"]["Size"].as_i64().unwrap_or(0))
        .sum();
    let active_volumes = volumes
        .iter()
        .filter(|x| x["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0)
        .count();
    let idle_vol_size: i64 = volumes
        .iter()
        .filter(|x| x["UsageData"]["RefCount"].as_i64().unwrap_or(0) == 0)
        .map(|x| x["UsageData"]["Size"].as_i64().unwrap_or(0))
        .sum();
    let cache_size: i64 = cache.iter().map(|x| x["Size"].as_i64().unwrap_or(0)).sum();
    let row = |t: &str, total: usize, active: usize, s: String, r: String| json!({"Type": t, "TotalCount": total.to_string(), "Active": active.to_string(), "Size": s, "Reclaimable": r});
    let rows = vec![
        row(
            "Images",
            images.len(),
            active_images,
            size(layers),
            with_pct(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            active_containers,
            size(rw),
            with_pct(idle_rw, rw),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            active_volumes,
            size(vol_size),
            with_pct(idle_vol_size, vol_size),
        ),
        row(
            "Build Cache",
            cache.len(),
            0,
            size(cache_size),
            size(cache_size),
        ),
    ];
    let fields = ["Type", "TotalCount", "Active", "Size", "Reclaimable"];
    let headers = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    let format = ListFormat::choose(
        args.format.as_deref(),
        None,
        "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    );
    print(&format.render(&fields, &headers, &rows)?)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_renders_the_core_fields() {
        let v = json!({"Containers":2,"ContainersRunning":1,"ContainersPaused":0,"ContainersStopped":1,
            "Images":1,"ServerVersion":"0.1.0","Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"]],
            "CgroupDriver":"cgroupfs","CgroupVersion":"2","KernelVersion":"6.1","OperatingSystem":"Debian",
            "OSType":"linux","Architecture":"x86_64","NCPU":2,"MemTotal":25276510208i64,"DockerRootDir":"/var/lib/berth",
            "Debug":false,"ExperimentalBuild":false,"LiveRestoreEnabled":false,"Name":"vm","ID":"x"});
        let out = render_info(&v);
        assert!(
            out.contains("\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n")
        );
        assert!(out.contains(
            " Server Version: 0.1.0\n Storage Driver: overlay2\n  Backing Filesystem: extfs\n"
        ));
        assert!(out.contains(" Cgroup Driver: cgroupfs\n Cgroup Version: 2\n"));
        assert!(out.contains(" CPUs: 2\n Total Memory: 23.54GiB\n"));
        assert!(out.contains(" Docker Root Dir: /var/lib/berth\n"));
    }

    #[test]
    fn version_lines_align_at_20() {
        assert_eq!(
            align(&[" Version:\t1".to_string(), "Server:".to_string()]),
            " Version:           1\nServer:\n"
        );
    }
}
