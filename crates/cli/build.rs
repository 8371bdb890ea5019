//! Links `berth` as a position-dependent executable (`-no-pie`).
//!
//! Every container has a `berth shim` process for its whole life, so what each shim keeps
//! privately is the per-container memory cost. In a PIE, the dynamic loader relocates every
//! pointer in `.data.rel.ro` (vtables, `&'static str` tables, panic locations: ~320 KiB here) at
//! start, which turns those pages into private copies in every process. A position-dependent
//! executable has them resolved at link time, so they stay clean page-cache pages shared by the
//! daemon and all shims (containerd-shim-runc-v2 is built the same way). The cost is that the
//! binary's own text is not randomized by ASLR; libraries, heap, stacks and mmaps still are.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=berth=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
