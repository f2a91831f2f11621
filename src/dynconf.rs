//! Patroni's dynamic configuration (the `config` key) as pgha edits it: dotted-path sets, YAML
//! merges, validation against what Patroni would reject or silently change, and a diff. Pure.

pub mod applied;

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Parses `VALUE` of `--set PATH=VALUE`: `true`/`false` are booleans, `null` removes the key,
/// numbers are numbers, anything else (`on`, `8MB`) stays a string, as PostgreSQL spells it.
pub fn scalar(text: &str) -> Value {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        "null" | "~" => return Value::Null,
        _ => {}
    }
    if let Ok(i) = t.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = t.parse::<f64>() {
        if f.is_finite() && t.contains('.') {
            return Value::from(f);
        }
    }
    Value::String(t.to_string())
}

/// Splits `PATH=VALUE`.
pub fn split_assignment(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((p, v)) if !p.trim().is_empty() => Ok((p.trim().to_string(), v.to_string())),
        _ => Err(format!(
            "{arg:?} is not PATH=VALUE (e.g. loop_wait=2 or postgresql.parameters.work_mem=8MB)"
        )),
    }
}

/// The keys along a dotted `--set` path. Everything after `postgresql.parameters.` is one
/// PostgreSQL parameter name, dots included (`pg_stat_statements.max`, `auto_explain.log_min_duration`).
pub fn path_keys(path: &str) -> Vec<String> {
    const PARAMETERS: &str = "postgresql.parameters.";
    match path.strip_prefix(PARAMETERS) {
        Some(name) if !name.is_empty() => {
            vec!["postgresql".into(), "parameters".into(), name.to_string()]
        }
        _ => path.split('.').map(String::from).collect(),
    }
}

/// Sets `path` (dotted, see `path_keys`) to `value` in `config`; `null` removes the key, as
/// Patroni does.
pub fn set_path(config: &mut Value, path: &str, value: Value) {
    set_keys(config, &path_keys(path), value)
}

/// Sets PostgreSQL parameter `name` (kept whole, dots and all) in `postgresql.parameters`.
pub fn set_parameter(config: &mut Value, name: &str, value: Value) {
    let keys = ["postgresql".to_string(), "parameters".into(), name.into()];
    set_keys(config, &keys, value)
}

fn set_keys(config: &mut Value, keys: &[String], value: Value) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    let mut cur = config;
    for p in parents {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let obj = cur.as_object_mut().expect("made an object above");
        cur = obj
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    let obj = cur.as_object_mut().expect("made an object above");
    if value.is_null() {
        obj.remove(last);
    } else {
        obj.insert(last.clone(), value);
    }
}

/// Top-level keys of the dynamic configuration that Patroni 4.0 reads (`global_config.py`,
/// `config.py`); anything else is ignored by Patroni, most likely a typo.
pub const KNOWN_KEYS: &[&str] = &[
    "check_timeline",
    "failsafe_mode",
    "ignore_slots",
    "loop_wait",
    "master_start_timeout",
    "master_stop_timeout",
    "max_timelines_history",
    "maximum_lag_on_failover",
    "maximum_lag_on_syncnode",
    "member_slots_ttl",
    "pause",
    "permanent_replication_slots",
    "permanent_slots",
    "postgresql",
    "primary_start_timeout",
    "primary_stop_timeout",
    "retry_timeout",
    "slots",
    "standby_cluster",
    "synchronous_mode",
    "synchronous_mode_strict",
    "synchronous_node_count",
    "ttl",
];

/// One warning per top-level key Patroni does not know, naming the closest known key.
pub fn unknown_keys(config: &Value) -> Vec<String> {
    let Some(obj) = config.as_object() else {
        return Vec::new();
    };
    obj.keys()
        .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
        .map(|k| {
            let near = KNOWN_KEYS
                .iter()
                .map(|known| (edit_distance(k, known), *known))
                .min()
                .filter(|(d, _)| *d <= 2 + k.len() / 8);
            match near {
                Some((_, known)) => {
                    format!("unknown key {k:?}: Patroni ignores it (did you mean {known:?}?)")
                }
                None => format!("unknown key {k:?}: Patroni ignores it"),
            }
        })
        .collect()
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Merges `patch` into `config` (objects recursively; `null` removes), like Patroni's patch_config.
pub fn merge(config: &mut Value, patch: &Value) {
    match (config, patch) {
        (Value::Object(c), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    c.remove(k);
                } else if let Some(existing) = c.get_mut(k) {
                    if existing.is_object() && v.is_object() {
                        merge(existing, v);
                    } else {
                        *existing = v.clone();
                    }
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        (c, p) => *c = p.clone(),
    }
}

fn as_int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Everything Patroni would reject or silently change in a dynamic configuration, one line each.
pub fn problems(config: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let Some(obj) = config.as_object() else {
        return vec!["the configuration must be a mapping".into()];
    };
    let int = |k: &str| obj.get(k).map(|v| (v, as_int(v)));
    for (key, min) in [("ttl", 20), ("loop_wait", 1), ("retry_timeout", 3)] {
        match int(key) {
            Some((v, None)) => p.push(format!("{key} = {v} is not a whole number")),
            Some((_, Some(n))) if n < min => p.push(format!(
                "{key} = {n} is below Patroni's minimum {min} (Patroni would silently raise it)"
            )),
            _ => {}
        }
    }
    let ttl = int("ttl").and_then(|x| x.1).unwrap_or(30);
    let loop_wait = int("loop_wait").and_then(|x| x.1).unwrap_or(10);
    let retry = int("retry_timeout").and_then(|x| x.1).unwrap_or(10);
    if loop_wait + 2 * retry > ttl {
        p.push(format!(
            "loop_wait + 2*retry_timeout = {} exceeds ttl = {ttl} (Patroni would lower loop_wait to keep loop_wait + 2*retry_timeout <= ttl)",
            loop_wait + 2 * retry
        ));
    }
    for key in [
        "maximum_lag_on_failover",
        "primary_start_timeout",
        "primary_stop_timeout",
        "synchronous_node_count",
    ] {
        if let Some((v, n)) = int(key) {
            match n {
                None => p.push(format!("{key} = {v} is not a whole number")),
                Some(n) if n < 0 => p.push(format!("{key} = {n} must not be negative")),
                _ => {}
            }
        }
    }
    if let Some(m) = obj.get("synchronous_mode") {
        let ok = m.is_boolean()
            || matches!(m.as_str(), Some("on" | "off" | "true" | "false" | "quorum"));
        if !ok {
            p.push(format!(
                "synchronous_mode = {m} must be true, false or quorum"
            ));
        }
    }
    for key in [
        "pause",
        "synchronous_mode_strict",
        "failsafe_mode",
        "check_timeline",
    ] {
        if let Some(v) = obj.get(key) {
            if !v.is_boolean() {
                p.push(format!("{key} = {v} must be true or false"));
            }
        }
    }
    if let Some(params) = config.pointer("/postgresql/parameters") {
        match params.as_object() {
            None => p.push(
                "postgresql.parameters must be a mapping of parameter names to values".into(),
            ),
            Some(m) => {
                for (k, v) in m {
                    if v.is_object() || v.is_array() {
                        p.push(format!("postgresql.parameters.{k} must be a single value"));
                    }
                }
            }
        }
    }
    p
}

/// Flattens to dotted paths with their values (as compact JSON).
pub fn flatten(v: &Value) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, x, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", v, &mut out);
    out
}

/// One line per changed path: `- path: old`, `+ path: new`.
pub fn diff(old: &Value, new: &Value) -> Vec<String> {
    let (a, b) = (flatten(old), flatten(new));
    let mut out = Vec::new();
    for (k, v) in &a {
        match b.get(k) {
            None => out.push(format!("- {k}: {v}")),
            Some(w) if w != v => {
                out.push(format!("- {k}: {v}"));
                out.push(format!("+ {k}: {w}"));
            }
            _ => {}
        }
    }
    for (k, w) in &b {
        if !a.contains_key(k) {
            out.push(format!("+ {k}: {w}"));
        }
    }
    out
}

/// PostgreSQL parameters whose value differs between two configs.
pub fn changed_parameters(old: &Value, new: &Value) -> Vec<String> {
    let get = |v: &Value| {
        v.pointer("/postgresql/parameters")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (a, b) = (get(old), get(new));
    let mut names: Vec<String> = b
        .iter()
        .filter(|(k, v)| a.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    names.extend(a.keys().filter(|k| !b.contains_key(*k)).cloned());
    names.sort();
    names.dedup();
    names
}

/// A PostgreSQL parameter value from the spec, as pgha writes it (booleans as on/off): into
/// Patroni's YAML and into the config key alike, so that both compare equal.
pub fn toml_param(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::String(if *b { "on" } else { "off" }.into()),
        other => Value::String(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_merge_and_diff() {
        let mut c =
            json!({"ttl": 20, "loop_wait": 1, "postgresql": {"parameters": {"work_mem": "4MB"}}});
        let old = c.clone();
        set_path(&mut c, "postgresql.parameters.work_mem", scalar("8MB"));
        set_path(&mut c, "loop_wait", scalar("2"));
        set_path(&mut c, "ttl", scalar("null"));
        assert_eq!(
            c,
            json!({"loop_wait": 2, "postgresql": {"parameters": {"work_mem": "8MB"}}})
        );
        assert_eq!(
            diff(&old, &c),
            vec![
                "- loop_wait: 1",
                "+ loop_wait: 2",
                "- postgresql.parameters.work_mem: \"4MB\"",
                "+ postgresql.parameters.work_mem: \"8MB\"",
                "- ttl: 20"
            ]
        );
        assert_eq!(changed_parameters(&old, &c), vec!["work_mem"]);
        merge(
            &mut c,
            &json!({"postgresql": {"parameters": {"max_connections": 200}}, "loop_wait": null}),
        );
        assert_eq!(
            c,
            json!({"postgresql": {"parameters": {"work_mem": "8MB", "max_connections": 200}}})
        );
        assert_eq!(scalar("true"), json!(true));
        assert_eq!(scalar("on"), json!("on"));
        assert!(split_assignment("noequals").is_err());
    }

    #[test]
    fn dotted_parameter_names_stay_whole() {
        let mut c = json!({"ttl": 20, "loop_wait": 1, "retry_timeout": 5,
                           "postgresql": {"parameters": {"work_mem": "4MB"}}});
        let old = c.clone();
        set_parameter(&mut c, "pg_stat_statements.max", scalar("10000"));
        set_path(
            &mut c,
            "postgresql.parameters.auto_explain.log_min_duration",
            scalar("250ms"),
        );
        set_path(&mut c, "postgresql.parameters.pgaudit.log", scalar("ddl"));
        assert_eq!(
            c,
            json!({"ttl": 20, "loop_wait": 1, "retry_timeout": 5, "postgresql": {"parameters": {
                "work_mem": "4MB",
                "pg_stat_statements.max": 10000,
                "auto_explain.log_min_duration": "250ms",
                "pgaudit.log": "ddl",
            }}})
        );
        assert!(problems(&c).is_empty(), "{:?}", problems(&c));
        assert_eq!(
            changed_parameters(&old, &c),
            vec![
                "auto_explain.log_min_duration",
                "pg_stat_statements.max",
                "pgaudit.log"
            ]
        );
        set_path(&mut c, "postgresql.parameters.pgaudit.log", scalar("null"));
        assert!(c.pointer("/postgresql/parameters/pgaudit.log").is_none());
        // Other paths still split on every dot.
        assert_eq!(
            path_keys("standby_cluster.host"),
            vec!["standby_cluster", "host"]
        );
        assert_eq!(
            path_keys("postgresql.use_pg_rewind"),
            vec!["postgresql", "use_pg_rewind"]
        );
    }

    #[test]
    fn unknown_top_level_keys_are_named_with_the_closest_known_one() {
        let c = json!({"ttl": 20, "looop_wait": 2, "postgresql": {}, "frobnicate": true});
        assert_eq!(
            unknown_keys(&c),
            vec![
                "unknown key \"frobnicate\": Patroni ignores it",
                "unknown key \"looop_wait\": Patroni ignores it (did you mean \"loop_wait\"?)",
            ]
        );
        let known: Value = KNOWN_KEYS
            .iter()
            .map(|k| (k.to_string(), json!(1)))
            .collect();
        assert!(unknown_keys(&known).is_empty());
    }

    #[test]
    fn problems_patroni_would_reject_or_change() {
        let ok = json!({"ttl": 20, "loop_wait": 1, "retry_timeout": 5, "maximum_lag_on_failover": 1048576});
        assert!(problems(&ok).is_empty(), "{:?}", problems(&ok));
        assert_eq!(
            problems(&json!({"ttl": 10, "loop_wait": 1, "retry_timeout": 3})),
            vec!["ttl = 10 is below Patroni's minimum 20 (Patroni would silently raise it)"]
        );
        assert_eq!(
            problems(&json!({"ttl": 20, "loop_wait": 10, "retry_timeout": 10})),
            vec!["loop_wait + 2*retry_timeout = 30 exceeds ttl = 20 (Patroni would lower loop_wait to keep loop_wait + 2*retry_timeout <= ttl)"]
        );
        assert_eq!(
            problems(
                &json!({"ttl": 20, "loop_wait": 1, "retry_timeout": 5, "maximum_lag_on_failover": "lots"})
            ),
            vec!["maximum_lag_on_failover = \"lots\" is not a whole number"]
        );
        assert_eq!(
            problems(&json!({"ttl": 20, "loop_wait": 1, "retry_timeout": 5, "pause": "yes"})),
            vec!["pause = \"yes\" must be true or false"]
        );
    }
}
