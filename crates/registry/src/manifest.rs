//! Manifest parsing for push validation, referrers and GC: what a manifest references.
//!
//! The registry stores the exact bytes clients push; this module only reads the few fields it
//! needs and ignores everything else (unknown fields, `data`, annotations on descriptors).

use std::collections::BTreeMap;

use api::Digest;
use serde::{Deserialize, Serialize};

use crate::error::RegistryError;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Whether a manifest is a single image (config + layers) or a list of manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// OCI manifest or Docker schema2 manifest.
    Image,
    /// OCI index or Docker manifest list.
    Index,
}

/// The media types accepted on push, and their kind.
pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Image),
        OCI_INDEX | DOCKER_LIST => Some(ManifestKind::Index),
        _ => None,
    }
}

/// A content descriptor as found in manifests (only the fields the registry uses).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the target.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Digest of the target.
    pub digest: Digest,
    /// Size of the target.
    pub size: u64,
    /// Artifact type (referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// External URLs: such a layer is non-distributable and need not be pushed.
    #[serde(default, skip_serializing)]
    pub urls: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// What the registry knows about a manifest after parsing it.
#[derive(Debug, Clone)]
pub struct ParsedManifest {
    /// The media type it is stored and served with.
    pub media_type: String,
    /// Image or index.
    pub kind: ManifestKind,
    /// Config and layers that must be present (non-distributable layers excluded).
    pub blobs: Vec<Digest>,
    /// Child manifests of an index.
    pub children: Vec<Digest>,
    /// The manifest this one refers to (referrers API).
    pub subject: Option<Digest>,
    /// `artifactType`, else the config media type of an image manifest.
    pub artifact_type: Option<String>,
    /// Top-level annotations.
    pub annotations: Option<BTreeMap<String, String>>,
}

fn strip_params(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Parses and validates a pushed manifest. `content_type` is the request's `Content-Type`.
pub fn parse_manifest(
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<ParsedManifest, RegistryError> {
    let doc: Document = serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::ManifestInvalid(format!("invalid JSON: {e}")))?;
    let content_type = content_type.map(strip_params).filter(|c| !c.is_empty());
    let media_type = match (content_type, doc.media_type.as_deref()) {
        (Some(c), Some(m)) if c != m => {
            return Err(RegistryError::ManifestInvalid(format!(
                "Content-Type {c} does not match the manifest's mediaType {m}"
            )))
        }
        (Some(c), _) => c.to_string(),
        (None, _) => {
            return Err(RegistryError::ManifestInvalid(
                "Content-Type missing: send the manifest's media type".into(),
            ))
        }
    };
    let kind = manifest_kind(&media_type).ok_or_else(|| {
        RegistryError::ManifestInvalid(format!(
            "unsupported manifest media type {media_type}: expected an OCI manifest or index, or a docker schema2 manifest or manifest list"
        ))
    })?;
    if doc.schema_version != Some(2) {
        return Err(RegistryError::ManifestInvalid(
            "schemaVersion must be 2".into(),
        ));
    }
    let mut blobs = Vec::new();
    let mut children = Vec::new();
    let mut artifact_type = doc.artifact_type.clone();
    match kind {
        ManifestKind::Image => {
            let config = doc.config.ok_or_else(|| {
                RegistryError::ManifestInvalid("image manifest without config".into())
            })?;
            if artifact_type.is_none() {
                artifact_type = Some(config.media_type.clone()).filter(|m| !m.is_empty());
            }
            blobs.push(config.digest);
            for layer in doc.layers.unwrap_or_default() {
                if layer.urls.as_ref().is_some_and(|u| !u.is_empty()) {
                    continue;
                }
                blobs.push(layer.digest);
            }
        }
        ManifestKind::Index => {
            let manifests = doc
                .manifests
                .ok_or_else(|| RegistryError::ManifestInvalid("index without manifests".into()))?;
            children.extend(manifests.into_iter().map(|m| m.digest));
        }
    }
    Ok(ParsedManifest {
        media_type,
        kind,
        blobs,
        children,
        subject: doc.subject.map(|s| s.digest),
        artifact_type,
        annotations: doc.annotations,
    })
}

/// Everything a stored manifest references, for GC: `(blobs, child manifests)`. Without a
/// recorded media type, the document's own `mediaType` is used. Lenient: a manifest that does
/// not parse references nothing.
pub fn references(bytes: &[u8], media_type: Option<&str>) -> (Vec<Digest>, Vec<Digest>) {
    let own;
    let media_type = match media_type {
        Some(m) => Some(m),
        None => {
            own = serde_json::from_slice::<Document>(bytes)
                .ok()
                .and_then(|d| d.media_type);
            own.as_deref()
        }
    };
    match parse_manifest(bytes, media_type) {
        Ok(p) => (p.blobs, p.children),
        Err(_) => (Vec::new(), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> Digest {
        Digest::sha256_of(s.as_bytes())
    }

    #[test]
    fn image_manifest_references_config_and_layers() {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d("c"), "size": 1, "data": "e30=", "extra": 1},
            "layers": [
                {"mediaType": "x", "digest": d("l"), "size": 1},
                {"mediaType": "x", "digest": d("f"), "size": 1, "urls": ["http://example.com/f"]}
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d("s"), "size": 1},
            "unknown": true
        });
        let p = parse_manifest(m.to_string().as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(p.kind, ManifestKind::Image);
        assert_eq!(p.blobs, vec![d("c"), d("l")]);
        assert_eq!(p.subject, Some(d("s")));
        assert_eq!(
            p.artifact_type.as_deref(),
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn index_references_children() {
        let m = json!({"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, "digest": d("a"), "size": 3}]});
        let p = parse_manifest(m.to_string().as_bytes(), Some(OCI_INDEX)).unwrap();
        assert_eq!(p.children, vec![d("a")]);
        assert_eq!(p.media_type, OCI_INDEX);
    }

    #[test]
    fn rejected_manifests() {
        let ok = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": d("c"), "size": 1}, "layers": []}).to_string();
        let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
            (b"{not json".to_vec(), Some(OCI_MANIFEST)),
            (ok.clone().into_bytes(), None),
            (ok.clone().into_bytes(), Some(DOCKER_MANIFEST)),
            (
                ok.clone().into_bytes(),
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            ),
            (
                json!({"schemaVersion": 1, "config": {"digest": d("c"), "size": 1}})
                    .to_string()
                    .into_bytes(),
                Some(OCI_MANIFEST),
            ),
            (
                json!({"schemaVersion": 2}).to_string().into_bytes(),
                Some(OCI_MANIFEST),
            ),
            (
                json!({"schemaVersion": 2}).to_string().into_bytes(),
                Some(OCI_INDEX),
            ),
            (
                json!({"schemaVersion": 2, "config": {"digest": "sha256:bad", "size": 1}})
                    .to_string()
                    .into_bytes(),
                Some(OCI_MANIFEST),
            ),
        ];
        for (bytes, ct) in cases {
            let e = parse_manifest(&bytes, ct).unwrap_err();
            assert_eq!(e.code().as_str(), "MANIFEST_INVALID", "{ct:?} {e}");
        }
        assert!(parse_manifest(
            ok.as_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8")
        )
        .is_ok());
    }
}
