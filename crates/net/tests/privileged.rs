//! Privileged tests of the network manager against the real kernel: bridges, veths and
//! namespaces created by the test itself (unique names, explicit subnets in 10.0.0.0/8), its own
//! nftables table, and guards that remove everything even when an assertion fails.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use api::ports::Proto;
use net::manager::Config;
use net::{netns, nft, ConnectRequest, CreateNetwork, NetworkManager, PortRequest};

/// A manager with its own table and state dir; drops release every container, every user
/// network, the table, and the namespaces.
struct Fixture {
    mgr: Option<NetworkManager>,
    dir: testkit::TempDir,
    table: String,
    containers: Vec<String>,
    rt: tokio::runtime::Runtime,
    upstreams: Option<Vec<SocketAddr>>,
}

static SUBNET: AtomicU8 = AtomicU8::new(0);

/// A /24 of 10.0.0.0/8 unique to this test process and call.
fn subnet() -> String {
    let n = SUBNET.fetch_add(1, Ordering::Relaxed);
    format!("10.{}.{}.0/24", 100 + (std::process::id() % 150), n)
}

fn cfg(
    dir: &Path,
    table: &str,
    rt: &tokio::runtime::Runtime,
    up: Option<Vec<SocketAddr>>,
) -> Config {
    Config {
        state_dir: dir.join("state"),
        runtime_dir: dir.join("run"),
        netns_dir: dir.join("netns"),
        table: table.to_string(),
        default_bridge: String::new(),
        default_subnet: None,
        default_gateway: None,
        predefined: false,
        dns_port: 53,
        dns_upstreams: up,
        runtime: Some(rt.handle().clone()),
    }
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_upstreams(Some(Vec::new()))
    }

    fn with_upstreams(upstreams: Option<Vec<SocketAddr>>) -> Fixture {
        testkit::require_root();
        let dir = testkit::TempDir::new("net");
        let table = testkit::unique_name("nft").replace('-', "_");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mgr = NetworkManager::open(cfg(dir.path(), &table, &rt, upstreams.clone())).unwrap();
        Fixture {
            mgr: Some(mgr),
            dir,
            table,
            containers: Vec::new(),
            rt,
            upstreams,
        }
    }

    fn mgr(&self) -> &NetworkManager {
        self.mgr.as_ref().unwrap()
    }

    /// Drops and reopens the manager (a daemon restart).
    fn reopen(&mut self) {
        self.mgr = None;
        self.mgr = Some(
            NetworkManager::open(cfg(
                self.dir.path(),
                &self.table,
                &self.rt,
                self.upstreams.clone(),
            ))
            .unwrap(),
        );
    }

    fn network(&self, internal: bool) -> net::Network {
        self.mgr()
            .create_network(CreateNetwork {
                name: testkit::unique_name("n"),
                subnet: Some(subnet()),
                internal,
                ..Default::default()
            })
            .unwrap()
    }

    /// A sandbox connected to `network`.
    fn container(&mut self, network: &str, ports: Vec<PortRequest>) -> (String, net::Endpoint) {
        let id = random_hex();
        self.containers.push(id.clone());
        self.mgr().create_sandbox(&id).unwrap();
        let ep = self
            .mgr()
            .connect(
                network,
                &ConnectRequest {
                    container_id: id.clone(),
                    container_name: format!("c{}", &id[..6]),
                    aliases: vec![format!("alias{}", &id[..6])],
                    ports,
                    ..Default::default()
                },
            )
            .unwrap();
        (id, ep)
    }

    fn sandbox(&self, id: &str) -> std::path::PathBuf {
        self.mgr().sandbox_path(id)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let Some(mgr) = self.mgr.take() else { return };
        for c in &self.containers {
            if let Err(e) = mgr.release(c) {
                eprintln!("net test cleanup: release {c}: {e}");
            }
        }
        mgr.settle();
        for n in mgr.list() {
            if n.user_defined {
                if let Err(e) = mgr.remove_network(&n.id) {
                    eprintln!("net test cleanup: remove network {}: {e}", n.name);
                    let _ = net::netlink::Netlink::open().map(|nl| nl.delete_link(&n.bridge));
                }
            }
        }
        if let Err(e) = nft::delete(&self.table) {
            eprintln!("net test cleanup: nft table {}: {e}", self.table);
        }
    }
}

fn random_hex() -> String {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Serves one echo connection in `sandbox` on `ip:port` (0 = any port); returns the port and
/// a receiver for the peer address it saw.
fn echo_server(
    sandbox: &Path,
    ip: Ipv4Addr,
    proto_port: u16,
) -> (u16, std::sync::mpsc::Receiver<SocketAddr>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let l = netns::run_in(sandbox, move || {
        TcpListener::bind((ip, proto_port)).unwrap()
    })
    .unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for _ in 0..8 {
            let Ok((mut s, peer)) = l.accept() else {
                return;
            };
            let _ = tx.send(peer);
            let mut b = [0u8; 5];
            if s.read_exact(&mut b).is_ok() {
                let _ = s.write_all(&b);
            }
        }
    });
    (port, rx)
}

fn echo(to: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_millis(700))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(b"hello")?;
    let mut b = [0u8; 5];
    s.read_exact(&mut b)?;
    assert_eq!(&b, b"hello");
    Ok(())
}

fn echo_from(sandbox: &Path, to: SocketAddr) -> std::io::Result<()> {
    netns::run_in(sandbox, move || echo(to)).unwrap()
}

fn bridge_ports(bridge: &str) -> usize {
    std::fs::read_dir(format!("/sys/class/net/{bridge}/brif"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

#[test]
fn containers_on_one_bridge_talk_and_release_leaves_nothing() {
    let mut f = Fixture::new();
    let n = f.network(false);
    let (a, ea) = f.container(&n.id, vec![]);
    let (b, eb) = f.container(&n.id, vec![]);
    assert_ne!(ea.ip, eb.ip);
    assert_eq!(ea.ifname, "eth0");
    assert_eq!(bridge_ports(&n.bridge), 2);
    let (port, _rx) = echo_server(&f.sandbox(&a), ea.ip, 0);
    echo_from(&f.sandbox(&b), SocketAddr::from((ea.ip, port))).unwrap();
    // the host reaches containers directly
    echo(SocketAddr::from((ea.ip, port))).unwrap();

    let sa = f.sandbox(&a);
    f.mgr().release(&a).unwrap();
    f.mgr().release(&b).unwrap();
    f.mgr().settle();
    assert!(!link_exists(&ea.veth) && !link_exists(&eb.veth));
    assert!(!sa.exists(), "sandbox mount point removed");
    assert_eq!(bridge_ports(&n.bridge), 0);
    f.mgr().remove_network(&n.name).unwrap();
    assert!(!link_exists(&n.bridge));
    assert!(
        !nft::exists(&f.table),
        "table removed with the last network"
    );
}

#[test]
fn published_port_is_reachable_from_localhost_the_gateway_and_other_networks() {
    let mut f = Fixture::new();
    let n1 = f.network(false);
    let n2 = f.network(false);
    let (a, ea) = f.container(
        &n1.id,
        vec![PortRequest {
            proto: Proto::Tcp,
            container_port: 8080,
            host_ip: None,
            host_ports: None,
        }],
    );
    let hp = ea.ports[0].host_port;
    assert!(hp > 0);
    let (_, _rx) = echo_server(&f.sandbox(&a), Ipv4Addr::UNSPECIFIED, 8080);
    echo(SocketAddr::from((Ipv4Addr::LOCALHOST, hp))).expect("127.0.0.1 -> container");
    let gw1 = n1.gateway.unwrap();
    echo(SocketAddr::from((gw1, hp))).expect("host address -> container");
    echo_from(&f.sandbox(&a), SocketAddr::from((gw1, hp)))
        .expect("itself via the host port (hairpin)");
    let (b, _) = f.container(&n1.id, vec![]);
    echo_from(&f.sandbox(&b), SocketAddr::from((gw1, hp))).expect("same network via host port");
    let (c, ec) = f.container(&n2.id, vec![]);
    echo_from(&f.sandbox(&c), SocketAddr::from((n2.gateway.unwrap(), hp)))
        .expect("other network via host port");
    // but not directly: networks are isolated
    assert!(echo_from(&f.sandbox(&c), SocketAddr::from((ea.ip, 8080))).is_err());
    let _ = ec;
    // the port is held while published, free after release
    assert!(TcpListener::bind(("0.0.0.0", hp)).is_err());
    f.mgr().release(&a).unwrap();
    f.mgr().settle();
    assert!(TcpListener::bind(("0.0.0.0", hp)).is_ok());
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "ip", &f.table])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&rules.stdout).contains("elements"));
}

#[test]
fn outbound_traffic_is_masqueraded_and_internal_networks_have_none() {
    let mut f = Fixture::new();
    // an "outside" namespace reached through a veth the test owns
    let outside = f.dir.path().join("outside");
    netns::create(&outside).unwrap();
    struct Cleanup(std::path::PathBuf, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = net::netlink::Netlink::open().map(|nl| nl.delete_link(&self.1));
            let _ = netns::remove(&self.0);
        }
    }
    let host_if = format!("vo{}", &random_hex()[..8]);
    let _c = Cleanup(outside.clone(), host_if.clone());
    let s: net::ipam::Ipv4Net = subnet().parse().unwrap();
    let host_ip = s.first_host();
    let out_ip = Ipv4Addr::from(u32::from(host_ip) + 1);
    let nl = net::netlink::Netlink::open().unwrap();
    let ns = std::fs::File::open(&outside).unwrap();
    use std::os::fd::AsFd;
    nl.create_veth(&net::netlink::VethSpec {
        host: &host_if,
        peer: "eth0",
        peer_netns: Some(ns.as_fd()),
        peer_mac: None,
        master: None,
        mtu: None,
    })
    .unwrap();
    let hi = nl.require_index(&host_if).unwrap();
    nl.add_address(hi, host_ip, 24).unwrap();
    nl.set_up(hi).unwrap();
    let inside = netns::socket_in(&outside).unwrap();
    let oi = inside.require_index("eth0").unwrap();
    inside.add_address(oi, out_ip, 24).unwrap();
    inside.set_up(oi).unwrap();

    let (port, rx) = echo_server(&outside, out_ip, 0);
    let n = f.network(false);
    let (a, _) = f.container(&n.id, vec![]);
    echo_from(&f.sandbox(&a), SocketAddr::from((out_ip, port))).unwrap();
    let peer = rx.recv_timeout(Duration::from_secs(2)).unwrap();
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(host_ip),
        "source is masqueraded"
    );

    let internal = f.network(true);
    let (b, _) = f.container(&internal.id, vec![]);
    assert!(echo_from(&f.sandbox(&b), SocketAddr::from((out_ip, port))).is_err());
}

#[test]
fn port_in_use_fails_naming_the_port_and_leaves_nothing() {
    let mut f = Fixture::new();
    let n = f.network(false);
    let taken = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let id = random_hex();
    f.containers.push(id.clone());
    f.mgr().create_sandbox(&id).unwrap();
    let err = f
        .mgr()
        .connect(
            &n.id,
            &ConnectRequest {
                container_id: id.clone(),
                container_name: "web".into(),
                ports: vec![PortRequest {
                    proto: Proto::Tcp,
                    container_port: 80,
                    host_ip: Some(Ipv4Addr::LOCALHOST),
                    host_ports: Some((port, port)),
                }],
                ..Default::default()
            },
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("driver failed programming external connectivity on endpoint web (")
            && msg.ends_with(&format!(
                "Bind for 127.0.0.1:{port} failed: port is already allocated"
            )),
        "{msg}"
    );
    assert_eq!(bridge_ports(&n.bridge), 0, "no veth left");
    assert!(f.mgr().endpoints_of(&id).is_empty());
    let rules = std::process::Command::new("nft")
        .args(["list", "table", "ip", &f.table])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&rules.stdout).contains("elements"));
}

#[test]
fn overlapping_subnets_bad_input_and_busy_networks_are_refused() {
    let mut f = Fixture::new();
    let n = f.network(false);
    let s = n.subnet.unwrap();
    let half = format!("{}/25", s.addr());
    let err = f
        .mgr()
        .create_network(CreateNetwork {
            name: testkit::unique_name("o"),
            subnet: Some(half),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Pool overlaps with other one on this address space"
    );
    assert_eq!(err.kind(), api::ErrorKind::PermissionDenied);
    let err = f
        .mgr()
        .create_network(CreateNetwork {
            name: testkit::unique_name("o"),
            subnet: Some("10.1.2.3/33".into()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err.kind(), api::ErrorKind::InvalidArgument);
    let err = f
        .mgr()
        .create_network(CreateNetwork {
            name: n.name.clone(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("network with name {} already exists", n.name)
    );

    let (_a, _) = f.container(&n.id, vec![]);
    let err = f.mgr().remove_network(&n.name).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "error while removing network: network {} id {} has active endpoints",
            n.name, n.id
        )
    );
    assert_eq!(err.kind(), api::ErrorKind::Conflict);
    assert_eq!(f.mgr().prune(|_| true), Vec::<String>::new());
}

#[test]
fn allocations_survive_a_restart_without_collisions() {
    let mut f = Fixture::new();
    let n = f.network(false);
    let (a, ea) = f.container(
        &n.id,
        vec![PortRequest {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_ports: None,
        }],
    );
    let hp = ea.ports[0].host_port;
    let (_p, _rx) = echo_server(&f.sandbox(&a), Ipv4Addr::UNSPECIFIED, 80);
    f.reopen();
    // the port is held again and still forwarded
    assert!(TcpListener::bind(("127.0.0.1", hp)).is_err());
    echo(SocketAddr::from((Ipv4Addr::LOCALHOST, hp))).unwrap();
    let (_b, eb) = f.container(&n.id, vec![]);
    assert_ne!(ea.ip, eb.ip);
    assert_eq!(f.mgr().get(&n.name).unwrap().subnet, n.subnet);
}

#[test]
fn dns_answers_names_and_aliases_and_forwards_the_rest() {
    testkit::require_root();
    // a fake upstream resolver answering every query with 192.0.2.99
    let up = UdpSocket::bind("127.0.0.1:0").unwrap();
    let up_addr = up.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 512];
        while let Ok((n, peer)) = up.recv_from(&mut b) {
            let q = net::dns::parse_query(&b[..n]).unwrap();
            let _ = q;
            let parsed = net::dns::parse_query(&b[..n]).unwrap();
            let resp = net::dns::local_answer(&b[..n], &parsed, &[Ipv4Addr::new(192, 0, 2, 99)]);
            let _ = up.send_to(&resp, peer);
        }
    });
    let mut f = Fixture::with_upstreams(Some(vec![up_addr]));
    let n = f.network(false);
    let (a, ea) = f.container(&n.id, vec![]);
    let (b, _) = f.container(&n.id, vec![]);
    let up2 = UdpSocket::bind("127.0.0.1:0").unwrap();
    let up2_addr = up2.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 512];
        while let Ok((n, peer)) = up2.recv_from(&mut b) {
            let parsed = net::dns::parse_query(&b[..n]).unwrap();
            let resp = net::dns::local_answer(&b[..n], &parsed, &[Ipv4Addr::new(192, 0, 2, 77)]);
            let _ = up2.send_to(&resp, peer);
        }
    });
    let own = random_hex();
    f.containers.push(own.clone());
    f.mgr().create_sandbox(&own).unwrap();
    f.mgr()
        .connect(
            &n.id,
            &ConnectRequest {
                container_id: own.clone(),
                container_name: "own".into(),
                dns: vec![up2_addr.to_string()],
                ..Default::default()
            },
        )
        .unwrap();
    let gw = n.gateway.unwrap();
    let ask = |name: &str| -> Vec<Ipv4Addr> {
        let q = net::dns::build_query(7, name, net::dns::types::A);
        let name2 = name.to_string();
        let sb = f.sandbox(&b);
        netns::run_in(&sb, move || {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            s.send_to(&q, (gw, 53)).unwrap();
            let mut buf = [0u8; 512];
            let n = s
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no answer for {name2} from {gw}: {e}"));
            net::dns::answer_addrs(&buf[..n])
        })
        .unwrap()
    };
    assert_eq!(ask(&format!("c{}", &a[..6])), vec![ea.ip]);
    assert_eq!(ask(&format!("ALIAS{}", &a[..6])), vec![ea.ip]);
    assert_eq!(ask(&a[..12]), vec![ea.ip]);
    assert_eq!(ask("example.org"), vec![Ipv4Addr::new(192, 0, 2, 99)]);
    // TCP: two-byte length prefix
    let q = net::dns::build_query(9, &format!("c{}", &a[..6]), net::dns::types::A);
    let mut s =
        TcpStream::connect_timeout(&SocketAddr::from((gw, 53)), Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    s.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut resp = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).unwrap();
    assert_eq!(net::dns::answer_addrs(&resp), vec![ea.ip]);
    // a container with its own resolvers (`--dns`) gets its other queries forwarded there
    let q = net::dns::build_query(8, "example.org", net::dns::types::A);
    let so = f.sandbox(&own);
    let got = netns::run_in(&so, move || {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.send_to(&q, (gw, 53)).unwrap();
        let mut buf = [0u8; 512];
        let n = s.recv(&mut buf).unwrap();
        net::dns::answer_addrs(&buf[..n])
    })
    .unwrap();
    assert_eq!(got, vec![Ipv4Addr::new(192, 0, 2, 77)]);
    assert_eq!(
        ask("example.org"),
        vec![Ipv4Addr::new(192, 0, 2, 99)],
        "others keep the host's"
    );

    f.mgr().release(&a).unwrap();
    f.mgr().settle();
    assert_eq!(
        ask(&format!("c{}", &a[..6])),
        vec![Ipv4Addr::new(192, 0, 2, 99)],
        "forgotten after release"
    );
}

#[test]
fn published_udp_port_is_reachable_from_localhost() {
    let mut f = Fixture::new();
    let n = f.network(false);
    let (a, ea) = f.container(
        &n.id,
        vec![PortRequest {
            proto: Proto::Udp,
            container_port: 5353,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_ports: None,
        }],
    );
    let hp = ea.ports[0].host_port;
    let server =
        netns::run_in(&f.sandbox(&a), || UdpSocket::bind("0.0.0.0:5353").unwrap()).unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 64];
        if let Ok((n, peer)) = server.recv_from(&mut b) {
            let _ = server.send_to(&b[..n], peer);
        }
    });
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.send_to(b"ping", ("127.0.0.1", hp)).unwrap();
    let mut b = [0u8; 8];
    let (n, _) = c.recv_from(&mut b).unwrap();
    assert_eq!(&b[..n], b"ping");
}

#[test]
fn a_fixed_host_port_is_taken_again_right_after_release() {
    let mut f = Fixture::new();
    let n = f.network(false);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let req = || {
        vec![PortRequest {
            proto: Proto::Tcp,
            container_port: 80,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_ports: Some((port, port)),
        }]
    };
    let (a, _) = f.container(&n.id, req());
    f.mgr().release(&a).unwrap();
    // a restart: the same port at once, while the release finishes in the background
    let (_b, eb) = f.container(&n.id, req());
    assert_eq!(eb.ports[0].host_port, port);
}
