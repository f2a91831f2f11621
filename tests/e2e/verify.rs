//! `pgha verify` on a fresh cluster (every check passes, the cluster is left healthy, checked here
//! from etcd, Docker and PostgreSQL), and on broken ones (it fails, names the problem, restores).

use crate::harness::*;
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(300);

fn verify(c: &TestCluster, extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec!["verify", "--yes", "--json"];
    args.extend_from_slice(extra);
    let out = c.pgha_output(&args, T);
    let stdout = text(&out.stdout);
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {stdout}\n{}", text(&out.stderr)));
    (out.status.code(), v, text(&out.stderr))
}

fn result<'a>(v: &'a Value, check: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no {check} in {v}"))
}

/// The cluster as etcd and PostgreSQL show it, read here without pgha: one leader, every other
/// member running and streaming, and `rows` rows of `table` on every node.
async fn assert_healthy(c: &TestCluster, table: &str, rows: i64) {
    let leader = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name))
        .await
        .expect("a leader");
    for m in ["pg1", "pg2", "pg3"] {
        let v = etcd_get(
            &c.etcd_endpoints(),
            &format!("/service/{}/members/{m}", c.name),
        )
        .await
        .unwrap_or_else(|| panic!("{m} has no member key"));
        let v: Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v["state"], "running", "{m}: {v}");
        if m != leader {
            assert_eq!(v["replication_state"], "streaming", "{m}: {v}");
        }
    }
    for name in c.labelled("container") {
        assert_eq!(
            docker(&["inspect", "-f", "{{.State.Running}}", &name]).trim(),
            "true",
            "{name}"
        );
    }
    let pw = c.superuser_password();
    for i in 0..3 {
        let client = pg(c.node_port(i), &pw, Duration::from_secs(30)).await;
        eventually(
            &format!("{rows} rows on pg{}", i + 1),
            Duration::from_secs(15),
            || async {
                let n: i64 = client
                    .query_one(&format!("select count(*) from {table}"), &[])
                    .await
                    .ok()?
                    .get(0);
                (n == rows).then_some(())
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_passes_on_a_fresh_cluster_and_leaves_it_healthy() {
    let c = TestCluster::new("verify", 6000, "");
    c.up();
    let pw = c.superuser_password();
    c.sql_on_primary("create table user_rows (id int primary key); insert into user_rows select generate_series(1, 500)").await;
    let (code, v, err) = tokio::task::block_in_place(|| verify(&c, &[]));
    assert_eq!(code, Some(0), "{v}\n{err}");
    assert_eq!(v["passed"], true);
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 10, "{v}");
    for ch in checks {
        assert_eq!(ch["result"], "PASS", "{ch}");
    }
    assert!(result(&v, "consistency")["figure"]
        .as_str()
        .unwrap()
        .contains("0 of"));
    assert_healthy(&c, "user_rows", 500).await;
    // The scratch database is gone.
    let admin = pg(c.primary_port(), &pw, T).await;
    let n: i64 = admin
        .query_one(
            "select count(*) from pg_database where datname = 'pgha_verify'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_fails_and_names_a_stopped_replica_or_haproxy() {
    let c = TestCluster::new("verifybad", 7000, "");
    c.up();
    c.sql_on_primary("create table user_rows (id int primary key); insert into user_rows select generate_series(1, 50)").await;
    let leader = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name))
        .await
        .unwrap();
    let replica = ["pg1", "pg2", "pg3"]
        .into_iter()
        .find(|m| *m != leader)
        .unwrap();
    docker(&["stop", &c.container(replica)]);

    let (code, v, err) = tokio::task::block_in_place(|| verify(&c, &[]));
    assert_eq!(code, Some(1), "{v}\n{err}");
    assert_eq!(v["passed"], false);
    let status = result(&v, "status");
    assert_eq!(status["result"], "FAIL", "{v}");
    assert!(
        status["figure"].as_str().unwrap().contains(replica),
        "{status}"
    );
    for destructive in ["failover", "switchover", "etcd"] {
        assert_eq!(result(&v, destructive)["result"], "SKIP", "{v}");
    }
    assert!(err.contains("failed verification: status"), "{err}");
    assert_healthy(&c, "user_rows", 50).await;

    docker(&["stop", &c.container("haproxy")]);
    let (code, v, err) = tokio::task::block_in_place(|| verify(&c, &["--only", "routing"]));
    assert_eq!(code, Some(1), "{v}\n{err}");
    let routing = result(&v, "routing");
    assert_eq!(routing["result"], "FAIL");
    let why = routing["figure"].as_str().unwrap();
    assert!(
        why.contains("HAProxy") && why.contains("not running"),
        "{why}"
    );
    assert_healthy(&c, "user_rows", 50).await;
}
