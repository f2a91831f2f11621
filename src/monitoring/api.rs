//! Prometheus's and Alertmanager's answers, parsed into pgha's own types: scrape targets, an
//! instant vector, the active alerts. Pure.

use anyhow::{anyhow, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One scrape target as Prometheus sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScrapeTarget {
    pub job: String,
    pub member: String,
    /// up, down or unknown.
    pub health: String,
    pub last_error: String,
}

/// One sample of an instant vector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

/// One active alert as Alertmanager has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub name: String,
    pub severity: String,
    /// The member it is about (empty for the whole cluster).
    pub member: String,
    pub summary: String,
    pub runbook: String,
    /// RFC 3339, as Alertmanager gives it.
    pub since: String,
}

fn data(v: &Value) -> Result<&Value> {
    if v["status"] != "success" {
        return Err(anyhow!(
            "Prometheus answered {}: {}",
            v["status"].as_str().unwrap_or("?"),
            v["error"].as_str().unwrap_or("no error given")
        ));
    }
    Ok(&v["data"])
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

pub fn parse_targets(v: &Value) -> Result<Vec<ScrapeTarget>> {
    let list = data(v)?["activeTargets"]
        .as_array()
        .ok_or_else(|| anyhow!("Prometheus's targets answer has no activeTargets"))?;
    Ok(list
        .iter()
        .map(|t| ScrapeTarget {
            job: s(&t["labels"]["job"]),
            member: s(&t["labels"]["member"]),
            health: s(&t["health"]),
            last_error: s(&t["lastError"]),
        })
        .collect())
}

pub fn parse_vector(v: &Value) -> Result<Vec<Sample>> {
    let d = data(v)?;
    let list = d["result"]
        .as_array()
        .ok_or_else(|| anyhow!("Prometheus's query answer has no result"))?;
    let mut out = Vec::new();
    for r in list {
        let labels = r["metric"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), s(v))).collect())
            .unwrap_or_default();
        let value = r["value"][1]
            .as_str()
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        out.push(Sample { labels, value });
    }
    Ok(out)
}

pub fn parse_alerts(v: &Value) -> Result<Vec<Alert>> {
    let list = v
        .as_array()
        .ok_or_else(|| anyhow!("Alertmanager's alerts answer is not a list"))?;
    let mut out: Vec<Alert> = list
        .iter()
        .filter(|a| a["status"]["state"].as_str().unwrap_or("active") == "active")
        .map(|a| Alert {
            name: s(&a["labels"]["alertname"]),
            severity: s(&a["labels"]["severity"]),
            member: s(&a["labels"]["member"]),
            summary: s(&a["annotations"]["summary"]),
            runbook: s(&a["annotations"]["runbook"]),
            since: s(&a["startsAt"]),
        })
        .collect();
    out.sort_by(|a, b| {
        (a.severity != "critical", &a.name, &a.member).cmp(&(
            b.severity != "critical",
            &b.name,
            &b.member,
        ))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_vectors_and_alerts_parse() {
        let t: Value = serde_json::from_str(r#"{"status":"success","data":{"activeTargets":[
            {"labels":{"job":"patroni","member":"pg1"},"health":"up","lastError":""},
            {"labels":{"job":"etcd","member":"etcd2"},"health":"down","lastError":"connection refused"}]}}"#).unwrap();
        let t = parse_targets(&t).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[1].job.as_str(), t[1].health.as_str()), ("etcd", "down"));

        let q: Value = serde_json::from_str(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"member":"pg1"},"value":[1700000000.1,"12.5"]}]}}"#,
        )
        .unwrap();
        let q = parse_vector(&q).unwrap();
        assert_eq!((q[0].label("member"), q[0].value), ("pg1", 12.5));
        let bad: Value =
            serde_json::from_str(r#"{"status":"error","error":"parse error"}"#).unwrap();
        assert!(parse_vector(&bad)
            .unwrap_err()
            .to_string()
            .contains("parse error"));

        let a: Value = serde_json::from_str(r#"[
            {"labels":{"alertname":"PghaReplicaNotStreaming","severity":"warning","member":"pg2"},
             "annotations":{"summary":"pg2 does not stream","runbook":"pgha start pg2"},
             "startsAt":"2026-12-02T10:00:00Z","status":{"state":"active"}},
            {"labels":{"alertname":"PghaLeaderDown","severity":"critical","member":"pg1"},
             "annotations":{"summary":"pg1 is down"},"startsAt":"2026-12-02T10:00:01Z","status":{"state":"active"}},
            {"labels":{"alertname":"Old","severity":"critical"},"annotations":{},"startsAt":"x","status":{"state":"suppressed"}}]"#).unwrap();
        let a = parse_alerts(&a).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].name, "PghaLeaderDown", "critical first");
        assert_eq!(a[1].member, "pg2");
    }
}

/// Which alerts a silence pgha makes holds back: every alert of the cluster, or those of some
/// members (their `member` label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quieted {
    Cluster,
    Members(Vec<String>),
}

/// The body of Alertmanager's `POST /api/v2/silences` for a silence over `what` from `starts`
/// to `ends` (RFC 3339); with `id`, the same silence updated (its start must stay the same).
pub fn silence_body(
    what: &Quieted,
    starts: &str,
    ends: &str,
    comment: &str,
    id: Option<&str>,
) -> Value {
    let matcher = match what {
        Quieted::Cluster => serde_json::json!({
            "name": "alertname", "value": ".+", "isRegex": true, "isEqual": true
        }),
        Quieted::Members(m) => serde_json::json!({
            "name": "member",
            "value": m.iter().map(|m| regex_escape(m)).collect::<Vec<_>>().join("|"),
            "isRegex": true,
            "isEqual": true
        }),
    };
    let mut body = serde_json::json!({
        "matchers": [matcher],
        "startsAt": starts,
        "endsAt": ends,
        "createdBy": "pgha",
        "comment": comment,
    });
    if let Some(id) = id {
        body["id"] = Value::String(id.to_string());
    }
    body
}

/// `s` as a literal in a (RE2) regular expression.
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[cfg(test)]
mod silence_tests {
    use super::*;

    #[test]
    fn a_silence_holds_back_the_members_named_or_the_whole_cluster() {
        let b = silence_body(
            &Quieted::Members(vec!["pg1".into(), "pg.2".into()]),
            "2026-12-04T10:00:00Z",
            "2026-12-04T10:10:00Z",
            "pgha switchover",
            None,
        );
        assert_eq!(b["matchers"][0]["name"], "member");
        assert_eq!(b["matchers"][0]["value"], "pg1|pg\\.2");
        assert_eq!(b["matchers"][0]["isRegex"], true);
        assert_eq!(b["createdBy"], "pgha");
        assert!(b.get("id").is_none());
        let all = silence_body(&Quieted::Cluster, "a", "b", "pgha up", Some("x1"));
        assert_eq!(all["matchers"][0]["name"], "alertname");
        assert_eq!(all["matchers"][0]["value"], ".+");
        assert_eq!(all["id"], "x1");
        assert_eq!(all["startsAt"], "a");
    }
}
