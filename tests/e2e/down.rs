//! What `pgha down` left behind, for the lifecycle test: the order Docker saw the containers die
//! in, and the state pg_controldata reads on a stopped node's data volume.

use crate::harness::*;

/// The order in which Docker saw the cluster's containers die since `since` (unix seconds):
/// HAProxy before every node, the replicas before the leader, the leader before etcd.
pub fn assert_down_order(c: &TestCluster, since: u64, leader: &str) {
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let died = docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until.to_string(),
        "--filter",
        &format!("label=io.pgha.cluster={}", c.name),
        "--filter",
        "event=die",
        "--format",
        "{{.Actor.Attributes.name}}",
    ]);
    let died: Vec<&str> = died.lines().collect();
    let at = |name: String| {
        died.iter()
            .position(|d| *d == name)
            .unwrap_or_else(|| panic!("{name} did not die: {died:?}"))
    };
    let leader_at = at(c.container(leader));
    for m in ["pg1", "pg2", "pg3"].into_iter().filter(|m| *m != leader) {
        assert!(
            at(c.container(m)) < leader_at,
            "{m} before the leader: {died:?}"
        );
    }
    assert!(
        at(c.container("haproxy")) < at(c.container("pg1")),
        "{died:?}"
    );
    assert!(leader_at < at(c.container("etcd1")), "{died:?}");
}

/// What pg_controldata says of a stopped node's data volume ("shut down": a clean shutdown
/// checkpoint; "shut down in recovery": a replica stopped cleanly).
pub fn cluster_state(c: &TestCluster, image: &str, member: &str) -> String {
    let volume = pgha::spec::names::volume_name(&c.kit.spec().unwrap(), member);
    let out = docker(&[
        "run",
        "--rm",
        "--label",
        &format!("io.pgha.test={}", c.test),
        "--user",
        "postgres",
        "-v",
        &format!("{volume}:/var/lib/postgresql/data"),
        "--entrypoint",
        "pg_controldata",
        image,
        "/var/lib/postgresql/data/pgdata",
    ]);
    out.lines()
        .find_map(|l| l.strip_prefix("Database cluster state:"))
        .unwrap_or_else(|| panic!("no state in {out}"))
        .trim()
        .to_string()
}
