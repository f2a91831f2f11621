//! The order in which `up` changes the containers of a running cluster, so that it keeps serving:
//! etcd first, one member at a time so that a quorum stays (members that lost their data join
//! again, new members join, members the spec drops leave, the highest first, then replacements),
//! then the replicas (the synchronous standby last), then the nodes to remove, then one switchover
//! off the leader (to an updated sync standby) and the old leader's own replacement or removal,
//! and HAProxy last, once it can route to every node the spec names. Pure; the executor is
//! `ops::roll`, given the order `UpPlan::roll_steps` resolves at roll time.

use super::dynamic::Impact;
use super::{Change, ContainerPlan, Kind};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Stop and remove the container (its volume stays), create it from the spec, start it, and
    /// wait until it serves again.
    Replace,
    /// Stop and remove a node the spec no longer names, and clear its member key; or take an
    /// etcd member out of etcd's membership, then remove its container and data.
    Remove,
    /// Add an etcd member to etcd's membership (`member add`) and start it into it.
    Join,
    /// Move leadership off `member` to the synchronous standby.
    Switchover,
}

/// One step of a rolling change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollStep {
    pub action: Action,
    #[serde(skip)]
    pub kind: Kind,
    pub member: String,
    pub container: String,
    pub reason: String,
    pub impact: Impact,
}

impl RollStep {
    fn of(action: Action, c: &Change, impact: Impact) -> RollStep {
        RollStep {
            action,
            kind: c.kind,
            member: c.member.clone(),
            container: c.name.clone(),
            reason: c.reason.clone(),
            impact,
        }
    }

    /// What the step does, in a few words ("replace pgha-pg2", "switch over from pg1").
    pub fn describe(&self) -> String {
        match self.action {
            Action::Replace => format!("replace {}", self.container),
            Action::Remove => format!("remove {}", self.container),
            Action::Join => format!("add {} to etcd's membership", self.member),
            Action::Switchover => format!("switch over from {}", self.member),
        }
    }
}

/// The steps for `plan`'s replacements and removals, given the leader and the synchronous
/// standbys etcd names now (`leader` None: none is known, and every node counts as a replica).
pub fn order(
    plan: &ContainerPlan,
    leader: Option<&str>,
    sync_standbys: &[String],
) -> Vec<RollStep> {
    let mut steps: Vec<RollStep> = plan
        .etcd_join
        .iter()
        .map(|c| RollStep::of(Action::Join, c, Impact::None))
        .collect();
    steps.extend(
        plan.remove
            .iter()
            .filter(|c| c.kind == Kind::Etcd)
            .map(|c| RollStep::of(Action::Remove, c, Impact::None)),
    );
    let of_kind = |k: Kind| plan.replace.iter().filter(move |c| c.kind == k);
    steps.extend(
        of_kind(Kind::Etcd).map(|c| RollStep::of(Action::Replace, c, Impact::MemberRestart)),
    );

    let is_leader = |c: &&Change| Some(c.member.as_str()) == leader;
    let is_sync = |c: &Change| sync_standbys.contains(&c.member);
    let mut replicas: Vec<&Change> = of_kind(Kind::Node).filter(|c| !is_leader(c)).collect();
    // The synchronous standby last: while it restarts, the leader names another one.
    replicas.sort_by_key(|c| (is_sync(c), c.name.clone()));
    steps.extend(
        replicas
            .into_iter()
            .map(|c| RollStep::of(Action::Replace, c, Impact::MemberRestart)),
    );
    let removed_nodes = || plan.remove.iter().filter(|c| c.kind == Kind::Node);
    steps.extend(
        removed_nodes()
            .filter(|c| !is_leader(c))
            .map(|c| RollStep::of(Action::Remove, c, Impact::MemberRestart)),
    );

    let leader_change = of_kind(Kind::Node)
        .find(is_leader)
        .map(|c| (Action::Replace, c))
        .or_else(|| removed_nodes().find(is_leader).map(|c| (Action::Remove, c)));
    if let Some((action, c)) = leader_change {
        let mut off = RollStep::of(Action::Switchover, c, Impact::Switchover);
        off.reason = format!(
            "{} leads; leadership moves to the synchronous standby before it is {}",
            c.member,
            if action == Action::Replace {
                "replaced"
            } else {
                "removed"
            }
        );
        steps.push(off);
        steps.push(RollStep::of(action, c, Impact::MemberRestart));
    }
    steps.extend(
        of_kind(Kind::Haproxy).map(|c| RollStep::of(Action::Replace, c, Impact::MemberRestart)),
    );
    // Monitoring last: it serves no client, and sees the roll through.
    steps.extend(of_kind(Kind::Monitor).map(|c| RollStep::of(Action::Replace, c, Impact::None)));
    steps.extend(
        plan.remove
            .iter()
            .filter(|c| c.kind == Kind::Monitor)
            .map(|c| RollStep::of(Action::Remove, c, Impact::None)),
    );
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: Kind, member: &str) -> Change {
        Change {
            name: format!("c-{member}"),
            kind,
            member: member.into(),
            reason: "image a -> b".into(),
        }
    }

    fn words(steps: &[RollStep]) -> Vec<String> {
        steps
            .iter()
            .map(|s| format!("{} ({})", s.describe(), s.impact.word()))
            .collect()
    }

    #[test]
    fn etcd_then_replicas_sync_standby_last_then_one_switchover_then_the_leader_then_haproxy() {
        let plan = ContainerPlan {
            replace: vec![
                change(Kind::Etcd, "etcd1"),
                change(Kind::Etcd, "etcd2"),
                change(Kind::Node, "pg1"),
                change(Kind::Node, "pg2"),
                change(Kind::Node, "pg3"),
                change(Kind::Haproxy, "haproxy"),
            ],
            ..Default::default()
        };
        let steps = order(&plan, Some("pg2"), &["pg1".to_string()]);
        assert_eq!(
            words(&steps),
            [
                "replace c-etcd1 (restart of one member)",
                "replace c-etcd2 (restart of one member)",
                "replace c-pg3 (restart of one member)",
                "replace c-pg1 (restart of one member)",
                "switch over from pg2 (switchover)",
                "replace c-pg2 (restart of one member)",
                "replace c-haproxy (restart of one member)",
            ]
        );
        assert!(steps[4].reason.contains("before it is replaced"));
    }

    #[test]
    fn etcd_members_join_and_leave_before_anything_restarts() {
        let plan = ContainerPlan {
            etcd_join: vec![change(Kind::Etcd, "etcd2"), change(Kind::Etcd, "etcd4")],
            remove: vec![change(Kind::Etcd, "etcd5")],
            replace: vec![change(Kind::Etcd, "etcd1"), change(Kind::Node, "pg1")],
            ..Default::default()
        };
        assert_eq!(
            words(&order(&plan, Some("pg2"), &[])),
            [
                "add etcd2 to etcd's membership (none)",
                "add etcd4 to etcd's membership (none)",
                "remove c-etcd5 (none)",
                "replace c-etcd1 (restart of one member)",
                "replace c-pg1 (restart of one member)",
            ]
        );
    }

    #[test]
    fn a_removed_leader_hands_over_first_and_replicas_need_no_switchover() {
        let plan = ContainerPlan {
            replace: vec![change(Kind::Haproxy, "haproxy")],
            remove: vec![change(Kind::Node, "pg4"), change(Kind::Node, "pg5")],
            ..Default::default()
        };
        let steps = order(&plan, Some("pg4"), &[]);
        assert_eq!(
            words(&steps),
            [
                "remove c-pg5 (restart of one member)",
                "switch over from pg4 (switchover)",
                "remove c-pg4 (restart of one member)",
                "replace c-haproxy (restart of one member)",
            ]
        );
        assert!(steps[1].reason.contains("before it is removed"));
        let replicas_only = order(&plan, Some("pg1"), &[]);
        assert!(replicas_only.iter().all(|s| s.action != Action::Switchover));
        assert!(order(&ContainerPlan::default(), Some("pg1"), &[]).is_empty());
    }
}
