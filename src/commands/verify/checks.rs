//! The checks of `pgha verify` (those proving durability on every member are in `proof.rs`). Each
//! returns its figure on PASS, or an error naming the problem.

use super::{proof, Run, DATABASE, MIN_ACKED};
use crate::adapters::dcs::endpoint_health;
use crate::adapters::pg::{Pg, PgTarget};
use crate::decide;
use crate::ops::handover::{self, kill_leader};
use crate::ops::health::{self, POLL};
use crate::ops::writer::Writer;
use crate::state::{health as cluster_health, ClusterView};
use crate::wait::{wait_for, Check};
use anyhow::{anyhow, bail, Context, Result};
use std::time::{Duration, Instant};

const CONNECT: Duration = Duration::from_secs(2);

pub async fn run_check(run: &mut Run<'_>, check: &str) -> Result<String> {
    run.p.step(format!("verify: {check}"));
    match check {
        "status" => status(run).await,
        "database" => database(run).await,
        "replication" => replication(run).await,
        "failover" => failover(run).await,
        "write" => write(run).await,
        "recovery" => recovery(run).await,
        "consistency" => proof::consistency(run).await,
        "partition" => proof::partition(run).await,
        "routing" => routing(run).await,
        "switchover" => switchover_check(run).await,
        "etcd" => etcd(run).await,
        "archive" => super::backup::archive(run).await,
        "backup" => super::backup::backup(run).await,
        "restore-test" => super::backup::restore_test(run).await,
        other => bail!("no such check {other}"),
    }
}

async fn status(run: &mut Run<'_>) -> Result<String> {
    let view = run.dcs.read_cluster().await?;
    cluster_health(&view, &run.spec.nodes.names).map_err(|why| anyhow!("{why}"))?;
    let mut ids = Vec::new();
    for m in &view.members {
        let s = run.access.api(&view, &m.name)?.status().await?;
        ids.push(
            s.get("database_system_identifier")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string(),
        );
    }
    let sysid = view.system_id();
    if let Some(bad) = ids.iter().find(|i| **i != sysid) {
        bail!("system identifiers differ: etcd says {sysid}, a member says {bad}");
    }
    let mut healthy = 0;
    let mut bad = Vec::new();
    for e in run.spec.etcd_endpoints() {
        match endpoint_health(&run.dcs.target.auth, &e).await {
            Ok(s) if s.has_leader => healthy += 1,
            Ok(_) => bad.push(format!("{e} has no raft leader")),
            Err(err) => bad.push(format!("{err:#}")),
        }
    }
    if !bad.is_empty() {
        bail!(
            "etcd {healthy}/{} healthy: {}",
            run.spec.etcd.members,
            bad.join("; ")
        );
    }
    Ok(format!(
        "leader {}, {} replicas streaming, sync standby {}, system id {sysid}, etcd {healthy}/{} healthy",
        view.leader.as_deref().unwrap_or("?"),
        view.members.len() - 1,
        view.sync_standbys.join(","),
        run.spec.etcd.members
    ))
}

/// Creates the scratch database and table through HAProxy (idempotent unless `fresh`).
pub(super) async fn ensure_table(run: &Run<'_>, fresh: bool) -> Result<()> {
    let admin = Pg::connect(&health::primary_target(run.spec, run.secrets), CONNECT)
        .await
        .context("connect through HAProxy's primary port")?;
    if fresh {
        admin
            .batch(&format!("drop database if exists {DATABASE} with (force)"))
            .await?;
    }
    let exists = admin
        .query_text(&format!(
            "select datname::text from pg_database where datname = '{DATABASE}'"
        ))
        .await
        .ok()
        .flatten()
        .is_some();
    if !exists {
        admin.batch(&format!("create database {DATABASE}")).await?;
    }
    let db = Pg::connect(&run.primary_db(), CONNECT).await?;
    db.batch("create table if not exists verify_rows (id bigint primary key, note text not null default 'verify')")
        .await
}

async fn database(run: &mut Run<'_>) -> Result<String> {
    let t0 = Instant::now();
    ensure_table(run, true).await?;
    Ok(format!(
        "created database {DATABASE} and a table in {:.2} s",
        t0.elapsed().as_secs_f64()
    ))
}

async fn replication(run: &mut Run<'_>) -> Result<String> {
    ensure_table(run, false).await?;
    let view = run.dcs.read_cluster().await?;
    let db = Pg::connect(&run.primary_db(), CONNECT).await?;
    db.batch("delete from verify_rows where id < 0; insert into verify_rows (id) select generate_series(-100, -1)")
        .await?;
    let t0 = Instant::now();
    let mut figures = Vec::new();
    for m in view
        .members
        .iter()
        .filter(|m| Some(&m.name) != view.leader.as_ref())
    {
        let target = run
            .member_db(&m.name)
            .ok_or_else(|| anyhow!("no port for {}", m.name))?;
        let pg = Pg::connect(&target, CONNECT).await?;
        wait_for(
            &format!("100 rows on {}", m.name),
            Duration::from_secs(10),
            Duration::from_millis(10),
            None,
            || async {
                let n = pg
                    .query_i64s("select count(*) from verify_rows where id < 0")
                    .await?;
                Ok(if n.first() == Some(&100) {
                    Check::Ready(())
                } else {
                    Check::NotYet(format!("{n:?} rows"))
                })
            },
        )
        .await?;
        figures.push(format!(
            "{} after {:.2} s",
            m.name,
            t0.elapsed().as_secs_f64()
        ));
    }
    Ok(format!("100 rows on {}", figures.join(", ")))
}

/// Waits (bounded) until a sync standby is named: without one Patroni promotes no one.
pub(super) async fn sync_standby(run: &Run<'_>) -> Result<ClusterView> {
    let v = wait_for(
        "a sync standby",
        Duration::from_secs(30),
        POLL,
        Some(&run.p),
        || async {
            let v = run.dcs.read_cluster().await?;
            Ok(if !v.synchronous_mode() || !v.sync_standbys.is_empty() {
                Check::Ready(v)
            } else {
                Check::NotYet("none named".into())
            })
        },
    )
    .await?;
    Ok(v)
}

async fn failover(run: &mut Run<'_>) -> Result<String> {
    ensure_table(run, false).await?;
    let view = sync_standby(run).await?;
    let writer = Writer::start(run.primary_db(), "verify_rows", 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = writer.acked_count();
    run.writer = Some(writer);
    let k = kill_leader(
        run.access,
        &run.dcs,
        run.engine,
        true,
        Duration::from_secs(60),
        &run.p,
    )
    .await?;
    run.killed = Some(k.killed.clone());
    let new = k
        .new_leader
        .clone()
        .ok_or_else(|| anyhow!("no new leader (paused?)"))?;
    run.new_leader = Some(new.clone());
    if before == 0 {
        bail!("the writer got no write acknowledged before the kill");
    }
    if !view.is_sync_standby(&new) {
        bail!(
            "{new} took over but the sync standby was {}",
            view.sync_standbys.join(",")
        );
    }
    let w = k
        .first_write
        .ok_or_else(|| anyhow!("no write through HAProxy after the failover"))?;
    Ok(format!(
        "killed {}; {new} (the sync standby) leader after {:.1} s; first write through HAProxy after {:.1} s",
        k.killed,
        k.to_leader.as_secs_f64(),
        w.after.as_secs_f64()
    ))
}

async fn write(run: &mut Run<'_>) -> Result<String> {
    let new = run
        .new_leader
        .clone()
        .ok_or_else(|| anyhow!("no new leader"))?;
    let ip = run
        .engine
        .container_ip(&run.access.container(&new)?)
        .await?;
    let pg = Pg::connect(&run.primary_db(), CONNECT).await?;
    let in_recovery = pg.is_in_recovery().await?;
    let server = pg.query_text("select host(inet_server_addr())").await?;
    pg.batch("insert into verify_rows (id, note) values (-1000, 'after failover') on conflict (id) do update set note = excluded.note")
        .await?;
    if in_recovery {
        bail!("the primary port reached a server in recovery");
    }
    if server != ip {
        bail!("the write landed on {server:?}, not on {new} ({ip:?})");
    }
    run.stop_writer().await;
    Ok(format!(
        "write landed on {new}; pg_is_in_recovery() = false"
    ))
}

async fn recovery(run: &mut Run<'_>) -> Result<String> {
    let killed = run
        .killed
        .clone()
        .ok_or_else(|| anyhow!("nothing was killed"))?;
    let stale = run
        .dcs
        .read_cluster()
        .await?
        .member(&killed)
        .map(|m| m.mod_revision)
        .unwrap_or(0);
    let t0 = Instant::now();
    run.engine.start(&run.access.container(&killed)?).await?;
    wait_for(
        &format!("{killed} to stream again"),
        Duration::from_secs(120),
        POLL,
        Some(&run.p),
        || async {
            let v = run.dcs.read_cluster().await?;
            Ok(match v.streams(&killed, stale) {
                Ok(()) => Check::Ready(()),
                Err(why) => Check::NotYet(why),
            })
        },
    )
    .await?;
    Ok(format!(
        "{killed} streaming again {:.1} s after its start",
        t0.elapsed().as_secs_f64()
    ))
}

async fn routing(run: &mut Run<'_>) -> Result<String> {
    let view = run.dcs.read_cluster().await?;
    let leader = view.leader.clone().ok_or_else(|| anyhow!("no leader"))?;
    let leader_ip = run
        .engine
        .container_ip(&run.access.container(&leader)?)
        .await?
        .unwrap_or_default();
    let haproxy = run.access.container("haproxy")?;
    let engine = run.engine.clone();
    let explain = |e: anyhow::Error, port: u32| {
        let (engine, haproxy) = (engine.clone(), haproxy.clone());
        async move {
            let state = match engine.running(&haproxy).await {
                Ok(Some(true)) => "running".to_string(),
                Ok(Some(false)) => "not running".to_string(),
                Ok(None) => "missing".to_string(),
                Err(e) => format!("unknown ({e})"),
            };
            anyhow!("cannot connect through HAProxy's port {port}: {e:#} (container {haproxy} is {state})")
        }
    };
    // Where one new connection through `port` lands: the server's address, and in recovery or not.
    let land = |target: PgTarget, port: u32| {
        let explain = &explain;
        async move {
            let pg = match Pg::connect(&target, CONNECT).await {
                Ok(pg) => pg,
                Err(e) => return Err(explain(e, port).await),
            };
            let ip = pg
                .query_text("select host(inet_server_addr())")
                .await?
                .unwrap_or_default();
            Ok::<_, anyhow::Error>((ip, pg.is_in_recovery().await?))
        }
    };
    let primary = health::primary_target(run.spec, run.secrets);
    for _ in 0..5 {
        let (ip, recovery) = land(primary.clone(), run.spec.haproxy_primary_port()).await?;
        if recovery || ip != leader_ip {
            bail!("the primary port reached {ip}, not the leader {leader} ({leader_ip})");
        }
    }
    let replica = health::pg_target(run.spec, run.spec.haproxy_replica_port(), run.secrets);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let (ip, recovery) = land(replica.clone(), run.spec.haproxy_replica_port()).await?;
        if !recovery || ip == leader_ip {
            bail!("the replica port reached the leader {leader}");
        }
        seen.insert(ip);
    }
    Ok(format!(
        "primary port: 5/5 on {leader}; replica port: 6/6 on replicas ({} distinct)",
        seen.len()
    ))
}

async fn switchover_check(run: &mut Run<'_>) -> Result<String> {
    ensure_table(run, false).await?;
    let view = sync_standby(run).await?;
    let plan = decide::switchover(&view, None, None, false).map_err(|e| anyhow!(e))?;
    let writer = Writer::start(run.primary_db(), "verify_rows", 10_000_000);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let done = handover::perform(
        run.access,
        &run.dcs,
        Some(run.engine),
        &view,
        &plan,
        Duration::from_secs(60),
        &run.p,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Stopped and kept also when the switchover failed: consistency checks its ids too.
    let written = writer.finish().await;
    run.keep("switchover", written.acked.clone());
    let done = done?;
    if written.acked.len() < MIN_ACKED {
        bail!(
            "only {} writes acknowledged (at least {MIN_ACKED} needed to prove anything)",
            written.acked.len()
        );
    }
    proof::acked_on_every_node(run, &written.acked, Duration::from_secs(30)).await?;
    Ok(format!(
        "{} → {}: new leader after {:.1} s; longest gap between acknowledged writes {:.2} s; 0 of {} lost on any node",
        plan.leader,
        plan.candidate,
        done.to_leader.as_secs_f64(),
        written.longest_gap.as_secs_f64(),
        written.acked.len()
    ))
}

async fn etcd(run: &mut Run<'_>) -> Result<String> {
    let names = run.spec.etcd_names();
    let endpoints = run.spec.etcd_endpoints();
    if names.len() < 3 {
        bail!(
            "needs 3 or more etcd members to lose one (this cluster has {})",
            names.len()
        );
    }
    // Stop a member that is not etcd's raft leader.
    let mut victim = None;
    for (n, e) in names.iter().zip(&endpoints).rev() {
        if endpoint_health(&run.dcs.target.auth, e)
            .await
            .map(|s| !s.is_leader)
            .unwrap_or(false)
        {
            victim = Some(n.clone());
            break;
        }
    }
    let victim = victim.ok_or_else(|| anyhow!("no healthy etcd follower to stop"))?;
    let container = run.access.container(&victim)?;
    let before = run.dcs.read_cluster().await?;
    let leader = before.leader.clone().ok_or_else(|| anyhow!("no leader"))?;
    ensure_table(run, false).await?;
    let writer = Writer::start(run.primary_db(), "verify_rows", 20_000_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    run.engine.stop(&container, 3).await?;
    let acked_at_stop = writer.acked_count();
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(5) {
        if let Ok(v) = run.dcs.read_cluster().await {
            if v.leader.as_deref() != Some(leader.as_str()) {
                let written = writer.finish().await;
                run.keep("etcd", written.acked);
                bail!(
                    "the leader changed from {leader} to {:?} while {victim} was down",
                    v.leader
                );
            }
        }
        tokio::time::sleep(POLL).await;
    }
    let during = writer.acked_count() - acked_at_stop;
    let t0 = Instant::now();
    let started = run.engine.start(&container).await;
    let waited = match started {
        Ok(()) => {
            health::wait_etcd(
                &run.dcs.target.auth,
                &endpoints,
                Duration::from_secs(60),
                &run.p,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let rejoined = t0.elapsed();
    let written = writer.finish().await;
    let acked = written.acked.len();
    run.keep("etcd", written.acked);
    waited?;
    if during < MIN_ACKED {
        bail!("only {during} writes acknowledged while {victim} was down (at least {MIN_ACKED} needed)");
    }
    let mut healthy = 0;
    for e in &endpoints {
        if endpoint_health(&run.dcs.target.auth, e)
            .await
            .is_ok_and(|s| s.has_leader)
        {
            healthy += 1;
        }
    }
    Ok(format!(
        "stopped {victim} for 5 s: {leader} kept its lock, {during} of {acked} writes acknowledged meanwhile; {victim} rejoined in {:.1} s, then {healthy}/{} etcd members healthy",
        rejoined.as_secs_f64(),
        names.len()
    ))
}
