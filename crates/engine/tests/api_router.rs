//! The Docker API router driven in memory (no socket, no containers started): version
//! negotiation, Docker's headers and error bodies for bad input.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use engine::container::{Engine, Paths};
use tower::ServiceExt;

async fn engine(dir: &testkit::TempDir) -> Arc<Engine> {
    let paths = Paths {
        root: dir.path().join("root"),
        exec_root: dir.path().join("exec"),
    };
    Engine::open(paths, "berth".into(), "/nonexistent/berth".into())
        .await
        .unwrap()
}

async fn call(
    engine: &Arc<Engine>,
    method: Method,
    uri: &str,
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let app = engine::api::app(engine.clone());
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, headers, String::from_utf8_lossy(&bytes).to_string())
}

#[tokio::test]
async fn ping_advertises_the_api_version_for_head_and_get() {
    let dir = testkit::TempDir::new("api");
    let e = engine(&dir).await;
    for m in [Method::HEAD, Method::GET] {
        let (status, h, _) = call(&e, m, "/_ping", "").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h["api-version"], "1.43");
        assert_eq!(h["ostype"], "linux");
    }
    let (_, _, body) = call(&e, Method::GET, "/_ping", "").await;
    assert_eq!(body, "OK");
}

#[tokio::test]
async fn version_is_served_with_and_without_prefix() {
    let dir = testkit::TempDir::new("api");
    let e = engine(&dir).await;
    for uri in ["/version", "/v1.41/version", "/v1.43/version"] {
        let (status, _, body) = call(&e, Method::GET, uri, "").await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ApiVersion"], "1.43");
        assert_eq!(v["MinAPIVersion"], "1.24");
    }
    let (status, _, body) = call(&e, Method::GET, "/v1.50/version", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("client version 1.50 is too new. Maximum supported API version is 1.43"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_container_is_docker_404() {
    let dir = testkit::TempDir::new("api");
    let e = engine(&dir).await;
    let (status, h, body) = call(&e, Method::GET, "/v1.43/containers/nosuch/json", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(body, "{\"message\":\"No such container: nosuch\"}\n");
}

#[tokio::test]
async fn create_with_unknown_image_is_404_no_such_image() {
    let dir = testkit::TempDir::new("api");
    let e = engine(&dir).await;
    let (status, _, body) = call(
        &e,
        Method::POST,
        "/v1.43/containers/create",
        r#"{"Image":"nosuchimage:1","Cmd":["true"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("No such image: nosuchimage:1"), "{body}");
}

#[tokio::test]
async fn create_with_a_bad_memory_value_names_the_field() {
    let dir = testkit::TempDir::new("api");
    let e = engine(&dir).await;
    let (status, _, body) = call(
        &e,
        Method::POST,
        "/v1.43/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Memory":"12zb"}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("HostConfig.Memory"), "{body}");
    let (status, _, body) = call(
        &e,
        Method::POST,
        "/v1.43/containers/create",
        r#"{"Image":"busybox","HostConfig":{"Memory":1024}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("Minimum memory limit allowed is 6MB"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_signal_and_filters_are_400() {
    let dir = testkit::TempDir::new("api");
    let e = engine(&dir).await;
    let (status, _, body) = call(&e, Method::GET, "/containers/json?filters=notjson", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid filter"), "{body}");
    let (status, _, body) = call(
        &e,
        Method::GET,
        "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, "[]\n");
}

#[tokio::test]
async fn images_list_starts_empty_and_unknown_image_delete_is_404() {
    let dir = testkit::TempDir::new("api");
    let e = engine(&dir).await;
    let (status, _, body) = call(&e, Method::GET, "/v1.43/images/json", "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "[]\n"));
    let (status, _, body) = call(&e, Method::DELETE, "/v1.43/images/127.0.0.1:5000/bb:1", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("No such image"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_with_one_name_let_exactly_one_win() {
    testkit::require_root();
    let dir = testkit::TempDir::new("api");
    let e = engine(&dir).await;
    let tar = dir.path().join("bb.tar");
    testkit::busybox_tarball(&tar, false).unwrap();
    let images = e.images.clone();
    tokio::task::spawn_blocking(move || {
        let r: api::ImageRef = "busybox:latest".parse().unwrap();
        images
            .import(
                std::fs::File::open(&tar).unwrap(),
                Some(&r),
                &Default::default(),
                None,
            )
            .unwrap();
    })
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let e = e.clone();
        tasks.push(tokio::spawn(async move {
            let req: api::docker::CreateRequest =
                serde_json::from_str(r#"{"Image":"busybox","Cmd":["true"]}"#).unwrap();
            e.create(Some("same"), req).await
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let status = match t.await.unwrap() {
            Ok(_) => StatusCode::CREATED,
            Err(err) => {
                assert!(
                    err.to_string()
                        .contains("The container name \"/same\" is already in use"),
                    "{err}"
                );
                StatusCode::CONFLICT
            }
        };
        statuses.push(status);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        7,
        "{statuses:?}"
    );
    // The losers left nothing behind: one container directory.
    let dirs = std::fs::read_dir(dir.path().join("root/containers"))
        .unwrap()
        .count();
    assert_eq!(dirs, 1);
    let (status, _, _) = call(&e, Method::DELETE, "/containers/same", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn networks_without_bridge_networking_are_empty_and_404() {
    let dir = testkit::TempDir::new("api");
    let e = engine(&dir).await;
    let (status, _, body) = call(&e, Method::GET, "/v1.43/networks", "").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "[]\n"));
    let (status, _, body) = call(&e, Method::GET, "/v1.43/networks/nosuch", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, "{\"message\":\"network nosuch not found\"}\n");
    let (status, _, body) = call(
        &e,
        Method::POST,
        "/v1.43/containers/create",
        r#"{"Image":"busybox","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"x"}]}}}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, "{\"message\":\"invalid hostPort: x\"}\n");
}
