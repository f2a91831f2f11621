//! `pgha verify`: prove a running cluster is highly available. Runs the checks in `checks.rs` and
//! `proof.rs` in order (each PASS/FAIL with its figure, or SKIP when what it needs failed), prints
//! a summary, and always ends by bringing the cluster back to health (every node on the cluster
//! network, every container running, every replica streaming) and dropping its scratch database.
//! Exit 1 when any check failed.

mod backup;
mod checks;
mod proof;

use crate::adapters::dcs::Dcs;
use crate::adapters::docker::Engine;
use crate::adapters::pg::PgTarget;
use crate::cli::VerifyArgs;
use crate::ops::access::Access;
use crate::ops::health;
use crate::ops::session::Session;
use crate::ops::writer::Writer;
use crate::output::{json, new_table};
use crate::plan::LABEL_CLUSTER;
use crate::progress::Progress;
use crate::secrets::Secrets;
use crate::spec::Spec;
use crate::usage;
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::{Duration, Instant};

/// The checks, in the order they run, with what each proves.
pub const CHECKS: &[(&str, &str)] = &[
    (
        "status",
        "one leader, every replica streaming, one system id, etcd quorum",
    ),
    (
        "archive",
        "no archive failure since the last success; a forced WAL switch is archived within seconds",
    ),
    (
        "backup",
        "a backup exists and the archived WAL is continuous from it up to now",
    ),
    (
        "database",
        "a database created through HAProxy's primary port",
    ),
    (
        "replication",
        "rows written on the leader reach every replica",
    ),
    (
        "failover",
        "automatic failover under continuous writes (leader killed)",
    ),
    ("write", "a write through HAProxy lands on the new leader"),
    ("recovery", "the killed node rejoins as a streaming replica"),
    (
        "routing",
        "primary port reaches the leader, replica port only replicas",
    ),
    ("switchover", "switchover under continuous writes"),
    (
        "etcd",
        "an etcd member stops: the leader keeps its lock, writes go on",
    ),
    (
        "partition",
        "the leader is cut off the network under writes: a new leader, nothing lost, it rejoins",
    ),
    (
        "consistency",
        "same rows on every node; no acknowledged write of any writer lost on any node",
    ),
    (
        "restore-test",
        "with --restore-test: the latest backup and WAL restored in a throwaway container hold the leader's row counts",
    ),
];

/// Checks that disrupt the cluster (need --yes off a terminal).
const DESTRUCTIVE: &[&str] = &["failover", "recovery", "switchover", "etcd", "partition"];

/// A writer that got fewer writes acknowledged than this proves nothing: its check fails.
pub const MIN_ACKED: usize = 20;

pub const DATABASE: &str = "pgha_verify";

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub check: String,
    /// "PASS", "FAIL" or "SKIP".
    pub result: String,
    pub figure: String,
    pub seconds: f64,
}

#[derive(Serialize)]
struct VerifyReport {
    cluster: String,
    passed: bool,
    checks: Vec<CheckResult>,
    restored: String,
}

/// State shared by the checks of one run.
pub struct Run<'a> {
    pub spec: &'a Spec,
    pub secrets: &'a Secrets,
    pub access: &'a Access,
    pub engine: &'a Engine,
    pub dcs: Dcs,
    pub p: Progress,
    pub results: Vec<CheckResult>,
    /// The writer running across failover → write.
    pub writer: Option<Writer>,
    /// Every id acknowledged by verify's writers (loss is counted over all of them).
    pub acked: Vec<i64>,
    /// Each writer that ran (its check) and how many writes it got acknowledged.
    pub writers: Vec<(String, usize)>,
    pub killed: Option<String>,
    pub new_leader: Option<String>,
}

impl Run<'_> {
    /// The scratch database through HAProxy's primary port.
    pub fn primary_db(&self) -> PgTarget {
        let mut t = health::primary_target(self.spec, self.secrets);
        t.dbname = DATABASE.into();
        t
    }

    pub fn member_db(&self, member: &str) -> Option<PgTarget> {
        let mut t = self.access.member_pg(member)?;
        t.dbname = DATABASE.into();
        Some(t)
    }

    /// Stops the writer left running by `failover` (if any) and keeps what it got acknowledged.
    pub async fn stop_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            let acked = w.finish().await.acked;
            self.keep("failover", acked);
        }
    }

    /// Keeps one writer's acknowledged ids for the final consistency check.
    pub fn keep(&mut self, check: &str, acked: Vec<i64>) {
        self.writers.push((check.to_string(), acked.len()));
        self.acked.extend(acked);
    }

    fn passed(&self, check: &str) -> bool {
        self.results
            .iter()
            .any(|r| r.check == check && r.result == "PASS")
    }

    fn ran(&self, check: &str) -> bool {
        self.results.iter().any(|r| r.check == check)
    }
}

pub async fn run(session: &Session, args: &VerifyArgs) -> Result<()> {
    for c in &args.only {
        if !CHECKS.iter().any(|(n, _)| n == c) {
            let names: Vec<&str> = CHECKS.iter().map(|(n, _)| *n).collect();
            usage!("--only {c}: no such check (checks: {})", names.join(", "));
        }
    }
    let selected: Vec<&str> = CHECKS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| args.only.is_empty() || args.only.iter().any(|o| o == n))
        // The restore test runs only when asked for.
        .filter(|n| *n != "restore-test" || args.restore_test || !args.only.is_empty())
        .collect();
    let access = session.access()?;
    let (spec, secrets) = access.require_pgha("verify")?;
    if selected.iter().any(|c| DESTRUCTIVE.contains(c)) {
        session.confirm(&format!(
            "verify cluster {}: it kills the leader, switches over and stops an etcd member (and restores all of it)",
            spec.name
        ))?;
    }
    let engine = session.engine().await?;
    let dcs = session.dcs().await?;
    let mut run = Run {
        spec,
        secrets,
        access,
        engine,
        dcs,
        p: Progress::new(),
        results: Vec::new(),
        writer: None,
        acked: Vec::new(),
        writers: Vec::new(),
        killed: None,
        new_leader: None,
    };
    // verify's drills are pgha's own planned work: they do not page (ops::silence).
    let quiet = if selected.iter().any(|c| DESTRUCTIVE.contains(c)) {
        crate::ops::silence::quiet(
            spec,
            crate::monitoring::api::Quieted::Cluster,
            "pgha verify",
            Duration::from_secs(3600),
            Duration::ZERO,
            &run.p,
        )
        .await
    } else {
        None
    };
    for check in &selected {
        let t0 = Instant::now();
        let (result, figure) = match skip_reason(&run, check) {
            Some(why) => ("SKIP", why),
            None => match checks::run_check(&mut run, check).await {
                Ok(figure) => ("PASS", figure),
                Err(e) => ("FAIL", format!("{e:#}")),
            },
        };
        let r = CheckResult {
            check: check.to_string(),
            result: result.into(),
            figure,
            seconds: t0.elapsed().as_secs_f64(),
        };
        if !session.global.json {
            run.p
                .note(format!("{} {}: {}", r.result, r.check, r.figure));
        }
        run.results.push(r);
    }
    run.stop_writer().await;
    let restored = restore(&run).await;
    crate::ops::silence::end(quiet, &run.p).await;
    run.p.finish();
    let passed = run.results.iter().all(|r| r.result != "FAIL");
    let report = VerifyReport {
        cluster: spec.name.clone(),
        passed,
        checks: run.results.clone(),
        restored: match &restored {
            Ok(s) => s.clone(),
            Err(e) => format!("FAILED: {e:#}"),
        },
    };
    if session.global.json {
        crate::say!("{}", json(&report));
    } else {
        let mut t = new_table(&["Check", "Result", "Figure", "Time"]);
        for r in &report.checks {
            t.add_row(vec![
                r.check.clone(),
                r.result.clone(),
                r.figure.clone(),
                format!("{:.1} s", r.seconds),
            ]);
        }
        crate::sayln!("{t}");
        let count = |w: &str| report.checks.iter().filter(|r| r.result == w).count();
        crate::sayln!(
            "{} passed, {} failed, {} skipped; {}",
            count("PASS"),
            count("FAIL"),
            count("SKIP"),
            report.restored
        );
    }
    if let Err(e) = restored {
        bail!("verify could not restore cluster {}: {e:#}", spec.name);
    }
    if !passed {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|r| r.result == "FAIL")
            .map(|r| r.check.as_str())
            .collect();
        bail!(
            "cluster {} failed verification: {}",
            spec.name,
            failed.join(", ")
        );
    }
    Ok(())
}

/// Why a check cannot run now: what it needs failed or did not run.
fn skip_reason(run: &Run, check: &str) -> Option<String> {
    let needs: &[&str] = match check {
        "replication" | "consistency" if run.ran("database") => &["database"],
        "write" | "recovery" => &["failover"],
        _ => &[],
    };
    for n in needs {
        if !run.passed(n) {
            return Some(format!("needs {n}, which did not pass"));
        }
    }
    if matches!(check, "archive" | "backup" | "restore-test") && !run.spec.backup.enabled {
        return Some("[backup] enabled = false in the spec".into());
    }
    if matches!(check, "failover" | "switchover" | "etcd" | "partition")
        && run.ran("status")
        && !run.passed("status")
    {
        return Some("the cluster was not healthy at the start (status failed)".into());
    }
    None
}

/// Brings the cluster back: every node on the cluster network under its member name, every
/// container running, etcd healthy, every node streaming; then drops the scratch database.
async fn restore(run: &Run<'_>) -> Result<String> {
    let net = crate::spec::names::network_name(run.spec);
    let mut done = Vec::new();
    for node in &run.spec.nodes.names {
        let container = run.access.container(node)?;
        // A missing container is for `up` to make; a stopped one can be connected too.
        if run.engine.running(&container).await?.is_some()
            && !run.engine.connected(&net, &container).await?
        {
            run.engine.network_connect(&net, &container, node).await?;
            done.push(format!("reconnected {container} to {net}"));
        }
    }
    let mut started = Vec::new();
    let inv = run
        .engine
        .inventory(&[(LABEL_CLUSTER, &run.spec.name)])
        .await?;
    for c in inv.containers.iter().filter(|c| !c.running) {
        run.engine.start(&c.name).await?;
        started.push(c.name.clone());
    }
    let timeout = Duration::from_secs(120);
    health::wait_etcd(
        &run.dcs.target.auth,
        &run.spec.etcd_endpoints(),
        timeout,
        &run.p,
    )
    .await?;
    health::wait_healthy(
        &run.dcs,
        &run.spec.nodes.names,
        Some((run.engine, run.spec)),
        timeout,
        &run.p,
    )
    .await?;
    health::wait_haproxy_primary(run.spec, run.secrets, timeout, &run.p).await?;
    // HAProxy may still be settling on a member that just came back: a connection it closes at
    // once is tried again.
    let primary = health::primary_target(run.spec, run.secrets);
    crate::wait::wait_for(
        "the scratch database to be dropped",
        Duration::from_secs(30),
        health::POLL,
        Some(&run.p),
        || async {
            let pg = crate::adapters::pg::Pg::connect(&primary, Duration::from_secs(5)).await?;
            pg.batch(&format!("drop database if exists {DATABASE} with (force)"))
                .await?;
            Ok(crate::wait::Check::Ready(()))
        },
    )
    .await?;
    if !started.is_empty() {
        done.push(format!("restarted {}", started.join(", ")));
    }
    done.push("cluster healthy, scratch database dropped".into());
    Ok(done.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_a_destructive_check_and_consistency_runs_last() {
        let names: Vec<&str> = CHECKS.iter().map(|(n, _)| *n).collect();
        assert_eq!(names[names.len() - 2], "consistency");
        assert_eq!(names.last(), Some(&"restore-test"));
        let at = |c: &str| names.iter().position(|n| *n == c).unwrap();
        for writer in ["failover", "switchover", "etcd", "partition"] {
            assert!(at(writer) < at("consistency"), "{writer}");
        }
        assert!(DESTRUCTIVE.contains(&"partition"));
    }
}
