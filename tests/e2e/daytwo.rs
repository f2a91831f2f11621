//! Day-2 operations on real clusters: show-config / edit-config (parameters, pending restart,
//! refusals, compare-and-swap), reload, dsn, pause with a kill, logs, topology.

use crate::harness::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

async fn config_key(c: &TestCluster) -> String {
    etcd_get(&c.etcd_endpoints(), &format!("/service/{}/config", c.name))
        .await
        .expect("a config key")
}

async fn show_on_all(c: &TestCluster, setting: &str) -> Vec<String> {
    let pw = c.superuser_password();
    let mut out = Vec::new();
    for i in 0..3 {
        let client = pg(c.node_port(i), &pw, T).await;
        out.push(
            client
                .query_one(&format!("show {setting}"), &[])
                .await
                .unwrap()
                .get(0),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn edit_config_pending_restart_cas_reload_dsn() {
    let c = TestCluster::new("config", 9000, "");
    c.up();
    let yaml = c.pgha(&["show-config"], T);
    assert!(
        yaml.contains("ttl: 20") && yaml.contains("synchronous_mode: true"),
        "{yaml}"
    );

    c.pgha(&["edit-config", "--pg", "work_mem=8MB", "--yes"], T);
    assert_eq!(show_on_all(&c, "work_mem").await, vec!["8MB"; 3]);

    c.pgha(&["edit-config", "--pg", "max_connections=150", "--yes"], T);
    let list = c.list_json();
    for m in list["members"].as_array().unwrap() {
        assert_eq!(m["pending_restart"], true, "{list}");
    }
    assert!(c.pgha(&["list"], T).contains("Pending restart"));
    c.pgha(&["restart", "--pending", "--yes"], Duration::from_secs(300));
    let list = c.list_json();
    for m in list["members"].as_array().unwrap() {
        assert_eq!(m["pending_restart"], false, "{list}");
    }
    assert_eq!(show_on_all(&c, "max_connections").await, vec!["150"; 3]);

    // Refused: ttl below Patroni's minimum; the key is unchanged.
    let before = config_key(&c).await;
    let out = c.pgha_output(&["edit-config", "--set", "ttl=10", "--yes"], T);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("ttl = 10 is below Patroni's minimum 20"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(config_key(&c).await, before);

    // Compare-and-swap: another writer changes the key while the editor is open.
    let mut theirs: Value = serde_json::from_str(&before).unwrap();
    theirs["maximum_lag_on_failover"] = serde_json::json!(2097152);
    let theirs = theirs.to_string();
    let script = c.path("editor.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ndocker exec {} etcdctl put /service/{}/config '{}' >/dev/null\nsed -i 's/^loop_wait: 1$/loop_wait: 2/' \"$1\"\n",
            c.container("etcd1"),
            c.name,
            theirs
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = run_with_deadline(
        c.command(&["edit-config", "--edit", "--yes"])
            .env("EDITOR", &script),
        T,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("changed since it was read"),
        "{}",
        text(&out.stderr)
    );
    let now: Value = serde_json::from_str(&config_key(&c).await).unwrap();
    assert_eq!(
        now["maximum_lag_on_failover"], 2097152,
        "the other change stays"
    );
    assert_eq!(now["loop_wait"], 1, "pgha's change was not written over it");

    // reload answers for every member.
    let r: Value = serde_json::from_str(&c.pgha(&["reload", "--json"], T)).unwrap();
    let r = r.as_array().unwrap();
    assert_eq!(r.len(), 3);
    for m in r {
        assert_eq!(m["status"], 202, "{m}");
    }

    // dsn: the primary connects to the leader, the replica port to a replica.
    for (args, recovery) in [
        (vec!["dsn", "--json"], false),
        (vec!["dsn", "--role", "replica", "--json"], true),
    ] {
        let d: Value = serde_json::from_str(&c.pgha(&args, T)).unwrap();
        let dsn = d["dsn"].as_str().unwrap();
        let port: u16 = dsn
            .rsplit(':')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let client = pg(port, &c.superuser_password(), T).await;
        let rec: bool = client
            .query_one("select pg_is_in_recovery()", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rec, recovery, "{dsn}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_kill_logs_topology() {
    let c = TestCluster::new("pause", 10000, "");
    c.up();
    let leader = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name))
        .await
        .unwrap();

    // topology: the leader at the root, every other member beneath it.
    let t: Value = serde_json::from_str(&c.pgha(&["topology", "--json"], T)).unwrap();
    let names: Vec<&str> = t["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["member"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], leader);
    assert_eq!(names.len(), 3);
    assert!(names[1..].iter().all(|n| n.starts_with("+ ")), "{names:?}");

    // logs: Patroni's own lines; --tail 5 gives at most 5 lines per container.
    let logs = c.pgha(&["logs", "pg1"], T);
    assert!(
        logs.contains("INFO: ") && logs.contains("I am (pg1)"),
        "{logs}"
    );
    let tail = c.pgha(&["logs", "--tail", "5"], T);
    let mut per: std::collections::BTreeMap<String, usize> = Default::default();
    for l in tail.lines() {
        let name = l.split(" | ").next().unwrap().trim().to_string();
        *per.entry(name).or_default() += 1;
    }
    assert_eq!(per.len(), 7, "{per:?}");
    assert!(per.values().all(|n| *n <= 5), "{per:?}");

    // pause, then kill the leader: pgha warns, and no new leader is elected while paused.
    c.pgha(&["pause", "--wait", "--yes"], T);
    assert!(c.pgha(&["list"], T).contains("Maintenance mode: on"));
    let out = c.pgha_output(&["failover", "--kill", "--yes"], T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("maintenance mode (paused): Patroni will not fail over"),
        "{}",
        text(&out.stderr)
    );
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(25) {
        let l = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name)).await;
        assert!(
            l.is_none() || l.as_deref() == Some(leader.as_str()),
            "{l:?} became leader while paused"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    c.pgha(&["resume", "--wait"], T);
    c.pgha(&["start", &leader], T);
    eventually("a leader and every member streaming", T, || async {
        let l = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name)).await?;
        for m in ["pg1", "pg2", "pg3"] {
            let v: Value = serde_json::from_str(
                &etcd_get(
                    &c.etcd_endpoints(),
                    &format!("/service/{}/members/{m}", c.name),
                )
                .await?,
            )
            .ok()?;
            if v["state"] != "running" || (m != l && v["replication_state"] != "streaming") {
                return None;
            }
        }
        Some(())
    })
    .await;
}
