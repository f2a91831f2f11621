//! Certificates, the pure part: which leaves a spec needs (`wanted`), issuing the CA and the
//! leaves (rcgen), reading what a certificate says (x509-parser) and when it must be reissued
//! (`stale`). No file access: `store` keeps them in the state folder.

use crate::secrets::exposure::Redacted;
use crate::spec::Spec;
use anyhow::{anyhow, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::collections::BTreeMap;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};

/// The common name of every node certificate, the one client name pgBackRest's servers accept.
pub const CLIENT_CN: &str = "pgha-pgbackrest";
/// Leaves last this long.
pub const LEAF_DAYS: i64 = 90;
/// `up` reissues a leaf that ends within this many days.
pub const RENEW_DAYS: i64 = 7;
const CA_DAYS: i64 = 3650;

/// The client certificates' file stems and common names.
pub const PGHA_CLIENT: &str = "client-pgha";
pub const REPLICATION_CLIENT: &str = "client-replicator";
/// pg_rewind's client certificate (CN: the rewind user), which pg_hba's `cert` method reads.
pub const REWIND_CLIENT: &str = "client-rewind";
pub const HAPROXY_CLIENT: &str = "client-haproxy";
/// Patroni's certificate for etcd. It has no common name: etcd refuses a request through its
/// gRPC gateway (which Patroni uses) that carries a certificate with one and no token.
pub const PATRONI_ETCD_CLIENT: &str = "client-patroni-etcd";
/// Prometheus's certificate for etcd's `/metrics` (etcd requires a client certificate); no
/// common name either.
pub const PROMETHEUS_CLIENT: &str = "client-prometheus";

/// One certificate pgha issues: its file stem, common name and names (DNS and IP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    pub stem: String,
    pub cn: String,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    /// What it is for (shown by `certs status`).
    pub role: &'static str,
}

/// The CA certificate, and each leaf's certificate and key (PEM), by stem; `Debug` shows no key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClusterCerts {
    pub ca: String,
    pub leaves: BTreeMap<String, (String, String)>,
}

impl std::fmt::Debug for ClusterCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let leaves = self
            .leaves
            .iter()
            .map(|(stem, (crt, _))| (stem, (crt, Redacted)));
        f.debug_struct("ClusterCerts")
            .field("ca", &self.ca)
            .field("leaves", &leaves.collect::<Vec<_>>())
            .finish()
    }
}

impl ClusterCerts {
    pub fn get(&self, stem: &str) -> Option<&(String, String)> {
        self.leaves.get(stem)
    }
}

/// What a client presents and trusts: the CA (PEM), and its certificate and key (PEM); `Debug`
/// shows no key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    pub ca: Option<String>,
    pub identity: Option<(String, String)>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let identity = self.identity.as_ref().map(|(crt, _)| (crt, Redacted));
        f.debug_struct("ClientTls")
            .field("ca", &self.ca)
            .field("identity", &identity)
            .finish()
    }
}

/// Every leaf a spec needs.
pub fn wanted(spec: &Spec) -> Vec<Leaf> {
    let mut ips: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1])];
    if let Ok(ip) = spec.bind.parse::<IpAddr>() {
        if !ip.is_unspecified() && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    let server = |m: &str, cn: &str, role| Leaf {
        stem: m.to_string(),
        cn: cn.to_string(),
        dns: vec![
            m.to_string(),
            crate::spec::names::container_name(spec, m),
            "localhost".into(),
        ],
        ips: ips.clone(),
        role,
    };
    let client = |stem: &str, cn: &str, role| Leaf {
        stem: stem.into(),
        cn: cn.into(),
        dns: vec![],
        ips: vec![],
        role,
    };
    // Clients inside the network reach the leader as `haproxy` (HAProxy passes TLS through).
    let mut out: Vec<Leaf> = spec
        .nodes
        .names
        .iter()
        .map(|n| {
            let mut l = server(n, CLIENT_CN, "node: PostgreSQL, REST API, pgBackRest");
            l.dns.extend([
                "haproxy".into(),
                crate::spec::names::container_name(spec, "haproxy"),
            ]);
            l
        })
        .collect();
    out.extend(
        spec.etcd_names()
            .iter()
            .map(|e| server(e, e, "etcd member: clients and peers")),
    );
    out.push(client(PGHA_CLIENT, "pgha", "client: pgha"));
    out.push(client(
        REPLICATION_CLIENT,
        crate::secrets::REPLICATION_USER,
        "client: replication",
    ));
    out.push(client(
        REWIND_CLIENT,
        crate::secrets::REWIND_USER,
        "client: pg_rewind",
    ));
    out.push(client(HAPROXY_CLIENT, "haproxy", "client: HAProxy checks"));
    out.push(client(PATRONI_ETCD_CLIENT, "", "client: Patroni to etcd"));
    if spec.monitoring.enabled {
        out.push(client(PROMETHEUS_CLIENT, "", "client: Prometheus to etcd"));
        // Their web UI and API: pgha reaches them on 127.0.0.1, Prometheus itself as
        // `localhost` and Alertmanager by its member name.
        for m in crate::spec::names::monitor_members(spec) {
            out.push(server(m, m, "monitoring: web UI and API"));
        }
    }
    out
}

/// A new CA: certificate and key.
pub fn new_ca(cluster: &str) -> Result<(String, String)> {
    new_ca_named(&format!("pgha {cluster} CA"))
}

/// A new CA whose common name is `cn` (a rotated CA's names its date: two CAs trusted side by
/// side must not share a subject).
pub fn new_ca_named(cn: &str) -> Result<(String, String)> {
    let key = KeyPair::generate().context("generate the CA key")?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(CA_DAYS);
    let cert = p.self_signed(&key).context("sign the CA certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A leaf certificate signed by the CA: serverAuth and clientAuth, `LEAF_DAYS` long.
pub fn issue(ca_cert: &str, ca_key: &str, leaf: &Leaf) -> Result<(String, String)> {
    let ca_key = KeyPair::from_pem(ca_key).context("read the CA key")?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert, ca_key).context("read the CA certificate")?;
    let key = KeyPair::generate().context("generate a key")?;
    let mut p = CertificateParams::new(leaf.dns.clone())?;
    p.subject_alt_names
        .extend(leaf.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    // Python's ssl (Patroni) checks strictly (X.509 strict): a leaf must name its issuer's key.
    p.use_authority_key_identifier_extension = true;
    // rcgen starts from a placeholder name ("rcgen self signed cert").
    p.distinguished_name = DistinguishedName::new();
    if !leaf.cn.is_empty() {
        p.distinguished_name.push(DnType::CommonName, &leaf.cn);
    }
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(LEAF_DAYS);
    let cert = p
        .signed_by(&key, &issuer)
        .with_context(|| format!("sign the certificate {}", leaf.stem))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// What a stored certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    pub cn: String,
    /// DNS names and IP addresses, as text.
    pub names: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub issuer_cn: String,
    /// It names its issuer's key (Python's strict checks, hence Patroni's, need that).
    pub names_issuer_key: bool,
}

/// Reads a PEM certificate's subject, names and validity.
pub fn facts(pem: &str) -> Result<CertFacts> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| anyhow!("not a PEM certificate: {e}"))?;
    let x = p
        .parse_x509()
        .map_err(|e| anyhow!("not an X.509 certificate: {e}"))?;
    let cn = |n: &x509_parser::x509::X509Name| {
        n.iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut names = Vec::new();
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for g in &san.value.general_names {
            match g {
                x509_parser::extensions::GeneralName::DNSName(d) => names.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    if let Ok(a) = <[u8; 4]>::try_from(*b) {
                        names.push(IpAddr::from(a).to_string());
                    } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                        names.push(IpAddr::from(a).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let names_issuer_key = x.iter_extensions().any(|e| {
        matches!(
            e.parsed_extension(),
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(_)
        )
    });
    Ok(CertFacts {
        cn: cn(x.subject()),
        names,
        not_before: x.validity().not_before.timestamp(),
        not_after: x.validity().not_after.timestamp(),
        issuer_cn: cn(x.issuer()),
        names_issuer_key,
    })
}

/// The PEM certificates in `text`, each whole, in order (a trust bundle, or a key file that
/// carries its certificate).
pub fn pem_certificates(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("-----BEGIN CERTIFICATE-----") {
        let tail = &rest[i..];
        let end_marker = "-----END CERTIFICATE-----";
        let Some(j) = tail.find(end_marker) else {
            break;
        };
        out.push(format!("{}\n", &tail[..j + end_marker.len()]));
        rest = &tail[j + end_marker.len()..];
    }
    out
}

/// `key_pem` is the private key of `cert_pem`'s public key. Certificate and key are two files,
/// each written atomically; a run that ended between the two leaves a pair that does not match.
pub fn pair_matches(cert_pem: &str, key_pem: &str) -> bool {
    let Ok((_, p)) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()) else {
        return false;
    };
    let Ok(x) = p.parse_x509() else {
        return false;
    };
    let Ok(key) = KeyPair::from_pem(key_pem) else {
        return false;
    };
    x.public_key().subject_public_key.data.as_ref() == key.public_key_raw()
}

/// Why a stored leaf must be reissued, if it must: it names other hosts, or it ends soon.
pub fn stale(leaf: &Leaf, pem: &str, now: i64) -> Option<String> {
    let f = match facts(pem) {
        Ok(f) => f,
        Err(e) => return Some(format!("unreadable ({e})")),
    };
    let mut want: Vec<String> = leaf
        .dns
        .iter()
        .cloned()
        .chain(leaf.ips.iter().map(|i| i.to_string()))
        .collect();
    let mut have = f.names.clone();
    want.sort();
    have.sort();
    if want != have || f.cn != leaf.cn {
        return Some("names other hosts".into());
    }
    if !f.names_issuer_key {
        return Some("lacks the authority key identifier".into());
    }
    if f.not_after - now < RENEW_DAYS * 86400 {
        return Some(format!("ends within {RENEW_DAYS} days"));
    }
    None
}
