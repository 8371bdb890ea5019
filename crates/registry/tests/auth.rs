//! Authentication, access rules, the token service, metrics and limits, driven in memory
//! through the configured router (`registry::build_app` + `app_router`).

use std::sync::Arc;

use api::Digest;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http_body_util::BodyExt;
use registry::{app_router, build_app, RegistryConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

struct Reg {
    _dir: testkit::TempDir,
    app: Router,
}

/// A registry whose config is `yaml` (`ROOT` and `HTPASSWD` are substituted); users alice and
/// bob, password `pw`.
fn registry(yaml: &str) -> Reg {
    let dir = testkit::TempDir::new("registry-auth");
    let hash = bcrypt::hash_with_salt("pw", 4, [3u8; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{hash}\nbob:{hash}\n")).unwrap();
    let yaml = yaml
        .replace("ROOT", &dir.path().join("data").display().to_string())
        .replace("HTPASSWD", &htpasswd.display().to_string());
    let config = RegistryConfig::from_yaml(&yaml).unwrap();
    config.validate().unwrap();
    let app = app_router(Arc::new(build_app(&config).unwrap()));
    Reg { _dir: dir, app }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

impl Reg {
    async fn send(&self, method: &str, uri: &str, auth: Option<&str>, body: Body) -> Reply {
        self.send_with(method, uri, auth, &[], body).await
    }

    async fn send_with(
        &self,
        method: &str,
        uri: &str,
        auth: Option<&str>,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "reg.test");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Pushes a one-layer image as `auth`; returns the status of the first failing step, or
    /// the manifest PUT's reply.
    async fn push(&self, name: &str, tag: &str, auth: Option<&str>) -> Reply {
        let config = b"{}".to_vec();
        let layer = format!("layer of {name}").into_bytes();
        for blob in [&config, &layer] {
            let d = Digest::sha256_of(blob);
            let r = self
                .send(
                    "POST",
                    &format!("/v2/{name}/blobs/uploads/?digest={d}"),
                    auth,
                    Body::from(blob.clone()),
                )
                .await;
            if r.status != StatusCode::CREATED {
                return r;
            }
        }
        let m = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256_of(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::sha256_of(&layer), "size": layer.len()}]});
        self.send_with(
            "PUT",
            &format!("/v2/{name}/manifests/{tag}"),
            auth,
            &[("content-type", OCI_MANIFEST)],
            Body::from(m.to_string()),
        )
        .await
    }

    async fn token(&self, query: &str, auth: Option<&str>) -> Reply {
        self.send("GET", &format!("/token?{query}"), auth, Body::empty())
            .await
    }
}

#[tokio::test]
async fn basic_auth_challenges_and_access_rules() {
    let r = registry(
        r#"
root: ROOT
auth:
  realm: test-realm
  htpasswd: HTPASSWD
  anonymous_pull: true
access:
  - { repository: "alice/*", users: [alice], actions: [pull, push, delete] }
"#,
    );
    // docker login: GET /v2/ -> 401 Basic -> with credentials 200.
    let res = r.send("GET", "/v2/", None, Body::empty()).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("www-authenticate"), "Basic realm=\"test-realm\"");
    assert_eq!(res.code(), "UNAUTHORIZED");
    let ok = r
        .send("GET", "/v2/", Some(&basic("alice", "pw")), Body::empty())
        .await;
    assert_eq!(ok.status, 200);
    let bad = r
        .send("GET", "/v2/", Some(&basic("alice", "nope")), Body::empty())
        .await;
    assert_eq!(bad.status, 401);
    // Unauthenticated push: 401 with the challenge; the upload never starts.
    let res = r.push("alice/app", "v1", None).await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("www-authenticate"), "Basic realm=\"test-realm\"");
    assert_eq!(
        res.json()["errors"][0]["detail"],
        json!([{"Type": "repository", "Name": "alice/app", "Action": "push"}])
    );
    // Allowed user pushes; another user is denied.
    assert_eq!(
        r.push("alice/app", "v1", Some(&basic("alice", "pw")))
            .await
            .status,
        201
    );
    let res = r.push("alice/app", "v2", Some(&basic("bob", "pw"))).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.code(), "DENIED");
    // Anonymous read-only: pull works (with skopeo's empty `Basic Og==` too), delete does not.
    for auth in [None, Some("Basic Og==")] {
        let res = r
            .send("GET", "/v2/alice/app/manifests/v1", auth, Body::empty())
            .await;
        assert_eq!(res.status, 200, "{auth:?}");
    }
    let res = r
        .send("DELETE", "/v2/alice/app/manifests/v1", None, Body::empty())
        .await;
    assert_eq!(res.status, 401);
    // Catalog: authenticated users only.
    assert_eq!(
        r.send("GET", "/v2/_catalog", None, Body::empty())
            .await
            .status,
        401
    );
    let res = r
        .send(
            "GET",
            "/v2/_catalog",
            Some(&basic("bob", "pw")),
            Body::empty(),
        )
        .await;
    assert_eq!(res.json(), json!({"repositories": ["alice/app"]}));
}

#[tokio::test]
async fn bearer_tokens_from_the_built_in_service() {
    let r = registry(
        r#"
root: ROOT
auth:
  htpasswd: HTPASSWD
  token: { service: berth-test, issuer: berth-test }
access:
  - { repository: "alice/*", users: [alice], actions: [pull, push, delete] }
  - { repository: "shared/*", users: ["*"], actions: [pull, push] }
"#,
    );
    let res = r.push("alice/app", "v1", None).await;
    assert_eq!(res.status, 401);
    assert_eq!(
        res.header("www-authenticate"),
        "Bearer realm=\"http://reg.test/token\",service=\"berth-test\",scope=\"repository:alice/app:pull,push\""
    );
    // docker login: a token request without scope, with offline_token.
    let res = r
        .token(
            "account=alice&client_id=docker&offline_token=true&service=berth-test",
            Some(&basic("alice", "pw")),
        )
        .await;
    assert_eq!(res.status, 200);
    let login = res.json();
    assert!(login["token"].is_string() && login["token"] == login["access_token"]);
    assert!(login["expires_in"].as_u64().unwrap() >= 60);
    assert!(login["issued_at"].as_str().unwrap().ends_with('Z'));
    let login_token = format!("Bearer {}", login["token"].as_str().unwrap());
    assert_eq!(
        r.send("GET", "/v2/", Some(&login_token), Body::empty())
            .await
            .status,
        200
    );
    // Bad credentials at the token service.
    assert_eq!(
        r.token("service=berth-test", Some(&basic("alice", "x")))
            .await
            .status,
        401
    );
    // A push token for alice/app works there...
    let res = r
        .token(
            "service=berth-test&scope=repository:alice/app:pull,push",
            Some(&basic("alice", "pw")),
        )
        .await;
    let token = format!("Bearer {}", res.json()["token"].as_str().unwrap());
    assert_eq!(r.push("alice/app", "v1", Some(&token)).await.status, 201);
    // ...and is refused for another repository, even one alice may push to.
    let res = r.push("alice/other", "v1", Some(&token)).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.code(), "DENIED");
    // Missing action the user could have: 401 insufficient_scope, so clients re-fetch.
    let res = r
        .send(
            "DELETE",
            "/v2/alice/app/manifests/v1",
            Some(&token),
            Body::empty(),
        )
        .await;
    assert_eq!(res.status, 401);
    assert!(res
        .header("www-authenticate")
        .ends_with("scope=\"repository:alice/app:delete\",error=\"insufficient_scope\""));
    // bob asking for alice's repository gets a token without that access: 403.
    let res = r
        .token(
            "service=berth-test&scope=repository:alice/app:pull,push&scope=repository:shared/x:pull,push",
            Some(&basic("bob", "pw")),
        )
        .await;
    let bob = format!("Bearer {}", res.json()["token"].as_str().unwrap());
    assert_eq!(
        r.send("GET", "/v2/alice/app/tags/list", Some(&bob), Body::empty())
            .await
            .status,
        403
    );
    assert_eq!(r.push("shared/x", "v1", Some(&bob)).await.status, 201);
    // A forged or garbage token.
    let res = r
        .send(
            "GET",
            "/v2/alice/app/tags/list",
            Some("Bearer abc.def.ghi"),
            Body::empty(),
        )
        .await;
    assert_eq!(res.status, 401);
    assert!(res
        .header("www-authenticate")
        .contains("error=\"invalid_token\""));
    // OAuth2 POST is not served: docker falls back to GET.
    assert_eq!(
        r.send("POST", "/token", None, Body::empty()).await.status,
        404
    );
}

#[tokio::test]
async fn metrics_count_requests_bytes_and_usage() {
    let r = registry("root: ROOT\n");
    assert_eq!(r.push("m/app", "v1", None).await.status, 201);
    let _ = r.send("GET", "/v2/m/app/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000", None, Body::empty()).await;
    let res = r.send("GET", "/metrics", None, Body::empty()).await;
    assert_eq!(res.status, 200);
    let text = String::from_utf8_lossy(&res.body).to_string();
    for want in [
        "berth_registry_requests_total{route=\"upload_start\",method=\"POST\",status=\"201\"} 2",
        "berth_registry_requests_total{route=\"manifest\",method=\"PUT\",status=\"201\"} 1",
        "berth_registry_requests_total{route=\"blob\",method=\"GET\",status=\"404\"} 1",
        "berth_registry_uploads_in_progress 0",
        "berth_registry_upload_duration_seconds_count",
    ] {
        assert!(text.contains(want), "{want} missing in\n{text}");
    }
    let received = text
        .lines()
        .find_map(|l| l.strip_prefix("berth_registry_bytes_received_total "))
        .unwrap();
    assert!(received.parse::<u64>().unwrap() > 100, "{received}");
    let usage = text
        .lines()
        .find_map(|l| l.strip_prefix("berth_registry_repository_bytes{repository=\"m/app\"} "))
        .unwrap();
    assert!(usage.parse::<u64>().unwrap() > 100);
}

#[tokio::test]
async fn disabled_deletes_are_unsupported() {
    let r = registry("root: ROOT\ndelete: { enabled: false }\n");
    assert_eq!(r.push("d/app", "v1", None).await.status, 201);
    let res = r
        .send("DELETE", "/v2/d/app/manifests/v1", None, Body::empty())
        .await;
    assert_eq!(res.status, 405);
    assert_eq!(res.code(), "UNSUPPORTED");
    assert_eq!(
        r.send("GET", "/v2/d/app/manifests/v1", None, Body::empty())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn too_many_upload_sessions_is_toomanyrequests() {
    let r = registry("root: ROOT\nuploads: { max_sessions: 2 }\n");
    for _ in 0..2 {
        let res = r
            .send("POST", "/v2/t/app/blobs/uploads/", None, Body::empty())
            .await;
        assert_eq!(res.status, 202);
    }
    let res = r
        .send("POST", "/v2/t/app/blobs/uploads/", None, Body::empty())
        .await;
    assert_eq!(res.status, 429);
    assert_eq!(res.code(), "TOOMANYREQUESTS");
    assert_eq!(res.header("retry-after"), "10");
    // A monolithic push does not open a session and still works.
    assert_eq!(r.push("t/app", "v1", None).await.status, 201);
}
