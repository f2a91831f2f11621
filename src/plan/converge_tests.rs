//! Plan tests of `up` against what exists: what it creates, replaces, removes and joins, which
//! containers run, and the preflight checks.

use super::tests::{desired_for, running};
use super::*;
use crate::spec::Spec;

#[test]
fn up_on_nothing_creates_everything_and_on_a_healthy_cluster_nothing() {
    let want = desired_for(&Spec::default());
    let p = container_plan(&want, &Inventory::default());
    assert!(p.create_network);
    assert_eq!(p.create.len(), 9);
    assert_eq!(p.create_volumes.len(), 8);
    assert!(!p.is_noop());

    let have = running(&want);
    let p = container_plan(&want, &have);
    assert!(p.is_noop(), "{p:?}");
    assert!(p.replace.is_empty() && p.remove.is_empty());

    let mut stopped = have.clone();
    stopped.containers[4].running = false;
    stopped.containers[4].config_hash = Some("old".into());
    let p = container_plan(&want, &stopped);
    assert_eq!(p.start, vec!["pgha-pg2"]);
    let replaced: Vec<&str> = p.replace.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(replaced, vec!["pgha-pg2"]);
    assert_eq!(
        p.replace[0].reason,
        "its settings changed (command, ports, limits or config file)"
    );
    assert!(p.create.is_empty());
    assert_eq!(p.members(&want), vec!["pg2"], "what up silences");
    let fresh = container_plan(&want, &Inventory::default());
    assert_eq!(fresh.members(&want).len(), 9);
    assert!(container_plan(&want, &have).members(&want).is_empty());
}

#[test]
fn another_image_or_a_rebuilt_one_is_a_replacement_with_its_reason() {
    let mut want = desired_for(&Spec::default());
    want.image_ids
        .insert("pgha-node:abc".into(), "sha256:1111111111111111".into());
    let mut have = running(&want);
    assert!(container_plan(&want, &have).is_noop());
    // Same reference, another image behind it (a rebuild): every container is replaced.
    for c in &mut have.containers {
        c.image_id = Some("sha256:2222222222222222".into());
    }
    let p = container_plan(&want, &have);
    assert_eq!(p.replace.len(), 9);
    assert_eq!(
        p.replace[0].reason,
        "image pgha-node:abc now names another image (222222222222 -> 111111111111)"
    );
    // Another reference: its name.
    let mut have = running(&want);
    have.containers[3].image = "pgha-node:old".into();
    have.containers[3].config_hash = Some("old".into());
    let p = container_plan(&want, &have);
    assert_eq!(p.replace.len(), 1);
    assert_eq!(p.replace[0].reason, "image pgha-node:old -> pgha-node:abc");
}

#[test]
fn a_node_the_spec_no_longer_names_is_removed_and_a_new_one_created() {
    let four = Spec::parse("[nodes]\nnames = [\"pg1\", \"pg2\", \"pg3\", \"pg4\"]", "t").unwrap();
    let have = running(&desired_for(&four));
    let want = desired_for(&Spec::default());
    let p = container_plan(&want, &have);
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

    let grow = container_plan(&desired_for(&four), &running(&want));
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
    assert!(container_plan(&five, &Inventory::default())
        .etcd_join
        .is_empty());
    assert_eq!(etcd_membership_refusal(&three, &running(&three)), None);

    // 3 -> 5: etcd4 and etcd5 join (not created like new containers), volumes made first.
    assert_eq!(etcd_membership_refusal(&five, &running(&three)), None);
    let grow = container_plan(&five, &running(&three));
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
    let shrink = container_plan(&three, &running(&five));
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
    let p = container_plan(&three, &lost);
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
    let p = container_plan(&three, &kept);
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
#[test]
fn a_container_created_but_never_started_is_removed_and_created_again() {
    let want = desired_for(&Spec::default());
    let mut have = running(&want);
    // An earlier `up` stopped after creating pg2 (its files may be missing), and haproxy is gone.
    let pg2 = &mut have.containers[4];
    assert_eq!(pg2.name, "pgha-pg2");
    (pg2.running, pg2.state) = (false, "created".into());
    have.containers.retain(|c| c.name != "pgha-haproxy");
    let p = container_plan(&want, &have);
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
    let p = container_plan(&want, &have);
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
