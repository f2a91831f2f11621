//! pgha's benchmark: brings up its own cluster and prints one table of medians (with min and max)
//! over `--runs N` repetitions: `up` with the image present, `pgha list` next to `patronictl list`,
//! switchover under writes, `failover --kill` fenced and not, acknowledged writes lost (each id read
//! on every node, the killed one after it rejoins), pgbench throughput through HAProxy and on the
//! leader's port in synchronous and asynchronous mode, the cluster's memory at idle, what
//! monitoring holds at idle and how fast a leader kill's alert reaches a webhook, and what TLS
//! costs (pgbench and connection set-up with and without it). It
//! reports, prints "n/a" for what it could not observe, and never fails on a slow machine; it fails
//! when a writer got too few writes acknowledged to prove anything.
//!
//! Run: `cargo bench --bench cluster -- --runs 3 [--pgbench-seconds 20] [--backup-scale 20]
//! [--only monitoring]` (the
//! e2e tests run it once
//! with `--runs 1` and short pgbench cases).

mod suite;
#[path = "../tests/support/mod.rs"]
mod support;

use anyhow::Result;
use std::path::PathBuf;
use suite::Opts;

/// `--runs`, `--pgbench-seconds`, `--backup-scale` (or their `PGHA_BENCH_*` variables), `--only`.
fn opts_from_args(bin: PathBuf) -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, env: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|r| r.parse::<u64>().ok())
            .or_else(|| std::env::var(env).ok().and_then(|r| r.parse().ok()))
    };
    Opts {
        runs: flag("--runs", "PGHA_BENCH_RUNS").unwrap_or(3) as usize,
        pgbench_seconds: flag("--pgbench-seconds", "PGHA_BENCH_PGBENCH_SECONDS").unwrap_or(15),
        backup_scale: flag("--backup-scale", "PGHA_BENCH_BACKUP_SCALE").unwrap_or(20),
        quick: false,
        only_monitoring: args
            .windows(2)
            .any(|w| w[0] == "--only" && w[1] == "monitoring"),
        port_base: 8000,
        name: "pgha-bench".into(),
        bin,
    }
}

fn main() -> Result<()> {
    let opts = opts_from_args(PathBuf::from(env!("CARGO_BIN_EXE_pgha")));
    let _lock = support::lock::machine_lock()?;
    let rt = tokio::runtime::Runtime::new()?;
    let table = rt.block_on(suite::run(&opts))?;
    print!("{table}");
    Ok(())
}
