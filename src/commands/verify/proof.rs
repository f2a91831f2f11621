//! The checks of `pgha verify` that prove durability on every member: `partition` (the leader cut
//! off the cluster network under writes) and `consistency` (runs last: every writer's acknowledged
//! ids, and the same rows, on every node of the spec, read on each node's own port).

use super::{Run, MIN_ACKED};
use crate::adapters::pg::{Pg, PgTarget};
use crate::ops::health::POLL;
use crate::ops::writer::{missing_after_replay, Writer};
use crate::spec::names;
use crate::wait::{wait_for, Check};
use anyhow::{anyhow, bail, Result};
use std::time::{Duration, Instant};

const CONNECT: Duration = Duration::from_secs(2);

/// count and md5 of the table, in key order.
async fn checksum(target: &PgTarget) -> Result<String> {
    let pg = Pg::connect(target, CONNECT).await?;
    Ok(pg
        .query_text("select count(*)::text || ' ' || coalesce(md5(string_agg(id::text || ':' || note, ',' order by id)), '') from verify_rows")
        .await?
        .unwrap_or_default())
}

/// Every id of `acked` is in `verify_rows` on every node of the spec (each read on its own port;
/// a replica gets `replay` to catch up). Names the node and the first missing ids otherwise.
pub async fn acked_on_every_node(run: &Run<'_>, acked: &[i64], replay: Duration) -> Result<()> {
    for node in &run.spec.nodes.names {
        let t = run
            .member_db(node)
            .ok_or_else(|| anyhow!("no port for {node}"))?;
        let missing =
            missing_after_replay(&t, "select id from verify_rows where id > 0", acked, replay)
                .await?;
        if !missing.is_empty() {
            bail!(
                "{} of {} acknowledged writes missing on {node}: {:?}",
                missing.len(),
                acked.len(),
                &missing[..missing.len().min(10)]
            );
        }
    }
    Ok(())
}

pub async fn consistency(run: &mut Run<'_>) -> Result<String> {
    run.stop_writer().await;
    let short: Vec<String> = run
        .writers
        .iter()
        .filter(|(_, n)| *n < MIN_ACKED)
        .map(|(c, n)| format!("{c} ({n})"))
        .collect();
    if !short.is_empty() {
        bail!(
            "too few writes acknowledged to prove anything (at least {MIN_ACKED} each): {}",
            short.join(", ")
        );
    }
    let view = run.dcs.read_cluster().await?;
    let leader = view.leader.clone().ok_or_else(|| anyhow!("no leader"))?;
    let lt = run
        .member_db(&leader)
        .ok_or_else(|| anyhow!("no port for {leader}"))?;
    let want = checksum(&lt).await?;
    for node in run.spec.nodes.names.iter().filter(|n| **n != leader) {
        let t = run
            .member_db(node)
            .ok_or_else(|| anyhow!("no port for {node}"))?;
        wait_for(
            &format!("{node} to match the leader"),
            Duration::from_secs(30),
            POLL,
            None,
            || async {
                let got = match checksum(&t).await {
                    Ok(got) => got,
                    Err(e) => return Ok(Check::NotYet(format!("{node}: {e:#}"))),
                };
                Ok(if got == want {
                    Check::Ready(())
                } else {
                    Check::NotYet(format!("{node} has {got}, leader {leader} {want}"))
                })
            },
        )
        .await?;
    }
    acked_on_every_node(run, &run.acked, Duration::from_secs(30)).await?;
    let (count, md5) = want.split_once(' ').unwrap_or((&want, ""));
    let writers: Vec<String> = run
        .writers
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    Ok(format!(
        "{} nodes ({}) hold {count} rows, md5 {}; 0 of {} acknowledged writes lost on any node{}",
        run.spec.nodes.names.len(),
        run.spec.nodes.names.join(", "),
        &md5[..md5.len().min(12)],
        run.acked.len(),
        if writers.is_empty() {
            " (no writer ran)".to_string()
        } else {
            format!(" ({})", writers.join(", "))
        }
    ))
}

/// Cuts the leader's container off the cluster network while a writer runs, and reconnects it
/// (under its member name) whatever happens.
pub async fn partition(run: &mut Run<'_>) -> Result<String> {
    super::checks::ensure_table(run, false).await?;
    let view = super::checks::sync_standby(run).await?;
    let leader = view.leader.clone().ok_or_else(|| anyhow!("no leader"))?;
    let ttl = view
        .config_u64("ttl")
        .unwrap_or(u64::from(run.spec.patroni.ttl));
    let container = run.access.container(&leader)?;
    let net = names::network_name(run.spec);
    let writer = Writer::start(run.primary_db(), "verify_rows", 30_000_000);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = writer.acked_count();
    let t0 = Instant::now();
    let cut = match run.engine.network_disconnect(&net, &container).await {
        Ok(()) => cut_off(run, &writer, &leader, ttl, t0).await,
        Err(e) => Err(e),
    };
    // Always heal, also when the cut went wrong (and `restore` reconnects every node, should
    // this fail too).
    let t1 = Instant::now();
    let healed = run.engine.network_connect(&net, &container, &leader).await;
    let rejoin = match (&cut, &healed) {
        (Ok(_), Ok(())) => rejoin_as_replica(run, &leader, t1).await,
        _ => Err(anyhow!("not reconnected")),
    };
    let written = writer.finish().await;
    let acked = written.acked.len();
    run.keep("partition", written.acked.clone());
    let (new, to_leader, resumed) = cut?;
    healed?;
    let rejoined = rejoin?;
    if before == 0 || acked < MIN_ACKED {
        bail!("only {acked} writes acknowledged (at least {MIN_ACKED} needed to prove anything)");
    }
    acked_on_every_node(run, &written.acked, Duration::from_secs(30)).await?;
    Ok(format!(
        "cut {leader} off {net}: {new} leader after {:.1} s (ttl {ttl} s); writes resumed after {}; \
         {leader} reconnected and streaming as a replica after {:.1} s; 0 of {acked} acknowledged writes lost on {}",
        to_leader.as_secs_f64(),
        resumed
            .map(|d| format!("{:.1} s", d.as_secs_f64()))
            .unwrap_or_else(|| "n/a".into()),
        rejoined.as_secs_f64(),
        run.spec.nodes.names.join(", ")
    ))
}

/// While `leader` is cut off: waits (ttl plus 10 s) for another leader in etcd, then (bounded)
/// for the writer to get a write acknowledged again. Returns the new leader and both times.
async fn cut_off(
    run: &Run<'_>,
    writer: &Writer,
    leader: &str,
    ttl: u64,
    t0: Instant,
) -> Result<(String, Duration, Option<Duration>)> {
    let new = wait_for(
        &format!("a new leader after cutting {leader} off (ttl {ttl} s + 10 s)"),
        Duration::from_secs(ttl + 10),
        POLL,
        Some(&run.p),
        || async {
            let v = run.dcs.read_cluster().await?;
            Ok(match v.leader {
                Some(l) if l != leader && v.leads(&l, 0) => Check::Ready(l),
                other => Check::NotYet(format!("leader {other:?}")),
            })
        },
    )
    .await?;
    let to_leader = t0.elapsed();
    let at_leader = writer.acked_count();
    let resumed = wait_for(
        "a write acknowledged by the new leader",
        Duration::from_secs(30),
        Duration::from_millis(20),
        None,
        || async {
            Ok(if writer.acked_count() > at_leader {
                Check::Ready(t0.elapsed())
            } else {
                Check::NotYet("no write acknowledged yet".into())
            })
        },
    )
    .await
    .ok();
    Ok((new, to_leader, resumed))
}

/// Waits until the reconnected old leader streams as a replica in a member key written after the
/// reconnection.
async fn rejoin_as_replica(run: &Run<'_>, member: &str, t1: Instant) -> Result<Duration> {
    let stale = run
        .dcs
        .read_cluster()
        .await?
        .member(member)
        .map(|m| m.mod_revision)
        .unwrap_or(0);
    wait_for(
        &format!("{member} to stream as a replica after reconnecting"),
        Duration::from_secs(120),
        POLL,
        Some(&run.p),
        || async {
            let v = run.dcs.read_cluster().await?;
            Ok(match v.streams(member, stale) {
                Ok(()) => Check::Ready(()),
                Err(why) => Check::NotYet(why),
            })
        },
    )
    .await?;
    Ok(t1.elapsed())
}
