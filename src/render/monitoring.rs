//! The monitoring files: Prometheus's config, its alert rules (from `monitoring::rules`) and the
//! certificates' end dates, Alertmanager's config, and the exporters' queries and web config.

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

/// The exporters' web config: TLS with the node's certificate (`[tls]` on).
pub fn exporters_web_yml(spec: &Spec) -> Option<String> {
    let d = layout::TLS_DIR;
    spec.tls.enabled.then(|| {
        format!("tls_server_config:\n  cert_file: {d}/node.crt\n  key_file: {d}/node.key\n  min_version: TLS13\n")
    })
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

/// A rules file recording each certificate's end (`pgha_certificate_not_after_seconds`, labelled
/// `certificate`), from the certificates pgha issued: Prometheus has no other way to read them.
pub fn certificate_rules_yaml(ends: &[(String, i64)]) -> String {
    let mut s = String::from(
        "# When each certificate of the cluster's CA ends (Unix seconds), written by pgha from the\n\
         # certificates it issued; `pgha certs rotate` rewrites it.\ngroups:\n  - name: pgha-certificates\n    rules:\n",
    );
    if ends.is_empty() {
        s = s.replace("    rules:\n", "    rules: []\n");
    }
    for (name, end) in ends {
        s.push_str(&format!(
            "      - record: pgha_certificate_not_after_seconds\n        expr: vector({end})\n        labels:\n          certificate: {}\n",
            q(name)
        ));
    }
    s
}

/// `certificates.yml`: `certificate_rules_yaml` of the cluster's certificates.
pub fn certificates_yml(certs: &crate::tls::cert::ClusterCerts) -> String {
    certificate_rules_yaml(&crate::monitoring::certificate_ends(certs))
}

#[cfg(test)]
mod tests {
    use super::*;

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
