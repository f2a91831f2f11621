//! Patroni's cluster state as it stands in etcd (`/service/<scope>/...`), parsed into a view the
//! commands reason about. Pure: callers hand in the key/value pairs read from etcd.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One key read from etcd.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kv {
    pub key: String,
    pub value: String,
    pub mod_revision: i64,
    pub lease: i64,
}

/// A member key's JSON (`members/<name>`), as Patroni 3.x and 4.x write it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct MemberData {
    #[serde(default)]
    pub conn_url: Option<String>,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub xlog_location: Option<u64>,
    #[serde(default)]
    pub timeline: Option<u64>,
    #[serde(default)]
    pub replication_state: Option<String>,
    #[serde(default)]
    pub tags: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub pending_restart: Option<bool>,
    #[serde(default)]
    pub pause: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: String,
    pub data: MemberData,
    pub lease: i64,
    pub mod_revision: i64,
}

impl Member {
    /// `primary` (Patroni 4) or `master` (Patroni 3).
    pub fn is_primary_role(&self) -> bool {
        matches!(self.data.role.as_deref(), Some("primary" | "master"))
    }

    pub fn is_streaming(&self) -> bool {
        self.data.replication_state.as_deref() == Some("streaming")
    }

    pub fn is_running(&self) -> bool {
        self.data.state.as_deref() == Some("running")
    }

    pub fn tag_bool(&self, tag: &str) -> bool {
        self.data
            .tags
            .as_ref()
            .and_then(|t| t.get(tag))
            .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"))
    }

    /// Host (and port) of `conn_url`, e.g. `pg1:5432`.
    pub fn host_port(&self) -> Option<(String, u16)> {
        let url = self.data.conn_url.as_deref()?;
        let rest = url.split("://").nth(1)?;
        let hostport = rest.split('/').next()?;
        let hostport = hostport.rsplit('@').next()?;
        match hostport.rsplit_once(':') {
            Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
            None => Some((hostport.to_string(), 5432)),
        }
    }
}

/// The `failover` key: a pending switchover/failover, or none (`{}` or absent).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Failover {
    #[serde(default)]
    pub leader: Option<String>,
    #[serde(default, alias = "candidate")]
    pub member: Option<String>,
    #[serde(default)]
    pub scheduled_at: Option<String>,
}

impl Failover {
    pub fn is_pending(&self) -> bool {
        self.leader.is_some() || self.member.is_some()
    }
}

/// One `history` entry: `[timeline, lsn, reason, timestamp, new_leader]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub timeline: u64,
    pub lsn: u64,
    pub reason: String,
    pub timestamp: Option<String>,
    pub new_leader: Option<String>,
}

/// Everything under one cluster's prefix.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterView {
    pub scope: String,
    /// The `initialize` key: the system identifier ("" while bootstrapping).
    pub initialize: Option<String>,
    pub config: Option<Value>,
    pub config_revision: i64,
    pub leader: Option<String>,
    pub leader_lease: i64,
    pub leader_revision: i64,
    pub members: Vec<Member>,
    /// `status.optime`, or the legacy `optime/leader`.
    pub optime: Option<u64>,
    pub sync_standbys: Vec<String>,
    pub sync_leader: Option<String>,
    pub failover: Failover,
    pub failover_revision: i64,
    pub history: Vec<HistoryEntry>,
}

impl ClusterView {
    /// Builds the view from every key under `prefix` (e.g. `/service/pgha/`).
    pub fn from_kvs(scope: &str, prefix: &str, kvs: &[Kv]) -> ClusterView {
        let mut v = ClusterView {
            scope: scope.to_string(),
            ..Default::default()
        };
        let mut legacy_optime = None;
        for kv in kvs {
            let Some(rel) = kv.key.strip_prefix(prefix) else {
                continue;
            };
            match rel {
                "initialize" => v.initialize = Some(kv.value.clone()),
                "config" => {
                    v.config = serde_json::from_str(&kv.value).ok();
                    v.config_revision = kv.mod_revision;
                }
                "leader" => {
                    v.leader = Some(kv.value.clone());
                    v.leader_lease = kv.lease;
                    v.leader_revision = kv.mod_revision;
                }
                "status" => {
                    let s: Value = serde_json::from_str(&kv.value).unwrap_or(Value::Null);
                    v.optime = s.get("optime").and_then(Value::as_u64);
                }
                "optime/leader" => legacy_optime = kv.value.trim().parse().ok(),
                "sync" => {
                    let s: Value = serde_json::from_str(&kv.value).unwrap_or(Value::Null);
                    v.sync_leader = s.get("leader").and_then(Value::as_str).map(String::from);
                    v.sync_standbys = s
                        .get("sync_standby")
                        .and_then(Value::as_str)
                        .map(|x| x.split(',').map(|n| n.trim().to_string()).collect())
                        .unwrap_or_default();
                }
                "failover" => {
                    v.failover = parse_failover(&kv.value);
                    v.failover_revision = kv.mod_revision;
                }
                "history" => v.history = parse_history(&kv.value),
                _ => {
                    if let Some(name) = rel.strip_prefix("members/") {
                        if !name.is_empty() && !name.contains('/') {
                            v.members.push(Member {
                                name: name.to_string(),
                                data: serde_json::from_str(&kv.value).unwrap_or_default(),
                                lease: kv.lease,
                                mod_revision: kv.mod_revision,
                            });
                        }
                    }
                }
            }
        }
        if v.optime.is_none() {
            v.optime = legacy_optime;
        }
        v.members.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    pub fn leader_member(&self) -> Option<&Member> {
        self.leader.as_deref().and_then(|l| self.member(l))
    }

    /// `config.pause` is true: maintenance mode.
    pub fn paused(&self) -> bool {
        self.config
            .as_ref()
            .and_then(|c| c.get("pause"))
            .is_some_and(|p| p.as_bool() == Some(true) || p.as_str() == Some("true"))
    }

    pub fn synchronous_mode(&self) -> bool {
        self.config
            .as_ref()
            .and_then(|c| c.get("synchronous_mode"))
            .is_some_and(|m| match m {
                Value::Bool(b) => *b,
                Value::String(s) => matches!(s.as_str(), "on" | "true" | "quorum"),
                _ => false,
            })
    }

    pub fn config_u64(&self, key: &str) -> Option<u64> {
        self.config.as_ref().and_then(|c| c.get(key)).and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    }

    pub fn is_sync_standby(&self, name: &str) -> bool {
        self.synchronous_mode()
            && self
                .sync_standbys
                .iter()
                .any(|s| s.eq_ignore_ascii_case(name))
    }

    /// The system identifier, as patronictl shows it in the header.
    pub fn system_id(&self) -> String {
        match self.initialize.as_deref() {
            None => "uninitialized".into(),
            Some("") => "initializing".into(),
            Some(id) => id.to_string(),
        }
    }

    /// Role as patronictl shows it: Leader, Sync Standby or Replica.
    pub fn role_of(&self, m: &Member) -> Role {
        if self.leader.as_deref() == Some(m.name.as_str()) {
            Role::Leader
        } else if self.leader.is_some() && self.is_sync_standby(&m.name) {
            Role::SyncStandby
        } else {
            Role::Replica
        }
    }

    /// Lag in bytes behind `status.optime`; `None` when unknown; leader: `None`.
    pub fn lag_bytes(&self, m: &Member) -> Lag {
        if self.leader.as_deref() == Some(m.name.as_str()) {
            return Lag::Leader;
        }
        let cluster_lsn = self.optime.unwrap_or(0);
        match m.data.xlog_location {
            None => Lag::Unknown,
            Some(lsn) if cluster_lsn >= lsn => Lag::Bytes(cluster_lsn - lsn),
            Some(_) => Lag::Bytes(0),
        }
    }

    /// State as patronictl shows it: replication state for non-leaders that report one.
    pub fn state_of(&self, m: &Member) -> String {
        let is_leader = self.leader.as_deref() == Some(m.name.as_str());
        match (&m.data.replication_state, is_leader) {
            (Some(rs), false) => rs.clone(),
            _ => m.data.state.clone().unwrap_or_default(),
        }
    }

    /// Ok when `member` runs as a replica streaming on the leader's timeline, in a member key
    /// written after `min_revision` (a stale key left by a stopped Patroni does not count);
    /// otherwise what it is doing instead.
    pub fn streams(&self, member: &str, min_revision: i64) -> Result<(), String> {
        let Some(m) = self.member(member) else {
            return Err(format!("{member} not registered"));
        };
        let ok = self.leader.as_deref().is_some_and(|l| l != member)
            && m.mod_revision > min_revision
            && m.is_running()
            && m.is_streaming()
            && m.data.timeline == self.leader_timeline();
        if ok {
            return Ok(());
        }
        Err(format!(
            "{member} {}{}",
            m.data.state.as_deref().unwrap_or("?"),
            match (&m.data.replication_state, m.data.timeline) {
                (Some(r), Some(t)) => format!(", {r} on timeline {t}"),
                (Some(r), None) => format!(", {r}"),
                _ => String::new(),
            }
        ))
    }

    /// Ok when `member` holds the leader key and runs, in a key written after `min_revision`.
    pub fn leads(&self, member: &str, min_revision: i64) -> bool {
        self.leader.as_deref() == Some(member)
            && self
                .member(member)
                .is_some_and(|m| m.is_running() && m.mod_revision > min_revision)
    }

    pub fn leader_timeline(&self) -> Option<u64> {
        self.leader_member().and_then(|m| m.data.timeline)
    }
}

/// Why a cluster is not (yet) healthy: one leader running as primary, every expected member
/// streaming from it on its timeline, and a sync standby named when synchronous mode asks for one.
pub fn health(view: &ClusterView, expected: &[String]) -> Result<(), String> {
    let mut issues = Vec::new();
    match view.initialize.as_deref() {
        None => return Err("cluster not initialized yet".into()),
        Some("") => return Err("bootstrap in progress".into()),
        Some(_) => {}
    }
    let Some(leader) = view.leader.as_deref() else {
        return Err("no leader".into());
    };
    let Some(lm) = view.member(leader) else {
        return Err(format!("leader {leader} has no member key"));
    };
    if !lm.is_primary_role() || !lm.is_running() {
        issues.push(format!(
            "leader {leader} is {} {}",
            lm.data.role.as_deref().unwrap_or("?"),
            lm.data.state.as_deref().unwrap_or("?")
        ));
    }
    let tl = lm.data.timeline;
    for name in expected.iter().filter(|n| n.as_str() != leader) {
        match view.member(name) {
            None => issues.push(format!("{name} not registered")),
            Some(m) if !m.is_running() => issues.push(format!(
                "{name} {}",
                m.data.state.as_deref().unwrap_or("unknown")
            )),
            Some(m) if !m.is_streaming() => issues.push(format!(
                "{name} {}",
                m.data
                    .replication_state
                    .as_deref()
                    .unwrap_or("not streaming")
            )),
            Some(m) if tl.is_some() && m.data.timeline != tl => issues.push(format!(
                "{name} on timeline {:?}, leader on {:?}",
                m.data.timeline, tl
            )),
            Some(_) => {}
        }
    }
    if view.synchronous_mode() && expected.len() > 1 {
        let named = view
            .sync_standbys
            .iter()
            .any(|s| s != leader && view.member(s).is_some());
        if !named || view.sync_leader.as_deref() != Some(leader) {
            issues.push("no sync standby named yet".into());
        }
    }
    if issues.is_empty() {
        Ok(())
    } else {
        Err(format!("leader {leader}; {}", issues.join(", ")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Role {
    Leader,
    SyncStandby,
    Replica,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Leader => "Leader",
            Role::SyncStandby => "Sync Standby",
            Role::Replica => "Replica",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    Leader,
    Unknown,
    Bytes(u64),
}

impl Lag {
    /// Megabytes rounded half to even, as Python's `round` (patronictl) does.
    pub fn mb(self) -> Option<u64> {
        match self {
            Lag::Bytes(b) => Some((b as f64 / 1024.0 / 1024.0).round_ties_even() as u64),
            _ => None,
        }
    }
}

pub fn parse_failover(value: &str) -> Failover {
    if let Ok(f) = serde_json::from_str::<Failover>(value) {
        return f;
    }
    // Legacy text form "leader:candidate".
    match value.split_once(':') {
        Some((l, c)) => Failover {
            leader: (!l.is_empty()).then(|| l.to_string()),
            member: (!c.is_empty()).then(|| c.to_string()),
            scheduled_at: None,
        },
        None => Failover::default(),
    }
}

pub fn parse_history(value: &str) -> Vec<HistoryEntry> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(value) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|it| {
            let a = it.as_array()?;
            Some(HistoryEntry {
                timeline: a.first()?.as_u64()?,
                lsn: a.get(1).and_then(Value::as_u64).unwrap_or(0),
                reason: a.get(2).and_then(Value::as_str).unwrap_or("").to_string(),
                timestamp: a.get(3).and_then(Value::as_str).map(String::from),
                new_leader: a.get(4).and_then(Value::as_str).map(String::from),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
