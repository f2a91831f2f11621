//! The monitoring parts `up` sets up on a running cluster: the exporters' PostgreSQL role, and
//! the wait until Prometheus scrapes every target.

use crate::adapters::pg::Pg;
use crate::monitoring::MONITOR_ROLE;
use crate::progress::Progress;
use crate::secrets::Secrets;
use crate::spec::Spec;
use crate::wait::{wait_for, Check};
use anyhow::Result;
use std::time::Duration;

/// Makes the exporters' role (member of pg_monitor) log in with the secrets file's password:
/// created when missing, its password set when a login with it fails. Returns whether it changed
/// anything. The password reaches PostgreSQL only as a SCRAM verifier.
pub async fn ensure_role(spec: &Spec, s: &Secrets) -> Result<bool> {
    let su = super::health::primary_target(spec, s);
    let mon = crate::adapters::pg::PgTarget {
        user: MONITOR_ROLE.into(),
        password: s.monitor_password.clone(),
        ..su.clone()
    };
    if Pg::connect(&mon, Duration::from_secs(5)).await.is_ok() {
        return Ok(false);
    }
    let pg = Pg::connect(&su, Duration::from_secs(10)).await?;
    pg.batch(&format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{MONITOR_ROLE}') THEN \
         CREATE ROLE {MONITOR_ROLE} LOGIN; END IF; END $$; \
         ALTER ROLE {MONITOR_ROLE} WITH LOGIN; \
         GRANT pg_monitor TO {MONITOR_ROLE};"
    ))
    .await
    .map_err(|e| anyhow::anyhow!("create the monitoring role {MONITOR_ROLE}: {e:#}"))?;
    super::roles::set_password(&pg, MONITOR_ROLE, &s.monitor_password).await?;
    Ok(true)
}

/// Waits until Prometheus reports every target up; returns how many there are.
pub async fn wait_targets(spec: &Spec, timeout: Duration, p: &Progress) -> Result<usize> {
    let prom = crate::security::prom(spec)?;
    wait_for(
        "Prometheus to scrape every target",
        timeout,
        Duration::from_millis(500),
        Some(p),
        || async {
            Ok(match prom.targets().await {
                Err(e) => Check::NotYet(format!("{e:#}")),
                Ok(t) if t.is_empty() => Check::NotYet("no targets yet".into()),
                Ok(t) => {
                    let down: Vec<String> = t
                        .iter()
                        .filter(|t| t.health != "up")
                        .map(|t| format!("{} {} ({})", t.job, t.member, t.health))
                        .collect();
                    if down.is_empty() {
                        Check::Ready(t.len())
                    } else {
                        Check::NotYet(format!("not scraped yet: {}", down.join(", ")))
                    }
                }
            })
        },
    )
    .await
    .map_err(Into::into)
}
