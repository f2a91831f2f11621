//! `pgha list`: the members as Patroni's state in etcd has them, like `patronictl list`. With
//! `--stale`, when etcd has no quorum, the last known state of a member that answers, marked stale.
//! For a pgha cluster that archives WAL, a line on the leader's archiver; exit 1 when it fails.

use crate::adapters::dcs::{Dcs, EtcdUnavailable, Problem};
use crate::adapters::pg::{Pg, PgTarget};
use crate::cli::ListArgs;
use crate::ops::session::Session;
use crate::ops::{archive, health};
use crate::output::{json, list_report, list_table, ListReport};
use crate::pgbackrest::ArchiveStatus;
use crate::secrets;
use crate::spec::Spec;
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::Duration;

#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    report: ListReport,
    /// The leader's archiver, for a pgha cluster that archives (`None` otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    archive: Option<ArchiveStatus>,
}

pub async fn run(session: &Session, args: &ListArgs) -> Result<()> {
    let dcs = session.dcs().await?;
    let spec = (!session.external()).then(|| session.spec().ok()).flatten();
    let primary = spec.and_then(archiving_primary);
    let name = spec.map(|s| s.name.clone()).unwrap_or_default();
    loop {
        // The archiver is asked while etcd is read, so `list` costs no more than the slower one.
        let ask = async {
            match &primary {
                Some(t) => archiver(t).await,
                None => None,
            }
        };
        let (report, archive) = tokio::join!(read(&dcs, args.stale), ask);
        let report = report?;
        let archive = archive.filter(|_| report.leader.is_some() && !report.stale);
        let failing = archive.as_ref().is_some_and(|a| a.failing());
        let text = if session.global.json {
            json(&Listed { report, archive })
        } else {
            let mut t = list_table(&report);
            if let Some(a) = &archive {
                t.push_str(&format!("Archive: {}\n", a.describe()));
            }
            t
        };
        match args.watch {
            None => {
                crate::say!("{text}");
                if failing {
                    bail!("WAL archiving of cluster {name} fails (see `Archive:` above)");
                }
                return Ok(());
            }
            Some(interval) => {
                // Clear the screen and redraw, like `watch`.
                crate::say!("\x1b[2J\x1b[H{text}");
                tokio::time::sleep(Duration::from_secs_f64(interval.max(0.2))).await;
            }
        }
    }
}

/// HAProxy's primary port of a pgha cluster whose spec archives WAL.
fn archiving_primary(spec: &Spec) -> Option<PgTarget> {
    if !spec.backup.enabled {
        return None;
    }
    let s = secrets::load(&spec.name).ok()??;
    Some(health::primary_target(spec, &s))
}

/// The leader's archiver through HAProxy, or `None` when it does not answer within half a second
/// (the table shows the members' state; archiving is not what is wrong then).
async fn archiver(t: &PgTarget) -> Option<ArchiveStatus> {
    let ask = async {
        let pg = Pg::connect(t, Duration::from_millis(500)).await.ok()?;
        archive::status(&pg).await.ok()
    };
    tokio::time::timeout(Duration::from_millis(500), ask)
        .await
        .ok()
        .flatten()
}

/// A linearizable read; with `stale`, when etcd has no quorum, a serializable read from the most
/// up to date member that answers, said on stderr and marked in the report.
async fn read(dcs: &Dcs, stale: bool) -> Result<ListReport> {
    let err = match dcs.read_cluster().await {
        Ok(view) => return Ok(list_report(&view)),
        Err(e) => e,
    };
    let fallback = err
        .downcast_ref::<EtcdUnavailable>()
        .filter(|u| stale && u.problem == Problem::NoQuorum)
        .and_then(|u| Some((u.reason.clone(), u.answering.first()?.clone())));
    let Some((reason, from)) = fallback else {
        return Err(err);
    };
    let view = dcs.read_cluster_stale(&from).await?;
    eprintln!(
        "warning: {reason}; showing {}'s last known state, which may be out of date",
        from.member
    );
    let mut report = list_report(&view);
    report.stale = true;
    report.stale_from = Some(from.member);
    Ok(report)
}
