//! What TLS costs: pgbench through HAProxy's primary port, with TLS (`sslmode=verify-full`
//! against the cluster's CA) on the bench's cluster and, in the same run, on that cluster made
//! again with `[tls] enabled = false`: TPS and average latency (4 clients), and the cost of
//! setting a connection up (pgbench -C: one new connection per transaction, select-only, its
//! "average connection time"). The e2e tests' quick run measures the TLS side only; the other
//! prints n/a.

use super::{pgbench, Bench, Metric};
use anyhow::{Context, Result};
use pgha::adapters::docker::Engine;

fn names(tls: bool) -> [&'static str; 3] {
    if tls {
        [
            "pgbench TPS through HAProxy, TLS (verify-full)",
            "  average latency, TLS",
            "  connection set-up (pgbench -C), TLS",
        ]
    } else {
        [
            "pgbench TPS through HAProxy, same cluster without TLS",
            "  average latency, without TLS",
            "  connection set-up (pgbench -C), without TLS",
        ]
    }
}

pub struct Figures {
    rows: [[Metric; 3]; 2],
}

impl Figures {
    pub fn new() -> Figures {
        let set = |tls: bool| {
            let [a, b, c] = names(tls);
            [
                Metric::new(a, "tps"),
                Metric::new(b, "ms"),
                Metric::new(c, "ms"),
            ]
        };
        Figures {
            rows: [set(true), set(false)],
        }
    }

    pub fn into_metrics(self) -> Vec<Metric> {
        self.rows.into_iter().flatten().collect()
    }
}

/// `average connection time = … ms` of a `pgbench -C` report.
pub fn parse_connection_time(out: &str) -> Option<f64> {
    out.lines()
        .find_map(|l| l.strip_prefix("average connection time = "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// libpq's TLS settings for pgbench: verify-full against the cluster's CA, or none.
fn ssl_env(tls: bool) -> Vec<String> {
    let mode = if tls { "verify-full" } else { "disable" };
    vec![
        format!("PGSSLMODE={mode}"),
        format!("PGSSLROOTCERT={}/ca.crt", pgha::layout::TLS_DIR),
    ]
}

/// One side: pgbench from a replica's container through HAProxy.
async fn one(
    b: &Bench<'_>,
    engine: &Engine,
    seconds: u64,
    tls: bool,
    f: &mut Figures,
) -> Result<()> {
    let (leader, container) = pgbench::roles(b).await?;
    let ((host, port), _) = pgbench::in_network(b, &leader)?;
    let env = ssl_env(tls);
    pgbench::pgbench_with(
        engine,
        &container,
        &host,
        &port,
        &["-i", "-q", "-s", "4"],
        &env,
    )
    .await
    .context("initialise pgbench's tables")?;
    let secs = seconds.max(1).to_string();
    eprintln!(
        "bench:   pgbench (TLS {}) for {secs} s",
        if tls { "on" } else { "off" }
    );
    let out = pgbench::pgbench_with(
        engine,
        &container,
        &host,
        &port,
        &["-c", "4", "-T", &secs],
        &env,
    )
    .await?;
    let (tps, lat) = pgbench::parse_report(&out).unzip();
    let conn = pgbench::pgbench_with(
        engine,
        &container,
        &host,
        &port,
        &["-C", "-S", "-c", "1", "-T", &secs],
        &env,
    )
    .await?;
    let row = &mut f.rows[if tls { 0 } else { 1 }];
    row[0].push(tps);
    row[1].push(lat);
    row[2].push(parse_connection_time(&conn));
    Ok(())
}

/// Both sides, `runs` times each; the bench's cluster runs without TLS afterwards (in the quick
/// run it is left as it was).
pub async fn measure(b: &Bench<'_>, engine: &Engine, runs: usize) -> Result<Vec<Metric>> {
    let mut f = Figures::new();
    let seconds = b.o.pgbench_seconds;
    for i in 0..runs {
        eprintln!("bench: TLS cost {}/{runs} (with TLS)", i + 1);
        one(b, engine, seconds, true, &mut f).await?;
    }
    if b.o.quick {
        for r in &mut f.rows[1] {
            r.push(None);
        }
        return Ok(f.into_metrics());
    }
    eprintln!("bench: the same cluster without TLS");
    b.pgha(&["down", "--volumes", "--repository", "--yes"])?;
    b.respec("[tls]\nenabled = false\n")?;
    b.pgha(&["up"])?;
    for i in 0..runs {
        eprintln!("bench: TLS cost {}/{runs} (without TLS)", i + 1);
        one(b, engine, seconds, false, &mut f).await?;
    }
    Ok(f.into_metrics())
}

#[cfg(test)]
mod tests {
    #[test]
    fn connection_time_is_read_from_pgbench() {
        let out = "latency average = 1.1 ms\naverage connection time = 2.345 ms\ntps = 400.1 (without initial connection time)\n";
        assert_eq!(super::parse_connection_time(out), Some(2.345));
        assert_eq!(super::parse_connection_time("tps = 1"), None);
    }
}
