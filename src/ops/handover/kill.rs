//! Killing the leader's container and following the failover Patroni makes (`failover --kill`
//! and `verify`'s failover check), with optional fencing of the dead leader's key.

use crate::adapters::dcs::Dcs;
use crate::adapters::docker::Engine;
use crate::ops::access::Access;
use crate::ops::probe;
use crate::progress::Progress;
use crate::state::ClusterView;
use crate::wait::{wait_for, Check};
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

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
    let first_write = super::first_write(access, Some(engine), &new_leader, t0, p).await?;
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
