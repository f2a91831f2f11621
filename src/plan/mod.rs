//! Plans: the Docker objects a spec asks for (containers, volumes, network, with their labels,
//! commands, ports, resources and config files): the types and ports here, the containers in
//! `desired` (placing the files `render` rendered), their config hash in `hash`. What `up` must
//! do given what exists is in `converge`, its checks before it creates anything in `preflight`.
//! Pure.

use crate::layout;
use crate::spec::names::{container_name, monitor_members};
use crate::spec::Spec;
use std::collections::BTreeMap;

pub const LABEL_CLUSTER: &str = "io.pgha.cluster";
pub const LABEL_ROLE: &str = "io.pgha.role";
pub const LABEL_MEMBER: &str = "io.pgha.member";
pub const LABEL_CONFIG_HASH: &str = "io.pgha.config-hash";
/// `on` or `off`: whether the container was made with `[tls]` on (absent: made before TLS, off).
pub const LABEL_TLS: &str = "io.pgha.tls";

/// Seconds Docker waits after SIGTERM before SIGKILL; longer than `2 * loop_wait` plus a
/// checkpoint, so a stopping sync standby or leader always shuts down cleanly.
pub const STOP_TIMEOUT_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Etcd,
    Node,
    Haproxy,
    /// Prometheus and Alertmanager (`[monitoring]`).
    Monitor,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Etcd => "etcd",
            Kind::Node => "node",
            Kind::Haproxy => "haproxy",
            Kind::Monitor => "monitor",
        }
    }

    pub fn from_label(s: &str) -> Option<Kind> {
        match s {
            "etcd" => Some(Kind::Etcd),
            "node" => Some(Kind::Node),
            "haproxy" => Some(Kind::Haproxy),
            "monitor" => Some(Kind::Monitor),
            _ => None,
        }
    }
}

/// A file put into a container before its first start; `Debug` shows a secret one's contents
/// as `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Absolute path in the container.
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Left out of the config hash (secrets).
    pub secret: bool,
}

impl std::fmt::Debug for FileSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let contents: &dyn std::fmt::Debug = if self.secret {
            &crate::secrets::exposure::Redacted
        } else {
            &self.contents
        };
        f.debug_struct("FileSpec")
            .field("path", &self.path)
            .field("contents", contents)
            .field("mode", &self.mode)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("secret", &self.secret)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub container_port: u16,
    pub host_ip: String,
    pub host_port: u32,
    /// What the port serves, for messages ("PostgreSQL", "HAProxy stats", ...).
    pub what: &'static str,
}

/// Limits and settings of a container's resources (the spec's `shm_size`, `cpus`, `memory`, `[logs]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// /dev/shm in bytes; `None` keeps Docker's 64 MB.
    pub shm_size: Option<i64>,
    /// CPU limit in billionths of a CPU (HostConfig.NanoCpus).
    pub nano_cpus: Option<i64>,
    /// Memory limit in bytes (HostConfig.Memory).
    pub memory: Option<i64>,
    /// json-file driver options: `max-size` as Docker reads it, and `max-file`.
    pub log_max_size: String,
    pub log_max_files: u32,
}

/// One container as the spec wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub kind: Kind,
    pub member: String,
    pub image: String,
    pub cmd: Vec<String>,
    pub user: Option<String>,
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub ports: Vec<PortSpec>,
    /// (volume name, mount point)
    pub volumes: Vec<(String, String)>,
    /// Volumes mounted read-only (a restored cluster's source repository).
    pub ro_volumes: Vec<(String, String)>,
    pub network: String,
    pub init: bool,
    pub stop_timeout: i64,
    pub resources: Resources,
    pub files: Vec<FileSpec>,
}

/// Everything `up` creates for a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub network: String,
    pub volumes: Vec<String>,
    /// In start order: etcd members, nodes, HAProxy.
    pub containers: Vec<ContainerSpec>,
    pub labels: BTreeMap<String, String>,
    /// The image ID each image reference of `containers` names on the engine (filled in by the
    /// caller; a container running another ID is replaced).
    pub image_ids: BTreeMap<String, String>,
}

/// Inputs the plan needs besides the spec.
pub struct Inputs<'a> {
    pub node_image: &'a str,
    pub etcd_image: &'a str,
    pub haproxy_image: &'a str,
    /// The postgres user of the node image (owner of the nodes' secret files and keys).
    pub postgres_owner: &'a Owner,
    /// Every rendered config file (`render::cluster_files`): `desired` places them.
    pub files: &'a crate::render::ClusterFiles,
    /// The secrets file for Patroni (YAML).
    pub secrets_yml: &'a str,
    /// The libpq password file put at `NODE_PGPASS`.
    pub pgpass: &'a str,
    /// The cluster's CA and its certificates (`[tls]`, and pgBackRest's TLS server).
    pub tls: &'a crate::tls::cert::ClusterCerts,
    /// The etcd and haproxy users of their images (owners of their keys).
    pub etcd_owner: &'a Owner,
    pub haproxy_owner: &'a Owner,
    /// The prometheus user of the node image (owner of the monitoring containers' keys).
    pub prometheus_owner: &'a Owner,
    /// The exporters' PostgreSQL password (`[monitoring]`).
    pub monitor_password: &'a str,
    /// Prometheus's and Alertmanager's web config (`render::monitoring::monitoring_web_yml`),
    /// and the password Prometheus logs in to them with.
    pub monitoring_web_yml: &'a str,
    pub monitoring_web_password: &'a str,
    /// When each password was last changed (`render::monitoring::password_rules_yaml`), for
    /// Prometheus's `PghaPasswordOld`; rewritten in place by `passwords rotate`.
    pub passwords_yml: &'a str,
}

/// Labels common to every object of the cluster (cluster + the spec's extra labels).
pub fn base_labels(spec: &Spec) -> BTreeMap<String, String> {
    let mut l = spec.labels.clone();
    l.insert(LABEL_CLUSTER.into(), spec.name.clone());
    l
}

/// The host ports a container publishes; `i` is its index among its role's members.
pub fn ports(spec: &Spec, kind: Kind, i: usize) -> Vec<PortSpec> {
    let port = |container_port: u16, host_port: u32, what: &'static str| PortSpec {
        container_port,
        host_ip: spec.bind.clone(),
        host_port,
        what,
    };
    match kind {
        Kind::Etcd => vec![port(
            layout::ETCD_CLIENT_PORT,
            spec.etcd_client_port(i),
            "etcd client API",
        )],
        Kind::Node => vec![
            port(layout::PG_PORT, spec.node_pg_port(i), "PostgreSQL"),
            port(layout::REST_PORT, spec.node_api_port(i), "Patroni REST API"),
        ],
        // Prometheus (i 0) and Alertmanager (i 1) ask for a password, and stay on loopback.
        Kind::Monitor => {
            let (cp, hp, what) = if i == 0 {
                (
                    layout::PROMETHEUS_PORT,
                    spec.prometheus_port(),
                    "Prometheus",
                )
            } else {
                (
                    layout::ALERTMANAGER_PORT,
                    spec.alertmanager_port(),
                    "Alertmanager",
                )
            };
            vec![PortSpec {
                host_ip: "127.0.0.1".into(),
                ..port(cp, hp, what)
            }]
        }
        Kind::Haproxy => vec![
            port(
                layout::HAPROXY_PRIMARY_PORT,
                spec.haproxy_primary_port(),
                "HAProxy primary",
            ),
            port(
                layout::HAPROXY_REPLICA_PORT,
                spec.haproxy_replica_port(),
                "HAProxy replicas",
            ),
            // The stats page has no password: it stays on loopback whatever `bind` says.
            PortSpec {
                host_ip: "127.0.0.1".into(),
                ..port(
                    layout::HAPROXY_STATS_PORT,
                    spec.haproxy_stats_port(),
                    "HAProxy stats",
                )
            },
        ],
    }
}

/// Every container of the spec with its host ports, in start order.
pub fn published(spec: &Spec) -> Vec<(String, Vec<PortSpec>)> {
    let etcd = spec
        .etcd_names()
        .into_iter()
        .enumerate()
        .map(|(i, e)| (container_name(spec, &e), ports(spec, Kind::Etcd, i)));
    let nodes = spec
        .nodes
        .names
        .iter()
        .enumerate()
        .map(|(i, n)| (container_name(spec, n), ports(spec, Kind::Node, i)));
    etcd.chain(nodes)
        .chain([(
            container_name(spec, "haproxy"),
            ports(spec, Kind::Haproxy, 0),
        )])
        .chain(
            monitor_members(spec)
                .enumerate()
                .map(|(i, m)| (container_name(spec, m), ports(spec, Kind::Monitor, i))),
        )
        .collect()
}

/// What a container of `kind` gets besides its command: shm, limits, log rotation.
pub fn resources(spec: &Spec, kind: Kind) -> Resources {
    let limits = match kind {
        Kind::Etcd => spec.etcd.limits(),
        Kind::Node => spec.nodes.limits(),
        Kind::Haproxy => spec.haproxy.clone(),
        Kind::Monitor => crate::spec::Limits::default(),
    }
    .resolve();
    Resources {
        shm_size: (kind == Kind::Node).then(|| spec.nodes.shm_bytes()),
        nano_cpus: limits.nano_cpus,
        memory: limits.memory,
        log_max_size: spec.logs.docker_max_size(),
        log_max_files: spec.logs.max_files,
    }
}

mod converge;
mod desired;
pub mod down;
pub mod dynamic;
mod hash;
mod monitor_files;
pub mod preflight;
pub mod restore;
pub mod rolling;
mod tls_files;
pub mod up_plan;
pub use converge::{
    container_plan, etcd_membership_refusal, needs_create, node_runs, not_running, tls_switch,
    Change, ContainerPlan, Inventory, ObservedContainer,
};
pub use desired::{desired, pgbackrest_conf_file};
pub use hash::{config_hash, etcd_initial_cluster, etcd_join_cmd};
pub use restore::{restore_plan, RestoreMode, RestorePlan};
pub use tls_files::{etcd_peer_url, Owner};
pub use up_plan::{up_plan, UpPlan};
#[cfg(test)]
mod converge_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
#[cfg(test)]
mod up_plan_tests;
