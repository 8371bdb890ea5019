//! Networks in the engine: the container's network mode and endpoints (set up before the
//! shim starts, released when the container stops), the `/networks` operations, and Docker's
//! JSON views (`NetworkSettings` of a container, the network object).
//!
//! The [`net::NetworkManager`] does the kernel work; it is blocking, so every call crosses
//! into `spawn_blocking` through [`Engine::net_call`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use api::docker::{EndpointSettings, HostConfig, NetworkCreateRequest};
use api::oci::defaults::NetworkChoice;
use api::ports::{HostBinding, PortKey};
use net::{ConnectRequest, CreateNetwork, NetError, NetworkManager, PortRequest};
use serde_json::{json, Value};

use crate::container::record::Record;
use crate::container::Engine;
use crate::error::EngineError;

/// A container's `HostConfig.NetworkMode`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A bridge network (the default `bridge` or a user network), by name or id.
    Bridge(String),
    /// A namespace with only `lo`.
    None,
    /// The host's namespace.
    Host,
    /// Another container's namespace.
    Container(String),
}

impl Mode {
    /// Parses Docker's mode strings.
    pub fn of(hc: &HostConfig) -> Mode {
        match hc.network_mode.as_str() {
            "" | "default" | "bridge" => Mode::Bridge(net::manager::DEFAULT_NETWORK.into()),
            "none" => Mode::None,
            "host" => Mode::Host,
            m => match m.strip_prefix("container:") {
                Some(c) => Mode::Container(c.to_string()),
                None => Mode::Bridge(m.to_string()),
            },
        }
    }
}

/// What start needs from the network set-up.
#[derive(Debug, Clone)]
pub struct NetSetup {
    /// The namespace choice for the OCI spec.
    pub choice: NetworkChoice,
    /// The container's own addresses (for `/etc/hosts`).
    pub addresses: Vec<Ipv4Addr>,
    /// Name servers for `/etc/resolv.conf` (None: the host's, loopback ones removed).
    pub nameservers: Option<Vec<String>>,
    /// Endpoints were created (release them if start fails).
    pub bridged: bool,
    /// What `--add-host name:host-gateway` maps to: the default bridge's gateway.
    pub host_gateway: Option<Ipv4Addr>,
    /// The name server is the network's embedded DNS (resolv.conf gets Docker's
    /// `options ndots:0`).
    pub embedded_dns: bool,
}

impl Engine {
    /// Runs a blocking network-manager call off the async threads.
    pub(crate) async fn net_call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&NetworkManager) -> Result<T, NetError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let Some(mgr) = self.net.clone() else {
            return Err(EngineError::Invalid(
                "networking is disabled in this daemon (--bridge none)".into(),
            ));
        };
        tokio::task::spawn_blocking(move || f(&mgr))
            .await
            .map_err(crate::container::join_error)?
            .map_err(EngineError::Net)
    }

    /// Validates the network part of a create request and returns the container's networks
    /// (by network name) and warnings.
    pub(crate) fn plan_networks(
        &self,
        hc: &HostConfig,
        endpoints: Option<&BTreeMap<String, EndpointSettings>>,
        exposed: bool,
    ) -> Result<(BTreeMap<String, EndpointSettings>, Vec<String>), EngineError> {
        let mut warnings = Vec::new();
        validate_input(hc)?;
        let mode = Mode::of(hc);
        let has_ports = hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty());
        match &mode {
            Mode::Host | Mode::None | Mode::Container(_) => {
                // dockerd: a warning for host, an error for container:, nothing for none.
                if let Mode::Container(_) = &mode {
                    if has_ports || hc.publish_all_ports {
                        return Err(EngineError::Invalid(
                            "conflicting options: port publishing and the container type network mode"
                                .into(),
                        ));
                    }
                } else if matches!(mode, Mode::Host)
                    && (has_ports || (hc.publish_all_ports && exposed))
                {
                    warnings.push(
                        "Published ports are discarded when using host network mode".to_string(),
                    );
                }
                // A missing container is dockerd's 404 at start, not at create (a 404 here
                // would make the docker CLI try to pull the image).
                return Ok((BTreeMap::new(), warnings));
            }
            Mode::Bridge(_) => {}
        }
        let Mode::Bridge(primary) = mode else {
            unreachable!("other modes returned above")
        };
        let Some(mgr) = &self.net else {
            if primary == net::manager::DEFAULT_NETWORK {
                return Ok((BTreeMap::new(), warnings));
            }
            return Err(EngineError::Net(NetError::NotFound(primary)));
        };
        // As dockerd: a network that does not exist (yet) fails the start with its 404, not
        // the create (a 404 there would make the docker CLI try to pull the image).
        let primary_net = match mgr.get(&primary) {
            Ok(n) => n,
            Err(NetError::NotFound(_)) if endpoints.is_none_or(|e| e.len() <= 1) => {
                let settings = endpoints
                    .and_then(|e| e.values().next().cloned())
                    .unwrap_or_default();
                return Ok((BTreeMap::from([(primary, settings)]), warnings));
            }
            Err(e) => return Err(e.into()),
        };
        let mut out = BTreeMap::new();
        let mut primary_settings = EndpointSettings::default();
        for (key, settings) in endpoints.into_iter().flatten() {
            if key == "default"
                || key == &primary
                || key == &primary_net.name
                || key == &primary_net.id
            {
                primary_settings = settings.clone();
            } else {
                let n = mgr.get(key)?;
                check_settings(&n, settings)?;
                out.insert(n.name.clone(), settings.clone());
            }
        }
        check_settings(&primary_net, &primary_settings)?;
        out.insert(primary_net.name.clone(), primary_settings);
        Ok((out, warnings))
    }

    /// Publishes a network event as Docker does: the network's id as actor, `name`, `type`
    /// (the driver) and, for connect/disconnect, the container's id.
    pub fn network_event(&self, action: &str, id: &str, name: &str, container: Option<&str>) {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), name.to_string());
        attrs.insert("type".to_string(), "bridge".to_string());
        if let Some(c) = container {
            attrs.insert("container".to_string(), c.to_string());
        }
        self.events
            .publish(crate::events::Event::new("network", action, id, attrs));
    }

    /// Sets up the container's networking before its shim starts.
    pub(crate) async fn setup_network(&self, rec: &Record) -> Result<NetSetup, EngineError> {
        let hc = &rec.host_config;
        let dns = hc.dns.clone().filter(|d| !d.is_empty());
        let host_gateway = self
            .net
            .as_ref()
            .and_then(|m| m.get(net::manager::DEFAULT_NETWORK).ok())
            .and_then(|n| n.gateway);
        let plain = |choice| NetSetup {
            choice,
            addresses: Vec::new(),
            nameservers: dns.clone(),
            bridged: false,
            host_gateway,
            embedded_dns: false,
        };
        match Mode::of(hc) {
            Mode::Host => return Ok(plain(NetworkChoice::Host)),
            Mode::None => return Ok(plain(NetworkChoice::None)),
            Mode::Container(other) => {
                let o = self.get(&other)?;
                let orec = o.record();
                if !orec.state.status.is_running() {
                    return Err(EngineError::Conflict(format!(
                        "cannot join network of a non running container: {}",
                        o.id
                    )));
                }
                let choice = match Mode::of(&orec.host_config) {
                    Mode::Host => NetworkChoice::Host,
                    _ => NetworkChoice::Join(format!("/proc/{}/ns/net", orec.state.pid)),
                };
                return Ok(plain(choice));
            }
            Mode::Bridge(_) => {}
        }
        if self.net.is_none() {
            return Ok(plain(NetworkChoice::New));
        }
        let networks = configured_networks(rec);
        let primary = match Mode::of(hc) {
            Mode::Bridge(p) => p,
            _ => unreachable!("bridge mode checked above"),
        };
        let ports = port_requests(hc, rec.config.exposed_ports.as_ref())?;
        let started = std::time::Instant::now();
        let id = rec.id.clone();
        let name = rec.name.clone();
        let short = rec.id[..12].to_string();
        let own_dns = dns.clone().unwrap_or_default();
        let (path, endpoints) = self
            .net_call(move |mgr| {
                let primary_net = mgr.get(&primary)?;
                let mut order: Vec<(String, EndpointSettings)> = Vec::new();
                for (n, s) in &networks {
                    if n == &primary_net.name {
                        order.insert(0, (n.clone(), s.clone()));
                    } else {
                        order.push((n.clone(), s.clone()));
                    }
                }
                let path = mgr.create_sandbox(&id)?;
                let mut eps = Vec::new();
                for (i, (n, s)) in order.iter().enumerate() {
                    let network = mgr.get(n)?;
                    let mut aliases: Vec<String> = s.aliases.clone().unwrap_or_default();
                    if network.user_defined {
                        aliases.push(short.clone());
                    }
                    let req = ConnectRequest {
                        container_id: id.clone(),
                        container_name: name.clone(),
                        aliases,
                        ipv4: requested_ip(s),
                        ports: if i == 0 { ports.clone() } else { Vec::new() },
                        dns: if network.user_defined {
                            own_dns.clone()
                        } else {
                            Vec::new()
                        },
                    };
                    match mgr.connect(&network.id, &req) {
                        Ok(ep) => eps.push((network, ep)),
                        Err(e) => {
                            if let Err(e) = mgr.release(&id) {
                                tracing::warn!(container = %id, error = %e, "release after a failed connect");
                            }
                            return Err(e);
                        }
                    }
                }
                Ok((path, eps))
            })
            .await?;
        tracing::debug!(container = %rec.id, elapsed_us = started.elapsed().as_micros() as u64, "network set up");
        for (n, _) in &endpoints {
            self.network_event("connect", &n.id, &n.name, Some(&rec.id));
        }
        // On a user network the container asks the network's DNS server, which forwards what
        // it does not know to the container's `--dns` servers (or the host's); elsewhere
        // `--dns` goes straight into resolv.conf, as with Docker.
        let embedded = endpoints
            .first()
            .and_then(|(n, _)| n.gateway.filter(|_| n.user_defined));
        let nameservers = match embedded {
            Some(g) => Some(vec![g.to_string()]),
            None => dns.clone(),
        };
        Ok(NetSetup {
            choice: NetworkChoice::Join(path.to_string_lossy().into_owned()),
            addresses: endpoints.iter().map(|(_, e)| e.ip).collect(),
            nameservers,
            bridged: true,
            host_gateway,
            embedded_dns: embedded.is_some(),
        })
    }

    /// Releases a container's endpoints, ports and namespace (idempotent) and publishes a
    /// `disconnect` event per network it left.
    pub(crate) async fn release_network(&self, id: &str) {
        let left = self.release_endpoints(id).await;
        self.disconnect_events(id, &left);
    }

    /// Releases a container's endpoints, ports and namespace (idempotent); returns the networks
    /// (id, name) it left, for [`Engine::disconnect_events`].
    pub(crate) async fn release_endpoints(&self, id: &str) -> Vec<(String, String)> {
        if self.net.is_none() {
            return Vec::new();
        }
        let key = id.to_string();
        let started = std::time::Instant::now();
        let released = self
            .net_call(move |mgr| {
                let eps = mgr.endpoints_of(&key);
                mgr.release(&key).map(|()| eps)
            })
            .await;
        match released {
            Ok(eps) => {
                tracing::debug!(container = %id, elapsed_us = started.elapsed().as_micros() as u64, "network released");
                eps.into_iter().map(|(n, _)| (n.id, n.name)).collect()
            }
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "releasing the container's network");
                Vec::new()
            }
        }
    }

    /// Docker's `network disconnect` events for the networks a stopped container left.
    pub(crate) fn disconnect_events(&self, container: &str, left: &[(String, String)]) {
        for (nid, name) in left {
            self.network_event("disconnect", nid, name, Some(container));
        }
    }

    /// The endpoints of a running container (none when it is stopped or has no bridge).
    fn running_endpoints(&self, r: &Record) -> Vec<(net::Network, net::Endpoint)> {
        match (&self.net, r.state.status.is_running()) {
            (Some(mgr), true) => mgr.endpoints_of(&r.id),
            _ => Vec::new(),
        }
    }

    /// `NetworkSettings.Networks` of inspect and ps, given the container's endpoints.
    fn network_entries(
        &self,
        r: &Record,
        eps: &[(net::Network, net::Endpoint)],
    ) -> serde_json::Map<String, Value> {
        let mode = Mode::of(&r.host_config);
        let mut networks = serde_json::Map::new();
        let mut names: Vec<String> = configured_networks(r).keys().cloned().collect();
        match &mode {
            Mode::Host => names = vec!["host".into()],
            Mode::None => names = vec!["none".into()],
            Mode::Container(_) => names.clear(),
            Mode::Bridge(_) => {}
        }
        for name in &names {
            let settings = r.networks.get(name).cloned().unwrap_or_default();
            let net_id = self
                .net
                .as_ref()
                .and_then(|m| m.get(name).ok())
                .map(|n| n.id)
                .unwrap_or_default();
            let ep = eps.iter().find(|(n, _)| &n.name == name);
            let v = match ep {
                Some((n, e)) => json!({
                    "IPAMConfig": settings.ipam_config, "Links": null, "Aliases": settings.aliases,
                    "MacAddress": e.mac, "DriverOpts": null, "NetworkID": n.id, "EndpointID": e.id,
                    "Gateway": n.gateway.map(|g| g.to_string()).unwrap_or_default(),
                    "IPAddress": e.ip.to_string(), "IPPrefixLen": e.prefix, "IPv6Gateway": "",
                    "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                    "DNSNames": if n.user_defined { json!(dns_names(r, &e.aliases)) } else { Value::Null },
                }),
                None => json!({
                    "IPAMConfig": settings.ipam_config, "Links": null, "Aliases": settings.aliases,
                    "MacAddress": "", "DriverOpts": null, "NetworkID": net_id, "EndpointID": "",
                    "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                    "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null,
                }),
            };
            networks.insert(name.clone(), v);
        }
        networks
    }

    /// `Ports` and `NetworkSettings` of a `ps` entry, with one look at the endpoints.
    pub(crate) fn list_network(&self, r: &Record) -> (Value, Value) {
        let eps = self.running_endpoints(r);
        (
            self.list_ports(r, &eps),
            json!({"Networks": self.network_entries(r, &eps)}),
        )
    }

    /// `(name, network id)` of the networks in a container's `NetworkSettings.Networks`.
    pub(crate) fn network_names(&self, r: &Record) -> Vec<(String, String)> {
        let eps = self.running_endpoints(r);
        self.network_entries(r, &eps)
            .into_iter()
            .map(|(name, v)| {
                let id = v["NetworkID"].as_str().unwrap_or_default().to_string();
                (name, id)
            })
            .collect()
    }

    /// `NetworkSettings` of inspect.
    pub(crate) fn network_settings(&self, r: &Record) -> Value {
        let running = r.state.status.is_running();
        let eps = self.running_endpoints(r);
        let mode = Mode::of(&r.host_config);
        let networks = self.network_entries(r, &eps);
        let default = eps
            .iter()
            .find(|(n, _)| n.name == net::manager::DEFAULT_NETWORK);
        let primary_ports = eps
            .first()
            .map(|(_, e)| e.ports.clone())
            .unwrap_or_default();
        let mut ports = serde_json::Map::new();
        if running && matches!(mode, Mode::Bridge(_)) {
            for k in r.config.exposed_ports.iter().flat_map(|m| m.keys()) {
                ports.insert(k.clone(), Value::Null);
            }
            for m in &primary_ports {
                let key = format!("{}/{}", m.container_port, m.proto.as_str());
                let entry = ports.entry(key).or_insert_with(|| json!([]));
                if !entry.is_array() {
                    *entry = json!([]);
                }
                if let Some(a) = entry.as_array_mut() {
                    a.push(json!({"HostIp": m.host_ip.to_string(), "HostPort": m.host_port.to_string()}));
                }
            }
        }
        let sandbox = match (&self.net, eps.is_empty()) {
            (Some(mgr), false) => mgr.sandbox_path(&r.id).to_string_lossy().into_owned(),
            _ => String::new(),
        };
        json!({
            "Bridge": "", "SandboxID": if sandbox.is_empty() { "" } else { &r.id }, "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": ports,
            "SandboxKey": sandbox, "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "EndpointID": default.map(|(_, e)| e.id.clone()).unwrap_or_default(),
            "Gateway": default.and_then(|(n, _)| n.gateway).map(|g| g.to_string()).unwrap_or_default(),
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "IPAddress": default.map(|(_, e)| e.ip.to_string()).unwrap_or_default(),
            "IPPrefixLen": default.map(|(_, e)| e.prefix).unwrap_or(0),
            "IPv6Gateway": "",
            "MacAddress": default.map(|(_, e)| e.mac.clone()).unwrap_or_default(),
            "Networks": networks,
        })
    }

    /// The `Ports` of a `ps` entry, given the container's endpoints.
    fn list_ports(&self, r: &Record, eps: &[(net::Network, net::Endpoint)]) -> Value {
        let mut out = Vec::new();
        if !r.state.status.is_running() {
            return json!(out);
        }
        let mapped: &[_] = eps.first().map(|(_, e)| e.ports.as_slice()).unwrap_or(&[]);
        for m in mapped {
            out.push(
                json!({"IP": m.host_ip.to_string(), "PrivatePort": m.container_port,
                "PublicPort": m.host_port, "Type": m.proto.as_str()}),
            );
        }
        if matches!(Mode::of(&r.host_config), Mode::Bridge(_)) {
            for k in r.config.exposed_ports.iter().flat_map(|m| m.keys()) {
                if let Ok(k) = k.parse::<PortKey>() {
                    if !mapped
                        .iter()
                        .any(|m| m.container_port == k.port && m.proto == k.proto)
                    {
                        out.push(json!({"PrivatePort": k.port, "Type": k.proto.as_str()}));
                    }
                }
            }
        }
        json!(out)
    }

    /// `POST /networks/create`.
    pub async fn network_create(&self, req: NetworkCreateRequest) -> Result<String, EngineError> {
        if req.enable_ipv6 == Some(true) {
            return Err(EngineError::Invalid(
                "IPv6 networks are not supported by berth yet".into(),
            ));
        }
        let pools = req.ipam.and_then(|i| i.config).unwrap_or_default();
        if pools.len() > 1 {
            return Err(EngineError::Invalid(
                "berth supports one IPv4 subnet per network".into(),
            ));
        }
        let pool = pools.into_iter().next();
        if pool.as_ref().is_some_and(|p| !p.ip_range.is_empty()) {
            return Err(EngineError::Invalid(
                "--ip-range is not supported by berth yet".into(),
            ));
        }
        let create = CreateNetwork {
            name: req.name,
            driver: req.driver,
            subnet: pool
                .as_ref()
                .map(|p| p.subnet.clone())
                .filter(|s| !s.is_empty()),
            gateway: pool.map(|p| p.gateway).filter(|s| !s.is_empty()),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels.unwrap_or_default(),
            options: req.options.unwrap_or_default(),
        };
        let n = self.net_call(move |m| m.create_network(create)).await?;
        Ok(n.id)
    }

    /// `GET /networks/{id}`.
    pub fn network_inspect(&self, name_or_id: &str) -> Result<Value, EngineError> {
        let Some(mgr) = &self.net else {
            return Err(EngineError::Net(NetError::NotFound(name_or_id.into())));
        };
        let n = mgr.get(name_or_id)?;
        Ok(self.network_json(mgr, &n))
    }

    /// `GET /networks` with Docker's filters.
    pub fn network_list(&self, filters: &BTreeMap<String, Vec<String>>) -> Vec<Value> {
        let Some(mgr) = &self.net else {
            return Vec::new();
        };
        mgr.list()
            .iter()
            .filter(|n| {
                filters.iter().all(|(k, vals)| {
                    vals.is_empty()
                        || vals.iter().any(|v| match k.as_str() {
                            "name" => n.name.contains(v.as_str()),
                            "id" => n.id.starts_with(v.as_str()),
                            "driver" => &n.driver == v,
                            "type" => (v == "custom") == n.user_defined,
                            "label" => match v.split_once('=') {
                                Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                                None => n.labels.contains_key(v),
                            },
                            "dangling" => {
                                let unused = mgr.endpoints_on(&n.id).is_empty() && n.user_defined;
                                (v == "true" || v == "1") == unused
                            }
                            _ => true,
                        })
                })
            })
            .map(|n| self.network_json(mgr, n))
            .collect()
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, name_or_id: &str) -> Result<(), EngineError> {
        let key = name_or_id.to_string();
        self.net_call(move |m| m.remove_network(&key)).await
    }

    /// `POST /networks/prune`: names of the removed networks.
    /// Filters: `until`, `label`, `label!` (Docker's).
    pub async fn network_prune(
        &self,
        filters: &BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<String>, EngineError> {
        use crate::filters::{each, labels_match, parse_until};
        for k in filters.keys() {
            if !["until", "label", "label!"].contains(&k.as_str()) {
                return Err(EngineError::Invalid(format!("invalid filter '{k}'")));
            }
        }
        if self.net.is_none() {
            return Ok(Vec::new());
        }
        let until = each(filters, "until", parse_until)?;
        let label = filters.get("label").cloned();
        let not_label = filters.get("label!").cloned();
        self.net_call(move |m| {
            Ok(m.prune(|n| {
                let created = api::time::parse_rfc3339(&n.created)
                    .map(api::time::unix_seconds)
                    .unwrap_or(0);
                !until
                    .as_ref()
                    .is_some_and(|u| u.iter().any(|t| created >= *t))
                    && label.as_ref().is_none_or(|w| labels_match(&n.labels, w))
                    && !not_label.as_ref().is_some_and(|w| {
                        w.iter()
                            .any(|x| labels_match(&n.labels, std::slice::from_ref(x)))
                    })
            }))
        })
        .await
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(
        self: &Arc<Engine>,
        network: &str,
        container: &str,
        settings: EndpointSettings,
    ) -> Result<(), EngineError> {
        let c = self.get(container)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        if !matches!(Mode::of(&rec.host_config), Mode::Bridge(_)) {
            return Err(EngineError::Invalid(format!(
                "container {} uses network mode {:?}: it cannot be connected to a network",
                rec.name, rec.host_config.network_mode
            )));
        }
        let Some(mgr) = &self.net else {
            return Err(EngineError::Net(NetError::NotFound(network.into())));
        };
        let n = mgr.get(network)?;
        check_settings(&n, &settings)?;
        if configured_networks(&rec).contains_key(&n.name) {
            return Err(EngineError::Net(NetError::AlreadyConnected {
                container: rec.name.clone(),
                network: n.name,
            }));
        }
        if rec.state.status.is_running() {
            let mut aliases = settings.aliases.clone().unwrap_or_default();
            if n.user_defined {
                aliases.push(rec.id[..12].to_string());
            }
            let req = ConnectRequest {
                container_id: rec.id.clone(),
                container_name: rec.name.clone(),
                aliases,
                ipv4: requested_ip(&settings),
                ports: Vec::new(),
                dns: if n.user_defined {
                    rec.host_config.dns.clone().unwrap_or_default()
                } else {
                    Vec::new()
                },
            };
            let id = n.id.clone();
            self.net_call(move |m| m.connect(&id, &req)).await?;
        }
        let mut nets = configured_networks(&rec);
        nets.insert(n.name.clone(), settings);
        c.update_record(&self.paths, |r| {
            r.networks = nets;
            r.networks_detached = false;
        })
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(
        self: &Arc<Engine>,
        network: &str,
        container: &str,
    ) -> Result<(), EngineError> {
        let c = self.get(container)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        let Some(mgr) = &self.net else {
            return Err(EngineError::Net(NetError::NotFound(network.into())));
        };
        let n = mgr.get(network)?;
        let mut nets = configured_networks(&rec);
        if nets.remove(&n.name).is_none() {
            return Err(EngineError::Net(NetError::NotConnected {
                container: rec.id.clone(),
                network: n.name,
            }));
        }
        if rec.state.status.is_running() {
            let (nid, cid) = (n.id.clone(), rec.id.clone());
            self.net_call(move |m| m.disconnect(&nid, &cid)).await?;
        }
        c.update_record(&self.paths, |r| {
            r.networks_detached = nets.is_empty();
            r.networks = nets;
        })
    }

    fn network_json(&self, mgr: &NetworkManager, n: &net::Network) -> Value {
        let mut containers = serde_json::Map::new();
        for e in mgr.endpoints_on(&n.id) {
            containers.insert(
                e.container_id.clone(),
                json!({"Name": e.container_name, "EndpointID": e.id, "MacAddress": e.mac,
                    "IPv4Address": format!("{}/{}", e.ip, e.prefix), "IPv6Address": ""}),
            );
        }
        let config: Vec<Value> = match (n.subnet, n.gateway) {
            (Some(s), Some(g)) => vec![json!({"Subnet": s.to_string(), "Gateway": g.to_string()})],
            _ => Vec::new(),
        };
        json!({
            "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": n.driver,
            "EnableIPv6": false,
            "IPAM": {"Driver": "default", "Options": null, "Config": config},
            "Internal": n.internal, "Attachable": n.attachable, "Ingress": false,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
            "Containers": containers, "Options": n.options, "Labels": n.labels,
        })
    }

    /// Releases what a daemon that died left behind: endpoints and namespaces of containers
    /// that are not running any more.
    pub(crate) async fn release_stale_networks(&self) {
        let Some(mgr) = &self.net else {
            return;
        };
        let mut ids: Vec<String> = mgr.container_ids();
        ids.extend(mgr.sandbox_ids());
        ids.sort();
        ids.dedup();
        for id in ids {
            let running = self.get(&id).is_ok_and(|c| c.status().is_running());
            if !running {
                self.release_network(&id).await;
            }
        }
    }

    /// The sandbox path of a container (tests and tools).
    pub fn sandbox_path(&self, id: &str) -> Option<PathBuf> {
        self.net.as_ref().map(|m| m.sandbox_path(id))
    }
}

/// Syntax checks of the network fields of a host config (ports, `--add-host`, `--dns`), done
/// before anything else of a create.
pub(crate) fn validate_input(hc: &HostConfig) -> Result<(), EngineError> {
    port_requests(hc, None)?;
    for h in hc.extra_hosts.iter().flatten() {
        let ok = h.split_once(':').is_some_and(|(n, ip)| {
            !n.is_empty() && (ip == "host-gateway" || ip.parse::<std::net::IpAddr>().is_ok())
        });
        if !ok {
            return Err(EngineError::Invalid(format!(
                "invalid IP address in add-host: {h:?}: expected name:ip"
            )));
        }
    }
    for d in hc.dns.iter().flatten() {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(EngineError::Invalid(format!("{d} is not an ip address")));
        }
    }
    Ok(())
}

/// The container's networks: the record's, or just the mode's network for records written
/// before networks were recorded.
pub(crate) fn configured_networks(r: &Record) -> BTreeMap<String, EndpointSettings> {
    if !r.networks.is_empty() || r.networks_detached {
        return r.networks.clone();
    }
    match Mode::of(&r.host_config) {
        Mode::Bridge(n) => BTreeMap::from([(n, EndpointSettings::default())]),
        _ => BTreeMap::new(),
    }
}

fn dns_names(r: &Record, aliases: &[String]) -> Vec<String> {
    let mut v = vec![r.name.clone()];
    v.extend(aliases.iter().cloned());
    v
}

fn requested_ip(s: &EndpointSettings) -> Option<Ipv4Addr> {
    s.ipam_config
        .as_ref()
        .and_then(|c| c.ipv4_address.parse().ok())
}

/// Endpoint settings a network accepts: aliases only on user networks, a valid `--ip`.
fn check_settings(n: &net::Network, s: &EndpointSettings) -> Result<(), EngineError> {
    if !n.user_defined && s.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(EngineError::Invalid(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    if let Some(c) = &s.ipam_config {
        if !c.ipv4_address.is_empty() {
            let ip: Ipv4Addr = c.ipv4_address.parse().map_err(|_| {
                EngineError::Invalid(format!("invalid IPv4 address: {}", c.ipv4_address))
            })?;
            if !n.user_subnet {
                return Err(EngineError::Invalid(
                    "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
                ));
            }
            if n.subnet.is_some_and(|s| !s.contains(ip)) {
                return Err(EngineError::Invalid(format!(
                    "no configured subnet contains IP address {ip}"
                )));
            }
        }
    }
    Ok(())
}

/// The published ports of a container: `PortBindings`, plus every exposed port with a random
/// host port when `PublishAllPorts` is set. Bad keys or host ports are a 400 with the reason.
pub(crate) fn port_requests(
    hc: &HostConfig,
    exposed: Option<&BTreeMap<String, Value>>,
) -> Result<Vec<PortRequest>, EngineError> {
    let mut out: Vec<PortRequest> = Vec::new();
    for (key, bindings) in hc.port_bindings.iter().flatten() {
        let k: PortKey = key
            .parse()
            .map_err(|e: api::ports::PortSpecError| EngineError::Invalid(e.to_string()))?;
        let list = match bindings {
            Value::Null => Vec::new(),
            Value::Array(a) => a.clone(),
            _ => {
                return Err(EngineError::Invalid(format!(
                    "invalid value for HostConfig.PortBindings.{key}: expected a list"
                )))
            }
        };
        let list = if list.is_empty() {
            vec![json!({})]
        } else {
            list
        };
        for b in list {
            let ip = b["HostIp"].as_str().unwrap_or("");
            let port = b["HostPort"].as_str().unwrap_or("");
            let hb =
                HostBinding::parse(ip, port).map_err(|e| EngineError::Invalid(e.to_string()))?;
            out.push(PortRequest {
                proto: k.proto,
                container_port: k.port,
                host_ip: hb.ip,
                host_ports: hb.ports,
            });
        }
    }
    if hc.publish_all_ports {
        for key in exposed.iter().flat_map(|m| m.keys()) {
            let k: PortKey = key
                .parse()
                .map_err(|e: api::ports::PortSpecError| EngineError::Invalid(e.to_string()))?;
            if !out
                .iter()
                .any(|p| p.container_port == k.port && p.proto == k.proto)
            {
                out.push(PortRequest {
                    proto: k.proto,
                    container_port: k.port,
                    host_ip: None,
                    host_ports: None,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_bindings_are_parsed_with_reasons() {
        let hc: HostConfig = serde_json::from_value(json!({
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": null},
            "PublishAllPorts": true
        }))
        .unwrap();
        let exposed = BTreeMap::from([("9000/tcp".to_string(), json!({}))]);
        let r = port_requests(&hc, Some(&exposed)).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(r[1].host_ports, Some((8080, 8080)));
        let bad: HostConfig = serde_json::from_value(json!({
            "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "99999"}]}
        }))
        .unwrap();
        assert_eq!(
            port_requests(&bad, None).unwrap_err().to_string(),
            "invalid hostPort: 99999"
        );
        let bad: HostConfig =
            serde_json::from_value(json!({"PortBindings": {"x/tcp": []}})).unwrap();
        assert_eq!(
            port_requests(&bad, None).unwrap_err().to_string(),
            "invalid containerPort: x"
        );
    }

    #[test]
    fn modes_parse() {
        let hc = |m: &str| HostConfig {
            network_mode: m.into(),
            ..Default::default()
        };
        assert_eq!(Mode::of(&hc("default")), Mode::Bridge("bridge".into()));
        assert_eq!(
            Mode::of(&hc("container:web")),
            Mode::Container("web".into())
        );
        assert_eq!(Mode::of(&hc("mynet")), Mode::Bridge("mynet".into()));
    }
}
