//! Secrets: the PostgreSQL and Patroni REST passwords of a cluster, generated on first use and kept
//! on the host in `<state dir>/<cluster>/secrets.toml` (mode 0600, folder 0700). They reach the
//! containers only as Patroni's `90-secrets.yml`, never in rendered files or on command lines.

use anyhow::{Context, Result};
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// Where pgha keeps per-cluster state: `$PGHA_HOME`, else `$XDG_STATE_HOME/pgha`, else
/// `~/.local/state/pgha`.
pub fn state_root() -> PathBuf {
    if let Some(h) = std::env::var_os("PGHA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("pgha");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".local/state/pgha")
}

pub fn cluster_dir(cluster: &str) -> PathBuf {
    state_root().join(cluster)
}

pub fn secrets_path(cluster: &str) -> PathBuf {
    cluster_dir(cluster).join("secrets.toml")
}

pub fn pgpass_path(cluster: &str) -> PathBuf {
    cluster_dir(cluster).join("pgpass")
}

fn password() -> String {
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

/// The cluster's secrets, if they were made before.
pub fn load(cluster: &str) -> Result<Option<Secrets>> {
    let path = secrets_path(cluster);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    let mode = fs::metadata(&path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("make {} private (mode 0600)", path.display()))?;
    }
    let mut s: Secrets =
        toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    if s.etcd_root_password.is_empty()
        || s.etcd_patroni_password.is_empty()
        || s.monitor_password.is_empty()
    {
        for pw in [
            &mut s.etcd_root_password,
            &mut s.etcd_patroni_password,
            &mut s.monitor_password,
        ] {
            if pw.is_empty() {
                *pw = password();
            }
        }
        store(cluster, &s)?;
    }
    Ok(Some(s))
}

/// Loads the secrets, or generates and stores them (mode 0600) when there are none.
pub fn load_or_create(cluster: &str) -> Result<(Secrets, bool)> {
    if let Some(s) = load(cluster)? {
        return Ok((s, false));
    }
    let s = Secrets::generate();
    store(cluster, &s)?;
    Ok((s, true))
}

fn store(cluster: &str, s: &Secrets) -> Result<()> {
    let text = format!(
        "# pgha secrets of cluster {cluster}: keep this file private.\n{}",
        toml::to_string(s).context("serialize secrets")?
    );
    write_private(&secrets_path(cluster), &text)
}

/// Writes a libpq password file for the cluster's published ports, so that
/// `PGPASSFILE=<it> psql ...` connects without a password on the command line.
pub fn write_pgpass(cluster: &str, host: &str, ports: &[u32], s: &Secrets) -> Result<PathBuf> {
    let mut text = String::new();
    for p in ports {
        text.push_str(&format!(
            "{host}:{p}:*:{SUPERUSER}:{}\n",
            s.superuser_password
        ));
    }
    let path = pgpass_path(cluster);
    write_private(&path, &text)?;
    Ok(path)
}

/// Removes the cluster's state folder (after its data is gone).
pub fn forget(cluster: &str) -> Result<()> {
    let dir = cluster_dir(cluster);
    match fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("remove {}", dir.display())),
    }
}

/// Into the cluster's state folder, made private (0700) first.
fn write_private(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().context("secrets path has no folder")?;
    crate::files::private_dir(dir)?;
    crate::files::write_private(path, text)
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
