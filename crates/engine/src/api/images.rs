//! `/images/...` handlers. Image names in paths are not URL-escaped and may hold `/` and `:`,
//! so one greedy route takes the rest of the path and the known suffix picks the operation.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{body_reader, json_response, stream_response, ApiResult, AppState, Params};
use crate::container::Engine;
use crate::error::EngineError;
use crate::filters::{each, labels_match, parse_until};
use image::{ImageInfo, ImportChanges, Removed};

pub async fn list(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let filters = p.filters()?;
    for k in filters.keys() {
        if !["reference", "dangling", "label", "before", "since", "until"].contains(&k.as_str()) {
            return Err(EngineError::Invalid(format!("invalid filter '{k}'")).into());
        }
    }
    let images = engine.images.clone();
    let (infos, labels) = tokio::task::spawn_blocking(move || {
        let infos = images.list();
        let labels: Vec<BTreeMap<String, String>> =
            infos.iter().map(|i| image_labels(&images, i)).collect();
        (infos, labels)
    })
    .await
    .map_err(crate::container::join_error)?;
    let created_of = |name: &str| -> Result<i64, EngineError> {
        infos
            .iter()
            .find(|i| {
                i.id.to_string() == name
                    || i.id.hex().starts_with(name)
                    || i.repo_tags
                        .iter()
                        .any(|t| t == name || reference_matches(t, name))
            })
            .map(|i| created_unix(&i.created))
            .ok_or_else(|| EngineError::Image(image::ImageError::NotFound(name.to_string())))
    };
    let before = each(&filters, "before", created_of)?;
    let since = each(&filters, "since", created_of)?;
    let until = each(&filters, "until", parse_until)?;
    // Without `all`, intermediate images (untagged parents of another image: a build's steps)
    // are hidden, as docker does.
    let all = p.bool("all", false);
    let parents: std::collections::BTreeSet<&api::Digest> =
        infos.iter().filter_map(|i| i.parent.as_ref()).collect();
    let out: Vec<Value> = infos
        .iter()
        .zip(labels.iter())
        .filter(|(i, _)| all || !i.repo_tags.is_empty() || !parents.contains(&i.id))
        .filter(|(i, _)| {
            filters.get("reference").is_none_or(|refs| {
                refs.is_empty()
                    || refs
                        .iter()
                        .any(|r| i.repo_tags.iter().any(|t| reference_matches(t, r)))
            })
        })
        .filter(|(i, _)| {
            filters
                .get("dangling")
                .is_none_or(|d| d.iter().all(|v| (v == "true") == i.repo_tags.is_empty()))
        })
        .filter(|(_, l)| {
            filters
                .get("label")
                .is_none_or(|want| labels_match(l, want))
        })
        .filter(|(i, _)| {
            let c = created_unix(&i.created);
            before.as_ref().is_none_or(|b| b.iter().all(|t| c < *t))
                && since.as_ref().is_none_or(|s| s.iter().all(|t| c > *t))
                && until.as_ref().is_none_or(|u| u.iter().all(|t| c < *t))
        })
        .map(|(i, _)| summary(&engine, i))
        .collect();
    Ok(json_response(StatusCode::OK, &out))
}

/// The image's config labels (empty when unreadable).
fn image_labels(images: &image::ImageStore, i: &ImageInfo) -> BTreeMap<String, String> {
    images
        .config(&i.id)
        .ok()
        .and_then(|c| c.config)
        .and_then(|c| c.labels)
        .unwrap_or_default()
}

/// `POST /images/prune?filters=`: deletes dangling images (all unused ones with
/// `dangling=false`) that no container uses, then every blob and layer no image references.
pub async fn prune(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let filters = p.filters()?;
    for k in filters.keys() {
        if !["dangling", "label", "label!", "until"].contains(&k.as_str()) {
            return Err(EngineError::Invalid(format!("invalid filter '{k}'")).into());
        }
    }
    let all = filters
        .get("dangling")
        .is_some_and(|v| v.iter().any(|x| x == "false" || x == "0"));
    let until = each(&filters, "until", parse_until)?;
    let images = engine.images.clone();
    let eng = engine.clone();
    let (deleted, reclaimed) = tokio::task::spawn_blocking(move || {
        let mut deleted: Vec<Value> = Vec::new();
        let mut reclaimed = 0u64;
        // Dangling = untagged and nobody's parent; deleting one can make its (untagged)
        // parent dangling, so repeat until nothing changes (Docker deletes untagged parents
        // with their child).
        let mut progress = true;
        while progress {
            progress = false;
            let list = images.list();
            let parents: std::collections::BTreeSet<api::Digest> =
                list.iter().filter_map(|i| i.parent.clone()).collect();
            for i in list {
                if !all && (!i.repo_tags.is_empty() || parents.contains(&i.id)) {
                    continue;
                }
                if !eng.containers_using(&i.id.to_string()).is_empty() {
                    continue;
                }
                let c = created_unix(&i.created);
                if until.as_ref().is_some_and(|u| u.iter().any(|t| c >= *t)) {
                    continue;
                }
                let labels = image_labels(&images, &i);
                if filters
                    .get("label")
                    .is_some_and(|w| !labels_match(&labels, w))
                {
                    continue;
                }
                if filters.get("label!").is_some_and(|w| {
                    w.iter()
                        .any(|x| labels_match(&labels, std::slice::from_ref(x)))
                }) {
                    continue;
                }
                let in_use = |_: &api::Digest| None;
                match images.remove(&i.id.to_string(), true, &in_use) {
                    Ok(removed) => {
                        for r in removed {
                            deleted.push(match r {
                                Removed::Untagged(t) => json!({"Untagged": t}),
                                Removed::Deleted(d) => {
                                    reclaimed += i.size;
                                    progress = true;
                                    json!({"Deleted": d.to_string()})
                                }
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(image = %i.id, error = %e, "prune could not remove image")
                    }
                }
            }
        }
        let gc = images.collect_garbage()?;
        reclaimed += gc.bytes;
        Ok::<_, image::ImageError>((deleted, reclaimed))
    })
    .await
    .map_err(crate::container::join_error)??;
    engine.prune_event("image", reclaimed);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "ImagesDeleted": if deleted.is_empty() { Value::Null } else { Value::Array(deleted) },
            "SpaceReclaimed": reclaimed,
        }),
    ))
}

/// `busybox` matches `busybox:latest`; `busybox:1` matches exactly; `*` and `?` glob as
/// Go's `path.Match` (not across `/`), against the repository and against `repo:tag`.
fn reference_matches(tag: &str, pattern: &str) -> bool {
    let repo = tag.rsplit_once(':').map(|(r, _)| r).unwrap_or(tag);
    glob(pattern.as_bytes(), tag.as_bytes()) || glob(pattern.as_bytes(), repo.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && glob(p, &s[1..])),
        (Some(b'?'), Some(c)) if *c != b'/' => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

fn created_unix(created: &str) -> i64 {
    api::time::parse_rfc3339(created)
        .map(api::time::unix_seconds)
        .unwrap_or(0)
}

pub(super) fn summary(engine: &Engine, i: &ImageInfo) -> Value {
    // dockerd (API < 1.44): an image with neither tags nor digests gets both placeholders;
    // the docker CLI shows an image as `<none> <none>` only when both are there (with
    // `<none>:<none>` alone it parses no reference and hides the image).
    let untagged = i.repo_tags.is_empty() && i.repo_digests.is_empty();
    let (tags, digests) = if untagged {
        (
            vec!["<none>:<none>".to_string()],
            vec!["<none>@<none>".to_string()],
        )
    } else {
        (i.repo_tags.clone(), i.repo_digests.clone())
    };
    json!({
        "Containers": engine.containers_using(&i.id.to_string()).len(),
        "Created": created_unix(&i.created),
        "Id": i.id.to_string(),
        "Labels": null,
        "ParentId": i.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": i.size,
        "VirtualSize": i.size,
    })
}

/// dockerd's zero `container.Config`, as it renders an image's missing `ContainerConfig`.
fn empty_container_config() -> Value {
    json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": null,
    })
}

/// `GET /images/{name}/json` and `GET /images/{name}/history`.
pub async fn get_named(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/json") {
        let images = engine.images.clone();
        let name = name.to_string();
        let (info, config) = tokio::task::spawn_blocking(move || {
            let info = images.resolve(&name)?;
            let config = images.config(&info.id)?;
            Ok::<_, image::ImageError>((info, config))
        })
        .await
        .map_err(crate::container::join_error)??;
        let cfg = serde_json::to_value(&config).unwrap_or_default();
        let mut body = json!({
            "Id": info.id.to_string(),
            "RepoTags": info.repo_tags,
            "RepoDigests": info.repo_digests,
            "Parent": info.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            "Comment": cfg["history"].as_array().and_then(|h| h.last()).and_then(|h| h["comment"].as_str()).unwrap_or(""),
            "Created": info.created,
            "Container": "",
            // An object even when the image has none, as dockerd's (a struct there, not a
            // pointer): docker-compose 1.29 reads `ContainerConfig.Volumes` to recreate.
            "ContainerConfig": match &cfg["container_config"] {
                c @ Value::Object(_) => c.clone(),
                _ => empty_container_config(),
            },
            "DockerVersion": "",
            "Author": cfg["author"].as_str().unwrap_or(""),
            "Config": cfg["config"],
            "Architecture": cfg["architecture"],
            "Os": cfg["os"],
            "Size": info.size,
            "VirtualSize": info.size,
            "GraphDriver": {"Name": "overlay2", "Data": null},
            "RootFS": {"Type": "layers", "Layers": cfg["rootfs"]["diff_ids"]},
            "Metadata": {"LastTagTime": api::time::ZERO_TIME},
        });
        // Docker adds `Variant` after `Architecture` only when the image has one.
        if let Some(v) = cfg["variant"].as_str().filter(|v| !v.is_empty()) {
            body["Variant"] = json!(v);
        }
        return Ok(json_response(StatusCode::OK, &body));
    }
    if let Some(name) = rest.strip_suffix("/history") {
        let images = engine.images.clone();
        let name = name.to_string();
        let entries = tokio::task::spawn_blocking(move || images.history(&name))
            .await
            .map_err(crate::container::join_error)??;
        let out: Vec<Value> = entries
            .iter()
            .map(|h| {
                json!({
                    "Id": h.id,
                    "Created": created_unix(&h.created),
                    "CreatedBy": h.created_by,
                    "Tags": if h.tags.is_empty() { Value::Null } else { json!(h.tags) },
                    "Size": h.size,
                    "Comment": h.comment,
                })
            })
            .collect();
        return Ok(json_response(StatusCode::OK, &out));
    }
    Err(EngineError::Invalid(format!("page not found: /images/{rest}")).into())
}

/// `POST /images/{name}/tag?repo=&tag=` and `POST /images/{name}/push?tag=`.
pub async fn post_named(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/push") {
        let p = Params::from_uri(&uri);
        return super::distribution::push(engine, name, &p, &headers).await;
    }
    let Some(name) = rest.strip_suffix("/tag") else {
        return Err(EngineError::Invalid(format!("page not found: /images/{rest}")).into());
    };
    let p = Params::from_uri(&uri);
    let repo = p.get("repo").unwrap_or("");
    if repo.is_empty() {
        return Err(EngineError::Invalid(
            "repository name must have at least one component".into(),
        )
        .into());
    }
    let tag = p.get("tag").filter(|t| !t.is_empty()).unwrap_or("latest");
    let reference = format!("{repo}:{tag}")
        .parse::<api::ImageRef>()
        .map_err(|e| EngineError::Invalid(e.to_string()))?;
    let images = engine.images.clone();
    let name = name.to_string();
    let shown = reference.familiar();
    let id = tokio::task::spawn_blocking(move || {
        let info = images.resolve(&name)?;
        images.tag(&info.id, &reference).map(|_| info.id)
    })
    .await
    .map_err(crate::container::join_error)??;
    engine.image_event("tag", &id.to_string(), Some(&shown));
    Ok(StatusCode::CREATED.into_response())
}

/// Sends what a blocking task writes to a response channel, in 256 KiB chunks.
pub(super) struct ChannelWriter {
    pub(super) tx: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
    pub(super) buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 256 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// A response body fed by a channel whose last item may be an error: hyper then aborts the
/// chunked response, so the client sees a failed transfer rather than a short archive.
pub(super) struct FallibleBody(pub(super) tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>);

impl http_body::Body for FallibleBody {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<axum::body::Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(|v| http_body::Frame::data(axum::body::Bytes::from(v)))))
    }
}

/// `GET /images/get?names=..`: a docker-archive tar, streamed as it is built.
pub async fn save(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    let names = Params::from_uri(&uri).all("names");
    if names.is_empty() {
        return Err(EngineError::Invalid("no images specified".into()).into());
    }
    // Resolve first so an unknown name is a plain 404, not a broken stream.
    let images = engine.images.clone();
    let check = names.clone();
    tokio::task::spawn_blocking(move || {
        check.iter().try_for_each(|n| images.resolve(n).map(|_| ()))
    })
    .await
    .map_err(crate::container::join_error)??;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let images = engine.images.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        };
        if let Err(e) = images.save_archive(&names, &mut w) {
            tracing::error!(error = %e, "image save failed");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let mut resp = Response::new(Body::new(FallibleBody(rx)));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-tar"),
    );
    Ok(resp)
}

pub async fn delete(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    let force = p.bool("force", false);
    let noprune = p.bool("noprune", false);
    let images = engine.images.clone();
    let eng = engine.clone();
    let removed = tokio::task::spawn_blocking(move || {
        let in_use = |id: &api::Digest| eng.containers_using(&id.to_string()).into_iter().next();
        let parent = images.resolve(&rest).ok().and_then(|i| i.parent);
        let mut removed = images.remove(&rest, force, &in_use)?;
        // As dockerd (unless `noprune`): a deleted image takes its untagged parents along
        // while nothing else needs them (the classic builder's intermediate images).
        let mut next =
            parent.filter(|_| !noprune && removed.iter().any(|r| matches!(r, Removed::Deleted(_))));
        while let Some(id) = next.take() {
            let list = images.list();
            let Some(info) = list.iter().find(|i| i.id == id) else {
                break;
            };
            let needed = !info.repo_tags.is_empty()
                || !info.repo_digests.is_empty()
                || list.iter().any(|i| i.parent.as_ref() == Some(&id))
                || in_use(&id).is_some();
            if needed {
                break;
            }
            match images.remove(&id.to_string(), false, &in_use) {
                Ok(r) => {
                    removed.extend(r);
                    next = info.parent.clone();
                }
                Err(e) => {
                    tracing::warn!(image = %id, error = %e, "could not remove an untagged parent");
                    break;
                }
            }
        }
        Ok::<_, image::ImageError>(removed)
    })
    .await
    .map_err(crate::container::join_error)??;
    let out: Vec<Value> = removed
        .into_iter()
        .map(|r| match r {
            Removed::Untagged(t) => {
                engine.image_event("untag", &t, Some(&t));
                json!({"Untagged": t})
            }
            Removed::Deleted(d) => {
                engine.image_event("delete", &d.to_string(), None);
                json!({"Deleted": d.to_string()})
            }
        })
        .collect();
    Ok(json_response(StatusCode::OK, &out))
}

/// `POST /images/create`: `fromSrc=-` imports the body as a root filesystem tarball;
/// `fromImage=` pulls from a registry.
pub async fn create(
    State(engine): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let p = Params::from_uri(&uri);
    match p.get("fromSrc") {
        Some("-") => {}
        Some(src) => {
            return Err(EngineError::Invalid(format!(
                "importing from {src:?} is not supported: send the tarball in the request body (fromSrc=-)"
            ))
            .into())
        }
        None => return super::distribution::pull(engine, &p, &headers).await,
    }
    let mut repo = p.get("repo").unwrap_or("").to_string();
    if let Some(tag) = p.get("tag").filter(|t| !t.is_empty()) {
        repo = format!("{repo}:{tag}");
    }
    let reference = if repo.is_empty() {
        None
    } else {
        Some(
            repo.parse::<api::ImageRef>()
                .map_err(|e| EngineError::Invalid(e.to_string()))?,
        )
    };
    let changes = ImportChanges::parse(&p.all("changes"))?;
    let message = p.get("message").map(String::from);
    let reader = body_reader(body);
    let images = engine.images.clone();
    let info = tokio::task::spawn_blocking(move || {
        images.import(reader, reference.as_ref(), &changes, message.as_deref())
    })
    .await
    .map_err(crate::container::join_error)??;
    engine.image_event(
        "import",
        &info.id.to_string(),
        info.repo_tags.first().map(String::as_str),
    );
    let (tx, resp) = stream_response(StatusCode::OK, Some("application/json"));
    let mut line = serde_json::to_vec(&json!({"status": info.id.to_string()})).unwrap_or_default();
    line.extend_from_slice(b"\r\n");
    let _ = tx.send(line).await;
    Ok(resp)
}

/// `POST /images/load?quiet=`: the body is a docker-archive or OCI layout tar; the answer a
/// JSON message stream (`Loaded image: NAME`), errors included as error objects.
pub async fn load(State(engine): State<AppState>, body: Body) -> ApiResult<Response> {
    let reader = body_reader(body);
    let images = engine.images.clone();
    let result = tokio::task::spawn_blocking(move || images.load(reader))
        .await
        .map_err(crate::container::join_error)?;
    let mut lines: Vec<Value> = Vec::new();
    match result {
        Ok(loaded) => {
            for l in &loaded {
                let name = l.tags.first().cloned().unwrap_or_else(|| l.id.to_string());
                engine.image_event("load", &name, Some(&name));
            }
            for l in loaded {
                if l.tags.is_empty() {
                    lines.push(json!({"stream": format!("Loaded image ID: {}\n", l.id)}));
                }
                for t in &l.tags {
                    lines.push(json!({"stream": format!("Loaded image: {t}\n")}));
                }
            }
        }
        Err(e) => {
            let mut message = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                let s = c.to_string();
                if !message.contains(&s) {
                    message.push_str(": ");
                    message.push_str(&s);
                }
                cur = c.source();
            }
            tracing::warn!(error = %message, "image load failed");
            lines.push(json!({"errorDetail": {"message": message}, "error": message}));
        }
    }
    let (tx, resp) = stream_response(StatusCode::OK, Some("application/json"));
    for l in lines {
        let mut b = serde_json::to_vec(&l).unwrap_or_default();
        b.extend_from_slice(b"\r\n");
        let _ = tx.send(b).await;
    }
    Ok(resp)
}
