//! Monitoring (`[monitoring]`): what runs where and with which files. Prometheus and Alertmanager
//! run in their own containers (pgha's node image); each node container runs a PostgreSQL
//! exporter (role `pgha_monitor`), a disk exporter for its volumes and, with `[backup]` on, the
//! pgBackRest exporter, beside Patroni. This module says which exporters run and their commands;
//! the alert rules are in `rules`; `render::monitoring` renders the config files. Pure.
//!
//! Prometheus and Alertmanager are closed: their web UI and API ask for a password (basic auth,
//! user `secrets::MONITORING_USER`, the password `monitoring_web_password` in `secrets.toml`),
//! and with `[tls]` on they serve https only, with their own certificate from the cluster's CA.
//! With `[tls]` off (loopback-bound clusters only) they keep the password over plain http, like
//! every other part of such a cluster: TLS follows the one `[tls]` switch, the password does not.

use crate::layout::{
    self, ALERTMANAGER_DATA, ALERTMANAGER_DIR, ALERTMANAGER_PORT, ALERTMANAGER_WEB_CONFIG,
    EXPORTERS_DIR, PROMETHEUS_DATA, PROMETHEUS_DIR, PROMETHEUS_PORT, PROMETHEUS_WEB_CONFIG,
};
use crate::spec::Spec;
use serde::Serialize;

pub mod api;
pub mod rules;
pub mod view;

/// The PostgreSQL role the exporters log in as (member of `pg_monitor`).
pub const MONITOR_ROLE: &str = crate::secrets::MONITOR_ROLE;

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
            port: layout::POSTGRES_EXPORTER_PORT,
            what: "PostgreSQL's statistics (postgres_exporter, role pgha_monitor)",
        },
        NodeJob {
            name: "disk",
            port: layout::NODE_EXPORTER_PORT,
            what: "The data and backup volumes' file systems (node_exporter)",
        },
    ];
    if spec.backup.enabled {
        jobs.push(NodeJob {
            name: "pgbackrest",
            port: layout::PGBACKREST_EXPORTER_PORT,
            what: "The backups in the repository (pgbackrest_exporter)",
        });
    }
    jobs
}

/// Prometheus's command line. Its web config asks for a password (and serves TLS with `[tls]`
/// on); the lifecycle API (`/-/reload`, `/-/quit`) stays off: a reload is a SIGHUP.
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
        format!("--web.config.file={PROMETHEUS_WEB_CONFIG}"),
    ]
}

/// Alertmanager's command line (one instance: no gossip), with its web config like Prometheus's.
pub fn alertmanager_cmd() -> Vec<String> {
    vec![
        "prometheus-alertmanager".into(),
        format!("--config.file={ALERTMANAGER_DIR}/alertmanager.yml"),
        format!("--storage.path={ALERTMANAGER_DATA}"),
        format!("--web.listen-address=:{ALERTMANAGER_PORT}"),
        format!("--web.config.file={ALERTMANAGER_WEB_CONFIG}"),
        "--cluster.listen-address=".into(),
    ]
}

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
        format!("sslmode=verify-full&sslrootcert={}/ca.crt", layout::TLS_DIR)
    } else {
        "sslmode=disable".into()
    };
    let mut sh = looped(format!(
        "DATA_SOURCE_URI='localhost:{pg}/postgres?{ssl}' DATA_SOURCE_USER={MONITOR_ROLE} DATA_SOURCE_PASS_FILE={d}/monitor.pass prometheus-postgres-exporter --web.listen-address=:{pe}{web} --extend.query-path={d}/queries.yml --log.level=warn",
        pg = layout::PG_PORT,
        pe = layout::POSTGRES_EXPORTER_PORT
    ));
    sh += &looped(format!(
        "prometheus-node-exporter --web.listen-address=:{}{web} --collector.disable-defaults --collector.filesystem '--collector.filesystem.mount-points-include={}' --log.level=warn",
        layout::NODE_EXPORTER_PORT,
        layout::NODE_EXPORTER_MOUNTS
    ));
    if spec.backup.enabled {
        sh += &looped(format!(
            "prometheus-pgbackrest-exporter --web.listen-address=:{}{web} --collect.interval=60 --backrest.config={} --log.level=warn",
            layout::PGBACKREST_EXPORTER_PORT,
            layout::PGBACKREST_CONF
        ));
    }
    sh
}

/// When each certificate ends (CA and leaves, by stem), for `render::monitoring::certificates_yml`.
pub fn certificate_ends(certs: &crate::tls::cert::ClusterCerts) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    // The issuing CA first; during a CA rotation the other one of the bundle too, alerted on
    // like the rest.
    for (i, ca) in crate::tls::cert::pem_certificates(&certs.ca)
        .iter()
        .enumerate()
    {
        if let Ok(f) = crate::tls::cert::facts(ca) {
            let name = if i == 0 { "ca" } else { "ca-other" };
            out.push((name.to_string(), f.not_after));
        }
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
    fn prometheus_and_alertmanager_read_a_web_config_and_have_no_lifecycle_api() {
        let p = prometheus_cmd(&Spec::default());
        assert!(!p.iter().any(|a| a.contains("lifecycle")), "{p:?}");
        assert!(p.contains(&format!("--web.config.file={PROMETHEUS_WEB_CONFIG}")));
        let a = alertmanager_cmd();
        assert!(a.contains(&format!("--web.config.file={ALERTMANAGER_WEB_CONFIG}")));
    }

    #[test]
    fn exporters_never_see_a_password_on_their_command_line() {
        let sh = node_exporters_sh(&Spec::default());
        assert!(sh.contains("DATA_SOURCE_PASS_FILE="));
        assert!(!sh.contains("DATA_SOURCE_PASS="));
        assert!(sh.contains("--web.config.file="));
    }
}
