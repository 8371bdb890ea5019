//! `docker update`: new limits (memory, CPU, pids) and restart policy for a container; a running
//! one gets them at once through its shim and runtime.

use std::sync::Arc;

use api::docker::RestartPolicy;
use api::oci::{CpuResources, MemoryResources, PidsResources, Resources};
use api::shim::Request;
use serde::Deserialize;

use super::Engine;
use crate::error::EngineError;

/// The body of `POST /containers/{id}/update`: zero or absent means "unchanged", as Docker.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateConfig {
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_quota: i64,
    pub cpu_period: i64,
    pub pids_limit: Option<i64>,
    pub restart_policy: Option<RestartPolicy>,
}

impl Engine {
    /// Applies `u` to the container: the running cgroup first, then the record.
    pub async fn update(
        self: &Arc<Engine>,
        name_or_id: &str,
        u: UpdateConfig,
    ) -> Result<Vec<String>, EngineError> {
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        if u.memory != 0 && u.memory < 6 * 1024 * 1024 {
            return Err(EngineError::Invalid(
                "Minimum memory limit allowed is 6MB".into(),
            ));
        }
        if u.nano_cpus != 0 && (u.cpu_quota != 0 || u.cpu_period != 0) {
            return Err(EngineError::Invalid(
                "Conflicting options: Nano CPUs cannot be updated as CPU Period/Quota has already been set".into(),
            ));
        }
        let rec = c.record();
        if let Some(p) = u.restart_policy.as_ref().filter(|p| !p.name.is_empty()) {
            super::restart::validate(&p.name, p.maximum_retry_count, rec.host_config.auto_remove)?;
        }
        if rec.state.status.is_running() {
            let memory = (u.memory != 0 || u.memory_swap != 0 || u.memory_reservation != 0)
                .then_some(MemoryResources {
                    limit: (u.memory != 0).then_some(u.memory),
                    swap: (u.memory_swap != 0).then_some(u.memory_swap),
                    reservation: (u.memory_reservation != 0).then_some(u.memory_reservation),
                });
            let (quota, period) = if u.nano_cpus != 0 {
                (Some(u.nano_cpus / 10_000), Some(100_000))
            } else {
                (
                    (u.cpu_quota != 0).then_some(u.cpu_quota),
                    (u.cpu_period > 0).then_some(u.cpu_period as u64),
                )
            };
            let cpu =
                (u.cpu_shares > 0 || quota.is_some() || period.is_some()).then_some(CpuResources {
                    shares: (u.cpu_shares > 0).then_some(u.cpu_shares as u64),
                    quota,
                    period,
                    cpus: None,
                    mems: None,
                });
            let pids = u
                .pids_limit
                .filter(|p| *p != 0)
                .map(|limit| PidsResources { limit });
            if memory.is_some() || cpu.is_some() || pids.is_some() {
                let resources = Resources {
                    memory,
                    cpu,
                    pids,
                    ..Resources::default()
                };
                let value = serde_json::to_value(&resources).map_err(|e| EngineError::Io {
                    what: "encode resources".into(),
                    source: std::io::Error::other(e),
                })?;
                self.shim_ok(&c, &Request::Update { resources: value })
                    .await
                    .map_err(|e| {
                        EngineError::Invalid(format!("Cannot update container {}: {e}", c.id))
                    })?;
            }
        }
        c.update(&self.paths, |r| {
            let h = &mut r.host_config;
            if u.memory != 0 {
                h.memory = u.memory;
            }
            if u.memory_swap != 0 {
                h.memory_swap = u.memory_swap;
            }
            if u.memory_reservation != 0 {
                h.memory_reservation = u.memory_reservation;
            }
            if u.nano_cpus != 0 {
                h.nano_cpus = u.nano_cpus;
            }
            if u.cpu_shares != 0 {
                h.cpu_shares = u.cpu_shares;
            }
            if u.cpu_quota != 0 {
                h.cpu_quota = u.cpu_quota;
            }
            if u.cpu_period != 0 {
                h.cpu_period = u.cpu_period;
            }
            if let Some(p) = u.pids_limit.filter(|p| *p != 0) {
                h.pids_limit = Some(p);
            }
            if let Some(p) = u.restart_policy.as_ref().filter(|p| !p.name.is_empty()) {
                h.restart_policy = p.clone();
            }
        })?;
        self.container_event(&c.record(), "update", &[]);
        Ok(Vec::new())
    }
}
