//! `up` / `list` / `down` on a real cluster, and the ways they refuse bad input.

use crate::harness::*;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn up_list_write_read_noop_down() {
    let c = TestCluster::new("lifecycle", 1000, "");
    let out = c.up();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("+ Cluster: {} (", c.name)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "postgresql://postgres@127.0.0.1:{}/postgres",
            c.primary_port()
        )),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&c.superuser_password()),
        "no password on stdout"
    );

    // list: one leader, two streaming replicas, one system id; etcd agrees on the leader.
    let list = c.list_json();
    let members = list["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{list}");
    let leaders: Vec<&serde_json::Value> =
        members.iter().filter(|m| m["role"] == "Leader").collect();
    assert_eq!(leaders.len(), 1, "{list}");
    let leader = leaders[0]["member"].as_str().unwrap().to_string();
    for m in members.iter().filter(|m| m["role"] != "Leader") {
        assert_eq!(m["state"], "streaming", "{list}");
        assert_eq!(m["timeline"], leaders[0]["timeline"]);
    }
    assert!(
        members.iter().any(|m| m["role"] == "Sync Standby"),
        "{list}"
    );
    let sysid = list["system_id"].as_str().unwrap().to_string();
    assert!(
        sysid.len() >= 15 && sysid.bytes().all(|b| b.is_ascii_digit()),
        "{sysid}"
    );
    let etcd_leader = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name)).await;
    assert_eq!(etcd_leader.as_deref(), Some(leader.as_str()));
    let table = c.pgha(&["list"], T);
    assert!(
        table.contains(&sysid) && table.contains("| Leader "),
        "{table}"
    );

    // The same answer for any Patroni etcd3 cluster, given --etcd and --scope (no spec needed).
    let elsewhere = tempfile::tempdir().unwrap();
    let etcd_arg = c.etcd_endpoints()[1]
        .trim_start_matches("http://")
        .to_string();
    let out = run_with_deadline(
        Command::new(bin())
            .args(["list", "--json", "--etcd", &etcd_arg, "--scope", &c.name])
            .current_dir(elsewhere.path()),
        T,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ext: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ext["leader"].as_str(), Some(leader.as_str()));
    assert_eq!(ext["system_id"].as_str(), Some(sysid.as_str()));

    // patronictl inside a node container names the same leader.
    let pctl = docker(&[
        "exec",
        &c.container("pg1"),
        "patronictl",
        "-c",
        "/etc/pgha/patroni",
        "list",
        "-f",
        "json",
    ]);
    let pctl: serde_json::Value = serde_json::from_str(&pctl).unwrap();
    let pl: Vec<&str> = pctl
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["Role"] == "Leader")
        .map(|m| m["Member"].as_str().unwrap())
        .collect();
    assert_eq!(pl, vec![leader.as_str()]);

    // A row written through HAProxy's primary port lands on the leader and reaches every replica.
    let pw = c.superuser_password();
    let primary = pg(c.primary_port(), &pw, T).await;
    let rec: bool = primary
        .query_one("select pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!rec, "the primary port must reach the leader");
    primary
        .batch_execute("create table it_rows (id int primary key, note text); insert into it_rows values (1, 'through haproxy')")
        .await
        .unwrap();
    for i in 0..3 {
        let name = format!("pg{}", i + 1);
        let client = pg(c.node_port(i), &pw, T).await;
        let rec: bool = client
            .query_one("select pg_is_in_recovery()", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rec, name != leader, "{name} recovery state");
        eventually(
            &format!("the row on {name}"),
            Duration::from_secs(15),
            || async {
                let r = client
                    .query_opt("select note from it_rows where id = 1", &[])
                    .await
                    .ok()??;
                (r.get::<_, String>(0) == "through haproxy").then_some(())
            },
        )
        .await;
    }
    drop(primary);

    // HAProxy accepts the config pgha rendered for it.
    docker(&[
        "exec",
        &c.container("haproxy"),
        "haproxy",
        "-c",
        "-f",
        "/etc/pgha/haproxy/haproxy.cfg",
    ]);

    // Ports bind to 127.0.0.1; no secret in Docker's view of any container; secrets file 0600.
    let all = c.labelled("container");
    assert_eq!(all.len(), 7, "{all:?}");
    for name in &all {
        let bindings = docker(&["inspect", "-f", "{{json .HostConfig.PortBindings}}", name]);
        assert!(
            !bindings.contains("0.0.0.0") && bindings.contains("127.0.0.1"),
            "{name}: {bindings}"
        );
        let config = docker(&["inspect", "-f", "{{json .Config}}", name]);
        assert!(
            !config.contains(&pw),
            "{name} shows a password in docker inspect"
        );
    }
    let secrets = c.home().join(&c.name).join("secrets.toml");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&secrets).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // up again changes nothing: same containers, not restarted.
    let inspect = || {
        let mut args = vec!["inspect", "-f", "{{.Id}} {{.State.StartedAt}}"];
        args.extend(all.iter().map(String::as_str));
        docker(&args)
    };
    let before = inspect();
    let out = c.up();
    assert!(
        text(&out.stderr).contains("nothing to change"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        inspect(),
        before,
        "up on a healthy cluster must not touch containers"
    );

    // down: no labelled container or network; data volumes stay, and the data survives up.
    c.pgha(&["down"], Duration::from_secs(180));
    assert!(c.labelled("container").is_empty());
    assert!(c.labelled("network").is_empty());
    assert_eq!(c.labelled("volume").len(), 6);
    let again = c.pgha(&["down"], T);
    assert!(
        again.contains("nothing to remove") || again.contains("removed 0 containers"),
        "{again}"
    );
    c.up();
    let primary = pg(c.primary_port(), &pw, T).await;
    let note: String = primary
        .query_one("select note from it_rows where id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(note, "through haproxy");
    drop(primary);

    // down --volumes: nothing labelled is left, and the secrets are gone with the data.
    let refused = c.pgha_output(&["down", "--volumes"], T);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "not on a terminal: needs --yes"
    );
    assert!(text(&refused.stderr).contains("--yes"));
    c.pgha(&["down", "--volumes", "--yes"], Duration::from_secs(180));
    assert!(c.labelled("container").is_empty());
    assert!(c.labelled("network").is_empty());
    assert!(c.labelled("volume").is_empty());
    assert!(!secrets.exists());
}

#[test]
fn bad_spec_exits_2_and_creates_nothing() {
    let c = TestCluster::new(
        "badspec",
        2000,
        "[etcd]\nmembers = 2\n[nodes]\nnames = [\"pg1\", \"pg1\"]",
    );
    let out = c.pgha_output(&["up"], T);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: pgha.toml: etcd.members = 2 is even"),
        "{err}"
    );
    assert!(
        err.contains("error: pgha.toml: nodes.names: duplicate member \"pg1\""),
        "{err}"
    );
    assert!(c.labelled("container").is_empty());
    assert!(c.labelled("network").is_empty());
    assert!(c.labelled("volume").is_empty());
    assert!(!c.home().exists(), "no secrets were made");
}

#[test]
fn unreachable_docker_engine_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_with_deadline(
        Command::new(bin())
            .arg("up")
            .current_dir(dir.path())
            .env("PGHA_HOME", dir.path().join("home"))
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        T,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: cannot reach the Docker engine at unix:///nonexistent/docker.sock"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}
