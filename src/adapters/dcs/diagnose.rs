//! Why etcd cannot serve a request, in one line a user can act on. Pure: it judges what a probe
//! of every endpoint found (who answers, who knows a raft leader), never a library's error text.

/// One etcd member that answered a status call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The endpoint as the user gave it (`127.0.0.1:2379`).
    pub endpoint: String,
    /// The member's name in etcd (`etcd3`); the endpoint when etcd did not say.
    pub member: String,
    /// It knows a raft leader.
    pub has_leader: bool,
    /// How far its log goes: the member with the highest index has the latest state.
    pub raft_index: u64,
    /// Members in the etcd cluster, as this member's member list has them.
    pub cluster_size: Option<usize>,
}

/// What probing one endpoint found: `None` when it did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub endpoint: String,
    pub answer: Option<Answer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// No endpoint answers at all.
    Unreachable,
    /// Some members answer, but there is no quorum (or no leader) to serve a linearizable read.
    NoQuorum,
    /// etcd has a quorum, yet the request failed.
    Failed,
}

/// etcd could not serve a request: the one-line reason, and the members that still answer (for a
/// stale read of their last known state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdUnavailable {
    pub problem: Problem,
    /// What is true, e.g. `etcd has no quorum: 1 of 3 members answer (etcd3)`.
    pub reason: String,
    /// What to do about it (may be empty).
    pub hint: String,
    /// Members that answer, the most up to date first.
    pub answering: Vec<Answer>,
}

impl std::fmt::Display for EtcdUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.hint.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}; {}", self.reason, self.hint)
        }
    }
}

impl std::error::Error for EtcdUnavailable {}

const STALE_HINT: &str = "`pgha list --stale` shows the last known state";

fn answering(probes: &[Probe]) -> Vec<Answer> {
    let mut a: Vec<Answer> = probes.iter().filter_map(|p| p.answer.clone()).collect();
    a.sort_by_key(|x| std::cmp::Reverse(x.raft_index));
    a
}

/// The etcd cluster's size: what the members' member lists say, else the number of endpoints.
fn cluster_size(endpoints: &[String], answers: &[Answer]) -> usize {
    answers
        .iter()
        .filter_map(|a| a.cluster_size)
        .max()
        .unwrap_or(endpoints.len())
        .max(answers.len())
}

fn names(answers: &[Answer]) -> String {
    let mut n: Vec<&str> = answers.iter().map(|a| a.member.as_str()).collect();
    n.sort();
    n.join(", ")
}

/// Judges the probes of every endpoint: `None` when etcd can serve a linearizable read (a quorum
/// answers and knows a leader), else what is wrong.
pub fn judge(endpoints: &[String], probes: &[Probe]) -> Option<EtcdUnavailable> {
    let answers = answering(probes);
    if answers.is_empty() {
        return Some(EtcdUnavailable {
            problem: Problem::Unreachable,
            reason: format!(
                "etcd does not answer at {}: is the cluster up? (pgha up)",
                endpoints.join(", ")
            ),
            hint: String::new(),
            answering: answers,
        });
    }
    let n = cluster_size(endpoints, &answers);
    let k = answers.len();
    let reason = if k < n / 2 + 1 {
        format!(
            "etcd has no quorum: {k} of {n} members answer ({})",
            names(&answers)
        )
    } else if !answers.iter().any(|a| a.has_leader) {
        format!(
            "etcd has no leader: {k} of {n} members answer ({}) but none knows a leader (an election may be under way; try again)",
            names(&answers)
        )
    } else {
        return None;
    };
    Some(EtcdUnavailable {
        problem: Problem::NoQuorum,
        reason,
        hint: STALE_HINT.into(),
        answering: answers,
    })
}

/// While a read is still pending: stop waiting for it only when it cannot succeed: nobody
/// answers, or fewer than a quorum answer and none of them knows a leader. (Members we cannot
/// reach may still form a quorum among themselves; then the ones we reach know its leader.)
pub fn hopeless(endpoints: &[String], probes: &[Probe]) -> Option<EtcdUnavailable> {
    let verdict = judge(endpoints, probes)?;
    let answers = &verdict.answering;
    let n = cluster_size(endpoints, answers);
    let hopeless =
        answers.is_empty() || (answers.len() < n / 2 + 1 && !answers.iter().any(|a| a.has_leader));
    hopeless.then_some(verdict)
}

/// The member to retry a request on: one that answers and knows the leader, the most up to date.
pub fn serving(probes: &[Probe]) -> Option<Answer> {
    answering(probes).into_iter().find(|a| a.has_leader)
}

/// A request failed although etcd looks able to serve it: say which request, where, and etcd's
/// own word (`detail`, already free of library internals).
pub fn failed(endpoints: &[String], what: &str, detail: &str, probes: &[Probe]) -> EtcdUnavailable {
    EtcdUnavailable {
        problem: Problem::Failed,
        reason: format!("etcd at {}: {what} failed: {detail}", endpoints.join(", ")),
        hint: String::new(),
        answering: answering(probes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps() -> Vec<String> {
        (1..=3).map(|i| format!("127.0.0.1:5434{i}")).collect()
    }

    fn probe(i: usize, leader: bool, index: u64) -> Probe {
        Probe {
            endpoint: eps()[i].clone(),
            answer: Some(Answer {
                endpoint: eps()[i].clone(),
                member: format!("etcd{}", i + 1),
                has_leader: leader,
                raft_index: index,
                cluster_size: Some(3),
            }),
        }
    }

    fn silent(i: usize) -> Probe {
        Probe {
            endpoint: eps()[i].clone(),
            answer: None,
        }
    }

    #[test]
    fn nobody_answers_names_every_endpoint() {
        let v = judge(&eps(), &[silent(0), silent(1), silent(2)]).unwrap();
        assert_eq!(v.problem, Problem::Unreachable);
        assert_eq!(
            v.to_string(),
            "etcd does not answer at 127.0.0.1:54341, 127.0.0.1:54342, 127.0.0.1:54343: is the cluster up? (pgha up)"
        );
        assert!(hopeless(&eps(), &[silent(0), silent(1), silent(2)]).is_some());
    }

    #[test]
    fn one_of_three_is_no_quorum_and_names_the_member() {
        let probes = [silent(0), silent(1), probe(2, false, 40)];
        let v = judge(&eps(), &probes).unwrap();
        assert_eq!(v.problem, Problem::NoQuorum);
        assert_eq!(
            v.to_string(),
            "etcd has no quorum: 1 of 3 members answer (etcd3); `pgha list --stale` shows the last known state"
        );
        assert_eq!(v.answering[0].member, "etcd3");
        assert!(hopeless(&eps(), &probes).is_some());
    }

    #[test]
    fn a_member_that_still_knows_a_leader_is_not_given_up_on() {
        // Just after two members stop, or when only our way to them is cut: wait for the read.
        let probes = [silent(0), silent(1), probe(2, true, 40)];
        assert!(hopeless(&eps(), &probes).is_none());
        assert_eq!(judge(&eps(), &probes).unwrap().problem, Problem::NoQuorum);
    }

    #[test]
    fn a_quorum_with_a_leader_is_fine_and_without_one_is_an_election() {
        assert!(judge(&eps(), &[silent(0), probe(1, true, 9), probe(2, true, 9)]).is_none());
        let probes = [silent(0), probe(1, false, 9), probe(2, false, 12)];
        let v = judge(&eps(), &probes).unwrap();
        assert!(v
            .reason
            .starts_with("etcd has no leader: 2 of 3 members answer (etcd2, etcd3)"));
        assert_eq!(v.answering[0].member, "etcd3", "the most up to date first");
        assert!(hopeless(&eps(), &probes).is_none(), "an election ends soon");
        assert_eq!(serving(&probes), None);
        let probes = [silent(0), probe(1, true, 9), probe(2, true, 12)];
        assert_eq!(serving(&probes).unwrap().member, "etcd3");
    }

    #[test]
    fn the_member_list_sets_the_cluster_size() {
        // One endpoint given, but etcd has 3 members: one answering is not a quorum.
        let one = vec![eps()[2].clone()];
        let v = judge(&one, &[probe(2, false, 1)]).unwrap();
        assert!(v
            .reason
            .starts_with("etcd has no quorum: 1 of 3 members answer (etcd3)"));
    }

    #[test]
    fn a_failure_with_a_quorum_says_what_failed() {
        let v = failed(
            &eps()[..1],
            "read /service/x/",
            "etcdserver: user name is empty",
            &[probe(0, true, 1)],
        );
        assert_eq!(
            v.to_string(),
            "etcd at 127.0.0.1:54341: read /service/x/ failed: etcdserver: user name is empty"
        );
    }
}
