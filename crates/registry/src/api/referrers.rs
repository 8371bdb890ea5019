//! `GET /v2/<name>/referrers/<digest>[?artifactType=]`: an OCI index of the manifests whose
//! `subject` is `<digest>`. Never 404: an unknown subject has no referrers.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{blocking, json_response, set, Request};
use crate::error::{parse_digest, RegistryError};
use crate::manifest::OCI_INDEX;

/// Lists referrers.
pub(super) async fn get(req: Request, digest: &str) -> Result<Response, RegistryError> {
    let subject = parse_digest(digest)?;
    let filter = req.query("artifactType").map(str::to_string);
    let (name, f) = (req.name.clone(), filter.clone());
    let manifests = blocking(&req.store, move |s| {
        s.referrers(&name, &subject, f.as_deref())
    })
    .await?;
    let body = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut res = json_response(StatusCode::OK, &body);
    set(&mut res, "content-type", OCI_INDEX);
    if filter.is_some() {
        set(&mut res, "oci-filters-applied", "artifactType");
    }
    Ok(res)
}
