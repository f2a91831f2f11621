//! `pgha alerts`: what fires now, from Alertmanager's API: a table (critical first) with each
//! alert's runbook line below it, or `--json`.

use crate::adapters::prom::Prom;
use crate::context::Ctx;
use crate::monitoring::api::Alert;
use crate::output::{json, new_table};
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
    Ok(Prom::for_spec(spec))
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

/// `75` → `1m15s`.
pub fn short_age(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
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

pub async fn run(ctx: &Ctx) -> Result<()> {
    let spec = ctx.spec()?;
    let prom = prom(&spec)?;
    let alerts = prom.alerts().await.map_err(|e| {
        anyhow!(
            "Alertmanager of cluster {} does not answer on 127.0.0.1:{} (`pgha up` starts it): {e:#}",
            spec.name,
            spec.alertmanager_port()
        )
    })?;
    if ctx.global.json {
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
    fn ages_read_short() {
        assert_eq!(short_age(5), "5s");
        assert_eq!(short_age(75), "1m15s");
        assert_eq!(short_age(7322), "2h02m");
        assert_eq!(short_age(90_000), "1d01h");
        assert!(age_s("2000-01-01T00:00:00.5Z").unwrap() > 0);
        assert_eq!(age_s("yesterday"), None);
    }
}
