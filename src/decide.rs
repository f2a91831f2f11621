//! Decisions for HA operations, from the cluster as etcd shows it: may this switchover, failover or
//! reinit go ahead, and which member should take over. Pure; every refusal names the reason and,
//! where one exists, what would work.

use crate::state::{ClusterView, Lag, Member};

/// Patroni's default when the config key has none.
const DEFAULT_MAX_LAG: u64 = 1_048_576;

/// Why a member can take over in no case (tagged nofailover, or not running), or `None`.
fn never_fit(m: &Member) -> Option<String> {
    let name = &m.name;
    if m.tag_bool("nofailover") {
        return Some(format!("{name} has the nofailover tag"));
    }
    if !m.is_running() {
        return Some(format!(
            "{name} is {}, not running",
            m.data.state.as_deref().unwrap_or("in an unknown state")
        ));
    }
    None
}

fn not_in_cluster(view: &ClusterView, name: &str) -> String {
    format!(
        "member {name} is not in cluster {} (members: {})",
        view.scope,
        members_list(view)
    )
}

/// The refusal when a switchover or failover is already pending.
fn pending_refusal(view: &ClusterView) -> Option<String> {
    view.failover.is_pending().then(|| {
        format!(
            "a switchover or failover is already pending in cluster {} ({}); wait for it or cancel it",
            view.scope,
            describe_pending(view)
        )
    })
}

/// Why a member cannot take over, or `None` when it can (leader checks excluded).
pub fn unfit(view: &ClusterView, m: &Member, need_sync: bool) -> Option<String> {
    let name = &m.name;
    if let Some(why) = never_fit(m) {
        return Some(why);
    }
    if !m.is_streaming() {
        return Some(format!(
            "{name} is not streaming from the leader ({})",
            m.data
                .replication_state
                .as_deref()
                .unwrap_or("no replication state")
        ));
    }
    let max_lag = view
        .config_u64("maximum_lag_on_failover")
        .unwrap_or(DEFAULT_MAX_LAG);
    match view.lag_bytes(m) {
        Lag::Bytes(b) if b > max_lag => {
            return Some(format!(
                "{name} lags {b} bytes behind, more than maximum_lag_on_failover ({max_lag})"
            ))
        }
        Lag::Unknown => return Some(format!("{name} reports no WAL position (lag unknown)")),
        _ => {}
    }
    if let (Some(lt), Some(mt)) = (view.leader_timeline(), m.data.timeline) {
        if mt < lt {
            return Some(format!(
                "{name} is on timeline {mt}, behind the leader's {lt}"
            ));
        }
    }
    if need_sync && !view.is_sync_standby(name) {
        return Some(format!(
            "{name} is not a synchronous standby; in synchronous mode only a synchronous standby can take over ({})",
            sync_hint(view)
        ));
    }
    None
}

fn sync_hint(view: &ClusterView) -> String {
    if view.sync_standbys.is_empty() {
        "none is named right now".to_string()
    } else {
        format!("now: {}", view.sync_standbys.join(", "))
    }
}

fn members_list(view: &ClusterView) -> String {
    view.members
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A switchover that may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switchover {
    pub leader: String,
    pub candidate: String,
}

/// Validates a switchover (planned change of leader) and picks the candidate when none is named.
pub fn switchover(
    view: &ClusterView,
    candidate: Option<&str>,
    leader: Option<&str>,
    scheduled: bool,
) -> Result<Switchover, String> {
    let scope = &view.scope;
    let Some(current) = view.leader.clone() else {
        return Err(format!(
            "cluster {scope} has no leader; a switchover needs one (use `pgha failover --candidate M`)"
        ));
    };
    if let Some(l) = leader {
        if l != current {
            return Err(format!(
                "{l} is not the leader of cluster {scope}; {current} is"
            ));
        }
    }
    if view.paused() {
        if scheduled {
            return Err(format!(
                "cluster {scope} is in maintenance mode (paused): a switchover cannot be scheduled; resume first"
            ));
        }
        if candidate.is_none() {
            return Err(format!(
                "cluster {scope} is in maintenance mode (paused): name the new leader with --candidate"
            ));
        }
    }
    if let Some(why) = pending_refusal(view) {
        return Err(why);
    }
    match view.leader_member() {
        Some(l) if l.is_running() => {}
        _ => {
            return Err(format!(
                "the leader {current} is not running; use `pgha failover --candidate M` instead"
            ))
        }
    }
    let need_sync = view.synchronous_mode() && !view.sync_standbys.is_empty();
    match candidate {
        Some(c) if c == current => Err(format!(
            "{c} is already the leader; name another member with --candidate"
        )),
        Some(c) => {
            let Some(m) = view.member(c) else {
                return Err(not_in_cluster(view, c));
            };
            match unfit(view, m, need_sync) {
                Some(why) => Err(why),
                None => Ok(Switchover {
                    leader: current,
                    candidate: c.to_string(),
                }),
            }
        }
        None => best_candidate(view, &current, need_sync)
            .map(|c| Switchover {
                leader: current.clone(),
                candidate: c,
            })
            .ok_or_else(|| {
                let reasons: Vec<String> = view
                    .members
                    .iter()
                    .filter(|m| m.name != current)
                    .filter_map(|m| unfit(view, m, need_sync))
                    .collect();
                format!(
                    "no member can take over from {current}: {}",
                    if reasons.is_empty() {
                        "there are no other members".to_string()
                    } else {
                        reasons.join("; ")
                    }
                )
            }),
    }
}

/// The best member to take over: a sync standby first, then the least lag, then by name.
pub fn best_candidate(view: &ClusterView, leader: &str, need_sync: bool) -> Option<String> {
    let mut fit: Vec<&Member> = view
        .members
        .iter()
        .filter(|m| m.name != leader && unfit(view, m, need_sync).is_none())
        .collect();
    fit.sort_by_key(|m| {
        let lag = match view.lag_bytes(m) {
            Lag::Bytes(b) => b,
            _ => u64::MAX,
        };
        (!view.is_sync_standby(&m.name), lag, m.name.clone())
    });
    fit.first().map(|m| m.name.clone())
}

fn describe_pending(view: &ClusterView) -> String {
    let f = &view.failover;
    let mut parts = Vec::new();
    if let Some(l) = &f.leader {
        parts.push(format!("from {l}"));
    }
    if let Some(m) = &f.member {
        parts.push(format!("to {m}"));
    }
    if let Some(at) = &f.scheduled_at {
        parts.push(format!("at {at}"));
    }
    parts.join(" ")
}

/// The risk of a manual failover to a candidate that may not have every acknowledged commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLossRisk {
    pub candidate: String,
    /// The sync standbys when synchronous mode names some and the candidate is none of them.
    pub not_sync_of: Option<Vec<String>>,
    pub lag: Lag,
}

impl DataLossRisk {
    /// One phrase naming the risk and the candidate's lag in bytes.
    pub fn describe(&self) -> String {
        let c = &self.candidate;
        let lag = match self.lag {
            Lag::Bytes(b) => format!("lags {b} bytes behind the leader's last known position"),
            _ => "reports no WAL position (lag unknown)".to_string(),
        };
        match &self.not_sync_of {
            Some(sync) => format!(
                "DATA LOSS RISK: {c} is not the synchronous standby ({}) and {lag}; commits acknowledged by the sync standby may be lost",
                sync.join(", ")
            ),
            None => format!(
                "DATA LOSS RISK: {c} {lag}; commits acknowledged by the leader may be lost"
            ),
        }
    }
}

/// A manual failover to `candidate`, allowed also when the leader is down or unhealthy. Returns
/// the data-loss risk the confirmation must name, if any (a candidate that is not the sync standby
/// in synchronous mode, or that lags by more than 0 bytes or an unknown amount); such a failover is
/// refused unless `allow_data_loss`.
pub fn failover(
    view: &ClusterView,
    candidate: &str,
    allow_data_loss: bool,
) -> Result<Option<DataLossRisk>, String> {
    let Some(m) = view.member(candidate) else {
        return Err(not_in_cluster(view, candidate));
    };
    if view.leader.as_deref() == Some(candidate) {
        return Err(format!("{candidate} is already the leader"));
    }
    if let Some(why) = pending_refusal(view).or_else(|| never_fit(m)) {
        return Err(why);
    }
    let not_sync_of = (view.synchronous_mode()
        && !view.sync_standbys.is_empty()
        && !view.is_sync_standby(candidate))
    .then(|| view.sync_standbys.clone());
    let lag = view.lag_bytes(m);
    if not_sync_of.is_none() && matches!(lag, Lag::Bytes(0)) {
        return Ok(None);
    }
    let risk = DataLossRisk {
        candidate: candidate.to_string(),
        not_sync_of,
        lag,
    };
    if !allow_data_loss {
        return Err(format!(
            "{}; refused: pass --allow-data-loss to fail over anyway",
            risk.describe()
        ));
    }
    Ok(Some(risk))
}

/// A member a `stop` or `restart --container` takes down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Down {
    Node(String),
    Etcd(String),
    Haproxy,
}

/// What the stop guard looks at: the cluster as etcd shows it (`None` when it cannot be read),
/// the spec's etcd members and those that answer healthy now.
#[derive(Debug, Clone)]
pub struct StopFacts<'a> {
    pub view: Option<&'a ClusterView>,
    pub etcd_members: usize,
    pub etcd_healthy: Vec<String>,
}

/// Why taking these members down would cost etcd quorum or data safety; empty when it would not.
/// `stop` takes them down together (`cumulative`); `restart --container` one at a time, each back
/// before the next.
pub fn stop_guard(facts: &StopFacts, targets: &[Down], cumulative: bool) -> Vec<String> {
    let quorum = facts.etcd_members / 2 + 1;
    let mut down_etcd: Vec<&str> = Vec::new();
    let mut down_nodes: Vec<&str> = Vec::new();
    let mut why = Vec::new();
    for t in targets {
        if !cumulative {
            down_etcd.clear();
            down_nodes.clear();
        }
        match t {
            Down::Haproxy => {}
            Down::Etcd(e) => {
                if facts.etcd_healthy.iter().any(|h| h == e) && !down_etcd.contains(&e.as_str()) {
                    down_etcd.push(e);
                    let left = facts
                        .etcd_healthy
                        .iter()
                        .filter(|h| !down_etcd.contains(&h.as_str()))
                        .count();
                    if left < quorum {
                        why.push(format!(
                            "{e}: would leave {left} of {} etcd members healthy, below the quorum of {quorum} (etcd stops answering and Patroni demotes the leader)",
                            facts.etcd_members
                        ));
                    }
                }
            }
            Down::Node(n) => {
                let Some(view) = facts.view else {
                    why.push(format!(
                        "{n}: the cluster's state cannot be read from etcd, so its safety cannot be checked"
                    ));
                    continue;
                };
                down_nodes.push(n);
                let leader = view.leader_member().filter(|l| l.is_running());
                if let Some(l) = leader {
                    if l.name != *n && view.synchronous_mode() && view.is_sync_standby(n) {
                        why.push(format!(
                            "{n}: is the synchronous standby of the leader {} (synchronous mode); commits would wait or lose their second copy",
                            l.name
                        ));
                    }
                }
                let me = view.member(n);
                let is_replica = me.is_some_and(|m| m.is_running())
                    && view.leader.as_deref() != Some(n.as_str());
                if is_replica {
                    let others = view
                        .members
                        .iter()
                        .filter(|m| {
                            view.leader.as_deref() != Some(m.name.as_str())
                                && m.is_running()
                                && !down_nodes.contains(&m.name.as_str())
                        })
                        .count();
                    if others == 0 {
                        why.push(format!(
                            "{n}: is the last running replica; the leader would be left without a copy"
                        ));
                    }
                }
            }
        }
    }
    why
}

/// A member's PostgreSQL start time in its REST status (`GET /patroni`), when it runs.
pub fn start_time(status: &serde_json::Value) -> Option<&str> {
    status
        .get("postmaster_start_time")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

/// True when `now` is a PostgreSQL start other than the one seen before (`None`: none ran).
pub fn is_new_start(before: Option<&str>, now: Option<&str>) -> bool {
    matches!(now, Some(n) if Some(n) != before)
}

/// Ok once `member`'s REST status shows a new PostgreSQL start (see `is_new_start`) that runs:
/// as the leader when etcd names it leader, else as a replica streaming on the leader's timeline.
pub fn restarted(
    view: &ClusterView,
    member: &str,
    before: Option<&str>,
    status: &serde_json::Value,
) -> Result<(), String> {
    let now = start_time(status);
    if !is_new_start(before, now) {
        return Err(format!(
            "{member} has not started again yet (PostgreSQL started {})",
            now.unwrap_or("-: not running")
        ));
    }
    let state = status.get("state").and_then(|v| v.as_str()).unwrap_or("?");
    if state != "running" {
        return Err(format!("{member} is {state}"));
    }
    let role = status.get("role").and_then(|v| v.as_str()).unwrap_or("?");
    if view.leader.as_deref() == Some(member) {
        return if matches!(role, "primary" | "master") {
            Ok(())
        } else {
            Err(format!("{member} holds the leader key but runs as {role}"))
        };
    }
    let streaming = status.get("replication_state").and_then(|v| v.as_str());
    let timeline = status.get("timeline").and_then(|v| v.as_u64());
    match (
        view.leader.as_deref(),
        streaming,
        timeline,
        view.leader_timeline(),
    ) {
        (Some(_), Some("streaming"), Some(t), Some(lt)) if t == lt => Ok(()),
        (None, ..) => Err("the cluster has no leader".into()),
        _ => Err(format!(
            "{member} runs as {role}, {} on timeline {}",
            streaming.unwrap_or("not streaming"),
            timeline.map(|t| t.to_string()).unwrap_or("?".into())
        )),
    }
}

/// A reinit of `member` (rebuild from the leader) may go ahead.
pub fn reinit(view: &ClusterView, member: &str) -> Result<(), String> {
    let scope = &view.scope;
    if view.member(member).is_none() {
        return Err(not_in_cluster(view, member));
    }
    let Some(leader) = view.leader.as_deref() else {
        return Err(format!(
            "cluster {scope} has no leader to copy from; reinit needs one"
        ));
    };
    if leader == member {
        return Err(format!(
            "{member} is the leader; reinit rebuilds a replica from the leader (switch over first)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
