//! The tests' continuous writer is the crate's own (`pgha::ops::writer`), pointed at HAProxy's
//! primary port as the superuser; and the durability proof every test uses: each acknowledged id
//! on every member, with a floor on how many were acknowledged.

#![allow(dead_code)]

use crate::harness::TestCluster;
use pgha::adapters::pg::PgTarget;
use pgha::ops::writer::missing_after_replay;
pub use pgha::ops::writer::Writer;
use std::time::Duration;

/// Starts writing ids 1.. into `table` (an `id bigint primary key` table) through `port`.
pub fn start(port: u16, password: &str, table: &str) -> Writer {
    Writer::start(target(port, password), table, 1)
}

/// The superuser on 127.0.0.1:`port`.
fn target(port: u16, password: &str) -> PgTarget {
    PgTarget {
        host: "127.0.0.1".into(),
        port,
        user: "postgres".into(),
        password: password.into(),
        dbname: "postgres".into(),
        tls: crate::harness::pg_tls(),
    }
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
        // Replicas may lag a moment: read again until every id is there or 30 s have passed.
        let missing = missing_after_replay(
            &target(c.node_port(i), &pw),
            &sql,
            acked,
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|e| panic!("{sql} on node {}: {e:#}", i + 1));
        assert!(
            missing.is_empty(),
            "{} acknowledged writes of {table} missing on node {}: {missing:?}",
            missing.len(),
            i + 1
        );
    }
}
