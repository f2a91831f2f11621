//! What monitoring costs and how fast it tells: the memory its processes hold at idle
//! (anon, as the project counts process memory, and RSS: Prometheus and Alertmanager by their
//! containers, the exporters in each node by /proc), the whole cluster's process memory at idle
//! with and without monitoring (the full run only: each measured after an `up`), and the time from `failover --kill` to the
//! leader-down alert arriving at a webhook receiver on the cluster network, and from `pgha start`
//! to its resolution arriving there.

use super::{Bench, Metric};
use crate::support::hook::{now, Hook};
use crate::support::run::docker;
use anyhow::Result;
use pgha::adapters::docker::Engine;
use std::time::Duration;

/// How long a notification may take to reach the receiver.
const ARRIVAL: Duration = Duration::from_secs(90);

/// MiB of process memory (anon: what the processes allocated, as the cgroups count it) and as
/// docker stats counts it, over the cluster's containers at idle (peak of 3 samples).
async fn cluster_mib(b: &Bench<'_>, engine: &Engine) -> Result<(f64, f64)> {
    let (stats, anon) =
        crate::support::memory::cluster_peak(engine, &b.o.name, 3, Duration::from_secs(1)).await?;
    Ok((anon, stats))
}

/// Monitoring's processes: (anon MiB, RSS MiB). Prometheus and Alertmanager by their cgroups
/// (anon; and docker stats for the RSS side), the exporters in each node by /proc (RssAnon, VmRSS).
async fn monitoring_mib(b: &Bench<'_>, engine: &Engine) -> Result<(f64, f64)> {
    let parts = [b.c.container("prometheus"), b.c.container("alertmanager")];
    let (mut rss, mut anon) = crate::support::memory::sample(engine, &parts).await?;
    let script = "for p in $(pgrep -f -- '-exporter --web'); do case $(cat /proc/$p/comm) in prometheus-*) grep -E '^(RssAnon|VmRSS):' /proc/$p/status;; esac; done";
    for n in ["pg1", "pg2", "pg3"] {
        let out = docker(&["exec", &b.c.container(n), "sh", "-c", script])?;
        for l in out.lines() {
            let kib: u64 = l
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if l.starts_with("RssAnon") {
                anon += kib * 1024;
            } else {
                rss += kib * 1024;
            }
        }
    }
    Ok((anon as f64 / 1048576.0, rss as f64 / 1048576.0))
}

/// Waits until the cluster is settled and quiet.
async fn idle(b: &Bench<'_>) -> Result<()> {
    b.settle().await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    Ok(())
}

pub async fn measure(b: &Bench<'_>, engine: &Engine, runs: usize) -> Result<Vec<Metric>> {
    let hook = Hook::start(&b.c)?;
    let mut fired = Metric::new("failover --kill: leader-down alert at the webhook", "s");
    let mut resolved = Metric::new(
        "pgha start of the killed node: its alert resolved at the webhook",
        "s",
    );
    for i in 0..runs {
        eprintln!("bench: kill -> alert {}/{runs}", i + 1);
        b.settle().await?;
        let t0 = now();
        let r = b.json(&["failover", "--kill", "--yes"])?;
        let killed = r["killed"].as_str().unwrap_or_default().to_string();
        fired.push(
            hook.wait("firing", "PghaLeaderDown", &killed, t0, ARRIVAL)
                .await?,
        );
        let t1 = now();
        b.json(&["start", &killed])?;
        resolved.push(
            hook.wait("resolved", "PghaLeaderDown", &killed, t1, ARRIVAL)
                .await?,
        );
    }
    drop(hook);

    let mut parts = Metric::new(
        "monitoring's process memory at idle (anon: Prometheus, Alertmanager, 9 exporters)",
        "MiB",
    );
    let mut parts_rss = Metric::new(
        "  the same as RSS (docker stats; the exporters' binaries' pages counted per process)",
        "MiB",
    );
    let mut with = Metric::new(
        "cluster process memory at idle, with monitoring (anon)",
        "MiB",
    );
    let mut without = Metric::new(
        "cluster process memory at idle, without monitoring (anon)",
        "MiB",
    );
    let mut with_stats = Metric::new("  with monitoring, as docker stats counts it", "MiB");
    let mut without_stats = Metric::new("  without monitoring, as docker stats counts it", "MiB");
    let pos = |v: f64| (v > 0.0).then_some(v);
    if !b.o.quick {
        // Both sides fresh from an `up`: the cluster without monitoring, then with it again.
        eprintln!("bench: the same cluster without monitoring");
        b.respec("monitoring.enabled = false\n")?;
        b.pgha(&["up", "--yes"])?;
        idle(b).await?;
        let (a, s) = cluster_mib(b, engine).await?;
        without.push(pos(a));
        without_stats.push(pos(s));
        eprintln!("bench: and with monitoring again");
        b.respec("")?;
        b.pgha(&["up", "--yes"])?;
    } else {
        without.push(None);
        without_stats.push(None);
    }
    eprintln!("bench: monitoring's memory at idle");
    idle(b).await?;
    let (a, s) = cluster_mib(b, engine).await?;
    with.push(pos(a));
    with_stats.push(pos(s));
    let (anon, rss) = monitoring_mib(b, engine).await?;
    parts.push(pos(anon));
    parts_rss.push(pos(rss));
    Ok(vec![
        fired,
        resolved,
        parts,
        parts_rss,
        with,
        without,
        with_stats,
        without_stats,
    ])
}
