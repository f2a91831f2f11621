//! `pgha passwords rotate --user all` under a writer, on the lifecycle test's cluster (TLS and
//! monitoring on): no postmaster restarts, both replicas stream throughout, every acknowledged
//! write on every member, the old passwords refused (PostgreSQL as postgres and replicator, the
//! REST API's Basic auth, etcd's root), the exporters back with theirs, and a switchover and a
//! reinit right after.

use crate::ha::{json_of, leader, sync_standby};
use crate::harness::*;
use crate::writer::{self, assert_no_acked_write_lost};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

async fn start_times(c: &TestCluster, pw: &str) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..3 {
        let cl = pg(c.node_port(i), pw, T).await;
        out.push(
            cl.query_one("select pg_postmaster_start_time()::text", &[])
                .await
                .unwrap()
                .get(0),
        );
    }
    out
}

/// A login as `user` with `password` through HAProxy's primary port: PostgreSQL's refusal, or
/// None when it let the login in.
async fn login_refusal(c: &TestCluster, user: &str, password: &str) -> Option<String> {
    let t = pgha::adapters::pg::PgTarget {
        user: user.into(),
        password: password.into(),
        ..c.kit.pg_target(c.primary_port()).unwrap()
    };
    match pgha::adapters::pg::Pg::connect(&t, Duration::from_secs(5)).await {
        Ok(_) => None,
        Err(e) => Some(format!("{e:#}")),
    }
}

/// Both replicas stream throughout: pg_stat_replication sampled every 100 ms on the leader's own
/// port (replication is what it watches, not HAProxy), over a session opened before the
/// operation.
struct StreamWatch {
    stop: Arc<AtomicBool>,
    fewest: Arc<AtomicI64>,
    task: tokio::task::JoinHandle<usize>,
}

impl StreamWatch {
    async fn start(c: &TestCluster, password: &str) -> StreamWatch {
        let l = leader(c).await;
        let i: usize = l.trim_start_matches("pg").parse::<usize>().unwrap() - 1;
        let watch = pg(c.node_port(i), password, T).await;
        let (stop, fewest) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicI64::new(2)),
        );
        let task = {
            let (stop, fewest) = (stop.clone(), fewest.clone());
            tokio::spawn(async move {
                let mut samples = 0;
                while !stop.load(Ordering::Relaxed) {
                    let n: i64 = watch
                        .query_one(
                            "select count(*) from pg_stat_replication where state = 'streaming'",
                            &[],
                        )
                        .await
                        .map(|r| r.get(0))
                        .unwrap_or(-1);
                    fewest.fetch_min(n, Ordering::Relaxed);
                    samples += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                samples
            })
        };
        StreamWatch { stop, fewest, task }
    }

    async fn assert_both_streamed(self) {
        self.stop.store(true, Ordering::Relaxed);
        let samples = self.task.await.unwrap();
        assert!(samples > 10, "{samples} samples of pg_stat_replication");
        assert_eq!(
            self.fewest.load(Ordering::Relaxed),
            2,
            "both replicas stream throughout"
        );
    }
}

/// `certs rotate --ca` under a writer: the new CA issues every certificate served, the old one
/// is in no bundle, no postmaster restarted, both replicas streamed throughout, every
/// acknowledged write is on every member.
pub async fn ca_rotate_under_a_writer(c: &TestCluster) {
    let pw = c.superuser_password();
    let ca_file = c.home().join(&c.name).join("tls/ca.crt");
    let cn = |pem: &str| pgha::tls::facts(pem).unwrap().cn;
    let old_ca = std::fs::read_to_string(&ca_file).unwrap();
    let started = start_times(c, &pw).await;
    c.sql_on_primary("create table ca_rows (id bigint primary key)")
        .await;
    let w = writer::start(c.primary_port(), &pw, "ca_rows");
    let watch = StreamWatch::start(c, &pw).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let r = tokio::task::block_in_place(|| json_of(c, &["certs", "rotate", "--ca", "--json"]));
    tokio::time::sleep(Duration::from_secs(1)).await;
    watch.assert_both_streamed().await;
    let written = w.finish().await;
    let new_ca = std::fs::read_to_string(&ca_file).unwrap();
    assert_eq!(
        pgha::tls::pem_certificates(&new_ca).len(),
        1,
        "one CA in the bundle"
    );
    assert_ne!(cn(&new_ca), cn(&old_ca));
    assert_eq!(r["ca"], cn(&new_ca).as_str(), "{r}");
    for row in r["certificates"].as_array().unwrap() {
        assert!(
            row["name"] == "ca" || row["issued_by_ca"] == true,
            "{row} not issued by the new CA"
        );
    }
    // Served: the REST API, PostgreSQL and etcd present the new CA's certificates.
    let spec = c.kit.spec().unwrap();
    for (what, port, file, pg) in [
        ("REST API", c.kit.api_port(0), "pg1.crt", false),
        ("PostgreSQL", c.node_port(0), "pg1.crt", true),
        ("etcd", spec.etcd_client_port(0) as u16, "etcd1.crt", false),
    ] {
        assert_eq!(
            crate::security::served_serial(port, pg),
            crate::security::file_serial(&crate::security::tls_file(c, file)),
            "{what} serves its certificate of the new CA"
        );
    }
    assert_eq!(
        start_times(c, &pw).await,
        started,
        "no postmaster restarted"
    );
    assert_no_acked_write_lost(c, "ca_rows", &written.acked, 20, &[0, 1, 2]).await;
    eprintln!(
        "certs rotate --ca under a writer: {:.1} s; {} writes acknowledged, none lost; longest gap between acknowledged writes {:.2} s; no restart",
        r["seconds"].as_f64().unwrap(),
        written.acked.len(),
        written.longest_gap.as_secs_f64()
    );
}

pub async fn passwords_rotate_under_a_writer(c: &TestCluster) {
    c.settle().await;
    let old = |k: &str| c.kit.secret_of(&c.name, k).unwrap();
    let (old_su, old_repl, old_rest) = (
        old("superuser_password"),
        old("replication_password"),
        old("restapi_password"),
    );
    let old_etcd_root = old("etcd_root_password");
    let started = start_times(c, &old_su).await;
    c.sql_on_primary("create table pw_rows (id bigint primary key)")
        .await;
    let w = writer::start(c.primary_port(), &old_su, "pw_rows");
    let watch = StreamWatch::start(c, &old_su).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = tokio::task::block_in_place(|| {
        json_of(
            c,
            &["passwords", "rotate", "--user", "all", "--yes", "--json"],
        )
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    watch.assert_both_streamed().await;
    let written = w.finish().await;
    assert_eq!(r["rotated"].as_array().unwrap().len(), 7, "{r}");
    let new_su = c.superuser_password();
    assert_ne!(new_su, old_su);
    assert_eq!(
        start_times(c, &new_su).await,
        started,
        "no postmaster restarted"
    );
    assert_no_acked_write_lost(c, "pw_rows", &written.acked, 20, &[0, 1, 2]).await;
    eprintln!(
        "passwords rotate --user all under a writer: {:.1} s; {} writes acknowledged, none lost; longest gap between acknowledged writes {:.2} s; no restart",
        r["seconds"].as_f64().unwrap(),
        written.acked.len(),
        written.longest_gap.as_secs_f64()
    );

    // The old passwords are refused everywhere; the new ones work.
    for (user, pw) in [("postgres", &old_su), ("replicator", &old_repl)] {
        let e = login_refusal(c, user, pw).await;
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("password authentication failed")),
            "{user} with the old password: {e:?}"
        );
    }
    assert_eq!(login_refusal(c, "postgres", &new_su).await, None);
    let tls = c.home().join(&c.name).join("tls");
    let rest = |pw: &str| {
        let out = run_with_deadline(
            std::process::Command::new("curl")
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5"])
                .arg("--cacert")
                .arg(tls.join("ca.crt"))
                .arg("--cert")
                .arg(tls.join("client-pgha.crt"))
                .arg("--key")
                .arg(tls.join("client-pgha.key"))
                .args(["-X", "POST", "-u"])
                .arg(format!("pgha:{pw}"))
                .arg(format!("https://127.0.0.1:{}/reload", c.kit.api_port(0))),
            Duration::from_secs(15),
        );
        text(&out.stdout).trim().to_string()
    };
    assert_eq!(rest(&old_rest), "401", "REST with the old password");
    let new_rest = c.kit.secret_of(&c.name, "restapi_password").unwrap();
    assert_eq!(rest(&new_rest), "202", "REST with the new password");
    let old_root = pgha::adapters::dcs::EtcdAuth {
        user: Some(("root".into(), old_etcd_root)),
        ..c.kit.etcd_auth()
    };
    let refused = pgha::adapters::dcs::raw_client(&c.etcd_endpoints(), &old_root).await;
    assert!(refused.is_err(), "etcd root with the old password");
    etcd_client(&c.etcd_endpoints()).await;
    // Patroni runs on with its new etcd password, the exporters with theirs (their loop starts
    // them again after 5 s, and Prometheus sees them at its next scrape).
    let prom = crate::monitoring::prom(c);
    eventually("every scrape target up after the rotation", T, || async {
        let t = prom.targets().await.ok()?;
        (t.len() == 18 && t.iter().all(|t| t.health == "up")).then_some(())
    })
    .await;
    crate::monitoring::assert_targets_up(c).await;
    // Prometheus knows when each password changed (what PghaPasswordOld compares): now.
    let changed = eventually("Prometheus to record the rotation", T, || async {
        let s = prom.query("pgha_password_changed_seconds").await.ok()?;
        let now = pgha::ops::repo::now_unix() as f64;
        (s.len() == 7 && s.iter().all(|x| now - x.value < 600.0)).then_some(s)
    })
    .await;
    assert!(changed.iter().any(|x| x.label("user") == "etcd-root"));
    let status: serde_json::Value =
        serde_json::from_str(&c.pgha(&["passwords", "status", "--json"], T)).unwrap();
    for row in status.as_array().unwrap() {
        assert!(row["age_s"].as_i64().unwrap() < 600, "{row}");
    }

    // A switchover and a reinit right after (replication logs in with its certificate).
    let to = sync_standby(c).await;
    tokio::task::block_in_place(|| c.pgha(&["switchover", "--candidate", &to, "--yes"], T));
    assert_eq!(leader(c).await, to);
    let replica = ["pg1", "pg2", "pg3"]
        .into_iter()
        .find(|m| *m != to)
        .unwrap();
    let r = tokio::task::block_in_place(|| json_of(c, &["reinit", replica, "--yes", "--json"]));
    assert_eq!(r["member"], replica);
    assert_eq!(member_row(&c.list_json(), replica)["state"], "streaming");
}
