//! The PostgreSQL roles' passwords: setting one (always as a SCRAM verifier), and those `up`
//! keeps: with TLS, Patroni makes the replication and pg_rewind roles without one (they log in
//! with certificates).

use crate::adapters::pg::Pg;
use crate::ops::health;
use crate::secrets::rotate::User;
use crate::secrets::Secrets;
use crate::spec::Spec;
use anyhow::{Context, Result};
use std::time::Duration;

/// With TLS, Patroni makes the replication and pg_rewind roles without a password (they log in
/// with certificates); they get theirs from `secrets.toml` here, where they have none, so that a
/// cluster that turns TLS off later still replicates. Returns the roles it set.
pub async fn ensure_role_passwords(spec: &Spec, s: &Secrets) -> Result<Vec<&'static str>> {
    let pg = Pg::connect(&health::primary_target(spec, s), Duration::from_secs(10)).await?;
    let mut set = Vec::new();
    for u in [User::Replication, User::Rewind] {
        let role = u.role().unwrap_or_default();
        let missing = pg
            .query_text(&format!(
                "select (rolpassword is null)::text from pg_authid where rolname = '{role}'"
            ))
            .await?;
        if missing.as_deref() == Some("true") {
            set_password(&pg, role, u.password(s)).await?;
            set.push(role);
        }
    }
    Ok(set)
}

/// Sets `role`'s password as a SCRAM verifier: the plaintext never reaches PostgreSQL or its log.
pub async fn set_password(pg: &Pg, role: &str, password: &str) -> Result<()> {
    let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
    pg.batch(&format!("ALTER ROLE {role} PASSWORD '{verifier}'"))
        .await
        .with_context(|| format!("set the password of role {role}"))
}
