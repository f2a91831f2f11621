//! Secrets: the PostgreSQL and Patroni REST passwords of a cluster, generated on first use and kept
//! on the host in `<state dir>/<cluster>/secrets.toml` (mode 0600, folder 0700). They reach the
//! containers only as Patroni's `90-secrets.yml`, never in rendered files or on command lines.
//!
//! This module is the pure part (the users, generating); `exposure` says where a credential may
//! go and prints secrets redacted; `store` keeps them on the host (re-exported here);
//! `render::secrets` renders the files that carry them.

use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

pub mod exposure;
pub mod rotate;
pub mod store;
pub use store::*;

pub const SUPERUSER: &str = "postgres";
pub const REPLICATION_USER: &str = "replicator";
pub const REWIND_USER: &str = "rewind_user";
pub const REST_USER: &str = "pgha";
/// The exporters' PostgreSQL role (member of pg_monitor).
pub const MONITOR_ROLE: &str = "pgha_monitor";
/// etcd's users (with `[tls]` on, etcd requires a password): root for pgha, and Patroni's, which
/// may read and write only the cluster's keys.
pub const ETCD_ROOT: &str = "root";
pub const ETCD_PATRONI: &str = "patroni";
/// The user of Prometheus's and Alertmanager's web UI and API (basic auth).
pub const MONITORING_USER: &str = "pgha";
/// Its password's key in `secrets.toml` (what `up` tells a person to look for).
pub const MONITORING_PASSWORD_KEY: &str = "monitoring_web_password";
/// bcrypt's cost for that password: Prometheus checks it at most once per new password (the
/// exporter toolkit caches a good login), so the default of Go's bcrypt is enough.
const BCRYPT_COST: u32 = 10;

/// A cluster's passwords; `Debug` shows none of them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    pub superuser_password: String,
    pub replication_password: String,
    pub rewind_password: String,
    pub restapi_password: String,
    /// Added with etcd authentication: a file from before gets them on its next load.
    #[serde(default)]
    pub etcd_root_password: String,
    #[serde(default)]
    pub etcd_patroni_password: String,
    /// The exporters' PostgreSQL role (`monitoring::MONITOR_ROLE`); added with monitoring.
    #[serde(default)]
    pub monitor_password: String,
    /// The password of Prometheus's and Alertmanager's web UI and API (basic auth, user
    /// `MONITORING_USER`); added with closed monitoring.
    #[serde(default)]
    pub monitoring_web_password: String,
    /// Its bcrypt hash, what their web config (`basic_auth_users`) holds. Stored, not hashed at
    /// each render: bcrypt salts every hash anew, and the web config is part of the monitoring
    /// containers' config hash, so a fresh hash per run would replace them at every `up`. Made
    /// again only when it is missing or no longer matches the password (`web_hash_stale`).
    #[serde(default)]
    pub monitoring_web_bcrypt: String,
    /// When each password was last rotated (`rotate::User` name → Unix seconds); a user not in
    /// it has its password from when the cluster was made. Not a secret.
    #[serde(default)]
    pub rotated: std::collections::BTreeMap<String, i64>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Every field named, so that a new one is not forgotten here.
        let Secrets {
            superuser_password: _,
            replication_password: _,
            rewind_password: _,
            restapi_password: _,
            etcd_root_password: _,
            etcd_patroni_password: _,
            monitor_password: _,
            monitoring_web_password: _,
            monitoring_web_bcrypt: _,
            rotated,
        } = self;
        let r = &exposure::Redacted;
        f.debug_struct("Secrets")
            .field("superuser_password", r)
            .field("replication_password", r)
            .field("rewind_password", r)
            .field("restapi_password", r)
            .field("etcd_root_password", r)
            .field("etcd_patroni_password", r)
            .field("monitor_password", r)
            .field("monitoring_web_password", r)
            .field("monitoring_web_bcrypt", r)
            .field("rotated", rotated)
            .finish()
    }
}

pub(crate) fn password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// The bcrypt hash of `password` (a fresh salt each time).
pub(crate) fn bcrypt_hash(password: &str) -> String {
    // Only fails for a cost outside 4..=31 or a password over 72 bytes: neither happens here.
    bcrypt::hash(password, BCRYPT_COST).expect("bcrypt a generated password")
}

impl Secrets {
    pub fn generate() -> Secrets {
        let web = password();
        Secrets {
            superuser_password: password(),
            replication_password: password(),
            rewind_password: password(),
            restapi_password: password(),
            etcd_root_password: password(),
            etcd_patroni_password: password(),
            monitor_password: password(),
            monitoring_web_password: web.clone(),
            monitoring_web_bcrypt: bcrypt_hash(&web),
            rotated: Default::default(),
        }
    }

    /// The web password's stored hash is missing or does not match it (edited by hand).
    pub fn web_hash_stale(&self) -> bool {
        !bcrypt::verify(&self.monitoring_web_password, &self.monitoring_web_bcrypt).unwrap_or(false)
    }

    /// Makes the web password (when missing) and its hash (when stale); whether it changed any.
    pub fn fill_web_login(&mut self) -> bool {
        let mut changed = false;
        if self.monitoring_web_password.is_empty() {
            self.monitoring_web_password = password();
            changed = true;
        }
        if changed || self.web_hash_stale() {
            self.monitoring_web_bcrypt = bcrypt_hash(&self.monitoring_web_password);
            changed = true;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = Secrets::generate();
        let b = Secrets::generate();
        assert_ne!(a, b);
        assert_eq!(a.superuser_password.len(), 32);
        assert_ne!(a.superuser_password, a.replication_password);
        assert!(a
            .superuser_password
            .chars()
            .all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn debug_shows_no_password() {
        let s = Secrets::generate();
        let shown = format!("{s:?} {s:#?}");
        for pw in [
            &s.superuser_password,
            &s.replication_password,
            &s.rewind_password,
            &s.restapi_password,
            &s.etcd_root_password,
            &s.etcd_patroni_password,
            &s.monitor_password,
            &s.monitoring_web_password,
            &s.monitoring_web_bcrypt,
        ] {
            assert!(!shown.contains(pw.as_str()), "{shown}");
        }
        assert!(shown.contains("superuser_password: [redacted]"), "{shown}");
    }

    #[test]
    fn the_web_hash_is_kept_until_the_password_changes() {
        let mut s = Secrets::generate();
        assert!(s.monitoring_web_bcrypt.starts_with("$2"));
        assert!(!s.web_hash_stale());
        let kept = s.monitoring_web_bcrypt.clone();
        assert!(!s.fill_web_login());
        assert_eq!(
            s.monitoring_web_bcrypt, kept,
            "a good hash is not salted anew"
        );
        s.monitoring_web_password = "edited by hand".into();
        assert!(s.web_hash_stale());
        assert!(s.fill_web_login());
        assert!(bcrypt::verify("edited by hand", &s.monitoring_web_bcrypt).unwrap());
        let mut old = Secrets {
            monitoring_web_password: String::new(),
            monitoring_web_bcrypt: String::new(),
            ..Secrets::generate()
        };
        assert!(old.fill_web_login());
        assert_eq!(old.monitoring_web_password.len(), 32);
        assert!(!old.web_hash_stale());
        let toml = toml::to_string(&old).unwrap();
        assert!(
            toml.contains(&format!("{MONITORING_PASSWORD_KEY} = ")),
            "{toml}"
        );
    }
}
