//! The checks of the conformance suite, one function per category, in the order of the
//! reference list.

use std::collections::BTreeSet;

use api::Digest;
use serde_json::json;

use super::support::{Client, Resp};
use super::{
    body_text, image, unique, Report, BAD_REFERENCE, CHUNK_ORDER, OCI_CONFIG, OCI_EMPTY, OCI_INDEX,
    OCI_MANIFEST, REFERRERS, SPEC_CODES, TAG_DELETE, TAG_PAGINATION,
};

pub(crate) async fn pull(c: &Client, rep: &mut Report, ns: &str) {
    let author = unique();
    let config0 = json!({"author": author, "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).to_string().into_bytes();
    let config1 = json!({"author": format!("{author}-1"), "architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).to_string().into_bytes();
    let layer = format!("pretend gzip layer {author}").into_bytes();
    c.push_blob(ns, &config0).await;
    c.push_blob(ns, &config1).await;
    let ld = c.push_blob(ns, &layer).await;
    // A config descriptor with a `data` field and an unknown extra field.
    let m0 = image(
        &config0,
        &layer,
        json!({"annotations": {"x": "y"}, "unknownField": 1}),
    );
    let m1 = image(&config1, &layer, json!({}));
    let (d0, d1) = (Digest::sha256_of(&m0), Digest::sha256_of(&m1));
    let r = c.put_manifest(ns, "tagtest0", OCI_MANIFEST, &m0).await;
    rep.check("pull setup: PUT manifest by tag", r.status == 201, || {
        body_text(&r)
    });
    let r = c.put_manifest(ns, &d1.to_string(), OCI_MANIFEST, &m1).await;
    rep.check(
        "pull setup: PUT manifest by digest",
        (200..300).contains(&r.status),
        || body_text(&r),
    );

    let unknown = Digest::sha256_of(unique().as_bytes());
    let r = c
        .send("HEAD", &format!("/v2/{ns}/blobs/{unknown}"), &[], b"")
        .await;
    rep.check("pull blobs: HEAD unknown -> 404", r.status == 404, || {
        body_text(&r)
    });
    let r = c
        .send("HEAD", &format!("/v2/{ns}/blobs/{ld}"), &[], b"")
        .await;
    rep.check(
        "pull blobs: HEAD known -> 200 with digest header",
        r.status == 200
            && r.header("docker-content-digest")
                .is_none_or(|h| h == ld.to_string()),
        || body_text(&r),
    );
    let r = c.get(&format!("/v2/{ns}/blobs/{unknown}")).await;
    rep.check("pull blobs: GET unknown -> 404", r.status == 404, || {
        body_text(&r)
    });
    let r = c.get(&format!("/v2/{ns}/blobs/{ld}")).await;
    rep.check(
        "pull blobs: GET known -> 200 with the bytes",
        r.status == 200 && r.body == layer,
        || body_text(&r),
    );
    let r = c
        .send(
            "GET",
            &format!("/v2/{ns}/blobs/{ld}"),
            &[("range", "bytes=2-5")],
            b"",
        )
        .await;
    rep.check(
        "pull blobs: GET with Range -> 206 with the slice",
        r.status == 206 && r.body == layer[2..6],
        || body_text(&r),
    );

    let r = c
        .send(
            "HEAD",
            &format!("/v2/{ns}/manifests/.INVALID_MANIFEST_NAME"),
            &[],
            b"",
        )
        .await;
    rep.check(
        "pull manifests: HEAD invalid name -> 404",
        r.status == 404,
        || body_text(&r),
    );
    for (d, what) in [(&d0, "0"), (&d1, "1")] {
        let r = c
            .send(
                "HEAD",
                &format!("/v2/{ns}/manifests/{d}"),
                &[("accept", OCI_MANIFEST)],
                b"",
            )
            .await;
        rep.check(
            &format!("pull manifests: HEAD manifest {what} by digest -> 200 with digest header"),
            r.status == 200
                && r.header("docker-content-digest")
                    .is_none_or(|h| h == d.to_string()),
            || body_text(&r),
        );
    }
    let r = c
        .send(
            "HEAD",
            &format!("/v2/{ns}/manifests/tagtest0"),
            &[("accept", OCI_MANIFEST)],
            b"",
        )
        .await;
    rep.check(
        "pull manifests: HEAD by tag -> 200",
        r.status == 200,
        || body_text(&r),
    );
    let r = c
        .send(
            "GET",
            &format!("/v2/{ns}/manifests/{unknown}"),
            &[("accept", OCI_MANIFEST)],
            b"",
        )
        .await;
    rep.check(
        "pull manifests: GET unknown -> 404",
        r.status == 404,
        || body_text(&r),
    );
    for (reference, want) in [
        (d0.to_string(), &m0),
        (d1.to_string(), &m1),
        ("tagtest0".to_string(), &m0),
    ] {
        let r = c
            .send(
                "GET",
                &format!("/v2/{ns}/manifests/{reference}"),
                &[("accept", OCI_MANIFEST)],
                b"",
            )
            .await;
        rep.check(
            &format!("pull manifests: GET {reference} -> 200 with the exact bytes"),
            r.status == 200 && r.body == **want,
            || body_text(&r),
        );
    }
    let r = c
        .get(&format!("/v2/{ns}/manifests/sha256:totallywrong"))
        .await;
    let code = r.json()["errors"][0]["code"]
        .as_str()
        .unwrap_or("")
        .to_string();
    rep.check_feature(
        BAD_REFERENCE,
        "pull errors: GET manifests/sha256:totallywrong -> 400 with a spec code or 404",
        r.status == 404 || (r.status == 400 && SPEC_CODES.contains(&code.as_str())),
        || body_text(&r),
    );
}

pub(crate) async fn push(c: &Client, rep: &mut Report, ns: &str, ns2: &str) {
    // Streamed: POST, PATCH without Content-Range, PUT ?digest=.
    let blob = unique().into_bytes();
    let d = Digest::sha256_of(&blob);
    let r = c
        .send("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], b"")
        .await;
    let loc = r.location().unwrap_or_default();
    rep.check(
        "push streamed: POST -> 202 + Location",
        r.status == 202 && !loc.is_empty(),
        || body_text(&r),
    );
    let r = c
        .send(
            "PATCH",
            &loc,
            &[("content-type", "application/octet-stream")],
            &blob,
        )
        .await;
    let loc = r.location().unwrap_or(loc);
    rep.check(
        "push streamed: PATCH without Content-Range -> 202",
        r.status == 202,
        || body_text(&r),
    );
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = c
        .send("PUT", &format!("{loc}{sep}digest={d}"), &[], b"")
        .await;
    rep.check(
        "push streamed: PUT ?digest= -> 201 + Location",
        r.status == 201 && r.location().is_some(),
        || body_text(&r),
    );

    // Monolithic.
    let blob = unique().into_bytes();
    let d = Digest::sha256_of(&blob);
    let r = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
    rep.check(
        "push monolithic: GET unknown blob -> 404",
        r.status == 404,
        || body_text(&r),
    );
    let r = c
        .send(
            "POST",
            &format!("/v2/{ns}/blobs/uploads/?digest={d}"),
            &[("content-type", "application/octet-stream")],
            &blob,
        )
        .await;
    let single = r.status;
    rep.check(
        "push monolithic: POST ?digest= with body -> 201 or 202",
        single == 201 || single == 202,
        || body_text(&r),
    );
    let r = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
    rep.check(
        "push monolithic: GET after single POST -> 200 (201) or 404 (202)",
        (single == 201 && r.status == 200) || (single == 202 && r.status == 404),
        || body_text(&r),
    );
    let blob = unique().into_bytes();
    let d = Digest::sha256_of(&blob);
    let r = c
        .send("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], b"")
        .await;
    let loc = r.location().unwrap_or_default();
    rep.check(
        "push monolithic: POST -> 202 + Location",
        r.status == 202 && !loc.is_empty(),
        || body_text(&r),
    );
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = c
        .send(
            "PUT",
            &format!("{loc}{sep}digest={d}"),
            &[("content-type", "application/octet-stream")],
            &blob,
        )
        .await;
    rep.check(
        "push monolithic: PUT with body -> 201",
        r.status == 201,
        || body_text(&r),
    );
    let r = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
    rep.check(
        "push monolithic: GET -> 200",
        r.status == 200 && r.body == blob,
        || body_text(&r),
    );

    // Chunked.
    let blob = format!("{}-chunked-blob-content", unique()).into_bytes();
    let d = Digest::sha256_of(&blob);
    let half = blob.len() / 2;
    let (c1, c2) = blob.split_at(half);
    let range1 = format!("0-{}", half - 1);
    let range2 = format!("{half}-{}", blob.len() - 1);
    let r = c
        .send(
            "POST",
            &format!("/v2/{ns}/blobs/uploads/"),
            &[("content-length", "0")],
            b"",
        )
        .await;
    let loc = r.location().unwrap_or_default();
    let r = c
        .send(
            "PATCH",
            &loc,
            &[
                ("content-type", "application/octet-stream"),
                ("content-range", &range2),
            ],
            c2,
        )
        .await;
    rep.check_feature(
        CHUNK_ORDER,
        "push chunked: PATCH chunk 2 first -> 416",
        r.status == 416,
        || body_text(&r),
    );
    let r = c
        .send(
            "POST",
            &format!("/v2/{ns}/blobs/uploads/"),
            &[("content-length", "0")],
            b"",
        )
        .await;
    let first = r.location().unwrap_or_default();
    let r = c
        .send(
            "PATCH",
            &first,
            &[
                ("content-type", "application/octet-stream"),
                ("content-range", &range1),
            ],
            c1,
        )
        .await;
    let second = r.location().unwrap_or_default();
    rep.check(
        "push chunked: PATCH chunk 1 -> 202 with Range of chunk 1",
        r.status == 202 && r.header("range").as_deref() == Some(range1.as_str()),
        || format!("{} range {:?}", body_text(&r), r.header("range")),
    );
    let r = c
        .send(
            "PATCH",
            &first,
            &[
                ("content-type", "application/octet-stream"),
                ("content-range", &range1),
            ],
            c1,
        )
        .await;
    rep.check_feature(
        CHUNK_ORDER,
        "push chunked: re-PATCH chunk 1 on the first location -> 416",
        r.status == 416,
        || body_text(&r),
    );
    let r = c.get(&first).await;
    rep.check_feature(
        CHUNK_ORDER,
        "push chunked: GET first location -> 204 + Location + Range of chunk 1",
        r.status == 204
            && r.location().is_some()
            && r.header("range").as_deref() == Some(range1.as_str()),
        || format!("{} range {:?}", body_text(&r), r.header("range")),
    );
    let r = c
        .send(
            "PATCH",
            &second,
            &[
                ("content-type", "application/octet-stream"),
                ("content-range", &range2),
            ],
            c2,
        )
        .await;
    let last = r.location().unwrap_or_default();
    rep.check(
        "push chunked: PATCH chunk 2 -> 202",
        r.status == 202,
        || body_text(&r),
    );
    let sep = if last.contains('?') { '&' } else { '?' };
    let r = c
        .send("PUT", &format!("{last}{sep}digest={d}"), &[], b"")
        .await;
    rep.check("push chunked: PUT ?digest= -> 201", r.status == 201, || {
        body_text(&r)
    });
    let r = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
    rep.check(
        "push chunked: GET -> the whole blob",
        r.status == 200 && r.body == blob,
        || body_text(&r),
    );

    // Cross-repository mount.
    let unknown = Digest::sha256_of(unique().as_bytes());
    let r = c
        .send(
            "POST",
            &format!("/v2/{ns2}/blobs/uploads/?mount={unknown}"),
            &[],
            b"",
        )
        .await;
    rep.check(
        "push mount: unknown blob without from -> 202 + Location",
        r.status == 202 && r.location().is_some(),
        || body_text(&r),
    );
    let r = c
        .send(
            "POST",
            &format!("/v2/{ns2}/blobs/uploads/?mount={d}&from={ns}"),
            &[],
            b"",
        )
        .await;
    let loc = r.location().unwrap_or_default();
    let ok = match r.status {
        201 => loc == format!("/v2/{ns2}/blobs/{d}"),
        202 => loc.starts_with(&format!("/v2/{ns2}/blobs/uploads/")),
        _ => false,
    };
    rep.check(
        "push mount: from another repository -> 201 (+Location) or 202",
        ok,
        || format!("{} {loc}", body_text(&r)),
    );
    if r.status == 201 {
        let r = c.get(&format!("/v2/{ns2}/blobs/{d}")).await;
        rep.check("push mount: mounted blob -> 200", r.status == 200, || {
            body_text(&r)
        });
    }

    // Manifests.
    let config = json!({"author": unique(), "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).to_string().into_bytes();
    let layer = unique().into_bytes();
    c.push_blob(ns, &config).await;
    c.push_blob(ns, &layer).await;
    let m = image(&config, &layer, json!({}));
    let md = Digest::sha256_of(&m);
    let r = c.get(&format!("/v2/{ns}/manifests/{md}")).await;
    rep.check(
        "push manifests: GET unknown -> 404",
        r.status == 404,
        || body_text(&r),
    );
    let r = c.put_manifest(ns, "pushtag", OCI_MANIFEST, &m).await;
    rep.check(
        "push manifests: PUT by tag -> 201 + Location",
        r.status == 201 && r.location().is_some(),
        || body_text(&r),
    );
    let empty_layers = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": Digest::sha256_of(&config), "size": config.len()}, "layers": []});
    let r = c
        .put_manifest(
            ns,
            "emptylayers",
            OCI_MANIFEST,
            &serde_json::to_vec(&empty_layers).unwrap(),
        )
        .await;
    rep.check(
        "push manifests: PUT with layers [] -> 201",
        r.status == 201,
        || body_text(&r),
    );
    let r = c
        .send(
            "GET",
            &format!("/v2/{ns}/manifests/{md}"),
            &[("accept", OCI_MANIFEST)],
            b"",
        )
        .await;
    rep.check(
        "push manifests: GET by digest -> 200",
        r.status == 200 && r.body == m,
        || body_text(&r),
    );
    // Faults the spec requires: a missing blob and a wrong digest.
    let missing = image(&config, b"never pushed layer", json!({}));
    let r = c.put_manifest(ns, "missing", OCI_MANIFEST, &missing).await;
    rep.check(
        "push manifests: PUT referencing a missing blob -> 400 MANIFEST_BLOB_UNKNOWN",
        r.status == 400 && r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN",
        || body_text(&r),
    );
    let r = c
        .send("POST", &format!("/v2/{ns}/blobs/uploads/"), &[], b"")
        .await;
    let loc = r.location().unwrap_or_default();
    let sep = if loc.contains('?') { '&' } else { '?' };
    let wrong = Digest::sha256_of(b"something else");
    let r = c
        .send(
            "PUT",
            &format!("{loc}{sep}digest={wrong}"),
            &[],
            b"actual bytes",
        )
        .await;
    rep.check(
        "push blobs: PUT with a wrong digest -> 400 DIGEST_INVALID",
        r.status == 400 && r.json()["errors"][0]["code"] == "DIGEST_INVALID",
        || body_text(&r),
    );
    let r = c.get(&format!("/v2/{ns}/blobs/{wrong}")).await;
    rep.check(
        "push blobs: nothing visible after a wrong digest",
        r.status == 404,
        || body_text(&r),
    );
}

pub(crate) async fn discovery(c: &Client, rep: &mut Report, ns: &str) {
    let config = json!({"author": unique(), "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).to_string().into_bytes();
    let layer = unique().into_bytes();
    c.push_blob(ns, &config).await;
    c.push_blob(ns, &layer).await;
    let m = image(&config, &layer, json!({}));
    let subject = Digest::sha256_of(&m);
    for t in ["test0", "test1", "test2", "test3"] {
        let r = c.put_manifest(ns, t, OCI_MANIFEST, &m).await;
        rep.check(
            &format!("discovery setup: PUT tag {t}"),
            r.status == 201,
            || body_text(&r),
        );
    }
    let empty = c.push_blob(ns, b"{}").await;
    let subject_desc = json!({"mediaType": OCI_MANIFEST, "digest": subject, "size": m.len()});
    let empty_desc = json!({"mediaType": OCI_EMPTY, "digest": empty, "size": 2});
    // Five referrers: two with artifactType application/vnd.sig, one config-typed, one
    // another artifactType, one index.
    let mut referrers = Vec::new();
    for (i, at) in [
        "application/vnd.sig",
        "application/vnd.sig",
        "application/vnd.sbom",
    ]
    .iter()
    .enumerate()
    {
        let a = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": at,
            "config": empty_desc, "layers": [empty_desc], "subject": subject_desc,
            "annotations": {"org.example.n": i.to_string()}});
        referrers.push((serde_json::to_vec(&a).unwrap(), OCI_MANIFEST));
    }
    let config_typed = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.example.config+json", "digest": empty, "size": 2},
        "layers": [empty_desc], "subject": subject_desc, "annotations": {"org.example.n": "3"}});
    referrers.push((serde_json::to_vec(&config_typed).unwrap(), OCI_MANIFEST));
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "application/vnd.idx",
        "manifests": [], "subject": subject_desc, "annotations": {"org.example.n": "4"}});
    referrers.push((serde_json::to_vec(&index).unwrap(), OCI_INDEX));
    for (i, (bytes, mt)) in referrers.iter().enumerate() {
        let d = Digest::sha256_of(bytes);
        let r = c.put_manifest(ns, &d.to_string(), mt, bytes).await;
        rep.check(
            &format!("discovery setup: PUT referrer {i}"),
            r.status == 201,
            || body_text(&r),
        );
        rep.check_feature(
            REFERRERS,
            &format!("discovery setup: referrer {i} answered with OCI-Subject"),
            r.header("oci-subject") == Some(subject.to_string()),
            || format!("{:?}", r.header("oci-subject")),
        );
    }
    // A referrer whose subject is never pushed.
    let ghost = Digest::sha256_of(unique().as_bytes());
    let orphan = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.sig",
        "config": empty_desc, "layers": [empty_desc],
        "subject": {"mediaType": OCI_MANIFEST, "digest": ghost, "size": 123}});
    let ob = serde_json::to_vec(&orphan).unwrap();
    let r = c
        .put_manifest(ns, &Digest::sha256_of(&ob).to_string(), OCI_MANIFEST, &ob)
        .await;
    rep.check(
        "discovery setup: PUT referrer of a missing subject -> 201",
        r.status == 201,
        || body_text(&r),
    );

    let r = c.get(&format!("/v2/{ns}/tags/list")).await;
    let tags: Vec<String> = r.json()["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    rep.check(
        "discovery tags: GET list -> 200 with the four tags",
        r.status == 200
            && ["test0", "test1", "test2", "test3"]
                .iter()
                .all(|t| tags.iter().any(|x| x == t)),
        || body_text(&r),
    );
    let half = tags.len() / 2;
    let r = c.get(&format!("/v2/{ns}/tags/list?n={half}")).await;
    let page: Vec<String> = r.json()["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    rep.check_feature(
        TAG_PAGINATION,
        "discovery tags: ?n=half -> exactly half",
        r.status == 200 && page.len() == half,
        || body_text(&r),
    );
    let last = page.last().cloned().unwrap_or_default();
    let r = c
        .get(&format!("/v2/{ns}/tags/list?n={half}&last={last}"))
        .await;
    let page2 = r.json()["tags"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(usize::MAX);
    rep.check_feature(
        TAG_PAGINATION,
        "discovery tags: ?n=half&last= -> at most half",
        r.status == 200 && page2 <= half,
        || body_text(&r),
    );

    let unknown = Digest::sha256_of(unique().as_bytes());
    let r = c.get(&format!("/v2/{ns}/referrers/{unknown}")).await;
    rep.check_feature(
        REFERRERS,
        "discovery referrers: unknown digest -> 200, empty index",
        r.status == 200
            && r.json()["manifests"].as_array().is_some_and(Vec::is_empty)
            && r.header("content-type").as_deref() == Some(OCI_INDEX),
        || body_text(&r),
    );
    let r = c.get(&format!("/v2/{ns}/referrers/{subject}")).await;
    let list = r.json()["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let distinct: BTreeSet<String> = list
        .iter()
        .filter_map(|m| m["digest"].as_str().map(str::to_string))
        .collect();
    let annotated = list
        .iter()
        .all(|m| m["annotations"]["org.example.n"].is_string());
    rep.check_feature(
        REFERRERS,
        "discovery referrers: subject -> 5 distinct entries with their annotations",
        r.status == 200 && list.len() == 5 && distinct.len() == 5 && annotated,
        || body_text(&r),
    );
    let r = c
        .get(&format!(
            "/v2/{ns}/referrers/{subject}?artifactType=application/vnd.sig"
        ))
        .await;
    let n = r.json()["manifests"].as_array().map(Vec::len).unwrap_or(0);
    let filtered = r
        .header("oci-filters-applied")
        .is_some_and(|h| h.contains("artifactType"));
    rep.check_feature(
        REFERRERS,
        "discovery referrers: ?artifactType= -> 2 entries with OCI-Filters-Applied",
        r.status == 200 && filtered && n == 2,
        || body_text(&r),
    );
    let r = c.get(&format!("/v2/{ns}/referrers/{ghost}")).await;
    let n = r.json()["manifests"].as_array().map(Vec::len).unwrap_or(0);
    rep.check_feature(
        REFERRERS,
        "discovery referrers: never-pushed subject -> its 1 referrer",
        r.status == 200 && n == 1,
        || body_text(&r),
    );
}

pub(crate) async fn management(c: &Client, rep: &mut Report, ns: &str) {
    let config = json!({"author": unique(), "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).to_string().into_bytes();
    let layer = unique().into_bytes();
    let cd = c.push_blob(ns, &config).await;
    let ld = c.push_blob(ns, &layer).await;
    let m = image(&config, &layer, json!({}));
    let m2 = image(&config, &layer, json!({"annotations": {"second": "yes"}}));
    let md = Digest::sha256_of(&m);
    for (t, bytes) in [("keep", &m2), ("extra", &m2), ("gone", &m)] {
        let r = c.put_manifest(ns, t, OCI_MANIFEST, bytes).await;
        rep.check(
            &format!("management setup: PUT tag {t}"),
            r.status == 201,
            || body_text(&r),
        );
    }
    let count = |r: &Resp| r.json()["tags"].as_array().map(Vec::len).unwrap_or(0);
    let before = count(&c.get(&format!("/v2/{ns}/tags/list")).await);
    let r = c
        .send("DELETE", &format!("/v2/{ns}/manifests/extra"), &[], b"")
        .await;
    let code = r.json()["errors"][0]["code"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let tag_deleted = r.status == 202;
    rep.check_feature(
        TAG_DELETE,
        "management: DELETE tag -> 202 (or 400 UNSUPPORTED, or 405)",
        tag_deleted || r.status == 405 || (r.status == 400 && code == "UNSUPPORTED"),
        || body_text(&r),
    );
    if tag_deleted {
        let r = c.get(&format!("/v2/{ns}/manifests/extra")).await;
        rep.check("management: deleted tag -> 404", r.status == 404, || {
            body_text(&r)
        });
        let r = c.get(&format!("/v2/{ns}/manifests/keep")).await;
        rep.check(
            "management: other tag of that manifest stays",
            r.status == 200,
            || body_text(&r),
        );
    }
    let r = c
        .send("DELETE", &format!("/v2/{ns}/manifests/{md}"), &[], b"")
        .await;
    rep.check(
        "management: DELETE manifest by digest -> 202",
        r.status == 202,
        || body_text(&r),
    );
    let r = c.get(&format!("/v2/{ns}/manifests/{md}")).await;
    rep.check(
        "management: GET deleted manifest -> 404",
        r.status == 404,
        || body_text(&r),
    );
    let r = c.get(&format!("/v2/{ns}/manifests/gone")).await;
    rep.check("management: its tag -> 404", r.status == 404, || {
        body_text(&r)
    });
    let after = count(&c.get(&format!("/v2/{ns}/tags/list")).await);
    let want = before - 1 - usize::from(tag_deleted);
    rep.check(
        "management: tags list shrinks accordingly",
        after == want,
        || format!("{before} -> {after}, want {want}"),
    );
    for (d, what) in [(&cd, "config"), (&ld, "layer")] {
        let r = c
            .send("DELETE", &format!("/v2/{ns}/blobs/{d}"), &[], b"")
            .await;
        rep.check(
            &format!("management: DELETE {what} blob -> 202"),
            r.status == 202,
            || body_text(&r),
        );
        let r = c.get(&format!("/v2/{ns}/blobs/{d}")).await;
        rep.check(
            &format!("management: GET deleted {what} blob -> 404"),
            r.status == 404,
            || body_text(&r),
        );
    }
    let r = c
        .send("DELETE", &format!("/v2/{ns}/blobs/{ld}"), &[], b"")
        .await;
    rep.check(
        "management: DELETE it again -> 404 BLOB_UNKNOWN",
        r.status == 404 && r.json()["errors"][0]["code"] == "BLOB_UNKNOWN",
        || body_text(&r),
    );
}
