//! Switching a running cluster's TLS on (or off) through `up`. etcd's members cannot move from
//! http to https peers one at a time (each would lose the others), so this restarts the whole
//! cluster, after saying so and asking: Patroni's dynamic configuration (the `config` key) is
//! saved, every node stops (replicas first, the leader last, so they all stop at the same WAL
//! position), etcd is made anew under the new setting (it holds only Patroni's state, which the
//! nodes rebuild: the one that takes the lock promotes, the others follow), the saved
//! configuration goes back before any node starts, and `up` then creates the nodes and HAProxy
//! with the new configuration on their kept data volumes.

use super::Prepared;
use crate::adapters::dcs::{Dcs, Target};
use crate::ops::health;
use crate::ops::session::Session;
use crate::plan::{self, Inventory, Kind, STOP_TIMEOUT_SECS};
use crate::progress::Progress;
use crate::secrets;
use crate::spec::names;
use crate::spec::Spec;
use anyhow::{Context, Result};
use std::time::Duration;

/// What the switch says before it acts (and `plan` shows).
pub fn question(spec: &Spec) -> String {
    let (now, asked) = if spec.tls.enabled {
        ("without TLS", "on")
    } else {
        ("with TLS", "off")
    };
    format!(
        "cluster {} runs {now}; turning TLS {asked} restarts the whole cluster (etcd cannot switch between http and https member by member): the nodes stop, replicas first, etcd is made anew, and everything starts again on the kept data, so writes stop for about half a minute. Go on?",
        spec.name
    )
}

/// The spec as the running cluster has it (the other TLS setting).
fn running_spec(spec: &Spec) -> Spec {
    let mut old = spec.clone();
    old.tls.enabled = !spec.tls.enabled;
    old
}

/// Stops and removes what must go; makes etcd anew with the wanted setting and puts the saved
/// configuration back. Returns the inventory left (node data volumes and the repository).
pub async fn run(
    session: &Session,
    prepared: &Prepared,
    have: &Inventory,
    timeout: Duration,
    p: &Progress,
) -> Result<Inventory> {
    let (engine, spec) = (session.engine().await?, session.spec()?);
    let (want, secrets) = (&prepared.desired, &prepared.secrets);
    p.suspend(|| session.confirm(&question(spec)))?;
    p.note(format!(
        "restarting the whole cluster {} to turn TLS {}",
        spec.name,
        if spec.tls.enabled { "on" } else { "off" }
    ));
    let old = running_spec(spec);
    let old_target = Target {
        endpoints: spec.etcd_endpoints(),
        namespace: session.global.namespace.clone(),
        scope: spec.name.clone(),
        auth: crate::security::etcd_auth(&old)?,
    };
    let dcs = Dcs::connect(old_target.clone())
        .await
        .context("read the running cluster's state before the TLS switch")?;
    let kvs = dcs.read_kvs().await?;
    let config = kvs
        .iter()
        .find(|kv| kv.key == old_target.key("config"))
        .map(|kv| kv.value.clone());
    let view = dcs.read_cluster().await?;
    drop(dcs);

    // Nodes: replicas first, the leader last.
    let mut nodes: Vec<&plan::ObservedContainer> = have
        .containers
        .iter()
        .filter(|c| c.kind == Some(Kind::Node))
        .collect();
    nodes.sort_by_key(|c| view.leader.as_deref() == Some(c.member.as_str()));
    for c in &nodes {
        engine.stop(&c.name, STOP_TIMEOUT_SECS).await?;
        p.note(format!("stopped {}", c.name));
    }
    for c in &have.containers {
        engine.remove_container(&c.name).await?;
    }
    for c in have
        .containers
        .iter()
        .filter(|c| c.kind == Some(Kind::Etcd))
    {
        let vol = names::volume_name(spec, &c.member);
        engine.remove_volume(&vol).await?;
    }
    p.note(format!(
        "removed the cluster's containers and etcd's data (TLS {} next)",
        if spec.tls.enabled { "on" } else { "off" }
    ));

    // etcd anew, authentication, the saved configuration: all before a node starts.
    let etcd: Vec<_> = want
        .containers
        .iter()
        .filter(|c| c.kind == Kind::Etcd)
        .collect();
    for v in etcd.iter().map(|c| names::volume_name(spec, &c.member)) {
        engine.create_volume(&v, &want.labels).await?;
    }
    for c in &etcd {
        engine.create_container(c).await?;
        engine.start(&c.name).await?;
    }
    let target = session.target()?;
    health::wait_etcd(&target.auth, &spec.etcd_endpoints(), timeout, p).await?;
    if spec.tls.enabled {
        crate::adapters::dcs::auth::ensure(
            &spec.etcd_endpoints(),
            &crate::security::etcd_root(spec)?,
            (secrets::ETCD_PATRONI, &secrets.etcd_patroni_password),
            &target.prefix(),
        )
        .await?;
    }
    if let Some(config) = config {
        let dcs = session.dcs().await?;
        dcs.cas_put("config", &config, 0).await?;
        p.note("Patroni's dynamic configuration kept");
    }
    engine.inventory(&[(plan::LABEL_CLUSTER, &spec.name)]).await
}
