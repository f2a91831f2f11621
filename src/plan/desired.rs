//! The containers, volumes and network a spec asks for (`desired`): each container's command,
//! environment, mounts, ports and resources, and the files it gets, placed from what `render`
//! rendered and the certificates. Pure.

use super::hash::config_hash;
use super::monitor_files;
use super::tls_files::{etcd_peer_url, etcd_tls_flags, haproxy_files, key_file};
use super::{
    base_labels, ports, resources, ContainerSpec, Desired, FileSpec, Inputs, Kind,
    LABEL_CONFIG_HASH, LABEL_MEMBER, LABEL_ROLE, LABEL_TLS, STOP_TIMEOUT_SECS,
};
use crate::layout::{self, ETCD_CLIENT_PORT, ETCD_PEER_PORT, NODE_PGPASS, PATRONI_CONFIG_DIR};
use crate::spec::names::{container_name, network_name, volume_name};
use crate::spec::Spec;
use std::collections::BTreeMap;

/// Fails (one line naming the image and the file) when the owner of a private file is not known.
pub fn desired(spec: &Spec, inp: &Inputs) -> Result<Desired, String> {
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
            format!("--data-dir={}", crate::layout::ETCD_DATA_DIR),
            format!("--listen-client-urls={sch}://0.0.0.0:{ETCD_CLIENT_PORT}"),
            format!("--advertise-client-urls={sch}://{e}:{ETCD_CLIENT_PORT}"),
            format!("--listen-peer-urls={sch}://0.0.0.0:{ETCD_PEER_PORT}"),
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
            let owner = inp.etcd_owner;
            files.push(key_file(format!("{d}/ca.crt"), &inp.tls.ca, owner)?);
            if let Some((crt, key)) = inp.tls.get(e) {
                files.push(key_file(format!("{d}/etcd.crt"), crt, owner)?);
                files.push(key_file(format!("{d}/etcd.key"), key, owner)?);
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
            key_file(
                format!("{PATRONI_CONFIG_DIR}/90-secrets.yml"),
                inp.secrets_yml,
                inp.postgres_owner,
            )?,
            key_file(NODE_PGPASS.into(), inp.pgpass, inp.postgres_owner)?,
        ];
        if spec.backup.enabled {
            files.push(conf_file(&inp.files.pgbackrest));
        }
        if spec.monitoring.enabled {
            files.extend(monitor_files::exporter_files(inp)?);
        }
        if spec.backup.enabled || spec.tls.enabled {
            let pg = inp.postgres_owner;
            let secret =
                |name: &str, text: &str| key_file(format!("{}/{name}", layout::TLS_DIR), text, pg);
            if let Some((crt, key)) = inp.tls.get(n) {
                files.push(secret("ca.crt", &inp.tls.ca)?);
                files.push(secret("node.crt", crt)?);
                files.push(secret("node.key", key)?);
            }
            for (stem, file) in [
                (crate::tls::cert::REPLICATION_CLIENT, "replicator"),
                (crate::tls::cert::REWIND_CLIENT, "rewind"),
                (crate::tls::cert::PATRONI_ETCD_CLIENT, "etcd-client"),
            ] {
                if let Some((crt, key)) = inp.tls.get(stem).filter(|_| spec.tls.enabled) {
                    files.push(secret(&format!("{file}.crt"), crt)?);
                    files.push(secret(&format!("{file}.key"), key)?);
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
        files: haproxy_files(spec, inp)?,
    });
    if spec.monitoring.enabled {
        let vol = volume_name(spec, crate::spec::names::PROMETHEUS);
        volumes.push(vol.clone());
        containers.extend(monitor_files::containers(spec, inp, &net, vol)?);
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

    Ok(Desired {
        network: net,
        volumes,
        containers,
        labels: base,
        image_ids: BTreeMap::new(),
    })
}

/// Patroni; with `[backup]` on, pgBackRest's TLS server beside it, with `[monitoring]` on the
/// exporters (Patroni, exec'd as PID 1, reaps what its container runs).
fn node_cmd(spec: &Spec) -> Vec<String> {
    let mut before = String::new();
    if spec.backup.enabled {
        // Restarted when it ends: `certs rotate` stops it so that it reads its new certificate.
        before.push_str("(while :; do pgbackrest server; sleep 1; done) & ");
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
