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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}
