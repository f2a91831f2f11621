//! Plans: the Docker objects a spec asks for (containers, volumes, network, with their labels,
//! commands, ports, resources and config files). What `up` must do given what exists is in
//! `converge`, its checks before it creates anything in `preflight`. Pure.

use crate::layout;
use crate::spec::Spec;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const LABEL_CLUSTER: &str = "io.pgha.cluster";
pub const LABEL_ROLE: &str = "io.pgha.role";
pub const LABEL_MEMBER: &str = "io.pgha.member";
pub const LABEL_CONFIG_HASH: &str = "io.pgha.config-hash";
/// `on` or `off`: whether the container was made with `[tls]` on (absent: made before TLS, off).
pub const LABEL_TLS: &str = "io.pgha.tls";

pub use crate::layout::{NODE_PGPASS, PATRONI_CONFIG_DIR};
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
    /// postgres uid/gid in the node image (owner of the secrets file).
    pub postgres_uid: u64,
    pub postgres_gid: u64,
    /// Every rendered config file (`render::cluster_files`): `desired` places them.
    pub files: &'a crate::render::ClusterFiles,
    /// The secrets file for Patroni (YAML).
    pub secrets_yml: &'a str,
    /// The libpq password file put at `NODE_PGPASS`.
    pub pgpass: &'a str,
    /// The cluster's CA and its certificates (`[tls]`, and pgBackRest's TLS server).
    pub tls: &'a crate::tls::cert::ClusterCerts,
    /// uid/gid of the etcd and haproxy users in their images (owners of their keys), when known.
    pub etcd_ids: Option<(u64, u64)>,
    pub haproxy_ids: Option<(u64, u64)>,
    /// uid/gid of the prometheus user (owner of the monitoring containers' keys), when known.
    pub prometheus_ids: Option<(u64, u64)>,
    /// The exporters' PostgreSQL password (`[monitoring]`).
    pub monitor_password: &'a str,
}

pub use crate::spec::names::{
    container_name, container_names, monitor_members, network_name, volume_name,
};

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
        Kind::Etcd => vec![port(2379, spec.etcd_client_port(i), "etcd client API")],
        Kind::Node => vec![
            port(5432, spec.node_pg_port(i), "PostgreSQL"),
            port(8008, spec.node_api_port(i), "Patroni REST API"),
        ],
        // Prometheus (i 0) and Alertmanager (i 1) have no password: on loopback, like the stats page.
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
            port(5000, spec.haproxy_primary_port(), "HAProxy primary"),
            port(5001, spec.haproxy_replica_port(), "HAProxy replicas"),
            // The stats page has no password: it stays on loopback whatever `bind` says.
            PortSpec {
                host_ip: "127.0.0.1".into(),
                ..port(7000, spec.haproxy_stats_port(), "HAProxy stats")
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

pub fn desired(spec: &Spec, inp: &Inputs) -> Desired {
    let net = network_name(spec);
    let base = base_labels(spec);
    let mut containers = Vec::new();
    let mut volumes = Vec::new();

    let etcd_names = spec.etcd_names();
    let initial_cluster = etcd_names
        .iter()
        .map(|e| format!("{e}={}", etcd_peer_url(spec, e)))
        .collect::<Vec<_>>()
        .join(",");
    for (i, e) in etcd_names.iter().enumerate() {
        let vol = volume_name(spec, e);
        volumes.push(vol.clone());
        let sch = spec.tls.scheme();
        let mut cmd = vec![
            "etcd".to_string(),
            format!("--name={e}"),
            "--data-dir=/var/lib/etcd/data".into(),
            format!("--listen-client-urls={sch}://0.0.0.0:2379"),
            format!("--advertise-client-urls={sch}://{e}:2379"),
            format!("--listen-peer-urls={sch}://0.0.0.0:2380"),
            format!("--initial-advertise-peer-urls={}", etcd_peer_url(spec, e)),
            format!("--initial-cluster={initial_cluster}"),
            format!("--initial-cluster-token={}", spec.name),
            "--initial-cluster-state=new".into(),
            "--snapshot-count=10000".into(),
            "--auto-compaction-retention=1h".into(),
        ];
        let mut files = vec![];
        if spec.tls.enabled {
            cmd.extend(etcd_tls_flags());
            let d = layout::TLS_DIR;
            files.push(key_file(format!("{d}/ca.crt"), &inp.tls.ca, inp.etcd_ids));
            if let Some((crt, key)) = inp.tls.get(e) {
                files.push(key_file(format!("{d}/etcd.crt"), crt, inp.etcd_ids));
                files.push(key_file(format!("{d}/etcd.key"), key, inp.etcd_ids));
            }
        }
        containers.push(ContainerSpec {
            name: container_name(spec, e),
            kind: Kind::Etcd,
            member: e.clone(),
            image: inp.etcd_image.into(),
            cmd,
            user: Some("etcd".into()),
            env: vec![],
            labels: BTreeMap::new(),
            ports: ports(spec, Kind::Etcd, i),
            volumes: vec![(vol, layout::ETCD_DATA.into())],
            ro_volumes: vec![],
            network: net.clone(),
            init: true,
            stop_timeout: 10,
            resources: resources(spec, Kind::Etcd),
            files,
        });
    }

    let repo = spec
        .backup
        .enabled
        .then(|| crate::spec::names::repo_volume(&spec.name));
    if let Some(r) = &repo {
        volumes.push(r.clone());
    }
    for (i, n) in spec.nodes.names.iter().enumerate() {
        let vol = volume_name(spec, n);
        volumes.push(vol.clone());
        let mut mounts = vec![(vol, layout::NODE_DATA.to_string())];
        if let Some(r) = &repo {
            mounts.push((r.clone(), layout::REPO_PATH.into()));
        }
        let ro_volumes = spec
            .bootstrap_from
            .iter()
            .map(|src| (src.volume.clone(), layout::SOURCE_REPO_PATH.into()))
            .collect();
        let mut files = vec![
            FileSpec {
                path: format!("{PATRONI_CONFIG_DIR}/00-patroni.yml"),
                contents: inp
                    .files
                    .patroni
                    .get(n)
                    .cloned()
                    .unwrap_or_default()
                    .into_bytes(),
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
        if spec.backup.enabled {
            files.push(conf_file(&inp.files.pgbackrest));
        }
        if spec.monitoring.enabled {
            files.extend(monitor_files::exporter_files(inp));
        }
        if spec.backup.enabled || spec.tls.enabled {
            let pg = Some((inp.postgres_uid, inp.postgres_gid));
            let secret =
                |name: &str, text: &str| key_file(format!("{}/{name}", layout::TLS_DIR), text, pg);
            if let Some((crt, key)) = inp.tls.get(n) {
                files.push(secret("ca.crt", &inp.tls.ca));
                files.push(secret("node.crt", crt));
                files.push(secret("node.key", key));
            }
            for (stem, file) in [
                (crate::tls::cert::REPLICATION_CLIENT, "replicator"),
                (crate::tls::cert::PATRONI_ETCD_CLIENT, "etcd-client"),
            ] {
                if let Some((crt, key)) = inp.tls.get(stem).filter(|_| spec.tls.enabled) {
                    files.push(secret(&format!("{file}.crt"), crt));
                    files.push(secret(&format!("{file}.key"), key));
                }
            }
        }
        containers.push(ContainerSpec {
            name: container_name(spec, n),
            kind: Kind::Node,
            member: n.clone(),
            image: inp.node_image.into(),
            cmd: node_cmd(spec),
            user: Some("postgres".into()),
            env: node_env(spec),
            labels: BTreeMap::new(),
            ports: ports(spec, Kind::Node, i),
            volumes: mounts,
            ro_volumes,
            network: net.clone(),
            init: false,
            stop_timeout: STOP_TIMEOUT_SECS,
            resources: resources(spec, Kind::Node),
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
            layout::HAPROXY_CFG.into(),
        ],
        user: Some("haproxy".into()),
        env: vec![],
        labels: BTreeMap::new(),
        ports: ports(spec, Kind::Haproxy, 0),
        volumes: vec![],
        ro_volumes: vec![],
        network: net.clone(),
        init: true,
        stop_timeout: 10,
        resources: resources(spec, Kind::Haproxy),
        files: haproxy_files(spec, inp),
    });
    if spec.monitoring.enabled {
        let vol = volume_name(spec, crate::spec::names::PROMETHEUS);
        volumes.push(vol.clone());
        containers.extend(monitor_files::containers(spec, inp, &net, vol));
    }

    for c in &mut containers {
        let mut labels = base.clone();
        labels.insert(LABEL_ROLE.into(), c.kind.label().into());
        labels.insert(LABEL_MEMBER.into(), c.member.clone());
        labels.insert(LABEL_CONFIG_HASH.into(), config_hash(c));
        let tls = if spec.tls.enabled { "on" } else { "off" };
        labels.insert(LABEL_TLS.into(), tls.into());
        c.labels = labels;
    }

    Desired {
        network: net,
        volumes,
        containers,
        labels: base,
        image_ids: BTreeMap::new(),
    }
}

/// Patroni; with `[backup]` on, pgBackRest's TLS server beside it, with `[monitoring]` on the
/// exporters (Patroni, exec'd as PID 1, reaps what its container runs).
fn node_cmd(spec: &Spec) -> Vec<String> {
    let mut before = String::new();
    if spec.backup.enabled {
        before.push_str("pgbackrest server & ");
    }
    if spec.monitoring.enabled {
        before.push_str(&crate::monitoring::node_exporters_sh(spec));
    }
    if before.is_empty() {
        vec!["patroni".into(), PATRONI_CONFIG_DIR.into()]
    } else {
        vec![
            "sh".into(),
            "-c".into(),
            format!("{before}exec patroni {PATRONI_CONFIG_DIR}"),
        ]
    }
}

/// pgBackRest's configuration file: a node's, or a tool container's (`node` false).
pub fn pgbackrest_conf_file(spec: &Spec, node: bool) -> FileSpec {
    conf_file(&crate::render::pgbackrest::config(spec, node))
}

/// pgBackRest's configuration file with this text.
fn conf_file(text: &str) -> FileSpec {
    FileSpec {
        path: layout::PGBACKREST_CONF.into(),
        contents: text.as_bytes().to_vec(),
        mode: 0o644,
        uid: 0,
        gid: 0,
        secret: false,
    }
}

fn node_env(spec: &Spec) -> Vec<String> {
    let mut env = vec!["LANG=C.UTF-8".to_string()];
    if spec.backup.enabled {
        env.push(format!("PGBACKREST_CONFIG={}", layout::PGBACKREST_CONF));
    }
    env
}

/// A hash of what makes a container what it is (not its secrets), stored as a label so that `up`
/// can tell a container made from another spec.
pub fn config_hash(c: &ContainerSpec) -> String {
    let mut h = Sha256::new();
    h.update(c.image.as_bytes());
    for part in c.cmd.iter().filter(|a| !first_start_only(a)).chain(&c.env) {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for p in &c.ports {
        h.update(format!("{}:{}:{}", p.container_port, p.host_ip, p.host_port).as_bytes());
    }
    let r = &c.resources;
    h.update(
        format!(
            "shm={:?} cpus={:?} memory={:?} log={}x{}",
            r.shm_size, r.nano_cpus, r.memory, r.log_max_size, r.log_max_files
        )
        .as_bytes(),
    );
    for f in c.files.iter().filter(|f| !f.secret) {
        h.update(f.path.as_bytes());
        h.update(without_bootstrap(&f.contents));
    }
    hex::encode(&h.finalize()[..8])
}

/// etcd's flags that only a member with an empty data dir reads (the membership it starts into):
/// a member that joins later gets the membership of that moment, so they are no drift.
fn first_start_only(arg: &str) -> bool {
    arg.starts_with("--initial-cluster=") || arg.starts_with("--initial-cluster-state=")
}

/// The command of an etcd member that joins a running etcd cluster: `initial_cluster` (the
/// membership `member add` returned, itself included) and state `existing`.
pub fn etcd_join_cmd(cmd: &[String], initial_cluster: &str) -> Vec<String> {
    cmd.iter()
        .map(|a| {
            if a.starts_with("--initial-cluster=") {
                format!("--initial-cluster={initial_cluster}")
            } else if a.starts_with("--initial-cluster-state=") {
                "--initial-cluster-state=existing".to_string()
            } else {
                a.clone()
            }
        })
        .collect()
}

/// `--initial-cluster` for `joining` from etcd's member list after `member add`: `name=peer_url`
/// for every member, the one not started yet (no name) being `joining` at `peer_url`.
pub fn etcd_initial_cluster(members: &[(String, String)], joining: &str, peer_url: &str) -> String {
    members
        .iter()
        .map(|(name, url)| {
            let name = if name.is_empty() && url == peer_url {
                joining
            } else {
                name
            };
            format!("{name}={url}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A Patroni config without its `bootstrap:` and `etcd3:` sections. Patroni reads `bootstrap`
/// once, when it initialises the cluster; later changes of those settings reach the config key
/// (`dynamic`), not the container. It reads the etcd hosts only to find etcd when it starts, then
/// follows etcd's own member list (refreshed from `/v3/cluster/member/list`), so a changed etcd
/// membership reaches a running Patroni without a restart. Neither is drift. Other files are kept
/// whole.
fn without_bootstrap(contents: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(contents) else {
        return contents.to_vec();
    };
    let mut out = String::new();
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let top = !line.starts_with([' ', '\t', '#', '\n', '\r']);
        if top {
            skipping = line.starts_with("bootstrap:") || line.starts_with("etcd3:");
        }
        if !skipping {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

mod converge;
pub mod dynamic;
mod monitor_files;
pub mod preflight;
pub mod rolling;
mod tls_files;
pub use converge::{
    etcd_membership_refusal, needs_create, node_runs, not_running, tls_switch, up_plan, Change,
    Inventory, ObservedContainer, UpPlan,
};
pub use tls_files::etcd_peer_url;
use tls_files::{etcd_tls_flags, haproxy_files, key_file};
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;
