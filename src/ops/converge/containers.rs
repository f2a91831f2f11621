//! The steps of `up` that touch containers and wait on them: the preflight before anything is
//! made, creating and starting containers, and waiting until they run; and the monitoring check
//! at the end.

use crate::adapters::docker::Engine;
use crate::adapters::patroni::Api;
use crate::ops::health;
use crate::plan::{self, preflight, ContainerSpec, Desired, Inventory, Kind, LABEL_CLUSTER};
use crate::progress::Progress;
use crate::secrets::Secrets;
use crate::spec::Spec;
use crate::usage;
use crate::wait::{wait_for, Check};
use anyhow::{bail, Result};
use futures_util::future::try_join_all;
use std::time::Duration;

/// The exporters' role, then every scrape target up; a problem is a warning (the database is up
/// either way). Returns the number of targets when all are up.
pub async fn monitoring_ready(spec: &Spec, secrets: &Secrets, p: &Progress) -> Option<usize> {
    match crate::ops::monitor::ensure_role(spec, secrets).await {
        Ok(true) => p.note(format!(
            "PostgreSQL role {} ready for the exporters",
            crate::monitoring::MONITOR_ROLE
        )),
        Ok(false) => {}
        Err(e) => p.note(format!("warning: {e:#}")),
    }
    match crate::ops::monitor::wait_targets(spec, Duration::from_secs(60), p).await {
        Ok(n) => {
            p.note(format!("Prometheus scrapes all {n} targets"));
            Some(n)
        }
        Err(e) => {
            p.note(format!("warning: monitoring is not complete: {e:#}"));
            None
        }
    }
}

/// Before anything is made: no container, network or volume under the cluster's names belongs to
/// something else, and every host port of a container to create is free (a listener is bound on
/// it and released at once). Either is a usage error: nothing was changed.
pub async fn preflight(spec: &Spec, engine: &Engine, have: &Inventory) -> Result<()> {
    let found = engine.objects_named(&preflight::object_names(spec)).await?;
    if let Some(msg) = preflight::name_clash_message(spec, &found) {
        usage!("{msg}");
    }
    // Published ports live on the engine's host; probe them only when that is this machine.
    if !engine.address.starts_with("unix://") {
        return Ok(());
    }
    let mut taken = Vec::new();
    for w in preflight::ports_to_check(spec, have) {
        let Ok(port) = u16::try_from(w.port.host_port) else {
            continue;
        };
        match std::net::TcpListener::bind((w.port.host_ip.as_str(), port)) {
            Ok(listener) => drop(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => taken.push(w),
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                usage!("{}", preflight::bind_unavailable_message(spec))
            }
            // E.g. a port below 1024 for a user: the engine binds it, not pgha.
            Err(_) => {}
        }
    }
    if !taken.is_empty() {
        usage!("{}", preflight::ports_taken_message(&taken));
    }
    Ok(())
}

/// Creates the missing containers (with their files), all at once.
pub async fn create_missing(
    engine: &Engine,
    want: &Desired,
    plan: &plan::UpPlan,
    p: &Progress,
) -> Result<()> {
    try_join_all(
        want.containers
            .iter()
            .filter(|c| plan.create.contains(&c.name))
            .map(|c| async move {
                engine.create_container(c).await?;
                p.note(format!("created {}", c.name));
                Ok::<_, anyhow::Error>(())
            }),
    )
    .await?;
    Ok(())
}

/// Starts the containers created now or found stopped, in parallel.
pub async fn start_all(
    engine: &Engine,
    group: &[ContainerSpec],
    plan: &plan::UpPlan,
    p: &Progress,
) -> Result<()> {
    try_join_all(
        group
            .iter()
            .filter(|c| plan.create.contains(&c.name) || plan.start.contains(&c.name))
            .map(|c| async move {
                engine.start(&c.name).await?;
                p.note(format!("started {}", c.name));
                Ok::<_, anyhow::Error>(())
            }),
    )
    .await?;
    Ok(())
}

/// Every container of the cluster runs (asked of Docker: etcd keeps a removed member's key until
/// its TTL ends, so etcd alone would not tell).
pub async fn all_running(engine: &Engine, spec: &Spec, want: &Desired) -> Result<()> {
    let now = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
    let missing = plan::not_running(want, &now);
    if !missing.is_empty() {
        bail!(
            "{} (removed or stopped while `up` waited); run `pgha up` again",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The nodes this `up` created or started answer on their own REST API as leader or streaming
/// replica, while every container still runs. etcd alone is not enough: the key of a removed
/// container lives until its TTL ends.
pub async fn wait_started_nodes(
    engine: &Engine,
    spec: &Spec,
    want: &Desired,
    plan: &plan::UpPlan,
    timeout: Duration,
    p: &Progress,
) -> Result<()> {
    let started: Vec<(String, Api)> = want
        .containers
        .iter()
        .filter(|c| c.kind == Kind::Node)
        .filter(|c| plan.create.contains(&c.name) || plan.start.contains(&c.name))
        .filter_map(|c| {
            let i = spec.node_index(&c.member)?;
            let base = crate::security::api_base(spec, i);
            let tls = crate::security::client_tls(spec).ok().flatten();
            Some((
                c.member.clone(),
                Api {
                    base,
                    auth: None,
                    tls,
                },
            ))
        })
        .collect();
    if started.is_empty() {
        return Ok(());
    }
    wait_for(
        "the started nodes to run",
        timeout,
        health::POLL,
        Some(p),
        || async {
            if let Err(e) = all_running(engine, spec, want).await {
                return Ok(Check::Fail(e));
            }
            let mut not = Vec::new();
            for (member, api) in &started {
                match api.status().await {
                    Ok(v) => {
                        if let Err(why) = plan::node_runs(&v) {
                            not.push(format!("{member} is {why}"));
                        }
                    }
                    Err(e) => not.push(format!("{member}: {e:#}")),
                }
            }
            Ok(if not.is_empty() {
                Check::Ready(())
            } else {
                Check::NotYet(not.join("; "))
            })
        },
    )
    .await?;
    Ok(())
}
