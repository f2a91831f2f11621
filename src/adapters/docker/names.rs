//! The Docker adapter's lookup by name (not by label): which containers, networks and volumes
//! exist under given names, and whose cluster label they carry, for `up`'s name-clash check.

use super::Engine;
use crate::plan::preflight::{Found, Object};
use crate::plan::LABEL_CLUSTER;
use anyhow::{Context, Result};
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use std::collections::HashMap;

impl Engine {
    /// The objects that exist under one of `names` (exact names), with their cluster label.
    pub async fn objects_named(&self, names: &[(Object, String)]) -> Result<Vec<Found>> {
        let wanted = |kind: Object| -> Vec<String> {
            names
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, n)| n.clone())
                .collect()
        };
        let filter = |kind: Object| HashMap::from([("name".to_string(), wanted(kind))]);
        let cluster = |labels: Option<HashMap<String, String>>| {
            labels.and_then(|mut l| l.remove(LABEL_CLUSTER))
        };
        let mut found = Vec::new();
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filter(Object::Container)),
                ..Default::default()
            }))
            .await
            .context("list containers by name")?;
        for c in containers {
            let name = c
                .names
                .and_then(|n| n.first().cloned())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string();
            if wanted(Object::Container).contains(&name) {
                found.push(Found {
                    kind: Object::Container,
                    name,
                    cluster: cluster(c.labels),
                });
            }
        }
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filter(Object::Network)),
            }))
            .await
            .context("list networks by name")?;
        for n in networks {
            let name = n.name.unwrap_or_default();
            if wanted(Object::Network).contains(&name) {
                found.push(Found {
                    kind: Object::Network,
                    name,
                    cluster: cluster(n.labels),
                });
            }
        }
        let volumes = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filter(Object::Volume)),
            }))
            .await
            .context("list volumes by name")?;
        for v in volumes.volumes.unwrap_or_default() {
            if wanted(Object::Volume).contains(&v.name) {
                found.push(Found {
                    kind: Object::Volume,
                    cluster: v.labels.get(LABEL_CLUSTER).cloned(),
                    name: v.name,
                });
            }
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }
}
