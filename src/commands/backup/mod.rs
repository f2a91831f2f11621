//! `pgha backup`: a pgBackRest backup of the cluster (retention applied after it), `backup
//! --mark NAME` (a restore point, archived at once), and `backup list` (the backups, the archived
//! WAL and the recoverable window), `backup status` (the last backup's age, the archiver). The
//! repository is reached through `ops::repo::Repo`.

use crate::adapters::pg::Pg;
use crate::cli::{BackupArgs, BackupCommand};
use crate::ops::backup::{backup_member, backup_options, wait_for_running};
use crate::ops::repo::{self, now_unix, Repo};
use crate::ops::session::Session;
use crate::output::{fmt_bytes, fmt_time, json};
use crate::pgbackrest::{self, BackupRow, StanzaInfo};
use crate::progress::Progress;
use crate::spec::names;
use crate::spec::Spec;
use crate::usage;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::time::Duration;

fn require_backup(spec: &Spec) -> Result<()> {
    if !spec.backup.enabled {
        usage!(
            "cluster {}: [backup] enabled = false in the spec; turn it on and run `pgha up` to archive WAL and take backups",
            spec.name
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct Window {
    /// The earliest time a restore can reach: the end of the oldest backup.
    from: Option<i64>,
    /// The newest archived WAL segment's time.
    to: Option<i64>,
}

#[derive(Serialize)]
struct ListReport {
    #[serde(flatten)]
    info: StanzaInfo,
    window: Window,
    /// The member whose container runs a backup now (`up`'s first one, or a `pgha backup`).
    running_on: Option<String>,
}

/// The recoverable window of `info`: from the oldest good backup's end to the newest archive.
fn window(info: &StanzaInfo, newest_archived: Option<i64>) -> Window {
    let from = info
        .backups
        .iter()
        .filter(|b| !b.error)
        .map(|b| b.stop)
        .min();
    Window {
        from,
        to: from.and(newest_archived),
    }
}

pub async fn run(session: &Session, args: &BackupArgs) -> Result<()> {
    let spec = session.spec()?;
    require_backup(spec)?;
    match &args.command {
        Some(BackupCommand::List) => list(session, spec).await,
        Some(BackupCommand::Status) => status(session, spec).await,
        None => match &args.mark {
            Some(name) => mark(session, spec, name).await,
            None => backup(session, spec, args).await,
        },
    }
}

async fn list(session: &Session, spec: &Spec) -> Result<()> {
    let engine = session.engine().await?;
    let repo = Repo::open(engine, spec, &repo::tool_image(spec)).await?;
    let result = async {
        let info = repo.info().await?;
        let newest = repo.newest_archived_at().await?;
        Ok::<_, anyhow::Error>((info, newest))
    }
    .await;
    repo.close().await?;
    let (info, newest) = result?;
    let report = ListReport {
        window: window(&info, newest),
        info,
        running_on: crate::ops::backup::running(engine, spec).await?,
    };
    if session.global.json {
        crate::say!("{}", json(&report));
        return Ok(());
    }
    crate::say!("{}", backups_table(&report.info.backups));
    if let Some(m) = &report.running_on {
        crate::sayln!("Running:            a backup on {m} (listed here when it ends)");
    }
    crate::sayln!(
        "Archived WAL:       {}",
        match (&report.info.wal_min, &report.info.wal_max) {
            (Some(a), Some(b)) => format!("{a} .. {b}"),
            _ => "none".into(),
        }
    );
    crate::sayln!(
        "Recoverable window: {}",
        match (report.window.from, report.window.to) {
            (Some(a), Some(b)) => format!("{} .. {}", fmt_time(a), fmt_time(b)),
            (Some(a), None) => format!("{} .. (no WAL archived since)", fmt_time(a)),
            _ => "none: no backup yet (`pgha backup` takes one)".into(),
        }
    );
    Ok(())
}

#[derive(Serialize)]
struct StatusReport {
    cluster: String,
    last_backup: Option<BackupRow>,
    last_backup_age_s: Option<i64>,
    /// The leader's archiver; `None` when the leader does not answer.
    archive: Option<crate::pgbackrest::ArchiveStatus>,
}

async fn status(session: &Session, spec: &Spec) -> Result<()> {
    let engine = session.engine().await?;
    let repo = Repo::open(engine, spec, &repo::tool_image(spec)).await?;
    let info = repo.info().await;
    repo.close().await?;
    let info = info?;
    let last = info
        .backups
        .iter()
        .filter(|b| !b.error)
        .max_by_key(|b| b.stop)
        .cloned();
    let access = session.access()?;
    let archive = match access.primary() {
        Some(t) => match Pg::connect(&t, Duration::from_secs(3)).await {
            Ok(pg) => crate::ops::archive::status(&pg).await.ok(),
            Err(_) => None,
        },
        None => None,
    };
    let report = StatusReport {
        cluster: spec.name.clone(),
        last_backup_age_s: last.as_ref().map(|b| now_unix() - b.stop),
        last_backup: last,
        archive,
    };
    let failing = report.archive.as_ref().is_some_and(|a| a.failing());
    if session.global.json {
        crate::say!("{}", json(&report));
    } else {
        crate::sayln!(
            "Last backup: {}",
            match (&report.last_backup, report.last_backup_age_s) {
                (Some(b), Some(age)) => format!(
                    "{} ({}), {} ago, {}",
                    b.label,
                    b.kind,
                    crate::output::fmt_age(age),
                    fmt_bytes(b.database_bytes)
                ),
                _ => "none (`pgha backup` takes one)".into(),
            }
        );
        crate::sayln!(
            "Archive:     {}",
            report
                .archive
                .as_ref()
                .map_or("n/a: the leader does not answer".to_string(), |a| a
                    .describe())
        );
    }
    if failing {
        bail!("WAL archiving of cluster {} fails", spec.name);
    }
    Ok(())
}

fn backups_table(rows: &[BackupRow]) -> String {
    let mut t = crate::output::new_table(&[
        "Label",
        "Type",
        "Start",
        "Stop",
        "Database",
        "Repository",
        "WAL start .. stop",
    ]);
    for b in rows {
        t.add_row([
            format!("{}{}", b.label, if b.error { " (error)" } else { "" }),
            b.kind.clone(),
            fmt_time(b.start),
            fmt_time(b.stop),
            fmt_bytes(b.database_bytes),
            fmt_bytes(b.repository_bytes),
            format!("{} .. {}", b.wal_start, b.wal_stop),
        ]);
    }
    if rows.is_empty() {
        return "no backups yet: `pgha backup` takes one\n".into();
    }
    format!("{t}\n")
}

#[derive(Serialize)]
struct BackupReport {
    cluster: String,
    /// Where the backup ran, and whether that was a standby.
    member: String,
    from_standby: bool,
    elapsed_s: f64,
    backup: BackupRow,
    expired: Vec<String>,
}

/// Takes the backup and prints the new backup's row. On a standby, pgBackRest copies the
/// standby's files and reaches the primary (for the backup's start and stop) through the
/// primary's pgBackRest TLS server. `start-fast` makes the primary's checkpoint immediate.
async fn backup(session: &Session, spec: &Spec, args: &BackupArgs) -> Result<()> {
    let engine = session.engine().await?;
    let dcs = session.dcs().await?;
    let view = dcs.read_cluster().await?;
    let Some((member, standby)) = backup_member(&view) else {
        bail!(
            "cluster {} has no leader: a backup needs a running primary (`pgha list` shows the members)",
            spec.name
        );
    };
    let container = names::container_name(spec, &member);
    let repo = Repo::on(engine, spec, &container);
    let p = Progress::new();
    // One backup at a time (pgBackRest's lock would refuse this one): `up`'s first backup, or
    // another `pgha backup` of a cluster shared with other operators, ends first.
    wait_for_running(engine, spec, Duration::from_secs(args.timeout), &p).await?;
    // The backup's own time, not the wait for another one.
    let t0 = std::time::Instant::now();
    let before = repo.info().await?;
    p.step(format!(
        "{} backup of {} on {member} ({})",
        args.kind,
        spec.name,
        if standby {
            "a standby"
        } else {
            "the leader: no replica streams"
        }
    ));
    let opts = backup_options(
        &args.kind,
        standby,
        view.leader.as_deref().unwrap_or_default(),
    );
    let backup_args: Vec<&str> = opts.iter().map(String::as_str).collect();
    let run = repo.run(&backup_args);
    let out = tokio::time::timeout(Duration::from_secs(args.timeout), run)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the backup did not end within {} s; it may still run in {container} (`pgha backup list` shows it when done)",
                args.timeout
            )
        })??;
    if out.code != 0 {
        p.finish();
        bail!(
            "backup of {} on {member}: {}",
            spec.name,
            repo::failure(&out)
        );
    }
    let after = repo.info().await?;
    p.finish();
    let new = after
        .backups
        .iter()
        .find(|b| !before.backups.iter().any(|o| o.label == b.label))
        .cloned()
        .context("pgbackrest reported success but the repository lists no new backup")?;
    let expired: Vec<String> = before
        .backups
        .iter()
        .filter(|o| !after.backups.iter().any(|b| b.label == o.label))
        .map(|o| o.label.clone())
        .collect();
    let report = BackupReport {
        cluster: spec.name.clone(),
        member,
        from_standby: standby,
        elapsed_s: t0.elapsed().as_secs_f64(),
        backup: new,
        expired,
    };
    if session.global.json {
        crate::say!("{}", json(&report));
        return Ok(());
    }
    crate::say!("{}", backups_table(std::slice::from_ref(&report.backup)));
    crate::sayln!(
        "{} backup {} of {} taken on {}{} in {:.1} s ({} read, {} written to the repository).",
        report.backup.kind,
        report.backup.label,
        report.cluster,
        report.member,
        if report.from_standby {
            " (a standby)"
        } else {
            " (the leader)"
        },
        report.elapsed_s,
        fmt_bytes(report.backup.database_bytes),
        fmt_bytes(report.backup.repository_bytes)
    );
    if !report.expired.is_empty() {
        crate::sayln!(
            "Expired by retention (retention_full = {}): {}",
            spec.backup.retention_full,
            report.expired.join(", ")
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct MarkReport {
    cluster: String,
    name: String,
    lsn: String,
}

/// A restore point on the leader, then a WAL switch so that it reaches the archive now.
async fn mark(session: &Session, spec: &Spec, name: &str) -> Result<()> {
    if let Err(why) = pgbackrest::check_mark(name) {
        usage!("--mark {name:?} {why}");
    }
    let access = session.access()?;
    let Some(target) = access.primary() else {
        bail!(
            "cluster {}: no secrets file, so pgha cannot log in",
            spec.name
        );
    };
    let pg = Pg::connect(&target, Duration::from_secs(10))
        .await
        .with_context(|| format!("connect to the leader of {} through HAProxy", spec.name))?;
    let lsn = pg
        .query_text(&format!("SELECT pg_create_restore_point('{name}')::text"))
        .await?
        .unwrap_or_default();
    pg.query_text("SELECT pg_switch_wal()::text").await?;
    let report = MarkReport {
        cluster: spec.name.clone(),
        name: name.into(),
        lsn,
    };
    if session.global.json {
        crate::say!("{}", json(&report));
    } else {
        crate::sayln!(
            "restore point {:?} of {} at LSN {}; WAL switched so it is archived. `pgha restore --name {}` returns to it.",
            report.name,
            report.cluster,
            report.lsn,
            report.name
        );
    }
    Ok(())
}
