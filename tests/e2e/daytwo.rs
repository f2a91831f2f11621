//! Day-2 operations on real clusters: show-config / edit-config (parameters, dotted names,
//! values PostgreSQL or Patroni reject, unknown keys, pending restart, refusals, compare-and-swap,
//! the editor's private folder), reload, dsn, etcd out of quorum (`list`, `list --stale`), pause
//! with a kill, logs, topology. They run on other tests' clusters: the configuration part on the
//! lifecycle test's, pause, logs and topology on the switchover test's.

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

/// Day-2 configuration on a running cluster (the lifecycle test's, after its no-op `up`): the
/// cluster's config key through edit-config and the spec, pending restarts, refusals,
/// compare-and-swap, reload, dsn, and etcd out of quorum. The cluster is healthy afterwards.
pub async fn edit_config_pending_restart_cas_reload_dsn(c: &TestCluster) {
    let yaml = c.pgha(&["show-config"], T);
    assert!(
        yaml.contains("ttl: 20") && yaml.contains("synchronous_mode: true"),
        "{yaml}"
    );

    c.pgha(&["edit-config", "--pg", "work_mem=8MB", "--yes"], T);
    assert_eq!(show_on_all(c, "work_mem").await, vec!["8MB"; 3]);

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
    assert_eq!(show_on_all(c, "max_connections").await, vec!["150"; 3]);

    // A dotted (extension or custom) parameter name is one key, and every member runs with it.
    c.pgha(&["edit-config", "--pg", "myapp.setting=42", "--yes"], T);
    assert_eq!(show_on_all(c, "myapp.setting").await, vec!["42"; 3]);
    let key: Value = serde_json::from_str(&config_key(c).await).unwrap();
    let params = &key["postgresql"]["parameters"];
    assert_eq!(params["myapp.setting"], 42, "{key}");
    assert!(params.get("myapp").is_none(), "{key}");

    // A value PostgreSQL rejects at reload: each member says so, exit 1, nothing runs with it.
    let rejected = |args: &[&str], reason: &str| {
        let out = c.pgha_output(args, T);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        for m in ["pg1", "pg2", "pg3"] {
            assert!(
                err.lines()
                    .any(|l| l.starts_with(&format!("{m}: ")) && l.contains(reason)),
                "{m} in {err}"
            );
        }
        assert!(
            err.contains("was written, but PostgreSQL does not run with"),
            "{err}"
        );
    };
    rejected(
        &["edit-config", "--pg", "timezone=Mars/Base", "--yes"],
        "timezone = Mars/Base not applied: PostgreSQL rejected it",
    );
    assert!(!show_on_all(c, "timezone")
        .await
        .contains(&"Mars/Base".to_string()));
    // Patroni 4.0.7's validator raises a value below the minimum before PostgreSQL sees it.
    rejected(
        &["edit-config", "--pg", "work_mem=1", "--yes"],
        "work_mem = 1 not applied: Patroni's validator wrote 64 instead (1 is outside the valid range 64 .. 2147483647 kB)",
    );
    assert_eq!(show_on_all(c, "work_mem").await, vec!["64kB"; 3]);
    c.pgha(
        &[
            "edit-config",
            "--pg",
            "work_mem=8MB",
            "--set",
            "postgresql.parameters.timezone=null",
            "--yes",
        ],
        T,
    );
    assert_eq!(show_on_all(c, "work_mem").await, vec!["8MB"; 3]);

    // An unknown top-level key is written (Patroni ignores it) with a warning naming the likely one.
    let out = c.pgha_output(&["edit-config", "--set", "looop_wait=2", "--yes"], T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "warning: unknown key \"looop_wait\": Patroni ignores it (did you mean \"loop_wait\"?)"
        ),
        "{}",
        text(&out.stderr)
    );
    c.pgha(&["edit-config", "--set", "looop_wait=null", "--yes"], T);

    // The spec's [patroni] settings reach the running cluster: `plan` shows exactly the two
    // changed ones and changes nothing; `up` writes them and every node runs them, while what
    // the spec does not name (edit-config's max_connections) stays; a second `plan` is empty.
    let spec_path = c.path("pgha.toml");
    let spec = read(&spec_path);
    std::fs::write(
        &spec_path,
        format!("{spec}[patroni]\nttl = 25\n[patroni.parameters]\nwork_mem = \"16MB\"\n"),
    )
    .unwrap();
    let key_before = config_key(c).await;
    let plan: Value = serde_json::from_str(&c.pgha(&["plan", "--json"], T)).unwrap();
    let steps: Vec<(&str, &str, &str)> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap(),
                s["action"].as_str().unwrap(),
                s["impact"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![
            ("config", "set ttl = 25", "none"),
            (
                "config",
                "set postgresql.parameters.work_mem = 16MB",
                "reload"
            ),
        ],
        "{plan}"
    );
    assert_eq!(
        config_key(c).await,
        key_before,
        "plan changed the config key"
    );
    let t = Instant::now();
    let out = c.pgha_output(&["up"], Duration::from_secs(300));
    assert!(out.status.success(), "{}", text(&out.stderr));
    eprintln!("up applied ttl and work_mem in {:?}", t.elapsed());
    assert!(
        text(&out.stderr).contains("config: set ttl = 25"),
        "{}",
        text(&out.stderr)
    );
    let key: Value = serde_json::from_str(&config_key(c).await).unwrap();
    assert_eq!(key["ttl"], 25, "{key}");
    assert_eq!(key["postgresql"]["parameters"]["work_mem"], "16MB", "{key}");
    assert_eq!(
        key["postgresql"]["parameters"]["max_connections"], 150,
        "{key}"
    );
    assert_eq!(show_on_all(c, "work_mem").await, vec!["16MB"; 3]);
    assert!(
        c.pgha(&["plan"], T).contains("nothing to change"),
        "a second plan still has steps"
    );
    // A parameter that needs a restart: `up` writes it and leaves it pending (off a terminal,
    // without --restart), `list` shows it; `up --restart` restarts replicas first, leader last.
    let spec = read(&spec_path);
    std::fs::write(
        &spec_path,
        spec.replace(
            "work_mem = \"16MB\"\n",
            "work_mem = \"16MB\"\nmax_connections = 200\n",
        ),
    )
    .unwrap();
    let plan: Value = serde_json::from_str(&c.pgha(&["plan", "--json"], T)).unwrap();
    assert_eq!(plan["steps"].as_array().unwrap().len(), 1, "{plan}");
    assert_eq!(plan["steps"][0]["impact"], "restart", "{plan}");
    let out = c.pgha(&["up"], Duration::from_secs(300));
    assert!(out.contains("Pending restart on"), "{out}");
    let list = c.list_json();
    for m in list["members"].as_array().unwrap() {
        assert_eq!(m["pending_restart"], true, "{list}");
    }
    assert_eq!(show_on_all(c, "max_connections").await, vec!["150"; 3]);
    let t = Instant::now();
    let up: Value =
        serde_json::from_str(&c.pgha(&["up", "--restart", "--json"], Duration::from_secs(300)))
            .unwrap();
    eprintln!("up --restart restarted the members in {:?}", t.elapsed());
    let restarted = up["config"]["restarted"].as_array().unwrap();
    assert_eq!(restarted.len(), 3, "{up}");
    assert_eq!(
        restarted.last().unwrap().as_str(),
        list["leader"].as_str(),
        "leader last: {up}"
    );
    assert_eq!(show_on_all(c, "max_connections").await, vec!["200"; 3]);
    let list = c.list_json();
    for m in list["members"].as_array().unwrap() {
        assert_eq!(m["pending_restart"], false, "{list}");
    }

    // Refused: ttl below Patroni's minimum; the key is unchanged.
    let before = config_key(c).await;
    let out = c.pgha_output(&["edit-config", "--set", "ttl=10", "--yes"], T);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("ttl = 10 is below Patroni's minimum 20"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(config_key(c).await, before);

    // Compare-and-swap: another writer changes the key while the editor is open.
    let mut theirs: Value = serde_json::from_str(&before).unwrap();
    theirs["maximum_lag_on_failover"] = serde_json::json!(2097152);
    let theirs = theirs.to_string();
    let script = c.path("editor.sh");
    let seen = c.path("editor-dir");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ndocker {} put /service/{}/config '{}' >/dev/null\nsed -i 's/^loop_wait: 1$/loop_wait: 2/' \"$1\"\nstat -c '%a %n' \"$(dirname \"$1\")\" > {}\n",
            etcdctl_exec(&c.container("etcd1")).join(" "),
            c.name,
            theirs,
            seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = run_with_deadline(
        c.command(&["edit-config", "--edit", "--yes"])
            .env("EDITOR", &script)
            .env(etcd_root_env().0, etcd_root_env().1),
        T,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("changed since it was read"),
        "{}",
        text(&out.stderr)
    );
    let now: Value = serde_json::from_str(&config_key(c).await).unwrap();
    assert_eq!(
        now["maximum_lag_on_failover"], 2097152,
        "the other change stays"
    );
    assert_eq!(now["loop_wait"], 1, "pgha's change was not written over it");
    // The editor's file was in a private folder (0700, a name nobody can guess), removed after.
    let seen = read(&seen);
    let (mode, dir) = seen.trim().split_once(' ').unwrap();
    assert_eq!(mode, "700", "{seen}");
    let name = std::path::Path::new(dir)
        .file_name()
        .unwrap()
        .to_string_lossy();
    assert!(name.starts_with("pgha-edit-") && name.len() >= 26, "{seen}");
    assert!(!std::path::Path::new(dir).exists(), "{dir} left behind");

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

    // etcd out of quorum (two members stopped behind pgha's back): one line saying so, naming
    // the member that answers; `list --stale` shows its last known state, marked stale.
    let (e1, e2) = (c.container("etcd1"), c.container("etcd2"));
    docker(&["stop", &e1, &e2]);
    let t = Instant::now();
    let out = c.pgha_output(&["list"], T);
    eprintln!("list without a quorum answered in {:?}", t.elapsed());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: etcd has no quorum: 1 of 3 members answer (etcd3)"),
        "{err}"
    );
    let lower = err.to_lowercase();
    assert!(!lower.contains("tonic") && !lower.contains("grpc"), "{err}");
    let out = c.pgha_output(&["list", "--stale", "--json"], T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("showing etcd3's last known state"));
    let stale: Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(stale["stale"], true, "{stale}");
    assert_eq!(stale["stale_from"], "etcd3", "{stale}");
    assert_eq!(stale["members"].as_array().unwrap().len(), 3, "{stale}");
    let table = c.pgha(&["list", "--stale"], T);
    assert!(
        table.contains("Stale: read from etcd3 without a quorum; may be out of date")
            && table.contains("pg1"),
        "{table}"
    );
    docker(&["start", &e1, &e2]);
    eventually("list to work again", T, || async {
        let out = c.pgha_output(&["list", "--json"], T);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        (out.status.success() && v["stale"] == false).then_some(())
    })
    .await;
}

/// Topology, logs, then pause with a leader kill: no new leader while paused. Runs on the
/// switchover test's cluster (`ha.rs`), after its switchovers and failovers.
pub async fn pause_kill_logs_topology(c: &TestCluster) {
    c.settle().await;
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
    assert_eq!(per.len(), c.labelled("container").len(), "{per:?}");
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
