//! `berth system prune`: done client-side, as docker's CLI does, by calling each prune endpoint
//! in docker's order (containers, networks, volumes with `--volumes`, images, build cache) and
//! printing each report, then the total.

use hyper::Method;
use serde_json::Value;

use super::{println, Ctx};
use crate::args::SystemPruneArgs;
use crate::client::{empty_body, read_json, ClientError, Query};
use crate::error::StatusError;

/// `berth system prune [-a] [-f] [--volumes] [--filter until=|label=]`.
pub async fn system_prune(ctx: &Ctx, args: SystemPruneArgs) -> anyhow::Result<i32> {
    if args.volumes && args.filter.iter().any(|f| f.starts_with("until=")) {
        return Err(StatusError::new(
            1,
            r#"ERROR: The "until" filter is not supported with "--volumes""#,
        )
        .into());
    }
    if !args.force && !crate::opts::confirm(&warning(&args))? {
        return Ok(0);
    }
    let filters = |extra: Option<&str>| -> anyhow::Result<Query> {
        let mut all = args.filter.clone();
        all.extend(extra.map(String::from));
        let mut q = Query::new();
        if let Some(f) = crate::opts::filters_json(&all).map_err(|e| StatusError::new(125, e))? {
            q.add("filters", f);
        }
        Ok(q)
    };
    let client = ctx.client().await?;
    let mut reclaimed = 0u64;
    let mut report = |title: &str, lines: Vec<String>, v: &Value| -> std::io::Result<()> {
        reclaimed += v["SpaceReclaimed"].as_u64().unwrap_or(0);
        if lines.is_empty() {
            return Ok(());
        }
        println(title)?;
        for l in &lines {
            println(l)?;
        }
        println("")
    };

    let post = |path: &'static str, q: Query| {
        let client = &client;
        async move {
            let resp = client
                .request(Method::POST, path, &q, empty_body(), &[])
                .await?;
            read_json::<Value>(resp).await
        }
    };
    let v = post("/containers/prune", filters(None)?).await?;
    report("Deleted Containers:", strings(&v["ContainersDeleted"]), &v)?;
    let v = post("/networks/prune", filters(None)?).await?;
    report("Deleted Networks:", strings(&v["NetworksDeleted"]), &v)?;
    if args.volumes {
        let v = post("/volumes/prune", filters(None)?).await?;
        report("Deleted Volumes:", strings(&v["VolumesDeleted"]), &v)?;
    }
    let dangling = if args.all {
        "dangling=false"
    } else {
        "dangling=true"
    };
    let v = post("/images/prune", filters(Some(dangling))?).await?;
    let images = v["ImagesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| {
            let untagged = d["Untagged"].as_str().map(|t| format!("untagged: {t}"));
            let deleted = d["Deleted"].as_str().map(|t| format!("deleted: {t}"));
            untagged.into_iter().chain(deleted)
        })
        .collect();
    report("Deleted Images:", images, &v)?;
    let mut q = filters(None)?;
    if args.all {
        q.add("all", "1");
    }
    match post("/build/prune", q).await {
        Ok(v) => report(
            "Deleted build cache objects:",
            strings(&v["CachesDeleted"]),
            &v,
        )?,
        // A daemon without a build cache endpoint has no build cache to prune.
        Err(ClientError::Daemon { status: 404, .. }) => {}
        Err(e) => return Err(e.into()),
    }
    println(&format!(
        "Total reclaimed space: {}",
        crate::format::human_size(reclaimed as f64, 4)
    ))?;
    Ok(0)
}

/// Docker's confirmation text (without the question, which `confirm` adds).
fn warning(args: &SystemPruneArgs) -> String {
    let mut items = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if args.volumes {
        items.push("all anonymous volumes not used by at least one container");
    }
    items.push(if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    items.push(if args.all {
        "all build cache"
    } else {
        "unused build cache"
    });
    let mut out = String::from("WARNING! This will remove:");
    for i in items {
        out.push_str("\n  - ");
        out.push_str(i);
    }
    out.push('\n');
    let mut shown: Vec<&String> = args
        .filter
        .iter()
        .filter(|f| {
            ["label=", "label!=", "until="]
                .iter()
                .any(|p| f.starts_with(p))
        })
        .collect();
    shown.sort();
    if !shown.is_empty() {
        out.push_str("\n  Items to be pruned will be filtered with:");
        for f in shown {
            out.push_str("\n  - ");
            out.push_str(f);
        }
        out.push('\n');
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(all: bool, volumes: bool, filter: &[&str]) -> SystemPruneArgs {
        SystemPruneArgs {
            all,
            force: false,
            volumes,
            filter: filter.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn warning_as_docker_words_it() {
        assert_eq!(
            warning(&args(false, false, &[])),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n"
        );
        assert_eq!(
            warning(&args(true, true, &["until=24h", "label=a=b"])),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all anonymous volumes not used by at least one container\n  - all images without at least one container associated to them\n  - all build cache\n\n  Items to be pruned will be filtered with:\n  - label=a=b\n  - until=24h\n"
        );
    }
}
