//! Plan tests: the objects a spec asks for, and `up` against what exists.

use super::*;
use crate::spec::Spec;

fn desired_for(spec: &Spec) -> Desired {
    let patroni: BTreeMap<String, String> = spec
        .nodes
        .names
        .iter()
        .map(|n| (n.clone(), format!("name: {n}\n")))
        .collect();
    desired(
        spec,
        &Inputs {
            node_image: "pgha-node:abc",
            etcd_image: "pgha-node:abc",
            haproxy_image: "pgha-node:abc",
            postgres_uid: 102,
            postgres_gid: 104,
            patroni: &patroni,
            haproxy: "global\n",
            secrets_yml: "secret: x\n",
            pgpass: "*:*:*:postgres:x\n",
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
            "pgha-haproxy"
        ]
    );
    assert_eq!(container_names(&Spec::default()), names);
    assert_eq!(d.network, "pgha-net");
    assert_eq!(d.volumes.len(), 6);
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

#[test]
fn up_on_nothing_creates_everything_and_on_a_healthy_cluster_nothing() {
    let want = desired_for(&Spec::default());
    let p = up_plan(&want, &Inventory::default());
    assert!(p.create_network);
    assert_eq!(p.create.len(), 7);
    assert_eq!(p.create_volumes.len(), 6);
    assert!(!p.is_noop());

    let have = Inventory {
        networks: vec![want.network.clone()],
        volumes: want.volumes.clone(),
        containers: want
            .containers
            .iter()
            .map(|c| ObservedContainer {
                name: c.name.clone(),
                kind: Some(c.kind),
                member: c.member.clone(),
                running: true,
                state: "running".into(),
                config_hash: c.labels.get(LABEL_CONFIG_HASH).cloned(),
            })
            .collect(),
    };
    let p = up_plan(&want, &have);
    assert!(p.is_noop(), "{p:?}");
    assert!(p.drift.is_empty());

    let mut stopped = have.clone();
    stopped.containers[4].running = false;
    stopped.containers[4].config_hash = Some("old".into());
    let p = up_plan(&want, &stopped);
    assert_eq!(p.start, vec!["pgha-pg2"]);
    assert_eq!(p.drift, vec!["pgha-pg2"]);
    assert!(p.create.is_empty());
}
