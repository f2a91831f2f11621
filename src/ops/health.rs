//! Waits shared by commands that start things: etcd answering with a quorum, the cluster healthy
//! in etcd, and HAProxy routing writes to the leader.

use crate::adapters::dcs::{endpoint_health, Dcs};
use crate::adapters::docker::Engine;
use crate::adapters::pg::{Pg, PgTarget};
use crate::plan::{Kind, LABEL_CLUSTER};
use crate::progress::Progress;
use crate::secrets::{Secrets, SUPERUSER};
use crate::spec::Spec;
use crate::state::{health, ClusterView};
use crate::wait::{wait_for, Check};
use anyhow::{anyhow, Result};
use futures_util::StreamExt;
use std::time::Duration;

pub const POLL: Duration = Duration::from_millis(200);

/// Every etcd member answers and knows a raft leader.
pub async fn wait_etcd(
    auth: &crate::adapters::dcs::EtcdAuth,
    endpoints: &[String],
    timeout: Duration,
    p: &Progress,
) -> Result<()> {
    wait_for("etcd quorum", timeout, POLL, Some(p), || async {
        let mut bad = Vec::new();
        for e in endpoints {
            match endpoint_health(auth, e).await {
                Ok(s) if s.has_leader => {}
                Ok(_) => bad.push(format!("{e} has no raft leader")),
                // The client library's transport chain helps nobody here.
                Err(_) => bad.push(format!("etcd at {e} does not answer")),
            }
        }
        Ok(if bad.is_empty() {
            Check::Ready(())
        } else {
            Check::NotYet(bad.join("; "))
        })
    })
    .await?;
    Ok(())
}

/// One leader and every member of `expected` streaming (see `state::health`). With `watch`,
/// Docker is asked too, and a node container that keeps restarting or has exited ends the wait at
/// once with its last log lines.
pub async fn wait_healthy(
    dcs: &Dcs,
    expected: &[String],
    watch: Option<(&Engine, &Spec)>,
    timeout: Duration,
    p: &Progress,
) -> Result<ClusterView> {
    let v = wait_for("a healthy cluster", timeout, POLL, Some(p), || async {
        if let Some((engine, spec)) = watch {
            if let Some(e) = broken_node(engine, spec).await? {
                return Ok(Check::Fail(e));
            }
        }
        let view = dcs.read_cluster().await?;
        Ok(match health(&view, expected) {
            Ok(()) => Check::Ready(view),
            Err(why) => Check::NotYet(why),
        })
    })
    .await?;
    Ok(v)
}

/// A node container Docker reports as restarting or exited, with its last log lines.
async fn broken_node(engine: &Engine, spec: &Spec) -> Result<Option<anyhow::Error>> {
    let inv = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
    for c in inv.containers.iter().filter(|c| c.kind == Some(Kind::Node)) {
        if c.state == "restarting" || c.state == "exited" || c.state == "dead" {
            let lines: Vec<String> = engine
                .logs(&c.name, Some(300), None, false, false)
                .filter_map(|l| async move { l.ok().map(|l| l.text.trim_end().to_string()) })
                .collect()
                .await;
            return Ok(Some(anyhow!(
                "container {} is {} (Patroni exited); its log says:\n{}",
                c.name,
                c.state,
                telling_lines(&lines).join("\n")
            )));
        }
    }
    Ok(None)
}

/// What a failed node's log says: its last FATAL and ERROR lines (PostgreSQL's, pgBackRest's,
/// Patroni's), then its last lines (Patroni's traceback).
pub fn telling_lines(lines: &[String]) -> Vec<String> {
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("FATAL:") || l.contains("ERROR:") || l.contains(" ERROR "))
        .collect();
    let skip = errors.len().saturating_sub(6);
    let tail = lines.len().saturating_sub(6);
    errors
        .into_iter()
        .skip(skip)
        .chain(lines[tail..].iter())
        .cloned()
        .collect()
}

/// The superuser on the HAProxy primary port.
pub fn primary_target(spec: &Spec, s: &Secrets) -> PgTarget {
    pg_target(spec, spec.haproxy_primary_port(), s)
}

pub fn pg_target(spec: &Spec, port: u32, s: &Secrets) -> PgTarget {
    PgTarget {
        host: spec.connect_host().to_string(),
        port: port as u16,
        user: SUPERUSER.into(),
        password: s.superuser_password.clone(),
        dbname: "postgres".into(),
        // pgha checks the server against the cluster's CA; it authenticates with the password.
        tls: crate::security::server_check(spec).ok().flatten(),
    }
}

/// Connections through HAProxy's primary port land on a primary (`pg_is_in_recovery()` false).
pub async fn wait_haproxy_primary(
    spec: &Spec,
    s: &Secrets,
    timeout: Duration,
    p: &Progress,
) -> Result<()> {
    let target = primary_target(spec, s);
    wait_for(
        "HAProxy to route writes to the leader",
        timeout,
        POLL,
        Some(p),
        || async {
            let pg = Pg::connect(&target, Duration::from_secs(2)).await?;
            Ok(if pg.is_in_recovery().await? {
                Check::NotYet("the primary port reached a replica".into())
            } else {
                Check::Ready(())
            })
        },
    )
    .await?;
    Ok(())
}
