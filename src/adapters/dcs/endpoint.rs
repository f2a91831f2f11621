//! One etcd endpoint at a time: its status and member list (the probes behind `diagnose`), its
//! health, and handing raft leadership away from it.

use super::diagnose::{Answer, Probe};
use super::{connect_to, EtcdAuth};
use anyhow::{anyhow, Context, Result};
use std::time::Duration;

/// Asks every endpoint at once for its status and member list (each bounded to a few seconds).
pub(super) async fn probe_all(endpoints: &[String], auth: &EtcdAuth) -> Vec<Probe> {
    let auth = auth.transport();
    futures_util::future::join_all(endpoints.iter().map(|e| probe(e, &auth))).await
}

async fn probe(endpoint: &str, auth: &EtcdAuth) -> Probe {
    const LIMIT: Duration = Duration::from_secs(2);
    let answer = async {
        let mut c = tokio::time::timeout(LIMIT, connect_to(&[endpoint.to_string()], auth))
            .await
            .ok()?
            .ok()?;
        let st = tokio::time::timeout(LIMIT, c.status()).await.ok()?.ok()?;
        let id = st.header().map(|h| h.member_id());
        // The member list is served by any member, without a quorum.
        let members = tokio::time::timeout(LIMIT, c.member_list())
            .await
            .ok()
            .and_then(|r| r.ok());
        let member = members
            .as_ref()
            .and_then(|m| m.members().iter().find(|m| Some(m.id()) == id))
            .map(|m| m.name().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| endpoint.to_string());
        Some(Answer {
            endpoint: endpoint.to_string(),
            member,
            has_leader: st.leader() != 0,
            raft_index: st.raft_index(),
            cluster_size: members.map(|m| m.members().len()),
        })
    }
    .await;
    Probe {
        endpoint: endpoint.to_string(),
        answer,
    }
}

/// Health of one etcd endpoint: its status call answers and it knows a raft leader.
pub async fn endpoint_health(auth: &EtcdAuth, endpoint: &str) -> Result<EndpointStatus> {
    let mut c = tokio::time::timeout(
        Duration::from_secs(3),
        connect_to(&[endpoint.to_string()], &auth.transport()),
    )
    .await
    .map_err(|_| anyhow!("etcd at {endpoint}: no answer in 3 s"))?
    .with_context(|| format!("connect to etcd at {endpoint}"))?;
    let st = tokio::time::timeout(Duration::from_secs(3), c.status())
        .await
        .map_err(|_| anyhow!("etcd at {endpoint}: no status in 3 s"))?
        .with_context(|| format!("status of etcd at {endpoint}"))?;
    Ok(EndpointStatus {
        version: st.version().to_string(),
        has_leader: st.leader() != 0,
        errors: st.errors().to_vec(),
        is_leader: st.header().map(|h| h.member_id()) == Some(st.leader()),
    })
}

/// When the etcd member at `endpoint` is the raft leader, hands leadership to another member
/// (etcd's `move-leader`), so that stopping it costs no election. True when it moved.
pub async fn move_etcd_leader_off(auth: &EtcdAuth, endpoint: &str) -> Result<bool> {
    let what = format!("move etcd leadership off {endpoint}");
    let mut c = tokio::time::timeout(
        Duration::from_secs(3),
        connect_to(&[endpoint.to_string()], auth),
    )
    .await
    .map_err(|_| anyhow!("{what}: no answer in 3 s"))?
    .with_context(|| what.clone())?;
    let st = c.status().await.with_context(|| what.clone())?;
    let me = st.header().map(|h| h.member_id());
    if me != Some(st.leader()) {
        return Ok(false);
    }
    let list = c.member_list().await.with_context(|| what.clone())?;
    let Some(to) = list
        .members()
        .iter()
        .find(|m| Some(m.id()) != me && !m.name().is_empty() && !m.is_learner())
    else {
        return Ok(false);
    };
    c.move_leader(to.id()).await.with_context(|| what.clone())?;
    Ok(true)
}

#[derive(Debug, Clone)]
pub struct EndpointStatus {
    pub version: String,
    pub has_leader: bool,
    pub is_leader: bool,
    pub errors: Vec<String>,
}
