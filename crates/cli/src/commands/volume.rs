//! `berth volume create|ls|inspect|rm|prune`.

use hyper::Method;
use serde_json::{json, Value};

use super::{print, println, Ctx};
use crate::args::{VolumeArgs, VolumeCommand};
use crate::client::{empty_body, read_json, Query};
use crate::error::StatusError;
use crate::format::ListFormat;

pub async fn volume(ctx: &Ctx, args: VolumeArgs) -> anyhow::Result<i32> {
    let client = ctx.client().await?;
    match args.command {
        VolumeCommand::Create {
            name,
            driver,
            label,
            opt,
        } => {
            let mut body = json!({"Name": name.unwrap_or_default(), "Driver": driver});
            if !label.is_empty() {
                body["Labels"] = json!(crate::opts::labels(&label));
            }
            if !opt.is_empty() {
                body["DriverOpts"] = json!(crate::opts::labels(&opt));
            }
            let v: Value = client
                .post_json("/volumes/create", &Query::new(), &body)
                .await?;
            println(v["Name"].as_str().unwrap_or_default())?;
            Ok(0)
        }
        VolumeCommand::Ls {
            quiet,
            filter,
            format,
        } => {
            let mut q = Query::new();
            if let Some(f) =
                crate::opts::filters_json(&filter).map_err(|e| StatusError::new(1, e))?
            {
                q.add("filters", f);
            }
            let v: Value = client.get_json("/volumes", &q).await?;
            let rows: Vec<Value> = v["Volumes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|x| {
                    json!({"Driver": x["Driver"], "Name": x["Name"], "Mountpoint": x["Mountpoint"],
                           "Scope": x["Scope"], "Labels": x["Labels"], "CreatedAt": x["CreatedAt"]})
                })
                .collect();
            let f = ListFormat::choose(
                format.as_deref(),
                quiet.then_some("{{.Name}}"),
                "table {{.Driver}}\t{{.Name}}",
            );
            let headers = json!({"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT",
                                 "Scope": "SCOPE", "Labels": "LABELS", "CreatedAt": "CREATED AT"});
            print(&f.render(
                &[
                    "Driver",
                    "Name",
                    "Mountpoint",
                    "Scope",
                    "Labels",
                    "CreatedAt",
                ],
                &headers,
                &rows,
            )?)?;
            Ok(0)
        }
        VolumeCommand::Inspect { names, format } => {
            let mut out = Vec::new();
            let mut code = 0;
            for n in &names {
                match client
                    .get_json::<Value>(&format!("/volumes/{n}"), &Query::new())
                    .await
                {
                    Ok(v) => out.push(v),
                    Err(e) => {
                        eprintln!("{e}");
                        code = 1;
                    }
                }
            }
            match format {
                Some(f) => {
                    let t = crate::template::Template::parse(&f, None)
                        .map_err(|e| StatusError::new(1, e.to_string()))?;
                    for v in &out {
                        println(
                            &t.render(v)
                                .map_err(|e| StatusError::new(1, e.to_string()))?,
                        )?;
                    }
                }
                None => println(&serde_json::to_string_pretty(&out)?)?,
            }
            Ok(code)
        }
        VolumeCommand::Rm { force, names } => {
            let mut q = Query::new();
            q.flag("force", force);
            super::for_each(&names, |n| {
                let client = &client;
                let q = &q;
                async move {
                    client.delete(&format!("/volumes/{n}"), q).await?;
                    Ok(Some(n))
                }
            })
            .await
        }
        VolumeCommand::Prune { all, force, filter } => {
            if !force {
                let warning = if all {
                    "WARNING! This will remove all local volumes not used by at least one container."
                } else {
                    "WARNING! This will remove anonymous local volumes not used by at least one container."
                };
                if !crate::opts::confirm(warning)? {
                    return Ok(0);
                }
            }
            let mut filters = filter.clone();
            if all {
                filters.push("all=true".into());
            }
            let mut q = Query::new();
            if let Some(f) =
                crate::opts::filters_json(&filters).map_err(|e| StatusError::new(1, e))?
            {
                q.add("filters", f);
            }
            let resp = client
                .request(Method::POST, "/volumes/prune", &q, empty_body(), &[])
                .await?;
            let v: Value = read_json(resp).await?;
            super::print_prune(
                "Deleted Volumes:",
                &strings(&v["VolumesDeleted"]),
                &v["SpaceReclaimed"],
            )?;
            Ok(0)
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(String::from))
        .collect()
}
