//! A validated switchover, requested now and followed to its end (`switchover` and the rolling
//! replacement of a leader in `up`, and `verify`).

use super::{Request, Via};
use crate::adapters::dcs::Dcs;
use crate::adapters::docker::Engine;
use crate::decide;
use crate::ops::access::Access;
use crate::ops::probe;
use crate::progress::Progress;
use crate::state::ClusterView;
use anyhow::Result;
use std::time::Duration;

/// What a switchover did.
pub struct Done {
    pub via: Via,
    pub to_leader: Duration,
    pub first_write: Option<probe::Write>,
    /// Until the old leader streamed from the new one.
    pub rejoined: Duration,
    pub after: ClusterView,
}

/// Requests a validated switchover now and waits until the new leader is in etcd, a write through
/// HAProxy lands on it, and the old leader streams from it.
pub async fn perform(
    access: &Access,
    dcs: &Dcs,
    engine: Option<&Engine>,
    view: &ClusterView,
    plan: &decide::Switchover,
    timeout: Duration,
    p: &Progress,
) -> Result<Done> {
    let req = Request {
        path: "/switchover",
        leader: Some(&plan.leader),
        candidate: &plan.candidate,
        scheduled_at: None,
        via_member: &plan.leader,
    };
    let (via, t0, to_leader) = super::request_and_wait(access, dcs, view, &req, timeout, p).await?;
    p.note(format!("{} is the leader in etcd", plan.candidate));
    let first_write = super::first_write(access, engine, &plan.candidate, t0, p).await?;
    let after = super::wait_streaming(dcs, &plan.leader, 0, timeout, p).await?;
    Ok(Done {
        via,
        to_leader,
        first_write,
        rejoined: t0.elapsed(),
        after,
    })
}
