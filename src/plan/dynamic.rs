//! What `up` must change in Patroni's dynamic configuration (the `config` key) of a running
//! cluster so that it has the spec's `[patroni]` settings. The spec owns only what it names: the
//! six timing and synchronous-mode settings and the parameters of `[patroni.parameters]`; the
//! rest of the key (pgha's base parameters, whatever `edit-config` set) stays as it is. Pure.

use crate::dynconf::toml_param;
use crate::spec::Spec;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// What a step costs the running cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    /// Patroni takes it on its next HA loop; PostgreSQL is not touched.
    None,
    /// Every member's PostgreSQL reloads its configuration.
    Reload,
    /// Every member's PostgreSQL must restart to apply it (Patroni flags it pending).
    Restart,
    /// One member (a container) stops and starts again; the others keep serving.
    #[serde(rename = "member-restart")]
    MemberRestart,
    /// Leadership moves to another member (writes pause for about a switchover).
    Switchover,
    /// The whole cluster stops serving until a later step brings it back (`restore --in-place`).
    Outage,
    /// Data goes: what it replaces or removes is not kept (`restore --in-place`).
    #[serde(rename = "data-loss")]
    DataLoss,
}

impl Impact {
    pub fn word(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::Reload => "reload",
            Impact::Restart => "restart of every member",
            Impact::MemberRestart => "restart of one member",
            Impact::Switchover => "switchover",
            Impact::Outage => "outage of the cluster",
            Impact::DataLoss => "data loss",
        }
    }
}

/// One setting to write into the config key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigStep {
    /// Dotted path in the config key (`ttl`, `postgresql.parameters.work_mem`).
    pub path: String,
    /// The parameter name when the step is a PostgreSQL parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    pub from: Option<Value>,
    pub to: Value,
    pub reason: String,
    pub impact: Impact,
}

impl ConfigStep {
    pub fn describe(&self) -> String {
        format!(
            "set {} = {} in the config key ({}; impact: {})",
            self.path,
            show(Some(&self.to)),
            self.reason,
            self.impact.word()
        )
    }
}

/// PostgreSQL parameters that need a restart (context `postmaster`), for when `pg_settings`
/// cannot be read: the ones a cluster is most likely to change.
pub const POSTMASTER_PARAMETERS: &[&str] = &[
    "archive_mode",
    "autovacuum_max_workers",
    "hot_standby",
    "huge_pages",
    "listen_addresses",
    "max_connections",
    "max_locks_per_transaction",
    "max_logical_replication_workers",
    "max_pred_locks_per_transaction",
    "max_prepared_transactions",
    "max_replication_slots",
    "max_wal_senders",
    "max_worker_processes",
    "port",
    "shared_buffers",
    "shared_preload_libraries",
    "track_commit_timestamp",
    "wal_buffers",
    "wal_level",
    "wal_log_hints",
];

/// The settings the spec owns: (dotted path, parameter name, value).
pub fn owned(spec: &Spec) -> Vec<(String, Option<String>, Value)> {
    let p = &spec.patroni;
    let mut out: Vec<(String, Option<String>, Value)> = vec![
        ("ttl".into(), None, Value::from(p.ttl)),
        ("loop_wait".into(), None, Value::from(p.loop_wait)),
        ("retry_timeout".into(), None, Value::from(p.retry_timeout)),
        (
            "maximum_lag_on_failover".into(),
            None,
            Value::from(p.maximum_lag_on_failover),
        ),
        (
            "synchronous_mode".into(),
            None,
            Value::Bool(p.synchronous_mode),
        ),
        (
            "synchronous_mode_strict".into(),
            None,
            Value::Bool(p.synchronous_mode_strict),
        ),
        ("failsafe_mode".into(), None, Value::Bool(p.failsafe_mode)),
    ];
    for (name, v) in &p.parameters {
        out.push((
            format!("postgresql.parameters.{name}"),
            Some(name.clone()),
            toml_param(v),
        ));
    }
    out
}

/// A value as Patroni compares it: numbers and strings by their text, booleans and PostgreSQL's
/// boolean words (on/off, true/false, yes/no) as on/off, case-insensitively.
fn normal(v: &Value) -> Option<String> {
    let text = match v {
        Value::Null => return None,
        Value::Bool(b) => return Some(if *b { "on" } else { "off" }.into()),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    };
    Some(match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => "on".into(),
        "off" | "false" | "no" => "off".into(),
        _ => text,
    })
}

/// Whether two config values mean the same to Patroni (`None`: absent).
pub fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    a.and_then(normal) == b.and_then(normal)
}

fn show(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "(unset)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The value at a dotted path of the config key (parameter names may contain dots).
fn at<'a>(config: &'a Value, path: &str, parameter: Option<&str>) -> Option<&'a Value> {
    match parameter {
        Some(name) => config.get("postgresql")?.get("parameters")?.get(name),
        None => config.get(path),
    }
}

/// The steps that give the live config key the spec's settings, in the spec's order (timings
/// first, then parameters by name). `restart_params` are the parameters PostgreSQL applies only
/// on a restart (lower-case names, e.g. from `pg_settings.context = 'postmaster'`).
pub fn config_plan(
    spec: &Spec,
    live: &Value,
    restart_params: &BTreeSet<String>,
) -> Vec<ConfigStep> {
    owned(spec)
        .into_iter()
        .filter_map(|(path, parameter, to)| {
            let from = at(live, &path, parameter.as_deref()).cloned();
            if same(from.as_ref(), Some(&to)) {
                return None;
            }
            let (reason, impact) = match &parameter {
                Some(name) if restart_params.contains(&name.to_lowercase()) => (
                    format!(
                        "the spec sets {name} = {}, the cluster runs {}; PostgreSQL applies it on a restart",
                        show(Some(&to)),
                        show(from.as_ref())
                    ),
                    Impact::Restart,
                ),
                Some(name) => (
                    format!(
                        "the spec sets {name} = {}, the cluster runs {}",
                        show(Some(&to)),
                        show(from.as_ref())
                    ),
                    Impact::Reload,
                ),
                None => (
                    format!(
                        "the spec sets {path} = {}, the config key has {}",
                        show(Some(&to)),
                        show(from.as_ref())
                    ),
                    Impact::None,
                ),
            };
            Some(ConfigStep {
                path,
                parameter,
                from,
                to,
                reason,
                impact,
            })
        })
        .collect()
}

/// The live config key with the steps applied; everything else is kept.
pub fn apply(live: &Value, steps: &[ConfigStep]) -> Value {
    let mut new = live.clone();
    for s in steps {
        match &s.parameter {
            Some(name) => crate::dynconf::set_parameter(&mut new, name, s.to.clone()),
            None => crate::dynconf::set_path(&mut new, &s.path, s.to.clone()),
        }
    }
    new
}

/// The default restart set: `POSTMASTER_PARAMETERS`.
pub fn default_restart_params() -> BTreeSet<String> {
    POSTMASTER_PARAMETERS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(patroni: &str) -> Spec {
        Spec::parse(&format!("name = \"t\"\n[patroni]\n{patroni}"), "test").unwrap()
    }

    fn live() -> Value {
        json!({"ttl": 20, "loop_wait": 1, "retry_timeout": 5, "maximum_lag_on_failover": 1048576,
               "synchronous_mode": true, "synchronous_mode_strict": false, "failsafe_mode": true,
               "postgresql": {"use_slots": true, "parameters": {"work_mem": "4MB", "max_connections": 100,
                              "wal_log_hints": "on"}}})
    }

    #[test]
    fn a_matching_key_needs_nothing_even_when_written_differently() {
        let mut l = live();
        l["ttl"] = json!("20");
        l["synchronous_mode"] = json!("on");
        l["postgresql"]["parameters"]["max_connections"] = json!("100");
        let s = spec("ttl = 20\n[patroni.parameters]\nwork_mem = \"4MB\"\nmax_connections = 100\nwal_log_hints = true");
        assert_eq!(config_plan(&s, &l, &default_restart_params()), vec![]);
    }

    #[test]
    fn changed_ttl_and_work_mem_are_two_steps_with_their_impact() {
        let s = spec("ttl = 25\n[patroni.parameters]\nwork_mem = \"8MB\"");
        let steps = config_plan(&s, &live(), &default_restart_params());
        let paths: Vec<(&str, Impact)> =
            steps.iter().map(|s| (s.path.as_str(), s.impact)).collect();
        assert_eq!(
            paths,
            vec![
                ("ttl", Impact::None),
                ("postgresql.parameters.work_mem", Impact::Reload)
            ]
        );
        assert_eq!(steps[0].from, Some(json!(20)));
        assert!(steps[1].reason.contains("4MB"), "{}", steps[1].reason);
    }

    #[test]
    fn a_postmaster_parameter_needs_a_restart_and_a_missing_one_is_added() {
        let s = spec("[patroni.parameters]\nmax_connections = 200\nstatement_timeout = \"5s\"");
        let steps = config_plan(&s, &live(), &default_restart_params());
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].impact, Impact::Restart);
        assert_eq!(steps[1].from, None);
        assert_eq!(steps[1].impact, Impact::Reload);
        // pg_settings' answer wins over the built-in list.
        let only = ["statement_timeout".to_string()].into_iter().collect();
        let steps = config_plan(&s, &live(), &only);
        assert_eq!(steps[0].impact, Impact::Reload);
        assert_eq!(steps[1].impact, Impact::Restart);
    }

    #[test]
    fn apply_keeps_what_the_spec_does_not_name() {
        let mut l = live();
        l["postgresql"]["parameters"]["log_min_duration_statement"] = json!(250);
        l["check_timeline"] = json!(true);
        let s = spec("ttl = 25\n[patroni.parameters]\nwork_mem = \"8MB\"");
        let steps = config_plan(&s, &l, &default_restart_params());
        let new = apply(&l, &steps);
        assert_eq!(new["ttl"], 25);
        assert_eq!(new["postgresql"]["parameters"]["work_mem"], "8MB");
        assert_eq!(
            new["postgresql"]["parameters"]["log_min_duration_statement"],
            250
        );
        assert_eq!(new["postgresql"]["parameters"]["max_connections"], 100);
        assert_eq!(new["check_timeline"], true);
        assert_eq!(new["postgresql"]["use_slots"], true);
        assert_eq!(config_plan(&s, &new, &default_restart_params()), vec![]);
    }

    #[test]
    fn values_compare_by_meaning_not_by_spelling() {
        assert!(same(Some(&json!(100)), Some(&json!("100"))));
        assert!(same(Some(&json!(true)), Some(&json!("on"))));
        assert!(same(Some(&json!("OFF")), Some(&json!(false))));
        assert!(!same(Some(&json!("8MB")), Some(&json!("4MB"))));
        assert!(!same(None, Some(&json!("4MB"))));
        assert!(same(None, Some(&Value::Null)));
    }
}
