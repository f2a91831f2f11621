//! Taking backups, shared by `pgha backup`, `up` and `verify`: which member a backup runs on, its
//! pgBackRest options, the first full backup `up` takes on a cluster whose repository holds
//! none (once the cluster is healthy), and the backup running now (a `pgbackrest ... backup` exec in a node
//! container, as Docker reports it: pgBackRest's own lock is local to the container it runs in,
//! and its sessions on the leader come and go during a backup).

use crate::adapters::docker::Engine;
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

/// A command line (program and arguments) is a pgBackRest backup.
fn is_backup(cmd: &str) -> bool {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    words.first().is_some_and(|p| p.ends_with("pgbackrest")) && words.last() == Some(&"backup")
}

/// The member whose container runs a pgBackRest backup now, if one does.
pub async fn running(engine: &Engine, spec: &Spec) -> Result<Option<String>> {
    for m in &spec.nodes.names {
        let execs = engine
            .running_execs(&names::container_name(spec, m))
            .await?;
        if execs.iter().any(|c| is_backup(c)) {
            return Ok(Some(m.clone()));
        }
    }
    Ok(None)
}

/// On a cluster whose repository holds no backup and runs none, starts a full one (on a standby
/// when one streams) and returns without waiting for it (`up` waits with `wait_for_running`;
/// `backup list`, `backup` and `verify` see it run). Returns the member it runs on, or `None`
/// when there is a backup already.
pub async fn start_first(
    engine: &Engine,
    spec: &Spec,
    view: &ClusterView,
) -> Result<Option<String>> {
    let Some((member, standby)) = backup_member(view) else {
        return Ok(None);
    };
    if running(engine, spec).await?.is_some() {
        return Ok(None);
    }
    let repo = Repo::on(engine, spec, &names::container_name(spec, &member));
    if repo.info().await?.backups.iter().any(|b| !b.error) {
        return Ok(None);
    }
    let leader = view.leader.as_deref().unwrap_or_default();
    let opts = backup_options("full", standby, leader);
    let args: Vec<&str> = opts.iter().map(String::as_str).collect();
    repo.start(&args).await?;
    Ok(Some(member))
}

/// Waits while a backup runs on the cluster (`up`'s first one, or another `pgha backup`), up to
/// `deadline`; returns at once when none does.
pub async fn wait_for_running(
    engine: &Engine,
    spec: &Spec,
    deadline: Duration,
    p: &Progress,
) -> Result<()> {
    let start = Instant::now();
    let mut said = false;
    while let Some(m) = running(engine, spec).await? {
        if !said {
            p.step(format!("waiting for the backup running on {m} to end"));
            said = true;
        }
        if start.elapsed() > deadline {
            bail!(
                "the backup running on {m} did not end within {} s; `pgha backup list` shows it when done",
                deadline.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_pgbackrests_backup_command_only() {
        assert!(is_backup(
            "pgbackrest --stanza=pgha --type=full --backup-standby=y backup"
        ));
        assert!(!is_backup("pgbackrest --stanza=pgha --output=json info"));
        assert!(!is_backup("sh -c sleep 1; pgbackrest backup x"));
        assert!(!is_backup(""));
    }
}
