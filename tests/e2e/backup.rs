//! Backups and recovery on one cluster, end to end: archiving on a fresh cluster (`pgbackrest
//! check`, verify's archive check), a full backup and `backup list`; three `failover --kill`
//! cycles under a writer with every timeline's history file archived; a point-in-time restore
//! between the second and third failover into a new cluster (exact rows, the original untouched);
//! `restore --in-place` to a restore point (new timeline, 3 members streaming, the rows of the
//! mark); failed archiving seen by verify and list (exit 1); and disaster recovery after
//! `down --volumes` (repository kept) with every acknowledged write on every restored member.

use crate::harness::{docker, eventually, pg, text, TestCluster};
use crate::writer;
use pgha::adapters::pg::PgTarget;
use pgha::ops::writer::missing_after_replay;
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(180);

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

async fn leader(c: &TestCluster) -> String {
    let list = c.list_json();
    list["leader"].as_str().unwrap_or_default().to_string()
}

async fn query_i64(port: u16, pw: &str, sql: &str) -> i64 {
    pg(port, pw, Duration::from_secs(60))
        .await
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql} on port {port}: {e}"))
        .get(0)
}

/// Inserts batch `b` (50 rows) into `pitr` through HAProxy.
async fn batch(c: &TestCluster, b: i32) {
    c.sql_on_primary(&format!(
        "insert into pitr select {b} * 1000 + g, {b} from generate_series(1, 50) g"
    ))
    .await;
}

/// Waits until every replica streams and one is the sync standby (what `failover --kill` needs
/// to promote anyone).
async fn settled(c: &TestCluster) {
    eventually("a sync standby and every replica streaming", T, || async {
        let list = tokio::task::block_in_place(|| c.list_json());
        let m = list["members"].as_array()?.clone();
        let ok = m.iter().any(|x| x["role"] == "Sync Standby")
            && m.iter()
                .filter(|x| x["role"] != "Leader")
                .all(|x| x["state"] == "streaming");
        ok.then_some(())
    })
    .await;
}

/// Kills the leader through pgha, then starts it again and waits until it streams.
async fn kill_cycle(c: &TestCluster) {
    settled(c).await;
    let out = tokio::task::block_in_place(|| c.pgha(&["failover", "--kill", "--yes", "--json"], T));
    let killed = json(&out)["killed"].as_str().unwrap().to_string();
    tokio::task::block_in_place(|| c.pgha(&["start", &killed], T));
}

fn archive_files(c: &TestCluster, member: &str) -> String {
    docker(&[
        "exec",
        &c.container(member),
        "sh",
        "-c",
        &format!("ls /var/lib/pgbackrest/archive/{}/17-1/", c.name),
    ])
}

fn target(port: u16, pw: &str) -> PgTarget {
    PgTarget {
        host: "127.0.0.1".into(),
        port,
        user: "postgres".into(),
        password: pw.into(),
        dbname: "postgres".into(),
        tls: crate::harness::pg_tls(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_pitr_across_timelines_in_place_failed_archiving_and_disaster_recovery() {
    let c = TestCluster::new(
        "backup",
        3500,
        "[etcd]\nmembers = 1\n[backup]\nretention_full = 1\n[monitoring]\nenabled = false\n",
    );
    c.up();
    let pw = c.superuser_password();
    let repo = format!("{}-backup", c.name);

    // Archiving on a fresh cluster: pgBackRest's own check, and verify's.
    let l0 = leader(&c).await;
    docker(&[
        "exec",
        "-u",
        "postgres",
        &c.container(&l0),
        "pgbackrest",
        &format!("--stanza={}", c.name),
        "check",
    ]);
    c.pgha(&["verify", "--only", "archive"], T);

    // A full backup, and the list with its recoverable window.
    let b = json(&c.pgha(&["backup", "--json"], T));
    assert_eq!(b["backup"]["type"], "full", "{b}");
    // From a standby, which reached the primary through its pgBackRest TLS server.
    assert_eq!(b["from_standby"], true, "{b}");
    assert_ne!(b["member"], l0.as_str(), "{b}");
    let label = b["backup"]["label"].as_str().unwrap().to_string();
    let list = json(&c.pgha(&["backup", "list", "--json"], T));
    assert_eq!(list["backups"][0]["label"], label.as_str(), "{list}");
    assert!(list["window"]["from"].as_i64().is_some(), "{list}");
    c.pgha(&["verify", "--only", "backup"], T);
    // The latest backup and WAL, restored in a throwaway container, hold the leader's rows.
    c.sql_on_primary(
        "create table counted (i int); insert into counted select generate_series(1, 321)",
    )
    .await;
    let v = json(&c.pgha(&["verify", "--only", "restore-test", "--json"], T));
    let fig = v["checks"][0]["figure"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(v["checks"][0]["result"], "PASS", "{v}");
    assert!(fig.contains("every row count equal"), "{fig}");
    assert!(
        !docker(&["volume", "ls", "--format", "{{.Name}}"]).contains("restore-test"),
        "the throwaway volume is gone"
    );
    let st = json(&c.pgha(&["backup", "status", "--json"], T));
    assert_eq!(st["last_backup"]["label"], label.as_str(), "{st}");
    assert_eq!(
        st["archive"]["failed_count"].as_i64().map(|_| ()),
        Some(()),
        "{st}"
    );

    // With a backup in the repository, a rebuilt replica restores it (then replays WAL) instead
    // of copying the leader.
    let replica = ["pg1", "pg2", "pg3"]
        .into_iter()
        .find(|m| *m != l0)
        .unwrap();
    let logs = |m: &str| {
        let out = crate::harness::run_with_deadline(
            std::process::Command::new("docker").args(["logs", &c.container(m)]),
            T,
        );
        format!("{}{}", text(&out.stdout), text(&out.stderr))
    };
    assert!(!logs(replica).contains("replica has been created using pgbackrest"));
    tokio::task::block_in_place(|| c.pgha(&["reinit", replica, "--yes"], T));
    assert!(
        logs(replica).contains("replica has been created using pgbackrest"),
        "{}",
        logs(replica)
    );

    // Three failovers under a writer, with batches of rows between them; the time T2 lies
    // between the second and the third.
    c.sql_on_primary(
        "create table pitr (id bigint primary key, b int); create table acked (id bigint primary key)",
    )
    .await;
    let w = writer::start(c.primary_port(), &pw, "acked");
    batch(&c, 1).await;
    kill_cycle(&c).await;
    batch(&c, 2).await;
    kill_cycle(&c).await;
    batch(&c, 3).await;
    let t2: String = pg(c.primary_port(), &pw, T)
        .await
        .query_one(
            "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    batch(&c, 4).await;
    kill_cycle(&c).await;
    batch(&c, 5).await;
    let written = w.finish().await;
    assert!(
        written.acked.len() >= 100,
        "only {} writes acknowledged across the failovers",
        written.acked.len()
    );
    c.sql_on_primary("drop table pitr").await;
    let l1 = leader(&c).await;
    // Every timeline's history file reaches the archive.
    let files = eventually("history files 2, 3 and 4 in the archive", T, || async {
        let f = archive_files(&c, &l1);
        ["00000002.history", "00000003.history", "00000004.history"]
            .iter()
            .all(|h| f.contains(h))
            .then_some(f)
    })
    .await;
    assert!(files.contains("0000000100000000"), "{files}");

    // Point in time, across timelines, into a new cluster beside the original.
    let x = format!("{}-x", c.name);
    let restore_x = [
        "restore",
        "--time",
        &t2,
        "--into",
        &x,
        "--port-base",
        "3600",
    ];
    let plan = c.pgha(&[&restore_x[..], &["--plan"]].concat(), T);
    assert!(
        plan.contains(&format!("{} is not touched", c.name)),
        "{plan}"
    );
    assert!(
        !c.path(&format!("{x}.toml")).exists(),
        "--plan wrote nothing"
    );
    c.pgha(&restore_x, Duration::from_secs(600));
    let xpw = c.password_of(&x);
    let xport = (5431 + 3600) as u16;
    for i in 0..3u16 {
        let rows = query_i64(xport + i, &xpw, "select count(*) from pitr").await;
        let max_b = query_i64(xport + i, &xpw, "select max(b)::bigint from pitr").await;
        assert_eq!(
            (rows, max_b),
            (150, 3),
            "node {} of {x}: batches 1-3 exactly",
            i + 1
        );
    }
    // The original is untouched: the table stays dropped and the leader did not move.
    assert_eq!(
        query_i64(
            c.primary_port(),
            &pw,
            "select count(*) from pg_class where relname = 'pitr'"
        )
        .await,
        0
    );
    assert_eq!(leader(&c).await, l1);
    let xspec = format!("{x}.toml");
    c.pgha(
        &[
            "--spec",
            &xspec,
            "down",
            "--volumes",
            "--repository",
            "--yes",
        ],
        T,
    );
    let vols = docker(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(
        !vols.contains(&format!("{x}-")),
        "{x}'s volumes are gone: {vols}"
    );
    assert!(vols.contains(&repo), "the source repository stays: {vols}");

    // Failed archiving: the repository becomes unreachable for postgres (mode 000: no file in it
    // can be written, or even found); verify, list and backup status say so with exit 1.
    let l2 = leader(&c).await;
    let chmod_repo = |mode: &str| {
        let container = c.container(&l2);
        docker(&[
            "exec",
            "-u",
            "root",
            &container,
            "chmod",
            mode,
            "/var/lib/pgbackrest",
        ]);
    };
    chmod_repo("000");
    let v = c.pgha_output(&["verify", "--only", "archive"], T);
    assert_eq!(v.status.code(), Some(1), "{}", text(&v.stdout));
    assert!(text(&v.stdout).contains("FAILING"), "{}", text(&v.stdout));
    let l = c.pgha_output(&["list"], T);
    assert_eq!(l.status.code(), Some(1));
    let st = c.pgha_output(&["backup", "status"], T);
    assert_eq!(st.status.code(), Some(1), "{}", text(&st.stdout));
    assert!(
        text(&st.stdout).contains("Archive:     FAILING"),
        "{}",
        text(&st.stdout)
    );
    assert!(
        text(&l.stdout).contains("Archive: FAILING"),
        "{}",
        text(&l.stdout)
    );
    chmod_repo("750");
    c.pgha(&["verify", "--only", "archive"], T);

    // A second full backup: retention (retention_full = 1) expires the first.
    let b2 = json(&c.pgha(&["backup", "--json"], T));
    assert_eq!(b2["expired"], serde_json::json!([label]), "{b2}");
    let list = json(&c.pgha(&["backup", "list", "--json"], T));
    assert_eq!(list["backups"].as_array().unwrap().len(), 1, "{list}");

    // In place, to a restore point.
    c.sql_on_primary(
        "create table inplace (i int); insert into inplace select generate_series(1, 10)",
    )
    .await;
    c.pgha(&["backup", "--mark", "m1"], T);
    c.sql_on_primary("insert into inplace select generate_series(11, 20)")
        .await;
    let tl_before = c.list_json()["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["timeline"].as_u64())
        .max()
        .unwrap();
    let refused = c.pgha_output(&["restore", "--in-place", "--name", "m1"], T);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "asks first: {}",
        text(&refused.stderr)
    );
    c.pgha(
        &["restore", "--in-place", "--name", "m1", "--yes"],
        Duration::from_secs(600),
    );
    let list = c.list_json();
    let members = list["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{list}");
    for m in members {
        assert!(
            m["timeline"].as_u64().unwrap() > tl_before,
            "new timeline: {list}"
        );
        if m["member"] != list["leader"] {
            assert_eq!(m["state"], "streaming", "{list}");
        }
    }
    for i in 0..3 {
        let n = query_i64(c.node_port(i), &pw, "select count(*) from inplace").await;
        assert_eq!(n, 10, "node {}: the rows of the restore point", i + 1);
    }

    // Disaster recovery: writes, then the cluster and its data go (the repository stays).
    c.sql_on_primary("create table acked_dr (id bigint primary key)")
        .await;
    let w = writer::start(c.primary_port(), &pw, "acked_dr");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let dr = w.finish().await;
    assert!(
        dr.acked.len() >= 50,
        "only {} writes before the disaster",
        dr.acked.len()
    );
    let down = c.pgha(&["down", "--volumes", "--yes"], T);
    assert!(
        down.contains(&format!("kept backup repository {repo}")),
        "{down}"
    );
    let vols = docker(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(vols.contains(&repo), "{vols}");
    assert!(!vols.contains(&format!("{}-pg1-data", c.name)), "{vols}");
    let again = c.pgha_output(&["up"], T);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("restore it with"),
        "{}",
        text(&again.stderr)
    );
    let y = format!("{}-y", c.name);
    c.pgha(
        &["restore", "--latest", "--into", &y, "--port-base", "3700"],
        Duration::from_secs(600),
    );
    let ypw = c.password_of(&y);
    // Every write acknowledged before the disaster, and those of the failovers' writer.
    for i in 0..3u16 {
        let t = target((5431 + 3700) as u16 + i, &ypw);
        for (table, acked) in [("acked_dr", &dr.acked), ("acked", &written.acked)] {
            let sql = format!("select id from {table}");
            let missing = missing_after_replay(&t, &sql, acked, Duration::from_secs(30))
                .await
                .unwrap();
            assert!(
                missing.is_empty(),
                "node {} of {y} lacks {} acknowledged writes of {table}",
                i + 1,
                missing.len()
            );
        }
    }
    c.pgha(
        &[
            "--spec",
            &format!("{y}.toml"),
            "down",
            "--volumes",
            "--repository",
            "--yes",
        ],
        T,
    );
}
