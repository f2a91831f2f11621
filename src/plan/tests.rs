//! Plan tests: the objects a spec asks for (and the helpers the other plan tests share).

use super::*;
use crate::spec::names::container_names;
use crate::spec::Spec;

pub(super) fn desired_for(spec: &Spec) -> Desired {
    desired_with(spec, &crate::tls::cert::ClusterCerts::default(), (105, 106))
}

/// With etcd's and HAProxy's users `ids` (the postgres user is 102:104, prometheus 100:101).
pub(super) fn desired_with(
    spec: &Spec,
    tls: &crate::tls::cert::ClusterCerts,
    (u, g): (u64, u64),
) -> Desired {
    try_desired(spec, tls, &Owner::Ids(u, g), &Owner::Ids(102, 104)).unwrap()
}

/// With etcd's and HAProxy's users `other`, and the postgres user `postgres`.
pub(super) fn try_desired(
    spec: &Spec,
    tls: &crate::tls::cert::ClusterCerts,
    other: &Owner,
    postgres: &Owner,
) -> Result<Desired, String> {
    let files = crate::render::ClusterFiles {
        patroni: spec
            .nodes
            .names
            .iter()
            .map(|n| (n.clone(), format!("name: {n}\n")))
            .collect(),
        haproxy: "global\n".into(),
        ..crate::render::cluster_files(spec, tls).unwrap()
    };
    desired(
        spec,
        &Inputs {
            node_image: "pgha-node:abc",
            etcd_image: "pgha-node:abc",
            haproxy_image: "pgha-node:abc",
            postgres_owner: postgres,
            files: &files,
            secrets_yml: "secret: x\n",
            pgpass: "*:*:*:postgres:x\n",
            tls,
            etcd_owner: other,
            haproxy_owner: other,
            prometheus_owner: &Owner::Ids(100, 101),
            monitor_password: "mon-pw",
            monitoring_web_yml: "basic_auth_users:\n  pgha: \"$2b$10$x\"\n",
            monitoring_web_password: "web-pw",
            passwords_yml: "groups: []\n",
        },
    )
}

#[test]
fn default_spec_wants_three_etcd_three_nodes_and_haproxy_in_start_order() {
    let d = desired_for(&Spec::default());
    let names: Vec<&str> = d.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "pgha-etcd1",
            "pgha-etcd2",
            "pgha-etcd3",
            "pgha-pg1",
            "pgha-pg2",
            "pgha-pg3",
            "pgha-haproxy",
            "pgha-prometheus",
            "pgha-alertmanager"
        ]
    );
    assert_eq!(container_names(&Spec::default()), names);
    assert_eq!(d.network, "pgha-net");
    assert_eq!(
        d.volumes.len(),
        8,
        "3 etcd, the repository, 3 nodes, Prometheus"
    );
    for c in &d.containers {
        assert_eq!(c.labels[LABEL_CLUSTER], "pgha");
        assert!(
            c.ports.iter().all(|p| p.host_ip == "127.0.0.1"),
            "{}",
            c.name
        );
        assert!(c.cmd.iter().all(|a| !a.contains("password")));
    }
    let pg1 = &d.containers[3];
    assert_eq!(pg1.ports[0].host_port, 5431);
    assert_eq!(pg1.stop_timeout, STOP_TIMEOUT_SECS);
    let secrets = pg1.files.iter().find(|f| f.secret).unwrap();
    assert_eq!((secrets.mode, secrets.uid, secrets.gid), (0o600, 102, 104));
    assert_eq!(d.containers[6].ports[0].host_port, 54320);
}

#[test]
fn secrets_do_not_change_the_config_hash_but_configs_do() {
    let spec = Spec::default();
    let a = desired_for(&spec);
    let mut c = a.containers[3].clone();
    c.files[1].contents = b"other".to_vec();
    assert_eq!(config_hash(&c), config_hash(&a.containers[3]));
    c.files[0].contents = b"other".to_vec();
    assert_ne!(config_hash(&c), config_hash(&a.containers[3]));
}

pub(super) fn running(want: &Desired) -> Inventory {
    Inventory {
        networks: vec![want.network.clone()],
        volumes: want.volumes.clone(),
        containers: want
            .containers
            .iter()
            .map(|c| ObservedContainer::running(c, want))
            .collect(),
    }
}

#[test]
fn nodes_get_256mib_shm_all_get_rotated_logs_and_limits_go_to_their_role() {
    let d = desired_for(&Spec::default());
    for c in &d.containers {
        let r = &c.resources;
        assert_eq!((r.log_max_size.as_str(), r.log_max_files), ("10m", 3));
        assert_eq!((r.nano_cpus, r.memory), (None, None), "{}", c.name);
        let shm = (c.kind == Kind::Node).then_some(268_435_456);
        assert_eq!(r.shm_size, shm, "{}", c.name);
    }
    let spec = Spec::parse(
        "[nodes]\ncpus = 1.5\nmemory = \"1GiB\"\n[haproxy]\ncpus = 0.25\n[logs]\nmax_files = 2",
        "t",
    )
    .unwrap();
    let d2 = desired_for(&spec);
    let by = |n: &str| d2.containers.iter().find(|c| c.name == n).unwrap().clone();
    assert_eq!(by("pgha-pg1").resources.memory, Some(1 << 30));
    assert_eq!(by("pgha-pg1").resources.nano_cpus, Some(1_500_000_000));
    assert_eq!(by("pgha-etcd1").resources.memory, None);
    assert_eq!(by("pgha-haproxy").resources.nano_cpus, Some(250_000_000));
    assert_eq!(by("pgha-etcd1").resources.log_max_files, 2);
    // Resources are part of what a container is: a changed limit is drift.
    for (a, b) in d.containers.iter().zip(&d2.containers) {
        assert_ne!(config_hash(a), config_hash(b), "{}", a.name);
    }
}

#[test]
fn bootstrap_settings_and_etcd_hosts_are_no_drift() {
    let hash_of = |toml: &str| {
        let spec = Spec::parse(&format!("name = \"t\"\n{toml}"), "test").unwrap();
        let patroni: BTreeMap<String, String> = spec
            .nodes
            .names
            .iter()
            .map(|n| (n.clone(), crate::render::patroni_yml(&spec, n).unwrap()))
            .collect();
        let mut c = desired_for(&spec)
            .containers
            .into_iter()
            .find(|c| c.member == "pg1")
            .unwrap();
        c.files[0].contents = patroni["pg1"].clone().into_bytes();
        config_hash(&c)
    };
    let base = hash_of("");
    assert_eq!(
        base,
        hash_of("[patroni]\nttl = 25\n[patroni.parameters]\nwork_mem = \"8MB\"")
    );
    // Patroni follows etcd's own member list once it runs: the etcd hosts are no drift either.
    assert_eq!(base, hash_of("[etcd]\nmembers = 5"));
}

#[test]
fn nodes_mount_the_repository_and_a_restored_cluster_its_source_read_only() {
    let d = desired_for(&Spec::default());
    assert!(d.volumes.contains(&"pgha-backup".to_string()));
    let pg1 = d.containers.iter().find(|c| c.member == "pg1").unwrap();
    assert_eq!(
        pg1.volumes[0].0, "pgha-pg1-data",
        "the data volume comes first"
    );
    assert!(pg1
        .volumes
        .contains(&("pgha-backup".into(), "/var/lib/pgbackrest".into())));
    assert!(pg1.ro_volumes.is_empty());
    assert!(pg1
        .env
        .contains(&"PGBACKREST_CONFIG=/etc/pgha/pgbackrest.conf".to_string()));
    assert!(pg1
        .files
        .iter()
        .any(|f| f.path == "/etc/pgha/pgbackrest.conf" && !f.secret));
    let etcd1 = d.containers.iter().find(|c| c.member == "etcd1").unwrap();
    assert_eq!(etcd1.volumes.len(), 1, "etcd does not mount the repository");

    let restored = Spec {
        name: "copy".into(),
        bootstrap_from: Some(crate::spec::RestoreSource {
            stanza: "pgha".into(),
            volume: "pgha-backup".into(),
            options: vec![],
        }),
        ..Spec::default()
    };
    let d = desired_for(&restored);
    let pg1 = d.containers.iter().find(|c| c.member == "pg1").unwrap();
    assert_eq!(
        pg1.ro_volumes,
        vec![(
            "pgha-backup".to_string(),
            "/var/lib/pgbackrest-source".to_string()
        )]
    );
    assert!(pg1
        .volumes
        .contains(&("copy-backup".into(), "/var/lib/pgbackrest".into())));
    assert!(
        !d.volumes.contains(&"pgha-backup".to_string()),
        "the source is not ours"
    );

    let mut off = Spec::default();
    off.backup.enabled = false;
    let d = desired_for(&off);
    assert_eq!(d.volumes.len(), 7);
    let pg1 = d.containers.iter().find(|c| c.member == "pg1").unwrap();
    assert_eq!(pg1.volumes.len(), 1);
    assert_eq!(pg1.env, vec!["LANG=C.UTF-8".to_string()]);
}
