//! berth's nftables table: NAT and forwarding for bridge networks and published ports.
//!
//! berth owns one table, `ip <name>` (`berth` for the daemon, a unique name per test), and
//! nothing else in the ruleset. The whole table is rendered from the manager's state
//! ([`render`]) and replaced in one `nft -f -` transaction ([`apply`]): `table`, then `delete
//! table`, then the new table, so the kernel switches atomically and no rule is ever left
//! behind by a partial update. The table is deleted when the last bridge network goes ([`delete`]).
//!
//! Chains:
//! - `prerouting`/`output` (nat): packets to one of the host's own addresses jump to
//!   `published`, which DNATs each published port to its container through two maps:
//!   `ports_ip` (host address . protocol . port) and `ports_any` (protocol . port, for
//!   `0.0.0.0`), both mapping to container address . port. New ports are added as map
//!   elements ([`add_ports`]); everything else re-renders the table. `output` covers the host
//!   itself, including `127.0.0.1` (the bridge has `route_localnet` on so the rerouted packet
//!   may leave with a loopback source).
//! - `postrouting` (nat): masquerade of a non-internal network's traffic leaving through any
//!   other interface (outbound NAT), of loopback-sourced packets entering a bridge (the
//!   127.0.0.1 path), and of DNATed packets from a network back into the same bridge (hairpin
//!   through a host port).
//! - `forward` (filter): `--internal` networks neither send nor receive routed traffic;
//!   DNATed traffic (published ports) passes; other traffic between two berth bridges is
//!   dropped (network isolation).
//!
//! Only `nft` is supported: where it is missing, [`apply`] fails with a message saying so (no
//! iptables fallback).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::ipam::Ipv4Net;
use crate::ports::PortMapping;

/// A bridge network as the ruleset sees it.
#[derive(Debug, Clone)]
pub struct NftNetwork {
    /// Bridge device.
    pub bridge: String,
    /// Subnet.
    pub subnet: Ipv4Net,
    /// No traffic to or from other interfaces.
    pub internal: bool,
}

/// A published port and where it goes.
#[derive(Debug, Clone)]
pub struct NftPort {
    /// The mapping.
    pub mapping: PortMapping,
    /// The container's address.
    pub container_ip: Ipv4Addr,
}

/// Running `nft` failed.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// No `nft` binary.
    #[error("cannot run nft ({0}): berth needs nftables (the nft command, package nftables) for bridge networks; install it or use --network host or none")]
    Missing(#[source] std::io::Error),
    /// `nft` refused the ruleset.
    #[error("nft failed: {0}")]
    Failed(String),
}

/// The table's rules as `nft -f` input (without the table replacement preamble).
pub fn render(table: &str, nets: &[NftNetwork], ports: &[NftPort]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "table ip {table} {{");
    s.push_str("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump published\n  }\n");
    s.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump published\n  }\n");
    let (any, by_ip): (Vec<&NftPort>, Vec<&NftPort>) = ports
        .iter()
        .partition(|p| p.mapping.host_ip.is_unspecified());
    s.push_str(
        "  map ports_any {\n    type inet_proto . inet_service : ipv4_addr . inet_service;\n",
    );
    if !any.is_empty() {
        let _ = writeln!(s, "    elements = {{ {} }}", elements(&any).join(", "));
    }
    s.push_str("  }\n");
    s.push_str("  map ports_ip {\n    type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service;\n");
    if !by_ip.is_empty() {
        let _ = writeln!(s, "    elements = {{ {} }}", elements(&by_ip).join(", "));
    }
    s.push_str("  }\n");
    s.push_str("  chain published {\n    dnat ip to ip daddr . meta l4proto . th dport map @ports_ip\n    dnat ip to meta l4proto . th dport map @ports_any\n  }\n");
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for n in nets {
        let _ = writeln!(
            s,
            "    oifname \"{}\" ip saddr 127.0.0.0/8 masquerade",
            n.bridge
        );
        let _ = writeln!(
            s,
            "    oifname \"{}\" ip saddr {} ct status dnat masquerade",
            n.bridge, n.subnet
        );
        if !n.internal {
            let _ = writeln!(
                s,
                "    ip saddr {} oifname != \"{}\" masquerade",
                n.subnet, n.bridge
            );
        }
    }
    s.push_str("  }\n");
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    for n in nets.iter().filter(|n| n.internal) {
        let _ = writeln!(
            s,
            "    iifname \"{0}\" oifname != \"{0}\" drop\n    oifname \"{0}\" iifname != \"{0}\" drop",
            n.bridge
        );
    }
    s.push_str("    ct status dnat accept\n");
    if nets.len() > 1 {
        for n in nets {
            let others: Vec<String> = nets
                .iter()
                .filter(|o| o.bridge != n.bridge)
                .map(|o| format!("\"{}\"", o.bridge))
                .collect();
            let _ = writeln!(
                s,
                "    iifname \"{}\" oifname {{ {} }} drop",
                n.bridge,
                others.join(", ")
            );
        }
    }
    s.push_str("  }\n}\n");
    s
}

/// Map elements of published ports: `[host ip .] proto . host port : container ip . port`.
fn elements(ports: &[&NftPort]) -> Vec<String> {
    ports
        .iter()
        .map(|p| {
            let m = &p.mapping;
            let ip = if m.host_ip.is_unspecified() {
                String::new()
            } else {
                format!("{} . ", m.host_ip)
            };
            format!(
                "{ip}{} . {} : {} . {}",
                m.proto.as_str(),
                m.host_port,
                p.container_ip,
                m.container_port
            )
        })
        .collect()
}

/// Adds published ports to the table's maps (about 4 ms: adding needs no RCU grace period,
/// unlike deleting or replacing, which cost 15-20 ms here, so a start with `-p` takes this
/// path and only teardown pays for the replacement).
pub fn add_ports(table: &str, ports: &[NftPort]) -> Result<(), NftError> {
    let (any, by_ip): (Vec<&NftPort>, Vec<&NftPort>) = ports
        .iter()
        .partition(|p| p.mapping.host_ip.is_unspecified());
    let mut script = String::new();
    if !any.is_empty() {
        let _ = writeln!(
            script,
            "add element ip {table} ports_any {{ {} }}",
            elements(&any).join(", ")
        );
    }
    if !by_ip.is_empty() {
        let _ = writeln!(
            script,
            "add element ip {table} ports_ip {{ {} }}",
            elements(&by_ip).join(", ")
        );
    }
    if script.is_empty() {
        return Ok(());
    }
    run(&script)
}

/// Deletes published ports from the table's maps (15-20 ms: deletions wait for an RCU grace
/// period; callers run it off the critical path). Fails if an element is already gone.
pub fn delete_ports(table: &str, ports: &[NftPort]) -> Result<(), NftError> {
    let mut script = String::new();
    for p in ports {
        let m = &p.mapping;
        if m.host_ip.is_unspecified() {
            let _ = writeln!(
                script,
                "delete element ip {table} ports_any {{ {} . {} }}",
                m.proto.as_str(),
                m.host_port
            );
        } else {
            let _ = writeln!(
                script,
                "delete element ip {table} ports_ip {{ {} . {} . {} }}",
                m.host_ip,
                m.proto.as_str(),
                m.host_port
            );
        }
    }
    if script.is_empty() {
        return Ok(());
    }
    run(&script)
}

/// Replaces the table with the rules for `nets` and `ports` in one transaction.
pub fn apply(table: &str, nets: &[NftNetwork], ports: &[NftPort]) -> Result<(), NftError> {
    let script = format!(
        "table ip {table}\ndelete table ip {table}\n{}",
        render(table, nets, ports)
    );
    run(&script)
}

/// Deletes the table (a missing table is not an error).
pub fn delete(table: &str) -> Result<(), NftError> {
    run(&format!("table ip {table}\ndelete table ip {table}\n"))
}

/// True if the table exists.
pub fn exists(table: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "ip", table])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(script: &str) -> Result<(), NftError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NftError::Missing)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let write = stdin.write_all(script.as_bytes());
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| NftError::Failed(e.to_string()))?;
    if !out.status.success() || write.is_err() {
        return Err(NftError::Failed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::ports::Proto;

    #[test]
    fn renders_nat_forward_and_published_ports() {
        let nets = [
            NftNetwork {
                bridge: "berth0".into(),
                subnet: "172.17.0.0/16".parse().unwrap(),
                internal: false,
            },
            NftNetwork {
                bridge: "br-abc".into(),
                subnet: "172.18.0.0/16".parse().unwrap(),
                internal: true,
            },
        ];
        let ports = [NftPort {
            mapping: PortMapping {
                proto: Proto::Tcp,
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 8080,
                container_port: 80,
            },
            container_ip: Ipv4Addr::new(172, 17, 0, 2),
        }];
        let r = render("berth", &nets, &ports);
        assert!(r.contains("elements = { 127.0.0.1 . tcp . 8080 : 172.17.0.2 . 80 }"));
        assert!(r.contains("dnat ip to meta l4proto . th dport map @ports_any"));
        assert!(r.contains("ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade"));
        assert!(!r.contains("ip saddr 172.18.0.0/16 oifname != \"br-abc\" masquerade"));
        assert!(r.contains("iifname \"br-abc\" oifname != \"br-abc\" drop"));
        assert!(r.contains("iifname \"berth0\" oifname { \"br-abc\" } drop"));
    }
}
