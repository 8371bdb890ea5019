//! The OCI bundle of a container: Docker's defaults from [`api::oci::defaults`] plus what the
//! record asks for, and the per-container `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`.

use std::path::Path;

use api::oci::defaults::{docker_spec, NetworkChoice, SeccompChoice, SpecOptions, CAPABILITIES};
use api::oci::{Mount, Rlimit, Spec};

use super::record::Record;
use super::Paths;
use crate::error::EngineError;
use crate::network::NetSetup;

/// Builds the bundle's `config.json` for `rec` and writes the per-container etc files.
/// Returns the spec and warnings for the user.
pub fn build(
    rec: &Record,
    paths: &Paths,
    net: &NetSetup,
) -> Result<(Spec, Vec<String>), EngineError> {
    let hc = &rec.host_config;
    let data_dir = paths.data_dir(&rec.id);
    let network = net.choice.clone();
    write_etc_files(rec, &data_dir, net)?;
    let mut seccomp = SeccompChoice::Default;
    let mut no_new_privileges = false;
    for opt in hc.security_opt.iter().flatten() {
        let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match k {
            "seccomp" if v == "unconfined" => seccomp = SeccompChoice::Unconfined,
            "seccomp" => seccomp = SeccompChoice::Profile(v.to_string()),
            "no-new-privileges" if v.is_empty() || v == "true" => no_new_privileges = true,
            "no-new-privileges" if v == "false" => no_new_privileges = false,
            "apparmor" | "label" => {}
            _ => {
                return Err(EngineError::Invalid(format!(
                    "invalid --security-opt: {opt:?}"
                )))
            }
        }
    }
    let mut extra_mounts = Vec::new();
    for (file, dest) in [
        ("hostname", "/etc/hostname"),
        ("hosts", "/etc/hosts"),
        ("resolv.conf", "/etc/resolv.conf"),
    ] {
        let src = data_dir.join(file);
        extra_mounts.push(Mount::new(
            dest,
            "bind",
            &src.to_string_lossy(),
            &["rbind", "rprivate"],
        ));
    }
    // Docker's default is 1048576 open files; never above what this host lets us raise to
    // (this VM's bounding set lacks CAP_SYS_RESOURCE, so the daemon's hard limit is the ceiling).
    let nofile = host_nofile_hard().map_or(1_048_576, |h| h.min(1_048_576));
    let mut rlimits = vec![Rlimit {
        typ: "RLIMIT_NOFILE".into(),
        hard: nofile,
        soft: nofile,
    }];
    for u in hc.ulimits.iter().flatten() {
        let typ = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
        rlimits.retain(|r| r.typ != typ);
        rlimits.push(Rlimit {
            typ,
            hard: u.hard.max(0) as u64,
            soft: u.soft.max(0) as u64,
        });
    }
    let (cpu_quota, cpu_period) = if hc.nano_cpus > 0 {
        (Some(hc.nano_cpus / 10_000), Some(100_000))
    } else {
        (
            positive(hc.cpu_quota),
            positive(hc.cpu_period).map(|p| p as u64),
        )
    };
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());
    let opts = SpecOptions {
        root_path: "rootfs".into(),
        readonly_rootfs: hc.readonly_rootfs,
        args,
        env: process_env(rec),
        cwd: if rec.config.working_dir.is_empty() {
            "/".into()
        } else {
            rec.config.working_dir.clone()
        },
        hostname: if network == NetworkChoice::Host {
            String::new()
        } else {
            rec.config.hostname.clone()
        },
        terminal: rec.config.tty,
        // Root's primary group as a supplementary one, as dockerd's spec has it (the shim
        // resolves a `--user` and replaces uid, gid and this list).
        additional_gids: vec![0],
        console_size: hc.console_size.filter(|s| s[0] > 0).map(|[h, w]| (h, w)),
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        privileged: hc.privileged,
        host_bounding_set: host_bounding_set(),
        seccomp,
        no_new_privileges,
        memory: positive(hc.memory),
        memory_swap: if hc.memory_swap != 0 {
            Some(hc.memory_swap)
        } else {
            None
        },
        memory_reservation: positive(hc.memory_reservation),
        cpu_shares: positive(hc.cpu_shares).map(|s| s as u64),
        cpu_quota,
        cpu_period,
        pids_limit: hc.pids_limit.filter(|p| *p != 0),
        network,
        cgroups_path: format!("/berth/{}", rec.id),
        extra_mounts,
        init: hc.init.unwrap_or(false),
        rlimits,
        ..Default::default()
    };
    let built = docker_spec(&opts).map_err(|e| EngineError::Invalid(chain(&e)))?;
    Ok((built.spec, built.warnings))
}

fn positive(v: i64) -> Option<i64> {
    (v > 0).then_some(v)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// The hard limit on open files of this process (`/proc/self/limits`).
fn host_nofile_hard() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let hard = line.split_whitespace().nth(4)?;
    if hard == "unlimited" {
        None
    } else {
        hard.parse().ok()
    }
}

/// The capability bounding set of this process, as names.
fn host_bounding_set() -> Option<Vec<String>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))?
        .trim();
    let mask = u64::from_str_radix(hex, 16).ok()?;
    Some(
        CAPABILITIES
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1u64 << i) != 0)
            .map(|(_, n)| n.to_string())
            .collect(),
    )
}

/// Writes `hostname`, `hosts` and `resolv.conf` into the container's data directory.
fn write_etc_files(rec: &Record, dir: &Path, net: &NetSetup) -> Result<(), EngineError> {
    let write = |name: &str, data: &str| {
        content::atomic::write_file(&dir.join(name), data.as_bytes())
            .map_err(EngineError::io(format!("write {name}")))
    };
    let host_network = net.choice == NetworkChoice::Host;
    let extra = rec
        .host_config
        .extra_hosts
        .iter()
        .flatten()
        .filter_map(|h| h.split_once(':'))
        .map(|(name, ip)| match (ip, net.host_gateway) {
            ("host-gateway", Some(gw)) => format!("{gw}\t{name}\n"),
            _ => format!("{ip}\t{name}\n"),
        })
        .collect::<String>();
    if host_network {
        write(
            "hostname",
            &std::fs::read_to_string("/etc/hostname").unwrap_or_default(),
        )?;
        let mut hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        hosts.push_str(&extra);
        write("hosts", &hosts)?;
    } else {
        write("hostname", &format!("{}\n", rec.config.hostname))?;
        let mut hosts = String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        );
        hosts.push_str(&extra);
        for ip in &net.addresses {
            hosts.push_str(&format!("{ip}\t{}\n", rec.config.hostname));
        }
        write("hosts", &hosts)?;
    }
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    write(
        "resolv.conf",
        &resolv_conf(
            &host,
            host_network,
            net.nameservers.as_deref(),
            rec.host_config.dns_search.as_deref().unwrap_or(&[]),
            &dns_options(
                rec.host_config.dns_options.as_deref().unwrap_or(&[]),
                &host,
                net.embedded_dns,
            ),
        ),
    )
}

/// The init's environment as dockerd's `CreateDaemonEnvironment` makes it: `HOSTNAME`,
/// `TERM=xterm` with a terminal, then `Config.Env` (whose entries win); PATH is added by the
/// spec when missing, HOME by the runtime (from the user's passwd entry).
fn process_env(rec: &Record) -> Vec<String> {
    let own = rec.config.env.clone().unwrap_or_default();
    let has = |k: &str| own.iter().any(|e| e.split('=').next() == Some(k));
    let mut env = Vec::new();
    if !rec.config.hostname.is_empty() && !has("HOSTNAME") {
        env.push(format!("HOSTNAME={}", rec.config.hostname));
    }
    if rec.config.tty && !has("TERM") {
        env.push("TERM=xterm".into());
    }
    env.extend(own);
    env
}

/// The `options` of a container's resolv.conf: `--dns-option`s; behind an embedded DNS
/// server Docker adds `ndots:0` unless an `ndots` is given (then the host's options are kept
/// too, since the options line is rewritten).
/// The words of the host resolv.conf's `options` lines.
fn host_options(host: &str) -> Vec<String> {
    host.lines()
        .filter_map(|l| l.trim().strip_prefix("options"))
        .flat_map(|o| o.split_whitespace().map(String::from))
        .collect()
}

fn dns_options(given: &[String], host: &str, embedded: bool) -> Vec<String> {
    if !embedded {
        return given.to_vec();
    }
    let mut out: Vec<String> = if given.is_empty() {
        host_options(host)
    } else {
        given.to_vec()
    };
    if !out.iter().any(|o| o.starts_with("ndots:")) {
        out.push("ndots:0".into());
    }
    out
}

/// A container's resolv.conf from the host's, as libnetwork makes it. With nothing given it
/// is the host's file with loopback name servers (unreachable from a private network)
/// dropped, and public defaults when none is left. When `nameservers` (the network's DNS
/// server or `--dns`), `--dns-search` or `options` are given it is rebuilt like
/// `resolvconf.Build`: `search`, then the name servers, then `options`, each from what was
/// given or else from the host (a search list of just `.` means none).
fn resolv_conf(
    host: &str,
    host_network: bool,
    nameservers: Option<&[String]>,
    search: &[String],
    options: &[String],
) -> String {
    const DEFAULTS: &str = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
    let usable = |ns: &str| host_network || !(ns.starts_with("127.") || ns == "::1");
    let host_servers = host
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(str::trim)
        .filter(|ns| usable(ns))
        .map(String::from);
    let mut out = String::new();
    if nameservers.is_none() && search.is_empty() && options.is_empty() {
        if host_network {
            return host.to_string();
        }
        for line in host.lines() {
            match line.trim().strip_prefix("nameserver") {
                Some(ns) if !usable(ns.trim()) => {}
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        if host_servers.count() == 0 {
            out.push_str(DEFAULTS);
        }
        return out;
    }
    // The host's search list: its last `search` line, as libnetwork's GetSearchDomains.
    let search = if search.is_empty() {
        host.lines()
            .filter_map(|l| l.trim().strip_prefix("search"))
            .rfind(|rest| rest.starts_with([' ', '\t']))
            .map(|rest| rest.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    } else {
        search.to_vec()
    };
    if !search.is_empty() && search.join(" ").trim() != "." {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    let servers: Vec<String> = match nameservers {
        Some(given) => given.to_vec(),
        None => host_servers.collect(),
    };
    if servers.is_empty() {
        out.push_str(DEFAULTS);
    }
    for ns in &servers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    let options = if options.is_empty() {
        host_options(host)
    } else {
        options.to_vec()
    };
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{dns_options, resolv_conf};

    #[test]
    fn embedded_dns_gets_ndots_0() {
        let host = "nameserver 10.0.0.53\noptions edns0\n";
        assert_eq!(dns_options(&[], host, false), Vec::<String>::new());
        assert_eq!(dns_options(&[], host, true), ["edns0", "ndots:0"]);
        assert_eq!(dns_options(&["ndots:3".into()], host, true), ["ndots:3"]);
    }

    #[test]
    fn resolv_conf_follows_docker() {
        let host = "search lan\nnameserver 127.0.0.53\nnameserver 10.0.0.53\n";
        assert_eq!(
            resolv_conf(host, false, None, &[], &[]),
            "search lan\nnameserver 10.0.0.53\n"
        );
        assert_eq!(
            resolv_conf(
                host,
                false,
                Some(&["172.18.0.1".into()]),
                &["x.y".into()],
                &["ndots:2".into()]
            ),
            "search x.y\nnameserver 172.18.0.1\noptions ndots:2\n"
        );
        // Rebuilt when only --dns-search is given: the host's usable servers and options kept,
        // its comments and other lines not; `.` means no search line.
        let host =
            "# managed\nsearch lan\nnameserver 127.0.0.53\nnameserver 10.0.0.53\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, false, None, &["ex.com".into()], &[]),
            "search ex.com\nnameserver 10.0.0.53\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf(host, false, Some(&["9.9.9.9".into()]), &[".".into()], &[]),
            "nameserver 9.9.9.9\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.1\n", false, None, &["a".into()], &[]),
            "search a\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            resolv_conf("nameserver 127.0.0.1\n", false, None, &[], &[]),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(resolv_conf(host, true, None, &[], &[]), host);
    }
}
