//! Secrets on the host: the state folder (`state_root`, `cluster_dir`), `secrets.toml` and the
//! libpq password file, read and written private (0600 in a 0700 folder).

use super::{password, Secrets};
use anyhow::{Context, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// The cluster's secrets, if they were made before, as stored (read-only: see `load_or_create`).
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
    toml::from_str(&text)
        .map(Some)
        .with_context(|| format!("parse {}", path.display()))
}

/// Loads the secrets, or generates and stores them (mode 0600) when there are none; a password
/// an older file lacks is generated and stored too, and the monitoring web password's bcrypt
/// hash is made again when it no longer matches (a hand edit). Only commands that hold the
/// cluster's lock call it (`ops::lock`), so two of them never make two sets. (`load` checks no
/// hash: that costs tens of milliseconds, too much for every read-only command.)
pub fn load_or_create(cluster: &str) -> Result<(Secrets, bool)> {
    if let Some(mut s) = load(cluster)? {
        let missing: Vec<&mut String> = [
            &mut s.etcd_root_password,
            &mut s.etcd_patroni_password,
            &mut s.monitor_password,
        ]
        .into_iter()
        .filter(|p| p.is_empty())
        .collect();
        let mut changed = !missing.is_empty();
        for pw in missing {
            *pw = password();
        }
        changed |= s.fill_web_login();
        if changed {
            store(cluster, &s)?;
        }
        return Ok((s, false));
    }
    let s = Secrets::generate();
    store(cluster, &s)?;
    Ok((s, true))
}

fn store(cluster: &str, s: &Secrets) -> Result<()> {
    store_at(&secrets_path(cluster), cluster, s)
}

fn store_at(path: &Path, cluster: &str, s: &Secrets) -> Result<()> {
    let text = format!(
        "# pgha secrets of cluster {cluster}: keep this file private.\n{}",
        toml::to_string(s).context("serialize secrets")?
    );
    write_private(path, &text)
}

/// The passwords of a rotation under way (`secrets::rotate`), kept before the rotation changes
/// anything, so that an interrupted one is taken up again with the same passwords.
pub fn pending_path(cluster: &str) -> PathBuf {
    cluster_dir(cluster).join("secrets.next.toml")
}

pub fn load_pending(cluster: &str) -> Result<Option<Secrets>> {
    let path = pending_path(cluster);
    match fs::read_to_string(&path) {
        Ok(t) => toml::from_str(&t)
            .map(Some)
            .with_context(|| format!("parse {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

pub fn store_pending(cluster: &str, s: &Secrets) -> Result<()> {
    store_at(&pending_path(cluster), cluster, s)
}

/// The rotation is done: its passwords become the cluster's (atomically), the pending file goes.
pub fn commit_pending(cluster: &str, s: &Secrets) -> Result<()> {
    store(cluster, s)?;
    let path = pending_path(cluster);
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Writes the cluster's libpq password file (`render::host_pgpass`: its published ports), so that
/// `PGPASSFILE=<it> psql ...` connects without a password on the command line.
pub fn write_pgpass(cluster: &str, text: &str) -> Result<PathBuf> {
    let path = pgpass_path(cluster);
    write_private(&path, text)?;
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
