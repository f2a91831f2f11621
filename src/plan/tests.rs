//! Plan tests: the objects a spec asks for, and `up` against what exists.

use super::*;
use crate::spec::Spec;

pub(super) fn desired_for(spec: &Spec) -> Desired {
    desired_with(spec, &crate::tls::cert::ClusterCerts::default(), None)
}

pub(super) fn desired_with(
    spec: &Spec,
    tls: &crate::tls::cert::ClusterCerts,
    ids: Option<(u64, u64)>,
) -> Desired {
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
            postgres_uid: 102,
            postgres_gid: 104,
            files: &files,
            secrets_yml: "secret: x\n",
            pgpass: "*:*:*:postgres:x\n",
            tls,
            etcd_ids: ids,
            haproxy_ids: ids,
            prometheus_ids: Some((100, 101)),
            monitor_password: "mon-pw",
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

#[test]
fn up_on_nothing_creates_everything_and_on_a_healthy_cluster_nothing() {
    let want = desired_for(&Spec::default());
    let p = up_plan(&want, &Inventory::default());
    assert!(p.create_network);
    assert_eq!(p.create.len(), 9);
    assert_eq!(p.create_volumes.len(), 8);
    assert!(!p.is_noop());

    let have = running(&want);
    let p = up_plan(&want, &have);
    assert!(p.is_noop(), "{p:?}");
    assert!(p.replace.is_empty() && p.remove.is_empty());

    let mut stopped = have.clone();
    stopped.containers[4].running = false;
    stopped.containers[4].config_hash = Some("old".into());
    let p = up_plan(&want, &stopped);
    assert_eq!(p.start, vec!["pgha-pg2"]);
    let replaced: Vec<&str> = p.replace.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(replaced, vec!["pgha-pg2"]);
    assert_eq!(
        p.replace[0].reason,
        "its settings changed (command, ports, limits or config file)"
    );
    assert!(p.create.is_empty());
}

#[test]
fn another_image_or_a_rebuilt_one_is_a_replacement_with_its_reason() {
    let mut want = desired_for(&Spec::default());
    want.image_ids
        .insert("pgha-node:abc".into(), "sha256:1111111111111111".into());
    let mut have = running(&want);
    assert!(up_plan(&want, &have).is_noop());
    // Same reference, another image behind it (a rebuild): every container is replaced.
    for c in &mut have.containers {
        c.image_id = Some("sha256:2222222222222222".into());
    }
    let p = up_plan(&want, &have);
    assert_eq!(p.replace.len(), 9);
    assert_eq!(
        p.replace[0].reason,
        "image pgha-node:abc now names another image (222222222222 -> 111111111111)"
    );
    // Another reference: its name.
    let mut have = running(&want);
    have.containers[3].image = "pgha-node:old".into();
    have.containers[3].config_hash = Some("old".into());
    let p = up_plan(&want, &have);
    assert_eq!(p.replace.len(), 1);
    assert_eq!(p.replace[0].reason, "image pgha-node:old -> pgha-node:abc");
}

#[test]
fn a_node_the_spec_no_longer_names_is_removed_and_a_new_one_created() {
    let four = Spec::parse("[nodes]\nnames = [\"pg1\", \"pg2\", \"pg3\", \"pg4\"]", "t").unwrap();
    let have = running(&desired_for(&four));
    let want = desired_for(&Spec::default());
    let p = up_plan(&want, &have);
    let removed: Vec<&str> = p.remove.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(removed, vec!["pgha-pg4"]);
    assert_eq!(p.remove[0].reason, "the spec no longer names pg4");
    // The helper gives HAProxy a fixed config; the rendered one lists the nodes, so a changed
    // node set changes HAProxy's config hash and `up` replaces it. Prometheus's scrape targets
    // are rendered here: it is replaced.
    let replaced: Vec<&str> = p.replace.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(replaced, ["pgha-prometheus"]);
    assert!(p.create.is_empty());
    assert_ne!(
        crate::render::haproxy_cfg(&four).unwrap(),
        crate::render::haproxy_cfg(&Spec::default()).unwrap()
    );

    let grow = up_plan(&desired_for(&four), &running(&want));
    assert_eq!(grow.create, vec!["pgha-pg4"]);
    assert!(grow.remove.is_empty());
    assert_eq!(grow.create_volumes, vec!["pgha-pg4-data"]);
}

#[test]
fn etcd_grows_and_shrinks_by_two_through_joins_and_removals() {
    let spec = |n: u32| Spec::parse(&format!("[etcd]\nmembers = {n}"), "t").unwrap();
    let (three, five) = (desired_for(&spec(3)), desired_for(&spec(5)));
    // A new cluster, or the same members: no refusal, nobody joins.
    assert_eq!(etcd_membership_refusal(&five, &Inventory::default()), None);
    assert!(up_plan(&five, &Inventory::default()).etcd_join.is_empty());
    assert_eq!(etcd_membership_refusal(&three, &running(&three)), None);

    // 3 -> 5: etcd4 and etcd5 join (not created like new containers), volumes made first.
    assert_eq!(etcd_membership_refusal(&five, &running(&three)), None);
    let grow = up_plan(&five, &running(&three));
    let joins: Vec<&str> = grow.etcd_join.iter().map(|c| c.member.as_str()).collect();
    assert_eq!(joins, ["etcd4", "etcd5"]);
    assert_eq!(
        grow.etcd_join[0].reason,
        "the spec has etcd4 as a new etcd member"
    );
    assert!(grow.create.is_empty(), "{grow:?}");
    assert_eq!(grow.create_volumes, ["pgha-etcd4-data", "pgha-etcd5-data"]);
    assert!(grow.rolls());

    // 5 -> 3: the highest members leave first.
    assert_eq!(etcd_membership_refusal(&three, &running(&five)), None);
    let shrink = up_plan(&three, &running(&five));
    let gone: Vec<&str> = shrink.remove.iter().map(|c| c.member.as_str()).collect();
    assert_eq!(gone, ["etcd5", "etcd4"]);
    assert!(shrink.remove[0]
        .reason
        .contains("etcd5 leaves etcd's membership"));

    // A member whose container and volume are gone joins again, empty.
    let mut lost = running(&three);
    lost.volumes.retain(|v| v != "pgha-etcd2-data");
    lost.containers.retain(|c| c.name != "pgha-etcd2");
    assert_eq!(etcd_membership_refusal(&three, &lost), None);
    let p = up_plan(&three, &lost);
    assert_eq!(p.etcd_join.len(), 1);
    assert!(
        p.etcd_join[0]
            .reason
            .starts_with("etcd2's data volume is gone"),
        "{p:?}"
    );
    assert!(p.create.is_empty());
    // Removed by hand with its volume kept: it is only re-created.
    let mut kept = running(&three);
    kept.containers.retain(|c| c.name != "pgha-etcd2");
    let p = up_plan(&three, &kept);
    assert!(p.etcd_join.is_empty());
    assert_eq!(p.create, ["pgha-etcd2"]);

    // Refused: below 3, more than two at a time, or no quorum left to rebuild from.
    let down = etcd_membership_refusal(&desired_for(&spec(1)), &running(&three)).unwrap();
    assert!(
        down.contains("pgha does not shrink etcd below 3 members"),
        "{down}"
    );
    let big = etcd_membership_refusal(&desired_for(&spec(7)), &running(&three)).unwrap();
    assert!(
        big.contains("by two members per `pgha up` (3 -> 5)"),
        "{big}"
    );
    let mut two_lost = lost.clone();
    two_lost.volumes.retain(|v| v != "pgha-etcd1-data");
    two_lost.containers.retain(|c| c.name != "pgha-etcd1");
    let nq = etcd_membership_refusal(&three, &two_lost).unwrap();
    assert!(
        nq.starts_with("2 of the cluster's 3 etcd members lost their data volumes"),
        "{nq}"
    );
}

/// What Docker would report for a cluster made from `want`, every container running.
pub(super) fn running(want: &Desired) -> Inventory {
    Inventory {
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
                tls: c
                    .labels
                    .get(crate::plan::LABEL_TLS)
                    .is_some_and(|v| v == "on"),
                image: c.image.clone(),
                image_id: want.image_ids.get(&c.image).cloned(),
            })
            .collect(),
    }
}

#[test]
fn a_container_created_but_never_started_is_removed_and_created_again() {
    let want = desired_for(&Spec::default());
    let mut have = running(&want);
    // An earlier `up` stopped after creating pg2 (its files may be missing), and haproxy is gone.
    let pg2 = &mut have.containers[4];
    assert_eq!(pg2.name, "pgha-pg2");
    (pg2.running, pg2.state) = (false, "created".into());
    have.containers.retain(|c| c.name != "pgha-haproxy");
    let p = up_plan(&want, &have);
    assert_eq!(p.recreate, vec!["pgha-pg2"]);
    assert_eq!(p.create, vec!["pgha-pg2", "pgha-haproxy"]);
    assert!(
        p.start.is_empty(),
        "never start a half-made container: {p:?}"
    );
    assert!(p.replace.is_empty());
    assert!(p.describe()[0].starts_with("remove container pgha-pg2 (created but never started)"));
    assert!(needs_create(&have, "pgha-pg2") && needs_create(&have, "pgha-haproxy"));
    assert!(!needs_create(&have, "pgha-pg1"));

    // An exited container ran once: it is started, not re-created.
    have.containers[4].state = "exited".into();
    let p = up_plan(&want, &have);
    assert_eq!(p.start, vec!["pgha-pg2"]);
    assert!(p.recreate.is_empty());
}

#[test]
fn containers_that_stopped_running_are_named() {
    let want = desired_for(&Spec::default());
    let mut have = running(&want);
    assert!(not_running(&want, &have).is_empty());
    have.containers.retain(|c| c.name != "pgha-pg3");
    have.containers[0].running = false;
    have.containers[0].state = "exited".into();
    assert_eq!(
        not_running(&want, &have),
        vec!["pgha-etcd1 is exited", "pgha-pg3 is gone"]
    );
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
fn preflight_checks_the_ports_of_the_containers_to_create_or_start_again() {
    use preflight::*;
    let spec = Spec::default();
    let want = desired_for(&spec);
    let all = ports_to_check(&spec, &Inventory::default());
    assert_eq!(all.len(), 3 + 6 + 3 + 2);
    // The same ports the containers are created with.
    let created: Vec<&PortSpec> = want.containers.iter().flat_map(|c| &c.ports).collect();
    assert_eq!(all.iter().map(|w| &w.port).collect::<Vec<_>>(), created);

    let mut have = running(&want);
    assert!(ports_to_check(&spec, &have).is_empty(), "a running cluster");
    have.containers.retain(|c| c.name != "pgha-pg1");
    have.containers[0].state = "created".into();
    // Exited containers are started again on their ports; restarting ones may hold them.
    have.containers[5].state = "exited".into();
    have.containers[1].state = "restarting".into();
    let some: Vec<String> = ports_to_check(&spec, &have)
        .iter()
        .map(|w| format!("{} {}", w.container, w.address()))
        .collect();
    assert_eq!(
        some,
        [
            "pgha-etcd1 127.0.0.1:54341",
            "pgha-pg1 127.0.0.1:5431",
            "pgha-pg1 127.0.0.1:54331",
            "pgha-haproxy 127.0.0.1:54320",
            "pgha-haproxy 127.0.0.1:54321",
            "pgha-haproxy 127.0.0.1:54322"
        ]
    );
}

#[test]
fn preflight_messages_are_one_line_naming_port_container_and_port_base() {
    use preflight::*;
    let spec = Spec::default();
    let all = ports_to_check(&spec, &Inventory::default());
    let one = ports_taken_message(&all[3..4]);
    assert_eq!(
        one,
        "127.0.0.1:5431 is already in use, and container pgha-pg1 needs it for PostgreSQL; set port_base in pgha.toml to move all of the cluster's ports (`pgha init` writes that file)"
    );
    let two = ports_taken_message(&[all[3].clone(), all[11].clone()]);
    assert!(
        two.starts_with("127.0.0.1:5431 (pgha-pg1, PostgreSQL), 127.0.0.1:54322 (pgha-haproxy, HAProxy stats) are already in use; set port_base in pgha.toml"),
        "{two}"
    );
    for m in [one, two] {
        assert_eq!(m.lines().count(), 1);
    }
}

#[test]
fn preflight_name_clash_names_objects_pgha_did_not_make() {
    use preflight::*;
    let spec = Spec::default();
    let names = object_names(&spec);
    assert_eq!(names.len(), 9 + 1 + 7);
    assert!(names.contains(&(Object::Network, "pgha-net".into())));
    assert!(names.contains(&(Object::Volume, "pgha-pg1-data".into())));
    let ours = Found {
        kind: Object::Container,
        name: "pgha-pg1".into(),
        cluster: Some("pgha".into()),
    };
    assert_eq!(name_clash_message(&spec, std::slice::from_ref(&ours)), None);
    let foreign = Found {
        kind: Object::Container,
        name: "pgha-pg2".into(),
        cluster: None,
    };
    let other = Found {
        kind: Object::Volume,
        name: "pgha-pg3-data".into(),
        cluster: Some("pg".into()),
    };
    assert_eq!(
        name_clash_message(&spec, &[ours, foreign, other]).unwrap(),
        "container pgha-pg2 exists and pgha did not make it (no io.pgha.cluster=pgha label); volume pgha-pg3-data belongs to pgha cluster pg; remove or rename it, or set another `name` in pgha.toml (`pgha init` writes that file)"
    );
}

#[test]
fn a_started_node_runs_when_its_own_api_says_leader_or_streaming() {
    use serde_json::json;
    assert_eq!(
        node_runs(&json!({"state": "running", "role": "primary"})),
        Ok(())
    );
    assert_eq!(
        node_runs(&json!({"state": "running", "role": "master"})),
        Ok(())
    );
    let streaming =
        json!({"state": "running", "role": "replica", "replication_state": "streaming"});
    assert_eq!(node_runs(&streaming), Ok(()));
    let archive =
        json!({"state": "running", "role": "replica", "replication_state": "in archive recovery"});
    assert_eq!(
        node_runs(&archive),
        Err("replica running, in archive recovery".into())
    );
    let starting = json!({"state": "starting", "role": "replica"});
    assert_eq!(node_runs(&starting), Err("replica starting".into()));
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

#[test]
fn a_kept_repository_without_node_data_is_an_orphan() {
    let spec = Spec::default();
    let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    use crate::commands::backup::repo::orphan_repository;
    assert!(orphan_repository(&spec, &v(&["pgha-backup"])));
    assert!(!orphan_repository(
        &spec,
        &v(&["pgha-backup", "pgha-pg2-data"])
    ));
    assert!(!orphan_repository(&spec, &v(&[])));
}
