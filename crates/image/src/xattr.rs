//! Setting extended attributes without following symlinks. `nix` has no xattr wrapper and the
//! `tar` crate's is behind a feature that pulls in another crate, so this is the one place in
//! `image` that calls libc directly.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `lsetxattr(path, name, value, 0)`.
pub(crate) fn lset(path: &Path, name: &[u8], value: &[u8]) -> io::Result<()> {
    let p = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let n = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `p` and `n` are valid NUL-terminated strings that outlive the call; `value`
    // points at `value.len()` readable bytes; lsetxattr does not retain any pointer.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `lgetxattr` into a vector; `Ok(None)` when the attribute is absent.
pub(crate) fn lget(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let p = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let n = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: as in `lset`; `buf` is writable for `buf.len()` bytes and the kernel writes at
    // most that many.
    let rc = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENODATA) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    buf.truncate(rc as usize);
    Ok(Some(buf))
}
