//! What `pgha down` stops, in which order, and what it asks first. Monitoring and HAProxy go
//! first (clients stop reaching the cluster), then the replicas, then the leader on its own (its
//! clean shutdown checkpoint is the last word of the cluster, and no replica is left to take over
//! the key half-way), then etcd. Pure.

use super::converge::ObservedContainer;
use super::Kind;

/// The containers in the groups `down` stops one after the other (a group's members together).
/// Without a known leader the nodes are one group.
pub fn down_order<'a>(
    containers: &'a [ObservedContainer],
    leader: Option<&str>,
) -> Vec<Vec<&'a ObservedContainer>> {
    let rank = |c: &ObservedContainer| match c.kind {
        Some(Kind::Monitor) => 0,
        Some(Kind::Haproxy) => 1,
        Some(Kind::Node) if leader != Some(c.member.as_str()) => 2,
        Some(Kind::Node) => 3,
        Some(Kind::Etcd) => 4,
        None => 5,
    };
    (0..6)
        .map(|r| {
            containers
                .iter()
                .filter(|c| rank(c) == r)
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

/// The question `down` asks before it disrupts or deletes, or `None` when it does neither: a
/// cluster with a running container is stopped; `--volumes` deletes the `volumes` named (and the
/// passwords in `secrets`, when they exist).
pub fn down_question(
    cluster: &str,
    running: &[&str],
    volumes: Option<&[String]>,
    secrets: Option<&str>,
) -> Option<String> {
    let mut parts = Vec::new();
    if !running.is_empty() {
        parts.push(format!(
            "stop cluster {cluster} ({} running: {})",
            running.len(),
            running.join(", ")
        ));
    }
    match volumes {
        Some(v) if !v.is_empty() || secrets.is_some() => {
            let mut what = Vec::new();
            if !v.is_empty() {
                what.push(format!("its data volumes {}", v.join(", ")));
            }
            if let Some(s) = secrets {
                what.push(format!("its passwords and certificates ({s})"));
            }
            parts.push(format!("delete {} for good", what.join(" and ")));
        }
        _ => {}
    }
    if parts.is_empty() {
        return None;
    }
    let mut q = parts.join(", and ");
    if volumes.is_none() && !running.is_empty() {
        q.push_str(" (its data volumes are kept)");
    }
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, kind: Option<Kind>, member: &str) -> ObservedContainer {
        ObservedContainer {
            name: name.into(),
            kind,
            member: member.into(),
            running: true,
            state: "running".into(),
            config_hash: None,
            tls: false,
            image: "i".into(),
            image_id: None,
        }
    }

    fn names(g: &[Vec<&ObservedContainer>]) -> Vec<Vec<String>> {
        g.iter()
            .map(|g| g.iter().map(|c| c.name.clone()).collect())
            .collect()
    }

    #[test]
    fn replicas_stop_before_the_leader_and_etcd_last() {
        let all = vec![
            c("p-etcd1", Some(Kind::Etcd), "etcd1"),
            c("p-pg1", Some(Kind::Node), "pg1"),
            c("p-pg2", Some(Kind::Node), "pg2"),
            c("p-pg3", Some(Kind::Node), "pg3"),
            c("p-haproxy", Some(Kind::Haproxy), "haproxy"),
            c("p-prometheus", Some(Kind::Monitor), "prometheus"),
            c("p-tool", None, ""),
        ];
        assert_eq!(
            names(&down_order(&all, Some("pg2"))),
            vec![
                vec!["p-prometheus"],
                vec!["p-haproxy"],
                vec!["p-pg1", "p-pg3"],
                vec!["p-pg2"],
                vec!["p-etcd1"],
                vec!["p-tool"],
            ]
        );
        assert_eq!(
            names(&down_order(&all, None))[2],
            vec!["p-pg1", "p-pg2", "p-pg3"],
            "no leader known: the nodes together"
        );
    }

    #[test]
    fn down_asks_when_it_stops_or_deletes_and_names_what() {
        assert_eq!(down_question("p", &[], None, None), None);
        assert_eq!(
            down_question("p", &["p-pg1", "p-etcd1"], None, Some("/s/p")),
            Some("stop cluster p (2 running: p-pg1, p-etcd1) (its data volumes are kept)".into())
        );
        let vols = vec!["p-pg1-data".to_string(), "p-etcd1-data".to_string()];
        assert_eq!(
            down_question("p", &["p-pg1"], Some(&vols), Some("/s/p")),
            Some(
                "stop cluster p (1 running: p-pg1), and delete its data volumes p-pg1-data, p-etcd1-data and its passwords and certificates (/s/p) for good"
                    .into()
            )
        );
        assert_eq!(down_question("p", &[], Some(&[]), None), None);
    }
}
