//! verify's checks of backups and archiving: `archive` (the archiver has not failed since its last
//! success, and a forced WAL switch reaches the repository within seconds) and `backup` (a good
//! backup exists, and the archive holds every WAL segment from the oldest backup's start up to
//! the segment being written now).

use super::Run;
use crate::adapters::pg::Pg;
use crate::ops::archive;
use crate::ops::repo::now_unix;
use crate::ops::repo::Repo;
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
    let repo = Repo::on(run.engine, run.spec, &container);
    // A backup that runs now (`up`'s first one) counts once it ends.
    crate::ops::backup::wait_for_running(run.engine, run.spec, Duration::from_secs(600), &run.p)
        .await?;
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

/// `schema.table=count,...` per database, parsed into (table, count) pairs.
fn counts(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|p| p.rsplit_once('='))
        .map(|(t, n)| (t.to_string(), n.to_string()))
        .collect()
}

/// `--restore-test`: the latest backup and the archived WAL restored into a throwaway container
/// (an empty volume, no network; archiving off there), and every user table's row count compared
/// with the leader's, taken right after a forced WAL switch was archived.
pub async fn restore_test(run: &mut Run<'_>) -> Result<String> {
    run.stop_writer().await;
    let pg = leader_pg(run).await?;
    archive::switch_and_wait(&pg, ARCHIVE_DEADLINE).await?;
    let dbs = pg
        .query_text(pgbackrest::DATABASES_SQL)
        .await?
        .unwrap_or_default();
    let mut leader = Vec::new();
    for db in dbs.split(',').filter(|d| !d.is_empty()) {
        let mut t = crate::ops::health::primary_target(run.spec, run.secrets);
        t.dbname = db.to_string();
        let c = Pg::connect(&t, Duration::from_secs(5)).await?;
        let text = c
            .query_text(pgbackrest::ROW_COUNTS_SQL)
            .await?
            .unwrap_or_default();
        leader.push((db.to_string(), counts(&text)));
    }
    let volume = format!("{}-restore-test", run.spec.name);
    let mut labels = run.spec.labels.clone();
    labels.insert(crate::ops::repo::LABEL_TOOL.into(), run.spec.name.clone());
    let _ = run.engine.remove_volume(&volume).await;
    run.engine.create_volume(&volume, &labels).await?;
    let t0 = std::time::Instant::now();
    let result = async {
        let tool = Repo::tool(
            run.engine,
            run.spec,
            &crate::ops::repo::tool_image(run.spec),
            "restore-test",
            vec![(volume.clone(), crate::layout::NODE_DATA.into())],
        )
        .await?;
        let out = tool
            .shell(&pgbackrest::restore_test_script(&run.spec.name, 300))
            .await;
        tool.close().await?;
        let out = out?;
        if out.code != 0 {
            bail!(
                "the restore test failed: {}",
                crate::ops::repo::failure(&out)
            );
        }
        Ok(out.stdout)
    }
    .await;
    run.engine.remove_volume(&volume).await?;
    let restored_text = result?;
    let took = t0.elapsed().as_secs_f64();
    let restored: Vec<(String, Vec<(String, String)>)> = restored_text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(db, c)| (db.to_string(), counts(c)))
        .collect();
    let mut diffs = Vec::new();
    let mut tables = 0;
    for (db, want) in &leader {
        let got = restored
            .iter()
            .find(|(d, _)| d == db)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        tables += want.len();
        for (t, n) in want {
            let m = got.iter().find(|(g, _)| g == t).map(|(_, m)| m.as_str());
            if m != Some(n.as_str()) {
                diffs.push(format!(
                    "{db}.{t}: leader {n}, restored {}",
                    m.unwrap_or("missing")
                ));
            }
        }
    }
    if !diffs.is_empty() {
        bail!(
            "row counts differ after restoring the latest backup and WAL ({} of {tables} tables; a table written to meanwhile differs too): {}",
            diffs.len(),
            diffs.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        );
    }
    Ok(format!(
        "restored the latest backup and archived WAL in {took:.1} s: {} databases, {tables} tables, every row count equal to the leader's",
        leader.len()
    ))
}
