//! `run [--runtime berth|runc] [--root DIR] BUNDLE ID`: create, start, wait, delete; exits with
//! the container's code. A stand-in for `berth runtime run` until the CLI wires it.

use runtime::{BerthRuntime, ExternalRuntime, Runtime};

fn main() {
    let mut which = "berth".to_string();
    let mut root = None;
    let mut rest = Vec::new();
    let mut argv = std::env::args().skip(1);
    while let Some(a) = argv.next() {
        match a.as_str() {
            "--runtime" => which = argv.next().unwrap_or_default(),
            "--root" => root = argv.next(),
            _ => rest.push(a),
        }
    }
    let [bundle, id] = rest.as_slice() else {
        eprintln!("usage: run [--runtime berth|runc] [--root DIR] BUNDLE ID");
        std::process::exit(2);
    };
    if let Err(e) = runtime::become_subreaper() {
        eprintln!("error: {e}");
        std::process::exit(125);
    }
    let rt: Box<dyn Runtime> = match which.as_str() {
        "berth" => Box::new(BerthRuntime::new(
            root.unwrap_or_else(|| "/run/berth/runtime".into()).into(),
        )),
        other => Box::new(ExternalRuntime::new(
            other.into(),
            root.unwrap_or_else(|| "/run/berth/runc".into()).into(),
        )),
    };
    match runtime::run_bundle(rt.as_ref(), id, std::path::Path::new(bundle)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("error: {msg}");
            std::process::exit(e.exit_code().unwrap_or(125));
        }
    }
}
