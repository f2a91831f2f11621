//! verify's checks of backups and archiving: `archive` (the archiver has not failed since its last
//! success, and a forced WAL switch reaches the repository within seconds) and `backup` (a good
//! backup exists, and the archive holds every WAL segment from the oldest backup's start up to
//! the segment being written now).

use super::Run;
use crate::adapters::pg::Pg;
use crate::commands::backup::now_unix;
use crate::commands::backup::repo::Repo;
use crate::ops::archive;
use crate::output::fmt_age;
use crate::pgbackrest;
use anyhow::{bail, Context, Result};
use std::time::Duration;

/// How long a forced WAL switch may take to reach the repository.
const ARCHIVE_DEADLINE: Duration = Duration::from_secs(15);

async fn leader_pg(run: &Run<'_>) -> Result<Pg> {
    let t = crate::ops::health::primary_target(run.spec, run.secrets);
    Pg::connect(&t, Duration::from_secs(5))
        .await
        .context("connect to the leader through HAProxy")
}

pub async fn archive(run: &mut Run<'_>) -> Result<String> {
    let pg = leader_pg(run).await?;
    // A failing archiver retries at once when a new segment is ready: the forced switch shows
    // whether it works now (a segment older than the switch that failed is archived first).
    let before = archive::status(&pg).await?;
    let (segment, took) = archive::switch_and_wait(&pg, ARCHIVE_DEADLINE)
        .await
        .map_err(|e| anyhow::anyhow!("archiving fails: {e:#}"))?;
    let after = archive::status(&pg).await?;
    Ok(format!(
        "forced switch: {segment} archived in {:.2} s; {} archived, {} failed on this leader{}",
        took.as_secs_f64(),
        after.archived_count,
        after.failed_count,
        if before.failing() {
            " (it was failing before this check; it works again)"
        } else {
            ""
        }
    ))
}

pub async fn backup(run: &mut Run<'_>) -> Result<String> {
    let view = run.dcs.read_cluster().await?;
    let leader = view.leader.clone().context("no leader")?;
    let container = run.access.container(&leader)?;
    let repo = Repo::on(&run.engine, run.spec, &container);
    let info = repo.info().await?;
    let Some(newest) = info
        .backups
        .iter()
        .filter(|b| !b.error)
        .max_by_key(|b| b.stop)
    else {
        bail!(
            "no backup in the repository ({}); take one with `pgha backup`",
            info.status
        );
    };
    let oldest = info
        .backups
        .iter()
        .filter(|b| !b.error)
        .min_by_key(|b| b.stop)
        .unwrap_or(newest);
    let names = repo.archived_segments().await?;
    let pg = leader_pg(run).await?;
    let current = pg
        .query_text("select pg_walfile_name(pg_current_wal_lsn())")
        .await?
        .unwrap_or_default();
    let gaps = pgbackrest::missing_segments(&names, &oldest.wal_start, &current);
    if !gaps.is_empty() {
        bail!(
            "the archive lacks {} WAL segment(s) between backup {} ({}) and the current segment {current}: {}; a restore past the gap is impossible, take a new backup",
            gaps.len(),
            oldest.label,
            oldest.wal_start,
            gaps.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(format!(
        "{} backups; newest {} ({}, {} old); WAL {} .. {current} continuous",
        info.backups.len(),
        newest.label,
        newest.kind,
        fmt_age(now_unix() - newest.stop),
        oldest.wal_start
    ))
}
