//! The mount of a `local` volume with driver options, as moby's `mount.Mount(device, target,
//! type, o)`: the flag words of `o` become mount flags, the rest is the file system's data;
//! propagation words are applied in a second call and `bind,ro` by a read-only remount. An
//! `addr=` host name of an `nfs`/`cifs` volume is resolved to an address first (the kernel
//! takes only addresses). Errors carry moby's text
//! (`mount DEVICE:TARGET, flags: 0x.., data: ..: <errno text>`).

use std::net::ToSocketAddrs;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// The propagation types (moby's `ptypes`).
const PTYPES: libc::c_ulong =
    libc::MS_SHARED | libc::MS_PRIVATE | libc::MS_SLAVE | libc::MS_UNBINDABLE;

/// Splits `o` into mount flags (propagation included, as moby's `parseOptions` returns them)
/// and the file system's data (every other word, `defaults` included, in order).
pub fn parse_options(o: &str) -> (libc::c_ulong, String) {
    let (flags, propagation, data) = api::mount::parse_options(o.split(','));
    (flags | propagation, data)
}

/// The value of the first `addr=` word of `o`.
fn address(o: &str) -> Option<&str> {
    o.split(',')
        .find_map(|w| w.strip_prefix("addr="))
        .filter(|a| !a.is_empty())
}

/// `o` with an `nfs`/`cifs` volume's `addr=` host name replaced by its address (IPv4
/// preferred, as Go's `ResolveIPAddr("ip", ...)`).
pub fn resolve_address(kind: &str, o: &str) -> Result<String, String> {
    if kind != "nfs" && kind != "cifs" {
        return Ok(o.to_string());
    }
    let Some(host) = address(o) else {
        return Ok(o.to_string());
    };
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(o.to_string());
    }
    let lookup = |h: &str| -> Result<std::net::IpAddr, String> {
        let addrs: Vec<std::net::IpAddr> = (h, 0u16)
            .to_socket_addrs()
            .map_err(|_| format!("lookup {h}: no such host"))?
            .map(|a| a.ip())
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| format!("lookup {h}: no such host"))
    };
    let ip = lookup(host)
        .map_err(|e| format!("error resolving passed in network volume address: {e}"))?;
    Ok(o.replacen(&format!("addr={host}"), &format!("addr={ip}"), 1))
}

/// The lowercase text Go prints for an errno.
fn errno_text(e: nix::errno::Errno) -> String {
    let s = e.desc();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s.to_string(),
    }
}

/// moby's `mountError` text.
fn mount_error(
    op: &str,
    source: &str,
    target: &Path,
    flags: libc::c_ulong,
    data: &str,
    e: nix::errno::Errno,
) -> String {
    let mut out = format!("{op} ");
    if source.is_empty() {
        out += &target.to_string_lossy();
    } else {
        out += &format!("{source}:{}", target.display());
    }
    if flags != 0 {
        out += &format!(", flags: 0x{flags:x}");
    }
    if !data.is_empty() {
        out += &format!(", data: {data}");
    }
    out + ": " + &errno_text(e)
}

/// Mounts `device` of file system `kind` on `target` with options `o`. On failure nothing
/// stays mounted and the error is moby's text (a `password=` value masked).
pub fn mount_volume(device: &str, target: &Path, kind: &str, o: &str) -> Result<(), String> {
    let opts = resolve_address(kind, o)?;
    let (flags, data) = parse_options(&opts);
    let mask = |s: String| match o
        .split(',')
        .find_map(|w| w.strip_prefix("password="))
        .filter(|p| !p.is_empty())
    {
        Some(p) => s.replacen(&format!("password={p}"), "password=********", 1),
        None => s,
    };
    let oflags = flags & !PTYPES;
    let remount = flags & libc::MS_REMOUNT != 0 || device.is_empty() || device == "none";
    let mut mounted = false;
    if !remount || !data.is_empty() {
        let ms = MsFlags::from_bits_retain(oflags);
        let data_arg = (!data.is_empty()).then_some(data.as_str());
        let fstype = (!kind.is_empty()).then_some(kind);
        mount(Some(device), target, fstype, ms, data_arg)
            .map_err(|e| mask(mount_error("mount", device, target, oflags, &data, e)))?;
        mounted = oflags & libc::MS_REMOUNT == 0;
    }
    let undo = |msg: String| {
        if mounted {
            let _ = umount2(target, MntFlags::MNT_DETACH);
        }
        mask(msg)
    };
    if flags & PTYPES != 0 {
        let pflags = flags & (PTYPES | libc::MS_REC | libc::MS_SILENT);
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::from_bits_retain(pflags),
            None::<&str>,
        )
        .map_err(|e| undo(mount_error("remount", "", target, pflags, "", e)))?;
    }
    let bind_ro = libc::MS_BIND | libc::MS_RDONLY;
    if oflags & bind_ro == bind_ro {
        mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::from_bits_retain(oflags | libc::MS_REMOUNT),
            None::<&str>,
        )
        .map_err(|e| undo(mount_error("remount-ro", "", target, oflags, "", e)))?;
    }
    Ok(())
}

/// Unmounts `target` (moby's `mount.Unmount`: EINVAL, not mounted, counts as done).
pub fn unmount(target: &Path) -> Result<(), String> {
    match umount2(target, MntFlags::empty()) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => Ok(()),
        Err(e) => Err(mount_error("unmount", "", target, 0, "", e)),
    }
}

/// Whether `path` is a mount point in this process's mount namespace (by its canonical
/// path in `/proc/self/mountinfo`; a bind of a directory on the same file system has the same
/// device number, so `stat` cannot tell).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let real = real.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| unescape(m) == real)
}

/// Undoes mountinfo's octal escapes (`\\040` for a space, ...).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data_as_moby() {
        assert_eq!(parse_options("size=1m,ro,nosuid"), (0x3, "size=1m".into()));
        // `defaults` is data in moby's table (its flag is 0); rbind = bind|rec.
        assert_eq!(
            parse_options("nosuid,size=1m,defaults,bind,rbind"),
            (0x5002, "size=1m,defaults".into())
        );
        assert_eq!(parse_options("bind"), (0x1000, String::new()));
        assert_eq!(parse_options("ro,rw"), (0, String::new()));
        assert_eq!(parse_options(""), (0, String::new()));
        assert_eq!(
            parse_options("addr=1.2.3.4,rw,nfsvers=4"),
            (0, "addr=1.2.3.4,nfsvers=4".into())
        );
    }

    #[test]
    fn addresses_are_resolved_for_nfs_only() {
        assert_eq!(
            resolve_address("tmpfs", "addr=localhost").unwrap(),
            "addr=localhost"
        );
        assert_eq!(
            resolve_address("nfs", "addr=10.0.0.1,rw").unwrap(),
            "addr=10.0.0.1,rw"
        );
        assert_eq!(
            resolve_address("nfs", "rw,addr=localhost,nolock").unwrap(),
            "rw,addr=127.0.0.1,nolock"
        );
        let e = resolve_address("nfs", "addr=nosuch.invalid").unwrap_err();
        assert_eq!(
            e,
            "error resolving passed in network volume address: lookup nosuch.invalid: no such host"
        );
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/plain\\"), "/plain\\");
    }

    #[test]
    fn errors_read_like_moby() {
        let e = mount_error(
            "mount",
            "nodev",
            Path::new("/v/_data"),
            3,
            "size=1m",
            nix::errno::Errno::ENODEV,
        );
        assert_eq!(
            e,
            "mount nodev:/v/_data, flags: 0x3, data: size=1m: no such device"
        );
        let e = mount_error(
            "mount",
            "/d",
            Path::new("/v"),
            0,
            "",
            nix::errno::Errno::ENOENT,
        );
        assert_eq!(e, "mount /d:/v: no such file or directory");
    }
}
