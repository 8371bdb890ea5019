//! The registry's HTTP API driven in memory (no socket) through `tower::ServiceExt::oneshot`.

use api::Digest;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use registry::{router, RegistryStore};
use serde_json::{json, Value};
use tower::ServiceExt;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

struct Registry {
    _dir: testkit::TempDir,
    app: Router,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Asserts a spec error response.
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.json()["errors"][0]["code"],
            code,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(self.json()["errors"][0]["message"].is_string());
    }
}

impl Registry {
    fn new() -> Registry {
        let dir = testkit::TempDir::new("registry-api");
        let app = router(RegistryStore::open(dir.path()).unwrap());
        Registry { _dir: dir, app }
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self
            .app
            .clone()
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            headers
                .get("docker-distribution-api-version")
                .map(|v| v.to_str().unwrap()),
            Some("registry/2.0"),
            "{method} {uri}"
        );
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send("GET", uri, &[], Body::empty()).await
    }

    /// Monolithic push in one POST.
    async fn push_blob(&self, name: &str, bytes: &[u8]) -> Digest {
        let d = Digest::sha256_of(bytes);
        let r = self
            .send(
                "POST",
                &format!("/v2/{name}/blobs/uploads/?digest={d}"),
                &[],
                bytes.to_vec(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("location"), format!("/v2/{name}/blobs/{d}"));
        assert_eq!(r.header("docker-content-digest"), d.to_string());
        d
    }

    async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        media_type: &str,
        body: &Value,
    ) -> Reply {
        self.send(
            "PUT",
            &format!("/v2/{name}/manifests/{reference}"),
            &[("content-type", media_type)],
            body.to_string(),
        )
        .await
    }

    async fn start_upload(&self, name: &str) -> String {
        let r = self
            .send(
                "POST",
                &format!("/v2/{name}/blobs/uploads/"),
                &[],
                Body::empty(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        assert_eq!(r.header("range"), "0-0");
        assert!(!r.header("docker-upload-uuid").is_empty());
        let loc = r.header("location").to_string();
        assert!(
            loc.starts_with(&format!("/v2/{name}/blobs/uploads/")),
            "{loc}"
        );
        assert!(loc.ends_with(r.header("docker-upload-uuid")));
        loc
    }
}

fn image_manifest(config: &Digest, config_len: usize, layers: &[(&Digest, usize)]) -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_len},
        "layers": layers.iter().map(|(d, n)| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n})).collect::<Vec<_>>(),
    })
}

/// Pushes config + one layer + a manifest tagged `tag`; returns the manifest's digest and bytes.
async fn push_image(r: &Registry, name: &str, tag: &str, layer: &[u8]) -> (Digest, String) {
    let config = r.push_blob(name, b"{\"architecture\":\"amd64\"}").await;
    let l = r.push_blob(name, layer).await;
    let m = image_manifest(&config, 24, &[(&l, layer.len())]);
    let res = r.put_manifest(name, tag, OCI_MANIFEST, &m).await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    let d = Digest::sha256_of(m.to_string().as_bytes());
    assert_eq!(res.header("docker-content-digest"), d.to_string());
    assert_eq!(res.header("location"), format!("/v2/{name}/manifests/{d}"));
    (d, m.to_string())
}

#[tokio::test]
async fn base_endpoint_answers_with_version_header() {
    let r = Registry::new();
    for uri in ["/v2/", "/v2"] {
        let res = r.get(uri).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.json(), json!({}));
    }
    let res = r.send("HEAD", "/v2/", &[], Body::empty()).await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test]
async fn monolithic_push_then_pull() {
    let r = Registry::new();
    let (md, mbytes) = push_image(&r, "library/app", "v1", b"layer bytes").await;
    let layer = Digest::sha256_of(b"layer bytes");

    let res = r.get(&format!("/v2/library/app/blobs/{layer}")).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(&res.body[..], b"layer bytes");
    assert_eq!(res.header("docker-content-digest"), layer.to_string());
    assert_eq!(res.header("content-length"), "11");
    assert_eq!(res.header("content-type"), "application/octet-stream");

    let res = r
        .send(
            "HEAD",
            &format!("/v2/library/app/blobs/{layer}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.body.is_empty());
    assert_eq!(res.header("content-length"), "11");

    let res = r
        .send(
            "GET",
            &format!("/v2/library/app/blobs/{layer}"),
            &[("range", "bytes=6-10")],
            Body::empty(),
        )
        .await;
    assert_eq!(res.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&res.body[..], b"bytes");
    assert_eq!(res.header("content-range"), "bytes 6-10/11");
    assert_eq!(res.header("content-length"), "5");

    for reference in ["v1".to_string(), md.to_string()] {
        let res = r
            .get(&format!("/v2/library/app/manifests/{reference}"))
            .await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body, mbytes.as_bytes());
        assert_eq!(res.header("content-type"), OCI_MANIFEST);
        assert_eq!(res.header("docker-content-digest"), md.to_string());
        let res = r
            .send(
                "HEAD",
                &format!("/v2/library/app/manifests/{reference}"),
                &[],
                Body::empty(),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(res.body.is_empty());
        assert_eq!(res.header("content-length"), mbytes.len().to_string());
    }
}

#[tokio::test]
async fn post_then_put_with_body_and_digest_in_the_url() {
    let r = Registry::new();
    let loc = r.start_upload("a").await;
    let d = Digest::sha256_of(b"whole blob");
    let res = r
        .send(
            "PUT",
            &format!("{loc}?digest={d}"),
            &[("content-length", "10")],
            &b"whole blob"[..],
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(
        r.get(&format!("/v2/a/blobs/{d}")).await.body,
        &b"whole blob"[..]
    );
}

#[tokio::test]
async fn chunked_push_with_content_range() {
    let r = Registry::new();
    let loc = r.start_upload("a/b").await;
    // Chunk 2 first: out of order.
    let res = r
        .send(
            "PATCH",
            &loc,
            &[("content-range", "5-9"), ("content-length", "5")],
            &b"67890"[..],
        )
        .await;
    res.assert_error(416, "BLOB_UPLOAD_INVALID");

    let res = r
        .send(
            "PATCH",
            &loc,
            &[("content-range", "0-4"), ("content-length", "5")],
            &b"12345"[..],
        )
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED);
    assert_eq!(res.header("range"), "0-4");
    let loc2 = res.header("location").to_string();
    // Re-sending chunk 1 is out of order now.
    let res = r
        .send(
            "PATCH",
            &loc,
            &[("content-range", "0-4"), ("content-length", "5")],
            &b"12345"[..],
        )
        .await;
    res.assert_error(416, "BLOB_UPLOAD_INVALID");
    assert_eq!(res.header("range"), "0-4", "416 carries the current range");
    // Status on the first location.
    let res = r.get(&loc).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(res.header("range"), "0-4");
    assert_eq!(res.header("location"), loc2);

    let res = r
        .send(
            "PATCH",
            &loc2,
            &[("content-range", "5-9"), ("content-length", "5")],
            &b"67890"[..],
        )
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED);
    assert_eq!(res.header("range"), "0-9");
    let d = Digest::sha256_of(b"1234567890abc");
    // The PUT carries a last chunk.
    let res = r
        .send(
            "PUT",
            &format!("{loc2}?digest={d}"),
            &[("content-range", "10-12"), ("content-length", "3")],
            &b"abc"[..],
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&res.body)
    );
    assert_eq!(res.header("location"), format!("/v2/a/b/blobs/{d}"));
    assert_eq!(
        r.get(&format!("/v2/a/b/blobs/{d}")).await.body,
        &b"1234567890abc"[..]
    );
    // The session is gone.
    r.get(&loc).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn streamed_patch_without_content_range() {
    let r = Registry::new();
    let loc = r.start_upload("a").await;
    let data = vec![7u8; 300_000];
    let d = Digest::sha256_of(&data);
    let res = r.send("PATCH", &loc, &[], data.clone()).await;
    assert_eq!(res.status, StatusCode::ACCEPTED);
    assert_eq!(res.header("range"), "0-299999");
    let res = r
        .send(
            "PUT",
            &format!("{loc}?digest={d}"),
            &[("content-length", "0")],
            Body::empty(),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let res = r.get(&format!("/v2/a/blobs/{d}")).await;
    assert_eq!(res.body.len(), data.len());
    assert_eq!(Digest::sha256_of(&res.body), d);
}

#[tokio::test]
async fn zero_length_blob() {
    let r = Registry::new();
    let loc = r.start_upload("a").await;
    let d = Digest::sha256_of(b"");
    let res = r
        .send(
            "PUT",
            &format!("{loc}?digest={d}"),
            &[("content-length", "0")],
            Body::empty(),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let res = r.get(&format!("/v2/a/blobs/{d}")).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-length"), "0");
}

#[tokio::test]
async fn cancel_upload() {
    let r = Registry::new();
    let loc = r.start_upload("a").await;
    let res = r.send("DELETE", &loc, &[], Body::empty()).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    r.get(&loc).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    r.send("DELETE", &loc, &[], Body::empty())
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn tags_list_pagination() {
    let r = Registry::new();
    let (md, m) = push_image(&r, "app", "v1", b"x").await;
    let m: Value = serde_json::from_str(&m).unwrap();
    for tag in ["a", "c", "b", "v2"] {
        assert_eq!(
            r.put_manifest("app", tag, OCI_MANIFEST, &m).await.status,
            StatusCode::CREATED
        );
    }
    let res = r.get("/v2/app/tags/list").await;
    assert_eq!(
        res.json(),
        json!({"name": "app", "tags": ["a", "b", "c", "v1", "v2"]})
    );
    assert!(res.headers.get("link").is_none());

    let res = r.get("/v2/app/tags/list?n=2").await;
    assert_eq!(res.json()["tags"], json!(["a", "b"]));
    assert_eq!(
        res.header("link"),
        "</v2/app/tags/list?n=2&last=b>; rel=\"next\""
    );
    let res = r.get("/v2/app/tags/list?n=2&last=b").await;
    assert_eq!(res.json()["tags"], json!(["c", "v1"]));
    let res = r.get("/v2/app/tags/list?n=2&last=v1").await;
    assert_eq!(res.json()["tags"], json!(["v2"]));
    assert!(res.headers.get("link").is_none());
    let res = r.get("/v2/app/tags/list?n=0").await;
    assert_eq!(res.json()["tags"], json!([]));
    // Tag moves with a re-push are visible by digest.
    assert_eq!(
        r.get("/v2/app/manifests/c")
            .await
            .header("docker-content-digest"),
        md.to_string()
    );
}

#[tokio::test]
async fn catalog_pagination() {
    let r = Registry::new();
    for name in ["b/two", "a", "b", "c/x/y"] {
        r.push_blob(name, name.as_bytes()).await;
    }
    let res = r.get("/v2/_catalog").await;
    assert_eq!(
        res.json(),
        json!({"repositories": ["a", "b", "b/two", "c/x/y"]})
    );
    let res = r.get("/v2/_catalog?n=2").await;
    assert_eq!(res.json()["repositories"], json!(["a", "b"]));
    assert_eq!(
        res.header("link"),
        "</v2/_catalog?n=2&last=b>; rel=\"next\""
    );
    let res = r.get("/v2/_catalog?n=2&last=b").await;
    assert_eq!(res.json()["repositories"], json!(["b/two", "c/x/y"]));
    assert!(res.headers.get("link").is_none());
    r.get("/v2/_catalog?n=abc")
        .await
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
}

#[tokio::test]
async fn deletes_of_tag_manifest_and_blob() {
    let r = Registry::new();
    let (md, m) = push_image(&r, "app", "v1", b"x").await;
    let m: Value = serde_json::from_str(&m).unwrap();
    r.put_manifest("app", "v2", OCI_MANIFEST, &m).await;
    // Tag delete removes only the tag.
    assert_eq!(
        r.send("DELETE", "/v2/app/manifests/v1", &[], Body::empty())
            .await
            .status,
        StatusCode::ACCEPTED
    );
    r.get("/v2/app/manifests/v1")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(
        r.get(&format!("/v2/app/manifests/{md}")).await.status,
        StatusCode::OK
    );
    // Digest delete removes the manifest and its remaining tags.
    assert_eq!(
        r.send(
            "DELETE",
            &format!("/v2/app/manifests/{md}"),
            &[],
            Body::empty()
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    r.get(&format!("/v2/app/manifests/{md}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    r.get("/v2/app/manifests/v2")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(r.get("/v2/app/tags/list").await.json()["tags"], json!([]));
    r.send(
        "DELETE",
        &format!("/v2/app/manifests/{md}"),
        &[],
        Body::empty(),
    )
    .await
    .assert_error(404, "MANIFEST_UNKNOWN");
    // Blob delete removes this repository's link only.
    let layer = Digest::sha256_of(b"x");
    let res = r
        .send(
            "POST",
            &format!("/v2/other/blobs/uploads/?mount={layer}&from=app"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(
        r.send(
            "DELETE",
            &format!("/v2/app/blobs/{layer}"),
            &[],
            Body::empty()
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    r.get(&format!("/v2/app/blobs/{layer}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    assert_eq!(
        r.get(&format!("/v2/other/blobs/{layer}")).await.status,
        StatusCode::OK
    );
    r.send(
        "DELETE",
        &format!("/v2/app/blobs/{layer}"),
        &[],
        Body::empty(),
    )
    .await
    .assert_error(404, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn cross_repository_mount() {
    let r = Registry::new();
    let d = r.push_blob("src", b"shared").await;
    r.get(&format!("/v2/dst/blobs/{d}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    let res = r
        .send(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=src"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.header("location"), format!("/v2/dst/blobs/{d}"));
    assert_eq!(res.header("docker-content-digest"), d.to_string());
    assert_eq!(
        r.get(&format!("/v2/dst/blobs/{d}")).await.body,
        &b"shared"[..]
    );

    // Unknown blob, unknown source, or no source: a new session.
    let unknown = Digest::sha256_of(b"nope");
    for q in [
        format!("mount={unknown}&from=src"),
        format!("mount={d}&from=nosuch"),
        format!("mount={d}"),
    ] {
        let res = r
            .send(
                "POST",
                &format!("/v2/dst2/blobs/uploads/?{q}"),
                &[],
                Body::empty(),
            )
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{q}");
        assert!(res
            .header("location")
            .starts_with("/v2/dst2/blobs/uploads/"));
    }
}

#[tokio::test]
async fn referrers_and_oci_subject() {
    let r = Registry::new();
    let (subject, m) = push_image(&r, "app", "v1", b"x").await;
    let empty = r.push_blob("app", b"{}").await;
    let artifact = |artifact_type: &str, note: &str| {
        json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": m.len()},
            "annotations": {"note": note}
        })
    };
    let sig = artifact("application/x-sig", "one");
    let sbom = artifact("application/x-sbom", "two");
    for a in [&sig, &sbom] {
        let d = Digest::sha256_of(a.to_string().as_bytes());
        let res = r.put_manifest("app", &d.to_string(), OCI_MANIFEST, a).await;
        assert_eq!(res.status, StatusCode::CREATED);
        assert_eq!(res.header("oci-subject"), subject.to_string());
    }
    let res = r.get(&format!("/v2/app/referrers/{subject}")).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), OCI_INDEX);
    let idx = res.json();
    assert_eq!(idx["mediaType"], OCI_INDEX);
    let list = idx["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    for entry in list {
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert!(entry["annotations"]["note"].is_string());
        assert!(entry["artifactType"]
            .as_str()
            .unwrap()
            .starts_with("application/x-s"));
    }

    let res = r
        .get(&format!(
            "/v2/app/referrers/{subject}?artifactType=application/x-sbom"
        ))
        .await;
    assert_eq!(res.header("oci-filters-applied"), "artifactType");
    let list = res.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0]["digest"],
        Digest::sha256_of(sbom.to_string().as_bytes()).to_string()
    );
    assert_eq!(list[0]["size"], sbom.to_string().len());

    // Unknown subject (and unknown repository): 200 with an empty list.
    let nobody = Digest::sha256_of(b"nobody");
    for name in ["app", "nosuch"] {
        let res = r.get(&format!("/v2/{name}/referrers/{nobody}")).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.json()["manifests"], json!([]));
    }
    r.get("/v2/app/referrers/sha256:zz")
        .await
        .assert_error(400, "DIGEST_INVALID");
}

#[tokio::test]
async fn referrer_pushed_before_its_subject_is_accepted() {
    let r = Registry::new();
    let empty = r.push_blob("app", b"{}").await;
    let missing = Digest::sha256_of(b"later");
    let a = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}, "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": missing, "size": 5}});
    let res = r.put_manifest("app", "sig", OCI_MANIFEST, &a).await;
    assert_eq!(res.status, StatusCode::CREATED);
    assert_eq!(res.header("oci-subject"), missing.to_string());
    let res = r.get(&format!("/v2/app/referrers/{missing}")).await;
    assert_eq!(res.json()["manifests"].as_array().unwrap().len(), 1);
    // No artifactType: the config media type stands in.
    assert_eq!(
        res.json()["manifests"][0]["artifactType"],
        "application/vnd.oci.empty.v1+json"
    );
}

#[tokio::test]
async fn index_and_docker_types_round_trip() {
    let r = Registry::new();
    let config = r.push_blob("app", b"{}").await;
    let dm = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": config, "size": 2},
        "layers": []});
    let res = r.put_manifest("app", "docker", DOCKER_MANIFEST, &dm).await;
    assert_eq!(res.status, StatusCode::CREATED);
    let child = Digest::sha256_of(dm.to_string().as_bytes());
    for (mt, tag) in [(DOCKER_LIST, "list"), (OCI_INDEX, "index")] {
        let idx = json!({"schemaVersion": 2, "mediaType": mt,
            "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": child, "size": dm.to_string().len(),
                "platform": {"architecture": "amd64", "os": "linux"}}]});
        let res = r.put_manifest("app", tag, mt, &idx).await;
        assert_eq!(res.status, StatusCode::CREATED);
        let res = r.get(&format!("/v2/app/manifests/{tag}")).await;
        assert_eq!(res.header("content-type"), mt);
        assert_eq!(res.body, idx.to_string().as_bytes());
    }
    assert_eq!(
        r.get("/v2/app/manifests/docker")
            .await
            .header("content-type"),
        DOCKER_MANIFEST
    );
}

// ---- each rejected input, with its code ----

#[tokio::test]
async fn uppercase_name_is_name_invalid() {
    let r = Registry::new();
    r.get("/v2/Library/app/tags/list")
        .await
        .assert_error(400, "NAME_INVALID");
    r.send("POST", "/v2/a__b___c/blobs/uploads/", &[], Body::empty())
        .await
        .assert_error(400, "NAME_INVALID");
    let long = "a".repeat(256);
    r.get(&format!("/v2/{long}/tags/list"))
        .await
        .assert_error(400, "NAME_INVALID");
    let long = format!("{}/{}", "a".repeat(150), "b".repeat(149));
    assert_eq!(long.len(), 300);
    r.send(
        "POST",
        &format!("/v2/{long}/blobs/uploads/"),
        &[],
        Body::empty(),
    )
    .await
    .assert_error(400, "NAME_INVALID");
    for bad in ["a/../b", "../etc", "a/./b", "a//b"] {
        r.send(
            "POST",
            &format!("/v2/{bad}/blobs/uploads/"),
            &[],
            Body::empty(),
        )
        .await
        .assert_error(400, "NAME_INVALID");
    }
}

#[tokio::test]
async fn manifest_over_4_mib_is_refused() {
    let r = Registry::new();
    let config = r.push_blob("big", b"{}").await;
    let mut m = image_manifest(&config, 2, &[]);
    m["annotations"] = json!({"pad": "x".repeat(4 * 1024 * 1024)});
    let res = r
        .send(
            "PUT",
            "/v2/big/manifests/v1",
            &[("content-type", OCI_MANIFEST)],
            m.to_string(),
        )
        .await;
    res.assert_error(400, "MANIFEST_INVALID");
    r.get("/v2/big/manifests/v1")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn accept_negotiation_for_oci_manifests() {
    let r = Registry::new();
    let (digest, _) = push_image(&r, "neg", "v1", b"layer").await;
    let uri = "/v2/neg/manifests/v1";
    // Only Docker schema2 accepted: an OCI manifest is not served (as distribution).
    r.send("GET", uri, &[("accept", DOCKER_MANIFEST)], Body::empty())
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    for accept in [
        OCI_MANIFEST,
        "*/*",
        "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json;q=0.5",
    ] {
        let res = r.send("GET", uri, &[("accept", accept)], Body::empty()).await;
        assert_eq!(res.status, StatusCode::OK, "{accept}");
        assert_eq!(res.header("docker-content-digest"), digest.to_string());
    }
    // No Accept at all: served.
    assert_eq!(r.get(uri).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_repository_tags_is_name_unknown() {
    let r = Registry::new();
    r.get("/v2/nosuch/tags/list")
        .await
        .assert_error(404, "NAME_UNKNOWN");
}

#[tokio::test]
async fn unknown_blob_is_blob_unknown() {
    let r = Registry::new();
    let d = Digest::sha256_of(b"nope");
    r.get(&format!("/v2/a/blobs/{d}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    let res = r
        .send("HEAD", &format!("/v2/a/blobs/{d}"), &[], Body::empty())
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.body.is_empty());
}

#[tokio::test]
async fn unparsable_digest_is_digest_invalid() {
    let r = Registry::new();
    r.get("/v2/a/blobs/sha256:zz")
        .await
        .assert_error(400, "DIGEST_INVALID");
    r.get("/v2/a/manifests/sha256:totallywrong")
        .await
        .assert_error(400, "DIGEST_INVALID");
    r.send("POST", "/v2/a/blobs/uploads/?digest=md5:abc", &[], "x")
        .await
        .assert_error(400, "DIGEST_INVALID");
}

#[tokio::test]
async fn put_without_digest_is_digest_invalid() {
    let r = Registry::new();
    let loc = r.start_upload("a").await;
    r.send("PUT", &loc, &[("content-length", "0")], Body::empty())
        .await
        .assert_error(400, "DIGEST_INVALID");
}

#[tokio::test]
async fn wrong_digest_is_digest_invalid_and_stores_nothing() {
    let r = Registry::new();
    let loc = r.start_upload("a").await;
    r.send("PATCH", &loc, &[], "actual bytes").await;
    let wrong = Digest::sha256_of(b"other bytes");
    let res = r
        .send(
            "PUT",
            &format!("{loc}?digest={wrong}"),
            &[("content-length", "0")],
            Body::empty(),
        )
        .await;
    res.assert_error(400, "DIGEST_INVALID");
    r.get(&format!("/v2/a/blobs/{wrong}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    r.get(&format!(
        "/v2/a/blobs/{}",
        Digest::sha256_of(b"actual bytes")
    ))
    .await
    .assert_error(404, "BLOB_UNKNOWN");
    // Monolithic too.
    r.send(
        "POST",
        &format!("/v2/a/blobs/uploads/?digest={wrong}"),
        &[],
        "actual bytes",
    )
    .await
    .assert_error(400, "DIGEST_INVALID");
}

#[tokio::test]
async fn unknown_session_is_blob_upload_unknown() {
    let r = Registry::new();
    for uri in [
        "/v2/a/blobs/uploads/00000000-0000-4000-8000-000000000000",
        "/v2/a/blobs/uploads/not-an-id",
    ] {
        r.get(uri).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
        r.send("PATCH", uri, &[], "x")
            .await
            .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    }
    // A session is bound to its repository.
    let loc = r.start_upload("a").await;
    let other = loc.replace("/v2/a/", "/v2/b/");
    r.get(&other).await.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn malformed_content_range_is_blob_upload_invalid() {
    let r = Registry::new();
    let loc = r.start_upload("a").await;
    r.send("PATCH", &loc, &[("content-range", "bytes 0-4/5")], "12345")
        .await
        .assert_error(400, "BLOB_UPLOAD_INVALID");
}

#[tokio::test]
async fn content_length_disagreeing_with_range_is_size_invalid() {
    let r = Registry::new();
    let loc = r.start_upload("a").await;
    r.send(
        "PATCH",
        &loc,
        &[("content-range", "0-9"), ("content-length", "5")],
        "12345",
    )
    .await
    .assert_error(400, "SIZE_INVALID");
}

#[tokio::test]
async fn range_outside_blob_is_416() {
    let r = Registry::new();
    let d = r.push_blob("a", b"tiny").await;
    let res = r
        .send(
            "GET",
            &format!("/v2/a/blobs/{d}"),
            &[("range", "bytes=10-20")],
            Body::empty(),
        )
        .await;
    assert_eq!(res.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(res.header("content-range"), "bytes */4");
}

#[tokio::test]
async fn manifest_with_missing_layer_is_manifest_blob_unknown() {
    let r = Registry::new();
    let config = r.push_blob("app", b"{}").await;
    let missing = Digest::sha256_of(b"never pushed");
    let m = image_manifest(&config, 2, &[(&missing, 12)]);
    let res = r.put_manifest("app", "v1", OCI_MANIFEST, &m).await;
    res.assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        res.json()["errors"][0]["detail"]["digest"],
        missing.to_string()
    );
    // A blob of another repository does not count.
    let other = r.push_blob("other", b"layer").await;
    let m = image_manifest(&config, 2, &[(&other, 5)]);
    r.put_manifest("app", "v1", OCI_MANIFEST, &m)
        .await
        .assert_error(400, "MANIFEST_BLOB_UNKNOWN");
}

#[tokio::test]
async fn index_with_missing_child_is_manifest_blob_unknown() {
    let r = Registry::new();
    let missing = Digest::sha256_of(b"child");
    let idx = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing, "size": 5}]});
    r.put_manifest("app", "v1", OCI_INDEX, &idx)
        .await
        .assert_error(400, "MANIFEST_BLOB_UNKNOWN");
}

#[tokio::test]
async fn malformed_manifests_are_manifest_invalid() {
    let r = Registry::new();
    let config = r.push_blob("app", b"{}").await;
    let good = image_manifest(&config, 2, &[]);
    r.send(
        "PUT",
        "/v2/app/manifests/v1",
        &[("content-type", OCI_MANIFEST)],
        "{not json",
    )
    .await
    .assert_error(400, "MANIFEST_INVALID");
    // Content-Type disagrees with mediaType.
    r.put_manifest("app", "v1", DOCKER_MANIFEST, &good)
        .await
        .assert_error(400, "MANIFEST_INVALID");
    // No Content-Type.
    r.send("PUT", "/v2/app/manifests/v1", &[], good.to_string())
        .await
        .assert_error(400, "MANIFEST_INVALID");
    // Schema 1.
    let s1 = json!({"schemaVersion": 1, "name": "app", "tag": "v1", "fsLayers": []});
    r.put_manifest(
        "app",
        "v1",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        &s1,
    )
    .await
    .assert_error(400, "MANIFEST_INVALID");
    // Invalid tag.
    r.put_manifest("app", ".bad", OCI_MANIFEST, &good)
        .await
        .assert_error(400, "MANIFEST_INVALID");
    // Too large.
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    r.send(
        "PUT",
        "/v2/app/manifests/v1",
        &[("content-type", OCI_MANIFEST)],
        huge,
    )
    .await
    .assert_error(400, "MANIFEST_INVALID");
}

#[tokio::test]
async fn manifest_pushed_by_wrong_digest_is_digest_invalid() {
    let r = Registry::new();
    let config = r.push_blob("app", b"{}").await;
    let m = image_manifest(&config, 2, &[]);
    let wrong = Digest::sha256_of(b"not the manifest");
    r.put_manifest("app", &wrong.to_string(), OCI_MANIFEST, &m)
        .await
        .assert_error(400, "DIGEST_INVALID");
}

#[tokio::test]
async fn unknown_manifest_is_manifest_unknown() {
    let r = Registry::new();
    r.get("/v2/app/manifests/latest")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    r.get("/v2/app/manifests/.INVALID_MANIFEST_NAME")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    let res = r
        .send(
            "HEAD",
            &format!("/v2/app/manifests/{}", Digest::sha256_of(b"x")),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_method_is_unsupported() {
    let r = Registry::new();
    let d = Digest::sha256_of(b"x");
    r.send("PUT", &format!("/v2/a/blobs/{d}"), &[], Body::empty())
        .await
        .assert_error(405, "UNSUPPORTED");
    r.send("DELETE", "/v2/a/tags/list", &[], Body::empty())
        .await
        .assert_error(405, "UNSUPPORTED");
}
