//! The tests' continuous writer is the crate's own (`pgha::ops::writer`), pointed at HAProxy's
//! primary port as the superuser; and the durability proof every test uses: each acknowledged id
//! on every member, with a floor on how many were acknowledged.

#![allow(dead_code)]

use crate::harness::TestCluster;
pub use pgha::ops::writer::Writer;

/// Starts writing ids 1.. into `table` (an `id bigint primary key` table) through `port`.
pub fn start(port: u16, password: &str, table: &str) -> Writer {
    let target = pgha::adapters::pg::PgTarget {
        host: "127.0.0.1".into(),
        port,
        user: "postgres".into(),
        password: password.into(),
        dbname: "postgres".into(),
        tls: crate::harness::pg_tls(),
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
    let per_node = crate::support::writes::missing_on(&c.kit, table, acked, nodes)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    for (i, missing) in per_node {
        assert!(
            missing.is_empty(),
            "{} acknowledged writes of {table} missing on node {}: {missing:?}",
            missing.len(),
            i + 1
        );
    }
}
