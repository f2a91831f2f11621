//! `pgha failover --candidate M`: manual failover, also when the leader is down; a candidate that
//! may lack acknowledged commits (not the sync standby, or lagging) needs `--allow-data-loss`.
//! `pgha failover --kill [--no-fence]`: the crash drill. Read the leader after the confirmation,
//! SIGKILL its container; once Docker confirms it is not running, fence it in one etcd transaction
//! (delete the leader key only if it still holds that leader at the revision read, then revoke its
//! lease), so Patroni's own election runs at once, sync-standby rule included. No candidate is ever
//! named while the leader key is removed. `--no-fence` leaves detection to Patroni's ttl.

use crate::cli::FailoverArgs;
use crate::decide;
use crate::error::UsageError;
use crate::ops::handover::{self, Report, Request, Via};
use crate::ops::session::Session;
use crate::progress::Progress;
use crate::usage;
use anyhow::Result;
use std::time::Duration;

pub async fn run(session: &Session, args: &FailoverArgs) -> Result<()> {
    if args.kill {
        return kill(session, args).await;
    }
    let Some(candidate) = args.candidate.as_deref() else {
        usage!("failover needs --candidate MEMBER (or --kill for the crash drill)");
    };
    let access = session.access()?;
    let dcs = session.dcs().await?;
    let view = dcs.read_cluster().await?;
    let risk = decide::failover(&view, candidate, args.allow_data_loss).map_err(UsageError)?;
    let old = view.leader.clone();
    session.confirm(&format!(
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
        Some(_) => Some(session.engine().await?),
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
        handover::request_and_wait(access, &dcs, &view, &req, timeout, &p).await?;
    p.note(format!("{candidate} is the leader in etcd"));
    let write = handover::first_write(access, engine, candidate, t0, &p).await?;
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
    r.print(session.global.json);
    Ok(())
}

async fn kill(session: &Session, args: &FailoverArgs) -> Result<()> {
    let access = session.access_for_containers("failover --kill")?;
    let dcs = session.dcs().await?;
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
    session.confirm(&format!(
        "SIGKILL the leader {leader} of cluster {} (crash drill{})",
        view.scope,
        if args.no_fence { ", no fencing" } else { "" }
    ))?;
    let engine = session.engine().await?;
    let p = Progress::new();
    let k = handover::kill_leader(
        access,
        &dcs,
        engine,
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
    r.print(session.global.json);
    if !session.global.json {
        let killed = &k.killed;
        crate::sayln!("{killed} stays stopped; `pgha start {killed}` brings it back as a replica.");
    }
    Ok(())
}
