//! The benchmark's measurements (bench/suite, what bench/cluster.rs runs) run to completion once,
//! on one repetition, so they cannot rot.

#[path = "../../bench/suite/mod.rs"]
pub mod suite;

use crate::harness::*;

/// The table's row `name` has a figure (not "n/a"), observed in its one run.
fn observed_once(table: &str, name: &str) {
    let row = table
        .lines()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("{name} missing:\n{table}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_ne!(cells[2], "n/a", "{table}");
    assert_eq!(cells[5], "1", "{table}");
}

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::await_holding_lock)] // The lock serialises Docker tests across test threads, on purpose.
async fn benchmark_runs_once() {
    let _lock = docker_lock();
    remove_by_test_label("bench");
    let opts = suite::Opts {
        runs: 1,
        pgbench_seconds: 3,
        backup_scale: 2,
        quick: true,
        only_monitoring: false,
        port_base: 8000,
        name: "pgha-bench".into(),
        bin: bin().into(),
    };
    let table = suite::run(&opts).await;
    remove_by_test_label("bench");
    let table = table.expect("the benchmark runs to completion");
    eprintln!("{table}");
    for row in [
        "up from nothing until healthy",
        "| pgha list",
        "patronictl list (inside a node container)",
        "switchover: longest gap between acknowledged writes",
        "failover --kill: first write through HAProxy",
        "failover --kill --no-fence: new leader in etcd",
        "cluster memory at idle",
        "cluster process memory at idle, without monitoring (anon)",
    ] {
        assert!(table.contains(row), "{row} missing:\n{table}");
    }
    // The converge figures were observed once each.
    for name in [
        "up, config-only change ([patroni.parameters]): every member applied it",
        "up, rolling image replacement (9 containers): total",
        "up, rolling image replacement: longest gap between acknowledged writes",
        "up, rolling image replacement: longest write gap up's own probe reports",
        "failover --kill: leader-down alert at the webhook",
        "pgha start of the killed node: its alert resolved at the webhook",
        "monitoring's process memory at idle (anon: Prometheus, Alertmanager, 9 exporters)",
    ] {
        observed_once(&table, name);
    }
    let rolled_lost = table
        .lines()
        .find(|l| l.contains("rolling image replacement: acknowledged writes lost"))
        .expect("a rolling loss row");
    assert_eq!(
        rolled_lost.split('|').map(str::trim).nth(2),
        Some("0 writes"),
        "{table}"
    );
    // pgbench ran in all four cases and each reported a figure (not "n/a").
    for mode in ["synchronous", "asynchronous"] {
        for path in ["through HAProxy's primary port", "on the leader's port"] {
            for what in ["TPS", "average latency"] {
                observed_once(&table, &format!("pgbench {what}, {mode}, {path}"));
            }
        }
    }
    // The backup figures, each observed (the archive lag twice).
    for name in [
        "pgha backup --type full: time",
        "pg_basebackup of the same cluster (tar to /dev/null): time",
        "pgha restore --time T --into",
    ] {
        observed_once(&table, name);
    }
    let lag = table
        .lines()
        .find(|l| l.contains("archive lag under a steady writer"))
        .unwrap_or_else(|| panic!("no archive lag row:\n{table}"));
    assert_ne!(lag.split('|').map(str::trim).nth(2), Some("n/a"), "{table}");
    observed_once(&table, "pg_basebackup: throughput");
    let checked = table
        .lines()
        .find(|l| l.contains("acknowledged writes checked on every node"))
        .expect("a checked row");
    let checked: usize = checked
        .split('|')
        .map(str::trim)
        .nth(2)
        .unwrap()
        .trim_end_matches(" writes")
        .parse()
        .unwrap();
    // 4 operations under writes (switchover, two kills, a rolling replacement), each above the
    // bench's own floor.
    assert!(checked >= 4 * 20, "{table}");
    let lost = table
        .lines()
        .find(|l| l.contains("acknowledged writes lost on any node"))
        .expect("a loss row");
    let cells: Vec<&str> = lost.split('|').map(str::trim).collect();
    assert_eq!(cells[2], "0 writes", "{table}");
}
