//! `failover --kill` on a real cluster under continuous writes, fenced and not (and leadership
//! moving while the confirmation waits on a terminal), start of the killed member, and the
//! fencing transaction itself. The kill test's cluster also proves monitoring: targets, rules,
//! closed APIs (password, TLS, no lifecycle API, private files),
//! `top` under the writer, the leader-loss and member-down alerts of the kill (at Alertmanager
//! and at a webhook, firing and resolved), and the not-streaming alert of a stopped replica
//! through `pgha alerts`.

use crate::ha::{json_of, last_json, leader, sync_standby, sync_standby_of, Terminal};
use crate::harness::*;
use crate::monitoring;
use crate::writer::{self, assert_no_acked_write_lost};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn failover_kill_loses_no_acknowledged_write() {
    let c = TestCluster::new("kill", 4000, &monitoring::webhook_spec());
    c.up();
    let pw = c.superuser_password();
    c.sql_on_primary("create table kill_rows (id bigint primary key)")
        .await;
    monitoring::assert_targets_up(&c).await;
    monitoring::assert_promtool_passes(&c);
    monitoring::assert_closed(&c).await;
    let hook = monitoring::Hook::start(&c);
    // Planned work does not page: the fresh `up` and a switchover silence what they act on
    // (Alertmanager retries a notification the receiver missed, so one from `up` would arrive).
    let before_switch = leader(&c).await;
    let to = sync_standby(&c).await;
    tokio::task::block_in_place(|| c.pgha(&["switchover", "--candidate", &to, "--yes"], T));
    assert_eq!(leader(&c).await, to);
    assert_ne!(before_switch, to);
    // A new CA under a writer, silenced like the rest of pgha's planned work.
    crate::rotation::ca_rotate_under_a_writer(&c).await;

    // Fenced kill under continuous writes; `top` shows the writer's TPS on the leader first.
    let l0 = leader(&c).await;
    let s0 = sync_standby(&c).await;
    let w = writer::start(c.primary_port(), &pw, "kill_rows");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = w.acked_count();
    assert!(before > 0, "the writer writes");
    let members: Vec<String> = ["pg1", "pg2", "pg3"].map(String::from).to_vec();
    eventually("pgha top to show the writer's TPS", T, || async {
        let out = tokio::task::block_in_place(|| c.pgha(&["top", "--count", "2"], T));
        (monitoring::top_tps(&out, &members, &l0)? > 1.0).then_some(())
    })
    .await;
    // A scrape interval, Alertmanager's group wait and a few evaluations after the switchover.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        hook.fired(),
        Vec::<String>::new(),
        "no page from up or the switchover"
    );
    let killed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let r = tokio::task::block_in_place(|| json_of(&c, &["failover", "--kill", "--yes", "--json"]));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let written = w.finish().await;
    assert!(
        written.acked.len() > before,
        "writes resumed after the failover"
    );
    assert_eq!(r["killed"], l0.as_str());
    assert_eq!(r["to"], s0.as_str(), "the sync standby took over");
    assert_eq!(r["new_leader_was_sync_standby"], true);
    assert_eq!(r["fenced"], true);
    assert_eq!(leader(&c).await, s0);
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Running}}", &c.container(&l0)]).trim(),
        "false",
        "the killed node stays stopped"
    );

    // Leader loss and member down fire at Alertmanager within 30 s of the kill, and reach the
    // webhook.
    let alert_deadline = Duration::from_secs(30);
    for name in ["PghaLeaderDown", "PghaMemberDown"] {
        let took = monitoring::wait_alert(&c, name, &l0, alert_deadline).await;
        eprintln!("{name} for {l0} active at Alertmanager {took:?} after the failover returned");
    }
    eventually(
        "the webhook to receive both firing alerts",
        alert_deadline,
        || async {
            let leader = hook.arrived("firing", "PghaLeaderDown", &l0)?;
            hook.arrived("firing", "PghaMemberDown", &l0)?;
            Some(leader)
        },
    )
    .await;

    // The killed leader comes back as a streaming replica; the alerts resolve, at the webhook too.
    // `certs rotate` reaches the stopped node too: it starts serving its new certificate.
    c.pgha(&["certs", "rotate"], T);
    c.pgha(&["start", &l0], T);
    let list = c.list_json();
    let m = member_row(&list, l0.as_str());
    assert_eq!(m["state"], "streaming", "{list}");
    let i: usize = l0.trim_start_matches("pg").parse::<usize>().unwrap() - 1;
    assert_eq!(
        crate::security::served_serial(c.kit.api_port(i), false),
        crate::security::file_serial(&crate::security::tls_file(&c, &format!("{l0}.crt"))),
        "{l0}, stopped during certs rotate, serves the new certificate"
    );
    for name in ["PghaLeaderDown", "PghaMemberDown"] {
        monitoring::wait_resolved(&c, name, &l0, T).await;
    }
    let resolved = eventually("the webhook to receive both resolved alerts", T, || async {
        let a = hook.arrived("resolved", "PghaLeaderDown", &l0)?;
        let b = hook.arrived("resolved", "PghaMemberDown", &l0)?;
        Some(a.max(b))
    })
    .await;
    let fired = hook.arrived("firing", "PghaLeaderDown", &l0).unwrap();
    assert!(
        fired >= killed_at && resolved > fired,
        "firing at {fired}, resolved at {resolved}, kill at {killed_at}"
    );
    // Every acknowledged write is on every member, the killed one too now that it streams again.
    assert_no_acked_write_lost(&c, "kill_rows", &written.acked, 100, &[0, 1, 2]).await;

    // A stopped replica fires the not-streaming alert, and `pgha alerts` lists it.
    let lnow = leader(&c).await;
    let snow = sync_standby_of(&c, &lnow).await;
    let replica = members
        .iter()
        .find(|m| **m != lnow && **m != snow)
        .unwrap()
        .clone();
    c.pgha(&["stop", &replica, "--yes"], T);
    monitoring::wait_alert(&c, "PghaReplicaNotStreaming", &replica, T).await;
    let out = c.pgha_output(&["alerts"], T);
    let table = text(&out.stdout);
    assert!(
        out.status.success(),
        "pgha alerts: {table}{}",
        text(&out.stderr)
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("PghaReplicaNotStreaming") && l.contains(&replica)),
        "{table}"
    );
    assert!(
        table.contains("PghaReplicaNotStreaming: "),
        "the runbook line: {table}"
    );
    let listed: Value = serde_json::from_str(&c.pgha(&["alerts", "--json"], T)).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "PghaReplicaNotStreaming"
                && a["member"] == replica.as_str()
                && a["severity"] == "warning"),
        "{listed}"
    );
    c.pgha(&["start", &replica], T);
    drop(hook);

    // Without fencing the failover still happens, after Patroni's ttl. And leadership moves
    // while the confirmation waits on a terminal: pgha reads the leader again after it and kills
    // the leader then, not the member that led when it asked.
    let l1 = leader(&c).await;
    let s1 = sync_standby_of(&c, &l1).await;
    let term = Terminal::spawn(&c, &["failover", "--kill", "--no-fence", "--json"]);
    term.wait_for_text("[y/N]").await;
    assert!(
        term.text().contains(&format!("SIGKILL the leader {l1} ")),
        "{}",
        term.text()
    );
    // The waiting `failover --kill` holds the cluster's lock: a `pgha switchover` meanwhile is
    // refused, naming it. Leadership moves through Patroni itself (patronictl in the leader's
    // container), as another Patroni client or a failover would move it.
    let refused = tokio::task::block_in_place(|| {
        c.pgha_output(&["switchover", "--candidate", &s1, "--yes"], T)
    });
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("is being changed by `pgha failover` (pid "),
        "{}",
        text(&refused.stderr)
    );
    docker(&[
        "exec",
        &c.container(&l1),
        "patronictl",
        "-c",
        "/etc/pgha/patroni",
        "switchover",
        "--leader",
        &l1,
        "--candidate",
        &s1,
        "--force",
    ]);
    eventually("the switchover by patronictl", T, || async {
        (leader(&c).await == s1).then_some(())
    })
    .await;
    sync_standby_of(&c, &s1).await;
    let (code, out) = tokio::task::block_in_place(|| term.answer("y"));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "leadership moved from {l1} to {s1} after the confirmation"
        )),
        "{out}"
    );
    let r = last_json(&out);
    assert_eq!(r["killed"], s1.as_str(), "{out}");
    assert_eq!(r["fenced"], false);
    let running = |m: &str| docker(&["inspect", "-f", "{{.State.Running}}", &c.container(m)]);
    assert_eq!(
        running(&s1).trim(),
        "false",
        "the leader after the prompt was killed"
    );
    assert_eq!(
        running(&l1).trim(),
        "true",
        "the leader before the prompt was spared"
    );
    let l2 = leader(&c).await;
    assert_ne!(l2, s1);
    assert_eq!(r["to"], l2.as_str());
    c.pgha(&["start", &s1], T);

    // The fencing transaction itself, on this cluster's etcd under a scratch scope: it deletes
    // the leader key only while it holds the value and revision read, else changes nothing.
    let dcs = pgha::adapters::dcs::Dcs::connect(pgha::adapters::dcs::Target {
        endpoints: c.etcd_endpoints(),
        namespace: "/service/".into(),
        scope: "fence-check".into(),
        auth: crate::harness::etcd_auth(),
    })
    .await
    .unwrap();
    assert!(dcs.cas_put("leader", "old", 0).await.unwrap());
    let read = dcs.read_cluster().await.unwrap();
    assert_eq!(read.leader.as_deref(), Some("old"));
    assert!(dcs
        .cas_put("leader", "new", read.leader_revision)
        .await
        .unwrap());
    let moved = dcs.read_cluster().await.unwrap();
    assert!(!dcs
        .fence_leader("old", read.leader_revision, read.leader_lease)
        .await
        .unwrap());
    assert!(!dcs
        .fence_leader("new", read.leader_revision, moved.leader_lease)
        .await
        .unwrap());
    assert_eq!(
        dcs.read_cluster().await.unwrap().leader.as_deref(),
        Some("new"),
        "a failed compare deletes nothing"
    );
    assert!(dcs
        .fence_leader("new", moved.leader_revision, moved.leader_lease)
        .await
        .unwrap());
    assert_eq!(dcs.read_cluster().await.unwrap().leader, None);
}
