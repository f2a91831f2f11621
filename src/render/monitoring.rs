//! The monitoring files: Prometheus's config, its alert rules (from `monitoring::rules`) and the
//! certificates' end dates, Alertmanager's config, the exporters' queries, and the web configs
//! (TLS, basic auth) of the exporters and of Prometheus and Alertmanager.

use super::render;
use crate::layout;
use crate::monitoring::{node_jobs, rules, NodeJob};
use crate::spec::Spec;
use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Serialize)]
struct PrometheusCtx<'a> {
    scope: &'a str,
    interval: u32,
    timeout: u32,
    dir: &'static str,
    scheme: &'static str,
    tls: bool,
    tls_dir: &'static str,
    nodes: &'a [String],
    etcd: Vec<String>,
    node_jobs: Vec<NodeJob>,
    /// How Prometheus logs in to itself and to Alertmanager (basic auth).
    web_user: &'static str,
    web_pass_file: &'static str,
}

#[derive(Serialize)]
struct AlertmanagerCtx<'a> {
    scope: &'a str,
    webhook_url: &'a str,
}

pub fn prometheus_yml(spec: &Spec) -> Result<String> {
    let ctx = PrometheusCtx {
        scope: &spec.name,
        interval: spec.monitoring.scrape_interval,
        timeout: spec.monitoring.scrape_interval.min(10),
        dir: layout::PROMETHEUS_DIR,
        scheme: spec.tls.scheme(),
        tls: spec.tls.enabled,
        tls_dir: layout::TLS_DIR,
        nodes: &spec.nodes.names,
        etcd: spec.etcd_names(),
        node_jobs: node_jobs(spec),
        web_user: crate::secrets::MONITORING_USER,
        web_pass_file: layout::PROMETHEUS_WEB_PASS,
    };
    render("prometheus.yml.j2", &ctx).context("render prometheus.yml")
}

pub fn alertmanager_yml(spec: &Spec) -> Result<String> {
    let ctx = AlertmanagerCtx {
        scope: &spec.name,
        webhook_url: &spec.monitoring.webhook_url,
    };
    render("alertmanager.yml.j2", &ctx).context("render alertmanager.yml")
}

/// A web config of the Prometheus exporter toolkit (`--web.config.file`): TLS 1.3 with `tls`'s
/// certificate and key files, and basic auth for `users` (name, bcrypt hash).
fn web_yml(tls: Option<(&str, &str)>, users: &[(&str, &str)]) -> String {
    let mut s = String::new();
    if let Some((cert, key)) = tls {
        s += &format!(
            "tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n  min_version: TLS13\n"
        );
    }
    if !users.is_empty() {
        s += "basic_auth_users:\n";
        for (user, hash) in users {
            s += &format!("  {user}: {}\n", q(hash));
        }
    }
    s
}

/// The exporters' web config: TLS with the node's certificate (`[tls]` on).
pub fn exporters_web_yml(spec: &Spec) -> Option<String> {
    let d = layout::TLS_DIR;
    spec.tls.enabled.then(|| {
        web_yml(
            Some((&format!("{d}/node.crt"), &format!("{d}/node.key"))),
            &[],
        )
    })
}

/// Prometheus's and Alertmanager's web config: basic auth for `secrets::MONITORING_USER` with
/// `bcrypt` (the stored hash of its password, so that the file, part of their config hash, is
/// the same at every `up`), and TLS with their own certificate when `[tls]` is on.
pub fn monitoring_web_yml(spec: &Spec, bcrypt: &str) -> String {
    web_yml(
        spec.tls
            .enabled
            .then_some((layout::WEB_CERT, layout::WEB_KEY)),
        &[(crate::secrets::MONITORING_USER, bcrypt)],
    )
}

/// postgres_exporter's extra queries: archiving (failures, the oldest segment waiting), the
/// oldest open transaction, connections against max_connections, and transactions for TPS.
pub const QUERIES_YML: &str = r#"# pgha's queries for postgres_exporter (metric names: <query>_<column>).
pgha_archive:
  query: |
    SELECT (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready') AS ready_segments,
           COALESCE((SELECT EXTRACT(EPOCH FROM now() - min(modification)) FROM pg_ls_archive_statusdir()
                     WHERE name LIKE '%.ready'), 0) AS oldest_ready_seconds,
           failed_count,
           CASE WHEN last_failed_time > COALESCE(last_archived_time, 'epoch') THEN 1 ELSE 0 END AS failing,
           COALESCE(EXTRACT(EPOCH FROM now() - last_archived_time), -1) AS last_archived_age_seconds
      FROM pg_stat_archiver
  metrics:
    - ready_segments: {usage: GAUGE, description: "WAL segments waiting for the archive"}
    - oldest_ready_seconds: {usage: GAUGE, description: "Age of the oldest segment waiting for the archive"}
    - failed_count: {usage: COUNTER, description: "Failed archive attempts"}
    - failing: {usage: GAUGE, description: "1 when the last archive attempt failed"}
    - last_archived_age_seconds: {usage: GAUGE, description: "Seconds since the last archived segment (-1: none)"}
pgha_transactions:
  query: |
    SELECT COALESCE(max(EXTRACT(EPOCH FROM now() - xact_start)), 0) AS oldest_seconds,
           (SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database) AS total
      FROM pg_stat_activity WHERE backend_type = 'client backend' AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
  metrics:
    - oldest_seconds: {usage: GAUGE, description: "Age of the oldest open transaction"}
    - total: {usage: COUNTER, description: "Transactions committed or rolled back"}
pgha_connections:
  query: |
    SELECT count(*) AS used, current_setting('max_connections')::int AS max
      FROM pg_stat_activity WHERE backend_type = 'client backend'
  metrics:
    - used: {usage: GAUGE, description: "Client connections"}
    - max: {usage: GAUGE, description: "max_connections"}
"#;

/// YAML double-quoted string (JSON's escapes are YAML's).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Prometheus's rules file for `spec`.
pub fn rules_yaml(spec: &Spec) -> String {
    let mut s = format!(
        "# Alert rules of cluster {}, rendered by pgha (src/monitoring/rules.rs). Each alert's\n\
         # runbook annotation says what it means and which pgha command helps.\ngroups:\n  - name: pgha\n    rules:\n",
        spec.name
    );
    for r in rules::rules(spec) {
        s.push_str(&format!(
            "      - alert: {}\n        expr: {}\n        for: {}s\n        labels:\n          severity: {}\n        annotations:\n          summary: {}\n          runbook: {}\n",
            r.name,
            q(&r.expr),
            r.for_s,
            r.severity,
            q(&r.summary),
            q(r.runbook)
        ));
    }
    s
}

/// A rules file of `metric` as constants, one per `(label value, Unix seconds)`, labelled
/// `label`, in group `group`, under the comment `header`: facts pgha knows and Prometheus cannot
/// read anywhere else.
fn constant_rules_yaml(
    header: &str,
    group: &str,
    metric: &str,
    label: &str,
    items: &[(String, i64)],
) -> String {
    let mut s = format!("{header}groups:\n  - name: {group}\n    rules:\n");
    if items.is_empty() {
        s = s.replace("    rules:\n", "    rules: []\n");
    }
    for (name, at) in items {
        s.push_str(&format!(
            "      - record: {metric}\n        expr: vector({at})\n        labels:\n          {label}: {}\n",
            q(name)
        ));
    }
    s
}

/// A rules file recording each certificate's end (`pgha_certificate_not_after_seconds`, labelled
/// `certificate`), from the certificates pgha issued: Prometheus has no other way to read them.
pub fn certificate_rules_yaml(ends: &[(String, i64)]) -> String {
    constant_rules_yaml(
        "# When each certificate of the cluster's CA ends (Unix seconds), written by pgha from the\n\
         # certificates it issued; `pgha certs rotate` rewrites it.\n",
        "pgha-certificates",
        "pgha_certificate_not_after_seconds",
        "certificate",
        ends,
    )
}

/// `passwords.yml`: a rules file recording when each password was last changed
/// (`pgha_password_changed_seconds`, labelled `user`), from `secrets.toml`; `pgha passwords
/// rotate` rewrites it.
pub fn password_rules_yaml(changed: &[(String, i64)]) -> String {
    constant_rules_yaml(
        "# When each password of the cluster was last changed (Unix seconds), written by pgha;\n\
         # `pgha passwords rotate` rewrites it.\n",
        "pgha-passwords",
        "pgha_password_changed_seconds",
        "user",
        changed,
    )
}

/// `certificates.yml`: `certificate_rules_yaml` of the cluster's certificates.
pub fn certificates_yml(certs: &crate::tls::cert::ClusterCerts) -> String {
    certificate_rules_yaml(&crate::monitoring::certificate_ends(certs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_changes_are_recorded_per_user() {
        let y = password_rules_yaml(&[("superuser".into(), 1000), ("etcd-root".into(), 2000)]);
        let v: serde_json::Value = serde_saphyr::from_str(&y).unwrap();
        let rules = v["groups"][0]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1]["record"], "pgha_password_changed_seconds");
        assert_eq!(rules[1]["expr"], "vector(2000)");
        assert_eq!(rules[1]["labels"]["user"], "etcd-root");
        let none: serde_json::Value = serde_saphyr::from_str(&password_rules_yaml(&[])).unwrap();
        assert_eq!(none["groups"][0]["rules"], serde_json::json!([]));
    }

    #[test]
    fn prometheus_scrapes_every_part_by_member_name() {
        let spec = Spec::default();
        let y = prometheus_yml(&spec).unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&y).unwrap();
        let jobs: Vec<String> = v["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["job_name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            jobs,
            [
                "patroni",
                "postgres",
                "disk",
                "pgbackrest",
                "haproxy",
                "etcd",
                "prometheus",
                "alertmanager"
            ]
        );
        let patroni = &v["scrape_configs"][0];
        assert_eq!(patroni["scheme"], "https");
        assert_eq!(patroni["static_configs"][1]["targets"][0], "pg2:8008");
        assert_eq!(patroni["static_configs"][1]["labels"]["member"], "pg2");
        let etcd = &v["scrape_configs"][5];
        assert!(etcd["tls_config"]["cert_file"]
            .as_str()
            .unwrap()
            .ends_with("prometheus.crt"));
        assert_eq!(v["global"]["scrape_interval"], "5s");

        let mut plain = Spec::default();
        plain.tls.enabled = false;
        plain.backup.enabled = false;
        let v: serde_json::Value =
            serde_saphyr::from_str(&prometheus_yml(&plain).unwrap()).unwrap();
        assert_eq!(v["scrape_configs"][0]["scheme"], "http");
        assert!(v["scrape_configs"][0].get("tls_config").is_none());
        assert!(
            !y.is_empty()
                && !crate::monitoring::node_exporters_sh(&plain).contains("pgbackrest-exporter")
        );
        assert!(exporters_web_yml(&plain).is_none());
    }

    #[test]
    fn prometheus_reaches_itself_and_alertmanager_with_tls_and_the_password() {
        let v: serde_json::Value =
            serde_saphyr::from_str(&prometheus_yml(&Spec::default()).unwrap()).unwrap();
        let am = &v["alerting"]["alertmanagers"][0];
        let jobs = v["scrape_configs"].as_array().unwrap();
        let job = |n: &str| jobs.iter().find(|j| j["job_name"] == n).unwrap().clone();
        for c in [am.clone(), job("prometheus"), job("alertmanager")] {
            assert_eq!(c["scheme"], "https", "{c}");
            assert_eq!(c["tls_config"]["ca_file"], "/etc/pgha/tls/ca.crt");
            assert_eq!(c["basic_auth"]["username"], crate::secrets::MONITORING_USER);
            assert_eq!(
                c["basic_auth"]["password_file"],
                layout::PROMETHEUS_WEB_PASS
            );
            assert!(
                c["basic_auth"].get("password").is_none(),
                "no password inline"
            );
        }
        assert_eq!(
            job("prometheus")["static_configs"][0]["targets"][0],
            "localhost:9090"
        );
        let mut plain = Spec::default();
        plain.tls.enabled = false;
        let v: serde_json::Value =
            serde_saphyr::from_str(&prometheus_yml(&plain).unwrap()).unwrap();
        let am = &v["alerting"]["alertmanagers"][0];
        assert_eq!(am["scheme"], "http");
        assert!(am.get("tls_config").is_none());
        assert_eq!(
            am["basic_auth"]["username"],
            crate::secrets::MONITORING_USER
        );
    }

    #[test]
    fn the_monitoring_web_config_asks_for_the_password_and_serves_tls() {
        let hash = "$2b$10$abcdefghijklmnopqrstuv";
        let v: serde_json::Value =
            serde_saphyr::from_str(&monitoring_web_yml(&Spec::default(), hash)).unwrap();
        assert_eq!(v["basic_auth_users"][crate::secrets::MONITORING_USER], hash);
        assert_eq!(v["tls_server_config"]["cert_file"], layout::WEB_CERT);
        assert_eq!(v["tls_server_config"]["key_file"], layout::WEB_KEY);
        assert_eq!(v["tls_server_config"]["min_version"], "TLS13");
        let mut plain = Spec::default();
        plain.tls.enabled = false;
        let v: serde_json::Value =
            serde_saphyr::from_str(&monitoring_web_yml(&plain, hash)).unwrap();
        assert!(v.get("tls_server_config").is_none(), "http with [tls] off");
        assert_eq!(v["basic_auth_users"][crate::secrets::MONITORING_USER], hash);
        // The exporters' web config stays TLS alone.
        let e = exporters_web_yml(&Spec::default()).unwrap();
        assert!(e.contains("node.crt") && !e.contains("basic_auth"), "{e}");
    }

    #[test]
    fn alertmanager_posts_to_the_webhook_when_one_is_set() {
        let mut spec = Spec::default();
        let none: serde_json::Value =
            serde_saphyr::from_str(&alertmanager_yml(&spec).unwrap()).unwrap();
        assert_eq!(none["route"]["receiver"], "none");
        spec.monitoring.webhook_url = "http://hook:8080/x".into();
        let v: serde_json::Value =
            serde_saphyr::from_str(&alertmanager_yml(&spec).unwrap()).unwrap();
        assert_eq!(v["route"]["receiver"], "webhook");
        assert_eq!(
            v["receivers"][1]["webhook_configs"][0]["url"],
            "http://hook:8080/x"
        );
        assert_eq!(
            v["receivers"][1]["webhook_configs"][0]["send_resolved"],
            true
        );
    }

    #[test]
    fn rules_file_parses_as_yaml_with_every_rule() {
        let spec = Spec::default();
        let v: serde_json::Value = serde_saphyr::from_str(&rules_yaml(&spec)).unwrap();
        let r = &v["groups"][0]["rules"];
        assert_eq!(
            r.as_array().unwrap().len(),
            crate::monitoring::rules::rules(&spec).len()
        );
        assert_eq!(r[0]["alert"], "PghaNoLeader");
        assert!(r[1]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("{{ $labels.member }}"));
        let c: serde_json::Value =
            serde_saphyr::from_str(&certificate_rules_yaml(&[("pg1".into(), 1_800_000_000)]))
                .unwrap();
        assert_eq!(c["groups"][0]["rules"][0]["expr"], "vector(1800000000)");
        assert_eq!(c["groups"][0]["rules"][0]["labels"]["certificate"], "pg1");
        let empty: serde_json::Value =
            serde_saphyr::from_str(&certificate_rules_yaml(&[])).unwrap();
        assert!(empty["groups"][0]["rules"].as_array().unwrap().is_empty());
    }
    #[test]
    fn the_exporters_queries_read_the_archiver() {
        let q: serde_json::Value = serde_saphyr::from_str(QUERIES_YML).unwrap();
        assert!(q["pgha_archive"]["query"]
            .as_str()
            .unwrap()
            .contains("pg_stat_archiver"));
    }
}
