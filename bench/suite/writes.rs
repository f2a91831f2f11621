//! The benchmark's writes: an operation run under the crate's continuous writer (with a watcher
//! of every node's promotion and `synchronous_standby_names`), and the durability proof: every
//! acknowledged id on every node of the cluster, read on each node's own port.

use super::Bench;
use anyhow::{bail, Result};
use pgha::adapters::pg::{Pg, PgTarget};
use pgha::ops::writer::Writer;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A writer that got fewer writes acknowledged than this proves nothing: the bench fails.
pub const MIN_ACKED: usize = 20;

pub struct Outcome {
    pub report: Value,
    pub gap: f64,
    pub acked: Vec<i64>,
    /// Writes a new leader acknowledged before it named a sync standby; None when the watcher
    /// did not see both moments.
    pub window: Option<usize>,
}

impl Bench<'_> {
    pub fn node_targets(&self) -> Result<Vec<PgTarget>> {
        self.c.node_targets()
    }

    /// Runs `op` under a continuous writer; returns its JSON, the longest write gap, the
    /// acknowledged ids, and how many were acknowledged by a new leader before it named a sync
    /// standby. Fails when fewer than `MIN_ACKED` writes were acknowledged.
    pub async fn under_writes(&self, table: &str, first: i64, op: &[&str]) -> Result<Outcome> {
        let w = Writer::start(self.primary()?, table, first);
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn(watch_promotion(self.node_targets()?, stop.clone()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let r = tokio::task::block_in_place(|| self.json(op));
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, Ordering::Relaxed);
        let seen = watcher.await?;
        let written = w.finish().await;
        let r = r?;
        if written.acked.len() < MIN_ACKED {
            bail!(
                "pgha {op:?}: only {} writes acknowledged through HAProxy (at least {MIN_ACKED} needed to prove anything)",
                written.acked.len()
            );
        }
        let window = unreplicated_window(&seen).map(|(from, to)| {
            written
                .acked_at
                .iter()
                .filter(|t| **t >= from && **t < to)
                .count()
        });
        Ok(Outcome {
            report: r,
            gap: written.longest_gap.as_secs_f64(),
            acked: written.acked,
            window,
        })
    }

    /// How many ids of `acked` are missing from `table` on one node or more (every node read on
    /// its own port; replicas get 30 s to replay). A node that cannot be read is an error.
    pub async fn lost_on_any_node(&self, table: &str, acked: &[i64]) -> Result<usize> {
        let nodes: Vec<usize> = (0..self.c.nodes().len()).collect();
        let per_node = crate::support::writes::missing_on(&self.c, table, acked, &nodes).await?;
        let missing: BTreeSet<i64> = per_node.into_iter().flat_map(|(_, m)| m).collect();
        Ok(missing.len())
    }
}

/// One observation of a node: when, which, primary or not, synchronous_standby_names set or not.
type Seen = (Instant, usize, bool, bool);

/// Polls every node every 20 ms until `stop`.
async fn watch_promotion(targets: Vec<PgTarget>, stop: Arc<AtomicBool>) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut conns: Vec<Option<Pg>> = targets.iter().map(|_| None).collect();
    while !stop.load(Ordering::Relaxed) {
        for (i, t) in targets.iter().enumerate() {
            if conns[i].is_none() {
                conns[i] = Pg::connect(t, Duration::from_millis(300)).await.ok();
            }
            let Some(c) = &conns[i] else { continue };
            let sql = "select (not pg_is_in_recovery())::text || ' ' || (current_setting('synchronous_standby_names') <> '')::text";
            match c.query_text(sql).await {
                Ok(Some(v)) => seen.push((
                    Instant::now(),
                    i,
                    v.starts_with("true"),
                    v.ends_with("true"),
                )),
                _ => conns[i] = None,
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

/// From a node's promotion until it set synchronous_standby_names: the window in which a new
/// leader acknowledges writes that no standby has confirmed.
fn unreplicated_window(seen: &[Seen]) -> Option<(Instant, Instant)> {
    let first_primary = |i: usize| seen.iter().find(|s| s.1 == i && s.2).map(|s| s.0);
    // The new leader: seen in recovery first, primary later.
    let new = (0..3).find(|i| {
        first_primary(*i).is_some_and(|p| seen.iter().any(|s| s.1 == *i && !s.2 && s.0 < p))
    })?;
    let from = first_primary(new)?;
    let to = seen
        .iter()
        .find(|s| s.1 == new && s.2 && s.3 && s.0 >= from)
        .map(|s| s.0)?;
    Some((from, to))
}
