//! The conformance suite every [`Snapshotter`] passes: each check takes a constructor (called
//! with a fresh root per test, and again on the same root to test reopening).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use api::ErrorKind;

use crate::{Kind, SnapshotError, Snapshotter, WhiteoutStyle};

pub(crate) type Make = dyn Fn(&Path) -> Box<dyn Snapshotter>;

fn write(s: &dyn Snapshotter, key: &str, rel: &str, text: &str) {
    let t = s.apply_target(key).unwrap();
    let p = t.dir.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// Records the deletion of `rel` the way this snapshotter wants it.
fn delete(s: &dyn Snapshotter, key: &str, rel: &str) {
    let t = s.apply_target(key).unwrap();
    let p = t.dir.join(rel);
    match t.whiteouts {
        WhiteoutStyle::Delete => fs::remove_file(p).unwrap(),
        WhiteoutStyle::Overlay => nix::sys::stat::mknod(
            &p,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap(),
    }
}

/// base: a, dir/c ; top (on base): deletes a, adds d.
fn two_layers(s: &dyn Snapshotter) {
    s.prepare("x1", None).unwrap();
    write(s, "x1", "a", "A");
    write(s, "x1", "dir/c", "C");
    s.commit("base", "x1").unwrap();
    s.prepare("x2", Some("base")).unwrap();
    write(s, "x2", "d", "D");
    s.commit("top", "x2").unwrap();
}

/// The lower directories of an active snapshot show its parents' content, top layer first.
pub(crate) fn lower_dirs_show_the_parent_state(make: &Make) {
    let root = testkit::TempDir::new("snap");
    let s = make(root.path());
    two_layers(&*s);
    s.prepare("work", Some("top")).unwrap();
    let lowers = s.lower_dirs("work").unwrap();
    assert!(!lowers.is_empty());
    let find = |rel: &str| lowers.iter().find(|d| d.join(rel).exists()).cloned();
    assert_eq!(
        fs::read_to_string(find("d").unwrap().join("d")).unwrap(),
        "D"
    );
    assert_eq!(
        fs::read_to_string(find("dir/c").unwrap().join("dir/c")).unwrap(),
        "C"
    );
    s.prepare("fresh", None).unwrap();
    assert!(s.lower_dirs("fresh").unwrap().is_empty());
}

pub(crate) fn prepare_commit_stat_list(make: &Make) {
    let root = testkit::TempDir::new("snap");
    let s = make(root.path());
    s.prepare("k", None).unwrap();
    let info = s.stat("k").unwrap();
    assert_eq!((info.kind, info.parent.as_deref()), (Kind::Active, None));
    write(&*s, "k", "f", "x");
    s.commit("layer", "k").unwrap();
    assert_eq!(s.stat("k").unwrap_err().kind(), ErrorKind::NotFound);
    let info = s.stat("layer").unwrap();
    assert_eq!(info.kind, Kind::Committed);
    s.prepare("child", Some("layer")).unwrap();
    assert_eq!(s.stat("child").unwrap().parent.as_deref(), Some("layer"));
    let mut names: Vec<_> = s
        .list()
        .unwrap()
        .into_iter()
        .map(|i| (i.name, i.kind))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        vec![
            ("child".to_string(), Kind::Active),
            ("layer".to_string(), Kind::Committed)
        ]
    );
}

pub(crate) fn duplicate_and_invalid_keys(make: &Make) {
    let root = testkit::TempDir::new("snap");
    let s = make(root.path());
    s.prepare("k", None).unwrap();
    let err = s.prepare("k", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(err.to_string(), "snapshot k already exists");
    assert_eq!(
        s.view("k", None).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        s.prepare("", None).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    s.prepare("k2", None).unwrap();
    s.commit("c", "k2").unwrap();
    assert_eq!(
        s.commit("c", "k").unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        s.stat("k").unwrap().kind,
        Kind::Active,
        "failed commit leaves the key"
    );
}

pub(crate) fn parent_must_exist_and_be_committed(make: &Make) {
    let root = testkit::TempDir::new("snap");
    let s = make(root.path());
    let err = s.prepare("k", Some("nope")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    s.prepare("active", None).unwrap();
    let err = s.prepare("k", Some("active")).unwrap_err();
    assert!(
        matches!(err, SnapshotError::ParentNotCommitted { .. }),
        "{err}"
    );
    assert_eq!(
        s.view("v", Some("active")).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(s.stat("k").unwrap_err().kind(), ErrorKind::NotFound);
}

pub(crate) fn only_active_snapshots_commit(make: &Make) {
    let root = testkit::TempDir::new("snap");
    let s = make(root.path());
    s.view("v", None).unwrap();
    let err = s.commit("c", "v").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(
        s.commit("c", "missing").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    s.prepare("k", None).unwrap();
    s.commit("c", "k").unwrap();
    assert_eq!(s.commit("d", "c").unwrap_err().kind(), ErrorKind::Conflict);
    assert_eq!(s.apply_target("c").unwrap_err().kind(), ErrorKind::Conflict);
}

pub(crate) fn remove_refuses_parents_and_frees_content(make: &Make) {
    let root = testkit::TempDir::new("snap");
    let s = make(root.path());
    two_layers(&*s);
    let err = s.remove("base").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("has children"), "{err}");
    s.remove("top").unwrap();
    s.remove("base").unwrap();
    assert!(s.list().unwrap().is_empty());
    assert_eq!(s.remove("base").unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        fs::read_dir(root.path().join("snapshots")).unwrap().count(),
        0
    );
}

pub(crate) fn mounts_by_state(make: &Make) {
    let root = testkit::TempDir::new("snap");
    let s = make(root.path());
    let m = s.prepare("k", None).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].kind, "bind");
    assert!(m[0].options.contains(&"rw".to_string()));
    assert_eq!(s.mounts("k").unwrap(), m);
    s.commit("c", "k").unwrap();
    assert_eq!(s.mounts("c").unwrap_err().kind(), ErrorKind::Conflict);
    let v = s.view("v", Some("c")).unwrap();
    assert!(v[0].options.contains(&"ro".to_string()), "{v:?}");
    let a = s.prepare("a", Some("c")).unwrap();
    assert!(
        !a.iter().any(|m| m.options.contains(&"ro".to_string())),
        "{a:?}"
    );
    assert_eq!(s.mounts("missing").unwrap_err().kind(), ErrorKind::NotFound);
}

pub(crate) fn usage_counts_own_content(make: &Make) {
    let root = testkit::TempDir::new("snap");
    let s = make(root.path());
    s.prepare("k", None).unwrap();
    assert_eq!(s.usage("k").unwrap().size, 0);
    write(&*s, "k", "f", "12345");
    write(&*s, "k", "d/g", "123");
    let u = s.usage("k").unwrap();
    assert_eq!((u.size, u.inodes), (8, 3));
}

pub(crate) fn state_survives_reopen_and_orphans_go(make: &Make) {
    let root = testkit::TempDir::new("snap");
    {
        let s = make(root.path());
        two_layers(&*s);
        s.prepare("active", Some("top")).unwrap();
    }
    // Simulate a crash between creating a directory and recording it.
    fs::create_dir_all(root.path().join("snapshots/999/fs")).unwrap();
    let s = make(root.path());
    assert_eq!(s.list().unwrap().len(), 3);
    assert_eq!(s.stat("active").unwrap().parent.as_deref(), Some("top"));
    assert!(!root.path().join("snapshots/999").exists());
    // Ids are not reused after reopen.
    s.prepare("another", None).unwrap();
    assert_eq!(s.list().unwrap().len(), 4);
}

pub(crate) fn concurrent_prepares_all_succeed(make: &Make) {
    let root = testkit::TempDir::new("snap");
    let s: Arc<dyn Snapshotter> = Arc::from(make(root.path()));
    s.prepare("b", None).unwrap();
    s.commit("base", "b").unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || s.prepare(&format!("c{i}"), Some("base")).map(|_| ()))
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    assert_eq!(s.list().unwrap().len(), 9);
    drop(s);
    assert_eq!(make(root.path()).list().unwrap().len(), 9);
}

/// Privileged: mounts an active snapshot on two layers and checks what a container would see.
pub(crate) fn mounted_layers_show_merged_tree(make: &Make) {
    testkit::require_root();
    let root = testkit::TempDir::new("snap");
    let s = make(root.path());
    s.prepare("x1", None).unwrap();
    write(&*s, "x1", "a", "A");
    write(&*s, "x1", "b", "B");
    write(&*s, "x1", "dir/c", "C");
    s.commit("base", "x1").unwrap();
    s.prepare("x2", Some("base")).unwrap();
    write(&*s, "x2", "d", "D");
    delete(&*s, "x2", "a");
    s.commit("top", "x2").unwrap();

    let target = root.path().join("mnt");
    fs::create_dir(&target).unwrap();
    let mounts = s.prepare("ctr", Some("top")).unwrap();
    {
        let _guard = crate::mount::mount_all(&mounts, &target).unwrap();
        assert!(!target.join("a").exists(), "deleted in top");
        assert_eq!(fs::read_to_string(target.join("b")).unwrap(), "B");
        assert_eq!(fs::read_to_string(target.join("dir/c")).unwrap(), "C");
        assert_eq!(fs::read_to_string(target.join("d")).unwrap(), "D");
        fs::write(target.join("new"), "N").unwrap();
        fs::remove_file(target.join("b")).unwrap();
    }
    // Writes went to the active snapshot only.
    let view = s.view("v", Some("top")).unwrap();
    {
        let _guard = crate::mount::mount_all(&view, &target).unwrap();
        assert_eq!(fs::read_to_string(target.join("b")).unwrap(), "B");
        assert!(!target.join("new").exists());
        let err = fs::write(target.join("x"), "x").unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(nix::errno::Errno::EROFS as i32),
            "{err}"
        );
    }
    let mounts = s.mounts("ctr").unwrap();
    {
        let _guard = crate::mount::mount_all(&mounts, &target).unwrap();
        assert_eq!(fs::read_to_string(target.join("new")).unwrap(), "N");
        assert!(!target.join("b").exists());
    }
    s.remove("v").unwrap();
    s.remove("ctr").unwrap();
}

/// Privileged: an active snapshot with no parent mounts read-write and keeps modes.
pub(crate) fn mounted_empty_active_is_writable(make: &Make) {
    testkit::require_root();
    let root = testkit::TempDir::new("snap");
    let s = make(root.path());
    let target = root.path().join("mnt");
    fs::create_dir(&target).unwrap();
    let mounts = s.prepare("k", None).unwrap();
    {
        let _guard = crate::mount::mount_all(&mounts, &target).unwrap();
        fs::write(target.join("f"), "x").unwrap();
        fs::set_permissions(target.join("f"), fs::Permissions::from_mode(0o751)).unwrap();
    }
    s.commit("c", "k").unwrap();
    s.prepare("k2", Some("c")).unwrap();
    let t = s.apply_target("k2").unwrap();
    if t.whiteouts == WhiteoutStyle::Delete {
        // Full copy: content and mode carried over.
        assert_eq!(
            fs::metadata(t.dir.join("f")).unwrap().permissions().mode() & 0o7777,
            0o751
        );
    }
}

macro_rules! conformance {
    ($modname:ident, $make:expr) => {
        mod $modname {
            use super::*;
            fn make() -> Box<Make> {
                Box::new($make)
            }
            #[test]
            fn lower_dirs_show_the_parent_state() {
                super::lower_dirs_show_the_parent_state(&*make());
            }
            #[test]
            fn prepare_commit_stat_list() {
                super::prepare_commit_stat_list(&*make());
            }
            #[test]
            fn duplicate_and_invalid_keys() {
                super::duplicate_and_invalid_keys(&*make());
            }
            #[test]
            fn parent_must_exist_and_be_committed() {
                super::parent_must_exist_and_be_committed(&*make());
            }
            #[test]
            fn only_active_snapshots_commit() {
                super::only_active_snapshots_commit(&*make());
            }
            #[test]
            fn remove_refuses_parents_and_frees_content() {
                super::remove_refuses_parents_and_frees_content(&*make());
            }
            #[test]
            fn mounts_by_state() {
                super::mounts_by_state(&*make());
            }
            #[test]
            fn usage_counts_own_content() {
                super::usage_counts_own_content(&*make());
            }
            #[test]
            fn state_survives_reopen_and_orphans_go() {
                super::state_survives_reopen_and_orphans_go(&*make());
            }
            #[test]
            fn concurrent_prepares_all_succeed() {
                super::concurrent_prepares_all_succeed(&*make());
            }
            #[test]
            fn privileged_mounted_layers_show_merged_tree() {
                super::mounted_layers_show_merged_tree(&*make());
            }
            #[test]
            fn privileged_mounted_empty_active_is_writable() {
                super::mounted_empty_active_is_writable(&*make());
            }
        }
    };
}

conformance!(
    overlay,
    |root: &Path| Box::new(crate::OverlaySnapshotter::open(root).unwrap()) as Box<dyn Snapshotter>
);
conformance!(
    copy,
    |root: &Path| Box::new(crate::CopySnapshotter::open(root).unwrap()) as Box<dyn Snapshotter>
);

#[test]
fn overlay_mount_options_name_the_parent_chain() {
    let root = testkit::TempDir::new("snap");
    let s = crate::OverlaySnapshotter::open(root.path()).unwrap();
    two_layers(&s);
    let m = s.prepare("ctr", Some("top")).unwrap();
    let dirs = root.path().join("snapshots");
    assert_eq!(m[0].kind, "overlay");
    assert_eq!(
        m[0].options,
        vec![
            format!(
                "lowerdir={}:{}",
                dirs.join("2/fs").display(),
                dirs.join("1/fs").display()
            ),
            format!("upperdir={}", dirs.join("3/fs").display()),
            format!("workdir={}", dirs.join("3/work").display()),
        ]
    );
    let v = s.view("v1", Some("base")).unwrap();
    assert_eq!(
        (v[0].kind.as_str(), v[0].source.clone()),
        ("bind", dirs.join("1/fs").display().to_string())
    );
    let v = s.view("v2", Some("top")).unwrap();
    assert_eq!(
        v[0].options,
        vec![format!(
            "lowerdir={}:{}",
            dirs.join("2/fs").display(),
            dirs.join("1/fs").display()
        )]
    );
}
