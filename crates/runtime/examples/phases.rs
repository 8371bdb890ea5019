//! `phases BUNDLE ID N`: times create, start, wait and delete of berth's runtime separately
//! (medians over N runs, microseconds), to see where container start time goes.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use runtime::{BerthRuntime, ContainerIo, Runtime};

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let (bundle, id, n) = (&argv[1], &argv[2], argv[3].parse::<usize>().unwrap_or(20));
    let rt = BerthRuntime::new("/run/berth/phases".into());
    let mut t = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..n {
        let dup = |f: &std::fs::File| -> OwnedFd {
            let f = f.try_clone().unwrap();
            // Owned by `f`, handed over.
            let fd = f.as_raw_fd();
            std::mem::forget(f);
            #[allow(unsafe_code)]
            // SAFETY: fd was just leaked from a File we owned.
            unsafe {
                OwnedFd::from_raw_fd(fd)
            }
        };
        let null = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .unwrap();
        let io = ContainerIo::Pipes {
            stdin: dup(&null),
            stdout: dup(&null),
            stderr: dup(&null),
        };
        let a = Instant::now();
        let c = rt.create(id, bundle.as_ref(), io).unwrap();
        let b = Instant::now();
        rt.start(id).unwrap();
        let cc = Instant::now();
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(c.pid), None);
        let d = Instant::now();
        rt.delete(id, false).unwrap();
        let e = Instant::now();
        for (i, (x, y)) in [(a, b), (b, cc), (cc, d), (d, e)].iter().enumerate() {
            t[i].push((*y - *x).as_micros());
        }
    }
    for (name, v) in ["create", "start", "wait", "delete"]
        .iter()
        .zip(t.iter_mut())
    {
        v.sort();
        println!(
            "{name:7} median {:6} us  max {:6} us",
            v[v.len() / 2],
            v[v.len() - 1]
        );
    }
}
