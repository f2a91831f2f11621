//! `pgha failover --candidate M`: manual failover, also when the leader is down; a candidate that
//! may lack acknowledged commits (not the sync standby, or lagging) needs `--allow-data-loss`.
//! `pgha failover --kill [--no-fence]`: the crash drill. Read the leader after the confirmation,
//! SIGKILL its container; once Docker confirms it is not running, fence it in one etcd transaction
//! (delete the leader key only if it still holds that leader at the revision read, then revoke its
//! lease), so Patroni's own election runs at once, sync-standby rule included. No candidate is ever
//! named while the leader key is removed. `--no-fence` leaves detection to Patroni's ttl.

use crate::adapters::dcs::Dcs;
use crate::adapters::docker::Engine;
use crate::cli::FailoverArgs;
use crate::commands::access::Access;
use crate::context::Ctx;
use crate::decide;
use crate::error::UsageError;
use crate::ops::handover::{self, Report, Request, Via};
use crate::ops::probe;
use crate::progress::Progress;
use crate::state::ClusterView;
use crate::usage;
use crate::wait::{wait_for, Check};
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

pub async fn run(ctx: &Ctx, args: &FailoverArgs) -> Result<()> {
    if args.kill {
        return kill(ctx, args).await;
    }
    let Some(candidate) = args.candidate.as_deref() else {
        usage!("failover needs --candidate MEMBER (or --kill for the crash drill)");
    };
    let access = Access::new(ctx)?;
    let dcs = ctx.dcs().await?;
    let view = dcs.read_cluster().await?;
    let risk = decide::failover(&view, candidate, args.allow_data_loss).map_err(UsageError)?;
    let old = view.leader.clone();
    ctx.confirm(&format!(
        "fail over cluster {} to {candidate}{}{}",
        view.scope,
        old.as_deref()
            .map(|l| format!(" (leader now: {l})"))
            .unwrap_or_else(|| " (no leader now)".into()),
        risk.as_ref()
            .map(|r| format!("; {}", r.describe()))
            .unwrap_or_default()
    ))?;
    let engine = match access.pgha {
        Some(_) => Some(ctx.engine().await?),
        None => None,
    };
    let p = Progress::new();
    // The leader's REST API takes the request when it runs; otherwise the candidate's.
    let via_member = match view.leader_member() {
        Some(l) if l.is_running() => l.name.clone(),
        _ => candidate.to_string(),
    };
    let req = Request {
        path: "/failover",
        leader: None,
        candidate,
        scheduled_at: None,
        via_member: &via_member,
    };
    let timeout = Duration::from_secs(args.timeout);
    let (via, t0, to_leader) =
        handover::request_and_wait(&access, &dcs, &view, &req, timeout, &p).await?;
    p.note(format!("{candidate} is the leader in etcd"));
    let write = handover::first_write(&access, engine.as_ref(), candidate, t0, &p).await?;
    let mut rejoined = None;
    let old_running = old
        .as_deref()
        .and_then(|o| view.member(o))
        .is_some_and(|m| m.is_running());
    let after = match old.as_deref() {
        Some(o) if old_running => {
            let v = handover::wait_streaming(&dcs, o, 0, timeout, &p).await?;
            rejoined = Some(t0.elapsed().as_secs_f64());
            v
        }
        _ => dcs.read_cluster().await?,
    };
    p.finish();
    let mut r = Report::new(&after, "failover", old, candidate, via);
    r.new_leader_s = to_leader.as_secs_f64();
    r.first_write_s = write.as_ref().map(|w| w.after.as_secs_f64());
    r.first_write_server = write.map(|w| w.server);
    r.old_leader_rejoined_s = rejoined;
    r.new_leader_was_sync_standby = Some(view.is_sync_standby(candidate));
    r.print(ctx.global.json);
    Ok(())
}

async fn kill(ctx: &Ctx, args: &FailoverArgs) -> Result<()> {
    let access = Access::for_containers(ctx, "failover --kill")?;
    let dcs = ctx.dcs().await?;
    let view = dcs.read_cluster().await?;
    let Some(leader) = view.leader.clone() else {
        usage!("cluster {} has no leader to kill", view.scope);
    };
    let paused = view.paused();
    if !paused && view.synchronous_mode() && view.members.len() > 1 && view.sync_standbys.is_empty()
    {
        usage!(
            "cluster {} has no synchronous standby right now, so Patroni would promote no one after the kill; wait until `pgha list` shows a Sync Standby",
            view.scope
        );
    }
    if paused {
        eprintln!(
            "warning: cluster {} is in maintenance mode (paused): Patroni will not fail over; no new leader will be elected until `pgha resume`",
            view.scope
        );
    }
    ctx.confirm(&format!(
        "SIGKILL the leader {leader} of cluster {} (crash drill{})",
        view.scope,
        if args.no_fence { ", no fencing" } else { "" }
    ))?;
    let engine = ctx.engine().await?;
    let p = Progress::new();
    let k = kill_leader(
        &access,
        &dcs,
        &engine,
        !args.no_fence,
        Duration::from_secs(args.timeout),
        &p,
    )
    .await?;
    p.finish();
    if k.killed != leader {
        eprintln!(
            "warning: leadership moved from {leader} to {} after the confirmation; pgha killed the leader it found then, {}",
            k.killed, k.killed
        );
    }
    if let Some(why) = &k.not_fenced {
        eprintln!("warning: not fenced: {why}");
    }
    let after = dcs.read_cluster().await?;
    let mut r = Report::new(
        &after,
        "crash drill",
        Some(k.killed.clone()),
        k.new_leader.as_deref().unwrap_or("none"),
        Via::Kill,
    );
    r.new_leader_s = k.to_leader.as_secs_f64();
    r.first_write_s = k.first_write.as_ref().map(|w| w.after.as_secs_f64());
    r.first_write_server = k.first_write.clone().map(|w| w.server);
    r.killed = Some(k.killed.clone());
    r.fenced = Some(k.fenced);
    r.new_leader_was_sync_standby = k.new_leader.as_deref().map(|n| k.before.is_sync_standby(n));
    r.print(ctx.global.json);
    if !ctx.global.json {
        let killed = &k.killed;
        crate::sayln!("{killed} stays stopped; `pgha start {killed}` brings it back as a replica.");
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Killed {
    pub killed: String,
    /// The cluster as read right before the kill.
    pub before: ClusterView,
    /// None when the cluster is paused (Patroni does not fail over).
    pub new_leader: Option<String>,
    pub to_leader: Duration,
    pub first_write: Option<probe::Write>,
    /// True only when the fencing transaction succeeded.
    pub fenced: bool,
    /// Why fencing was asked for but not done (leadership moved, paused, no lease).
    pub not_fenced: Option<String>,
}

/// Reads the leader (name, lease, leader key revision) right now, SIGKILLs its container; once
/// Docker confirms it is not running, fences it (with `fence`, unless paused) with a transaction
/// that only succeeds while the leader key is unchanged; waits for a new leader and the first
/// write through HAProxy.
pub async fn kill_leader(
    access: &Access,
    dcs: &Dcs,
    engine: &Engine,
    fence: bool,
    timeout: Duration,
    p: &Progress,
) -> Result<Killed> {
    let view = dcs.read_cluster().await?;
    let Some(leader) = view.leader.clone() else {
        bail!("cluster {} has no leader to kill", view.scope);
    };
    let container = access.container(&leader)?;
    let t0 = Instant::now();
    engine.kill(&container).await?;
    wait_for(
        &format!("Docker to report {container} stopped"),
        Duration::from_secs(15),
        Duration::from_millis(20),
        Some(p),
        || async {
            Ok(match engine.running(&container).await? {
                Some(true) => Check::NotYet("still running".into()),
                _ => Check::Ready(()),
            })
        },
    )
    .await?;
    p.note(format!(
        "killed {container}; Docker confirms it is not running"
    ));
    let paused = view.paused();
    let mut fenced = false;
    let mut not_fenced = None;
    if fence && paused {
        not_fenced = Some(format!("cluster {} is paused", view.scope));
    } else if fence {
        // The container is dead, so its PostgreSQL cannot write: removing its leader key (and
        // its lease) is safe, but only if the key still names it at the revision read above.
        fenced = dcs
            .fence_leader(&leader, view.leader_revision, view.leader_lease)
            .await?;
        if fenced {
            p.note(format!(
                "fenced {leader}: deleted its leader key (revision {}) and revoked its etcd lease",
                view.leader_revision
            ));
        } else {
            let now = dcs.read_cluster().await.ok();
            let why = match now.as_ref().and_then(|v| v.leader.clone()) {
                Some(l) => format!(
                    "the leader key changed since it was read ({leader} at revision {}; now {l} at revision {}): leadership moved, nothing deleted",
                    view.leader_revision,
                    now.as_ref().map(|v| v.leader_revision).unwrap_or(0)
                ),
                None => format!(
                    "the leader key of {leader} (revision {}) is gone already: Patroni removed it, nothing deleted",
                    view.leader_revision
                ),
            };
            p.note(format!("not fenced: {why}"));
            not_fenced = Some(why);
        }
    }
    if paused {
        return Ok(Killed {
            killed: leader,
            before: view,
            new_leader: None,
            to_leader: t0.elapsed(),
            first_write: None,
            fenced,
            not_fenced,
        });
    }
    let new_leader = wait_for(
        "a new leader",
        timeout,
        Duration::from_millis(50),
        Some(p),
        || {
            let leader = leader.clone();
            async move {
                let v = dcs.read_cluster().await?;
                Ok(match v.leader {
                    Some(l) if l != leader => Check::Ready(l),
                    Some(l) => Check::NotYet(format!("{l} still holds the leader key")),
                    None => Check::NotYet("no leader yet".into()),
                })
            }
        },
    )
    .await?;
    let to_leader = t0.elapsed();
    p.note(format!("{new_leader} is the leader in etcd"));
    let first_write = handover::first_write(access, Some(engine), &new_leader, t0, p).await?;
    Ok(Killed {
        killed: leader,
        before: view,
        new_leader: Some(new_leader),
        to_leader,
        first_write,
        fenced,
        not_fenced,
    })
}
