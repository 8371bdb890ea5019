//! The pure rules of `COPY`/`ADD` (reference §4 COPY and ADD): which sources are URLs or
//! wildcards, how a source path is confined to the context, the several-sources destination
//! rule, and `--chown` resolution against the image's `/etc/passwd` and `/etc/group` contents
//! (the executor reads the files; this module only parses their text).
//!
//! Messages are Docker's; the executor prefixes the copy errors with `COPY failed: ` (or
//! `ADD failed: `) as Docker prints them.

use api::ErrorKind;

/// A COPY/ADD that cannot proceed. `Display` is Docker's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// A source that leaves the context (`../x`).
    #[error("forbidden path outside the build context: {0} ()")]
    OutsideContext(String),
    /// Several sources into a destination without a trailing `/`.
    #[error("When using {0} with more than one source file, the destination must be a directory and end with a /")]
    DestinationNotDirectory(&'static str),
    /// A wildcard that matched nothing (classic builder).
    #[error("no source files were specified")]
    NoSourceFiles,
    /// A `--chown` that cannot be resolved.
    #[error("unable to convert uid/gid chown string to host mapping: {0}")]
    Chown(String),
}

impl CopyError {
    /// The user's Dockerfile or context.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// `ADD` downloads `http://` and `https://` sources.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Does the source contain `*`, `?` or `[` not escaped by `\`?
pub fn has_wildcards(source: &str) -> bool {
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// A source as a clean path relative to the context root (an absolute source is taken as
/// relative to the context); `.` for the root itself. Escaping the context is an error.
pub fn context_relative(source: &str) -> Result<String, CopyError> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in source.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() && !source.starts_with('/') {
                    return Err(CopyError::OutsideContext(source.to_string()));
                }
            }
            s => parts.push(s),
        }
    }
    Ok(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

/// Several sources (after wildcard expansion) need a destination ending in `/`.
pub fn check_destination(add: bool, sources: usize, dest: &str) -> Result<(), CopyError> {
    if sources > 1 && !dest.ends_with('/') {
        return Err(CopyError::DestinationNotDirectory(if add {
            "ADD"
        } else {
            "COPY"
        }));
    }
    Ok(())
}

/// Resolves `--chown=user[:group]` the classic builder's way: numbers are taken as they are;
/// names are looked up in the image's `/etc/passwd` and `/etc/group` (`None` when the file is
/// missing); without a group, the **user** string is also looked up as a group name (a
/// numeric `--chown=1234` gives gid 1234).
pub fn resolve_chown(
    chown: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<(u32, u32), CopyError> {
    let parts: Vec<&str> = chown.split(':').collect();
    let (user, grp) = match parts.as_slice() {
        [u] => (*u, *u),
        [u, g] => (*u, *g),
        _ => {
            return Err(CopyError::Chown(format!(
                "invalid chown string format: {chown}"
            )))
        }
    };
    let uid = lookup(user, passwd, "/etc/passwd", "user")
        .map_err(|e| CopyError::Chown(format!("can't find uid for user {user}: {e}")))?;
    let gid = lookup(grp, group, "/etc/group", "group")
        .map_err(|e| CopyError::Chown(format!("can't find gid for group {grp}: {e}")))?;
    Ok((uid, gid))
}

/// A number, or the id (third field) of the line named `name` in a passwd/group file.
fn lookup(name: &str, file: Option<&str>, path: &str, what: &str) -> Result<u32, String> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let Some(text) = file else {
        return Err(format!("open {path}: no such file or directory"));
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| f.get(2).and_then(|id| id.trim().parse().ok()))
        .ok_or_else(|| format!("no such {what}: {name}"))
}

/// An HTTP date (`Last-Modified`) as seconds since the epoch: the three forms HTTP/1.1
/// allows, as Go's `http.ParseTime` reads them (`Sun, 06 Nov 1994 08:49:37 GMT`,
/// `Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`). `None` when it is none.
pub fn parse_http_date(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = |m: &str| MONTHS.iter().position(|x| *x == m).map(|i| i as u32 + 1);
    let words: Vec<&str> = text.split_whitespace().collect();
    let (day, mon, year, time): (u32, u32, i64, &str) = match words.as_slice() {
        // IMF-fixdate.
        [_, d, m, y, t, "GMT"] => (d.parse().ok()?, month(m)?, y.parse::<i64>().ok()?, *t),
        // RFC 850: two-digit year.
        [_, dmy, t, "GMT"] => {
            let mut p = dmy.split('-');
            let (d, m, y) = (p.next()?, p.next()?, p.next()?);
            let y: i64 = y.parse().ok()?;
            let y = if y < 70 {
                2000 + y
            } else if y < 100 {
                1900 + y
            } else {
                y
            };
            (d.parse().ok()?, month(m)?, y, *t)
        }
        // asctime.
        [_, m, d, t, y] => (d.parse().ok()?, month(m)?, y.parse().ok()?, *t),
        _ => return None,
    };
    let hms: Vec<u32> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, se] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *mi > 59 || *se > 60 {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let (y, m) = if mon <= 2 {
        (year - 1, mon + 9)
    } else {
        (year, mon - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * i64::from(m) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + i64::from(*h) * 3600 + i64::from(*mi) * 60 + i64::from(*se))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\napp:x:1000:\nextra:x:2000:app\n";

    #[test]
    fn http_dates_in_the_three_forms() {
        // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
        for t in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(t), Some(784_111_777), "{t}");
        }
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 23:59:59 GMT"),
            Some(951_868_799)
        );
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"), None);
    }

    #[test]
    fn urls_and_wildcards() {
        assert!(is_url("https://example.com/x") && !is_url("ftp://x") && !is_url("x"));
        assert!(has_wildcards("dir/*.txt") && has_wildcards("a?") && has_wildcards("[ab]"));
        assert!(!has_wildcards(r"a\*b") && !has_wildcards("plain"));
    }

    #[test]
    fn sources_stay_inside_the_context() {
        // "An absolute source path is also taken as relative to the context. A source escaping
        // the context: COPY failed: forbidden path outside the build context: ../x ()"
        assert_eq!(context_relative("/etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(context_relative("./a/../b/").unwrap(), "b");
        assert_eq!(context_relative(".").unwrap(), ".");
        assert_eq!(context_relative("/..").unwrap(), ".");
        assert_eq!(
            context_relative("../x").unwrap_err().to_string(),
            "forbidden path outside the build context: ../x ()"
        );
        assert!(context_relative("a/../../x").is_err());
    }

    #[test]
    fn several_sources_need_a_directory() {
        // "When using COPY with more than one source file, the destination must be a
        // directory and end with a /"
        assert!(check_destination(false, 2, "/m/").is_ok());
        assert!(check_destination(false, 1, "/m").is_ok());
        assert_eq!(
            check_destination(false, 2, "/m").unwrap_err().to_string(),
            "When using COPY with more than one source file, the destination must be a directory and end with a /"
        );
        assert!(check_destination(true, 3, "/m")
            .unwrap_err()
            .to_string()
            .starts_with("When using ADD"));
    }

    #[test]
    fn chown_classic_rules() {
        // "--chown=app without a group looks up a group named app (error if none); a numeric
        // --chown=1234 gives gid 1234"
        assert_eq!(resolve_chown("1234", None, None).unwrap(), (1234, 1234));
        assert_eq!(resolve_chown("1:2", None, None).unwrap(), (1, 2));
        assert_eq!(
            resolve_chown("app", Some(PASSWD), Some(GROUP)).unwrap(),
            (1000, 1000)
        );
        assert_eq!(
            resolve_chown("app:extra", Some(PASSWD), Some(GROUP)).unwrap(),
            (1000, 2000)
        );
        assert_eq!(
            resolve_chown("nouser", Some(PASSWD), Some(GROUP)).unwrap_err().to_string(),
            "unable to convert uid/gid chown string to host mapping: can't find uid for user nouser: no such user: nouser"
        );
        assert!(resolve_chown("app:nogroup", Some(PASSWD), Some(GROUP))
            .unwrap_err()
            .to_string()
            .ends_with("can't find gid for group nogroup: no such group: nogroup"));
        assert!(resolve_chown("app", None, None)
            .unwrap_err()
            .to_string()
            .contains("open /etc/passwd: no such file or directory"));
        assert!(resolve_chown("a:b:c", None, None).is_err());
    }
}
