//! The `POST /containers/create` body docker's CLI sends, built from `run`/`create` flags. Field
//! order and zero values follow the docker CLI 28 capture (reference section 3.2) so the daemon
//! sees the same bytes from berth and from docker.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::args::RunArgs;
use crate::opts;

/// Top-level container config plus host and networking config.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBody {
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
    pub volumes: BTreeMap<String, serde_json::Value>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    pub host_config: HostConfig,
    pub networking_config: NetworkingConfig,
}

/// `LogConfig`.
#[derive(Debug, Serialize, PartialEq, Default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Config")]
    pub config: BTreeMap<String, String>,
}

/// `RestartPolicy`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// `HostConfig`, in the order docker's encoder writes it.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: BTreeMap<String, serde_json::Value>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    pub console_size: [u16; 2],
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: String,
    pub dns: Vec<String>,
    pub dns_options: Vec<String>,
    pub dns_search: Vec<String>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub shm_size: i64,
    pub isolation: String,
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cgroup_parent: String,
    pub blkio_weight: u16,
    pub blkio_weight_device: Vec<serde_json::Value>,
    pub blkio_device_read_bps: Vec<serde_json::Value>,
    pub blkio_device_write_bps: Vec<serde_json::Value>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Vec<serde_json::Value>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Vec<serde_json::Value>,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Vec<serde_json::Value>,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub device_requests: Option<Vec<serde_json::Value>>,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub memory_swappiness: i64,
    pub oom_kill_disable: bool,
    pub pids_limit: i64,
    pub ulimits: Vec<serde_json::Value>,
    pub cpu_count: i64,
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

/// `NetworkingConfig`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkingConfig {
    pub endpoints_config: BTreeMap<String, EndpointSettings>,
}

/// One endpoint's settings; docker sends them all zero for the default network.
#[derive(Debug, Serialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<serde_json::Value>,
    pub links: Option<Vec<String>>,
    pub aliases: Option<Vec<String>>,
    pub mac_address: String,
    pub driver_opts: Option<BTreeMap<String, String>>,
    pub gw_priority: i64,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// Builds the create body. `env` is the already-resolved environment (env files then `-e`),
/// `console` the terminal size `[rows, cols]` when `-t` is used on a terminal.
pub fn build(
    args: &RunArgs,
    env: Vec<String>,
    console: Option<[u16; 2]>,
) -> Result<CreateBody, String> {
    let (image, cmd) = args
        .image_and_command
        .split_first()
        .ok_or_else(|| "\"run\" requires at least 1 argument".to_string())?;
    let attach = !args.detach;
    // --health-*: Docker's Healthcheck (durations in nanoseconds); --no-healthcheck is NONE.
    let healthcheck = if args.no_healthcheck {
        if args.health_cmd.is_some() {
            return Err("--no-healthcheck conflicts with --health-* options".to_string());
        }
        Some(serde_json::json!({"Test": ["NONE"]}))
    } else {
        let dur = |v: &Option<String>, flag: &str| -> Result<i64, String> {
            match v {
                None => Ok(0),
                Some(s) => api::time::go_duration(s)
                    .map(|d| d.as_nanos() as i64)
                    .ok_or_else(|| format!("invalid argument {s:?} for \"{flag}\" flag: time: invalid duration {s:?}")),
            }
        };
        let interval = dur(&args.health_interval, "--health-interval")?;
        let timeout = dur(&args.health_timeout, "--health-timeout")?;
        let start_period = dur(&args.health_start_period, "--health-start-period")?;
        let any = args.health_cmd.is_some()
            || interval != 0
            || timeout != 0
            || start_period != 0
            || args.health_retries.is_some();
        any.then(|| {
            let test = args
                .health_cmd
                .as_ref()
                .map(|c| serde_json::json!(["CMD-SHELL", c]))
                .unwrap_or(serde_json::Value::Null);
            serde_json::json!({
                "Test": test,
                "Interval": interval,
                "Timeout": timeout,
                "StartPeriod": start_period,
                "Retries": args.health_retries.unwrap_or(0),
            })
        })
    };
    // `-v /path` is an anonymous volume (Config.Volumes); `-v src:dst[:mode]` a bind.
    let mut anon_volumes = BTreeMap::new();
    let mut binds = Vec::new();
    for v in &args.volume {
        if v.is_empty() {
            return Err("invalid empty volume spec".to_string());
        }
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            anon_volumes.insert(v.clone(), serde_json::json!({}));
        }
    }
    let mounts = args
        .mount
        .iter()
        .map(|m| opts::mount_spec(m))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tmpfs = BTreeMap::new();
    for t in &args.tmpfs {
        let (dst, o) = t.split_once(':').unwrap_or((t.as_str(), ""));
        tmpfs.insert(dst.to_string(), o.to_string());
    }
    let restart = match &args.restart {
        Some(r) => opts::restart_policy(r)?,
        None => ("no".to_string(), 0),
    };
    if args.rm && !matches!(restart.0.as_str(), "" | "no") {
        return Err("Conflicting options: --restart and --rm".to_string());
    }
    let network = args
        .network
        .clone()
        .unwrap_or_else(|| "default".to_string());
    let mut endpoints = BTreeMap::new();
    let aliases = (!args.network_alias.is_empty()).then(|| args.network_alias.clone());
    let ipam = args
        .ip
        .as_ref()
        .map(|ip| serde_json::json!({"IPv4Address": ip}));
    if network == "default" || aliases.is_some() || ipam.is_some() {
        endpoints.insert(
            network.clone(),
            EndpointSettings {
                aliases,
                ipam_config: ipam,
                ..Default::default()
            },
        );
    }
    let mut exposed: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut bindings: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for spec in &args.publish {
        for p in api::ports::parse_publish(spec).map_err(|e| e.to_string())? {
            let key = p.key.to_string();
            exposed.insert(key.clone(), serde_json::json!({}));
            let entry = bindings.entry(key).or_insert_with(|| serde_json::json!([]));
            if let Some(list) = entry.as_array_mut() {
                list.push(serde_json::json!({"HostIp": p.host_ip, "HostPort": p.host_port}));
            }
        }
    }
    for e in &args.expose {
        let (range, proto) = e.split_once('/').unwrap_or((e.as_str(), "tcp"));
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let bad = || format!("invalid range format for --expose: {e}");
        let (a, b): (u16, u16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if a == 0 || a > b {
            return Err(bad());
        }
        for port in a..=b {
            let key: api::ports::PortKey = format!("{port}/{proto}")
                .parse()
                .map_err(|e: api::ports::PortSpecError| e.to_string())?;
            exposed.insert(key.to_string(), serde_json::json!({}));
        }
    }
    Ok(CreateBody {
        hostname: args.hostname.clone().unwrap_or_default(),
        domainname: String::new(),
        user: args.user.clone().unwrap_or_default(),
        attach_stdin: attach && args.interactive,
        attach_stdout: attach,
        attach_stderr: attach,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        tty: args.tty,
        open_stdin: args.interactive,
        stdin_once: attach && args.interactive,
        env: (!env.is_empty()).then_some(env),
        cmd: (!cmd.is_empty()).then(|| cmd.to_vec()),
        healthcheck,
        image: image.clone(),
        volumes: anon_volumes,
        working_dir: args.workdir.clone().unwrap_or_default(),
        entrypoint: args.entrypoint.as_ref().map(|e| vec![e.clone()]),
        on_build: None,
        labels: opts::labels(&args.label),
        stop_signal: args.stop_signal.clone(),
        stop_timeout: args.stop_timeout,
        host_config: HostConfig {
            binds: (!binds.is_empty()).then_some(binds),
            mounts: (!mounts.is_empty()).then_some(mounts),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            container_id_file: String::new(),
            log_config: LogConfig {
                kind: args.log_driver.clone().unwrap_or_default(),
                config: crate::opts::labels(&args.log_opts),
            },
            network_mode: network,
            port_bindings: bindings,
            restart_policy: RestartPolicy {
                name: restart.0,
                maximum_retry_count: restart.1,
            },
            auto_remove: args.rm,
            volume_driver: String::new(),
            volumes_from: (!args.volumes_from.is_empty()).then(|| args.volumes_from.clone()),
            console_size: console.unwrap_or([0, 0]),
            cap_add: opts::capabilities(&args.cap_add),
            cap_drop: opts::capabilities(&args.cap_drop),
            cgroupns_mode: String::new(),
            dns: args.dns.clone(),
            dns_options: args.dns_option.clone(),
            dns_search: args.dns_search.clone(),
            extra_hosts: (!args.add_host.is_empty()).then(|| args.add_host.clone()),
            group_add: None,
            ipc_mode: String::new(),
            cgroup: String::new(),
            links: None,
            oom_score_adj: 0,
            pid_mode: String::new(),
            privileged: args.privileged,
            publish_all_ports: args.publish_all,
            readonly_rootfs: args.read_only,
            security_opt: opts::security_opts(&args.security_opt)?,
            uts_mode: String::new(),
            userns_mode: String::new(),
            shm_size: 0,
            isolation: String::new(),
            cpu_shares: args.cpu_shares.unwrap_or(0),
            memory: args.memory.unwrap_or(0),
            nano_cpus: args.cpus.unwrap_or(0),
            cgroup_parent: String::new(),
            blkio_weight: 0,
            blkio_weight_device: Vec::new(),
            blkio_device_read_bps: Vec::new(),
            blkio_device_write_bps: Vec::new(),
            blkio_device_read_iops: Vec::new(),
            blkio_device_write_iops: Vec::new(),
            cpu_period: 0,
            cpu_quota: 0,
            cpu_realtime_period: 0,
            cpu_realtime_runtime: 0,
            cpuset_cpus: String::new(),
            cpuset_mems: String::new(),
            devices: Vec::new(),
            device_cgroup_rules: None,
            device_requests: None,
            memory_reservation: 0,
            memory_swap: 0,
            memory_swappiness: -1,
            oom_kill_disable: false,
            pids_limit: args.pids_limit.unwrap_or(0),
            ulimits: Vec::new(),
            cpu_count: 0,
            cpu_percent: 0,
            io_maximum_iops: 0,
            io_maximum_bandwidth: 0,
            masked_paths: None,
            readonly_paths: None,
            init: args.init.then_some(true),
        },
        networking_config: NetworkingConfig {
            endpoints_config: endpoints,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body docker CLI 28 sent for `docker run --rm busybox sh -c '...'` (trace
    /// run-attach-multiplexed.txt), with the command shortened.
    const DOCKER_RUN_RM: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["echo","hi"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;

    fn args(v: &[&str]) -> RunArgs {
        use clap::Parser;
        let mut argv = vec!["berth", "run"];
        argv.extend_from_slice(v);
        match crate::args::Cli::try_parse_from(argv).unwrap().command {
            crate::args::Command::Run(r) => r,
            _ => unreachable!(),
        }
    }

    #[test]
    fn plain_run_matches_docker_bytes() {
        let body = build(&args(&["--rm", "busybox", "echo", "hi"]), Vec::new(), None).unwrap();
        assert_eq!(serde_json::to_string(&body).unwrap(), DOCKER_RUN_RM);
    }

    #[test]
    fn flags_fill_their_fields() {
        let a = args(&[
            "-d",
            "-i",
            "-t",
            "--name",
            "web",
            "-h",
            "box",
            "-u",
            "1000:1000",
            "-w",
            "/tmp",
            "-m",
            "64m",
            "--cpus",
            "1.5",
            "--cpu-shares",
            "512",
            "--pids-limit",
            "20",
            "--read-only",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--privileged",
            "--network",
            "none",
            "--init",
            "-l",
            "a=b",
            "-l",
            "flag",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "3",
            "--restart",
            "on-failure:2",
            "--entrypoint",
            "",
            "busybox",
        ]);
        let b = build(&a, vec!["K=V".into()], Some([40, 100])).unwrap();
        assert!(!b.attach_stdin && !b.attach_stdout && !b.attach_stderr);
        assert!(b.tty && b.open_stdin && !b.stdin_once);
        assert_eq!(b.hostname, "box");
        assert_eq!(b.user, "1000:1000");
        assert_eq!(b.working_dir, "/tmp");
        assert_eq!(b.env, Some(vec!["K=V".to_string()]));
        assert_eq!(b.cmd, None);
        assert_eq!(b.entrypoint, Some(vec![String::new()]));
        assert_eq!(b.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(b.labels.get("flag").map(String::as_str), Some(""));
        assert_eq!(b.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(b.stop_timeout, Some(3));
        let h = &b.host_config;
        assert_eq!(h.memory, 64 * 1024 * 1024);
        assert_eq!(h.nano_cpus, 1_500_000_000);
        assert_eq!(h.cpu_shares, 512);
        assert_eq!(h.pids_limit, 20);
        assert!(h.readonly_rootfs && h.privileged);
        assert_eq!(h.cap_add, Some(vec!["CAP_NET_ADMIN".to_string()]));
        assert_eq!(h.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(h.network_mode, "none");
        assert_eq!(h.console_size, [40, 100]);
        assert_eq!(h.init, Some(true));
        assert_eq!(h.restart_policy.name, "on-failure");
        assert_eq!(h.restart_policy.maximum_retry_count, 2);
        assert!(b.networking_config.endpoints_config.is_empty());
        let json = serde_json::to_string(&b).unwrap();
        assert!(json.contains(r#""StopSignal":"SIGINT","StopTimeout":3,"HostConfig""#));
        assert!(json.contains(r#""ReadonlyPaths":null,"Init":true}"#));
    }

    #[test]
    fn network_flags_fill_ports_endpoints_and_dns() {
        let a = args(&[
            "-p",
            "127.0.0.1:8080:80",
            "-p",
            "9000-9001:90-91/udp",
            "-P",
            "--expose",
            "7000",
            "--network",
            "capnet",
            "--network-alias",
            "db",
            "--ip",
            "10.1.0.9",
            "--add-host",
            "h:10.0.0.1",
            "--dns",
            "10.0.0.53",
            "--dns-search",
            "lan",
            "--dns-option",
            "ndots:2",
            "busybox",
        ]);
        let b = build(&a, Vec::new(), None).unwrap();
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(
            v["HostConfig"]["PortBindings"]["80/tcp"],
            serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": "8080"}])
        );
        assert_eq!(
            v["HostConfig"]["PortBindings"]["91/udp"][0]["HostPort"],
            "9001"
        );
        let exposed: Vec<&String> = v["ExposedPorts"].as_object().unwrap().keys().collect();
        assert_eq!(exposed, ["7000/tcp", "80/tcp", "90/udp", "91/udp"]);
        assert_eq!(v["HostConfig"]["PublishAllPorts"], true);
        let ep = &v["NetworkingConfig"]["EndpointsConfig"]["capnet"];
        assert_eq!(ep["Aliases"], serde_json::json!(["db"]));
        assert_eq!(ep["IPAMConfig"]["IPv4Address"], "10.1.0.9");
        assert_eq!(
            v["HostConfig"]["ExtraHosts"],
            serde_json::json!(["h:10.0.0.1"])
        );
        assert_eq!(v["HostConfig"]["Dns"], serde_json::json!(["10.0.0.53"]));
        assert_eq!(v["HostConfig"]["DnsSearch"], serde_json::json!(["lan"]));
        assert_eq!(
            v["HostConfig"]["DnsOptions"],
            serde_json::json!(["ndots:2"])
        );
        let bad = args(&["-p", "8080:80/sctp", "busybox"]);
        assert_eq!(
            build(&bad, Vec::new(), None).unwrap_err(),
            "invalid proto: sctp"
        );
    }

    #[test]
    fn interactive_attached_run_sets_stdin_once() {
        let b = build(&args(&["-i", "busybox", "cat"]), Vec::new(), None).unwrap();
        assert!(b.attach_stdin && b.open_stdin && b.stdin_once);
        assert!(build(
            &args(&["--rm", "--restart", "always", "busybox"]),
            Vec::new(),
            None
        )
        .is_err());
    }
}
