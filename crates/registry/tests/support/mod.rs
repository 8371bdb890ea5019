//! A tiny HTTP/1.1 client over TCP for the suites that talk to a real listener.
#![allow(dead_code)]

use std::net::SocketAddr;

use api::Digest;
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    /// `Location` as a path (distribution answers absolute URLs).
    pub fn location(&self) -> Option<String> {
        let l = self.header("location")?;
        Some(match l.find("://") {
            Some(i) => {
                let rest = &l[i + 3..];
                rest[rest.find('/').unwrap_or(rest.len())..].to_string()
            }
            None => l,
        })
    }
}

#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
}

impl Client {
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        let mut has_len = false;
        for (k, v) in headers {
            has_len |= k.eq_ignore_ascii_case("content-length");
            req = req.header(*k, *v);
        }
        if !has_len && method != "GET" && method != "HEAD" {
            req = req.header("content-length", body.len().to_string());
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
        let res = sender.send_request(req).await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], b"").await
    }

    /// POST + PUT (the conformance suite's blob upload); returns the digest.
    pub async fn push_blob(&self, ns: &str, bytes: &[u8]) -> Digest {
        let d = Digest::sha256_of(bytes);
        let r = self
            .send("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], b"")
            .await;
        assert_eq!(
            r.status,
            202,
            "POST upload: {}",
            String::from_utf8_lossy(&r.body)
        );
        let loc = r.location().unwrap();
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = self
            .send(
                "PUT",
                &format!("{loc}{sep}digest={d}"),
                &[("content-type", "application/octet-stream")],
                bytes,
            )
            .await;
        assert_eq!(
            r.status,
            201,
            "PUT upload: {}",
            String::from_utf8_lossy(&r.body)
        );
        d
    }

    pub async fn put_manifest(
        &self,
        ns: &str,
        reference: &str,
        media_type: &str,
        m: &[u8],
    ) -> Resp {
        self.send(
            "PUT",
            &format!("/v2/{ns}/manifests/{reference}"),
            &[("content-type", media_type)],
            m,
        )
        .await
    }
}
