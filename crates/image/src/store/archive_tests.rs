use super::*;
use crate::ImportChanges;

fn r(s: &str) -> ImageRef {
    s.parse().unwrap()
}

fn never(_: &Digest) -> Option<String> {
    None
}

fn busybox_store(root: &Path) -> (ImageStore, crate::ImageInfo) {
    let store = ImageStore::open(root).unwrap();
    let p = root.join("bb.tar.gz");
    testkit::busybox_tarball(&p, true).unwrap();
    let info = store
        .import(
            fs::File::open(&p).unwrap(),
            Some(&r("busybox")),
            &ImportChanges::default(),
            None,
        )
        .unwrap();
    (store, info)
}

fn entry_names(tar: &[u8]) -> Vec<String> {
    tar::Archive::new(tar)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn assert_nothing(root: &Path, store: &ImageStore) {
    assert!(store.list().is_empty());
    assert!(
        store.content.list().unwrap().is_empty(),
        "{:?}",
        store.content.list()
    );
    assert!(
        store.snapshots.list().unwrap().is_empty(),
        "{:?}",
        store.snapshots.list()
    );
    assert_eq!(
        fs::read_dir(root.join("content/ingest")).unwrap().count(),
        0
    );
    let spools: Vec<_> = fs::read_dir(root.join("images"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(LOAD_PREFIX))
        .collect();
    assert!(spools.is_empty());
    assert!(ImageStore::open(root).unwrap().list().is_empty());
}

fn json_entry(tar: &[u8], name: &str) -> serde_json::Value {
    let mut ar = tar::Archive::new(tar);
    let mut e = ar
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_str() == Some(name))
        .unwrap();
    let mut s = String::new();
    e.read_to_string(&mut s).unwrap();
    serde_json::from_str(&s).unwrap()
}

#[test]
fn save_then_load_round_trip() {
    let a = testkit::TempDir::new("save");
    let (src, info) = busybox_store(a.path());
    let mut tar = Vec::new();
    src.save_archive(&["busybox".to_string()], &mut tar)
        .unwrap();
    let names = entry_names(&tar);
    let config = format!("blobs/sha256/{}", info.id.hex());
    for n in [
        &config,
        "manifest.json",
        "repositories",
        "index.json",
        "oci-layout",
    ] {
        assert!(names.iter().any(|x| x == n), "{n}: {names:?}");
    }
    let m = json_entry(&tar, "manifest.json");
    assert_eq!(m[0]["Config"], config.as_str());
    assert_eq!(m[0]["RepoTags"][0], "busybox:latest");
    let layer = m[0]["Layers"][0].as_str().unwrap();
    assert!(names.iter().any(|n| n == layer), "{layer}: {names:?}");
    // The same tar is an OCI layout naming the image.
    let index = json_entry(&tar, "index.json");
    let d = &index["manifests"][0];
    assert_eq!(d["digest"], info.manifest.to_string());
    assert_eq!(
        d["annotations"]["io.containerd.image.name"],
        "docker.io/library/busybox:latest"
    );
    assert_eq!(
        d["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    assert!(names.contains(&format!("blobs/sha256/{}", info.manifest.hex())));

    let b = testkit::TempDir::new("load");
    let dst = ImageStore::open(b.path()).unwrap();
    let loaded = dst.load(&tar[..]).unwrap();
    assert_eq!(
        loaded,
        vec![LoadedImage {
            id: info.id.clone(),
            tags: vec!["busybox:latest".into()]
        }]
    );
    let got = dst.resolve("busybox").unwrap();
    assert_eq!(got.id, info.id);
    assert_eq!(got.size, info.size);
    assert!(dst.prepare_rootfs(&got.id, "c1").is_ok());
    dst.remove_rootfs("c1").unwrap();
    // Loading again is a no-op that succeeds.
    assert_eq!(dst.load(&tar[..]).unwrap().len(), 1);
    assert_eq!(dst.list().len(), 1);
    // Remove and load back into the source store.
    src.remove("busybox", false, &never).unwrap();
    assert!(src.list().is_empty());
    src.load(&tar[..]).unwrap();
    assert_eq!(src.resolve("busybox:latest").unwrap().id, info.id);
    let h = src.history("busybox").unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].id, info.id.to_string());
    assert_eq!(h[0].tags, vec!["busybox:latest".to_string()]);
    assert_eq!(h[0].size, info.size);
    assert_eq!(h[0].comment, "Imported from -");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn add(b: &mut tar::Builder<Vec<u8>>, name: &str, bytes: &[u8]) {
    append_bytes(b, name, bytes).unwrap();
}

#[test]
fn load_oci_layout_with_gzip_layer() {
    let layer_tar = {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header(5);
        b.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
        b.into_inner().unwrap()
    };
    let diff_id = Digest::sha256_of(&layer_tar);
    let layer = gzip(&layer_tar);
    let layer_digest = Digest::sha256_of(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": api::image::Platform::host().architecture, "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD hello.txt /"},
                    {"created": "2024-01-01T00:00:00Z", "created_by": "CMD [\"sh\"]", "empty_layer": true}],
    }))
    .unwrap();
    let config_digest = Digest::sha256_of(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "config": {"mediaType": MEDIA_TYPE_OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": api::image::MEDIA_TYPE_OCI_LAYER_GZIP, "digest": layer_digest.to_string(), "size": layer.len()}],
    }))
    .unwrap();
    let manifest_digest = Digest::sha256_of(&manifest);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": api::image::MEDIA_TYPE_OCI_INDEX,
        "manifests": [{"mediaType": MEDIA_TYPE_OCI_MANIFEST, "digest": manifest_digest.to_string(),
            "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "example.com/oci/hello:1"}}],
    }))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    add(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    add(&mut b, "index.json", &index);
    add(
        &mut b,
        &format!("blobs/sha256/{}", manifest_digest.hex()),
        &manifest,
    );
    add(
        &mut b,
        &format!("blobs/sha256/{}", config_digest.hex()),
        &config,
    );
    add(
        &mut b,
        &format!("blobs/sha256/{}", layer_digest.hex()),
        &layer,
    );
    let tar = b.into_inner().unwrap();

    let root = testkit::TempDir::new("oci");
    let store = ImageStore::open(root.path()).unwrap();
    let loaded = store.load(&tar[..]).unwrap();
    assert_eq!(loaded[0].id, config_digest);
    assert_eq!(loaded[0].tags, vec!["example.com/oci/hello:1".to_string()]);
    let info = store.resolve("example.com/oci/hello:1").unwrap();
    assert_eq!(info.manifest, manifest_digest);
    assert!(store.content.exists(&layer_digest));
    let h = store.history("example.com/oci/hello:1").unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0].created_by, "CMD [\"sh\"]");
    assert_eq!(h[0].size, 0);
    assert_eq!(h[1].id, "<missing>");
    assert_eq!(h[1].size, 5);

    // The same layout with a corrupted layer blob loads nothing.
    let mut bad_layer = layer.clone();
    let n = bad_layer.len();
    bad_layer[n - 9] ^= 0xff;
    let mut b = tar::Builder::new(Vec::new());
    add(&mut b, "index.json", &index);
    add(
        &mut b,
        &format!("blobs/sha256/{}", manifest_digest.hex()),
        &manifest,
    );
    add(
        &mut b,
        &format!("blobs/sha256/{}", config_digest.hex()),
        &config,
    );
    add(
        &mut b,
        &format!("blobs/sha256/{}", layer_digest.hex()),
        &bad_layer,
    );
    let bad = b.into_inner().unwrap();
    let root2 = testkit::TempDir::new("oci-bad");
    let store2 = ImageStore::open(root2.path()).unwrap();
    assert!(store2.load(&bad[..]).is_err());
    assert_nothing(root2.path(), &store2);
}

#[test]
fn truncated_or_corrupt_archive_leaves_nothing() {
    let a = testkit::TempDir::new("save");
    let (src, _) = busybox_store(a.path());
    let mut tar = Vec::new();
    src.save_archive(&["busybox".to_string()], &mut tar)
        .unwrap();
    for cut in [tar.len() / 2, tar.len() - 3000, 700] {
        let b = testkit::TempDir::new("load");
        let dst = ImageStore::open(b.path()).unwrap();
        let e = dst.load(&tar[..cut]).unwrap_err();
        assert!(matches!(e, ImageError::Archive(_)), "{e:?}");
        assert_nothing(b.path(), &dst);
    }
    // A flipped byte inside the layer: the diff id check fails.
    let names = entry_names(&tar);
    let m = json_entry(&tar, "manifest.json");
    let layer = m[0]["Layers"][0].as_str().unwrap();
    let layer_pos = names.iter().position(|n| n == layer).unwrap();
    let mut offset = 0;
    for (i, e) in tar::Archive::new(&tar[..]).entries().unwrap().enumerate() {
        let e = e.unwrap();
        if i == layer_pos {
            offset = e.raw_file_position() as usize + 2000;
        }
    }
    let mut corrupt = tar.clone();
    corrupt[offset] ^= 0x55;
    let b = testkit::TempDir::new("load");
    let dst = ImageStore::open(b.path()).unwrap();
    assert!(dst.load(&corrupt[..]).is_err());
    assert_nothing(b.path(), &dst);
}

#[test]
fn shared_layers_are_saved_and_stored_once() {
    let a = testkit::TempDir::new("save");
    let (src, first) = busybox_store(a.path());
    let p = a.path().join("bb.tar.gz");
    let second = src
        .import(
            fs::File::open(&p).unwrap(),
            Some(&r("other:2")),
            &ImportChanges::default(),
            Some("second"),
        )
        .unwrap();
    assert_ne!(first.id, second.id);
    let mut tar = Vec::new();
    src.save_archive(&["busybox".to_string(), "other:2".to_string()], &mut tar)
        .unwrap();
    // One layer blob, two configs, two manifests.
    let blobs: Vec<_> = entry_names(&tar)
        .into_iter()
        .filter(|n| n.starts_with("blobs/sha256/") && n.len() > "blobs/sha256/".len())
        .collect();
    assert_eq!(blobs.len(), 5, "{blobs:?}");

    let b = testkit::TempDir::new("load");
    let dst = ImageStore::open(b.path()).unwrap();
    let loaded = dst.load(&tar[..]).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(dst.list().len(), 2);
    assert_eq!(dst.snapshots.list().unwrap().len(), 1);
    // One layer blob, two configs, two manifests.
    assert_eq!(dst.content.list().unwrap().len(), 5);
}
