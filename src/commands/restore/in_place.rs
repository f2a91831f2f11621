//! `pgha restore --in-place <target>`: the cluster itself goes back to the target. Every node
//! stops (replicas first, so the leader archives its last WAL as it stops); the first node's data
//! is restored with `--delta` in a tool container, where PostgreSQL alone replays to the target
//! and promotes on a new timeline; Patroni's state in etcd is cleared (the config key stays);
//! the other nodes' containers and data volumes go; the first node starts and takes the leader
//! lock with its restored data; `up` rebuilds the others from it. The steps, as `--plan` prints
//! them and the confirmation names them, are `plan::restore_plan`'s.

use crate::cli::UpArgs;
use crate::ops::converge;
use crate::ops::health;
use crate::ops::repo::{self, Repo};
use crate::ops::session::Session;
use crate::pgbackrest::{self, Target};
use crate::plan::STOP_TIMEOUT_SECS;
use crate::progress::Progress;
use crate::spec::names;
use crate::spec::Spec;
use crate::wait::{wait_for, Check};
use anyhow::{bail, Context, Result};
use std::time::Duration;

pub async fn run(
    session: &Session,
    spec: &Spec,
    t: &Target,
    options: &[String],
    timeout: Duration,
) -> Result<()> {
    let engine = session.engine().await?;
    let dcs = session.dcs().await?;
    let first = spec.nodes.names[0].clone();
    let p = Progress::new();

    // 1. Stop every node: replicas first, the leader last.
    let view = dcs.read_cluster().await.ok();
    let leader = view.as_ref().and_then(|v| v.leader.clone());
    let mut order: Vec<&String> = spec.nodes.names.iter().collect();
    order.sort_by_key(|n| Some(n.as_str()) == leader.as_deref());
    for n in order {
        let c = names::container_name(spec, n);
        p.step(format!("stopping {c}"));
        engine.stop(&c, STOP_TIMEOUT_SECS).await?;
        p.note(format!("stopped {c}"));
    }

    // 2. Restore the first node's data in a tool container and let PostgreSQL promote there.
    p.step(format!("restoring {first} to {}", t.describe()));
    let data = (
        names::volume_name(spec, &first),
        crate::layout::NODE_DATA.to_string(),
    );
    let tool = Repo::tool(
        engine,
        spec,
        &repo::tool_image(spec),
        "restore-tool",
        vec![data],
    )
    .await?;
    let script = pgbackrest::in_place_script(&spec.name, options, timeout.as_secs() as u32);
    // The script waits for the promotion with its own deadline; this one bounds the whole exec.
    let limit = timeout + Duration::from_secs(120);
    let out = tokio::time::timeout(limit, tool.shell(&script)).await;
    tool.close().await?;
    let out = out.map_err(|_| {
        anyhow::anyhow!(
            "the restore of {first} did not end within {} s (pgbackrest restore and the replay to the target); the other nodes keep their data and are stopped: `pgha start` brings them back",
            limit.as_secs()
        )
    })??;
    if out.code != 0 {
        bail!(
            "restore of {first} failed: {}; the other nodes keep their data and are stopped: `pgha start` brings them back, then `pgha reinit {first}` rebuilds {first}",
            repo::failure(&out)
        );
    }
    let timeline = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("timeline="))
        .unwrap_or("?")
        .to_string();
    p.note(format!(
        "{first} restored to {} and promoted on timeline {timeline}",
        t.describe()
    ));

    // 3. Patroni's state, except the dynamic configuration.
    let keys = dcs.read_kvs().await?;
    let prefix = session.target()?.prefix();
    for kv in keys {
        let rel = kv.key.strip_prefix(&prefix).unwrap_or(&kv.key).to_string();
        if rel != "config" {
            dcs.delete(&rel).await?;
        }
    }
    p.note("cleared Patroni's state in etcd");

    // 4. The other nodes go with their data.
    for n in &spec.nodes.names[1..] {
        let c = names::container_name(spec, n);
        engine.remove_container(&c).await?;
        engine.wait_gone(&c, Duration::from_secs(30)).await?;
        engine.remove_volume(&names::volume_name(spec, n)).await?;
        p.note(format!("removed {c} and its data"));
    }

    // 5. The first node leads with the restored data.
    engine.start(&names::container_name(spec, &first)).await?;
    wait_leader(session, &first, timeout, &p).await?;
    p.note(format!("{first} leads"));
    p.finish();

    // 6. The others come back as replicas.
    converge::up_and_report(
        session,
        &UpArgs {
            timeout: timeout.as_secs(),
            restart: false,
            volumes: false,
        },
    )
    .await
    .context("rebuild the other nodes (`pgha up` again finishes it)")?;
    // Patroni starts the restored data as a standby before it takes the lock, and promotes it
    // once more: the cluster runs on the timeline after the restore's.
    let now = session.dcs().await?.read_cluster().await?;
    let running_tl = now
        .members
        .iter()
        .find(|m| Some(&m.name) == now.leader.as_ref())
        .and_then(|m| m.data.timeline)
        .map_or("?".to_string(), |t| t.to_string());
    if !session.global.json {
        crate::sayln!(
            "Restored {} in place to {}: PostgreSQL promoted there on timeline {timeline}; {first} leads on timeline {running_tl}, and the others were rebuilt from it.",
            spec.name,
            t.describe()
        );
    }
    Ok(())
}

async fn wait_leader(
    session: &Session,
    first: &str,
    timeout: Duration,
    p: &Progress,
) -> Result<()> {
    let dcs = session.dcs().await?;
    wait_for(
        &format!("{first} to take the leader lock"),
        timeout,
        health::POLL,
        Some(p),
        || async {
            let v = dcs.read_cluster().await?;
            Ok(match v.leader.as_deref() {
                Some(l) if l == first => Check::Ready(()),
                Some(other) => Check::Fail(anyhow::anyhow!(
                    "{other} took the leader lock, not {first}; its data is not the restored one"
                )),
                None => Check::NotYet("no leader yet".into()),
            })
        },
    )
    .await?;
    Ok(())
}
