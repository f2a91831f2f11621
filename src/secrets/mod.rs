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
pub mod store;
pub use store::*;

pub const SUPERUSER: &str = "postgres";
pub const REPLICATION_USER: &str = "replicator";
pub const REWIND_USER: &str = "rewind_user";
pub const REST_USER: &str = "pgha";
/// etcd's users (with `[tls]` on, etcd requires a password): root for pgha, and Patroni's, which
/// may read and write only the cluster's keys.
pub const ETCD_ROOT: &str = "root";
pub const ETCD_PATRONI: &str = "patroni";

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
            .finish()
    }
}

pub(crate) fn password() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

impl Secrets {
    pub fn generate() -> Secrets {
        Secrets {
            superuser_password: password(),
            replication_password: password(),
            rewind_password: password(),
            restapi_password: password(),
            etcd_root_password: password(),
            etcd_patroni_password: password(),
            monitor_password: password(),
        }
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
        ] {
            assert!(!shown.contains(pw.as_str()), "{shown}");
        }
        assert!(shown.contains("superuser_password: [redacted]"), "{shown}");
    }
}
