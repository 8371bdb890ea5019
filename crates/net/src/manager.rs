//! The network manager: networks, endpoints and container sandboxes, persisted under the
//! data root and kept in step with the kernel (bridges, veths, namespaces, berth's nftables
//! table, port reservations, DNS servers).
//!
//! Terms: a *network* is a bridge with a subnet (or one of the pseudo networks `host` and
//! `none`); a *sandbox* is a container's network namespace, bind-mounted at
//! `<netns dir>/<container id>`; an *endpoint* joins a sandbox to a network: a veth pair (host
//! end on the bridge, `ethN` inside), an address, the default route for the first endpoint,
//! the container's published ports and its DNS names.
//!
//! Lifecycle: [`NetworkManager::open`] loads the state, re-creates what the kernel lost
//! (bridges after a reboot), re-reserves the host ports of every recorded endpoint, restarts
//! the DNS servers and re-applies the nftables table, so containers that kept running while the
//! daemon was down stay reachable. The engine calls [`NetworkManager::create_sandbox`] and
//! [`NetworkManager::connect`] before a container starts and [`NetworkManager::release`] when
//! it stopped. Every change is written atomically before it is acknowledged: networks to
//! `<root>/network/networks.json` (fsync'd: they outlive reboots), endpoints to
//! `<exec-root>/network/endpoints.json` (temp file and rename, no fsync: they describe kernel
//! objects that a reboot removes anyway, and a killed daemon loses no page cache); failures
//! roll back what was set up (no veth, rule or reservation stays).

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use api::ports::Proto;
use serde::{Deserialize, Serialize};

use crate::dns::{DnsServer, Records};
pub use crate::error::NetError;
use crate::ipam::{self, Ipv4Net};
use crate::netlink::{Netlink, VethSpec};
use crate::netns;
use crate::nft::{self, NftNetwork, NftPort};
use crate::ports::{self, PortError, PortMapping, Reservation};

/// Name of Docker's default network.
pub const DEFAULT_NETWORK: &str = "bridge";

/// How the manager is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where `networks.json` lives (`<root>/network`).
    pub state_dir: PathBuf,
    /// Where `endpoints.json` lives (`<exec-root>/network`).
    pub runtime_dir: PathBuf,
    /// Where sandboxes are bind-mounted (`<exec-root>/netns`).
    pub netns_dir: PathBuf,
    /// berth's nftables table (`berth`).
    pub table: String,
    /// Bridge device of the default network (`berth0`).
    pub default_bridge: String,
    /// Subnet of the default network (None: the first free default pool).
    pub default_subnet: Option<Ipv4Net>,
    /// The default bridge's own address when given (docker's `--bip 10.1.0.5/24`); else the
    /// subnet's first host.
    pub default_gateway: Option<Ipv4Addr>,
    /// Create the default `bridge` network and the `host`/`none` pseudo networks.
    pub predefined: bool,
    /// Port the DNS servers listen on (53).
    pub dns_port: u16,
    /// Resolvers DNS servers forward to (None: the host's, from /etc/resolv.conf).
    pub dns_upstreams: Option<Vec<SocketAddr>>,
    /// Runtime the DNS servers run on (None: no DNS servers).
    pub runtime: Option<tokio::runtime::Handle>,
}

impl Config {
    /// The daemon's configuration under a data root and an exec root.
    pub fn new(root: &Path, exec_root: &Path) -> Config {
        Config {
            state_dir: root.join("network"),
            runtime_dir: exec_root.join("network"),
            netns_dir: exec_root.join("netns"),
            table: "berth".into(),
            default_bridge: "berth0".into(),
            default_subnet: None,
            default_gateway: None,
            predefined: true,
            dns_port: 53,
            dns_upstreams: None,
            runtime: None,
        }
    }
}

/// A network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// Subnet (bridge networks).
    pub subnet: Option<Ipv4Net>,
    /// Gateway: the bridge's address.
    pub gateway: Option<Ipv4Addr>,
    /// Bridge device.
    pub bridge: String,
    /// No outbound or inbound routed traffic.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// The subnet was given by the user (`--ip` is allowed only then).
    pub user_subnet: bool,
    /// Created by the user (not `bridge`, `host`, `none`): has a DNS server, may be removed.
    pub user_defined: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
}

impl Network {
    fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }
}

/// A container's attachment to a network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// 64 hex digits.
    pub id: String,
    /// The network's id.
    pub network_id: String,
    /// The container's full id.
    pub container_id: String,
    /// The container's name (DNS).
    pub container_name: String,
    /// Address.
    pub ip: Ipv4Addr,
    /// Prefix length of the network.
    pub prefix: u8,
    /// `02:42:...`.
    pub mac: String,
    /// Host end of the veth pair.
    pub veth: String,
    /// Name inside the sandbox (`eth0`).
    pub ifname: String,
    /// Extra DNS names.
    pub aliases: Vec<String>,
    /// Published ports (DNAT to `ip`).
    pub ports: Vec<PortMapping>,
    /// The container's own resolvers (`--dns`), used by the network's DNS server for names it
    /// does not know.
    #[serde(default)]
    pub dns: Vec<String>,
}

/// A request to create a network.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    /// Name.
    pub name: String,
    /// Driver (`bridge` or empty).
    pub driver: String,
    /// `--subnet`.
    pub subnet: Option<String>,
    /// `--gateway`.
    pub gateway: Option<String>,
    /// `--internal`.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options (`com.docker.network.bridge.name`).
    pub options: BTreeMap<String, String>,
}

/// A published port to set up: container port and the host side as requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    /// Protocol.
    pub proto: Proto,
    /// Container port.
    pub container_port: u16,
    /// Host address (None = every address).
    pub host_ip: Option<Ipv4Addr>,
    /// Host port range (None = random).
    pub host_ports: Option<(u16, u16)>,
}

/// A request to connect a container's sandbox to a network.
#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    /// Full id.
    pub container_id: String,
    /// Name (without slash).
    pub container_name: String,
    /// Extra DNS names.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ipv4: Option<Ipv4Addr>,
    /// Ports to publish on this endpoint.
    pub ports: Vec<PortRequest>,
    /// The container's resolvers (`--dns`: an address, or address:port).
    pub dns: Vec<String>,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Io { what, source }
}

#[derive(Debug, Default)]
struct State {
    networks: Vec<Network>,
    endpoints: Vec<Endpoint>,
}

struct Inner {
    state: State,
    reservations: HashMap<String, Vec<Reservation>>,
    dns: HashMap<String, (Records, Option<DnsServer>)>,
}

/// The network manager. Blocking: call it from a blocking thread, not from async code.
pub struct NetworkManager {
    cfg: Config,
    inner: Mutex<Inner>,
    /// Background deletions of veths of released sandboxes (see [`NetworkManager::release`]).
    reaper: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Addresses (network id, address) of released endpoints whose DNAT map elements are still
    /// being deleted: not handed out again until then.
    pending: Arc<Mutex<Vec<(String, Ipv4Addr)>>>,
}

const HOST_LOCK: &str = "/run/lock/berth-net.lock";

/// Serialises subnet choices of every berth process on the host (daemons, tests).
fn host_lock() -> Option<nix::fcntl::Flock<std::fs::File>> {
    let _ = std::fs::create_dir_all("/run/lock");
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(HOST_LOCK)
        .ok()?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).ok()
}

impl NetworkManager {
    /// Opens (or initialises) the state and brings the kernel in line with it.
    pub fn open(cfg: Config) -> Result<NetworkManager, NetError> {
        for d in [&cfg.state_dir, &cfg.runtime_dir, &cfg.netns_dir] {
            std::fs::create_dir_all(d).map_err(io_err(format!("create {}", d.display())))?;
        }
        let mut state = State {
            networks: read_json(&cfg.state_dir.join(NETWORKS_FILE))?,
            endpoints: read_json(&cfg.runtime_dir.join(ENDPOINTS_FILE))?,
        };
        // Endpoints whose sandbox is gone (a reboot) hold nothing any more.
        state
            .endpoints
            .retain(|e| netns::exists(&cfg.netns_dir.join(&e.container_id)));
        let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
        let mgr = NetworkManager {
            cfg,
            inner: Mutex::new(Inner {
                state,
                reservations: HashMap::new(),
                dns: HashMap::new(),
            }),
            reaper: Mutex::new(Vec::new()),
            pending: Arc::new(Mutex::new(Vec::new())),
        };
        let nl = Netlink::open()?;
        let mut inner = mgr.inner.lock().expect("net lock");
        if mgr.cfg.predefined {
            mgr.ensure_predefined(&mut inner)?;
        }
        for n in inner.state.networks.clone() {
            if n.is_bridge() {
                mgr.ensure_bridge(&nl, &n)?;
            }
        }
        // Re-take the host ports of endpoints that survived a daemon restart.
        for ep in inner.state.endpoints.clone() {
            let mut held = Vec::new();
            for m in &ep.ports {
                match ports::reserve(m.proto, m.host_ip, m.host_port) {
                    Ok((_, r)) => held.push(r),
                    Err(e) => {
                        tracing::warn!(container = %ep.container_id, error = %e, "cannot re-reserve a published port")
                    }
                }
            }
            inner.reservations.insert(ep.id.clone(), held);
        }
        for n in inner.state.networks.clone() {
            if n.user_defined {
                mgr.start_dns(&mut inner, &n);
            }
        }
        mgr.sync_rules(&inner)?;
        mgr.save_networks(&inner)?;
        mgr.save_endpoints(&inner)?;
        drop(inner);
        Ok(mgr)
    }

    fn ensure_predefined(&self, inner: &mut Inner) -> Result<(), NetError> {
        let have = |inner: &Inner, name: &str| inner.state.networks.iter().any(|n| n.name == name);
        if !have(inner, DEFAULT_NETWORK) {
            let _lock = host_lock();
            let taken: Vec<Ipv4Net> = inner
                .state
                .networks
                .iter()
                .filter_map(|n| n.subnet)
                .collect();
            let subnet = match self.cfg.default_subnet {
                Some(s) => s,
                None => ipam::pick_subnet(&taken, &ipam::host_routes())?,
            };
            let net = Network {
                id: random_id()?,
                name: DEFAULT_NETWORK.into(),
                driver: "bridge".into(),
                created: now(),
                subnet: Some(subnet),
                gateway: Some(
                    self.cfg
                        .default_gateway
                        .filter(|g| subnet.contains(*g) && *g != subnet.addr())
                        .unwrap_or_else(|| subnet.first_host()),
                ),
                bridge: self.cfg.default_bridge.clone(),
                internal: false,
                attachable: false,
                user_subnet: false,
                user_defined: false,
                labels: BTreeMap::new(),
                options: BTreeMap::from([
                    (
                        "com.docker.network.bridge.default_bridge".to_string(),
                        "true".to_string(),
                    ),
                    (
                        "com.docker.network.bridge.name".to_string(),
                        self.cfg.default_bridge.clone(),
                    ),
                ]),
            };
            self.ensure_bridge(&Netlink::open()?, &net)?;
            inner.state.networks.push(net);
        }
        for (name, driver) in [("host", "host"), ("none", "null")] {
            if !have(inner, name) {
                inner.state.networks.push(Network {
                    id: random_id()?,
                    name: name.into(),
                    driver: driver.into(),
                    created: now(),
                    subnet: None,
                    gateway: None,
                    bridge: String::new(),
                    internal: false,
                    attachable: false,
                    user_subnet: false,
                    user_defined: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                });
            }
        }
        Ok(())
    }

    /// Creates the bridge of `n` if it is missing, with its address, up, `route_localnet` on.
    fn ensure_bridge(&self, nl: &Netlink, n: &Network) -> Result<(), NetError> {
        let index = match nl.index(&n.bridge)? {
            Some(i) => i,
            None => {
                nl.create_bridge(&n.bridge, n.gateway.map(ipam::mac_for), None)?;
                nl.require_index(&n.bridge)?
            }
        };
        if let (Some(gw), Some(subnet)) = (n.gateway, n.subnet) {
            nl.add_address(index, gw, subnet.prefix())?;
        }
        nl.set_up(index)?;
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv4/conf/{}/route_localnet", n.bridge),
            "1",
        );
        Ok(())
    }

    fn save_networks(&self, inner: &Inner) -> Result<(), NetError> {
        let path = self.cfg.state_dir.join(NETWORKS_FILE);
        content::atomic::write_file(&path, &encode(&inner.state.networks)?)
            .map_err(io_err(format!("write {}", path.display())))
    }

    fn save_endpoints(&self, inner: &Inner) -> Result<(), NetError> {
        let path = self.cfg.runtime_dir.join(ENDPOINTS_FILE);
        let tmp = self.cfg.runtime_dir.join(format!(".{ENDPOINTS_FILE}.tmp"));
        std::fs::write(&tmp, encode(&inner.state.endpoints)?)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(io_err(format!("write {}", path.display())))
    }

    /// Re-renders berth's table (or deletes it when no bridge network is left).
    fn sync_rules(&self, inner: &Inner) -> Result<(), NetError> {
        let nets: Vec<NftNetwork> = inner
            .state
            .networks
            .iter()
            .filter(|n| n.is_bridge())
            .filter_map(|n| {
                Some(NftNetwork {
                    bridge: n.bridge.clone(),
                    subnet: n.subnet?,
                    internal: n.internal,
                })
            })
            .collect();
        if nets.is_empty() {
            nft::delete(&self.cfg.table)?;
            return Ok(());
        }
        let ports: Vec<NftPort> = inner
            .state
            .endpoints
            .iter()
            .flat_map(|e| {
                e.ports.iter().map(|m| NftPort {
                    mapping: m.clone(),
                    container_ip: e.ip,
                })
            })
            .collect();
        nft::apply(&self.cfg.table, &nets, &ports)?;
        Ok(())
    }

    fn start_dns(&self, inner: &mut Inner, n: &Network) {
        let records: Records = Default::default();
        let server = match (&self.cfg.runtime, n.gateway) {
            (Some(rt), Some(gw)) => {
                let upstreams = self.cfg.dns_upstreams.clone().unwrap_or_else(|| {
                    crate::dns::upstreams_from(
                        &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
                    )
                });
                match DnsServer::spawn(rt, gw, self.cfg.dns_port, records.clone(), upstreams) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!(network = %n.name, error = %e, "cannot start the network's DNS server");
                        None
                    }
                }
            }
            _ => None,
        };
        inner.dns.insert(n.id.clone(), (records, server));
        self.refresh_dns(inner, &n.id);
    }

    fn refresh_dns(&self, inner: &Inner, network_id: &str) {
        let Some((records, _)) = inner.dns.get(network_id) else {
            return;
        };
        let mut map: HashMap<String, Vec<Ipv4Addr>> = HashMap::new();
        let mut upstreams: HashMap<Ipv4Addr, Vec<SocketAddr>> = HashMap::new();
        for e in inner
            .state
            .endpoints
            .iter()
            .filter(|e| e.network_id == network_id)
        {
            if !e.dns.is_empty() {
                upstreams.insert(
                    e.ip,
                    e.dns.iter().filter_map(|d| resolver_addr(d)).collect(),
                );
            }
            let mut names = vec![e.container_name.clone(), e.container_id[..12].to_string()];
            names.extend(e.aliases.iter().cloned());
            for name in names {
                let v = map.entry(name.to_ascii_lowercase()).or_default();
                if !v.contains(&e.ip) {
                    v.push(e.ip);
                }
            }
        }
        *records.write().expect("dns records lock") = crate::dns::Table {
            names: map,
            upstreams,
        };
    }

    fn find<'a>(&self, inner: &'a Inner, name_or_id: &str) -> Result<&'a Network, NetError> {
        let nets = &inner.state.networks;
        if let Some(n) = nets
            .iter()
            .find(|n| n.id == name_or_id || n.name == name_or_id)
        {
            return Ok(n);
        }
        let matches: Vec<&Network> = nets
            .iter()
            .filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id))
            .collect();
        match matches.len() {
            0 => Err(NetError::NotFound(name_or_id.to_string())),
            1 => Ok(matches[0]),
            k => Err(NetError::Ambiguous(name_or_id.to_string(), k)),
        }
    }

    /// A network by full id, name or unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Network, NetError> {
        let inner = self.inner.lock().expect("net lock");
        self.find(&inner, name_or_id).cloned()
    }

    /// Every network, in creation order.
    pub fn list(&self) -> Vec<Network> {
        self.inner.lock().expect("net lock").state.networks.clone()
    }

    /// Endpoints on a network.
    pub fn endpoints_on(&self, network_id: &str) -> Vec<Endpoint> {
        let inner = self.inner.lock().expect("net lock");
        inner
            .state
            .endpoints
            .iter()
            .filter(|e| e.network_id == network_id)
            .cloned()
            .collect()
    }

    /// A container's endpoints with their networks, in connection order.
    pub fn endpoints_of(&self, container_id: &str) -> Vec<(Network, Endpoint)> {
        let inner = self.inner.lock().expect("net lock");
        inner
            .state
            .endpoints
            .iter()
            .filter(|e| e.container_id == container_id)
            .filter_map(|e| {
                let n = inner.state.networks.iter().find(|n| n.id == e.network_id)?;
                Some((n.clone(), e.clone()))
            })
            .collect()
    }

    /// Creates a bridge network.
    pub fn create_network(&self, req: CreateNetwork) -> Result<Network, NetError> {
        if req.name.is_empty() {
            return Err(NetError::Invalid("network name must not be empty".into()));
        }
        if !req
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            || !req.name.as_bytes()[0].is_ascii_alphanumeric()
        {
            return Err(NetError::Invalid(format!(
                "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                req.name
            )));
        }
        match req.driver.as_str() {
            "" | "bridge" => {}
            d => {
                return Err(NetError::Invalid(format!(
                    "driver {d:?} is not supported: berth creates bridge networks only"
                )))
            }
        }
        let subnet = req
            .subnet
            .as_deref()
            .map(str::parse::<Ipv4Net>)
            .transpose()?;
        let gateway = req.gateway.as_deref().map(ipam::parse_addr).transpose()?;
        if gateway.is_some() && subnet.is_none() {
            return Err(NetError::Invalid(
                "--gateway needs --subnet: a gateway is only accepted with a user-specified subnet"
                    .into(),
            ));
        }
        let bridge_opt = req.options.get("com.docker.network.bridge.name").cloned();
        if let Some(b) = &bridge_opt {
            if b.is_empty() || b.len() > 15 || b.contains(['/', ' ']) {
                return Err(NetError::Invalid(format!(
                    "invalid bridge name {b:?}: at most 15 characters, no '/' or spaces"
                )));
            }
        }
        let _lock = host_lock();
        let mut inner = self.inner.lock().expect("net lock");
        if inner.state.networks.iter().any(|n| n.name == req.name) {
            return Err(NetError::NameExists(req.name));
        }
        let taken: Vec<Ipv4Net> = inner
            .state
            .networks
            .iter()
            .filter_map(|n| n.subnet)
            .collect();
        let subnet = match subnet {
            Some(s) => {
                if taken.iter().any(|t| t.overlaps(&s)) {
                    return Err(NetError::Overlap);
                }
                s
            }
            None => ipam::pick_subnet(&taken, &ipam::host_routes())?,
        };
        let gateway = match gateway {
            Some(g) => {
                ipam::check_address(subnet, g, &[], "gateway")?;
                g
            }
            None => subnet.first_host(),
        };
        let id = random_id()?;
        let bridge = bridge_opt.unwrap_or_else(|| format!("br-{}", &id[..12]));
        if inner.state.networks.iter().any(|n| n.bridge == bridge) {
            return Err(NetError::Invalid(format!(
                "bridge name {bridge} is used by another network"
            )));
        }
        let net = Network {
            id,
            name: req.name,
            driver: "bridge".into(),
            created: now(),
            subnet: Some(subnet),
            gateway: Some(gateway),
            bridge,
            internal: req.internal,
            attachable: req.attachable,
            user_subnet: req.subnet.is_some(),
            user_defined: true,
            labels: req.labels,
            options: req.options,
        };
        let nl = Netlink::open()?;
        if nl.index(&net.bridge)?.is_some() {
            return Err(NetError::Invalid(format!(
                "bridge {} already exists on the host",
                net.bridge
            )));
        }
        self.ensure_bridge(&nl, &net).inspect_err(|_| {
            let _ = nl.delete_link(&net.bridge);
        })?;
        inner.state.networks.push(net.clone());
        let committed = self
            .save_networks(&inner)
            .and_then(|()| self.sync_rules(&inner));
        if let Err(e) = committed {
            inner.state.networks.retain(|n| n.id != net.id);
            let _ = nl.delete_link(&net.bridge);
            let _ = self.save_networks(&inner);
            let _ = self.sync_rules(&inner);
            return Err(e);
        }
        self.start_dns(&mut inner, &net);
        tracing::info!(network = %net.name, subnet = %subnet, bridge = %net.bridge, "network created");
        Ok(net)
    }

    /// Removes a user network without endpoints.
    pub fn remove_network(&self, name_or_id: &str) -> Result<(), NetError> {
        let mut inner = self.inner.lock().expect("net lock");
        let net = self.find(&inner, name_or_id)?.clone();
        if !net.user_defined {
            return Err(NetError::Predefined(net.name));
        }
        if inner.state.endpoints.iter().any(|e| e.network_id == net.id) {
            return Err(NetError::ActiveEndpoints {
                name: net.name,
                id: net.id,
            });
        }
        inner.dns.remove(&net.id);
        inner.state.networks.retain(|n| n.id != net.id);
        self.save_networks(&inner)?;
        Netlink::open()?.delete_link(&net.bridge)?;
        self.sync_rules(&inner)?;
        tracing::info!(network = %net.name, "network removed");
        Ok(())
    }

    /// Removes every user network without endpoints that `select` accepts; returns their names.
    pub fn prune(&self, select: impl Fn(&Network) -> bool) -> Vec<String> {
        let unused: Vec<Network> = {
            let inner = self.inner.lock().expect("net lock");
            inner
                .state
                .networks
                .iter()
                .filter(|n| {
                    n.user_defined
                        && !inner.state.endpoints.iter().any(|e| e.network_id == n.id)
                        && select(n)
                })
                .cloned()
                .collect()
        };
        unused
            .into_iter()
            .filter(|n| match self.remove_network(&n.id) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(network = %n.name, error = %e, "prune");
                    false
                }
            })
            .map(|n| n.name)
            .collect()
    }

    /// Where a container's sandbox is mounted.
    pub fn sandbox_path(&self, container_id: &str) -> PathBuf {
        self.cfg.netns_dir.join(container_id)
    }

    /// Creates the container's sandbox (a new network namespace with `lo` up) if needed.
    pub fn create_sandbox(&self, container_id: &str) -> Result<PathBuf, NetError> {
        let path = self.sandbox_path(container_id);
        if !netns::exists(&path) {
            let _ = netns::remove(&path);
            netns::create(&path)?;
        }
        Ok(path)
    }

    /// Connects a container's sandbox to a bridge network.
    pub fn connect(&self, network: &str, req: &ConnectRequest) -> Result<Endpoint, NetError> {
        let mut inner = self.inner.lock().expect("net lock");
        let net = self.find(&inner, network)?.clone();
        if !net.is_bridge() {
            return Err(NetError::Invalid(format!(
                "container cannot be connected to network {}: it is not a bridge network",
                net.name
            )));
        }
        let (Some(subnet), Some(gateway)) = (net.subnet, net.gateway) else {
            return Err(NetError::Invalid(format!(
                "network {} has no subnet",
                net.name
            )));
        };
        let mine: Vec<&Endpoint> = inner
            .state
            .endpoints
            .iter()
            .filter(|e| e.container_id == req.container_id)
            .collect();
        if mine.iter().any(|e| e.network_id == net.id) {
            return Err(NetError::AlreadyConnected {
                container: req.container_name.clone(),
                network: net.name,
            });
        }
        let primary = mine.is_empty();
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !mine.iter().any(|e| &e.ifname == n))
            .expect("an unused ethN exists");
        let mut used: Vec<Ipv4Addr> = inner
            .state
            .endpoints
            .iter()
            .filter(|e| e.network_id == net.id)
            .map(|e| e.ip)
            .collect();
        used.push(gateway);
        used.extend(
            self.pending
                .lock()
                .expect("pending lock")
                .iter()
                .filter(|(n, _)| n == &net.id)
                .map(|(_, ip)| *ip),
        );
        let ip = match req.ipv4 {
            Some(ip) => {
                if !net.user_subnet {
                    return Err(NetError::Invalid(
                        "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
                    ));
                }
                ipam::check_address(subnet, ip, &used, "address")?;
                ip
            }
            None => ipam::pick_address(subnet, &used)?,
        };
        let id = random_id()?;
        let veth = format!("veth{}", &id[..7]);
        let mac = ipam::mac_for(ip);

        // Host ports first: a port in use fails before anything is set up.
        let mut held = Vec::new();
        let mut mappings = Vec::new();
        for p in &req.ports {
            let host_ip = p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            let reserve = || match p.host_ports {
                Some((a, b)) => ports::reserve_range(p.proto, host_ip, a, b),
                None => ports::reserve(p.proto, host_ip, 0),
            };
            let mut reserved = reserve();
            if matches!(
                reserved,
                Err(PortError::InUse { .. } | PortError::RangeFull { .. })
            ) {
                // A container released just before (a restart) may still hold the port while
                // its DNAT element is deleted: wait for that, then try again.
                self.settle();
                reserved = reserve();
            }
            let (port, r) = reserved.map_err(|source| NetError::Port {
                name: req.container_name.clone(),
                id: id.clone(),
                source,
            })?;
            held.push(r);
            mappings.push(PortMapping {
                proto: p.proto,
                host_ip,
                host_port: port,
                container_port: p.container_port,
            });
        }
        let sandbox = self.sandbox_path(&req.container_id);
        let nl = Netlink::open()?;
        let wired = (|| -> Result<(), NetError> {
            let ns = netns::open(&sandbox)?;
            let master = nl.require_index(&net.bridge)?;
            nl.create_veth(&VethSpec {
                host: &veth,
                peer: &ifname,
                peer_netns: Some(ns.as_fd()),
                peer_mac: Some(mac),
                master: Some(master),
                mtu: None,
            })?;
            nl.set_up(nl.require_index(&veth)?)?;
            // A container reaching its own published port through a host address comes back
            // out of the port it entered by: the bridge must allow that (hairpin).
            let _ = std::fs::write(format!("/sys/class/net/{veth}/brport/hairpin_mode"), "1");
            let inside = netns::socket_in(&sandbox)?;
            let idx = inside.require_index(&ifname)?;
            inside.add_address(idx, ip, subnet.prefix())?;
            inside.set_up(idx)?;
            if primary && !net.internal {
                inside.add_default_route(idx, gateway)?;
            }
            wait_forwarding(&veth);
            Ok(())
        })();
        if let Err(e) = wired {
            let _ = nl.delete_link(&veth);
            return Err(e);
        }
        let ep = Endpoint {
            id,
            network_id: net.id.clone(),
            container_id: req.container_id.clone(),
            container_name: req.container_name.clone(),
            ip,
            prefix: subnet.prefix(),
            mac: ipam::mac_string(mac),
            veth,
            ifname,
            aliases: req.aliases.clone(),
            ports: mappings,
            dns: req.dns.clone(),
        };
        inner.state.endpoints.push(ep.clone());
        let mut committed = self.save_endpoints(&inner);
        if committed.is_ok() && !ep.ports.is_empty() {
            let ports: Vec<NftPort> = ep
                .ports
                .iter()
                .map(|m| NftPort {
                    mapping: m.clone(),
                    container_ip: ep.ip,
                })
                .collect();
            committed = nft::add_ports(&self.cfg.table, &ports).map_err(NetError::from);
        }
        if let Err(e) = committed {
            inner.state.endpoints.retain(|x| x.id != ep.id);
            let _ = nl.delete_link(&ep.veth);
            let _ = self.save_endpoints(&inner);
            let _ = self.sync_rules(&inner);
            return Err(e);
        }
        inner.reservations.insert(ep.id.clone(), held);
        self.refresh_dns(&inner, &net.id);
        tracing::debug!(container = %req.container_id, network = %net.name, ip = %ip, "connected");
        Ok(ep)
    }

    /// Disconnects a container from a network: veth deleted, ports released.
    pub fn disconnect(&self, network: &str, container_id: &str) -> Result<(), NetError> {
        let mut inner = self.inner.lock().expect("net lock");
        let net = self.find(&inner, network)?.clone();
        let Some(ep) = inner
            .state
            .endpoints
            .iter()
            .find(|e| e.network_id == net.id && e.container_id == container_id)
            .cloned()
        else {
            return Err(NetError::NotConnected {
                container: container_id.to_string(),
                network: net.name,
            });
        };
        Netlink::open()?.delete_link(&ep.veth)?;
        self.drop_endpoint(&mut inner, &ep)
    }

    /// Forgets an endpoint whose veth is deleted (or being deleted).
    fn drop_endpoint(&self, inner: &mut Inner, ep: &Endpoint) -> Result<(), NetError> {
        inner.state.endpoints.retain(|e| e.id != ep.id);
        inner.reservations.remove(&ep.id);
        self.save_endpoints(inner)?;
        if !ep.ports.is_empty() {
            self.sync_rules(inner)?;
        }
        self.refresh_dns(inner, &ep.network_id);
        Ok(())
    }

    /// Tears down everything of a stopped container: endpoints, ports, sandbox. Idempotent.
    ///
    /// Deleting a veth or an nftables element waits for an RCU grace period (15-35 ms here),
    /// which every `run --rm` would pay. So the sandbox is unmounted first (the kernel then
    /// destroys the namespace, and with it both ends of its veths, asynchronously) and a
    /// background thread deletes the published ports' map elements and then the veths (in case
    /// something still holds the namespace). Until the elements are gone that thread keeps the
    /// host ports reserved and the addresses out of IPAM, so neither can be reused while a
    /// stale DNAT entry points at them. [`Self::settle`] waits for the thread.
    pub fn release(&self, container_id: &str) -> Result<(), NetError> {
        let mut inner = self.inner.lock().expect("net lock");
        let eps: Vec<Endpoint> = inner
            .state
            .endpoints
            .iter()
            .filter(|e| e.container_id == container_id)
            .cloned()
            .collect();
        let mut first_err = None;
        if let Err(e) = netns::remove(&self.sandbox_path(container_id)) {
            first_err.get_or_insert(NetError::from(e));
        }
        if eps.is_empty() {
            return first_err.map_or(Ok(()), Err);
        }
        let mut held = Vec::new();
        let mut ports = Vec::new();
        let mut pending = Vec::new();
        for ep in &eps {
            inner.state.endpoints.retain(|e| e.id != ep.id);
            held.extend(inner.reservations.remove(&ep.id).unwrap_or_default());
            if !ep.ports.is_empty() {
                pending.push((ep.network_id.clone(), ep.ip));
                ports.extend(ep.ports.iter().map(|m| NftPort {
                    mapping: m.clone(),
                    container_ip: ep.ip,
                }));
            }
        }
        self.pending
            .lock()
            .expect("pending lock")
            .extend(pending.iter().cloned());
        if let Err(e) = self.save_endpoints(&inner) {
            first_err.get_or_insert(e);
        }
        for ep in &eps {
            self.refresh_dns(&inner, &ep.network_id);
        }
        drop(inner);
        let veths: Vec<String> = eps.into_iter().map(|e| e.veth).collect();
        let table = self.cfg.table.clone();
        let pending_set = self.pending.clone();
        let handle = std::thread::spawn(move || {
            if let Err(e) = nft::delete_ports(&table, &ports) {
                tracing::warn!(error = %e, "cannot delete released published ports");
            }
            drop(held);
            pending_set
                .lock()
                .expect("pending lock")
                .retain(|p| !pending.contains(p));
            let Ok(nl) = Netlink::open() else { return };
            for v in veths {
                if let Err(e) = nl.delete_link(&v) {
                    tracing::warn!(veth = %v, error = %e, "cannot delete a released veth");
                }
            }
        });
        let mut reaper = self.reaper.lock().expect("reaper lock");
        reaper.retain(|h| !h.is_finished());
        reaper.push(handle);
        first_err.map_or(Ok(()), Err)
    }

    /// Waits until released sandboxes are fully torn down (DNAT elements, ports, veths).
    pub fn settle(&self) {
        let handles: Vec<_> = std::mem::take(&mut *self.reaper.lock().expect("reaper lock"));
        for h in handles {
            let _ = h.join();
        }
    }

    /// Containers that have endpoints.
    pub fn container_ids(&self) -> Vec<String> {
        let inner = self.inner.lock().expect("net lock");
        let mut v: Vec<String> = inner
            .state
            .endpoints
            .iter()
            .map(|e| e.container_id.clone())
            .collect();
        v.dedup();
        v
    }

    /// Containers that have a sandbox mount point.
    pub fn sandbox_ids(&self) -> Vec<String> {
        std::fs::read_dir(&self.cfg.netns_dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The name of berth's nftables table.
    pub fn table(&self) -> &str {
        &self.cfg.table
    }
}

/// Waits (briefly) until the bridge forwards through the new port: the kernel moves a port to
/// the forwarding state asynchronously (linkwatch) after its carrier comes up, and packets the
/// container sends before that are dropped.
fn wait_forwarding(veth: &str) {
    let path = format!("/sys/class/net/{veth}/brport/state");
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while std::time::Instant::now() < deadline {
        if std::fs::read_to_string(&path).is_ok_and(|s| s.trim() == "3") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    tracing::warn!(veth, "bridge port is not forwarding after 500ms");
}

/// A resolver given as `ip` (port 53) or `ip:port`.
fn resolver_addr(s: &str) -> Option<SocketAddr> {
    s.parse::<SocketAddr>().ok().or_else(|| {
        s.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

const NETWORKS_FILE: &str = "networks.json";
const ENDPOINTS_FILE: &str = "endpoints.json";

fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> Result<T, NetError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| NetError::Io {
            what: format!("parse {}", path.display()),
            source: std::io::Error::other(e),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(io_err(format!("read {}", path.display()))(e)),
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, NetError> {
    serde_json::to_vec_pretty(v).map_err(|e| NetError::Io {
        what: "encode network state".into(),
        source: std::io::Error::other(e),
    })
}

fn now() -> String {
    api::time::rfc3339_nano(std::time::SystemTime::now())
}

fn random_id() -> Result<String, NetError> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(io_err("read /dev/urandom"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}
