//! Decision tests over a Patroni 4 cluster recorded by the e2e verify test (leader pg2, sync
//! standby pg3, replica pg1), read with the leader and the replica swapping names so that the
//! cases below read leader pg1, sync standby pg3, replica pg2, in a cluster called demo.

use super::*;
use crate::state::{ClusterView, Kv, Lag};

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
fn failover_allows_a_dead_leader_and_refuses_data_loss_unless_allowed() {
    let mut v = view();
    v.leader = None;
    assert_eq!(failover(&v, "pg3", false), Ok(None));
    // pg2 is not the sync standby: refused without --allow-data-loss, naming risk and lag.
    let lag = match v.lag_bytes(&v.members[1]) {
        Lag::Bytes(b) => b,
        other => panic!("{other:?}"),
    };
    let err = failover(&v, "pg2", false).unwrap_err();
    assert_eq!(
        err,
        format!("DATA LOSS RISK: pg2 is not the synchronous standby (pg3) and lags {lag} bytes behind the leader's last known position; commits acknowledged by the sync standby may be lost; refused: pass --allow-data-loss to fail over anyway")
    );
    let risk = failover(&v, "pg2", true).unwrap().unwrap();
    assert_eq!(risk.not_sync_of, Some(vec!["pg3".to_string()]));
    assert!(risk.describe().contains(&format!("lags {lag} bytes")));
    // The sync standby lagging by any byte is a risk too.
    let mut behind = v.clone();
    behind.members[2].data.xlog_location = Some(v.optime.unwrap() - 100);
    let err = failover(&behind, "pg3", false).unwrap_err();
    assert!(
        err.starts_with("DATA LOSS RISK: pg3 lags 100 bytes behind")
            && err.contains("--allow-data-loss"),
        "{err}"
    );
    assert_eq!(
        failover(&behind, "pg3", true).unwrap().unwrap().lag,
        Lag::Bytes(100)
    );
    // Without synchronous mode a replica level with the leader is no risk.
    let mut async_mode = v.clone();
    async_mode.config.as_mut().unwrap()["synchronous_mode"] = serde_json::json!(false);
    async_mode.members[1].data.xlog_location = async_mode.optime;
    assert_eq!(failover(&async_mode, "pg2", false), Ok(None));
    let mut unknown = async_mode.clone();
    unknown.members[1].data.xlog_location = None;
    assert!(failover(&unknown, "pg2", false)
        .unwrap_err()
        .contains("lag unknown"));
    assert!(failover(&view(), "pg1", true)
        .unwrap_err()
        .contains("already the leader"));
}

fn facts<'a>(v: Option<&'a ClusterView>, healthy: &[&str]) -> StopFacts<'a> {
    StopFacts {
        view: v,
        etcd_members: 3,
        etcd_healthy: healthy.iter().map(|s| s.to_string()).collect(),
    }
}

fn node(n: &str) -> Down {
    Down::Node(n.into())
}

fn etcd(n: &str) -> Down {
    Down::Etcd(n.into())
}

/// (case, view, healthy etcd, targets, cumulative, expected reason prefixes; empty: allowed)
type Case<'a> = (
    &'a str,
    Option<&'a ClusterView>,
    &'a [&'a str],
    Vec<Down>,
    bool,
    Vec<&'a str>,
);

#[test]
fn stop_guard_table() {
    let v = view();
    let all = ["etcd1", "etcd2", "etcd3"];
    let mut no_sync_mode = v.clone();
    no_sync_mode.config.as_mut().unwrap()["synchronous_mode"] = serde_json::json!(false);
    let mut pg3_stopped = no_sync_mode.clone();
    pg3_stopped.members[2].data.state = Some("stopped".into());
    // (case, view, healthy etcd, targets, cumulative, expected reason fragments; empty: allowed)
    let cases: Vec<Case> = vec![
        (
            "async replica",
            Some(&v),
            &all,
            vec![node("pg2")],
            true,
            vec![],
        ),
        (
            "leader hands over",
            Some(&v),
            &all,
            vec![node("pg1")],
            true,
            vec![],
        ),
        ("haproxy", Some(&v), &all, vec![Down::Haproxy], true, vec![]),
        (
            "sync standby in synchronous mode",
            Some(&v),
            &all,
            vec![node("pg3")],
            true,
            vec!["pg3: is the synchronous standby of the leader pg1 (synchronous mode)"],
        ),
        (
            "sync standby, no synchronous mode",
            Some(&no_sync_mode),
            &all,
            vec![node("pg3")],
            true,
            vec![],
        ),
        (
            "both replicas together",
            Some(&no_sync_mode),
            &all,
            vec![node("pg2"), node("pg3")],
            true,
            vec!["pg3: is the last running replica"],
        ),
        (
            "both replicas one at a time (restart)",
            Some(&no_sync_mode),
            &all,
            vec![node("pg2"), node("pg3")],
            false,
            vec![],
        ),
        (
            "the last running replica",
            Some(&pg3_stopped),
            &all,
            vec![node("pg2")],
            true,
            vec!["pg2: is the last running replica"],
        ),
        (
            "a stopped replica",
            Some(&pg3_stopped),
            &all,
            vec![node("pg3")],
            true,
            vec![],
        ),
        (
            "one etcd of 3 healthy",
            None,
            &all,
            vec![etcd("etcd1")],
            true,
            vec![],
        ),
        (
            "a second etcd",
            None,
            &["etcd2", "etcd3"],
            vec![etcd("etcd2")],
            true,
            vec!["etcd2: would leave 1 of 3 etcd members healthy, below the quorum of 2"],
        ),
        (
            "two etcd together",
            None,
            &all,
            vec![etcd("etcd1"), etcd("etcd2")],
            true,
            vec!["etcd2: would leave 1 of 3"],
        ),
        (
            "two etcd one at a time (restart)",
            None,
            &all,
            vec![etcd("etcd1"), etcd("etcd2")],
            false,
            vec![],
        ),
        (
            "restart of an etcd while another is down",
            None,
            &["etcd1", "etcd3"],
            vec![etcd("etcd1")],
            false,
            vec!["etcd1: would leave 1 of 3"],
        ),
        (
            "an etcd that is down already",
            None,
            &["etcd1", "etcd3"],
            vec![etcd("etcd2")],
            true,
            vec![],
        ),
        (
            "a node without etcd state",
            None,
            &all,
            vec![node("pg2")],
            true,
            vec!["pg2: the cluster's state cannot be read from etcd"],
        ),
    ];
    for (case, v, healthy, targets, cumulative, want) in cases {
        let got = stop_guard(&facts(v, healthy), &targets, cumulative);
        assert_eq!(got.len(), want.len(), "{case}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(g.starts_with(w), "{case}: {g} does not start with {w}");
        }
    }
}

#[test]
fn a_new_start_is_another_start_time() {
    assert!(is_new_start(None, Some("2026-11-28 10:00:01.5+00:00")));
    assert!(is_new_start(
        Some("2026-11-28 10:00:01.5+00:00"),
        Some("2026-11-28 10:05:00.1+00:00")
    ));
    assert!(!is_new_start(
        Some("2026-11-28 10:00:01.5+00:00"),
        Some("2026-11-28 10:00:01.5+00:00")
    ));
    assert!(!is_new_start(Some("2026-11-28 10:00:01.5+00:00"), None));
    assert!(!is_new_start(None, None));
    assert_eq!(
        start_time(&serde_json::json!({"postmaster_start_time": ""})),
        None
    );
}

#[test]
fn restarted_needs_a_new_start_that_runs_in_its_role() {
    let v = view();
    let lt = v.leader_timeline().unwrap();
    let old = "2026-11-28 10:00:00+00:00";
    let new = "2026-11-28 10:01:00+00:00";
    let st = |t: &str, state: &str, role: &str, rs: Option<&str>, tl: u64| {
        let mut s = serde_json::json!({"postmaster_start_time": t, "state": state, "role": role, "timeline": tl});
        if let Some(r) = rs {
            s["replication_state"] = r.into();
        }
        s
    };
    // The same start: not restarted, whatever it reports.
    assert!(restarted(
        &v,
        "pg1",
        Some(old),
        &st(old, "running", "primary", None, lt)
    )
    .unwrap_err()
    .contains("has not started again"));
    assert!(restarted(
        &v,
        "pg1",
        Some(old),
        &st(new, "starting", "primary", None, lt)
    )
    .unwrap_err()
    .contains("is starting"));
    assert_eq!(
        restarted(
            &v,
            "pg1",
            Some(old),
            &st(new, "running", "primary", None, lt)
        ),
        Ok(())
    );
    assert!(restarted(
        &v,
        "pg1",
        Some(old),
        &st(new, "running", "replica", None, lt)
    )
    .is_err());
    assert_eq!(
        restarted(
            &v,
            "pg2",
            Some(old),
            &st(new, "running", "replica", Some("streaming"), lt)
        ),
        Ok(())
    );
    assert!(restarted(
        &v,
        "pg2",
        Some(old),
        &st(new, "running", "replica", Some("in archive recovery"), lt)
    )
    .is_err());
    assert!(restarted(
        &v,
        "pg2",
        Some(old),
        &st(new, "running", "replica", Some("streaming"), lt - 1)
    )
    .is_err());
    assert_eq!(
        restarted(
            &v,
            "pg2",
            None,
            &st(new, "running", "replica", Some("streaming"), lt)
        ),
        Ok(())
    );
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
