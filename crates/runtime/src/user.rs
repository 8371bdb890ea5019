//! Resolving a Docker `--user` value (`name|uid[:group|gid]`) against a root filesystem's
//! `/etc/passwd` and `/etc/group`, as Docker/runc do (moby/sys/user `GetExecUser`): numeric ids
//! work without the files; supplementary groups come from `/etc/group` only when no group is
//! given. Files are read through a symlink-safe join (`rootfs_path::secure_join`), so symlinks never lead
//! out of the rootfs.

use std::path::Path;

use crate::rootfs_path::secure_join;

/// A user spec could not be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("invalid user spec {0:?}")]
    Invalid(String),
    /// A `--group-add` group that the rootfs does not have (dockerd's capitalised text).
    #[error("Unable to find group {0}: no matching entries in group file")]
    NoGroupAdd(String),
}

impl UserError {
    /// Always the caller's mistake.
    pub fn kind(&self) -> api::ErrorKind {
        api::ErrorKind::InvalidArgument
    }
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read(rootfs: &Path, path: &str) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOFOLLOW: a link left unresolved by secure_join (a loop) is never followed to the host.
    let mut text = String::new();
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(secure_join(rootfs, path));
    if let Ok(mut f) = opened {
        let _ = f.read_to_string(&mut text);
    }
    text
}

fn passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map(|h| h.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn groups(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Resolves `spec` (`name|uid[:group|gid]`; empty = root) to (uid, gid, supplementary gids).
/// The supplementary list starts with the primary gid, as dockerd's spec has it
/// (`additionalGids: [gid, ...]`), so `id` in the container shows `groups=<gid>` too.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<(u32, u32, Vec<u32>), UserError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() && group.is_none() {
        return Ok((0, 0, vec![0]));
    }
    let users = passwd(&read(rootfs, "/etc/passwd"));
    let numeric_user = user.parse::<u32>().ok();
    let found = users
        .iter()
        .find(|e| e.name == user || numeric_user == Some(e.uid));
    let (uid, mut gid, name) = match (found, numeric_user) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name.clone())),
        (None, Some(n)) => (n, 0, None),
        (None, None) if user.is_empty() => (0, 0, None),
        (None, None) => return Err(UserError::NoUser(user.to_string())),
    };
    let group_list = groups(&read(rootfs, "/etc/group"));
    let mut extra = Vec::new();
    match group {
        Some(g) if !g.is_empty() => {
            let numeric = g.parse::<u32>().ok();
            gid = match group_list
                .iter()
                .find(|e| e.name == g || numeric == Some(e.gid))
            {
                Some(e) => e.gid,
                None => numeric.ok_or_else(|| UserError::NoGroup(g.to_string()))?,
            };
        }
        Some(_) => return Err(UserError::Invalid(spec.to_string())),
        None => {
            if let Some(name) = &name {
                for g in group_list
                    .iter()
                    .filter(|g| g.members.iter().any(|m| m == name))
                {
                    if !extra.contains(&g.gid) {
                        extra.push(g.gid);
                    }
                }
            }
        }
    }
    extra.retain(|g| *g != gid);
    extra.insert(0, gid);
    Ok((uid, gid, extra))
}

/// `--group-add` values as gids: group names from the rootfs's `/etc/group`, or numbers.
pub fn additional_groups(rootfs: &Path, add: &[String]) -> Result<Vec<u32>, UserError> {
    if add.is_empty() {
        return Ok(Vec::new());
    }
    let list = groups(&read(rootfs, "/etc/group"));
    add.iter()
        .map(|g| {
            list.iter()
                .find(|e| e.name == *g)
                .map(|e| e.gid)
                .or_else(|| g.parse().ok())
                .ok_or_else(|| UserError::NoGroupAdd(g.clone()))
        })
        .collect()
}

/// [`resolve`] plus the `--group-add` groups (after the user's own, without repeats).
pub fn resolve_with_groups(
    rootfs: &Path,
    spec: &str,
    add: &[String],
) -> Result<(u32, u32, Vec<u32>), UserError> {
    let (uid, gid, mut groups) = resolve(rootfs, spec)?;
    for g in additional_groups(rootfs, add)? {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    Ok((uid, gid, groups))
}

/// The `HOME` runc gives a process that has none: the home of `uid` in the rootfs's
/// `/etc/passwd`, else `/`.
pub fn home(rootfs: &Path, uid: u32) -> String {
    passwd(&read(rootfs, "/etc/passwd"))
        .into_iter()
        .find(|e| e.uid == uid)
        .map(|e| e.home)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// Adds `HOME=` (see [`home`]) to `env` unless it has one, as runc does for every process.
pub fn add_home(env: &mut Vec<String>, rootfs: &Path, uid: u32) {
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home(rootfs, uid)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> testkit::TempDir {
        let d = testkit::TempDir::new("user");
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nstaff:x:50:app,other\napp:x:1000:\nwheel:x:10:app\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn names_numbers_and_groups() {
        let d = rootfs();
        assert_eq!(resolve(d.path(), "").unwrap(), (0, 0, vec![0]));
        assert_eq!(
            resolve(d.path(), "nobody").unwrap(),
            (65534, 65534, vec![65534])
        );
        assert_eq!(
            resolve(d.path(), "app").unwrap(),
            (1000, 1000, vec![1000, 50, 10])
        );
        assert_eq!(
            resolve(d.path(), "1000").unwrap(),
            (1000, 1000, vec![1000, 50, 10])
        );
        assert_eq!(
            resolve(d.path(), "app:staff").unwrap(),
            (1000, 50, vec![50])
        );
        assert_eq!(
            resolve(d.path(), "4242:4343").unwrap(),
            (4242, 4343, vec![4343])
        );
        assert_eq!(resolve(d.path(), "4242").unwrap(), (4242, 0, vec![0]));
    }

    #[test]
    fn group_add_names_and_numbers() {
        let d = rootfs();
        assert_eq!(
            resolve_with_groups(d.path(), "nobody", &["staff".into(), "777".into()]).unwrap(),
            (65534, 65534, vec![65534, 50, 777])
        );
        assert_eq!(
            resolve_with_groups(d.path(), "app", &["wheel".into()]).unwrap(),
            (1000, 1000, vec![1000, 50, 10])
        );
        assert_eq!(
            additional_groups(d.path(), &["nosuch".into()])
                .unwrap_err()
                .to_string(),
            "Unable to find group nosuch: no matching entries in group file"
        );
    }

    #[test]
    fn home_from_passwd_or_slash() {
        let d = rootfs();
        assert_eq!(home(d.path(), 0), "/root");
        assert_eq!(home(d.path(), 1000), "/home/app");
        assert_eq!(home(d.path(), 4242), "/");
        let mut env = vec!["HOME=/x".to_string()];
        add_home(&mut env, d.path(), 0);
        assert_eq!(env, ["HOME=/x"]);
        let mut env = Vec::new();
        add_home(&mut env, d.path(), 1000);
        assert_eq!(env, ["HOME=/home/app"]);
    }

    #[test]
    fn docker_error_messages() {
        let d = rootfs();
        assert_eq!(
            resolve(d.path(), "nosuchuser").unwrap_err().to_string(),
            "unable to find user nosuchuser: no matching entries in passwd file"
        );
        assert_eq!(
            resolve(d.path(), "app:nogroup").unwrap_err().to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
    }

    #[test]
    fn numeric_ids_work_without_files_and_links_stay_inside() {
        let d = testkit::TempDir::new("user-empty");
        assert_eq!(resolve(d.path(), "7:8").unwrap(), (7, 8, vec![8]));
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("etc/passwd")).unwrap();
        // The host's passwd has root; through the rootfs the link resolves to <rootfs>/etc/passwd.
        assert!(resolve(d.path(), "root").is_err());
    }
}
