//! `pgha verify` on a fresh cluster (every check passes, the cluster is left healthy, checked here
//! from etcd, Docker and PostgreSQL), and on broken ones (it fails, names the problem, restores,
//! reconnecting a node cut off the network). The fresh cluster also records the etcd states the
//! unit tests parse (see `record_fixtures`).

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const T: Duration = Duration::from_secs(300);

fn verify(c: &TestCluster, extra: &[&str]) -> (Option<i32>, Value, String) {
    let mut args = vec!["verify", "--yes", "--json"];
    args.extend_from_slice(extra);
    let out = c.pgha_output(&args, T);
    let stdout = text(&out.stdout);
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {stdout}\n{}", text(&out.stderr)));
    (out.status.code(), v, text(&out.stderr))
}

fn result<'a>(v: &'a Value, check: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check)
        .unwrap_or_else(|| panic!("no {check} in {v}"))
}

/// The cluster as etcd and PostgreSQL show it, read here without pgha: one leader, every other
/// member running and streaming, and `rows` rows of `table` on every node.
async fn assert_healthy(c: &TestCluster, table: &str, rows: i64) {
    let leader = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name))
        .await
        .expect("a leader");
    for m in ["pg1", "pg2", "pg3"] {
        let v = etcd_get(
            &c.etcd_endpoints(),
            &format!("/service/{}/members/{m}", c.name),
        )
        .await
        .unwrap_or_else(|| panic!("{m} has no member key"));
        let v: Value = serde_json::from_str(&v).unwrap();
        assert_eq!(v["state"], "running", "{m}: {v}");
        if m != leader {
            assert_eq!(v["replication_state"], "streaming", "{m}: {v}");
        }
    }
    for name in c.labelled("container") {
        assert_eq!(
            docker(&["inspect", "-f", "{{.State.Running}}", &name]).trim(),
            "true",
            "{name}"
        );
    }
    // Every node on the cluster network, found by DNS under its member name.
    let net = c.kit.network();
    for m in ["pg1", "pg2", "pg3"] {
        let aliases = docker(&[
            "inspect",
            "-f",
            &format!("{{{{json (index .NetworkSettings.Networks \"{net}\").Aliases}}}}"),
            &c.container(m),
        ]);
        assert!(
            aliases.contains(&format!("\"{m}\"")),
            "{m} on {net}: {aliases}"
        );
    }
    let pw = c.superuser_password();
    for i in 0..3 {
        let client = pg(c.node_port(i), &pw, Duration::from_secs(30)).await;
        eventually(
            &format!("{rows} rows on pg{}", i + 1),
            Duration::from_secs(15),
            || async {
                let n: i64 = client
                    .query_one(&format!("select count(*) from {table}"), &[])
                    .await
                    .ok()?
                    .get(0);
                (n == rows).then_some(())
            },
        )
        .await;
    }
}

/// The cluster lock's file: the holder's command, pid and start time.
fn lock_holder(c: &TestCluster) -> String {
    std::fs::read_to_string(c.home().join(&c.name).join("lock")).unwrap_or_default()
}

/// Waits until `pid` holds the cluster's lock (it wrote itself into the lock file).
fn wait_holder(c: &TestCluster, pid: u32) {
    let start = std::time::Instant::now();
    while !lock_holder(c).contains(&format!("pid={pid}\n")) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "pid {pid} never took the lock: {:?}",
            lock_holder(c)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A first `up` in the background; meanwhile `up` and `down --yes` exit 1 naming it, and change
/// nothing: it ends healthy. Returns its output.
fn lock_refusals_during_up(c: &TestCluster) -> std::process::Output {
    let child = c
        .command(&["up"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_holder(c, pid);
    for args in [&["up"][..], &["down", "--yes"][..]] {
        let refused = c.pgha_output(args, Duration::from_secs(30));
        let err = text(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "cluster {} is being changed by `pgha up` (pid {pid}, since ",
                c.name
            )) && err.contains("pass --wait-lock 60"),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the first up, next to the refused ones: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("is healthy"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !c.home().join(&c.name).join("lock").exists(),
        "the lock file goes with its holder"
    );
    out
}

/// A `pgha up` killed with SIGKILL while it holds the lock leaves its file, never the lock: the
/// next `up` runs.
fn killed_holder_does_not_block(c: &TestCluster) {
    let mut child = c
        .command(&["up"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_holder(c, child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(lock_holder(c).contains(&format!("pid={}\n", child.id())));
    let out = c.pgha_output(&["up"], Duration::from_secs(300));
    assert!(
        out.status.success(),
        "up after a killed up: {}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_passes_on_a_fresh_cluster_and_leaves_it_healthy() {
    let c = TestCluster::new("verify", 6000, NO_MONITORING);
    // One operator at a time: while the first `up` runs, another `up` and a `down` are refused,
    // naming it, and it ends healthy; it takes the first backup on its own.
    let out = tokio::task::block_in_place(|| lock_refusals_during_up(&c));
    assert!(
        text(&out.stderr).contains("first full backup taken on"),
        "{}",
        text(&out.stderr)
    );
    tokio::task::block_in_place(|| killed_holder_does_not_block(&c));
    let pw = c.superuser_password();
    c.sql_on_primary("create table user_rows (id int primary key); insert into user_rows select generate_series(1, 500)").await;
    // Recoverable from the first minute: verify passes with no `pgha backup` in between.
    let (code, v, err) = tokio::task::block_in_place(|| verify(&c, &[]));
    assert_eq!(code, Some(0), "{v}\n{err}");
    assert_eq!(v["passed"], true);
    // The backup verify found is the one `up` took: a full one, the only one.
    let list: Value = serde_json::from_str(&c.pgha(&["backup", "list", "--json"], T)).unwrap();
    let backups = list["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 1, "{list}");
    assert_eq!(backups[0]["type"], "full", "{list}");
    let checks = v["checks"].as_array().unwrap();
    for ch in checks {
        eprintln!("{} {}: {}", ch["result"], ch["check"], ch["figure"]);
    }
    assert_eq!(checks.len(), 13, "{v}");
    for ch in checks {
        assert_eq!(ch["result"], "PASS", "{ch}");
    }
    // Consistency runs last, over every writer's ids on every node of the spec.
    assert_eq!(checks[12]["check"], "consistency", "{v}");
    assert!(
        result(&v, "archive")["figure"]
            .as_str()
            .unwrap()
            .contains("archived in"),
        "{v}"
    );
    let consistency = result(&v, "consistency")["figure"].as_str().unwrap();
    let checked: usize = consistency
        .split("0 of ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {consistency}"));
    assert!(checked >= 4 * 20, "{consistency}");
    for writer in ["failover", "switchover", "etcd", "partition"] {
        assert!(consistency.contains(&format!("{writer} ")), "{consistency}");
    }
    assert!(consistency.contains("pg1, pg2, pg3"), "{consistency}");
    // The partition cut the then leader off; it is back on the network as a streaming replica
    // (assert_healthy reads that from etcd and Docker) and the new leader is another member.
    let partition = result(&v, "partition")["figure"].as_str().unwrap();
    let cut = partition
        .strip_prefix("cut ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("no member in {partition}"))
        .to_string();
    assert!(partition.contains("lost on pg1, pg2, pg3"), "{partition}");
    let history = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/history", c.name))
        .await
        .expect("a history key");
    let history: Vec<Value> = serde_json::from_str(&history).unwrap();
    // failover, switchover and partition each ended a timeline.
    assert!(history.len() >= 3, "{history:?}");
    assert_healthy(&c, "user_rows", 500).await;
    let leader = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name))
        .await
        .unwrap();
    assert_ne!(
        leader, cut,
        "the member cut off is a replica now: {partition}"
    );
    // The scratch database is gone.
    let admin = pg(c.primary_port(), &pw, T).await;
    let n: i64 = admin
        .query_one(
            "select count(*) from pg_database where datname = 'pgha_verify'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    record_fixtures(&c).await;

    // The same cluster broken: verify fails, names the problem and restores what it can.
    verify_fails_and_names_a_stopped_replica_or_haproxy(&c).await;
}

/// A stopped replica fails `status` (the destructive checks are skipped), a stopped HAProxy fails
/// `routing`; a replica cut off the network is reconnected. The cluster is healthy after each.
async fn verify_fails_and_names_a_stopped_replica_or_haproxy(c: &TestCluster) {
    let leader = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name))
        .await
        .unwrap();
    let replica = ["pg1", "pg2", "pg3"]
        .into_iter()
        .find(|m| *m != leader)
        .unwrap();
    docker(&["stop", &c.container(replica)]);

    let (code, v, err) = tokio::task::block_in_place(|| verify(c, &[]));
    assert_eq!(code, Some(1), "{v}\n{err}");
    assert_eq!(v["passed"], false);
    let status = result(&v, "status");
    assert_eq!(status["result"], "FAIL", "{v}");
    assert!(
        status["figure"].as_str().unwrap().contains(replica),
        "{status}"
    );
    for destructive in ["failover", "switchover", "etcd", "partition"] {
        assert_eq!(result(&v, destructive)["result"], "SKIP", "{v}");
    }
    assert!(err.contains("failed verification: status"), "{err}");
    assert_healthy(c, "user_rows", 500).await;

    docker(&["stop", &c.container("haproxy")]);
    let (code, v, err) = tokio::task::block_in_place(|| verify(c, &["--only", "routing"]));
    assert_eq!(code, Some(1), "{v}\n{err}");
    let routing = result(&v, "routing");
    assert_eq!(routing["result"], "FAIL");
    let why = routing["figure"].as_str().unwrap();
    assert!(
        why.contains("HAProxy") && why.contains("not running"),
        "{why}"
    );
    assert_healthy(c, "user_rows", 500).await;

    // A replica cut off the cluster network (as the partition check does): verify's restore puts
    // it back under its member name, and it streams again.
    let net = c.kit.network();
    docker(&["network", "disconnect", &net, &c.container(replica)]);
    let (_, v, err) = tokio::task::block_in_place(|| verify(c, &["--only", "routing"]));
    let restored = v["restored"].as_str().unwrap_or_default();
    assert!(
        restored.contains(&format!("reconnected {} to {net}", c.container(replica))),
        "{v}\n{err}"
    );
    assert_healthy(c, "user_rows", 500).await;
}

/// The cluster's etcd keys in the `Kv` shape the unit tests load (key, value, mod_revision, lease).
async fn dump_kvs(c: &TestCluster) -> Vec<Value> {
    let mut etcd = crate::harness::etcd_client(&c.etcd_endpoints()).await;
    let prefix = format!("/service/{}/", c.name);
    let r = etcd
        .get(
            prefix.as_str(),
            Some(etcd_client::GetOptions::new().with_prefix()),
        )
        .await
        .expect("read the cluster's keys");
    r.kvs()
        .iter()
        .map(|kv| {
            json!({
                "key": kv.key_str().unwrap(),
                "value": kv.value_str().unwrap(),
                "mod_revision": kv.mod_revision(),
                "lease": kv.lease(),
            })
        })
        .collect()
}

/// The shape of a recording: its keys below the prefix, and the fields its JSON values use.
fn shape(kvs: &[Value]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut keys = BTreeSet::new();
    let mut fields = BTreeSet::new();
    for kv in kvs {
        let key = kv["key"].as_str().unwrap();
        let rel = key.splitn(4, '/').nth(3).unwrap_or(key);
        keys.insert(rel.to_string());
        if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(kv["value"].as_str().unwrap()) {
            fields.extend(
                o.keys()
                    .map(|k| format!("{}.{k}", rel.split('/').next().unwrap())),
            );
        }
    }
    (keys, fields)
}

/// Saves one recorded state: with PGHA_RECORD_FIXTURES=1 into tests/fixtures/ (commit it);
/// otherwise checks that this run recorded the same shape as the committed file (same keys, same
/// JSON fields), so the unit tests keep parsing what Patroni really writes.
fn save(file: &str, kvs: &[Value]) {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("PGHA_RECORD_FIXTURES").as_deref() == Ok("1") {
        let lines: Vec<String> = kvs.iter().map(|kv| format!("  {kv}")).collect();
        std::fs::write(&path, format!("[\n{}\n]\n", lines.join(",\n"))).unwrap();
        eprintln!("recorded {path}");
        return;
    }
    let committed: Vec<Value> = serde_json::from_str(&read(std::path::Path::new(&path))).unwrap();
    assert_eq!(
        shape(kvs),
        shape(&committed),
        "{file}: Patroni's keys differ from the recorded fixture (PGHA_RECORD_FIXTURES=1 records it again)"
    );
}

/// Records the Patroni 4.0.7 states the unit tests need (src/state/tests.rs, src/decide/tests.rs):
/// healthy with a sync standby; a pending restart with a scheduled switchover; paused.
async fn record_fixtures(c: &TestCluster) {
    let eps = c.etcd_endpoints();
    let key = |rel: &str| format!("/service/{}/{rel}", c.name);
    let sync = eventually("a sync standby in the sync key", T, || async {
        let v: Value = serde_json::from_str(&etcd_get(&eps, &key("sync")).await?).ok()?;
        v["sync_standby"].as_str().map(String::from)
    })
    .await;
    let leader = etcd_get(&eps, &key("leader")).await.unwrap();
    save("etcd-patroni4-healthy.json", &dump_kvs(c).await);

    // max_connections needs a restart; the switchover is scheduled far ahead, so Patroni waits.
    let _ = c.pgha_output(&["edit-config", "--pg", "max_connections=150", "--yes"], T);
    let mut etcd = crate::harness::etcd_client(&eps).await;
    let failover =
        json!({"leader": leader, "member": sync, "scheduled_at": "2099-01-01T00:00:00+00:00"});
    etcd.put(key("failover"), failover.to_string(), None)
        .await
        .unwrap();
    for m in ["pg1", "pg2", "pg3"] {
        eventually(&format!("{m} to report a pending restart"), T, || async {
            etcd_get(&eps, &key(&format!("members/{m}")))
                .await
                .filter(|v| v.contains("\"pending_restart\":true"))
        })
        .await;
    }
    // A few of Patroni's loops (loop_wait 1 s) see the schedule and leave it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(etcd_get(&eps, &key("failover")).await.is_some());
    save("etcd-patroni4-pending-restart.json", &dump_kvs(c).await);

    etcd.delete(key("failover"), None).await.unwrap();
    c.pgha(&["pause", "--wait", "--yes"], T);
    for m in ["pg1", "pg2", "pg3"] {
        eventually(&format!("{m} to report the pause"), T, || async {
            etcd_get(&eps, &key(&format!("members/{m}")))
                .await
                .filter(|v| v.contains("\"pause\":true"))
        })
        .await;
    }
    save("etcd-patroni4-paused.json", &dump_kvs(c).await);
    c.pgha(&["resume", "--wait", "--yes"], T);
}
