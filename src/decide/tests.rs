//! Decision tests over a Patroni 4 cluster recorded by the e2e verify test (leader pg2, sync
//! standby pg3, replica pg1), read with the leader and the replica swapping names so that the
//! cases below read leader pg1, sync standby pg3, replica pg2, in a cluster called demo.

use super::*;
use crate::state::{ClusterView, Kv};

fn view() -> ClusterView {
    let path = format!(
        "{}/tests/fixtures/etcd-patroni4-healthy.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("pg1", "pg-swap")
        .replace("pg2", "pg1")
        .replace("pg-swap", "pg2");
    let kvs: Vec<Kv> = serde_json::from_str(&text).unwrap();
    let mut v = ClusterView::from_kvs("demo", "/service/it-verify/", &kvs);
    // Bring pg3 level with the leader so that only the rule under test refuses.
    v.members[2].data.xlog_location = v.optime;
    v
}

#[test]
fn best_candidate_is_the_sync_standby() {
    let s = switchover(&view(), None, None, false).unwrap();
    assert_eq!(
        s,
        Switchover {
            leader: "pg1".into(),
            candidate: "pg3".into()
        }
    );
}

#[test]
fn switchover_refusals_name_the_reason() {
    let v = view();
    assert_eq!(
        switchover(&v, Some("pg1"), None, false).unwrap_err(),
        "pg1 is already the leader; name another member with --candidate"
    );
    assert_eq!(
        switchover(&v, Some("pg9"), None, false).unwrap_err(),
        "member pg9 is not in cluster demo (members: pg1, pg2, pg3)"
    );
    assert_eq!(
        switchover(&v, Some("pg2"), None, false).unwrap_err(),
        "pg2 is not a synchronous standby; in synchronous mode only a synchronous standby can take over (now: pg3)"
    );
    assert_eq!(
        switchover(&v, Some("pg3"), Some("pg2"), false).unwrap_err(),
        "pg2 is not the leader of cluster demo; pg1 is"
    );
    let mut stopped = v.clone();
    stopped.members[2].data.state = Some("stopped".into());
    assert_eq!(
        switchover(&stopped, Some("pg3"), None, false).unwrap_err(),
        "pg3 is stopped, not running"
    );
    let mut lagging = v.clone();
    lagging.members[2].data.xlog_location = Some(0);
    assert!(switchover(&lagging, Some("pg3"), None, false)
        .unwrap_err()
        .contains("more than maximum_lag_on_failover (1048576)"));
    let mut paused = v.clone();
    paused.config.as_mut().unwrap()["pause"] = serde_json::json!(true);
    assert!(switchover(&paused, None, None, false)
        .unwrap_err()
        .contains("paused"));
    assert!(switchover(&paused, Some("pg3"), None, true)
        .unwrap_err()
        .contains("cannot be scheduled"));
    assert!(switchover(&paused, Some("pg3"), None, false).is_ok());
    let mut no_leader = v.clone();
    no_leader.leader = None;
    assert!(switchover(&no_leader, None, None, false)
        .unwrap_err()
        .contains("has no leader"));
    let mut pending = v.clone();
    pending.failover.member = Some("pg3".into());
    assert!(switchover(&pending, None, None, false)
        .unwrap_err()
        .contains("already pending"));
}

#[test]
fn without_synchronous_mode_the_least_lagging_replica_wins() {
    let mut v = view();
    v.config.as_mut().unwrap()["synchronous_mode"] = serde_json::json!(false);
    v.members[2].data.xlog_location = Some(v.optime.unwrap() - 10);
    assert_eq!(switchover(&v, None, None, false).unwrap().candidate, "pg2");
    assert!(switchover(&v, Some("pg3"), None, false).is_ok());
}

#[test]
fn failover_allows_a_dead_leader_and_warns_about_async_candidates() {
    let mut v = view();
    v.leader = None;
    assert_eq!(failover(&v, "pg3").unwrap(), Vec::<String>::new());
    let w = failover(&v, "pg2").unwrap();
    assert!(w[0].contains("not the synchronous standby"), "{w:?}");
    assert!(failover(&view(), "pg1")
        .unwrap_err()
        .contains("already the leader"));
}

#[test]
fn reinit_refuses_the_leader_and_unknown_members() {
    let v = view();
    assert!(reinit(&v, "pg2").is_ok());
    assert_eq!(
        reinit(&v, "pg1").unwrap_err(),
        "pg1 is the leader; reinit rebuilds a replica from the leader (switch over first)"
    );
    assert!(reinit(&v, "x").unwrap_err().contains("not in cluster demo"));
}
