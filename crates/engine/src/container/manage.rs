//! `rename` and `container prune`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::create::validate_name;
use super::Engine;
use crate::error::EngineError;

impl Engine {
    /// Renames a container (running or not), as `docker rename`.
    pub async fn rename(
        self: &Arc<Engine>,
        name_or_id: &str,
        new: &str,
    ) -> Result<(), EngineError> {
        let new = new.trim_start_matches('/');
        if new.is_empty() {
            return Err(EngineError::Invalid(
                "Neither old nor new names may be empty".into(),
            ));
        }
        // dockerd looks the container up before it checks the new name.
        let c = self.get(name_or_id)?;
        validate_name(new)?;
        let old = c.record().name;
        if old == new {
            return Err(EngineError::Invalid(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        // Under the containers lock, so two renames (or a create) cannot take one name.
        {
            let _map = self.containers.lock().expect("containers lock");
            if let Some(owner) = _map
                .values()
                .find(|o| o.record.lock().expect("record lock").name == new)
            {
                return Err(EngineError::NameInUse {
                    name: new.to_string(),
                    id: owner.id.to_string(),
                });
            }
            c.update(&self.paths, |r| r.name = new.to_string())?;
        }
        self.container_event(&c.record(), "rename", &[("oldName", format!("/{old}"))]);
        tracing::info!(container = %c.id, old = %old, new = %new, "renamed");
        Ok(())
    }

    /// Removes every container that is not running (and matches `until`/`label`); returns
    /// their ids and the bytes their writable layers held.
    pub async fn prune_containers(
        self: &Arc<Engine>,
        filters: &BTreeMap<String, Vec<String>>,
    ) -> Result<(Vec<String>, u64), EngineError> {
        use crate::filters::{each, labels_match, parse_until};
        let until = each(filters, "until", parse_until)?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for c in self.all() {
            let r = c.record();
            if r.state.status.is_running() {
                continue;
            }
            let created = api::time::parse_rfc3339(&r.created)
                .map(api::time::unix_seconds)
                .unwrap_or(0);
            if until
                .as_ref()
                .is_some_and(|u| u.iter().any(|t| created >= *t))
            {
                continue;
            }
            let labels = r.config.labels.clone().unwrap_or_default();
            if filters
                .get("label")
                .is_some_and(|w| !labels_match(&labels, w))
                || filters.get("label!").is_some_and(|w| {
                    w.iter()
                        .any(|x| labels_match(&labels, std::slice::from_ref(x)))
                })
            {
                continue;
            }
            let size = self.images.rootfs_usage(&r.id);
            match self.remove(&r.id, false).await {
                Ok(()) => {
                    reclaimed += size;
                    deleted.push(r.id.clone());
                }
                Err(e) => tracing::warn!(container = %r.id, error = %e, "prune could not remove"),
            }
        }
        Ok((deleted, reclaimed))
    }
}
