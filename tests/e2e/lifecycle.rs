//! `up` / `list` / `down` on a real cluster (with day-2 configuration between its no-op `up` and
//! its `down`), and the ways they refuse bad input.

use crate::harness::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

/// The first member `list --json` shows as a streaming replica, if any (etcd may not answer yet).
fn streaming_replica(c: &TestCluster) -> Option<String> {
    let out = c.pgha_output(&["list", "--json"], Duration::from_secs(30));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    list["members"]
        .as_array()?
        .iter()
        .find(|m| m["role"] != "Leader" && m["state"] == "streaming")
        .and_then(|m| m["member"].as_str())
        .map(String::from)
}

/// Runs `pgha up` in the background and, once a replica streams (while `up` still waits for the
/// rest), removes that replica's container and leaves in its place one that was created but never
/// started and carries the real one's pgha labels, config hash included: what an `up` stopped
/// between creating a container and starting it leaves behind. That `up` must not succeed.
async fn interrupt_up(c: &TestCluster) -> String {
    let log = std::fs::File::create(c.path("first-up.log")).unwrap();
    let mut child = c
        .command(&["up"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let victim = eventually("a streaming replica", Duration::from_secs(300), || async {
        streaming_replica(c)
    })
    .await;
    let still_waiting = child.try_wait().unwrap().is_none();
    let name = c.container(&victim);
    let labels = docker(&["inspect", "-f", "{{json .Config.Labels}}", &name]);
    let labels: std::collections::BTreeMap<String, String> = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["io.pgha.cluster"], c.name);
    assert!(labels.contains_key("io.pgha.config-hash"), "{labels:?}");
    let image = docker(&["inspect", "-f", "{{.Config.Image}}", &name]);
    docker(&["rm", "-f", &name]);
    let mut args = vec!["create".to_string(), "--name".into(), name.clone()];
    for (k, v) in &labels {
        args.extend(["--label".to_string(), format!("{k}={v}")]);
    }
    args.extend([
        image.trim().to_string(),
        "patroni".into(),
        "/etc/pgha/patroni".into(),
    ]);
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Status}}", &name]).trim(),
        "created"
    );
    // The interrupted `up` ends by itself (its last check finds the container not running); give
    // it a minute, then stop it as a user would.
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > T {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let log = read(&c.path("first-up.log"));
    if still_waiting {
        assert!(
            !status.success(),
            "up reported success without {name}:\n{log}"
        );
    }
    eprintln!(
        "first up: {victim} replaced while up {} ({status}); its last line: {}",
        if still_waiting {
            "waited"
        } else {
            "had already finished"
        },
        log.lines().last().unwrap_or("")
    );
    victim
}

#[tokio::test(flavor = "multi_thread")]
async fn up_list_write_read_noop_down() {
    let c = TestCluster::new(
        "lifecycle",
        1000,
        "[nodes]\nmemory = \"1GiB\"\ncpus = 1.5\n",
    );
    // A first `up` is cut short: a replica's container is replaced by a half-made one. The next
    // `up` converges: it re-creates that container, and the cluster becomes healthy.
    let victim = interrupt_up(&c).await;
    let out = c.up();
    let err = text(&out.stderr);
    eprintln!(
        "second up: {}",
        err.lines()
            .rev()
            .find(|l| l.contains("is healthy"))
            .unwrap_or("")
    );
    assert!(
        err.contains(&format!(
            "removed {}: created but never started",
            c.container(&victim)
        )),
        "{err}"
    );
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &c.container(&victim)]).trim(),
        "true"
    );
    assert_eq!(member_row(&c.list_json(), &victim)["state"], "streaming");
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
    // The cluster is secured: its CA, pgha's client certificate, and etcd's root password
    // from the environment.
    let etcd_arg = c.etcd_endpoints()[1].clone();
    let tls = c.home().join(&c.name).join("tls");
    let path = |f: &str| tls.join(f).display().to_string();
    let (ca, crt, key) = (
        path("ca.crt"),
        path("client-pgha.crt"),
        path("client-pgha.key"),
    );
    let root_pw = crate::harness::etcd_auth().user.unwrap().1;
    let foreign = |args: &[&str], pw: Option<&str>| {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .args(["--etcd", &etcd_arg, "--scope", &c.name])
            .args([
                "--cacert",
                &ca,
                "--cert",
                &crt,
                "--key",
                &key,
                "--etcd-user",
                "root",
            ])
            .current_dir(elsewhere.path())
            .env_remove("PGHA_ETCD_PASSWORD");
        if let Some(pw) = pw {
            cmd.env("PGHA_ETCD_PASSWORD", pw);
        }
        run_with_deadline(&mut cmd, T)
    };
    let no_pw = foreign(&["list"], None);
    assert_eq!(no_pw.status.code(), Some(2), "{}", text(&no_pw.stderr));
    assert!(
        text(&no_pw.stderr).contains("PGHA_ETCD_PASSWORD"),
        "{}",
        text(&no_pw.stderr)
    );
    let wrong = foreign(&["list"], Some("not-the-password"));
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong.stderr));
    let out = foreign(&["list", "--json"], Some(&root_pw));
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

    // Node containers: 256 MiB of /dev/shm and the spec's limits; every container's log rotates.
    let host = |name: &str| {
        docker(&[
            "inspect",
            "-f",
            "{{.HostConfig.ShmSize}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}} {{index .HostConfig.LogConfig.Config \"max-file\"}}",
            name,
        ])
        .trim()
        .to_string()
    };
    let rotated = "json-file 10m 3";
    assert_eq!(
        host(&c.container("pg1")),
        format!("268435456 1073741824 1500000000 {rotated}")
    );
    // Limits are per role: etcd has none, and Docker's default /dev/shm.
    assert_eq!(
        host(&c.container("etcd1")),
        format!("67108864 0 0 {rotated}")
    );

    // Ports bind to 127.0.0.1; no secret in Docker's view of any container; secrets file 0600.
    let all = c.labelled("container");
    assert_eq!(all.len(), 9, "{all:?}");
    let secrets: toml::Value =
        toml::from_str(&read(&c.home().join(&c.name).join("secrets.toml"))).unwrap();
    let monitor_pw = secrets["monitor_password"].as_str().unwrap().to_string();
    assert_eq!(monitor_pw.len(), 32);
    for name in &all {
        let bindings = docker(&["inspect", "-f", "{{json .HostConfig.PortBindings}}", name]);
        assert!(
            !bindings.contains("0.0.0.0") && bindings.contains("127.0.0.1"),
            "{name}: {bindings}"
        );
        let config = docker(&["inspect", "-f", "{{json .Config}}", name]);
        assert!(
            !config.contains(&pw) && !config.contains(&monitor_pw),
            "{name} shows a password in docker inspect"
        );
    }
    let secrets = c.home().join(&c.name).join("secrets.toml");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&secrets).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // TLS everywhere, and `certs rotate` without a restart.
    crate::security::tls_everywhere(&c).await;
    crate::rotation::passwords_rotate_under_a_writer(&c).await;
    let pw = c.superuser_password();
    // The cluster runs with TLS: turning it off restarts the whole cluster, so `up` asks first
    // (exit 2 off a terminal without --yes), and nothing changes.
    c.respec("[nodes]\nmemory = \"1GiB\"\ncpus = 1.5\n[tls]\nenabled = false\n");
    let refused = c.pgha_output(&["up"], T);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("turning TLS off restarts the whole cluster"),
        "{}",
        text(&refused.stderr)
    );
    c.respec("[nodes]\nmemory = \"1GiB\"\ncpus = 1.5\n");

    // up again changes nothing: same containers, not restarted.
    let inspect = || {
        let mut args = vec!["inspect", "-f", "{{.Id}} {{.State.StartedAt}}"];
        args.extend(all.iter().map(String::as_str));
        docker(&args)
    };
    let before = inspect();
    // `plan` agrees: no container step, and the config key matches the spec.
    let plan: serde_json::Value =
        serde_json::from_str(&c.pgha(&["plan", "--json"], Duration::from_secs(60))).unwrap();
    assert_eq!(plan["steps"], serde_json::json!([]), "{plan}");
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

    // Day-2 configuration on this cluster (daytwo.rs): edit-config, the spec's [patroni]
    // settings through `up`, pending restarts, compare-and-swap, reload, dsn, etcd out of quorum.
    crate::daytwo::edit_config_pending_restart_cas_reload_dsn(&c).await;

    // down asks first (off a terminal: --yes), naming what runs; refused, it stops nothing.
    let refused = c.pgha_output(&["down"], T);
    let err = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("stop cluster {} (", c.name))
            && err.contains(&c.container("pg1"))
            && err.contains("its data volumes are kept")
            && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(
        c.labelled("container").len(),
        all.len(),
        "refused: nothing stopped"
    );
    // down: no labelled container or network; data volumes stay, and the data survives up. The
    // replicas stop first, then the leader alone, each with a clean shutdown checkpoint.
    let leader_before = c.list_json()["leader"].as_str().unwrap().to_string();
    let image = docker(&["inspect", "-f", "{{.Config.Image}}", &c.container("pg1")]);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    c.pgha(&["down", "--yes"], Duration::from_secs(180));
    crate::down::assert_down_order(&c, since, &leader_before);
    for m in ["pg1", "pg2", "pg3"] {
        let state = crate::down::cluster_state(&c, image.trim(), m);
        let want = if m == leader_before {
            "shut down"
        } else {
            "shut down in recovery"
        };
        assert_eq!(state, want, "{m} (leader {leader_before})");
    }
    assert!(c.labelled("container").is_empty());
    assert!(c.labelled("network").is_empty());
    assert_eq!(
        c.labelled("volume").len(),
        8,
        "3 etcd, 3 nodes, the backup repository, Prometheus's data"
    );
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
    // The backup repository outlives the cluster; `--repository` removes it, after asking.
    assert_eq!(c.labelled("volume"), vec![format!("{}-backup", c.name)]);
    assert!(!secrets.exists());
    let refused = c.pgha_output(&["down", "--volumes", "--repository"], T);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused.stderr).contains("--yes"));
    assert_eq!(c.labelled("volume").len(), 1);
    let needs_volumes = c.pgha_output(&["down", "--repository", "--yes"], T);
    assert_eq!(
        needs_volumes.status.code(),
        Some(2),
        "--repository needs --volumes"
    );
    c.pgha(&["down", "--volumes", "--repository", "--yes"], T);
    assert!(c.labelled("volume").is_empty());
}
