//! What switchover and failover share: asking Patroni for a new leader (REST first, the `failover`
//! key in etcd when the REST API does not answer), waiting for it in etcd, timing the first write
//! through HAProxy, waiting for the old leader to rejoin, and the report. A whole switchover
//! (`perform`) and killing the leader (`kill_leader`) are built on these.

mod kill;
mod switchover;

pub use kill::{kill_leader, Killed};
pub use switchover::{perform, Done};

use crate::adapters::dcs::Dcs;
use crate::adapters::docker::Engine;
use crate::ops::access::Access;
use crate::ops::health::POLL;
use crate::ops::probe;
use crate::output::{json, list_report, list_table, secs, ListReport};
use crate::progress::Progress;
use crate::state::ClusterView;
use crate::wait::{wait_for, Check};
use anyhow::{anyhow, bail, Result};
use serde::Serialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// How the request reached Patroni.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Rest,
    Etcd,
    Kill,
}

/// A manual switchover/failover request.
pub struct Request<'a> {
    /// `/switchover` or `/failover`.
    pub path: &'static str,
    pub leader: Option<&'a str>,
    pub candidate: &'a str,
    pub scheduled_at: Option<String>,
    /// The member whose REST API takes the request (the leader, or the candidate without one).
    pub via_member: &'a str,
}

/// Writes the `failover` key with compare-and-swap: only over nothing or `{}`.
async fn write_failover_key(dcs: &Dcs, view: &ClusterView, req: &Request<'_>) -> Result<()> {
    let mut value = serde_json::Map::new();
    if let Some(l) = req.leader {
        value.insert("leader".into(), json!(l));
    }
    value.insert("member".into(), json!(req.candidate));
    if let Some(at) = &req.scheduled_at {
        value.insert("scheduled_at".into(), json!(at));
    }
    let text = serde_json::Value::Object(value).to_string();
    if !dcs
        .cas_put("failover", &text, view.failover_revision)
        .await?
    {
        bail!("the failover key changed meanwhile (another operation is pending); nothing was written");
    }
    Ok(())
}

/// Sends the request; returns how it went and when the new leader appeared in etcd.
pub async fn request_and_wait(
    access: &Access,
    dcs: &Dcs,
    view: &ClusterView,
    req: &Request<'_>,
    timeout: Duration,
    p: &Progress,
) -> Result<(Via, Instant, Duration)> {
    let api = access.api(view, req.via_member)?;
    let mut body = json!({ "candidate": req.candidate });
    if let Some(l) = req.leader {
        body["leader"] = json!(l);
    }
    if let Some(at) = &req.scheduled_at {
        body["scheduled_at"] = json!(at);
    }
    let t0 = Instant::now();
    let path = req.path;
    let mut call = Some(tokio::spawn(async move {
        api.post(path, &body, Duration::from_secs(40)).await
    }));
    let mut via = Via::Rest;
    p.step(format!("asking {} for the {}", req.via_member, &path[1..]));
    loop {
        if call.as_ref().is_some_and(|c| c.is_finished()) {
            let c = call.take().expect("checked above");
            match c.await.map_err(|e| anyhow!("REST task: {e}"))? {
                Ok(reply) if reply.ok() => {}
                Ok(reply) => bail!(
                    "Patroni refused the {} ({}): {}",
                    &path[1..],
                    reply.status,
                    reply.body.trim()
                ),
                Err(e) => {
                    p.note(format!(
                        "{}'s REST API does not answer ({e:#}); writing the failover key in etcd",
                        req.via_member
                    ));
                    write_failover_key(dcs, view, req).await?;
                    via = Via::Etcd;
                }
            }
        }
        if let Ok(v) = dcs.read_cluster().await {
            if v.leader.as_deref() == Some(req.candidate) {
                return Ok((via, t0, t0.elapsed()));
            }
            p.step(format!(
                "waiting for {} to take the leader key (leader now: {})",
                req.candidate,
                v.leader.as_deref().unwrap_or("none")
            ));
        }
        if t0.elapsed() > timeout {
            bail!(
                "timed out after {:.0} s waiting for {} to become leader",
                timeout.as_secs_f64(),
                req.candidate
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `member` runs as a replica streaming on the leader's timeline, in a member key
/// written after `min_revision` (so a stale key of a stopped Patroni does not count).
pub async fn wait_streaming(
    dcs: &Dcs,
    member: &str,
    min_revision: i64,
    timeout: Duration,
    p: &Progress,
) -> Result<ClusterView> {
    let v = wait_for(
        &format!("{member} to stream from the leader"),
        timeout,
        POLL,
        Some(p),
        || async {
            let v = dcs.read_cluster().await?;
            Ok(match v.streams(member, min_revision) {
                Ok(()) => Check::Ready(v),
                Err(why) => Check::NotYet(why),
            })
        },
    )
    .await?;
    Ok(v)
}

/// Times the first write through HAProxy that lands on `new_leader` (pgha clusters).
pub async fn first_write(
    access: &Access,
    engine: Option<&Engine>,
    new_leader: &str,
    since: Instant,
    p: &Progress,
) -> Result<Option<probe::Write>> {
    let Some(target) = access.primary() else {
        return Ok(None);
    };
    let expect = match (engine, access.container(new_leader)) {
        (Some(e), Ok(c)) => e.container_ip(&c).await?,
        _ => None,
    };
    p.step("waiting for a write through HAProxy to land on the new leader");
    let mut w =
        probe::first_write(&target, expect.as_deref(), since, Duration::from_secs(30)).await?;
    if expect.is_some() {
        // The server's address is the new leader's container: name it.
        w.server = new_leader.to_string();
    }
    Ok(Some(w))
}

/// The outcome of a switchover or failover.
#[derive(Debug, Serialize)]
pub struct Report {
    pub cluster: String,
    pub action: String,
    pub from: Option<String>,
    pub to: String,
    pub via: Via,
    /// Seconds from the request (or the kill) to the new leader in etcd.
    pub new_leader_s: f64,
    /// Seconds from the request (or the kill) to the first write through HAProxy on the new leader.
    pub first_write_s: Option<f64>,
    pub first_write_server: Option<String>,
    /// Seconds until the old leader streamed again (switchover).
    pub old_leader_rejoined_s: Option<f64>,
    pub killed: Option<String>,
    pub fenced: Option<bool>,
    pub new_leader_was_sync_standby: Option<bool>,
    pub timeline: Option<u64>,
    pub list: ListReport,
}

impl Report {
    pub fn new(
        view: &ClusterView,
        action: &str,
        from: Option<String>,
        to: &str,
        via: Via,
    ) -> Report {
        Report {
            cluster: view.scope.clone(),
            action: action.into(),
            from,
            to: to.into(),
            via,
            new_leader_s: 0.0,
            first_write_s: None,
            first_write_server: None,
            old_leader_rejoined_s: None,
            killed: None,
            fenced: None,
            new_leader_was_sync_standby: None,
            timeline: view.leader_timeline(),
            list: list_report(view),
        }
    }

    pub fn print(&self, as_json: bool) {
        if as_json {
            crate::say!("{}", json(self));
            return;
        }
        let d = Duration::from_secs_f64;
        let how = match self.via {
            Via::Rest => "through Patroni's REST API",
            Via::Etcd => "through the failover key in etcd",
            Via::Kill => "after SIGKILL of its container",
        };
        match (&self.killed, &self.from) {
            (Some(k), _) => crate::sayln!(
                "Killed leader {k} of cluster {}; {} took over {how}{}.",
                self.cluster,
                self.to,
                match self.fenced {
                    Some(true) => ", fenced by revoking its lease",
                    Some(false) => ", detected by Patroni's ttl (not fenced)",
                    None => "",
                }
            ),
            (None, Some(f)) => crate::sayln!(
                "{} of cluster {} from {f} to {} {how}.",
                capitalize(&self.action),
                self.cluster,
                self.to
            ),
            (None, None) => crate::sayln!(
                "{} of cluster {} to {} {how}.",
                capitalize(&self.action),
                self.cluster,
                self.to
            ),
        }
        let line = |label: String, value: String| crate::sayln!("  {label:<34} {value}");
        line(
            "new leader in etcd after".into(),
            secs(d(self.new_leader_s)),
        );
        if let Some(w) = self.first_write_s {
            line(
                "first write through HAProxy after".into(),
                format!(
                    "{} (on {})",
                    secs(d(w)),
                    self.first_write_server.as_deref().unwrap_or("?")
                ),
            );
        }
        if let Some(r) = self.old_leader_rejoined_s {
            line(
                format!(
                    "{} streaming again after",
                    self.from.as_deref().unwrap_or("old leader")
                ),
                secs(d(r)),
            );
        }
        if let Some(s) = self.new_leader_was_sync_standby {
            crate::sayln!(
                "  new leader was the sync standby: {}",
                if s { "yes" } else { "no" }
            );
        }
        crate::say!("{}", list_table(&self.list));
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
