//! State parsing over etcd keys recorded from a real Patroni 4.0.7 cluster by the e2e test
//! `verify::verify_passes_on_a_fresh_cluster_and_leaves_it_healthy` (PGHA_RECORD_FIXTURES=1):
//! healthy with a sync standby (after a failover, a switchover and a partition), a pending
//! restart with a scheduled switchover, and paused. Cases Patroni 4 cannot produce on demand
//! (Patroni 3's `master` role, the legacy optime key, lag, a starting member) are derived here
//! from a recording, in code.

use super::*;
use crate::output::{list_report, list_table};

const SCOPE: &str = "it-verify";
const PREFIX: &str = "/service/it-verify/";
/// The recorded cluster's optime (status key), where every member stood.
const OPTIME: u64 = 72_440_184;

fn kvs(file: &str) -> Vec<Kv> {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn load(file: &str) -> ClusterView {
    ClusterView::from_kvs(SCOPE, PREFIX, &kvs(file))
}

/// Changes one member key's JSON value.
fn edit_member(kvs: &mut [Kv], member: &str, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let kv = kvs
        .iter_mut()
        .find(|kv| kv.key == format!("{PREFIX}members/{member}"))
        .unwrap();
    let mut v: Value = serde_json::from_str(&kv.value).unwrap();
    f(v.as_object_mut().unwrap());
    kv.value = v.to_string();
}

type Row<'a> = (&'a str, &'a str, &'a str, &'a str, Option<u64>, Option<u64>);

fn rows(r: &crate::output::ListReport) -> Vec<Row<'_>> {
    r.members
        .iter()
        .map(|m| {
            (
                m.member.as_str(),
                m.host.as_str(),
                m.role.as_str(),
                m.state.as_str(),
                m.timeline,
                m.lag_mb,
            )
        })
        .collect()
}

#[test]
fn recorded_healthy_cluster_gives_patronictls_table() {
    let v = load("etcd-patroni4-healthy.json");
    let r = list_report(&v);
    assert_eq!(r.system_id, "7713370391788265500");
    assert_eq!(v.optime, Some(OPTIME));
    // Hosts are unique and all on 5432: shown without the port, as patronictl does.
    assert_eq!(
        rows(&r),
        vec![
            ("pg1", "pg1", "Replica", "streaming", Some(4), Some(0)),
            ("pg2", "pg2", "Leader", "running", Some(4), None),
            ("pg3", "pg3", "Sync Standby", "streaming", Some(4), Some(0)),
        ]
    );
    assert!(v.synchronous_mode());
    assert!(v.is_sync_standby("pg3") && !v.is_sync_standby("pg1"));
    assert!(!r.maintenance_mode);
    assert!(!v.paused());
    // After a switchover Patroni leaves the failover key as `{}`: nothing pending.
    assert!(!v.failover.is_pending());
    // Three timelines ended: the failover to pg3, the switchover to pg1, the partition to pg2.
    let leaders: Vec<Option<&str>> = v.history.iter().map(|h| h.new_leader.as_deref()).collect();
    assert_eq!(leaders, vec![Some("pg3"), Some("pg1"), Some("pg2")]);
    let table = list_table(&r);
    assert!(
        table.starts_with("+ Cluster: it-verify (7713370391788265500) "),
        "{table}"
    );
    assert!(
        table.contains("| pg3    | pg3  | Sync Standby | streaming |  4 |         0 |"),
        "{table}"
    );
    assert!(!table.contains("Pending restart"), "{table}");
    assert!(!table.contains("Maintenance mode"), "{table}");
}

#[test]
fn lag_is_the_optime_less_the_members_location() {
    let mut k = kvs("etcd-patroni4-healthy.json");
    // 4194400 bytes behind = 4.00009 MB.
    edit_member(&mut k, "pg3", |m| {
        m.insert("xlog_location".into(), (OPTIME - 4_194_400).into());
    });
    let r = list_report(&ClusterView::from_kvs(SCOPE, PREFIX, &k));
    assert_eq!(r.members[2].lag_bytes, Some(4_194_400));
    assert_eq!(r.members[2].lag_mb, Some(4));
    assert_eq!(r.members[0].lag_mb, Some(0));
}

#[test]
fn a_starting_member_without_a_location_has_unknown_lag() {
    let mut k = kvs("etcd-patroni4-healthy.json");
    edit_member(&mut k, "pg1", |m| {
        m.insert("state".into(), "starting".into());
        m.remove("xlog_location");
        m.remove("replication_state");
    });
    let v = ClusterView::from_kvs(SCOPE, PREFIX, &k);
    let r = list_report(&v);
    assert!(r.members[0].lag_unknown);
    assert_eq!(r.members[0].state, "starting");
    assert!(list_table(&r).contains("unknown"));
    assert_eq!(
        v.streams("pg1", 0),
        Err("pg1 starting".to_string()),
        "a starting member does not stream"
    );
}

#[test]
fn recorded_pending_restart_and_scheduled_switchover() {
    let v = load("etcd-patroni4-pending-restart.json");
    let r = list_report(&v);
    assert!(r.members.iter().all(|m| m.pending_restart), "{r:?}");
    assert!(v.failover.is_pending());
    assert_eq!(
        (v.failover.leader.as_deref(), v.failover.member.as_deref()),
        (Some("pg2"), Some("pg3"))
    );
    let table = list_table(&r);
    assert!(table.contains("Pending restart"), "{table}");
    assert!(
        table.contains(" Switchover scheduled at: 2099-01-01T00:00:00+00:00"),
        "{table}"
    );
    assert!(
        table.contains("from: pg2") && table.contains("to: pg3"),
        "{table}"
    );
    assert!(!v.paused());
}

#[test]
fn recorded_paused_cluster() {
    let v = load("etcd-patroni4-paused.json");
    assert!(v.paused());
    let r = list_report(&v);
    assert!(r.maintenance_mode);
    assert!(list_table(&r).contains(" Maintenance mode: on"));
    // The scheduled switchover was removed before the pause.
    assert!(!v.failover.is_pending());
    // Members report the pause too.
    assert!(v.members.iter().all(|m| m.data.pause == Some(true)));
}

#[test]
fn patroni3_master_role_and_the_legacy_optime_key() {
    // Patroni 3 writes `master` where 4 writes `primary`; before the status key, the optime
    // stood in `optime/leader`.
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/etcd-patroni4-healthy.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("\"role\\\":\\\"primary\\\"", "\"role\\\":\\\"master\\\"")
    .replace("4.0.7", "3.3.2");
    assert!(text.contains("master"), "the replacement found the role");
    let mut k: Vec<Kv> = serde_json::from_str(&text).unwrap();
    k.retain(|kv| kv.key != format!("{PREFIX}status"));
    k.push(Kv {
        key: format!("{PREFIX}optime/leader"),
        value: OPTIME.to_string(),
        mod_revision: 1,
        lease: 0,
    });
    let v = ClusterView::from_kvs(SCOPE, PREFIX, &k);
    assert_eq!(v.optime, Some(OPTIME), "legacy optime/leader is used");
    let leader = v.member("pg2").unwrap();
    assert_eq!(leader.data.role.as_deref(), Some("master"));
    assert!(leader.is_primary_role(), "master counts as primary");
    assert_eq!(v.role_of(v.member("pg1").unwrap()), Role::Replica);
    let r = list_report(&v);
    assert_eq!(r.members[1].role, "Leader");
    assert_eq!(r.members[0].lag_mb, Some(0));
}

#[test]
fn rounding_is_half_to_even_like_python() {
    const MB: u64 = 1024 * 1024;
    assert_eq!(Lag::Bytes(MB / 2).mb(), Some(0));
    assert_eq!(Lag::Bytes(MB * 3 / 2).mb(), Some(2));
    assert_eq!(Lag::Bytes(MB * 5 / 2).mb(), Some(2));
    assert_eq!(Lag::Bytes(MB * 26 / 10).mb(), Some(3));
}

#[test]
fn health_names_what_is_missing() {
    let v = load("etcd-patroni4-healthy.json");
    let names: Vec<String> = ["pg1", "pg2", "pg3"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(health(&v, &names), Ok(()));
    let four: Vec<String> = ["pg1", "pg2", "pg3", "pg4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        health(&v, &four),
        Err("leader pg2; pg4 not registered".to_string())
    );
    let mut no_leader = v.clone();
    no_leader.leader = None;
    assert_eq!(health(&no_leader, &names), Err("no leader".to_string()));
    let empty = ClusterView::from_kvs("x", "/service/x/", &[]);
    assert_eq!(
        health(&empty, &names),
        Err("cluster not initialized yet".to_string())
    );
    assert_eq!(list_report(&empty).system_id, "uninitialized");
}

#[test]
fn failover_key_forms() {
    assert!(!parse_failover("{}").is_pending());
    let f = parse_failover("{\"leader\":\"a\",\"member\":\"b\"}");
    assert_eq!(
        (f.leader.as_deref(), f.member.as_deref()),
        (Some("a"), Some("b"))
    );
    let legacy = parse_failover("a:b");
    assert_eq!(legacy.member.as_deref(), Some("b"));
}
