//! `stop`, `kill`, `restart`, `pause`, `unpause`, `rm`, `wait`: one request per container,
//! docker's per-name reporting.

use hyper::Method;

use super::{for_each, Ctx};
use crate::args::{ContainersArgs, KillArgs, RmArgs, StopArgs, WaitArgs};
use crate::client::{empty_body, read_json, Query};
use crate::commands::run::WaitResponse;

/// `berth stop` (304 "already stopped" is success).
pub async fn stop(ctx: &Ctx, args: StopArgs) -> anyhow::Result<i32> {
    post_each(ctx, &args.containers, "stop", stop_query(&args)).await
}

/// `t` and `signal` of stop and restart.
fn stop_query(args: &StopArgs) -> Query {
    let mut q = Query::new();
    if let Some(t) = args.time {
        q.add("t", t.to_string());
    }
    if let Some(s) = &args.signal {
        q.add("signal", s);
    }
    q
}

/// `berth kill`.
pub async fn kill(ctx: &Ctx, args: KillArgs) -> anyhow::Result<i32> {
    let mut q = Query::new();
    if let Some(s) = &args.signal {
        q.add("signal", s);
    }
    post_each(ctx, &args.containers, "kill", q).await
}

/// `berth restart` (same flags as `stop`).
pub async fn restart(ctx: &Ctx, args: StopArgs) -> anyhow::Result<i32> {
    post_each(ctx, &args.containers, "restart", stop_query(&args)).await
}

/// `berth pause`.
pub async fn pause(ctx: &Ctx, args: ContainersArgs) -> anyhow::Result<i32> {
    post_each(ctx, &args.containers, "pause", Query::new()).await
}

/// `berth unpause`.
pub async fn unpause(ctx: &Ctx, args: ContainersArgs) -> anyhow::Result<i32> {
    post_each(ctx, &args.containers, "unpause", Query::new()).await
}

/// `POST /containers/{name}/{action}` for each name, printing each name that succeeded.
async fn post_each(
    ctx: &Ctx,
    containers: &[String],
    action: &'static str,
    q: Query,
) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    for_each(containers, |name| {
        let client = client.clone();
        let q = q.clone();
        async move {
            client
                .post(&format!("/containers/{name}/{action}"), &q)
                .await?;
            Ok(Some(name))
        }
    })
    .await
}

/// `berth rm`.
pub async fn rm(ctx: &Ctx, args: RmArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let mut q = Query::new();
    q.flag("force", args.force).flag("v", args.volumes);
    for_each(&args.containers, |name| {
        let client = client.clone();
        let q = q.clone();
        async move {
            client.delete(&format!("/containers/{name}"), &q).await?;
            Ok(Some(name))
        }
    })
    .await
}

/// `berth wait`: prints each container's exit status.
pub async fn wait(ctx: &Ctx, args: WaitArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    for_each(&args.containers, |name| {
        let client = client.clone();
        async move {
            let resp = client
                .request(
                    Method::POST,
                    &format!("/containers/{name}/wait"),
                    &Query::new(),
                    empty_body(),
                    &[],
                )
                .await?;
            let w: WaitResponse = read_json(resp).await?;
            Ok(Some(w.status_code.to_string()))
        }
    })
    .await
}

/// `berth rename CONTAINER NEW_NAME`.
pub async fn rename(ctx: &Ctx, args: crate::args::RenameArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    let mut q = Query::new();
    q.add("name", &args.new_name);
    client
        .post(&format!("/containers/{}/rename", args.container), &q)
        .await?;
    Ok(0)
}

/// `berth container prune [-f] [--filter]`.
pub async fn prune(ctx: &Ctx, args: crate::args::ContainerPruneArgs) -> anyhow::Result<i32> {
    if !args.force && !crate::opts::confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(0);
    }
    let client = ctx.client().await?;
    let mut q = Query::new();
    if let Some(f) = crate::opts::filters_json(&args.filter)
        .map_err(|e| crate::error::StatusError::new(125, e))?
    {
        q.add("filters", f);
    }
    let resp = client.post("/containers/prune", &q).await?;
    let v: serde_json::Value = crate::client::read_json(resp).await?;
    let ids: Vec<String> = v["ContainersDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(String::from))
        .collect();
    super::print_prune("Deleted Containers:", &ids, &v["SpaceReclaimed"])?;
    Ok(0)
}

/// `berth update [flags] CONTAINER...`: prints each container updated, as docker does.
pub async fn update(ctx: &Ctx, args: crate::args::UpdateArgs) -> anyhow::Result<i32> {
    let mut body = serde_json::Map::new();
    let mut set = |k: &str, v: serde_json::Value| {
        body.insert(k.to_string(), v);
    };
    if let Some(m) = args.memory {
        set("Memory", m.into());
    }
    if let Some(s) = &args.memory_swap {
        let v = if s == "-1" {
            -1
        } else {
            crate::opts::ram_in_bytes(s).map_err(|e| crate::error::StatusError::new(1, e))?
        };
        set("MemorySwap", v.into());
    }
    if let Some(m) = args.memory_reservation {
        set("MemoryReservation", m.into());
    }
    if let Some(c) = args.cpus {
        set("NanoCpus", c.into());
    }
    if let Some(c) = args.cpu_shares {
        set("CpuShares", c.into());
    }
    if let Some(c) = args.cpu_quota {
        set("CpuQuota", c.into());
    }
    if let Some(c) = args.cpu_period {
        set("CpuPeriod", c.into());
    }
    if let Some(p) = args.pids_limit {
        set("PidsLimit", p.into());
    }
    if let Some(r) = &args.restart {
        let (name, max) =
            crate::opts::restart_policy(r).map_err(|e| crate::error::StatusError::new(1, e))?;
        set(
            "RestartPolicy",
            serde_json::json!({"Name": name, "MaximumRetryCount": max}),
        );
    }
    if body.is_empty() {
        return Err(crate::error::StatusError::new(
            1,
            "you must provide one or more flags when using this command",
        )
        .into());
    }
    let client = ctx.client().await?;
    let body = serde_json::Value::Object(body);
    super::for_each(&args.containers, |name| {
        let client = &client;
        let body = &body;
        async move {
            let _: serde_json::Value = client
                .post_json(&format!("/containers/{name}/update"), &Query::new(), body)
                .await?;
            Ok(Some(name))
        }
    })
    .await
}
