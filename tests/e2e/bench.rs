//! The benchmark (bench/cluster.rs) runs to completion once, on one repetition, so it cannot rot.

#[path = "../../bench/cluster.rs"]
mod cluster;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
#[allow(clippy::await_holding_lock)] // The lock serialises Docker tests across test threads, on purpose.
async fn benchmark_runs_once() {
    let _lock = docker_lock();
    remove_by_test_label("bench");
    let opts = cluster::Opts {
        runs: 1,
        port_base: 8000,
        name: "pgha-bench".into(),
        bin: bin().into(),
    };
    let table = cluster::run(&opts).await;
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
    ] {
        assert!(table.contains(row), "{row} missing:\n{table}");
    }
    let lost = table
        .lines()
        .find(|l| l.contains("acknowledged writes lost"))
        .expect("a loss row");
    let cells: Vec<&str> = lost.split('|').map(str::trim).collect();
    assert_eq!(cells[2], "0 writes", "{table}");
}
