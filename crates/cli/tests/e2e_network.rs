//! Networking end to end with the real docker CLI: published ports reached from the host,
//! containers on a user network finding each other by name, the refused inputs of issue 5
//! (port in use, overlapping or invalid subnets, bad port specs, removing a busy network), and
//! a daemon killed with SIGKILL whose published port keeps working. Every test removes what it
//! creates and checks that no namespace, veth, endpoint or DNAT rule is left.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::{eventually, leftovers, stderr, stdout, Daemon};

/// A host port that is free right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET / from `addr`, retried while the server starts.
fn http_get(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        })();
        match attempt {
            Ok(b) if b.contains("200 OK") => return b,
            other => {
                if Instant::now() > deadline {
                    panic!("GET http://{addr}/ failed: {other:?}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Runs busybox httpd serving "hello from <name>" on port 80.
fn httpd(d: &Daemon, name: &str, extra: &[&str]) -> String {
    let script = format!(
        "mkdir -p /www && echo hello from {name} > /www/index.html && exec httpd -f -p 80 -h /www"
    );
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    let out = d.docker(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn nft_table(d: &Daemon) -> String {
    let out = std::process::Command::new("nft")
        .args(["list", "table", "ip", &d.nft_table])
        .output()
        .unwrap();
    stdout(&out)
}

/// Raw API call through curl: (status, body).
fn api(d: &Daemon, method: &str, path: &str, body: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(&d.socket)
        .args([
            "-X",
            method,
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ])
        .arg(format!("http://berth/v1.43{path}"))
        .output()
        .expect("curl");
    let text = stdout(&out);
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.trim_end().to_string())
}

/// Nothing of the daemon's containers is left: namespaces and endpoints at once, DNAT map
/// elements after the daemon's background teardown (a few tens of ms).
fn assert_clean(d: &Daemon) {
    assert_eq!(leftovers(d), Vec::<String>::new(), "leaked network objects");
    eventually("DNAT elements removed", || {
        !nft_table(d).contains("elements")
    });
}

/// The host port is free again (released after the DNAT element is gone).
fn assert_port_free(port: u16) {
    eventually("port released", || {
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    });
}

#[test]
fn published_ports_are_reachable_from_the_host_and_shown() {
    let d = Daemon::start();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    httpd(&d, "web", &["-p", &publish]);
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello from web"));
    assert_eq!(
        stdout(&d.docker(&["port", "web"])),
        format!("80/tcp -> 127.0.0.1:{port}\n")
    );
    assert_eq!(
        stdout(&d.berth(&["port", "web", "80"])),
        format!("127.0.0.1:{port}\n")
    );
    let ps = stdout(&d.docker(&["ps"]));
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");
    let inspect = d.docker(&["inspect", "web"]);
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let ns = &v[0]["NetworkSettings"];
    assert_eq!(ns["Ports"]["80/tcp"][0]["HostPort"], port.to_string());
    let ip = ns["IPAddress"].as_str().unwrap().to_string();
    assert_eq!(ns["Networks"]["bridge"]["IPAddress"], ip.as_str());
    assert_eq!(ns["Networks"]["bridge"]["Gateway"], ns["Gateway"]);
    assert_eq!(
        v[0]["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
        port.to_string()
    );
    // the container's own address works from the host too
    assert!(http_get(&format!("{ip}:80")).contains("hello from web"));

    // -P: a random host port for every exposed port, on every address
    httpd(&d, "web2", &["-P", "--expose", "80"]);
    let line = stdout(&d.docker(&["port", "web2", "80"]));
    let random: u16 = line.trim().rsplit_once(':').unwrap().1.parse().unwrap();
    assert!(line.starts_with("0.0.0.0:"), "{line}");
    assert!(http_get(&format!("127.0.0.1:{random}")).contains("hello from web2"));
    // and from another container through the host port (the gateway is a host address)
    let gw = ns["Gateway"].as_str().unwrap();
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        &format!("http://{gw}:{random}/"),
    ]);
    assert_eq!(stdout(&out), "hello from web2\n", "{}", stderr(&out));

    assert!(d.docker(&["rm", "-f", "web", "web2"]).status.success());
    assert_clean(&d);
    assert_port_free(port);
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name() {
    let d = Daemon::start();
    let net = testkit::unique_name("net");
    let subnet = format!("10.{}.{}.0/24", 200 + std::process::id() % 50, 1);
    let out = d.docker(&["network", "create", "--subnet", &subnet, &net]);
    assert!(out.status.success(), "{}", stderr(&out));
    httpd(&d, "srv", &["--network", &net, "--network-alias", "db"]);
    for name in ["srv", "db"] {
        let out = d.docker(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://{name}/"),
        ]);
        assert_eq!(stdout(&out), "hello from srv\n", "{name}: {}", stderr(&out));
    }
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--add-host",
        "extra:10.9.9.9",
        "--dns-search",
        "example",
        "busybox",
        "cat",
        "/etc/resolv.conf",
        "/etc/hosts",
    ]);
    let text = stdout(&out);
    let gw = subnet.replace(".0/24", ".1");
    assert!(
        text.contains(&format!("nameserver {gw}")) && text.contains("search example"),
        "{text}"
    );
    assert!(text.contains("10.9.9.9\textra"), "{text}");
    let fixed = subnet.replace(".0/24", ".50");
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        &fixed,
        "--dns",
        "10.1.1.1",
        "busybox",
        "cat",
        "/etc/resolv.conf",
        "/etc/hosts",
    ]);
    let text = stdout(&out);
    assert!(
        // --dns on a user network becomes the upstream of the network's DNS server
        text.contains(&format!("nameserver {gw}\n")) && !text.contains("10.1.1.1"),
        "{text}"
    );
    assert!(text.contains(&format!("{fixed}\t")), "{text}");
    let inspect = stdout(&d.docker(&["network", "inspect", &net]));
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], subnet.as_str());
    assert_eq!(v[0]["Containers"].as_object().unwrap().len(), 1);
    let ls = stdout(&d.docker(&["network", "ls"]));
    assert!(
        ls.contains(&net) && ls.contains("bridge") && ls.contains("none"),
        "{ls}"
    );

    // --network container:NAME shares srv's namespace
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:srv",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://127.0.0.1/",
    ]);
    assert_eq!(stdout(&out), "hello from srv\n", "{}", stderr(&out));
    // connect a running container on the default bridge: it now resolves srv; disconnect undoes it
    let out = d.docker(&["run", "-d", "--name", "late", "busybox", "sleep", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&["network", "connect", "--alias", "later", &net, "late"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "nslookup",
        "later",
    ]);
    assert!(
        stdout(&out).contains(&subnet.replace(".0/24", ".")),
        "{}",
        stdout(&out)
    );
    let out = d.docker(&["network", "disconnect", &net, "late"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let members = stdout(&d.docker(&["network", "inspect", "-f", "{{len .Containers}}", &net]));
    assert_eq!(members, "1\n");
    assert!(d.docker(&["rm", "-f", "late"]).status.success());

    let bridge = v[0]["Id"].as_str().unwrap()[..12].to_string();
    assert!(std::path::Path::new(&format!("/sys/class/net/br-{bridge}")).exists());

    assert!(d.docker(&["rm", "-f", "srv"]).status.success());
    let out = d.docker(&["network", "prune", "-f"]);
    assert_eq!(stdout(&out), format!("Deleted Networks:\n{net}\n\n"));
    assert!(!std::path::Path::new(&format!("/sys/class/net/br-{bridge}")).exists());
    assert_clean(&d);
}

#[test]
fn port_in_use_fails_naming_the_port_and_leaves_nothing() {
    let d = Daemon::start();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sleep",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    assert!(
        err.contains("driver failed programming external connectivity on endpoint busy")
            && err.contains(&format!(
                "Bind for 127.0.0.1:{port} failed: port is already allocated"
            )),
        "{err}"
    );
    assert_clean(&d);
    assert!(stdout(&d.docker(&["ps", "-a"])).contains("Created"));
    assert!(d.docker(&["rm", "busy"]).status.success());
}

#[test]
fn overlapping_subnets_are_refused() {
    let d = Daemon::start();
    let net = testkit::unique_name("net");
    let subnet = format!("10.{}.{}.0/24", 200 + std::process::id() % 50, 2);
    assert!(d
        .docker(&["network", "create", "--subnet", &subnet, &net])
        .status
        .success());
    let over = subnet.replace(".0/24", ".128/25");
    let out = d.docker(&["network", "create", "--subnet", &over, "overlap"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error response from daemon: Pool overlaps with other one on this address space\n"
    );
    let (status, _) = api(
        &d,
        "POST",
        "/networks/create",
        &format!(r#"{{"Name":"overlap","IPAM":{{"Config":[{{"Subnet":"{over}"}}]}}}}"#),
    );
    assert_eq!(status, 403);
    assert!(d.docker(&["network", "rm", &net]).status.success());
    assert_eq!(
        stdout(&d.docker(&["network", "ls", "-q", "--filter", &format!("name={net}")])),
        ""
    );
}

#[test]
fn invalid_subnets_and_port_specs_are_400_with_the_reason() {
    let d = Daemon::start();
    for (subnet, reason) in [
        (
            "10.1.2.3/33",
            "invalid subnet 10.1.2.3/33: expected an IPv4 CIDR such as 10.10.0.0/24",
        ),
        (
            "10.1.2.3/24",
            "invalid subnet 10.1.2.3/24: host bits are set, use 10.1.2.0/24",
        ),
    ] {
        let (status, body) = api(
            &d,
            "POST",
            "/networks/create",
            &format!(r#"{{"Name":"bad","IPAM":{{"Config":[{{"Subnet":"{subnet}"}}]}}}}"#),
        );
        assert_eq!(
            (status, body),
            (400, format!("{{\"message\":\"{reason}\"}}"))
        );
    }
    for (bindings, reason) in [
        (
            r#"{"80/tcp":[{"HostIp":"","HostPort":"99999"}]}"#,
            "invalid hostPort: 99999",
        ),
        (
            r#"{"80/sctp":[{"HostIp":"","HostPort":"80"}]}"#,
            "invalid proto: sctp",
        ),
        (
            r#"{"80/tcp":[{"HostIp":"1.2.3","HostPort":"80"}]}"#,
            "invalid IP address: 1.2.3: berth publishes on IPv4 addresses only",
        ),
    ] {
        let (status, body) = api(
            &d,
            "POST",
            "/containers/create",
            &format!(
                r#"{{"Image":"busybox","Cmd":["true"],"HostConfig":{{"PortBindings":{bindings}}}}}"#
            ),
        );
        assert_eq!(
            (status, body),
            (400, format!("{{\"message\":\"{reason}\"}}"))
        );
    }
    // As dockerd: a missing network is the start's 404 (a 404 on create would make the
    // docker CLI try to pull the image).
    let (status, body) = api(
        &d,
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"nosuchnet"}}"#,
    );
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = api(&d, "POST", &format!("/containers/{id}/start"), "");
    assert_eq!(
        (status, body.as_str()),
        (404, "{\"message\":\"network nosuchnet not found\"}")
    );
    let (status, _) = api(&d, "DELETE", &format!("/containers/{id}"), "");
    assert_eq!(status, 204);
    // the berth CLI parses -p itself and says why
    let out = d.berth(&["run", "--rm", "-p", "8080:80/sctp", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("invalid proto: sctp"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&d.docker(&["ps", "-aq"])), "");
}

#[test]
fn removing_a_network_with_containers_is_409() {
    let d = Daemon::start();
    let net = testkit::unique_name("net");
    assert!(d.docker(&["network", "create", &net]).status.success());
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "member",
        "--network",
        &net,
        "busybox",
        "sleep",
        "30",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&d.docker(&["network", "inspect", "-f", "{{.Id}}", &net]))
        .trim()
        .to_string();
    let (status, body) = api(&d, "DELETE", &format!("/networks/{net}"), "");
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body,
        format!("{{\"message\":\"error while removing network: network {net} id {id} has active endpoints\"}}")
    );
    let out = d.docker(&["network", "rm", &net]);
    assert_eq!(out.status.code(), Some(1));
    assert!(d.docker(&["rm", "-f", "member"]).status.success());
    assert!(d.docker(&["network", "rm", &net]).status.success());
    assert!(!std::path::Path::new(&format!("/sys/class/net/br-{}", &id[..12])).exists());
    assert_clean(&d);
}

#[test]
fn published_port_survives_a_daemon_killed_with_sigkill() {
    let mut d = Daemon::start();
    let port = free_port();
    httpd(&d, "web", &["-p", &format!("127.0.0.1:{port}:80")]);
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello from web"));
    d.kill9();
    // the kernel keeps forwarding while no daemon runs
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello from web"));
    d.spawn();
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello from web"));
    // (the socket accepts before the engine is open: ask the daemon first, then check)
    assert_eq!(
        stdout(&d.docker(&["port", "web"])),
        format!("80/tcp -> 127.0.0.1:{port}\n")
    );
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_err(),
        "port re-reserved"
    );
    // a restart takes the same fixed port again
    let out = d.docker(&["restart", "-t", "0", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("hello from web"));
    assert!(d.docker(&["rm", "-f", "web"]).status.success());
    assert_clean(&d);
    assert_port_free(port);
}

#[test]
fn berth_network_commands_match_docker() {
    let d = Daemon::start();
    let net = testkit::unique_name("net");
    let subnet = format!("10.{}.{}.0/24", 200 + std::process::id() % 50, 3);
    let out = d.berth(&[
        "network", "create", "--subnet", &subnet, "--label", "cap=1", &net,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert_eq!(id.len(), 64);
    let ls = stdout(&d.berth(&["network", "ls", "--filter", "label=cap=1"]));
    assert_eq!(
        ls,
        stdout(&d.docker(&["network", "ls", "--filter", "label=cap=1"]))
    );
    assert!(ls.contains(&id[..12]) && ls.contains(&net), "{ls}");
    let f = stdout(&d.berth(&["network", "inspect", "-f", "{{.Name}} {{.Driver}}", &net]));
    assert_eq!(f, format!("{net} bridge\n"));
    let out = d.berth(&["run", "-d", "--name", "c1", "busybox", "sleep", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.berth(&["network", "connect", "--alias", "one", &net, "c1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&d.berth(&["inspect", "c1"]).stdout).unwrap();
    let nets = v[0]["NetworkSettings"]["Networks"].as_object().unwrap();
    assert!(
        nets.contains_key("bridge") && nets.contains_key(&net),
        "{nets:?}"
    );
    assert!(nets[&net]["IPAddress"]
        .as_str()
        .unwrap()
        .starts_with(&subnet[..subnet.len() - 4]));
    let out = d.berth(&["network", "rm", &net]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has active endpoints"),
        "{}",
        stderr(&out)
    );
    let out = d.berth(&["network", "disconnect", &net, "c1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(d.berth(&["rm", "-f", "c1"]).status.success());
    assert_eq!(
        stdout(&d.berth(&["network", "prune", "-f"])),
        format!("Deleted Networks:\n{net}\n\n")
    );
    let out = d.berth(&["network", "rm", "bridge"]);
    assert_eq!(
        stderr(&out),
        "Error response from daemon: bridge is a pre-defined network and cannot be removed\n"
    );
    assert_clean(&d);
}

/// Issue "Engine"'s fault test: 50 containers with published ports, restart policies and
/// volumes; `kill -9` of the daemon; after the restart every port answers and the policies still
/// hold; after `rm -f` of everything and the prunes nothing is left behind.
#[test]
fn fifty_published_containers_survive_a_daemon_kill() {
    let mut d = Daemon::start();
    let n = 50;
    let mut ports = Vec::new();
    for i in 0..n {
        let port = free_port();
        ports.push(port);
        let name = format!("svc{i}");
        let publish = format!("127.0.0.1:{port}:80");
        let volume = format!("vol{}:/data", i % 5);
        let policy = if i % 2 == 0 {
            "always"
        } else {
            "unless-stopped"
        };
        let script = format!(
            "mkdir -p /www && echo hello from {name} > /www/index.html && exec httpd -f -p 80 -h /www"
        );
        let out = d.berth(&[
            "run",
            "-d",
            "--name",
            &name,
            "--restart",
            policy,
            "-p",
            &publish,
            "-v",
            &volume,
            "busybox",
            "sh",
            "-c",
            &script,
        ]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    }
    for (i, port) in ports.iter().enumerate() {
        assert!(http_get(&format!("127.0.0.1:{port}")).contains(&format!("hello from svc{i}")));
    }

    d.kill9();
    d.spawn();
    let running = stdout(&d.berth(&["ps", "-q"]));
    assert_eq!(running.lines().count(), n, "{running}");
    for (i, port) in ports.iter().enumerate() {
        assert!(http_get(&format!("127.0.0.1:{port}")).contains(&format!("hello from svc{i}")));
    }
    // Policies still in force: an init killed from outside comes back, on its port.
    let pid: i32 = stdout(&d.berth(&["inspect", "--format", "{{.State.Pid}}", "svc0"]))
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    eventually("svc0 restarted by its policy", || {
        stdout(&d.berth(&[
            "inspect",
            "--format",
            "{{.RestartCount}} {{.State.Status}}",
            "svc0",
        ]))
        .trim()
            == "1 running"
    });
    assert!(http_get(&format!("127.0.0.1:{}", ports[0])).contains("hello from svc0"));

    // Everything removed: no endpoint, veth, netns, DNAT element, mount or cgroup remains.
    let ids = stdout(&d.berth(&["ps", "-aq", "--no-trunc"]));
    let ids: Vec<&str> = ids.lines().collect();
    let mut args = vec!["rm", "-f", "-v"];
    args.extend(ids.iter().copied());
    let out = d.berth(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(d.berth(&["network", "prune", "-f"]).status.success());
    let pruned = d.berth(&["volume", "prune", "-a", "-f"]);
    assert!(pruned.status.success(), "{}", stderr(&pruned));
    assert_eq!(stdout(&d.berth(&["volume", "ls", "-q"])), "");
    assert_clean(&d);
    for port in &ports {
        assert_port_free(*port);
    }
    assert!(d.mounts().is_empty(), "{:?}", d.mounts());
    for id in ids {
        for ctrl in ["memory", "pids", "cpu"] {
            let cg = std::path::Path::new("/sys/fs/cgroup")
                .join(ctrl)
                .join("berth")
                .join(id);
            assert!(!cg.exists(), "cgroup left: {}", cg.display());
        }
    }
}

/// Differences with dockerd 20.10 found by `tests/parity/run.sh`: a missing network fails the
/// start (the container stays created, the CLI does not try to pull), disconnecting the last
/// network leaves none, and resolv.conf behind the embedded DNS has `options ndots:0`.
#[test]
fn docker_cli_network_flows_match_dockerd() {
    let d = Daemon::start();
    let out = d.docker(&[
        "run",
        "--name",
        "lost",
        "--network",
        "nosuchnet",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("Error response from daemon: network nosuchnet not found")
            && !stderr(&out).contains("Unable to find image"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["inspect", "-f", "{{.State.Status}}", "lost"]);
    assert_eq!(stdout(&out), "created\n", "{}", stderr(&out));
    let out = d.docker(&["start", "lost"]);
    assert!(
        stderr(&out).contains("network nosuchnet not found"),
        "{}",
        stderr(&out)
    );
    assert!(d.docker(&["rm", "lost"]).status.success());

    let net = testkit::unique_name("net");
    let subnet = format!("10.{}.{}.0/24", 200 + std::process::id() % 50, 7);
    let out = d.docker(&["network", "create", "--subnet", &subnet, &net]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(
        stdout(&out).ends_with("options ndots:0\n"),
        "{}",
        stdout(&out)
    );
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "dis",
        "--network",
        &net,
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(d
        .docker(&["network", "disconnect", &net, "dis"])
        .status
        .success());
    let out = d.docker(&[
        "inspect",
        "-f",
        "{{len .NetworkSettings.Networks}} {{.HostConfig.NetworkMode}}",
        "dis",
    ]);
    assert_eq!(stdout(&out), format!("0 {net}\n"), "{}", stderr(&out));
    let out = d.docker(&["network", "disconnect", &net, "dis"]);
    let id = stdout(&d.docker(&["inspect", "-f", "{{.Id}}", "dis"]));
    assert!(
        stderr(&out).contains(&format!(
            "container {} is not connected to network {net}",
            id.trim()
        )),
        "{}",
        stderr(&out)
    );
    // Restarted without networks: only the loopback.
    assert!(d.docker(&["restart", "-t", "0", "dis"]).status.success());
    let out = d.docker(&["exec", "dis", "ip", "-o", "-4", "addr"]);
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    assert!(d.docker(&["rm", "-f", "dis"]).status.success());
    assert!(d.docker(&["network", "rm", &net]).status.success());
    assert_clean(&d);
}

/// `--bip` takes the bridge's own address with its prefix, as dockerd's does.
#[test]
fn bip_with_a_host_address_is_the_gateway() {
    let third = 100 + std::process::id() % 50;
    let bip = format!("10.{third}.3.5/24");
    let d = Daemon::start_with(&["--bip", &bip]);
    let out = d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
        "bridge",
    ]);
    assert_eq!(
        stdout(&out),
        format!("10.{third}.3.0/24 10.{third}.3.5\n"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["run", "--rm", "busybox", "ip", "route"]);
    assert!(
        stdout(&out).contains(&format!("default via 10.{third}.3.5")),
        "{}",
        stdout(&out)
    );
    assert_clean(&d);
}
