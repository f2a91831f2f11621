//! PostgreSQL's side of archiving, asked on the leader: the archiver's status, and a forced WAL
//! switch followed until the segment is archived (what `verify`'s archive check and the bench use).

use crate::adapters::pg::Pg;
use crate::pgbackrest::{ArchiveStatus, ARCHIVER_SQL};
use anyhow::{anyhow, Result};
use std::time::{Duration, Instant};

pub async fn status(pg: &Pg) -> Result<ArchiveStatus> {
    let row = pg.query_text(ARCHIVER_SQL).await?.unwrap_or_default();
    ArchiveStatus::parse(&row).ok_or_else(|| anyhow!("pg_stat_archiver gave {row:?}"))
}

/// Writes a WAL record, switches to a new segment, and waits until the archiver reports the
/// finished segment archived. Returns the segment and how long it took; an error names the
/// segment and the archiver's state when `deadline` passes.
pub async fn switch_and_wait(pg: &Pg, deadline: Duration) -> Result<(String, Duration)> {
    pg.batch("select pg_logical_emit_message(false, 'pgha', 'archive check')")
        .await?;
    let segment = pg
        .query_text("select pg_walfile_name(pg_switch_wal())")
        .await?
        .unwrap_or_default();
    let t0 = Instant::now();
    loop {
        let s = status(pg).await?;
        // Segment names of one timeline sort in WAL order.
        if s.last_archived_wal
            .as_deref()
            .is_some_and(|w| w.len() == 24 && w >= segment.as_str())
        {
            return Ok((segment, t0.elapsed()));
        }
        let failed_on_it = s.failing()
            && s.last_failed_wal
                .as_deref()
                .is_some_and(|w| w.len() == 24 && w >= segment.as_str());
        if failed_on_it || t0.elapsed() > deadline {
            return Err(anyhow!(
                "WAL segment {segment} was not archived ({:.1} s after the switch); archiver {}",
                t0.elapsed().as_secs_f64(),
                s.describe()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
