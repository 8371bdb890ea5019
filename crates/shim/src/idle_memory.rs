//! Giving memory back while the shim idles.
//!
//! A shim lives as long as its container and spends nearly all of that time blocked in poll(2),
//! so what it keeps mapped after setup is its per-container cost. Two things linger from setup:
//!
//! - free heap (the parsed bundle, the runtime's plan): `malloc_trim` returns it;
//! - pages of the `berth` binary and shared libraries that setup touched (several MiB: the
//!   runtime, serde, the seccomp compiler). They are page-cache pages shared with the daemon and
//!   every other shim, but each process that mapped them counts them in its RSS and page tables.
//!   `MADV_DONTNEED` on a read-only private file mapping with no copied-on-write page only drops
//!   this process's page-table entries: the next access faults the same page-cache page back in
//!   (a minor fault), so nothing is lost and the idle loop re-maps just the little it runs.
//!
//! Writable mappings and any mapping holding anonymous (COW) pages, such as relocated RELRO
//! data, are never touched: dropping those would lose their contents. The one exception is the
//! part of the main thread's stack more than 16 KiB below the current frame: setup (the runtime's
//! plan, serde) ran far deeper than the idle loop does, and those frames are dead, so their pages
//! are handed back too (a later deeper call gets fresh zero pages).

use std::fs;

/// Returns free heap to the kernel and unmaps clean file-backed pages (see the module doc).
/// Best effort: a failure leaves memory as it was.
pub fn release() {
    drop_mappings();
    // Last, so the smaps text read above (tens of KiB at the top of the heap, below glibc's
    // automatic trim threshold) goes back too.
    // SAFETY: malloc_trim only hands free heap pages back to the kernel; it does not move or
    // invalidate any live allocation. The shim is single-threaded, so no allocation races it.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The stack and file-mapping part of [`release`].
fn drop_mappings() {
    let Ok(smaps) = fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    if let Some((start, _)) = stack_range(&smaps) {
        let here = 0u8;
        let sp = std::ptr::addr_of!(here) as usize;
        // The margin covers the frames of the calls below this one (madvise's wrapper).
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .map_or(4096, |p| p as usize);
        let top = sp.saturating_sub(DEAD_STACK_MARGIN) & !(page - 1);
        if top > start {
            // SAFETY: [start, top) lies in this thread's stack mapping more than 16 KiB below
            // the current frame; everything there belongs to frames that have returned (the
            // shim is single-threaded and its signals are blocked and read through a signalfd,
            // so no handler runs there). MADV_DONTNEED turns those pages into zero-fill-on-demand
            // pages, which is all a future deeper call expects of unused stack.
            unsafe {
                libc::madvise(start as *mut libc::c_void, top - start, libc::MADV_DONTNEED);
            }
        }
    }
    for (start, len) in droppable(&smaps) {
        // SAFETY: [start, start+len) is a whole mapping of this process that `droppable` found to
        // be file-backed, private, not writable and without anonymous pages, so every page in it
        // is an unmodified page-cache page: MADV_DONTNEED only removes our page-table entries and
        // later accesses read identical contents from the file. Nothing else runs in this
        // single-threaded process between reading smaps and this call, so the mapping cannot
        // have changed.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
}

/// How far below the current frame the stack is kept.
const DEAD_STACK_MARGIN: usize = 16 << 10;

/// The main thread's stack mapping in `/proc/self/smaps` text: `(start, end)`.
fn stack_range(smaps: &str) -> Option<(usize, usize)> {
    smaps.lines().find_map(|l| {
        if !l.trim_end().ends_with("[stack]") {
            return None;
        }
        let (a, b) = l.split_whitespace().next()?.split_once('-')?;
        Some((
            usize::from_str_radix(a, 16).ok()?,
            usize::from_str_radix(b, 16).ok()?,
        ))
    })
}

/// The mappings of `/proc/self/smaps` text that can be dropped safely: `(start, length)`.
fn droppable(smaps: &str) -> Vec<(usize, usize)> {
    struct Mapping {
        start: usize,
        len: usize,
        eligible: bool,
        rss: u64,
        anonymous: u64,
        locked: bool,
    }
    let mut out = Vec::new();
    let mut cur: Option<Mapping> = None;
    let finish = |m: Option<Mapping>, out: &mut Vec<(usize, usize)>| {
        if let Some(m) = m {
            if m.eligible && m.rss > 0 && m.anonymous == 0 && !m.locked {
                out.push((m.start, m.len));
            }
        }
    };
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                finish(cur.take(), &mut out);
                let perms = words.next().unwrap_or("");
                let inode = words.nth(2).unwrap_or("0");
                let path = words.next().unwrap_or("");
                let eligible = perms.len() == 4
                    && perms.as_bytes()[0] == b'r'
                    && perms.as_bytes()[1] != b'w'
                    && perms.as_bytes()[3] == b'p'
                    && inode != "0"
                    && path.starts_with('/');
                cur = Some(Mapping {
                    start,
                    len: end.saturating_sub(start),
                    eligible,
                    rss: 0,
                    anonymous: 0,
                    locked: false,
                });
                continue;
            }
        }
        let Some(m) = cur.as_mut() else { continue };
        let value = words.next().and_then(|v| v.parse::<u64>().ok());
        match first {
            "Rss:" => m.rss = value.unwrap_or(0),
            // Unparsable counts keep the mapping out rather than risk dropping COW pages.
            "Anonymous:" => m.anonymous = value.unwrap_or(u64::MAX),
            "Locked:" => m.locked = value != Some(0),
            "VmFlags:" => m.locked |= line.split_whitespace().any(|f| f == "lo"),
            _ => {}
        }
    }
    finish(cur.take(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
5632d5fc4000-5632d6000000 r--p 00000000 fd:01 1234                       /usr/bin/berth
Rss:                 880 kB
Anonymous:             0 kB
Locked:                0 kB
VmFlags: rd mr mw me sd
5632d6000000-5632d7000000 r-xp 0003c000 fd:01 1234                       /usr/bin/berth
Rss:                3880 kB
Anonymous:             0 kB
Locked:                0 kB
VmFlags: rd ex mr mw me sd
5632d7000000-5632d7100000 r--p 0103c000 fd:01 1234                       /usr/bin/berth
Rss:                 304 kB
Anonymous:           304 kB
Locked:                0 kB
VmFlags: rd mr mw me ac sd
5632d7100000-5632d7200000 rw-p 0113c000 fd:01 1234                       /usr/bin/berth
Rss:                  40 kB
Anonymous:            40 kB
VmFlags: rd wr mr mw me ac sd
5632d7200000-5632d7300000 rw-p 00000000 00:00 0                          [heap]
Rss:                 592 kB
Anonymous:           592 kB
7f0000000000-7f0000001000 r--p 00000000 fd:01 99                         /usr/lib/libc.so.6
Rss:                   0 kB
Anonymous:             0 kB
7f0000001000-7f0000002000 r-xp 00000000 fd:01 99                         /usr/lib/libc.so.6
Rss:                   4 kB
Anonymous:             0 kB
Locked:                4 kB
VmFlags: rd ex mr mw me lo
7ffcc9380000-7ffcc93a7000 rw-p 00000000 00:00 0                          [stack]
Rss:                 144 kB
Anonymous:           144 kB
7ffcc93f0000-7ffcc93f2000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   8 kB
Anonymous:             0 kB
";

    #[test]
    fn only_clean_read_only_file_mappings() {
        assert_eq!(
            droppable(SMAPS),
            vec![(0x5632d5fc4000, 0x3c000), (0x5632d6000000, 0x1000000)]
        );
    }

    #[test]
    fn finds_the_stack() {
        assert_eq!(stack_range(SMAPS), Some((0x7ffcc9380000, 0x7ffcc93a7000)));
        assert_eq!(
            stack_range("1000-2000 r-xp 00000000 fd:01 7 /bin/x\n"),
            None
        );
    }

    #[test]
    fn unreadable_counts_keep_the_mapping() {
        let smaps = "1000-2000 r-xp 00000000 fd:01 7 /bin/x\nRss: 4 kB\nAnonymous: ? kB\n";
        assert!(droppable(smaps).is_empty());
    }

    #[test]
    fn finds_this_process_text() {
        // The test binary's own code is a clean, read-only file mapping once it has run.
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let f = finds_this_process_text as fn() as usize;
        assert!(
            droppable(&smaps)
                .iter()
                .any(|&(start, len)| (start..start + len).contains(&f)),
            "{smaps}"
        );
    }
}
