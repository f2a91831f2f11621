//! What `up` prints when the cluster is healthy: the table, how to connect, what was rolled and
//! what waits for a restart (`--json`: the same as one object). `up` and `restore --into` print it.

use super::{Converged, Outcome};
use crate::ops::health;
use crate::ops::roll::Rolled;
use crate::ops::session::Session;
use crate::output::{json, list_report, list_table, ListReport};
use crate::progress::Progress;
use crate::secrets;
use anyhow::Result;
use serde::Serialize;

#[derive(Serialize)]
struct UpReport {
    cluster: String,
    changed: bool,
    actions: Vec<String>,
    /// What `up` changed in the config key of a running cluster.
    config: Converged,
    /// The containers `up` replaced or removed one at a time on a running cluster.
    rolled: Option<Rolled>,
    image_built: bool,
    elapsed_s: f64,
    primary_dsn: String,
    replica_dsn: String,
    pgpass: String,
    haproxy_stats: String,
    /// Prometheus's and Alertmanager's web UI and API (`[monitoring]` on).
    prometheus: Option<String>,
    alertmanager: Option<String>,
    /// How to log in to them (the password's place, never the password).
    monitoring_login: Option<MonitoringLogin>,
    /// Scrape targets Prometheus reports up, when `up` saw all of them up.
    scrape_targets: Option<usize>,
    list: ListReport,
}

/// Prometheus's and Alertmanager's basic auth: the user, and where its password is.
#[derive(Serialize)]
struct MonitoringLogin {
    user: String,
    /// The secrets file and the key in it that holds the password.
    password_file: String,
    password_key: String,
    /// The CA their https certificates are checked against (`[tls]` on).
    ca: Option<String>,
}

/// Writes the password file, then prints the report of `up` (after `converge::up`).
pub fn print(session: &Session, out: Outcome, p: &Progress) -> Result<()> {
    let spec = session.spec()?;
    let Outcome {
        done,
        changed,
        converged,
        rolled,
        secrets: cluster_secrets,
        image_built,
        scrape_targets,
        view,
    } = out;
    let host = spec.connect_host();
    let pg_ports = spec.host_pg_ports();
    let pgpass = secrets::write_pgpass(
        &spec.name,
        &crate::render::host_pgpass(host, &pg_ports, &cluster_secrets.superuser_password),
    )?;
    let ca = crate::tls::ca_path(&spec.name);
    let monitor = spec
        .monitoring
        .enabled
        .then(|| crate::adapters::prom::urls(spec));
    let report = UpReport {
        cluster: spec.name.clone(),
        changed,
        actions: done.actions(),
        config: converged,
        rolled,
        image_built,
        elapsed_s: p.elapsed().as_secs_f64(),
        primary_dsn: health::primary_target(spec, &cluster_secrets).url(Some(&ca)),
        replica_dsn: health::pg_target(spec, spec.haproxy_replica_port(), &cluster_secrets)
            .url(Some(&ca)),
        pgpass: pgpass.display().to_string(),
        haproxy_stats: format!("http://{host}:{}/", spec.haproxy_stats_port()),
        prometheus: monitor.as_ref().map(|m| format!("{}/", m.0)),
        alertmanager: monitor.as_ref().map(|m| format!("{}/", m.1)),
        monitoring_login: monitor.as_ref().map(|_| MonitoringLogin {
            user: secrets::MONITORING_USER.into(),
            password_file: secrets::secrets_path(&spec.name).display().to_string(),
            password_key: secrets::MONITORING_PASSWORD_KEY.into(),
            ca: spec.tls.enabled.then(|| ca.display().to_string()),
        }),
        scrape_targets,
        list: list_report(&view),
    };
    eprintln!(
        "cluster {} is healthy ({:.1} s{})",
        spec.name,
        report.elapsed_s,
        if report.changed {
            ""
        } else {
            ", nothing changed"
        }
    );
    if session.global.json {
        crate::say!("{}", json(&report));
    } else {
        crate::say!("{}", list_table(&report.list));
        crate::sayln!();
        crate::sayln!("Writes (leader):   psql \"{}\"", report.primary_dsn);
        crate::sayln!("Reads (replicas):  psql \"{}\"", report.replica_dsn);
        crate::sayln!("Password file:     export PGPASSFILE={}", report.pgpass);
        crate::sayln!("HAProxy stats:     {}", report.haproxy_stats);
        if let (Some(prom), Some(am)) = (&report.prometheus, &report.alertmanager) {
            let up = report
                .scrape_targets
                .map_or(String::new(), |n| format!(" ({n} targets up)"));
            crate::sayln!("Prometheus:        {prom}{up}");
            crate::sayln!("Alertmanager:      {am}  (`pgha alerts`, `pgha top`)");
            if let Some(l) = &report.monitoring_login {
                crate::sayln!(
                    "Monitoring login:  user {}, password: {} in {}",
                    l.user,
                    l.password_key,
                    l.password_file
                );
                if let Some(ca) = &l.ca {
                    crate::sayln!(
                        "                   e.g. curl --cacert {ca} -u {} {prom}api/v1/targets",
                        l.user
                    );
                }
            }
        }
        if let Some(r) = &report.rolled {
            crate::sayln!(
                "Rolled: {} step{} in {:.1} s; longest gap between acknowledged writes {} ({} writes acknowledged through HAProxy, {} missing on {}); leader {} -> {}.",
                r.steps.len(),
                if r.steps.len() == 1 { "" } else { "s" },
                r.elapsed_s,
                r.longest_write_gap_s
                    .map_or("n/a".to_string(), |g| format!("{g:.2} s")),
                r.writes_acked,
                r.writes_lost,
                r.checked_on.join(", "),
                r.leader_before.as_deref().unwrap_or("none"),
                r.leader_after.as_deref().unwrap_or("none")
            );
        }
        if !report.config.pending_restart.is_empty() {
            crate::sayln!(
                "Pending restart on {}: `pgha list` shows it; `pgha restart --pending` (or `pgha up --restart`) applies it.",
                report.config.pending_restart.join(", ")
            );
        }
    }
    Ok(())
}
