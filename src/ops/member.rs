//! Starting, stopping or restarting members' containers, for `pgha start|stop M...` and
//! `pgha restart --container M...`: a member's container (a node, `etcdN` or `haproxy`), then
//! wait until it is what it should be: a node running in Patroni's
//! view (a replica streaming, an old leader rejoined with pg_rewind where needed), an etcd member
//! healthy, HAProxy running; a stopped leader handed over to another member. `stop` and
//! `restart --container` confirm first, and refuse (unless `--force`) when the step would cost
//! etcd quorum or data safety (see `decide::stop_guard`).

use crate::adapters::dcs::endpoint_health;
use crate::decide::{self, Down, StopFacts};
use crate::ops::health::POLL;
use crate::ops::session::Session;
use crate::output::{json, list_report, list_table, secs};
use crate::plan::STOP_TIMEOUT_SECS;
use crate::progress::Progress;
use crate::spec::Spec;
use crate::usage;
use crate::wait::{wait_for, Check};
use anyhow::Result;
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
}

#[derive(Serialize)]
struct MemberResult {
    member: String,
    container: String,
    action: String,
    seconds: f64,
    outcome: String,
}

/// What kind of member a name is in this spec.
enum Which {
    Node,
    Etcd(usize),
    Haproxy,
}

fn which(spec: &Spec, m: &str) -> Result<Which> {
    if spec.node_index(m).is_some() {
        return Ok(Which::Node);
    }
    if let Some(i) = spec.etcd_names().iter().position(|e| e == m) {
        return Ok(Which::Etcd(i));
    }
    if m == "haproxy" {
        return Ok(Which::Haproxy);
    }
    usage!(
        "{m} is not a member of cluster {} (nodes: {}; etcd: {}; haproxy)",
        spec.name,
        spec.nodes.names.join(", "),
        spec.etcd_names().join(", ")
    )
}

/// The spec's etcd members that answer healthy now (concurrently, each within a few seconds).
async fn healthy_etcd(spec: &Spec) -> Vec<String> {
    let names = spec.etcd_names();
    let auth = crate::security::etcd_auth(spec).unwrap_or_default();
    let checks = names.iter().enumerate().map(|(i, _)| {
        let endpoint = format!("{}:{}", spec.connect_host(), spec.etcd_client_port(i));
        let auth = &auth;
        async move { endpoint_health(auth, &endpoint).await }
    });
    let results = futures_util::future::join_all(checks).await;
    names
        .into_iter()
        .zip(results)
        .filter(|(_, r)| r.as_ref().is_ok_and(|s| s.has_leader))
        .map(|(n, _)| n)
        .collect()
}

/// Refuses (exit 2, nothing changed) a stop or container restart that would cost etcd quorum
/// or data safety, unless `force`.
async fn guard(
    dcs: &crate::adapters::dcs::Dcs,
    spec: &Spec,
    members: &[String],
    kinds: &[Which],
    action: Action,
    force: bool,
) -> Result<()> {
    let targets: Vec<Down> = members
        .iter()
        .zip(kinds)
        .map(|(m, k)| match k {
            Which::Node => Down::Node(m.clone()),
            Which::Etcd(_) => Down::Etcd(m.clone()),
            Which::Haproxy => Down::Haproxy,
        })
        .collect();
    let view = if targets.iter().any(|t| matches!(t, Down::Node(_))) {
        dcs.read_cluster().await.ok()
    } else {
        None
    };
    let etcd_healthy = if targets.iter().any(|t| matches!(t, Down::Etcd(_))) {
        healthy_etcd(spec).await
    } else {
        Vec::new()
    };
    let facts = StopFacts {
        view: view.as_ref(),
        etcd_members: spec.etcd_names().len(),
        etcd_healthy,
    };
    let why = decide::stop_guard(&facts, &targets, action == Action::Stop);
    if why.is_empty() {
        return Ok(());
    }
    let verb = if action == Action::Stop {
        "stop"
    } else {
        "restart --container"
    };
    if force {
        eprintln!("warning: --force: {verb} anyway: {}", why.join("; "));
        return Ok(());
    }
    usage!(
        "refused to {verb} {} of cluster {}: {}; nothing was changed (--force to do it anyway)",
        members.join(", "),
        spec.name,
        why.join("; ")
    )
}

pub async fn run_members(
    session: &Session,
    members: &[String],
    timeout: Duration,
    action: Action,
    force: bool,
) -> Result<()> {
    let what = match action {
        Action::Start => "start",
        Action::Stop => "stop",
        Action::Restart => "restart --container",
    };
    let access = session.access_for_containers(what)?;
    let (spec, _) = access.require_pgha(what)?;
    let kinds: Vec<Which> = members
        .iter()
        .map(|m| which(spec, m))
        .collect::<Result<_>>()?;
    let dcs = session.dcs().await?;
    if action != Action::Start {
        guard(&dcs, spec, members, &kinds, action, force).await?;
        session.confirm(&format!(
            "{} {} of cluster {}",
            if action == Action::Stop {
                "stop the containers of"
            } else {
                "restart the containers of"
            },
            members.join(", "),
            spec.name
        ))?;
    }
    let engine = session.engine().await?;
    let p = Progress::new();
    let mut results = Vec::new();
    for (m, kind) in members.iter().zip(kinds) {
        let container = access.container(m)?;
        let t0 = Instant::now();
        let was_leader = dcs.read_cluster().await.ok().and_then(|v| v.leader) == Some(m.clone());
        if matches!(action, Action::Stop | Action::Restart) {
            p.step(format!("stopping {container}"));
            engine.stop(&container, STOP_TIMEOUT_SECS).await?;
        }
        let mut outcome = String::from("stopped");
        if action == Action::Stop && matches!(kind, Which::Node) && was_leader {
            let v = wait_for(
                "another member to take the leader key",
                timeout,
                POLL,
                Some(&p),
                || async {
                    let v = dcs.read_cluster().await?;
                    Ok(match v.leader.as_deref() {
                        Some(l) if l != m => Check::Ready(l.to_string()),
                        other => Check::NotYet(format!("leader: {}", other.unwrap_or("none"))),
                    })
                },
            )
            .await?;
            outcome = format!("stopped; {v} took over as leader");
        }
        if matches!(action, Action::Start | Action::Restart) {
            let already =
                action == Action::Start && engine.running(&container).await? == Some(true);
            // The member key as the stopped Patroni left it: only a newer one counts as started.
            let stale = if already {
                0
            } else {
                dcs.read_cluster()
                    .await
                    .ok()
                    .and_then(|v| v.member(m).map(|x| x.mod_revision))
                    .unwrap_or(0)
            };
            if !already {
                p.step(format!("starting {container}"));
                engine.start(&container).await?;
            }
            let waited = Waited {
                name: m,
                kind: &kind,
                container: &container,
                stale_revision: stale,
            };
            let ready = wait_ready(session, &dcs, waited, timeout, &p).await?;
            outcome = if already {
                format!("already running; {ready}")
            } else {
                ready
            };
        }
        p.note(format!("{m}: {outcome} ({})", secs(t0.elapsed())));
        results.push(MemberResult {
            member: m.clone(),
            container,
            action: format!("{action:?}").to_lowercase(),
            seconds: t0.elapsed().as_secs_f64(),
            outcome,
        });
    }
    p.finish();
    if session.global.json {
        crate::say!("{}", json(&results));
    } else {
        for r in &results {
            crate::sayln!(
                "{}: {} ({})",
                r.member,
                r.outcome,
                secs(Duration::from_secs_f64(r.seconds))
            );
        }
        if let Ok(v) = dcs.read_cluster().await {
            crate::say!("{}", list_table(&list_report(&v)));
        }
    }
    Ok(())
}

/// A member `run_members` started and waits for.
struct Waited<'a> {
    name: &'a str,
    kind: &'a Which,
    container: &'a str,
    /// The member key's revision as the stopped Patroni left it: only a newer one counts.
    stale_revision: i64,
}

/// Waits until the started member is what it should be (see the module doc).
async fn wait_ready(
    session: &Session,
    dcs: &crate::adapters::dcs::Dcs,
    waited: Waited<'_>,
    timeout: Duration,
    p: &Progress,
) -> Result<String> {
    let (engine, spec) = (session.engine().await?, session.spec()?);
    let Waited {
        name: m,
        kind,
        container,
        stale_revision,
    } = waited;
    match kind {
        Which::Node => {
            // A member may come back as a replica, or (an old leader whose key survived) as leader.
            let v = wait_for(
                &format!("{m} to run in Patroni's view"),
                timeout,
                POLL,
                Some(p),
                || async {
                    let v = dcs.read_cluster().await?;
                    if v.leads(m, stale_revision) {
                        return Ok(Check::Ready("running as leader".to_string()));
                    }
                    Ok(match v.streams(m, stale_revision) {
                        Ok(()) => Check::Ready(format!(
                            "streaming from {} on timeline {}",
                            v.leader.as_deref().unwrap_or("?"),
                            v.member(m).and_then(|x| x.data.timeline).unwrap_or(0)
                        )),
                        Err(why) => Check::NotYet(why),
                    })
                },
            )
            .await?;
            Ok(v)
        }
        Which::Etcd(i) => {
            let endpoint = format!("{}:{}", spec.connect_host(), spec.etcd_client_port(*i));
            let auth = crate::security::etcd_auth(spec)?;
            wait_for(
                &format!("{m} to rejoin etcd"),
                timeout,
                POLL,
                Some(p),
                || async {
                    let s = endpoint_health(&auth, &endpoint).await?;
                    Ok(if s.has_leader {
                        Check::Ready(())
                    } else {
                        Check::NotYet("no raft leader".into())
                    })
                },
            )
            .await?;
            Ok("healthy etcd member".into())
        }
        Which::Haproxy => {
            wait_for(
                &format!("{container} to run"),
                timeout,
                POLL,
                Some(p),
                || async {
                    Ok(match engine.running(container).await? {
                        Some(true) => Check::Ready(()),
                        _ => Check::NotYet("not running".into()),
                    })
                },
            )
            .await?;
            Ok("running".into())
        }
    }
}
