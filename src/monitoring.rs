//! Monitoring (`[monitoring]`): what runs where and with which files. Prometheus and Alertmanager
//! run in their own containers (pgha's node image); each node container runs a PostgreSQL
//! exporter (role `pgha_monitor`), a disk exporter for its volumes and, with `[backup]` on, the
//! pgBackRest exporter, beside Patroni. This module renders their configs and commands; the
//! alert rules are in `rules`. Pure.

use crate::spec::Spec;
use anyhow::{Context, Result};
use serde::Serialize;

pub mod api;
pub mod rules;
pub mod view;

pub use crate::layout::{
    ALERTMANAGER_DATA, ALERTMANAGER_DIR, ALERTMANAGER_PORT, EXPORTERS_DIR, PROMETHEUS_DATA,
    PROMETHEUS_DIR, PROMETHEUS_PORT,
};
/// The PostgreSQL role the exporters log in as (member of `pg_monitor`).
pub const MONITOR_ROLE: &str = "pgha_monitor";
pub use crate::spec::names::{ALERTMANAGER, PROMETHEUS};

/// An exporter in every node container.
#[derive(Debug, Clone, Serialize)]
pub struct NodeJob {
    pub name: &'static str,
    pub port: u16,
    pub what: &'static str,
}

/// The exporters each node container runs for `spec`.
pub fn node_jobs(spec: &Spec) -> Vec<NodeJob> {
    let mut jobs = vec![
        NodeJob {
            name: "postgres",
            port: 9187,
            what: "PostgreSQL's statistics (postgres_exporter, role pgha_monitor)",
        },
        NodeJob {
            name: "disk",
            port: 9100,
            what: "The data and backup volumes' file systems (node_exporter)",
        },
    ];
    if spec.backup.enabled {
        jobs.push(NodeJob {
            name: "pgbackrest",
            port: 9854,
            what: "The backups in the repository (pgbackrest_exporter)",
        });
    }
    jobs
}

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
        dir: PROMETHEUS_DIR,
        scheme: spec.tls.scheme(),
        tls: spec.tls.enabled,
        tls_dir: crate::layout::TLS_DIR,
        nodes: &spec.nodes.names,
        etcd: spec.etcd_names(),
        node_jobs: node_jobs(spec),
    };
    crate::render::render("prometheus.yml.j2", &ctx).context("render prometheus.yml")
}

pub fn alertmanager_yml(spec: &Spec) -> Result<String> {
    let ctx = AlertmanagerCtx {
        scope: &spec.name,
        webhook_url: &spec.monitoring.webhook_url,
    };
    crate::render::render("alertmanager.yml.j2", &ctx).context("render alertmanager.yml")
}

/// Prometheus's command line.
pub fn prometheus_cmd(spec: &Spec) -> Vec<String> {
    vec![
        "prometheus".into(),
        format!("--config.file={PROMETHEUS_DIR}/prometheus.yml"),
        format!("--storage.tsdb.path={PROMETHEUS_DATA}"),
        format!(
            "--storage.tsdb.retention.time={}",
            spec.monitoring.retention
        ),
        format!("--web.listen-address=:{PROMETHEUS_PORT}"),
        "--web.enable-lifecycle".into(),
    ]
}

/// Alertmanager's command line (one instance: no gossip).
pub fn alertmanager_cmd() -> Vec<String> {
    vec![
        "prometheus-alertmanager".into(),
        format!("--config.file={ALERTMANAGER_DIR}/alertmanager.yml"),
        format!("--storage.path={ALERTMANAGER_DATA}"),
        format!("--web.listen-address=:{ALERTMANAGER_PORT}"),
        "--cluster.listen-address=".into(),
    ]
}

/// The exporters' web config: TLS with the node's certificate (`[tls]` on).
pub fn exporters_web_yml(spec: &Spec) -> Option<String> {
    let d = crate::layout::TLS_DIR;
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

/// The shell line starting the exporters in the background of a node container, each restarted
/// when it exits (Patroni, exec'd as PID 1 after them, reaps them).
pub fn node_exporters_sh(spec: &Spec) -> String {
    let d = EXPORTERS_DIR;
    let web = if spec.tls.enabled {
        format!(" --web.config.file={d}/web.yml")
    } else {
        String::new()
    };
    let looped = |cmd: String| format!("(while :; do {cmd}; sleep 5; done) & ");
    // Over TCP on loopback, as pg_hba lets a password in (TLS checked against the CA when on).
    let ssl = if spec.tls.enabled {
        format!(
            "sslmode=verify-full&sslrootcert={}/ca.crt",
            crate::layout::TLS_DIR
        )
    } else {
        "sslmode=disable".into()
    };
    let mut sh = looped(format!(
        "DATA_SOURCE_URI='localhost:5432/postgres?{ssl}' DATA_SOURCE_USER={MONITOR_ROLE} DATA_SOURCE_PASS_FILE={d}/monitor.pass prometheus-postgres-exporter --web.listen-address=:9187{web} --extend.query-path={d}/queries.yml --log.level=warn"
    ));
    sh += &looped(format!(
        "prometheus-node-exporter --web.listen-address=:9100{web} --collector.disable-defaults --collector.filesystem '--collector.filesystem.mount-points-include=^/var/lib/(postgresql/data|pgbackrest)$' --log.level=warn"
    ));
    if spec.backup.enabled {
        sh += &looped(format!(
            "prometheus-pgbackrest-exporter --web.listen-address=:9854{web} --collect.interval=60 --backrest.config={} --log.level=warn",
            crate::layout::PGBACKREST_CONF
        ));
    }
    sh
}

/// When each certificate ends (CA and leaves, by stem), for `rules::certificate_rules_yaml`.
pub fn certificate_ends(certs: &crate::tls::cert::ClusterCerts) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    if let Ok(f) = crate::tls::cert::facts(&certs.ca) {
        out.push(("ca".to_string(), f.not_after));
    }
    for (stem, (crt, _)) in &certs.leaves {
        if let Ok(f) = crate::tls::cert::facts(crt) {
            out.push((stem.clone(), f.not_after));
        }
    }
    out
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
        assert!(!y.is_empty() && !node_exporters_sh(&plain).contains("pgbackrest-exporter"));
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
    fn exporters_never_see_a_password_on_their_command_line() {
        let sh = node_exporters_sh(&Spec::default());
        assert!(sh.contains("DATA_SOURCE_PASS_FILE="));
        assert!(!sh.contains("DATA_SOURCE_PASS="));
        assert!(sh.contains("--web.config.file="));
        let q: serde_json::Value = serde_saphyr::from_str(QUERIES_YML).unwrap();
        assert!(q["pgha_archive"]["query"]
            .as_str()
            .unwrap()
            .contains("pg_stat_archiver"));
    }
}
