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

/// A manual failover to `candidate`, allowed also when the leader is down or unhealthy. Returns
/// warnings the confirmation must show (e.g. a candidate that is not the sync standby).
pub fn failover(view: &ClusterView, candidate: &str) -> Result<Vec<String>, String> {
    let Some(m) = view.member(candidate) else {
        return Err(not_in_cluster(view, candidate));
    };
    if view.leader.as_deref() == Some(candidate) {
        return Err(format!("{candidate} is already the leader"));
    }
    if let Some(why) = pending_refusal(view).or_else(|| never_fit(m)) {
        return Err(why);
    }
    let mut warnings = Vec::new();
    if view.synchronous_mode() && !view.sync_standbys.is_empty() && !view.is_sync_standby(candidate)
    {
        warnings.push(format!(
            "{candidate} is not the synchronous standby ({}): commits acknowledged only by the sync standby may be lost",
            view.sync_standbys.join(", ")
        ));
    }
    if let Lag::Bytes(b) = view.lag_bytes(m) {
        if b > 0 {
            warnings.push(format!(
                "{candidate} lags {b} bytes behind the last known leader position"
            ));
        }
    }
    Ok(warnings)
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
