//! HA operations on real clusters: switchover (named, best, refused), failover to an async
//! replica (refused without --allow-data-loss, then allowed), the guards of `stop` (sync
//! standby, etcd quorum, confirmation), reinit, restart of the leader through Patroni, history;
//! and the helpers the kill test (`kill.rs`) shares.

use crate::harness::*;
use crate::writer::{self, assert_no_acked_write_lost};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

pub(crate) async fn leader(c: &TestCluster) -> String {
    etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name))
        .await
        .expect("a leader key")
}

/// The sync standby named in etcd's `sync` key, waiting until there is one.
pub(crate) async fn sync_standby(c: &TestCluster) -> String {
    eventually(
        "a sync standby in etcd",
        Duration::from_secs(30),
        || async {
            let v = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/sync", c.name)).await?;
            let v: Value = serde_json::from_str(&v).ok()?;
            v["sync_standby"].as_str().map(String::from)
        },
    )
    .await
}

/// The sync standby etcd's `sync` key names for `leader`, waiting until it names one.
pub(crate) async fn sync_standby_of(c: &TestCluster, leader: &str) -> String {
    eventually(
        &format!("a sync standby of {leader} in etcd"),
        Duration::from_secs(30),
        || async {
            let v = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/sync", c.name)).await?;
            let v: Value = serde_json::from_str(&v).ok()?;
            (v["leader"].as_str() == Some(leader))
                .then(|| v["sync_standby"].as_str().map(String::from))
                .flatten()
        },
    )
    .await
}

/// pgha on a terminal (a pseudo-terminal from util-linux `script`), to answer its confirmation.
pub(crate) struct Terminal {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Terminal {
    pub(crate) fn spawn(c: &TestCluster, args: &[&str]) -> Terminal {
        let line = std::iter::once(bin())
            .chain(args.iter().copied())
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = std::process::Command::new("script")
            .args(["-qfec", &line, "/dev/null"])
            .current_dir(c.dir.path())
            .env("PGHA_HOME", c.home())
            .env_remove("PGHA_SPEC")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn script (util-linux)");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut so = child.stdout.take().unwrap();
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut b = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut so, &mut b) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&b[..n]));
            }
        });
        Terminal { child, out }
    }

    pub(crate) fn text(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    pub(crate) async fn wait_for_text(&self, needle: &str) {
        eventually(
            &format!("{needle:?} on the terminal"),
            Duration::from_secs(30),
            || async { self.text().contains(needle).then_some(()) },
        )
        .await
    }

    /// Types `answer` and a newline; waits until pgha exits; returns its exit code and output.
    pub(crate) fn answer(mut self, answer: &str) -> (Option<i32>, String) {
        let mut stdin = self.child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, format!("{answer}\n").as_bytes()).unwrap();
        let t0 = std::time::Instant::now();
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if t0.elapsed() > T {
                self.child.kill().ok();
                panic!(
                    "pgha on the terminal still runs after {T:?}: {}",
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        drop(stdin);
        std::thread::sleep(Duration::from_millis(200));
        (status.code(), self.text())
    }
}

/// The JSON object pgha printed last on a terminal (after its progress lines).
pub(crate) fn last_json(out: &str) -> Value {
    let start = out.rfind("\n{").map(|i| i + 1).unwrap_or(0);
    let end = out.rfind('}').map(|i| i + 1).unwrap_or(out.len());
    serde_json::from_str(&out[start..end]).unwrap_or_else(|e| panic!("{e}: {out}"))
}

pub(crate) fn json_of(c: &TestCluster, args: &[&str]) -> Value {
    let out = c.pgha(args, T);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// A write through HAProxy's primary port lands on `member`: not in recovery, and on its address.
pub(crate) async fn write_lands_on(c: &TestCluster, member: &str) {
    let ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &c.container(member),
    ]);
    let client = pg(c.primary_port(), &c.superuser_password(), T).await;
    let row = client
        .query_one(
            "select pg_is_in_recovery(), host(inet_server_addr()), txid_current()::text",
            &[],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0), "the primary port reached a replica");
    assert_eq!(
        row.get::<_, String>(1),
        ip.trim(),
        "the write did not land on {member}"
    );
}

/// The switchover cluster's spec: no monitoring and no backups (the kill and backup tests own
/// those), so a reinit copies the leader.
const HA_SPEC: &str = "[monitoring]\nenabled = false\n[backup]\nenabled = false\n";

pub(crate) fn refused(c: &TestCluster, args: &[&str], needle: &str) {
    let out = c.pgha_output(args, T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn switchover_failover_pause_reinit_restart_then_tls_through_up() {
    // Made without TLS (and without monitoring or backups: its subject is neither); it reaches
    // TLS through `up` at the end.
    let c = TestCluster::new(
        "switchover",
        3000,
        &format!("[tls]\nenabled = false\n{HA_SPEC}"),
    );
    c.up();
    // The refusals below are about roles, not lag: start from a sync standby that caught up.
    c.settle().await;
    let l0 = leader(&c).await;
    let s0 = sync_standby(&c).await;
    let async0 = ["pg1", "pg2", "pg3"]
        .into_iter()
        .find(|m| *m != l0 && *m != s0)
        .unwrap()
        .to_string();

    refused(
        &c,
        &["switchover", "--candidate", &l0, "--yes"],
        "is already the leader",
    );
    refused(
        &c,
        &["switchover", "--candidate", "pg9", "--yes"],
        "member pg9 is not in cluster",
    );
    refused(
        &c,
        &["switchover", "--candidate", &async0, "--yes"],
        "is not a synchronous standby",
    );
    refused(&c, &["switchover", "--candidate", &s0], "pass --yes");

    // Failover to the async replica: --yes alone is refused, naming the risk and the lag.
    let out = c.pgha_output(&["failover", "--candidate", &async0, "--yes"], T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "DATA LOSS RISK: {async0} is not the synchronous standby ({s0}) and lags "
        )) && err.contains(" bytes behind")
            && err.contains("pass --allow-data-loss"),
        "{err}"
    );
    assert_eq!(leader(&c).await, l0, "the refused failover changed nothing");

    // stop guards: the sync standby is refused (the container keeps running); without --yes
    // off a terminal nothing is stopped.
    refused(
        &c,
        &["stop", &s0, "--yes"],
        &format!("{s0}: is the synchronous standby of the leader {l0}"),
    );
    let running = |m: &str| docker(&["inspect", "-f", "{{.State.Running}}", &c.container(m)]);
    assert_eq!(running(&s0).trim(), "true", "a refused stop stops nothing");
    refused(&c, &["stop", &async0], "pass --yes");
    assert_eq!(running(&async0).trim(), "true");
    refused(&c, &["pause"], "pass --yes");
    // One etcd member may stop; a second would cost the quorum.
    c.pgha(&["stop", "etcd1", "--yes"], T);
    assert_eq!(running("etcd1").trim(), "false");
    refused(
        &c,
        &["stop", "etcd2", "--yes"],
        "etcd2: would leave 1 of 3 etcd members healthy, below the quorum of 2",
    );
    assert_eq!(running("etcd2").trim(), "true");
    c.pgha(&["start", "etcd1"], T);

    c.pgha(&["stop", &async0, "--yes"], T);
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &c.container(&async0)]).trim(),
        "false"
    );
    let out = c.pgha_output(&["switchover", "--candidate", &async0, "--yes"], T);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(&async0)
            && (err.contains("stopped")
                || err.contains("not in cluster")
                || err.contains("not a synchronous")),
        "{err}"
    );
    assert_eq!(leader(&c).await, l0, "refusals change nothing");
    c.pgha(&["start", &async0], T);
    // A replica that started again replays the archive before it streams: all caught up first.
    c.settle().await;
    let s0 = sync_standby(&c).await;

    // Named: to the sync standby.
    let r = json_of(&c, &["switchover", "--candidate", &s0, "--yes", "--json"]);
    assert_eq!(r["to"], s0.as_str());
    assert_eq!(r["from"], l0.as_str());
    assert_eq!(leader(&c).await, s0);
    assert!(r["first_write_s"].as_f64().unwrap() > 0.0);
    let list = c.list_json();
    let old = member_row(&list, l0.as_str());
    assert_eq!(old["state"], "streaming", "{list}");
    write_lands_on(&c, &s0).await;

    // Best: no candidate; pgha picks the sync standby.
    let s1 = sync_standby(&c).await;
    let r = json_of(&c, &["switchover", "--yes", "--json"]);
    assert_eq!(r["to"], s1.as_str());
    assert_eq!(leader(&c).await, s1);
    write_lands_on(&c, &s1).await;

    // history names the timelines this test made (Patroni writes the key a loop after promoting).
    let h = eventually(
        "two timelines in the history",
        Duration::from_secs(15),
        || async {
            let h = json_of(&c, &["history", "--json"]);
            (h.as_array().map(Vec::len) == Some(2)).then_some(h)
        },
    )
    .await;
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(
        (h[0]["timeline"].as_u64(), h[0]["new_leader"].as_str()),
        (Some(1), Some(s0.as_str()))
    );
    assert_eq!(
        (h[1]["timeline"].as_u64(), h[1]["new_leader"].as_str()),
        (Some(2), Some(s1.as_str()))
    );
    let table = c.pgha(&["history"], T);
    assert!(table.contains("| TL ") && table.contains(&s1), "{table}");

    // With --allow-data-loss (and --yes) the failover to an async replica goes ahead.
    let s2 = sync_standby_of(&c, &s1).await;
    let async2 = ["pg1", "pg2", "pg3"]
        .into_iter()
        .find(|m| *m != s1 && *m != s2)
        .unwrap();
    let r = json_of(
        &c,
        &[
            "failover",
            "--candidate",
            async2,
            "--allow-data-loss",
            "--yes",
            "--json",
        ],
    );
    assert_eq!(r["to"], async2);
    assert_eq!(r["new_leader_was_sync_standby"], false);
    assert_eq!(leader(&c).await, async2);

    // The same cluster: topology, logs, and a leader kill while paused.
    crate::daytwo::pause_kill_logs_topology(&c).await;
    // Then reinit, a leader restart, and the switch to TLS through `up`.
    reinit_restart_then_tls_through_up(&c).await;
}

fn c_index(member: &str) -> usize {
    member.trim_start_matches("pg").parse::<usize>().unwrap() - 1
}

/// On the switchover test's cluster (made without TLS): reinit rebuilds a replica with every row
/// under writes, a leader restart through Patroni, then `up` switches the cluster to TLS.
async fn reinit_restart_then_tls_through_up(c: &TestCluster) {
    c.settle().await;
    let pw = c.superuser_password();
    let primary = pg(c.primary_port(), &pw, T).await;
    primary
        .batch_execute("create table re_rows (id bigint primary key); insert into re_rows select generate_series(-1000, -1)")
        .await
        .unwrap();
    let l0 = leader(c).await;
    refused(
        c,
        &["reinit", &l0, "--yes"],
        "is the leader; reinit rebuilds a replica",
    );

    let replica = ["pg1", "pg2", "pg3"]
        .into_iter()
        .find(|m| *m != l0)
        .unwrap();
    let w = writer::start(c.primary_port(), &pw, "re_rows");
    let r = tokio::task::block_in_place(|| json_of(c, &["reinit", replica, "--yes", "--json"]));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let written = w.finish().await;
    assert_eq!(r["member"], replica);
    assert!(!written.acked.is_empty());
    let list = c.list_json();
    let m = member_row(&list, replica);
    assert_eq!(m["state"], "streaming", "{list}");
    // The rows from before the reinit, and every write acknowledged during it, on every member.
    // The rebuilt replica streams; it gets 30 s to have replayed them.
    let on_replica = pg(c.node_port(c_index(replica)), &pw, T).await;
    eventually(
        "the rows from before the reinit on the rebuilt replica",
        Duration::from_secs(30),
        || async {
            let n: i64 = on_replica
                .query_one("select count(*) from re_rows where id < 0", &[])
                .await
                .ok()?
                .get(0);
            (n == 1000).then_some(())
        },
    )
    .await;
    assert_no_acked_write_lost(c, "re_rows", &written.acked, 50, &[0, 1, 2]).await;

    // restart of the leader through Patroni: done only once a new PostgreSQL start leads again.
    let started = || async {
        let on_leader = pg(c.node_port(c_index(&l0)), &pw, T).await;
        let t: String = on_leader
            .query_one("select pg_postmaster_start_time()::text", &[])
            .await
            .unwrap()
            .get(0);
        t
    };
    let t_before = started().await;
    let r = tokio::task::block_in_place(|| json_of(c, &["restart", &l0, "--yes", "--json"]));
    let done = &r["restarted"][0];
    assert_eq!(done["member"], l0.as_str(), "{r}");
    assert_eq!(done["role"], "leader", "{r}");
    assert!(
        done["started_before"].is_string() && done["started_before"] != done["started_after"],
        "{r}"
    );
    assert_eq!(leader(c).await, l0, "the restarted leader leads again");
    let t_after = started().await;
    assert_ne!(t_before, t_after, "PostgreSQL on {l0} started again");
    let on_leader = pg(c.node_port(c_index(&l0)), &pw, T).await;
    let in_recovery: bool = on_leader
        .query_one("select pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!in_recovery, "{l0} runs as primary after the restart");
    drop((primary, on_replica, on_leader));

    // To TLS through `up`: `plan` names the whole-cluster restart, `up` asks first, then makes
    // etcd anew with TLS and the nodes again on their data, keeping Patroni's configuration.
    c.pgha(&["edit-config", "--pg", "work_mem=16MB", "--yes"], T);
    c.respec(HA_SPEC);
    let plan: serde_json::Value = serde_json::from_str(&c.pgha(&["plan", "--json"], T)).unwrap();
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{plan}");
    assert_eq!(steps[0]["kind"], "cluster", "{plan}");
    assert_eq!(
        steps[0]["action"], "restart the whole cluster with TLS on",
        "{plan}"
    );
    assert_eq!(steps[0]["impact"], "restart", "{plan}");
    refused(c, &["up"], "--yes");
    let t0 = std::time::Instant::now();
    let out = c.pgha_output(&["up", "--yes"], Duration::from_secs(600));
    assert!(out.status.success(), "{}", text(&out.stderr));
    eprintln!(
        "up switched the cluster to TLS in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // Every row on every node, read over TLS; plaintext refused; replicas stream over TLS.
    for i in 0..3 {
        let n = pg(c.node_port(i), &pw, T).await;
        let rows: i64 = n
            .query_one("select count(*) from re_rows where id < 0", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 1000, "node {}", i + 1);
    }
    assert_no_acked_write_lost(c, "re_rows", &written.acked, 50, &[0, 1, 2]).await;
    assert!(
        plaintext_refusal(c.primary_port(), &pw).await.is_some(),
        "plaintext accepted after the switch"
    );
    let primary = pg(c.primary_port(), &pw, T).await;
    primary
        .batch_execute("insert into re_rows values (-5000)")
        .await
        .unwrap();
    eventually("both replicas streaming over TLS", T, || async {
        let row = primary
            .query_one(
                "select count(*) from pg_stat_replication r join pg_stat_ssl s using (pid) where s.ssl",
                &[],
            )
            .await
            .ok()?;
        (row.get::<_, i64>(0) == 2).then_some(())
    })
    .await;
    let config = c.pgha(&["show-config"], T);
    assert!(config.contains("work_mem: 16MB"), "{config}");
    let stat = c.pgha(&["certs", "status"], T);
    assert!(stat.contains("client-pgha"), "{stat}");
}
