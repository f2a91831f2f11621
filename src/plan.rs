//! Plans: the Docker objects a spec asks for (containers, volumes, network, with their labels,
//! commands, ports and config files), and what `up`/`down` must do given what exists. Pure.

use crate::spec::Spec;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const LABEL_CLUSTER: &str = "io.pgha.cluster";
pub const LABEL_ROLE: &str = "io.pgha.role";
pub const LABEL_MEMBER: &str = "io.pgha.member";
pub const LABEL_CONFIG_HASH: &str = "io.pgha.config-hash";

/// A libpq password file in node containers, for `pgha psql` (no password on a command line).
pub const NODE_PGPASS: &str = "/etc/pgha/pgpass";
/// Where Patroni's config folder lives in a node container.
pub const PATRONI_CONFIG_DIR: &str = "/etc/pgha/patroni";
/// Seconds Docker waits after SIGTERM before SIGKILL; longer than `2 * loop_wait` plus a
/// checkpoint, so a stopping sync standby or leader always shuts down cleanly.
pub const STOP_TIMEOUT_SECS: i64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Etcd,
    Node,
    Haproxy,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Etcd => "etcd",
            Kind::Node => "node",
            Kind::Haproxy => "haproxy",
        }
    }

    pub fn from_label(s: &str) -> Option<Kind> {
        match s {
            "etcd" => Some(Kind::Etcd),
            "node" => Some(Kind::Node),
            "haproxy" => Some(Kind::Haproxy),
            _ => None,
        }
    }
}

/// A file put into a container before its first start.
#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub container_port: u16,
    pub host_ip: String,
    pub host_port: u32,
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
    pub network: String,
    pub init: bool,
    pub stop_timeout: i64,
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
}

/// Inputs the plan needs besides the spec.
pub struct Inputs<'a> {
    pub node_image: &'a str,
    pub etcd_image: &'a str,
    pub haproxy_image: &'a str,
    /// postgres uid/gid in the node image (owner of the secrets file).
    pub postgres_uid: u64,
    pub postgres_gid: u64,
    /// Rendered Patroni configs by member, and the HAProxy config.
    pub patroni: &'a BTreeMap<String, String>,
    pub haproxy: &'a str,
    /// The secrets file for Patroni (YAML).
    pub secrets_yml: &'a str,
    /// The libpq password file put at `NODE_PGPASS`.
    pub pgpass: &'a str,
}

pub fn network_name(spec: &Spec) -> String {
    format!("{}-net", spec.name)
}

pub fn container_name(spec: &Spec, member: &str) -> String {
    format!("{}-{}", spec.name, member)
}

/// Every container a spec asks for, by name (what `desired` names them).
pub fn container_names(spec: &Spec) -> Vec<String> {
    spec.etcd_names()
        .iter()
        .chain(&spec.nodes.names)
        .map(|m| container_name(spec, m))
        .chain([container_name(spec, "haproxy")])
        .collect()
}

pub fn volume_name(spec: &Spec, member: &str) -> String {
    format!("{}-{}-data", spec.name, member)
}

/// Labels common to every object of the cluster (cluster + the spec's extra labels).
pub fn base_labels(spec: &Spec) -> BTreeMap<String, String> {
    let mut l = spec.labels.clone();
    l.insert(LABEL_CLUSTER.into(), spec.name.clone());
    l
}

pub fn desired(spec: &Spec, inp: &Inputs) -> Desired {
    let net = network_name(spec);
    let base = base_labels(spec);
    let port = |container_port: u16, host_port: u32| PortSpec {
        container_port,
        host_ip: spec.bind.clone(),
        host_port,
    };
    let mut containers = Vec::new();
    let mut volumes = Vec::new();

    let etcd_names = spec.etcd_names();
    let initial_cluster = etcd_names
        .iter()
        .map(|e| format!("{e}=http://{e}:2380"))
        .collect::<Vec<_>>()
        .join(",");
    for (i, e) in etcd_names.iter().enumerate() {
        let vol = volume_name(spec, e);
        volumes.push(vol.clone());
        let cmd = vec![
            "etcd".to_string(),
            format!("--name={e}"),
            "--data-dir=/var/lib/etcd/data".into(),
            "--listen-client-urls=http://0.0.0.0:2379".into(),
            format!("--advertise-client-urls=http://{e}:2379"),
            "--listen-peer-urls=http://0.0.0.0:2380".into(),
            format!("--initial-advertise-peer-urls=http://{e}:2380"),
            format!("--initial-cluster={initial_cluster}"),
            format!("--initial-cluster-token={}", spec.name),
            "--initial-cluster-state=new".into(),
            "--snapshot-count=10000".into(),
            "--auto-compaction-retention=1h".into(),
        ];
        containers.push(ContainerSpec {
            name: container_name(spec, e),
            kind: Kind::Etcd,
            member: e.clone(),
            image: inp.etcd_image.into(),
            cmd,
            user: Some("etcd".into()),
            env: vec![],
            labels: BTreeMap::new(),
            ports: vec![port(2379, spec.etcd_client_port(i))],
            volumes: vec![(vol, "/var/lib/etcd".into())],
            network: net.clone(),
            init: true,
            stop_timeout: 10,
            files: vec![],
        });
    }

    for (i, n) in spec.nodes.names.iter().enumerate() {
        let vol = volume_name(spec, n);
        volumes.push(vol.clone());
        let files = vec![
            FileSpec {
                path: format!("{PATRONI_CONFIG_DIR}/00-patroni.yml"),
                contents: inp.patroni.get(n).cloned().unwrap_or_default().into_bytes(),
                mode: 0o644,
                uid: 0,
                gid: 0,
                secret: false,
            },
            FileSpec {
                path: format!("{PATRONI_CONFIG_DIR}/90-secrets.yml"),
                contents: inp.secrets_yml.as_bytes().to_vec(),
                mode: 0o600,
                uid: inp.postgres_uid,
                gid: inp.postgres_gid,
                secret: true,
            },
            FileSpec {
                path: NODE_PGPASS.into(),
                contents: inp.pgpass.as_bytes().to_vec(),
                mode: 0o600,
                uid: inp.postgres_uid,
                gid: inp.postgres_gid,
                secret: true,
            },
        ];
        containers.push(ContainerSpec {
            name: container_name(spec, n),
            kind: Kind::Node,
            member: n.clone(),
            image: inp.node_image.into(),
            cmd: vec!["patroni".into(), PATRONI_CONFIG_DIR.into()],
            user: Some("postgres".into()),
            env: vec!["LANG=C.UTF-8".into()],
            labels: BTreeMap::new(),
            ports: vec![
                port(5432, spec.node_pg_port(i)),
                port(8008, spec.node_api_port(i)),
            ],
            volumes: vec![(vol, "/var/lib/postgresql/data".into())],
            network: net.clone(),
            init: false,
            stop_timeout: STOP_TIMEOUT_SECS,
            files,
        });
    }

    containers.push(ContainerSpec {
        name: container_name(spec, "haproxy"),
        kind: Kind::Haproxy,
        member: "haproxy".into(),
        image: inp.haproxy_image.into(),
        cmd: vec![
            "haproxy".into(),
            "-W".into(),
            "-db".into(),
            "-f".into(),
            "/etc/pgha/haproxy/haproxy.cfg".into(),
        ],
        user: Some("haproxy".into()),
        env: vec![],
        labels: BTreeMap::new(),
        ports: vec![
            port(5000, spec.haproxy_primary_port()),
            port(5001, spec.haproxy_replica_port()),
            port(7000, spec.haproxy_stats_port()),
        ],
        volumes: vec![],
        network: net.clone(),
        init: true,
        stop_timeout: 10,
        files: vec![FileSpec {
            path: "/etc/pgha/haproxy/haproxy.cfg".into(),
            contents: inp.haproxy.as_bytes().to_vec(),
            mode: 0o644,
            uid: 0,
            gid: 0,
            secret: false,
        }],
    });

    for c in &mut containers {
        let mut labels = base.clone();
        labels.insert(LABEL_ROLE.into(), c.kind.label().into());
        labels.insert(LABEL_MEMBER.into(), c.member.clone());
        labels.insert(LABEL_CONFIG_HASH.into(), config_hash(c));
        c.labels = labels;
    }

    Desired {
        network: net,
        volumes,
        containers,
        labels: base,
    }
}

/// A hash of what makes a container what it is (not its secrets), stored as a label so that `up`
/// can tell a container made from another spec.
pub fn config_hash(c: &ContainerSpec) -> String {
    let mut h = Sha256::new();
    h.update(c.image.as_bytes());
    for part in c.cmd.iter().chain(&c.env) {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for p in &c.ports {
        h.update(format!("{}:{}:{}", p.container_port, p.host_ip, p.host_port).as_bytes());
    }
    for f in c.files.iter().filter(|f| !f.secret) {
        h.update(f.path.as_bytes());
        h.update(&f.contents);
    }
    hex::encode(&h.finalize()[..8])
}

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

/// What `up` must do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpPlan {
    pub create_network: bool,
    pub create_volumes: Vec<String>,
    /// Containers to create (and then start), by name.
    pub create: Vec<String>,
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
            out.push(format!("create and start container {c}"));
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

#[cfg(test)]
mod tests;
