//! `GET /system/df`: disk use of images (layers shared between images counted once), of
//! containers' writable layers, volumes and the build cache.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{json_response, ApiResult, AppState};
use crate::container::ListOptions;

pub async fn df(State(engine): State<AppState>) -> ApiResult<Response> {
    let images = engine.images.clone();
    let containers = engine.list(&ListOptions {
        all: true,
        ..ListOptions::default()
    });
    let ids: Vec<String> = containers
        .iter()
        .filter_map(|c| c["Id"].as_str().map(String::from))
        .collect();
    let (usage, rw) = tokio::task::spawn_blocking(move || {
        let usage = images.disk_usage();
        let rw: Vec<u64> = ids.iter().map(|id| images.rootfs_usage(id)).collect();
        (usage, rw)
    })
    .await
    .map_err(crate::container::join_error)?;
    let usage = usage?;
    let image_values: Vec<Value> = usage
        .images
        .iter()
        .map(|(info, shared)| {
            let mut v = super::images::summary(&engine, info);
            v["SharedSize"] = json!(shared);
            v
        })
        .collect();
    let container_values: Vec<Value> = containers
        .into_iter()
        .zip(rw)
        .map(|(mut c, rw)| {
            let image_size = usage
                .images
                .iter()
                .find(|(i, _)| Some(i.id.to_string().as_str()) == c["ImageID"].as_str())
                .map(|(i, _)| i.size)
                .unwrap_or(0);
            c["SizeRw"] = json!(rw);
            c["SizeRootFs"] = json!(rw + image_size);
            c
        })
        .collect();
    let volumes: Vec<Value> = engine
        .volumes
        .list()
        .into_iter()
        .map(|(name, m)| {
            let mut v = engine.volumes.to_json(&name, &m);
            v["UsageData"] = json!({
                "Size": crate::volumes::dir_size(&engine.volumes.data_path(&name)),
                "RefCount": engine.volume_users(&name).len(),
            });
            v
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "LayersSize": usage.layers_size,
            "Images": image_values,
            "Containers": container_values,
            "Volumes": volumes,
            "BuildCache": [],
        }),
    ))
}
