//! Taking backups, shared by `pgha backup` and `up`: which member a backup runs on, its
//! pgBackRest options, the first full backup `up` starts in the background on a cluster whose
//! repository holds none, and the wait for a backup that is already running (seen on the leader:
//! pgBackRest holds a session there from the backup's start to its stop).

use crate::adapters::docker::Engine;
use crate::adapters::pg::{Pg, PgTarget};
use crate::ops::archive;
use crate::ops::repo::Repo;
use crate::progress::Progress;
use crate::spec::{names, Spec};
use crate::state::ClusterView;
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// The member a backup runs on: a streaming replica, the async one first (it carries no commit's
/// wait), so the leader's disks only serve the backup's start and stop; the leader when no
/// replica streams. `true` with a standby.
pub fn backup_member(view: &ClusterView) -> Option<(String, bool)> {
    let leader = view.leader.clone()?;
    let streaming: Vec<&str> = view
        .members
        .iter()
        .filter(|m| m.name != leader && m.is_streaming())
        .map(|m| m.name.as_str())
        .collect();
    let pick = streaming
        .iter()
        .find(|m| !view.sync_standbys.iter().any(|s| s == *m))
        .or(streaming.first());
    Some(match pick {
        Some(m) => (m.to_string(), true),
        None => (leader, false),
    })
}

/// pgBackRest's arguments for a backup of `kind` on a standby of `leader` (or on the leader).
pub fn backup_options(kind: &str, standby: bool, leader: &str) -> Vec<String> {
    let mut opts = vec![format!("--type={kind}")];
    if standby {
        opts.extend(crate::pgbackrest::standby_backup_options(leader));
    }
    opts.extend(["--log-level-console=info".to_string(), "backup".to_string()]);
    opts
}

/// On a cluster whose repository holds no backup, starts a full one (on a standby when one
/// streams) and returns without waiting: `backup list`, `list` and `verify` see it run and end.
/// Returns the member it runs on, or `None` when the repository has a backup already. It returns
/// once the backup's session shows on the leader (`primary`), so that a command right after sees
/// it running.
pub async fn start_first(
    engine: &Engine,
    spec: &Spec,
    view: &ClusterView,
    primary: &PgTarget,
) -> Result<Option<String>> {
    let Some((member, standby)) = backup_member(view) else {
        return Ok(None);
    };
    let repo = Repo::on(engine, spec, &names::container_name(spec, &member));
    if repo.info().await?.backups.iter().any(|b| !b.error) {
        return Ok(None);
    }
    let leader = view.leader.as_deref().unwrap_or_default();
    let opts = backup_options("full", standby, leader);
    let args: Vec<&str> = opts.iter().map(String::as_str).collect();
    repo.start(&args).await?;
    let pg = Pg::connect(primary, Duration::from_secs(5)).await?;
    let start = Instant::now();
    loop {
        if archive::status(&pg).await?.backup_running_s.is_some()
            || repo.info().await?.backups.iter().any(|b| !b.error)
        {
            return Ok(Some(member));
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!(
                "the first backup started on {member} did not reach the leader within 30 s; `pgha logs {member}` and `pgha backup` tell more"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits while a backup runs on the cluster (`up`'s first one, or another `pgha backup`), up to
/// `deadline`; returns at once when none does or the leader does not answer.
pub async fn wait_for_running(primary: &PgTarget, deadline: Duration, p: &Progress) -> Result<()> {
    let Ok(pg) = Pg::connect(primary, Duration::from_secs(3)).await else {
        return Ok(());
    };
    let start = Instant::now();
    let mut said = false;
    loop {
        let running = archive::status(&pg).await?.backup_running_s;
        let Some(s) = running else {
            return Ok(());
        };
        if !said {
            p.step(format!(
                "waiting for the backup that is running (for {s} s) to end"
            ));
            said = true;
        }
        if start.elapsed() > deadline {
            bail!(
                "a backup has been running for {s} s and did not end within {} s; `pgha backup list` shows it when done",
                deadline.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
