//! What `up` must do, given what Docker reports of the cluster (its inventory, found by label):
//! create, re-create, start, or leave alone and report drift. Pure.

use super::{Desired, Kind, LABEL_CONFIG_HASH};

/// A container as Docker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub name: String,
    pub kind: Option<Kind>,
    pub member: String,
    pub running: bool,
    /// Docker's state word: running, exited, created, ...
    pub state: String,
    pub config_hash: Option<String>,
}

/// What exists of a cluster, found by its label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub containers: Vec<ObservedContainer>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

impl Inventory {
    pub fn container(&self, name: &str) -> Option<&ObservedContainer> {
        self.containers.iter().find(|c| c.name == name)
    }
}

impl ObservedContainer {
    /// Created but never started: Docker's state "created". An `up` that stopped between
    /// creating a container and starting it (its files may be missing) leaves one behind.
    pub fn never_ran(&self) -> bool {
        self.state == "created"
    }
}

/// True when `up` must create the container named `name`: it is missing, or it never ran.
pub fn needs_create(have: &Inventory, name: &str) -> bool {
    have.container(name)
        .is_none_or(ObservedContainer::never_ran)
}

/// What `up` must do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpPlan {
    pub create_network: bool,
    pub create_volumes: Vec<String>,
    /// Containers to create (and then start), by name.
    pub create: Vec<String>,
    /// Of `create`: containers that exist but never ran, removed first (an earlier `up` stopped
    /// half-way, so their config files may be missing; Docker cannot fix their labels).
    pub recreate: Vec<String>,
    /// Existing containers that are not running.
    pub start: Vec<String>,
    /// Existing containers made from a different spec (left alone; reported).
    pub drift: Vec<String>,
}

impl UpPlan {
    pub fn is_noop(&self) -> bool {
        !self.create_network
            && self.create_volumes.is_empty()
            && self.create.is_empty()
            && self.start.is_empty()
    }

    /// One line per action, for the log.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.create_network {
            out.push("create network".to_string());
        }
        for v in &self.create_volumes {
            out.push(format!("create volume {v}"));
        }
        for c in &self.create {
            if self.recreate.contains(c) {
                out.push(format!(
                    "remove container {c} (created but never started) and create and start it again"
                ));
            } else {
                out.push(format!("create and start container {c}"));
            }
        }
        for c in &self.start {
            out.push(format!("start container {c}"));
        }
        out
    }
}

pub fn up_plan(want: &Desired, have: &Inventory) -> UpPlan {
    let mut p = UpPlan {
        create_network: !have.networks.contains(&want.network),
        create_volumes: want
            .volumes
            .iter()
            .filter(|v| !have.volumes.contains(v))
            .cloned()
            .collect(),
        ..Default::default()
    };
    for c in &want.containers {
        match have.container(&c.name) {
            None => p.create.push(c.name.clone()),
            Some(o) if o.never_ran() => {
                p.recreate.push(c.name.clone());
                p.create.push(c.name.clone());
            }
            Some(o) => {
                if !o.running {
                    p.start.push(c.name.clone());
                }
                if o.config_hash.as_deref() != c.labels.get(LABEL_CONFIG_HASH).map(String::as_str) {
                    p.drift.push(c.name.clone());
                }
            }
        }
    }
    p
}

/// Wanted containers that do not run (gone, or in another state), one phrase each.
pub fn not_running(want: &Desired, have: &Inventory) -> Vec<String> {
    want.containers
        .iter()
        .filter_map(|c| match have.container(&c.name) {
            Some(o) if o.running => None,
            Some(o) => Some(format!("{} is {}", c.name, o.state)),
            None => Some(format!("{} is gone", c.name)),
        })
        .collect()
}

/// Whether a node's own `GET /patroni` shows it running: the leader as primary, any other member
/// streaming. `Err` says what it shows instead.
pub fn node_runs(status: &serde_json::Value) -> Result<(), String> {
    let (state, role) = (&status["state"], &status["role"]);
    let leads = role == "primary" || role == "master";
    if state == "running" && (leads || status["replication_state"] == "streaming") {
        return Ok(());
    }
    Err(format!(
        "{} {}{}",
        role.as_str().unwrap_or("?"),
        state.as_str().unwrap_or("?"),
        status["replication_state"]
            .as_str()
            .map(|r| format!(", {r}"))
            .unwrap_or_default()
    ))
}
