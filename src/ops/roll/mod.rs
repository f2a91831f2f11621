//! The rolling part of `up` on a running cluster: carries out `plan::rolling`'s steps one at a
//! time while a probe writes through HAProxy, waiting after each step until the cluster serves
//! again (etcd quorum, every node streaming with a sync standby named, HAProxy routing writes);
//! then checks that every write the probe got acknowledged is on every node, and reports the
//! longest gap between two acknowledgements. Also what `up` asks before it rolls, and which etcd
//! members exist before the roll. etcd's membership changes are in `etcd`.

mod etcd;

use crate::adapters::dcs::Dcs;
use crate::adapters::docker::Engine;
use crate::adapters::pg::Pg;
use crate::decide;
use crate::ops::access::Access;
use crate::ops::handover;
use crate::ops::health;
use crate::ops::session::Session;
use crate::ops::writer::{missing_after_replay, Writer};
use crate::plan::rolling::{Action, RollStep};
use crate::plan::{self, ContainerSpec, Desired, Kind};
use crate::progress::Progress;
use crate::secrets::Secrets;
use crate::spec::names;
use crate::spec::Spec;
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What `up` asks before it replaces or removes containers of a running cluster.
pub fn question(spec: &Spec, plan: &plan::ContainerPlan) -> Option<String> {
    if !plan.rolls() {
        return None;
    }
    let names = |cs: &[plan::Change]| {
        cs.iter()
            .map(|c| c.member.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !plan.replace.is_empty() {
        parts.push(format!("replace {} one at a time", names(&plan.replace)));
    }
    if !plan.remove.is_empty() {
        parts.push(format!("remove {}", names(&plan.remove)));
    }
    if !plan.etcd_join.is_empty() {
        parts.push(format!(
            "add {} to etcd's membership",
            names(&plan.etcd_join)
        ));
    }
    let nodes = plan
        .replace
        .iter()
        .chain(&plan.remove)
        .any(|c| c.kind == Kind::Node);
    Some(format!(
        "in cluster {}: {}{} (`pgha plan` shows each step and why)",
        spec.name,
        parts.join(" and "),
        if nodes {
            ", switching over once if the leader is among them"
        } else {
            ""
        }
    ))
}

/// The client endpoints of the etcd members that exist before the rolling part (the spec's,
/// less the members still to join).
pub fn live_etcd(spec: &Spec, plan: &plan::ContainerPlan) -> Vec<String> {
    spec.etcd_names()
        .into_iter()
        .zip(spec.etcd_endpoints())
        .filter(|(n, _)| !plan.etcd_join.iter().any(|j| &j.member == n))
        .map(|(_, e)| e)
        .collect()
}

/// The probe's table, in the `postgres` database; dropped afterwards.
const PROBE_TABLE: &str = "pgha_up_probe";

/// What the probe saw while `up` rolled.
#[derive(Debug, Default, Serialize)]
pub struct Rolled {
    /// The steps taken, as `RollStep::describe` says them.
    pub steps: Vec<String>,
    pub elapsed_s: f64,
    /// Longest time between two writes acknowledged through HAProxy's primary port, from the
    /// probe's first write to its first after the last step; `None` when that was not observed.
    pub longest_write_gap_s: Option<f64>,
    pub writes_acked: usize,
    /// Acknowledged probe writes missing on some node (each node counted).
    pub writes_lost: usize,
    /// The nodes every acknowledged write was looked for on.
    pub checked_on: Vec<String>,
    pub leader_before: Option<String>,
    pub leader_after: Option<String>,
}

/// Everything a step needs.
struct Roller<'a> {
    engine: &'a Engine,
    /// Connected anew after every etcd step: etcd-client keeps connections to a member that was
    /// stopped and answers no request on them.
    dcs: Dcs,
    access: &'a Access,
    spec: &'a Spec,
    want: &'a Desired,
    secrets: &'a Secrets,
    remove_volumes: bool,
    timeout: Duration,
    p: &'a Progress,
}

/// What `up` rolls through the running cluster.
#[derive(Clone, Copy)]
pub struct Rolling<'a> {
    pub want: &'a Desired,
    pub secrets: &'a Secrets,
    /// In order (see `plan::rolling::order`).
    pub steps: &'a [RollStep],
    /// `up --volumes`: a removed member's volumes go too.
    pub remove_volumes: bool,
    pub timeout: Duration,
}

/// Carries out the steps on the running cluster (see the module doc), through `dcs` (the etcd
/// members that run now).
pub async fn roll(
    session: &Session,
    dcs: &Dcs,
    rolling: Rolling<'_>,
    p: &Progress,
) -> Result<Rolled> {
    let Rolling {
        want,
        secrets,
        steps,
        remove_volumes,
        timeout,
    } = rolling;
    let engine = session.engine().await?;
    let access = session.access()?;
    let spec = session.spec()?;
    let mut r = Roller {
        engine,
        dcs: dcs.clone(),
        access,
        spec,
        want,
        secrets,
        remove_volumes,
        timeout,
        p,
    };
    let t0 = Instant::now();
    let mut out = Rolled {
        leader_before: dcs.read_cluster().await?.leader,
        ..Default::default()
    };
    let primary = health::primary_target(spec, secrets);
    Pg::connect(&primary, Duration::from_secs(5))
        .await
        .context("connect through HAProxy's primary port for the write probe")?
        .batch(&format!(
            "drop table if exists {PROBE_TABLE}; create table {PROBE_TABLE} (id bigint primary key)"
        ))
        .await
        .context("create the write probe's table")?;
    let writer = Writer::start(primary.clone(), PROBE_TABLE, 1);
    let seen = acked_beyond(&writer, 0).await;
    let mut result = if seen {
        Ok(())
    } else {
        Err(anyhow!(
            "the write probe got no write acknowledged through HAProxy's primary port in {} s; nothing was changed",
            PROBE_WAIT.as_secs()
        ))
    };
    for s in steps.iter().filter(|_| seen) {
        p.note(format!(
            "{}: {} (impact: {})",
            s.describe(),
            s.reason,
            s.impact.word()
        ));
        let t = Instant::now();
        result = r.step(s).await.with_context(|| s.describe());
        if result.is_err() {
            break;
        }
        if s.kind == Kind::Etcd {
            r.dcs = Dcs::connect(r.dcs.target.clone()).await?;
        }
        p.note(format!(
            "{} done in {:.1} s",
            s.describe(),
            t.elapsed().as_secs_f64()
        ));
        out.steps.push(s.describe());
    }
    // The gap a step caused ends with the next acknowledged write: wait for one.
    let resumed = result.is_ok() && acked_beyond(&writer, writer.acked_count()).await;
    let written = writer.finish().await;
    result?;
    out.elapsed_s = t0.elapsed().as_secs_f64();
    out.longest_write_gap_s = resumed.then_some(written.longest_gap.as_secs_f64());
    out.writes_acked = written.acked.len();
    let sql = format!("select id from {PROBE_TABLE}");
    for (i, n) in spec.nodes.names.iter().enumerate() {
        let target = health::pg_target(spec, spec.node_pg_port(i), secrets);
        let missing = missing_after_replay(&target, &sql, &written.acked, Duration::from_secs(30))
            .await
            .with_context(|| format!("check the probe's writes on {n}"))?;
        out.writes_lost += missing.len();
        out.checked_on.push(n.clone());
    }
    Pg::connect(&primary, Duration::from_secs(5))
        .await?
        .batch(&format!("drop table if exists {PROBE_TABLE}"))
        .await
        .context("drop the write probe's table")?;
    out.leader_after = r.dcs.read_cluster().await?.leader;
    if out.writes_lost > 0 {
        bail!(
            "{} of {} writes acknowledged during the rolling change are missing on some node ({})",
            out.writes_lost,
            out.writes_acked,
            out.checked_on.join(", ")
        );
    }
    Ok(out)
}

/// How long the probe may take to get a write acknowledged.
const PROBE_WAIT: Duration = Duration::from_secs(15);

/// Whether the writer gets more than `n` writes acknowledged within `PROBE_WAIT`.
async fn acked_beyond(w: &Writer, n: usize) -> bool {
    let start = Instant::now();
    while w.acked_count() <= n {
        if start.elapsed() > PROBE_WAIT {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

impl Roller<'_> {
    fn wanted(&self, name: &str) -> Result<&ContainerSpec> {
        self.want
            .containers
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| anyhow!("the spec has no container {name}"))
    }

    async fn step(&self, s: &RollStep) -> Result<()> {
        match (s.action, s.kind) {
            (Action::Switchover, _) => self.move_leadership_off(&s.member).await,
            (Action::Join, _) => self.join_etcd(&s.member, &s.container).await,
            (Action::Remove, Kind::Etcd) => self.remove_etcd(&s.member, &s.container).await,
            (Action::Replace, Kind::Etcd) => self.replace_etcd(self.wanted(&s.container)?).await,
            (Action::Replace, Kind::Node) => {
                self.move_leadership_off(&s.member).await?;
                self.replace_node(self.wanted(&s.container)?).await
            }
            (Action::Replace, Kind::Haproxy) => {
                self.replace(self.wanted(&s.container)?).await?;
                health::wait_haproxy_primary(self.spec, self.secrets, self.timeout, self.p).await
            }
            (Action::Replace, Kind::Monitor) => self.replace(self.wanted(&s.container)?).await,
            (Action::Remove, Kind::Monitor) => self.take_down(&s.container, 10).await,
            (Action::Remove, _) => self.remove_node(&s.member, &s.container).await,
        }
    }

    /// Stops a container (SIGKILL after `stop_timeout` s), removes it (its volumes stay) and
    /// waits until Docker has let go of its name.
    async fn take_down(&self, name: &str, stop_timeout: i64) -> Result<()> {
        self.engine.stop(name, stop_timeout).await?;
        self.engine.remove_container(name).await?;
        self.engine.wait_gone(name, Duration::from_secs(30)).await
    }

    /// Takes the container down, creates it from the spec and starts it.
    async fn replace(&self, c: &ContainerSpec) -> Result<()> {
        self.take_down(&c.name, c.stop_timeout).await?;
        self.engine.create_container(c).await?;
        self.engine.start(&c.name).await
    }

    /// Replaces a node that does not lead, and waits until it streams (in a member key written by
    /// its new Patroni) and the cluster has a sync standby again.
    async fn replace_node(&self, c: &ContainerSpec) -> Result<()> {
        self.engine.stop(&c.name, c.stop_timeout).await?;
        let rev = self
            .dcs
            .read_cluster()
            .await?
            .member(&c.member)
            .map_or(0, |m| m.mod_revision);
        self.replace(c).await?;
        handover::wait_streaming(&self.dcs, &c.member, rev, self.timeout, self.p).await?;
        self.wait_healthy().await
    }

    /// Removes a node the spec no longer names (after moving leadership off it), clears its
    /// member key, and removes its volume only when asked to.
    async fn remove_node(&self, member: &str, container: &str) -> Result<()> {
        self.move_leadership_off(member).await?;
        self.take_down(container, plan::STOP_TIMEOUT_SECS).await?;
        self.dcs.delete(&format!("members/{member}")).await?;
        if self.remove_volumes {
            let v = names::volume_name(self.spec, member);
            self.engine.remove_volume(&v).await?;
            self.p.note(format!("removed volume {v}"));
        } else {
            self.p.note(format!(
                "kept volume {} (`up --volumes` removes the volume of a removed node)",
                names::volume_name(self.spec, member)
            ));
        }
        self.wait_healthy().await
    }

    /// Every node of the spec streams from the leader and a sync standby is named.
    async fn wait_healthy(&self) -> Result<()> {
        health::wait_healthy(
            &self.dcs,
            &self.spec.nodes.names,
            None,
            self.timeout,
            self.p,
        )
        .await?;
        Ok(())
    }

    /// When `member` leads, switches over to the synchronous standby (a node the spec keeps) and
    /// waits until writes through HAProxy land on it; otherwise nothing.
    async fn move_leadership_off(&self, member: &str) -> Result<()> {
        let view = self.dcs.read_cluster().await?;
        if view.leader.as_deref() != Some(member) {
            return Ok(());
        }
        let keeps = |m: &str| m != member && self.spec.node_index(m).is_some();
        let candidate = view
            .sync_standbys
            .iter()
            .find(|m| keeps(m))
            .cloned()
            .ok_or_else(|| {
                anyhow!(
                    "{member} leads and no synchronous standby the spec keeps can take over; wait until `pgha list` shows one"
                )
            })?;
        let plan = decide::switchover(&view, Some(&candidate), Some(member), false)
            .map_err(|e| anyhow!("switch over from {member}: {e}"))?;
        let done = handover::perform(
            self.access,
            &self.dcs,
            Some(self.engine),
            &view,
            &plan,
            self.timeout,
            self.p,
        )
        .await?;
        self.p.note(format!(
            "{candidate} leads after {:.1} s",
            done.to_leader.as_secs_f64()
        ));
        Ok(())
    }
}
