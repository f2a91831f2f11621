//! State parsing over captured etcd data: Patroni 4 (`primary`) and 3 (`master`), lag, unknown
//! lag, a paused cluster, and a live pgha cluster.

use super::*;
use crate::output::{list_report, list_table};

fn load(file: &str, scope: &str) -> ClusterView {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let kvs: Vec<Kv> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    ClusterView::from_kvs(scope, &format!("/service/{scope}/"), &kvs)
}

#[test]
fn patroni4_cluster_gives_patronictls_table() {
    let v = load("etcd-patroni4-reference.json", "demo");
    let r = list_report(&v);
    assert_eq!(r.system_id, "7712639139029889075");
    type Row<'a> = (&'a str, &'a str, &'a str, &'a str, Option<u64>, Option<u64>);
    let rows: Vec<Row> = r
        .members
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
        .collect();
    assert_eq!(
        rows,
        vec![
            ("pg1", "127.0.0.1:5432", "Leader", "running", Some(1), None),
            (
                "pg2",
                "127.0.0.1:5433",
                "Replica",
                "streaming",
                Some(1),
                Some(0)
            ),
            // 83886176 - 79691776 = 4194400 bytes = 4.00009 MB
            (
                "pg3",
                "127.0.0.1:5434",
                "Sync Standby",
                "streaming",
                Some(1),
                Some(4)
            ),
        ]
    );
    assert_eq!(r.members[2].lag_bytes, Some(4_194_400));
    assert!(!r.maintenance_mode);
    assert!(!v.failover.is_pending());
    assert_eq!(v.history.len(), 2);
    assert_eq!(v.history[1].new_leader.as_deref(), Some("pg2"));
    let table = list_table(&r);
    assert!(
        table.starts_with("+ Cluster: demo (7712639139029889075) "),
        "{table}"
    );
    assert!(
        table.contains("| pg3    | 127.0.0.1:5434 | Sync Standby | streaming |  1 |         4 |"),
        "{table}"
    );
}

#[test]
fn patroni3_master_paused_unknown_lag_and_pending_restart() {
    let v = load("etcd-patroni3-paused.json", "old");
    assert!(v.paused());
    assert_eq!(v.optime, Some(50_331_648), "legacy optime/leader is used");
    let leader = v.member("node-a").unwrap();
    assert!(leader.is_primary_role(), "master counts as primary");
    let r = list_report(&v);
    assert_eq!(r.members[0].role, "Leader");
    // 3 MiB behind.
    assert_eq!(r.members[1].lag_mb, Some(3));
    assert!(r.members[2].lag_unknown);
    assert_eq!(r.members[2].state, "starting");
    assert!(r.members[2].pending_restart);
    // Hosts are unique and all on 5432: shown without port.
    assert_eq!(r.members[0].host, "10.0.0.1");
    let table = list_table(&r);
    assert!(table.contains("Pending restart"), "{table}");
    assert!(table.contains("unknown"), "{table}");
    assert!(table.contains(" Maintenance mode: on"), "{table}");
    assert!(
        table.contains(" Switchover scheduled at: 2026-12-01T10:00:00+00:00"),
        "{table}"
    );
    assert!(v.failover.is_pending());
    assert!(!v.synchronous_mode());
    assert_eq!(v.role_of(v.member("node-b").unwrap()), Role::Replica);
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
    let v = load("etcd-patroni4-reference.json", "demo");
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
        Err("leader pg1; pg4 not registered".to_string())
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
