//! Certificates on the host: the CA and the leaves in `<state dir>/<cluster>/tls/` (folder 0700,
//! files 0600), read, issued where missing or stale, and listed for `certs status`.

use super::cert::{
    facts, issue, new_ca, new_ca_named, pair_matches, pem_certificates, stale, wanted, CertFacts,
    ClientTls, ClusterCerts, PGHA_CLIENT,
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

/// The issuing CA: its certificate and key. `ca.key` holds the key and, since CA rotation, the
/// certificate too (one file, written at once: the pair never splits); an older `ca.key` holds
/// the key only, its certificate being `ca.crt`'s first.
fn load_issuer(dir: &Path) -> Result<Option<(String, String)>> {
    let Some(key_file) = read(&dir.join("ca.key"))? else {
        return Ok(None);
    };
    let cert = match pem_certificates(&key_file).into_iter().next() {
        Some(c) => c,
        None => {
            match read(&dir.join("ca.crt"))?.and_then(|t| pem_certificates(&t).into_iter().next()) {
                Some(c) => c,
                None => return Ok(None),
            }
        }
    };
    let key = key_only(&key_file);
    Ok(pair_matches(&cert, &key).then_some((cert, key)))
}

/// The private key block of a key file (without the certificate it may carry).
fn key_only(text: &str) -> String {
    match text.find("-----BEGIN CERTIFICATE-----") {
        Some(i) => text[..i].trim_end().to_string() + "\n",
        None => text.to_string(),
    }
}

/// The CA rotation files: the next CA (key and certificate) while every part learns to trust
/// it, then the previous CA's certificate while the leaves move to the new one.
fn next_path(dir: &Path) -> PathBuf {
    dir.join("ca.next.key")
}

fn prev_path(dir: &Path) -> PathBuf {
    dir.join("ca.prev.crt")
}

/// What every part trusts: the issuing CA, and during a rotation the other CA too. `ca.crt` is
/// this bundle (what `dsn` points libpq at, and every container's `ca.crt`).
fn bundle(dir: &Path, issuer_cert: &str) -> Result<String> {
    let mut out = issuer_cert.to_string();
    let next = read(&next_path(dir))?.map(|t| pem_certificates(&t));
    let prev = read(&prev_path(dir))?.map(|t| pem_certificates(&t));
    for c in next.into_iter().chain(prev).flatten() {
        if !out.contains(c.trim()) {
            out.push_str(&c);
        }
    }
    Ok(out)
}

fn write_bundle(dir: &Path, issuer_cert: &str) -> Result<String> {
    let b = bundle(dir, issuer_cert)?;
    if read(&dir.join("ca.crt"))?.as_deref() != Some(b.as_str()) {
        write_private(&dir.join("ca.crt"), &b)?;
    }
    Ok(b)
}

fn load_ca(dir: &Path, cluster: &str) -> Result<(String, String)> {
    if let Some(pair) = load_issuer(dir)? {
        return Ok(pair);
    }
    if read(&next_path(dir))?.is_some() || read(&prev_path(dir))?.is_some() {
        anyhow::bail!(
            "the CA in {} does not match its key while a CA rotation is under way; `pgha certs rotate --ca` takes it up again",
            dir.display()
        );
    }
    let (c, k) = new_ca(cluster)?;
    write_private(&dir.join("ca.key"), &format!("{k}{c}"))?;
    write_private(&dir.join("ca.crt"), &c)?;
    Ok((c, k))
}

/// Where a CA rotation (`pgha certs rotate --ca`) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaPhase {
    /// No rotation: one CA.
    Idle,
    /// A next CA exists: every part is to trust it beside the issuing one.
    Trusting,
    /// The new CA issues; the previous one is still trusted while the leaves move.
    Swapped,
}

pub fn ca_phase(cluster: &str) -> Result<CaPhase> {
    let dir = tls_dir(cluster);
    Ok(if read(&next_path(&dir))?.is_some() {
        CaPhase::Trusting
    } else if read(&prev_path(&dir))?.is_some() {
        CaPhase::Swapped
    } else {
        CaPhase::Idle
    })
}

/// Starts a CA rotation: a new CA (named with its date) trusted beside the issuing one. Returns
/// its common name; `None` when a rotation is under way already (it is taken up).
pub fn begin_ca_rotation(cluster: &str) -> Result<Option<String>> {
    if ca_phase(cluster)? != CaPhase::Idle {
        return Ok(None);
    }
    let dir = prepare_dir(cluster)?;
    let (issuer, _) = load_ca(&dir, cluster)?;
    let t = OffsetDateTime::now_utc();
    let cn = format!(
        "pgha {cluster} CA {:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let (c, k) = new_ca_named(&cn)?;
    write_private(&next_path(&dir), &format!("{k}{c}"))?;
    write_bundle(&dir, &issuer)?;
    Ok(Some(cn))
}

/// The next CA issues from now on; the previous one stays trusted. Safe to run again.
pub fn swap_ca(cluster: &str) -> Result<()> {
    let dir = prepare_dir(cluster)?;
    let Some(next) = read(&next_path(&dir))? else {
        return Ok(());
    };
    let next_cert = pem_certificates(&next)
        .into_iter()
        .next()
        .unwrap_or_default();
    let (issuer, _) = load_ca(&dir, cluster)?;
    if issuer.trim() != next_cert.trim() {
        write_private(&prev_path(&dir), &issuer)?;
        write_private(&dir.join("ca.key"), &next)?;
    }
    fs::remove_file(next_path(&dir)).context("remove the next CA's file")?;
    write_bundle(&dir, &next_cert)?;
    Ok(())
}

/// The rotation is over: the previous CA leaves the bundle.
pub fn end_ca_rotation(cluster: &str) -> Result<()> {
    let dir = prepare_dir(cluster)?;
    match fs::remove_file(prev_path(&dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).context("remove the previous CA's file")
        }
        _ => {}
    }
    let (issuer, _) = load_ca(&dir, cluster)?;
    write_bundle(&dir, &issuer)?;
    Ok(())
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
    let issuer_cn = facts(&ca)?.cn;
    let trust = write_bundle(&dir, &ca)?;
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
                if !reissue_all
                    && stale(&leaf, &c, now).is_none()
                    && pair_matches(&c, &k)
                    && facts(&c).is_ok_and(|f| f.issuer_cn == issuer_cn) =>
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
    Ok((ClusterCerts { ca: trust, leaves }, issued))
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
    // During a CA rotation the other CA of the bundle, with its own end.
    for other in pem_certificates(&ca).iter().skip(1) {
        let f = facts(other)?;
        let role = match ca_phase(&spec.name)? {
            CaPhase::Trusting => "certificate authority, next (trusted, not issuing yet)",
            _ => "certificate authority, previous (trusted until the rotation ends)",
        };
        out.push(CertRow {
            issued_by_ca: false,
            ..row("ca-other", role, &f)
        });
    }
    for leaf in wanted(spec) {
        if let Some(pem) = read(&dir.join(format!("{}.crt", leaf.stem)))? {
            out.push(row(&leaf.stem, leaf.role, &facts(&pem)?));
        }
    }
    Ok(out)
}
