//! The durability proof's reads: which acknowledged ids are missing from a table on each node,
//! read on each node's own port (replicas get time to replay), with the crate's own writer
//! (`pgha::ops::writer`) doing the writing.

use super::cluster::Cluster;
use anyhow::{Context, Result};
use pgha::ops::writer::missing_after_replay;
use std::time::Duration;

/// How long a replica may take to replay what the leader acknowledged.
pub const REPLAY: Duration = Duration::from_secs(30);

/// For each node index of `nodes`: the ids of `acked` missing from `table` there after up to
/// `REPLAY`. A node that cannot be read is an error.
pub async fn missing_on(
    c: &Cluster,
    table: &str,
    acked: &[i64],
    nodes: &[usize],
) -> Result<Vec<(usize, Vec<i64>)>> {
    let sql = format!("select id from {table}");
    let mut out = Vec::new();
    for &i in nodes {
        let t = c.pg_target(c.node_port(i))?;
        let missing = missing_after_replay(&t, &sql, acked, REPLAY)
            .await
            .with_context(|| format!("{sql} on node {}", i + 1))?;
        out.push((i, missing));
    }
    Ok(out)
}
