//! Restarting PostgreSQL through Patroni's REST API (`POST /restart`), replicas first and the
//! leader last (`choose`, `rolling`). Each member's PostgreSQL start time is read before the POST;
//! the restart is done once a new start runs (leader: leads again; replica: streams on the
//! leader's timeline). Shared by `restart`, `reinit` (the start-time waits) and `up`'s config step.

use crate::adapters::patroni::Api;
use crate::cli::RoleFilter;
use crate::decide;
use crate::ops::access::Access;
use crate::ops::handover;
use crate::ops::health::POLL;
use crate::output::secs;
use crate::progress::Progress;
use crate::state::ClusterView;
use crate::usage;
use crate::wait::{wait_for, Check};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Serialize)]
pub struct Restarted {
    pub member: String,
    pub role: String,
    pub seconds: f64,
    /// PostgreSQL's start time (Patroni's `postmaster_start_time`) before and after.
    started_before: Option<String>,
    started_after: String,
}

/// How long to keep asking a member's REST API for its state before acting.
const BEFORE_DEADLINE: Duration = Duration::from_secs(15);

/// `member`'s PostgreSQL start time now (`None`: PostgreSQL does not run), read from its REST
/// status with retries; fails when the status cannot be read within the deadline.
pub async fn start_time_before(api: &Api, member: &str, p: &Progress) -> Result<Option<String>> {
    let before = wait_for(
        &format!("{member}'s REST status"),
        BEFORE_DEADLINE,
        POLL,
        Some(p),
        || async {
            let s = api.status().await?;
            Ok(Check::Ready(decide::start_time(&s).map(String::from)))
        },
    )
    .await;
    before.map_err(|e| {
        anyhow::anyhow!(
            "cannot read {member}'s PostgreSQL start time from its REST API at {} ({e}); nothing was changed",
            api.base
        )
    })
}

/// Waits until `member` runs a PostgreSQL started after `before` in its role (see
/// `decide::restarted`); returns the new start time.
pub async fn wait_restarted(
    api: &Api,
    dcs: &crate::adapters::dcs::Dcs,
    member: &str,
    before: Option<&str>,
    what: &str,
    timeout: Duration,
    p: &Progress,
) -> Result<String> {
    let started = wait_for(what, timeout, POLL, Some(p), || async {
        let status = api.status().await?;
        let view = dcs.read_cluster().await?;
        Ok(match decide::restarted(&view, member, before, &status) {
            Ok(()) => Check::Ready(decide::start_time(&status).unwrap_or_default().to_string()),
            Err(why) => Check::NotYet(why),
        })
    })
    .await?;
    Ok(started)
}

/// The members to restart, replicas first, leader last. Pure.
pub fn choose(
    view: &ClusterView,
    names: &[String],
    role: RoleFilter,
    pending: bool,
) -> Result<Vec<String>> {
    for n in names {
        if view.member(n).is_none() {
            usage!("member {n} is not in cluster {}", view.scope);
        }
    }
    let leader = view.leader.as_deref();
    let mut chosen: Vec<String> = view
        .members
        .iter()
        .filter(|m| names.is_empty() || names.contains(&m.name))
        .filter(|m| match role {
            RoleFilter::Any => true,
            RoleFilter::Leader => Some(m.name.as_str()) == leader,
            RoleFilter::Replica => Some(m.name.as_str()) != leader,
        })
        .filter(|m| !pending || m.data.pending_restart == Some(true))
        .map(|m| m.name.clone())
        .collect();
    chosen.sort_by_key(|n| (Some(n.as_str()) == leader, n.clone()));
    Ok(chosen)
}

/// Restarts PostgreSQL on `chosen` one at a time, in that order (see `choose`: replicas first,
/// leader last), each until it runs again in its role and no longer flags a pending restart.
/// With `pending`, Patroni restarts only a member that still needs it.
pub async fn rolling(
    access: &Access,
    dcs: &crate::adapters::dcs::Dcs,
    view: &ClusterView,
    chosen: &[String],
    pending: bool,
    timeout: Duration,
    p: &Progress,
) -> Result<Vec<Restarted>> {
    let mut done = Vec::new();
    for m in chosen {
        let api = access.api(view, m)?;
        let is_leader = view.leader.as_deref() == Some(m.as_str());
        let t0 = Instant::now();
        p.step(format!("restarting {m}"));
        let body = if pending {
            serde_json::json!({"restart_pending": true})
        } else {
            serde_json::json!({})
        };
        let before = start_time_before(&api, m, p).await?;
        let reply = api.post("/restart", &body, timeout).await?;
        if !reply.ok() {
            bail!(
                "Patroni refused to restart {m} ({}): {}",
                reply.status,
                reply.body.trim()
            );
        }
        let what = if is_leader {
            format!("{m} to run again as leader (a new PostgreSQL start)")
        } else {
            format!("{m} to stream again on the leader's timeline (a new PostgreSQL start)")
        };
        let after = wait_restarted(&api, dcs, m, before.as_deref(), &what, timeout, p).await?;
        if is_leader {
            // The replicas reconnect and Patroni names the sync standby again.
            let running: Vec<String> = view
                .members
                .iter()
                .filter(|x| x.is_running())
                .map(|x| x.name.clone())
                .collect();
            crate::ops::health::wait_healthy(dcs, &running, None, timeout, p).await?;
        } else {
            handover::wait_streaming(dcs, m, 0, timeout, p).await?;
        }
        // A restart applies pending parameter changes: wait until Patroni clears the flag.
        wait_for(
            &format!("{m} to clear its pending restart"),
            timeout,
            POLL,
            Some(p),
            || async {
                let v = dcs.read_cluster().await?;
                Ok(match v.member(m) {
                    Some(x) if x.data.pending_restart == Some(true) => {
                        Check::NotYet(format!("{m} pending restart"))
                    }
                    _ => Check::Ready(()),
                })
            },
        )
        .await?;
        p.note(format!("{m} restarted in {}", secs(t0.elapsed())));
        done.push(Restarted {
            member: m.clone(),
            role: if is_leader {
                "leader".into()
            } else {
                "replica".into()
            },
            seconds: t0.elapsed().as_secs_f64(),
            started_before: before,
            started_after: after,
        });
    }
    Ok(done)
}
