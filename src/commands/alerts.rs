//! `pgha alerts`: what fires now, from Alertmanager's API: a table (critical first) with each
//! alert's runbook line below it, or `--json`.

use crate::adapters::prom::Prom;
use crate::monitoring::api::Alert;
use crate::ops::session::Session;
use crate::output::{json, new_table, short_age};
use crate::spec::Spec;
use crate::usage;
use anyhow::{anyhow, Result};

/// The monitoring APIs of a spec, or the usage error of a spec without monitoring.
pub fn prom(spec: &Spec) -> Result<Prom> {
    if !spec.monitoring.enabled {
        usage!(
            "cluster {} runs without monitoring ([monitoring] enabled = false): turn it on in the spec and run `pgha up`",
            spec.name
        );
    }
    crate::security::prom(spec)
}

/// `2026-12-02T10:00:00.123Z` → seconds before now, when it parses.
pub fn age_s(rfc3339: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(rfc3339).ok()?;
    Some(
        std::time::SystemTime::now()
            .duration_since(t)
            .map_or(0, |d| d.as_secs() as i64),
    )
}

pub fn alerts_table(alerts: &[Alert]) -> String {
    let mut t = new_table(&["Alert", "Severity", "Member", "Since", "Summary"]);
    for a in alerts {
        t.add_row(vec![
            a.name.clone(),
            a.severity.clone(),
            a.member.clone(),
            age_s(&a.since).map_or("?".into(), short_age),
            a.summary.clone(),
        ]);
    }
    t.to_string()
}

pub async fn run(session: &Session) -> Result<()> {
    let spec = session.spec()?;
    let prom = prom(spec)?;
    let alerts = prom.alerts().await.map_err(|e| {
        anyhow!(
            "Alertmanager of cluster {} does not answer on {} (`pgha up` starts it): {e:#}",
            spec.name,
            prom.alertmanager
                .trim_start_matches("https://")
                .trim_start_matches("http://")
        )
    })?;
    if session.global.json {
        crate::say!("{}", json(&alerts));
        return Ok(());
    }
    if alerts.is_empty() {
        crate::sayln!("No alerts firing in cluster {}.", spec.name);
        return Ok(());
    }
    crate::sayln!("{}", alerts_table(&alerts));
    let mut seen = std::collections::BTreeSet::new();
    for a in &alerts {
        if !a.runbook.is_empty() && seen.insert(&a.name) {
            crate::sayln!("{}: {}", a.name, a.runbook);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_from_alertmanagers_times() {
        assert!(age_s("2000-01-01T00:00:00.5Z").unwrap() > 0);
        assert_eq!(age_s("yesterday"), None);
    }
}
