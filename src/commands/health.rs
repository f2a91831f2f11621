//! Waits shared by commands that start things: etcd answering with a quorum, the cluster healthy
//! in etcd, and HAProxy routing writes to the leader.

use crate::adapters::dcs::{endpoint_health, Dcs};
use crate::adapters::pg::{Pg, PgTarget};
use crate::progress::Progress;
use crate::secrets::{Secrets, SUPERUSER};
use crate::spec::Spec;
use crate::state::{health, ClusterView};
use crate::wait::{wait_for, Check};
use anyhow::Result;
use std::time::Duration;

pub const POLL: Duration = Duration::from_millis(200);

/// Every etcd member answers and knows a raft leader.
pub async fn wait_etcd(endpoints: &[String], timeout: Duration, p: &Progress) -> Result<()> {
    wait_for("etcd quorum", timeout, POLL, Some(p), || async {
        let mut bad = Vec::new();
        for e in endpoints {
            match endpoint_health(e).await {
                Ok(s) if s.has_leader => {}
                Ok(_) => bad.push(format!("{e} has no raft leader")),
                Err(err) => bad.push(format!("{err:#}")),
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

/// One leader and every member of `expected` streaming (see `state::health`).
pub async fn wait_healthy(
    dcs: &Dcs,
    expected: &[String],
    timeout: Duration,
    p: &Progress,
) -> Result<ClusterView> {
    let v = wait_for("a healthy cluster", timeout, POLL, Some(p), || async {
        let view = dcs.read_cluster().await?;
        Ok(match health(&view, expected) {
            Ok(()) => Check::Ready(view),
            Err(why) => Check::NotYet(why),
        })
    })
    .await?;
    Ok(v)
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
