use super::*;
use api::ErrorKind;
use std::sync::Arc;

fn tiny_tar(content: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_path("hello.txt").unwrap();
    h.set_mode(0o644);
    h.set_size(content.len() as u64);
    h.set_cksum();
    b.append(&h, content.as_bytes()).unwrap();
    b.into_inner().unwrap()
}

fn r(s: &str) -> ImageRef {
    s.parse().unwrap()
}

fn never(_: &Digest) -> Option<String> {
    None
}

fn busybox(dir: &Path, gzip: bool) -> Vec<u8> {
    let p = dir.join(if gzip { "bb.tar.gz" } else { "bb.tar" });
    testkit::busybox_tarball(&p, gzip).unwrap();
    fs::read(p).unwrap()
}

/// Asserts nothing of an import is left: no blob, no ingest temp, no snapshot, no image.
fn assert_empty(root: &Path, store: &ImageStore) {
    assert!(store.list().is_empty());
    assert!(
        store.content.list().unwrap().is_empty(),
        "blobs left: {:?}",
        store.content.list().unwrap()
    );
    assert_eq!(
        fs::read_dir(root.join("content/ingest")).unwrap().count(),
        0
    );
    assert!(
        store.snapshots.list().unwrap().is_empty(),
        "{:?}",
        store.snapshots.list().unwrap()
    );
    let reopened = ImageStore::open(root).unwrap();
    assert!(reopened.list().is_empty());
}

#[test]
fn import_busybox_then_resolve_by_name_id_and_prefix() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let tar = busybox(root.path(), false);
    let info = store
        .import(
            &tar[..],
            Some(&r("busybox")),
            &ImportChanges::default(),
            None,
        )
        .unwrap();
    assert_eq!(info.repo_tags, ["busybox:latest"]);
    assert!(info.size > 100_000, "size {}", info.size);
    for name in [
        "busybox".to_string(),
        "busybox:latest".to_string(),
        "docker.io/library/busybox:latest".to_string(),
        info.id.to_string(),
        info.id.hex().to_string(),
        info.id.hex()[..12].to_string(),
        info.id.hex()[..3].to_string(),
        format!("sha256:{}", &info.id.hex()[..8]),
        format!("busybox@{}", info.manifest),
    ] {
        assert_eq!(store.resolve(&name).unwrap().id, info.id, "{name}");
    }
    let err = store.resolve("busybox:other").unwrap_err();
    assert_eq!(err.to_string(), "No such image: busybox:other");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        store.resolve("Busybox").unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let config = store.config(&info.id).unwrap();
    assert_eq!(config.os, "linux");
    assert_eq!(
        config.architecture,
        api::image::goarch(std::env::consts::ARCH)
    );
    assert_eq!(config.rootfs.kind, "layers");
    assert_eq!(
        config.rootfs.diff_ids,
        vec![Digest::sha256_of(&tar)],
        "plain tar: diff id = blob digest"
    );
    assert_eq!(
        config.history[0].comment.as_deref(),
        Some("Imported from -")
    );
    let manifest: Manifest =
        serde_json::from_slice(&store.content.read(&info.manifest).unwrap()).unwrap();
    assert_eq!(manifest.config.digest, info.id);
    assert_eq!(
        manifest.layers[0].media_type,
        api::image::MEDIA_TYPE_OCI_LAYER
    );
    assert_eq!(manifest.layers[0].size, tar.len() as u64);
    // The layer snapshot is keyed by the chain id (= diff id for one layer).
    assert_eq!(info.top_layer, Some(Digest::sha256_of(&tar)));
    let snap = store
        .snapshots
        .stat(&Digest::sha256_of(&tar).to_string())
        .unwrap();
    assert_eq!(snap.kind, Kind::Committed);

    // Survives reopening.
    drop(store);
    let store = ImageStore::open(root.path()).unwrap();
    assert_eq!(store.resolve("busybox").unwrap(), info);
}

#[test]
fn import_gzip_keeps_compressed_blob_and_applies_changes() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let gz = busybox(root.path(), true);
    let changes =
        ImportChanges::parse(&[r#"CMD ["sh"]"#.to_string(), "ENV A=b".to_string()]).unwrap();
    let info = store
        .import(
            &gz[..],
            Some(&r("127.0.0.1:5000/bb:2")),
            &changes,
            Some("hello"),
        )
        .unwrap();
    assert_eq!(info.repo_tags, ["127.0.0.1:5000/bb:2"]);
    let manifest: Manifest =
        serde_json::from_slice(&store.content.read(&info.manifest).unwrap()).unwrap();
    assert_eq!(
        manifest.layers[0].media_type,
        api::image::MEDIA_TYPE_OCI_LAYER_GZIP
    );
    assert_eq!(manifest.layers[0].digest, Digest::sha256_of(&gz));
    let config = store.config(&info.id).unwrap();
    assert_ne!(
        config.rootfs.diff_ids[0],
        Digest::sha256_of(&gz),
        "diff id is of the uncompressed tar"
    );
    let cc = config.config.unwrap();
    assert_eq!(cc.cmd.unwrap(), ["sh"]);
    assert_eq!(cc.env.unwrap(), ["A=b"]);
    assert_eq!(config.history[0].comment.as_deref(), Some("hello"));
    let snap_dir_has_busybox = fs::read_dir(root.path().join("snapshots"))
        .unwrap()
        .flatten()
        .any(|d| d.path().join("snapshots/1/fs/bin/busybox").is_file());
    assert!(snap_dir_has_busybox);
}

fn prepared_rootfs_runs_busybox_layout(store: &ImageStore, root: &Path, gzip: bool) {
    testkit::require_root();
    let tar = busybox(root, gzip);
    let info = store
        .import(
            &tar[..],
            Some(&r("busybox")),
            &ImportChanges::default(),
            None,
        )
        .unwrap();
    let key = testkit::unique_name("ctr");
    let mounts = store.prepare_rootfs(&info.id, &key).unwrap();
    assert_eq!(store.rootfs_mounts(&key).unwrap(), mounts);
    let target = root.join("rootfs");
    fs::create_dir(&target).unwrap();
    {
        let _guard = snapshot::mount::mount_all(&mounts, &target).unwrap();
        let md = fs::metadata(target.join("bin/busybox")).unwrap();
        assert!(md.is_file() && md.len() > 100_000);
        assert_eq!(
            fs::read_link(target.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert!(fs::read_to_string(target.join("etc/passwd"))
            .unwrap()
            .starts_with("root:x:0:0"));
        fs::write(target.join("tmp/written-by-container"), "x").unwrap();
    }
    // The container's write stays in its own snapshot: a second container does not see it.
    let key2 = testkit::unique_name("ctr");
    let mounts2 = store.prepare_rootfs(&info.id, &key2).unwrap();
    {
        let _guard = snapshot::mount::mount_all(&mounts2, &target).unwrap();
        assert!(!target.join("tmp/written-by-container").exists());
    }
    // An image with a container on it cannot be removed without force.
    let in_use = |_: &Digest| Some("0123456789abcdef0123".to_string());
    let err = store.remove("busybox", false, &in_use).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to remove repository reference \"busybox\" (must force) - container 0123456789ab is using its referenced image {}",
            info.id.short()
        )
    );
    store.remove_rootfs(&key).unwrap();
    store.remove_rootfs(&key2).unwrap();
    store.remove_rootfs(&key2).unwrap(); // idempotent
    assert_eq!(store.remove("busybox", false, &never).unwrap().len(), 2);
    assert!(store.snapshots.list().unwrap().is_empty());
}

#[test]
fn privileged_overlay_rootfs_has_busybox_after_mounting() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::with_snapshotter(
        root.path(),
        Box::new(OverlaySnapshotter::open(&root.path().join("snapshots/overlay")).unwrap()),
    )
    .unwrap();
    prepared_rootfs_runs_busybox_layout(&store, root.path(), false);
}

#[test]
fn privileged_copy_rootfs_has_busybox_after_mounting() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::with_snapshotter(
        root.path(),
        Box::new(CopySnapshotter::open(&root.path().join("snapshots/copy")).unwrap()),
    )
    .unwrap();
    prepared_rootfs_runs_busybox_layout(&store, root.path(), true);
}

#[test]
fn corrupt_tarball_leaves_no_blob_snapshot_or_tag() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let mut garbage = vec![0x55u8; 2048];
    garbage[..5].copy_from_slice(b"hello");
    let err = store
        .import(
            &garbage[..],
            Some(&r("bad")),
            &ImportChanges::default(),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(err, ImageError::Unpack(UnpackError::Read(_))),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        store.resolve("bad").unwrap_err().to_string(),
        "No such image: bad:latest"
    );
    assert_empty(root.path(), &store);
}

#[test]
fn truncated_tarball_leaves_no_blob_snapshot_or_tag() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let tar = busybox(root.path(), false);
    // Cut inside the busybox binary's data.
    let cut = &tar[..tar.len() / 2];
    let err = store
        .import(cut, Some(&r("bad")), &ImportChanges::default(), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err:?}");
    assert_empty(root.path(), &store);
}

#[test]
fn truncated_gzip_tarball_leaves_no_blob_snapshot_or_tag() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let gz = busybox(root.path(), true);
    let err = store
        .import(
            &gz[..gz.len() - 100],
            Some(&r("bad")),
            &ImportChanges::default(),
            None,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err:?}");
    assert_empty(root.path(), &store);
}

#[test]
fn escaping_layer_is_refused_and_leaves_nothing() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_path("passwd").unwrap();
    h.set_link_name("/etc/passwd").unwrap();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &[][..]).unwrap();
    let tar = b.into_inner().unwrap();
    let err = store
        .import(&tar[..], None, &ImportChanges::default(), None)
        .unwrap_err();
    assert!(
        matches!(err, ImageError::Unpack(UnpackError::HardLinkOutside { .. })),
        "{err:?}"
    );
    assert_empty(root.path(), &store);
}

#[test]
fn rmi_untags_while_other_tags_remain_then_deletes() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let info = store
        .import(
            &tiny_tar("a")[..],
            Some(&r("app:v1")),
            &ImportChanges::default(),
            None,
        )
        .unwrap();
    store.tag(&info.id, &r("app:v2")).unwrap();
    store.tag(&info.id, &r("other/app")).unwrap();
    assert_eq!(
        store.resolve("app:v1").unwrap().repo_tags,
        ["app:v1", "app:v2", "other/app:latest"]
    );

    let err = store.remove(info.id.hex(), false, &never).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories", info.id.short())
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        store.remove("app:v1", false, &never).unwrap(),
        [Removed::Untagged("app:v1".into())]
    );
    assert_eq!(
        store.remove("other/app", false, &never).unwrap(),
        [Removed::Untagged("other/app:latest".into())]
    );
    let blobs_before = store.content.list().unwrap().len();
    assert_eq!(blobs_before, 3);
    assert_eq!(
        store.remove("app:v2", false, &never).unwrap(),
        [
            Removed::Untagged("app:v2".into()),
            Removed::Deleted(info.id.clone())
        ]
    );
    assert_empty(root.path(), &store);
}

#[test]
fn rmi_by_id_with_force_untags_everything() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let info = store
        .import(
            &tiny_tar("a")[..],
            Some(&r("app:v1")),
            &ImportChanges::default(),
            None,
        )
        .unwrap();
    store.tag(&info.id, &r("app:v2")).unwrap();
    let out = store.remove(&info.id.to_string(), true, &never).unwrap();
    assert_eq!(
        out,
        [
            Removed::Untagged("app:v1".into()),
            Removed::Untagged("app:v2".into()),
            Removed::Deleted(info.id.clone())
        ]
    );
    assert_empty(root.path(), &store);
}

#[test]
fn rmi_of_image_in_use() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let info = store
        .import(
            &tiny_tar("a")[..],
            Some(&r("app")),
            &ImportChanges::default(),
            None,
        )
        .unwrap();
    store.prepare_rootfs(&info.id, "ctr1").unwrap();
    let in_use = |_: &Digest| Some("feedfacefeedfacefeed".to_string());
    let err = store
        .remove(&info.id.hex()[..12], false, &in_use)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("conflict: unable to delete {} (must be forced) - image is being used by stopped container feedfacefeed", info.id.short())
    );
    let err = store.remove("app", false, &in_use).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("conflict: unable to remove repository reference \"app\" (must force)"));
    // Forced: untagged, but the image stays while its container exists.
    assert_eq!(
        store.remove("app", true, &in_use).unwrap(),
        [Removed::Untagged("app:latest".into())]
    );
    assert_eq!(
        store.resolve(info.id.hex()).unwrap().repo_tags,
        Vec::<String>::new()
    );
    store.remove_rootfs("ctr1").unwrap();
    assert_eq!(
        store.remove(info.id.hex(), false, &never).unwrap(),
        [Removed::Deleted(info.id.clone())]
    );
    assert_empty(root.path(), &store);
}

#[test]
fn shared_layers_survive_removal_of_one_image() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let a = store
        .import(
            &tiny_tar("same")[..],
            Some(&r("a")),
            &ImportChanges::default(),
            Some("a"),
        )
        .unwrap();
    let b = store
        .import(
            &tiny_tar("same")[..],
            Some(&r("b")),
            &ImportChanges::default(),
            Some("b"),
        )
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.top_layer, b.top_layer);
    store.remove("a", false, &never).unwrap();
    let key = "ctr";
    store.prepare_rootfs(&b.id, key).unwrap();
    let layer = b.top_layer.clone().unwrap();
    assert!(store.snapshots.stat(&layer.to_string()).is_ok());
    let manifest: Manifest =
        serde_json::from_slice(&store.content.read(&b.manifest).unwrap()).unwrap();
    assert!(store.content.exists(&manifest.layers[0].digest));
}

#[test]
fn ambiguous_prefix_and_tagging_rules() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            store
                .import(
                    &tiny_tar(&i.to_string())[..],
                    None,
                    &ImportChanges::default(),
                    None,
                )
                .unwrap()
                .id,
        );
    }
    // With 20 images, some pair shares a first hex character.
    let first = ids
        .iter()
        .find(|a| ids.iter().filter(|b| b.hex()[..1] == a.hex()[..1]).count() > 1)
        .unwrap();
    let err = store.resolve(&first.hex()[..1]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let with_digest = r(&format!("app@{}", ids[0]));
    assert_eq!(
        store.tag(&ids[0], &with_digest).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let missing = Digest::sha256_of(b"missing");
    assert_eq!(
        store.tag(&missing, &r("x")).unwrap_err().to_string(),
        format!("No such image: {missing}")
    );
    assert_eq!(
        store.config(&missing).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store.prepare_rootfs(&missing, "k").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Moving a tag.
    store.tag(&ids[0], &r("moving")).unwrap();
    store.tag(&ids[1], &r("moving")).unwrap();
    assert_eq!(store.resolve("moving").unwrap().id, ids[1]);
    assert_eq!(store.list().len(), 20);
}

#[test]
fn concurrent_imports_and_removals_are_consistent() {
    let root = testkit::TempDir::new("images");
    let store = Arc::new(ImageStore::open(root.path()).unwrap());
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                let tag = r(&format!("app:{i}"));
                // Half the threads import identical layers to race on the shared snapshot.
                let body = (i % 2).to_string();
                let info = store
                    .import(
                        &tiny_tar(&body)[..],
                        Some(&tag),
                        &ImportChanges::default(),
                        None,
                    )
                    .unwrap();
                if i >= 4 {
                    store.remove(&tag.to_string(), false, &never).unwrap();
                }
                info.id
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.list().len(), 4);
    drop(store);
    let store = ImageStore::open(root.path()).unwrap();
    for i in 0..4 {
        let info = store.resolve(&format!("app:{i}")).unwrap();
        let key = format!("c{i}");
        store.prepare_rootfs(&info.id, &key).unwrap();
    }
}

#[test]
fn open_cleans_up_after_a_crash() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::open(root.path()).unwrap();
    let info = store
        .import(
            &tiny_tar("a")[..],
            Some(&r("app")),
            &ImportChanges::default(),
            None,
        )
        .unwrap();
    // Crash leftovers: an extract snapshot, an unreferenced committed layer, an index temp.
    store.snapshots.prepare("extract-crashed", None).unwrap();
    store.snapshots.prepare("x", None).unwrap();
    store
        .snapshots
        .commit(&Digest::sha256_of(b"orphan").to_string(), "x")
        .unwrap();
    fs::write(
        content::atomic::temp_path_for(&root.path().join("images/index.json")),
        b"{",
    )
    .unwrap();
    drop(store);
    let store = ImageStore::open(root.path()).unwrap();
    let names: Vec<String> = store
        .snapshots
        .list()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, [info.top_layer.unwrap().to_string()]);
    assert_eq!(fs::read_dir(root.path().join("images")).unwrap().count(), 1);
    assert_eq!(store.resolve("app").unwrap().id, info.id);
}

/// A layer built in a snapshot on nothing (`COPY --link`) stacks on any image, and the same
/// blob stacks again on another base (`append_layer_of`) or at an index with a given history
/// entry (`append_layer_at`, `--cache-from`).
fn link_layer_stacks_on_any_base(store: &ImageStore, root: &Path) {
    testkit::require_root();
    let bb = store
        .import(
            &busybox(root, false)[..],
            Some(&r("busybox")),
            &ImportChanges::default(),
            None,
        )
        .unwrap();
    let other = store
        .import(
            &tiny_tar("other base\n")[..],
            Some(&r("other")),
            &ImportChanges::default(),
            None,
        )
        .unwrap();
    let key = testkit::unique_name("extract-build-link");
    store.prepare_empty_rootfs(&key).unwrap();
    {
        let m = store.mount_rootfs(&key).unwrap();
        assert_eq!(fs::read_dir(m.path()).unwrap().count(), 0, "an empty tree");
        fs::create_dir_all(m.path().join("opt/app")).unwrap();
        fs::write(m.path().join("opt/app/linked.txt"), "linked\n").unwrap();
    }
    let opts = CommitOptions {
        created_by: "COPY --link".into(),
        ..CommitOptions::default()
    };
    let on_bb = store.commit_snapshot_onto(&key, &bb.id, &opts).unwrap();
    store.remove_rootfs(&key).unwrap();
    let on_other = store.append_layer_of(&other.id, &on_bb.id, &opts).unwrap();
    let (c1, c2) = (
        store.config(&on_bb.id).unwrap(),
        store.config(&on_other.id).unwrap(),
    );
    assert_eq!(c1.rootfs.diff_ids.len(), 2);
    assert_eq!(c2.rootfs.diff_ids.len(), 2);
    assert_eq!(
        c1.rootfs.diff_ids[1], c2.rootfs.diff_ids[1],
        "the same layer"
    );
    assert_eq!(on_other.parent.as_ref(), Some(&other.id));
    assert_eq!(
        c2.history.last().unwrap().created_by.as_deref(),
        Some("COPY --link")
    );
    // The stacked image has both bases' files where they belong.
    let check = |image: &Digest, present: &str, absent: &str| {
        let k = testkit::unique_name("check");
        store.prepare_rootfs(image, &k).unwrap();
        {
            let m = store.mount_rootfs(&k).unwrap();
            assert_eq!(
                fs::read_to_string(m.path().join("opt/app/linked.txt")).unwrap(),
                "linked\n"
            );
            assert!(m.path().join(present).exists(), "{present}");
            assert!(!m.path().join(absent).exists(), "{absent}");
        }
        store.remove_rootfs(&k).unwrap();
    };
    check(&on_bb.id, "bin/busybox", "hello.txt");
    check(&on_other.id, "hello.txt", "bin/busybox");
    // Layer 1 of on_bb at index 1 with a history entry of the caller's.
    let entry = api::image::History {
        created: Some("2001-02-03T04:05:06Z".into()),
        created_by: Some("restored".into()),
        ..api::image::History::default()
    };
    let restored = store
        .append_layer_at(&other.id, &on_bb.id, Some(1), &opts, Some(entry.clone()))
        .unwrap();
    let c3 = store.config(&restored.id).unwrap();
    assert_eq!(c3.rootfs.diff_ids, c2.rootfs.diff_ids);
    assert_eq!(c3.history.last(), Some(&entry));
    assert_eq!(c3.created.as_deref(), Some("2001-02-03T04:05:06Z"));
}

#[test]
fn privileged_overlay_link_layer_stacks_on_any_base() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::with_snapshotter(
        root.path(),
        Box::new(OverlaySnapshotter::open(&root.path().join("snapshots/overlay")).unwrap()),
    )
    .unwrap();
    link_layer_stacks_on_any_base(&store, root.path());
}

#[test]
fn privileged_copy_link_layer_stacks_on_any_base() {
    let root = testkit::TempDir::new("images");
    let store = ImageStore::with_snapshotter(
        root.path(),
        Box::new(CopySnapshotter::open(&root.path().join("snapshots/copy")).unwrap()),
    )
    .unwrap();
    link_layer_stacks_on_any_base(&store, root.path());
}
