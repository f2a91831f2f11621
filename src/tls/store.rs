//! Certificates on the host: the CA and the leaves in `<state dir>/<cluster>/tls/` (folder 0700,
//! files 0600), read, issued where missing or stale, and listed for `certs status`.

use super::cert::{
    facts, issue, new_ca, pair_matches, stale, wanted, CertFacts, ClientTls, ClusterCerts,
    PGHA_CLIENT,
};
use crate::files::write_private;
use crate::spec::Spec;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub fn tls_dir(cluster: &str) -> PathBuf {
    crate::secrets::cluster_dir(cluster).join("tls")
}

fn read(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

fn load_ca(dir: &Path, cluster: &str) -> Result<(String, String)> {
    let (ca_path, ca_key_path) = (dir.join("ca.crt"), dir.join("ca.key"));
    Ok(match (read(&ca_path)?, read(&ca_key_path)?) {
        (Some(c), Some(k)) if pair_matches(&c, &k) => (c, k),
        _ => {
            let (c, k) = new_ca(cluster)?;
            write_private(&ca_key_path, &k)?;
            write_private(&ca_path, &c)?;
            (c, k)
        }
    })
}

fn prepare_dir(cluster: &str) -> Result<PathBuf> {
    let dir = tls_dir(cluster);
    crate::files::private_dir(&dir)?;
    Ok(dir)
}

/// The CA and every leaf the spec needs: read from the state folder, issued where missing or
/// stale (see `stale`), or all of them with `reissue_all`. Returns the stems it issued.
pub fn ensure_all(spec: &Spec, reissue_all: bool) -> Result<(ClusterCerts, Vec<String>)> {
    let dir = prepare_dir(&spec.name)?;
    let (ca, ca_key) = load_ca(&dir, &spec.name)?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut leaves = BTreeMap::new();
    let mut issued = Vec::new();
    for leaf in wanted(spec) {
        let (crt, key) = (
            dir.join(format!("{}.crt", leaf.stem)),
            dir.join(format!("{}.key", leaf.stem)),
        );
        let pair = match (read(&crt)?, read(&key)?) {
            (Some(c), Some(k))
                if !reissue_all && stale(&leaf, &c, now).is_none() && pair_matches(&c, &k) =>
            {
                (c, k)
            }
            _ => {
                let (c, k) = issue(&ca, &ca_key, &leaf)?;
                write_private(&key, &k)?;
                write_private(&crt, &c)?;
                issued.push(leaf.stem.clone());
                (c, k)
            }
        };
        leaves.insert(leaf.stem.clone(), pair);
    }
    Ok((ClusterCerts { ca, leaves }, issued))
}

/// pgha's own client material for a cluster it made: the CA and its client certificate, if the
/// state folder has them.
pub fn pgha_client(cluster: &str) -> Result<Option<ClientTls>> {
    pgha_client_in(&tls_dir(cluster))
}

/// `pgha_client` from a given certificate folder.
pub fn pgha_client_in(dir: &Path) -> Result<Option<ClientTls>> {
    let (Some(ca), Some(c), Some(k)) = (
        read(&dir.join("ca.crt"))?,
        read(&dir.join(format!("{PGHA_CLIENT}.crt")))?,
        read(&dir.join(format!("{PGHA_CLIENT}.key")))?,
    ) else {
        return Ok(None);
    };
    Ok(Some(ClientTls {
        ca: Some(ca),
        identity: Some((c, k)),
    }))
}

/// The path of the CA certificate (what `dsn` and `up` point libpq's sslrootcert at).
pub fn ca_path(cluster: &str) -> PathBuf {
    tls_dir(cluster).join("ca.crt")
}

/// One row of `certs status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertRow {
    pub name: String,
    pub role: String,
    pub subject: String,
    pub names: Vec<String>,
    pub not_after: i64,
    pub days_left: i64,
    pub issued_by_ca: bool,
}

/// Every certificate in the state folder the spec names, CA first.
pub fn status(spec: &Spec) -> Result<Vec<CertRow>> {
    let dir = tls_dir(&spec.name);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let Some(ca) = read(&dir.join("ca.crt"))? else {
        return Ok(vec![]);
    };
    let ca_facts = facts(&ca)?;
    let row = |name: &str, role: &str, f: &CertFacts| CertRow {
        name: name.into(),
        role: role.into(),
        subject: f.cn.clone(),
        names: f.names.clone(),
        not_after: f.not_after,
        days_left: (f.not_after - now).div_euclid(86400),
        issued_by_ca: f.issuer_cn == ca_facts.cn,
    };
    let mut out = vec![row("ca", "certificate authority", &ca_facts)];
    for leaf in wanted(spec) {
        if let Some(pem) = read(&dir.join(format!("{}.crt", leaf.stem)))? {
            out.push(row(&leaf.stem, leaf.role, &facts(&pem)?));
        }
    }
    Ok(out)
}
