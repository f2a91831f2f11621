//! `up` converging a running cluster while an independent writer writes through HAProxy: a
//! rebuilt image (same tag) rolled through every container with exactly one switchover, which
//! also gives the cluster WAL archiving, the old image pruned, scaling 3 -> 4 -> 3 nodes,
//! a node container removed by hand, etcd going 3 -> 5 -> 3 members with a leader throughout, an
//! etcd member whose volume was lost rebuilt, and an etcd change of four members refused.

use crate::harness::*;
use crate::writer;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const ROLL: Duration = Duration::from_secs(420);
const IMAGE: &str = "pgha-it-converge:v2";

/// A test image, removed when dropped (declare it before the cluster, so it outlives it).
struct TestImage(&'static str);

impl Drop for TestImage {
    fn drop(&mut self) {
        let out = run_with_deadline(
            Command::new("docker").args(["rmi", "-f", self.0]),
            Duration::from_secs(60),
        );
        if !out.status.success() {
            eprintln!("docker rmi {}: {}", self.0, text(&out.stderr));
        }
    }
}

fn image_of(container: &str) -> String {
    docker(&["inspect", "-f", "{{.Image}}", container])
        .trim()
        .to_string()
}

fn ip_of(c: &TestCluster, member: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &c.container(member),
    ])
    .trim()
    .to_string()
}

/// The leader and its timeline, from `list --json`.
fn leader_and_timeline(c: &TestCluster) -> (String, u64) {
    let list = c.list_json();
    let l = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "Leader")
        .cloned()
        .unwrap_or_else(|| panic!("no leader in {list}"));
    (
        l["member"].as_str().unwrap().to_string(),
        l["timeline"].as_u64().unwrap(),
    )
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn actions(plan: &Value) -> Vec<String> {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap().to_string())
        .collect()
}

/// `up --yes --json`, its report's `rolled` part printed for the log.
fn roll(c: &TestCluster) -> Value {
    let up = json(&c.pgha(&["up", "--yes", "--json"], ROLL));
    let r = &up["rolled"];
    eprintln!(
        "rolled {} in {} s: longest write gap {} s, {} writes acked, {} lost; leader {} -> {}",
        r["steps"],
        r["elapsed_s"],
        r["longest_write_gap_s"],
        r["writes_acked"],
        r["writes_lost"],
        r["leader_before"],
        r["leader_after"]
    );
    assert_eq!(r["writes_lost"], 0, "{up}");
    up
}

/// Makes `IMAGE` anew: `base` with one more layer (`docker commit` needs no registry).
fn derive_image(c: &TestCluster, base: &str) {
    let tmp = format!("{}-derive", c.name);
    docker(&[
        "create",
        "--name",
        &tmp,
        "--label",
        "io.pgha.test=converge",
        base,
        "true",
    ]);
    docker(&[
        "commit",
        "--change",
        "LABEL io.pgha.test=converge",
        &tmp,
        IMAGE,
    ]);
    docker(&["rm", &tmp]);
}

/// The leader is another than `before` and took over in exactly one promotion (the timeline
/// after `tl_before` is the next one); otherwise the failure shows the history and Patroni's
/// lines about locks and promotions. Returns the new leader.
fn promoted_once(c: &TestCluster, before: &str, tl_before: u64) -> String {
    let (leader, tl) = leader_and_timeline(c);
    assert_ne!(leader, before, "the leader did not change");
    if tl != tl_before + 1 {
        let mut why = c.pgha(&["history"], T);
        for m in ["pg1", "pg2", "pg3"] {
            let out = run_with_deadline(Command::new("docker").args(["logs", &c.container(m)]), T);
            let all = text(&out.stdout) + &text(&out.stderr);
            why += &format!("\n== {m}\n");
            for l in all.lines().filter(|l| {
                ["demot", "promot", "leader lock", "DCS", "Lock owner"]
                    .iter()
                    .any(|k| l.contains(k))
            }) {
                why += l;
                why.push('\n');
            }
        }
        panic!("timeline {tl_before} -> {tl}: more than one promotion\n{why}");
    }
    leader
}

/// etcd's member list as `etcdctl` in etcd1's container prints it: (name, hex id) by name.
fn etcd_members(c: &TestCluster) -> Vec<(String, String)> {
    let out = etcdctl(&c.container("etcd1"), &["member", "list"]);
    let mut ms: Vec<(String, String)> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(", ").collect();
            assert!(f.len() >= 3 && f[1] == "started", "{out}");
            (f[2].to_string(), f[0].to_string())
        })
        .collect();
    ms.sort();
    ms
}

fn etcd_member_names(c: &TestCluster) -> Vec<String> {
    etcd_members(c).into_iter().map(|(n, _)| n).collect()
}

fn etcd_member_id(c: &TestCluster, name: &str) -> String {
    etcd_members(c)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} is not an etcd member"))
        .1
}

/// Asks one etcd member for its status every 100 ms: how often it answered, and how often it knew
/// no raft leader (an error counts as that too).
struct LeaderWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<(usize, usize)>,
}

impl LeaderWatch {
    fn start(endpoint: &str) -> LeaderWatch {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, ep) = (stop.clone(), endpoint.to_string());
        let task = tokio::spawn(async move {
            let (mut samples, mut leaderless) = (0, 0);
            let mut client = crate::harness::etcd_client(&[ep]).await;
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_secs(2), client.status()).await {
                    Ok(Ok(st)) if st.leader() != 0 => {}
                    _ => leaderless += 1,
                }
                samples += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (samples, leaderless)
        });
        LeaderWatch { stop, task }
    }

    async fn stop(self) -> (usize, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_rolls_a_new_image_scales_nodes_and_recreates_a_removed_one() {
    let _image = TestImage(IMAGE);
    // Made without archiving, as clusters of pgha before backups were, on a test image: pgha's
    // own with one more layer (`docker commit` needs no registry).
    let c = TestCluster::new("converge", 2500, "");
    c.pgha(&["image", "build"], Duration::from_secs(600));
    let base = c.pgha(&["image", "name"], T).trim().to_string();
    derive_image(&c, &base);
    let with_image = format!("[images]\nnode = \"{IMAGE}\"\n");
    c.respec(&format!("{with_image}[backup]\nenabled = false\n"));
    c.up();
    let pw = c.superuser_password();
    c.sql_on_primary("create table conv_rows (id bigint primary key)")
        .await;
    let w = writer::start(c.primary_port(), &pw, "conv_rows");
    let (l0, tl0) = leader_and_timeline(&c);

    // The same reference now names another image (what `pgha image build --refresh` does to
    // pgha's own tag), and the spec turns archiving on ([backup]'s default).
    let old_id = docker(&["image", "inspect", "-f", "{{.Id}}", IMAGE])
        .trim()
        .to_string();
    derive_image(&c, &base);
    let new_id = docker(&["image", "inspect", "-f", "{{.Id}}", IMAGE])
        .trim()
        .to_string();
    assert_ne!(new_id, old_id);
    let all = c.labelled("container");
    assert_eq!(all.len(), 9, "{all:?}");
    assert!(all.iter().all(|n| image_of(n) == old_id));
    c.respec(&with_image);

    // plan: the backup repository, then every container replaced one at a time, etcd first, the
    // replicas, one switchover off the leader, the old leader, HAProxy, then Prometheus and
    // Alertmanager; and plan changes nothing.
    let ids = || {
        let mut args = vec!["inspect", "-f", "{{.Id}}"];
        args.extend(all.iter().map(String::as_str));
        docker(&args)
    };
    let before = ids();
    let mut plan = json(&c.pgha(&["plan", "--json"], T));
    let repo = plan["steps"].as_array_mut().unwrap().remove(0);
    assert_eq!(
        repo["action"],
        format!("create volume {}-backup", c.name).as_str(),
        "{plan}"
    );
    assert_eq!(repo["kind"], "volume");
    let steps = actions(&plan);
    let n = |m: &str| format!("replace {}", c.container(m));
    let switch = format!("switch over from {l0}");
    let replicas: Vec<String> = ["pg1", "pg2", "pg3"]
        .iter()
        .filter(|m| **m != l0)
        .map(|m| n(m))
        .collect();
    assert_eq!(steps.len(), 10, "{plan}");
    assert_eq!(&steps[..3], &[n("etcd1"), n("etcd2"), n("etcd3")], "{plan}");
    assert_eq!(
        steps[3..5].iter().cloned().collect::<BTreeSet<_>>(),
        replicas.into_iter().collect::<BTreeSet<_>>(),
        "{plan}"
    );
    assert_eq!(
        steps[5..],
        [
            switch.clone(),
            n(&l0),
            n("haproxy"),
            n("prometheus"),
            n("alertmanager")
        ],
        "{plan}"
    );
    assert_eq!(plan["steps"][5]["impact"], "switchover", "{plan}");
    assert_eq!(plan["steps"][0]["impact"], "member-restart", "{plan}");
    assert!(
        plan["steps"][0]["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("image {IMAGE} now names another image")),
        "{plan}"
    );
    assert_eq!(ids(), before, "plan must not touch containers");

    // Off a terminal, up asks for --yes and changes nothing.
    let refused = c.pgha_output(&["up"], T);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("--yes"));
    assert_eq!(ids(), before);

    let up = roll(&c);
    assert_eq!(up["rolled"]["steps"].as_array().unwrap().len(), 10, "{up}");
    assert!(up["rolled"]["longest_write_gap_s"].is_number(), "{up}");
    for name in c.labelled("container") {
        assert_eq!(image_of(&name), new_id, "{name} runs the old image");
    }
    // The leader changed exactly once: one promotion, one new timeline.
    let l1 = promoted_once(&c, &l0, tl0);
    let etcd_leader = etcd_get(&c.etcd_endpoints(), &format!("/service/{}/leader", c.name)).await;
    assert_eq!(etcd_leader.as_deref(), Some(l1.as_str()));
    let plan = json(&c.pgha(&["plan", "--json"], T));
    assert_eq!(plan["steps"], serde_json::json!([]), "{plan}");
    // The image the replaced containers ran is removed once no container uses it.
    let gone = run_with_deadline(
        Command::new("docker").args(["image", "inspect", &old_id]),
        T,
    );
    assert!(
        !gone.status.success(),
        "the unused image {old_id} is still there"
    );
    // The roll gave the cluster archiving: the stanza exists, pgBackRest's check passes (it
    // archives a WAL segment), and verify's archive check too.
    assert!(
        up["actions"]
            .to_string()
            .contains(&format!("create volume {}-backup", c.name)),
        "{up}"
    );
    docker(&[
        "exec",
        "-u",
        "postgres",
        &c.container(&l1),
        "pgbackrest",
        &format!("--stanza={}", c.name),
        "check",
    ]);
    c.pgha(&["verify", "--only", "archive"], T);

    // 3 -> 4 nodes: pg4 streams, and HAProxy's replica port reaches it.
    c.respec(&format!(
        "{with_image}[nodes]\nnames = [\"pg1\", \"pg2\", \"pg3\", \"pg4\"]\n"
    ));
    let plan = json(&c.pgha(&["plan", "--json"], T));
    assert!(
        actions(&plan).contains(&format!(
            "create and start container {}",
            c.container("pg4")
        )),
        "{plan}"
    );
    roll(&c);
    assert_eq!(member_row(&c.list_json(), "pg4")["state"], "streaming");
    let pg4 = ip_of(&c, "pg4");
    eventually(
        "a connection to HAProxy's replica port served by pg4",
        Duration::from_secs(30),
        || async {
            let client = pg(c.replica_port(), &pw, Duration::from_secs(5)).await;
            let row = client
                .query_one("select host(inet_server_addr())", &[])
                .await
                .ok()?;
            (row.get::<_, String>(0) == pg4).then_some(())
        },
    )
    .await;

    // 4 -> 3: pg4's container and member key go, HAProxy forgets it, its volume stays.
    c.respec(&with_image);
    roll(&c);
    assert!(!c.labelled("container").contains(&c.container("pg4")));
    assert!(c
        .labelled("volume")
        .contains(&format!("{}-pg4-data", c.name)));
    let key = format!("/service/{}/members/pg4", c.name);
    assert_eq!(etcd_get(&c.etcd_endpoints(), &key).await, None);
    let cfg = docker(&[
        "exec",
        &c.container("haproxy"),
        "cat",
        "/etc/pgha/haproxy/haproxy.cfg",
    ]);
    assert!(!cfg.contains("pg4") && cfg.contains("server pg3"), "{cfg}");
    assert_eq!(c.list_json()["members"].as_array().unwrap().len(), 3);

    // Drift: a replica's container removed by hand comes back as a streaming replica.
    let (leader, _) = leader_and_timeline(&c);
    let victim = ["pg1", "pg2", "pg3"]
        .into_iter()
        .find(|m| *m != leader)
        .unwrap();
    docker(&["rm", "-f", &c.container(victim)]);
    c.up();
    assert_eq!(image_of(&c.container(victim)), new_id);
    eventually(
        &format!("{victim} streaming again"),
        Duration::from_secs(60),
        || async { (member_row(&c.list_json(), victim)["state"] == "streaming").then_some(()) },
    )
    .await;

    // etcd 3 -> 5 -> 3 members through etcd's runtime reconfiguration, with a raft leader seen
    // by etcd1 throughout; the nodes are not restarted for it.
    let nodes_before = docker(&["inspect", "-f", "{{.Id}}", &c.container("pg1")]);
    let watch = LeaderWatch::start(&c.etcd_endpoints()[0]);
    c.respec(&format!("{with_image}[etcd]\nmembers = 5\n"));
    let plan = json(&c.pgha(&["plan", "--json"], T));
    let vol = |m: &str| format!("create volume {}-{m}-data", c.name);
    assert_eq!(
        actions(&plan),
        [
            vol("etcd4"),
            vol("etcd5"),
            "add etcd4 to etcd's membership".into(),
            "add etcd5 to etcd's membership".into(),
            // Prometheus scrapes the new members.
            format!("replace {}", c.container("prometheus"))
        ],
        "{plan}"
    );
    roll(&c);
    assert_eq!(
        etcd_member_names(&c),
        ["etcd1", "etcd2", "etcd3", "etcd4", "etcd5"]
    );
    c.respec(&with_image);
    roll(&c);
    assert_eq!(etcd_member_names(&c), ["etcd1", "etcd2", "etcd3"]);
    for gone in ["etcd4", "etcd5"] {
        assert!(!c.labelled("container").contains(&c.container(gone)));
        assert!(!c
            .labelled("volume")
            .contains(&format!("{}-{gone}-data", c.name)));
    }
    let (samples, leaderless) = watch.stop().await;
    eprintln!("etcd1 status: {samples} samples, {leaderless} without a raft leader");
    assert!(samples >= 20, "too few status samples to tell: {samples}");
    assert_eq!(leaderless, 0, "etcd1 saw no raft leader {leaderless} times");
    assert_eq!(
        docker(&["inspect", "-f", "{{.Id}}", &c.container("pg1")]),
        nodes_before,
        "an etcd membership change must not replace the nodes"
    );

    // etcd2 loses its container and volume: up takes it out of the membership and adds it again.
    let old_id = etcd_member_id(&c, "etcd2");
    docker(&["rm", "-f", &c.container("etcd2")]);
    docker(&["volume", "rm", &format!("{}-etcd2-data", c.name)]);
    let plan = json(&c.pgha(&["plan", "--json"], T));
    assert_eq!(
        actions(&plan),
        [vol("etcd2"), "add etcd2 to etcd's membership".into()],
        "{plan}"
    );
    assert!(
        plan["steps"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("data volume is gone"),
        "{plan}"
    );
    roll(&c);
    assert_eq!(etcd_member_names(&c), ["etcd1", "etcd2", "etcd3"]);
    assert_ne!(
        etcd_member_id(&c, "etcd2"),
        old_id,
        "etcd2 joined again as a new member"
    );
    assert_eq!(c.list_json()["members"].as_array().unwrap().len(), 3);

    // Four members more in one step: refused with the reason, nothing touched.
    let all = c.labelled("container");
    let before = ids();
    c.respec(&format!("{with_image}[etcd]\nmembers = 7\n"));
    let out = c.pgha_output(&["up", "--yes"], T);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("change the membership by two members per `pgha up` (3 -> 5)"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(c.labelled("container"), all);
    assert_eq!(ids(), before);
    c.respec(&with_image);

    let written = w.finish().await;
    eprintln!(
        "independent writer: {} writes acknowledged, longest gap {:?}",
        written.acked.len(),
        written.longest_gap
    );
    writer::assert_no_acked_write_lost(&c, "conv_rows", &written.acked, 200, &[0, 1, 2]).await;
}
