//! Secrets: the PostgreSQL and Patroni REST passwords of a cluster, generated on first use and kept
//! on the host in `<state dir>/<cluster>/secrets.toml` (mode 0600, folder 0700). They reach the
//! containers only as Patroni's `90-secrets.yml`, never in rendered files or on command lines.
//!
//! This module is the pure part (the users, generating, Patroni's secrets file); `store` keeps
//! them on the host (re-exported here).

use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

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

    /// Patroni's secrets file: merged over `00-patroni.yml` by Patroni. With `etcd_auth`, it
    /// holds Patroni's etcd user too.
    pub fn patroni_yaml(&self, etcd_auth: bool) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let etcd = if etcd_auth {
            format!(
                "etcd3:\n  username: {ETCD_PATRONI}\n  password: {}\n",
                q(&self.etcd_patroni_password)
            )
        } else {
            String::new()
        };
        etcd + &format!(
            "# Written by pgha: passwords of this cluster. Patroni merges it over 00-patroni.yml.\n\
             postgresql:\n  authentication:\n\
             \x20   superuser:\n      username: {SUPERUSER}\n      password: {}\n\
             \x20   replication:\n      username: {REPLICATION_USER}\n      password: {}\n\
             \x20   rewind:\n      username: {REWIND_USER}\n      password: {}\n\
             restapi:\n  authentication:\n    username: {REST_USER}\n    password: {}\n",
            q(&self.superuser_password),
            q(&self.replication_password),
            q(&self.rewind_password),
            q(&self.restapi_password),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_distinct_and_yaml_safe() {
        let a = Secrets::generate();
        let b = Secrets::generate();
        assert_ne!(a, b);
        assert_eq!(a.superuser_password.len(), 32);
        assert_ne!(a.superuser_password, a.replication_password);
        let v: serde_json::Value = serde_saphyr::from_str(&a.patroni_yaml(true)).unwrap();
        assert_eq!(
            v["postgresql"]["authentication"]["superuser"]["password"],
            a.superuser_password.as_str()
        );
        assert_eq!(v["restapi"]["authentication"]["username"], REST_USER);
        assert_eq!(v["etcd3"]["username"], ETCD_PATRONI);
        assert_eq!(v["etcd3"]["password"], a.etcd_patroni_password.as_str());
        let plain: serde_json::Value = serde_saphyr::from_str(&a.patroni_yaml(false)).unwrap();
        assert!(plain.get("etcd3").is_none());
    }
}
