//! Writes a busybox OCI bundle with Docker's default spec (default seccomp profile included):
//! `make-bundle DIR [ARGS...]` (ARGS default to `true`). Used by `bench/runtime-latency`.

use api::oci::defaults::{docker_spec, SpecOptions};

fn main() {
    let mut argv = std::env::args().skip(1);
    let Some(dir) = argv.next() else {
        eprintln!("usage: make-bundle DIR [ARGS...]");
        std::process::exit(2);
    };
    let mut args: Vec<String> = argv.collect();
    if args.is_empty() {
        args.push("true".into());
    }
    let dir = std::path::PathBuf::from(dir);
    let rootfs = dir.join("rootfs");
    if !rootfs.join("bin/busybox").exists() {
        testkit::busybox_rootfs(&rootfs).expect("build the busybox rootfs");
    }
    let opts = SpecOptions {
        root_path: "rootfs".into(),
        args,
        hostname: "bench".into(),
        host_bounding_set: runtime::host_bounding_set().ok(),
        kernel_version: runtime::host_kernel_version(),
        ..Default::default()
    };
    let built = docker_spec(&opts).expect("build the spec");
    std::fs::write(dir.join("config.json"), built.spec.to_json()).expect("write config.json");
    if std::env::var_os("BERTH_TIME_SECCOMP").is_some() {
        let section = built
            .spec
            .linux
            .as_ref()
            .and_then(|l| l.seccomp.as_ref())
            .expect("a seccomp section");
        let n = 1000u32;
        let start = std::time::Instant::now();
        for _ in 0..n {
            runtime::seccomp::compile(section).expect("compile");
        }
        let len = runtime::seccomp::compile(section)
            .expect("compile")
            .filter
            .len();
        eprintln!(
            "seccomp: Docker default profile -> {len} BPF instructions, {:?} per compile",
            start.elapsed() / n
        );
    }
}
