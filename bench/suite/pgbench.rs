//! What the stack costs in throughput: pgbench (the node image's own) run inside a replica's
//! container, through HAProxy's primary port and directly on the leader's port, in synchronous
//! and in asynchronous mode. The in-network names and ports come from the rendered HAProxy
//! config; the password from the node's libpq password file (never a command line).

use super::{Bench, Metric};
use anyhow::{anyhow, bail, Context, Result};
use pgha::adapters::docker::Engine;
use pgha::adapters::pg::Pg;
use std::time::{Duration, Instant};

const PGBENCH: &str = "/usr/lib/postgresql/17/bin/pgbench";
const CLIENTS: &str = "4";
const SCALE: &str = "4";

/// TPS and average latency per mode (synchronous first) and path (through HAProxy first).
pub struct Throughput {
    pub tps: [[Metric; 2]; 2],
    pub latency: [[Metric; 2]; 2],
}

impl Throughput {
    pub fn new() -> Throughput {
        let name = |what: &str, sync: bool, haproxy: bool| -> &'static str {
            let s = format!(
                "pgbench {what}, {}, {}",
                if sync { "synchronous" } else { "asynchronous" },
                if haproxy {
                    "through HAProxy's primary port"
                } else {
                    "on the leader's port"
                }
            );
            Box::leak(s.into_boxed_str())
        };
        let pair = |what: &str, unit: &'static str, sync: bool| {
            [
                Metric::new(name(what, sync, true), unit),
                Metric::new(name(what, sync, false), unit),
            ]
        };
        Throughput {
            tps: [pair("TPS", "tps", true), pair("TPS", "tps", false)],
            latency: [
                pair("average latency", "ms", true),
                pair("average latency", "ms", false),
            ],
        }
    }

    pub fn into_metrics(self) -> Vec<Metric> {
        let [[ts_h, ts_d], [ta_h, ta_d]] = self.tps;
        let [[ls_h, ls_d], [la_h, la_d]] = self.latency;
        vec![ts_h, ts_d, ls_h, ls_d, ta_h, ta_d, la_h, la_d]
    }
}

/// The leader and a replica's container, from `pgha list`.
pub async fn roles(b: &Bench<'_>) -> Result<(String, String)> {
    let list = b.settle().await?;
    let members = list["members"].as_array().cloned().unwrap_or_default();
    let leader = list["leader"]
        .as_str()
        .ok_or_else(|| anyhow!("no leader in pgha list"))?
        .to_string();
    let replica = members
        .iter()
        .filter_map(|m| m["member"].as_str())
        .find(|m| *m != leader)
        .ok_or_else(|| anyhow!("no replica in pgha list"))?;
    Ok((leader, b.c.container(replica)))
}

/// In-network `(host, port)` of HAProxy's primary listener and of `member`'s PostgreSQL, read from
/// the HAProxy config pgha renders for this cluster.
pub fn in_network(b: &Bench<'_>, member: &str) -> Result<((String, String), (String, String))> {
    let text = std::fs::read_to_string(b.dir.path().join("pgha.toml"))?;
    let spec = pgha::spec::Spec::parse(&text, "pgha.toml").map_err(|e| anyhow!("{e}"))?;
    let cfg = pgha::render::haproxy_cfg(&spec)?;
    let primary = cfg
        .split("listen primary")
        .nth(1)
        .ok_or_else(|| anyhow!("no `listen primary` in the rendered haproxy.cfg"))?;
    let bind = primary
        .lines()
        .find_map(|l| l.trim().strip_prefix("bind *:"))
        .ok_or_else(|| anyhow!("no bind line in haproxy.cfg's primary listener"))?;
    let server = primary
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("server {member} ")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.rsplit_once(':'))
        .ok_or_else(|| anyhow!("no server {member} in haproxy.cfg's primary listener"))?;
    Ok((
        ("haproxy".into(), bind.trim().to_string()),
        (server.0.to_string(), server.1.to_string()),
    ))
}

/// Runs pgbench in `container` as postgres against `host:port`; the password comes from the
/// node's password file (`PGPASSFILE`), so it is neither on the command line nor in any output.
pub async fn pgbench(
    engine: &Engine,
    container: &str,
    host: &str,
    port: &str,
    extra: &[&str],
) -> Result<String> {
    pgbench_with(engine, container, host, port, extra, &[]).await
}

/// `pgbench` with more of libpq's environment (`env`, e.g. `PGSSLMODE=...`).
pub async fn pgbench_with(
    engine: &Engine,
    container: &str,
    host: &str,
    port: &str,
    extra: &[&str],
    env: &[String],
) -> Result<String> {
    let mut cmd = vec![PGBENCH, "-h", host, "-p", port, "-U", "postgres"];
    cmd.extend_from_slice(extra);
    cmd.push("postgres");
    let mut env = env.to_vec();
    env.extend([
        format!("PGPASSFILE={}", pgha::layout::NODE_PGPASS),
        "PGCONNECT_TIMEOUT=5".to_string(),
    ]);
    let out = engine.exec(container, &cmd, Some("postgres"), &env).await?;
    if out.code != 0 {
        bail!(
            "pgbench {extra:?} against {host}:{port} in {container} exited {}: {}",
            out.code,
            out.stderr.trim()
        );
    }
    Ok(out.stdout)
}

/// `tps = …` (without initial connection time) and `latency average = … ms` of pgbench's report.
pub fn parse_report(out: &str) -> Option<(f64, f64)> {
    let tps = out
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let lat = out
        .lines()
        .find_map(|l| l.strip_prefix("latency average = "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some((tps, lat))
}

/// Waits (bounded) until the leader's `synchronous_standby_names` is set (`want`) or empty.
async fn leader_sync_names(b: &Bench<'_>, want: bool) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let set = match Pg::connect(&b.primary()?, Duration::from_secs(2)).await {
            Ok(pg) => pg
                .query_text("select (current_setting('synchronous_standby_names') <> '')::text")
                .await
                .ok()
                .flatten(),
            Err(_) => None,
        };
        if set.as_deref() == Some(if want { "true" } else { "false" }) {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(60) {
            bail!(
                "the leader's synchronous_standby_names did not become {}",
                if want { "set" } else { "empty" }
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One repetition: the four cases, each `seconds` long; leaves synchronous mode on.
pub async fn measure(
    b: &Bench<'_>,
    engine: &Engine,
    seconds: u64,
    t: &mut Throughput,
) -> Result<()> {
    let list = b.settle().await?;
    let members = list["members"].as_array().cloned().unwrap_or_default();
    let leader = members
        .iter()
        .find(|m| m["role"] == "Leader")
        .and_then(|m| m["member"].as_str())
        .ok_or_else(|| anyhow!("no leader in pgha list"))?
        .to_string();
    // The client runs in a replica's container (the async one when there is one).
    let client = members
        .iter()
        .find(|m| m["role"] == "Replica")
        .or_else(|| members.iter().find(|m| m["role"] != "Leader"))
        .and_then(|m| m["member"].as_str())
        .ok_or_else(|| anyhow!("no replica in pgha list"))?;
    let container = b.c.container(client);
    let (haproxy, direct) = in_network(b, &leader)?;
    pgbench(
        engine,
        &container,
        &haproxy.0,
        &haproxy.1,
        &["-i", "-q", "-s", SCALE],
    )
    .await
    .context("initialise pgbench's tables")?;
    let secs = seconds.max(1).to_string();
    for (mode, sync) in [(0, true), (1, false)] {
        if !sync {
            b.pgha(&["edit-config", "--set", "synchronous_mode=false", "--yes"])?;
            leader_sync_names(b, false).await?;
        }
        for (path, (host, port)) in [(0, &haproxy), (1, &direct)] {
            eprintln!(
                "bench:   pgbench {} via {host}:{port} for {secs} s",
                if sync { "synchronous" } else { "asynchronous" }
            );
            let out = pgbench(
                engine,
                &container,
                host,
                port,
                &["-n", "-T", &secs, "-c", CLIENTS, "-j", "2"],
            )
            .await?;
            let (tps, lat) = parse_report(&out)
                .ok_or_else(|| anyhow!("no tps/latency in pgbench's report: {out}"))?;
            eprintln!("bench:     {tps:.1} tps, {lat:.2} ms");
            t.tps[mode][path].push(Some(tps));
            t.latency[mode][path].push(Some(lat));
        }
    }
    b.pgha(&["edit-config", "--set", "synchronous_mode=true", "--yes"])?;
    leader_sync_names(b, true).await?;
    b.settle().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_pgbenchs_report() {
        let out = "transaction type: <builtin: TPC-B (sort of)>\nlatency average = 7.812 ms\ninitial connection time = 3.1 ms\ntps = 512.034 (without initial connection time)\n";
        assert_eq!(super::parse_report(out), Some((512.034, 7.812)));
        assert_eq!(super::parse_report("tps = 1 (x)\n"), None);
    }
}
