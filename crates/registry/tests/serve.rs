//! The real listener: plain HTTP/1.1 over TCP, a stray TLS ClientHello (clients probe with one
//! before falling back to http), and graceful shutdown.

use std::time::Duration;

use registry::{serve_with_shutdown, RegistryConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn roundtrip(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("server answers and closes promptly")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn serves_http_answers_tls_probe_and_shuts_down() {
    let tmp = testkit::TempDir::new("registry-serve");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = RegistryConfig::new(addr, tmp.path());
    let server = tokio::spawn(serve_with_shutdown(listener, config, async {
        let _ = stopped.await;
    }));

    let reply = roundtrip(
        addr,
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("docker-distribution-api-version: registry/2.0"),
        "{reply}"
    );
    assert!(reply.ends_with("{}"), "{reply}");

    // The first bytes of a TLS 1.2 ClientHello record.
    let hello = [
        0x16, 0x03, 0x01, 0x00, 0x2f, 0x01, 0x00, 0x00, 0x2b, 0x03, 0x03, 0, 0, 0, 0,
    ];
    let reply = roundtrip(addr, &hello).await;
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 400"),
        "{reply}"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops after the shutdown signal")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn bind_failure_names_the_address() {
    let tmp = testkit::TempDir::new("registry-serve");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = registry::serve(RegistryConfig::new(addr, tmp.path()))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), format!("serve registry on {addr}"));
}
