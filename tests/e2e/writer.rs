//! The tests' continuous writer is the crate's own (`pgha::ops::writer`), pointed at HAProxy's
//! primary port as the superuser; and the durability proof every test uses: each acknowledged id
//! on every member, with a floor on how many were acknowledged.

#![allow(dead_code)]

use crate::harness::{pg, TestCluster};
use pgha::adapters::pg::PgTarget;
pub use pgha::ops::writer::Writer;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Starts writing ids 1.. into `table` (an `id bigint primary key` table) through `port`.
pub fn start(port: u16, password: &str, table: &str) -> Writer {
    let target = PgTarget {
        host: "127.0.0.1".into(),
        port,
        user: "postgres".into(),
        password: password.into(),
        dbname: "postgres".into(),
    };
    Writer::start(target, table, 1)
}

/// Every acknowledged id of `acked` is in `table` on every node of `nodes` (indexes of the
/// spec's nodes, read on each node's own port; replicas get up to 30 s to replay). Fails when
/// fewer than `min` writes were acknowledged: a writer that never got through proves nothing.
pub async fn assert_no_acked_write_lost(
    c: &TestCluster,
    table: &str,
    acked: &[i64],
    min: usize,
    nodes: &[usize],
) {
    assert!(
        acked.len() >= min,
        "only {} writes were acknowledged into {table} (at least {min} needed to prove anything)",
        acked.len()
    );
    let pw = c.superuser_password();
    let sql = format!("select id from {table}");
    for &i in nodes {
        let client = pg(c.node_port(i), &pw, Duration::from_secs(60)).await;
        // Replicas may lag a moment: read again until every id is there or 30 s have passed.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let present: HashSet<i64> = client
                .query(sql.as_str(), &[])
                .await
                .unwrap_or_else(|e| panic!("{sql} on node {}: {e}", i + 1))
                .iter()
                .map(|r| r.get(0))
                .collect();
            let missing: Vec<i64> = acked
                .iter()
                .filter(|id| !present.contains(id))
                .copied()
                .collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} acknowledged writes of {table} missing on node {}: {missing:?}",
                missing.len(),
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
