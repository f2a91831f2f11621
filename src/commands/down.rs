//! `pgha down [--volumes]`: stop and remove what `up` made, found by the cluster label, after
//! asking when it stops a running container or deletes data (`plan::down`: it names them).
//! Monitoring and HAProxy first, then the replicas, then the leader alone (a clean shutdown
//! checkpoint; the leader per etcd, or the nodes together when etcd does not answer), then etcd.
//! With `--volumes` the data volumes and the cluster's secrets go too; the backup repository only
//! with `--repository` as well. Twice is fine.

use crate::cli::DownArgs;
use crate::ops::session::Session;
use crate::output::json;
use crate::plan::down::{down_order, down_question};
use crate::plan::{Kind, LABEL_CLUSTER, STOP_TIMEOUT_SECS};
use crate::progress::Progress;
use crate::secrets;
use crate::spec::names;
use anyhow::Result;
use futures_util::future::try_join_all;
use serde::Serialize;

#[derive(Serialize)]
struct DownReport {
    cluster: String,
    containers: Vec<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
    secrets_removed: bool,
    /// The backup repository volume, when it was left in place.
    repository_kept: Option<String>,
}

pub async fn run(session: &Session, args: &DownArgs) -> Result<()> {
    let spec = session.spec()?;
    let engine = session.engine().await?;
    let mut inv = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
    // Backups outlive the cluster: the repository goes only when named.
    let repo = names::repo_volume(&spec.name);
    let kept_repo = inv.volumes.contains(&repo) && !args.repository;
    if !args.repository {
        inv.volumes.retain(|v| *v != repo);
    }
    let running: Vec<&str> = inv
        .containers
        .iter()
        .filter(|c| c.running)
        .map(|c| c.name.as_str())
        .collect();
    let state_dir = secrets::cluster_dir(&spec.name);
    let has_secrets = secrets::load(&spec.name)?.is_some();
    let state_shown = state_dir.display().to_string();
    if let Some(q) = down_question(
        &spec.name,
        &running,
        args.volumes.then_some(inv.volumes.as_slice()),
        has_secrets.then_some(state_shown.as_str()),
    ) {
        session.confirm(&q)?;
    }
    if args.repository && inv.volumes.contains(&repo) {
        session.confirm(&format!(
            "also remove the backup repository {repo}: every backup and archived WAL of {} is lost for good",
            spec.name
        ))?;
    }
    let nodes_run = inv
        .containers
        .iter()
        .any(|c| c.running && c.kind == Some(Kind::Node));
    let leader = if nodes_run {
        leader(session).await
    } else {
        None
    };
    let p = Progress::new();
    if nodes_run && leader.is_none() {
        p.note("the leader is not known (etcd does not answer): the nodes stop together");
    }
    for group in down_order(&inv.containers, leader.as_deref()) {
        try_join_all(group.iter().map(|c| {
            let engine = &engine;
            let p = &p;
            async move {
                if c.running {
                    p.step(format!("stopping {}", c.name));
                    // Nodes get time to shut down cleanly; etcd and HAProxy keep no state worth waiting for.
                    let t = if c.kind == Some(Kind::Node) {
                        STOP_TIMEOUT_SECS
                    } else {
                        3
                    };
                    engine.stop(&c.name, t).await?;
                }
                engine.remove_container(&c.name).await?;
                p.note(format!("removed container {}", c.name));
                Ok::<_, anyhow::Error>(())
            }
        }))
        .await?;
    }
    for n in &inv.networks {
        engine.remove_network(n).await?;
        p.note(format!("removed network {n}"));
    }
    let mut removed_volumes = Vec::new();
    let mut secrets_removed = false;
    if args.volumes {
        for v in &inv.volumes {
            engine.remove_volume(v).await?;
            removed_volumes.push(v.clone());
        }
        if !removed_volumes.is_empty() {
            p.note(format!("removed {} volumes", removed_volumes.len()));
        }
        secrets_removed = secrets::cluster_dir(&spec.name).exists();
        secrets::forget(&spec.name)?;
    }
    p.finish();
    let report = DownReport {
        cluster: spec.name.clone(),
        containers: inv.containers.iter().map(|c| c.name.clone()).collect(),
        networks: inv.networks.clone(),
        volumes: removed_volumes,
        secrets_removed,
        repository_kept: kept_repo.then(|| repo.clone()),
    };
    if session.global.json {
        crate::say!("{}", json(&report));
    } else if report.containers.is_empty()
        && report.networks.is_empty()
        && report.volumes.is_empty()
    {
        crate::sayln!("cluster {}: nothing to remove", spec.name);
    } else {
        crate::sayln!(
            "cluster {}: removed {} containers, {} networks, {} volumes{}",
            spec.name,
            report.containers.len(),
            report.networks.len(),
            report.volumes.len(),
            if !args.volumes && !inv.volumes.is_empty() {
                format!(
                    " (kept {} data volumes; --volumes removes them)",
                    inv.volumes.len()
                )
            } else {
                String::new()
            }
        );
    }
    if !session.global.json {
        if let Some(r) = &report.repository_kept {
            crate::sayln!(
                "kept backup repository {r}: `pgha restore --latest --into NAME` rebuilds from it; `down --volumes --repository` removes it"
            );
        }
    }
    Ok(())
}

/// The leader per etcd, when etcd answers within a few seconds.
async fn leader(session: &Session) -> Option<String> {
    let read = async { session.dcs().await?.read_cluster().await };
    match tokio::time::timeout(std::time::Duration::from_secs(5), read).await {
        Ok(Ok(view)) => view.leader,
        _ => None,
    }
}
