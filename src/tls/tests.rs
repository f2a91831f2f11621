//! TLS tests: the certificates issued for a spec (signer, names, addresses) and when one is stale.

use super::*;
use crate::spec::Spec;
use std::net::IpAddr;
use time::OffsetDateTime;

fn leaf(stem: &str) -> Leaf {
    wanted(&Spec::default())
        .into_iter()
        .find(|l| l.stem == stem)
        .unwrap()
}

#[test]
fn a_node_certificate_is_signed_by_the_ca_and_names_the_node() {
    let (ca, ca_key) = new_ca("t").unwrap();
    let (cert, key) = issue(&ca, &ca_key, &leaf("pg2")).unwrap();
    assert!(key.contains("PRIVATE KEY"));
    let f = facts(&cert).unwrap();
    let c = facts(&ca).unwrap();
    assert_eq!(f.issuer_cn, c.cn);
    assert!(
        f.names_issuer_key,
        "Python's strict X.509 checks need the AKI"
    );
    assert_eq!(f.cn, CLIENT_CN);
    for n in ["pg2", "pgha-pg2", "localhost", "127.0.0.1"] {
        assert!(f.names.contains(&n.to_string()), "{n} in {:?}", f.names);
    }
    let days = (f.not_after - f.not_before) / 86400;
    assert_eq!(
        days, LEAF_DAYS,
        "leaves last 90 days (plus the hour of skew)"
    );
    let der = pem_der(&cert);
    let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
    let eku = x.extended_key_usage().unwrap().unwrap().value;
    assert!(
        eku.server_auth && eku.client_auth,
        "Patroni calls other nodes with it"
    );
}

#[test]
fn wanted_names_every_node_member_and_client_and_the_bind_address() {
    let mut spec = Spec {
        bind: "10.1.2.3".into(),
        ..Default::default()
    };
    let all = wanted(&spec);
    let stems: Vec<&str> = all.iter().map(|l| l.stem.as_str()).collect();
    for s in [
        "pg1",
        "pg2",
        "pg3",
        "etcd1",
        PGHA_CLIENT,
        REPLICATION_CLIENT,
        HAPROXY_CLIENT,
    ] {
        assert!(stems.contains(&s), "{s} in {stems:?}");
    }
    let pg1 = all.iter().find(|l| l.stem == "pg1").unwrap();
    assert!(pg1.ips.contains(&"10.1.2.3".parse().unwrap()));
    let repl = all.iter().find(|l| l.stem == REPLICATION_CLIENT).unwrap();
    assert_eq!(
        repl.cn, "replicator",
        "PostgreSQL matches the user to the name"
    );
    let (ca, ca_key) = new_ca("t").unwrap();
    let etcd = all.iter().find(|l| l.stem == PATRONI_ETCD_CLIENT).unwrap();
    let (cert, _) = issue(&ca, &ca_key, etcd).unwrap();
    let f = facts(&cert).unwrap();
    assert_eq!(
        f.cn, "",
        "etcd's gateway refuses a certificate with a common name"
    );
    assert_eq!(
        facts(&issue(&ca, &ca_key, repl).unwrap().0).unwrap().cn,
        "replicator"
    );
    spec.bind = "0.0.0.0".into();
    let pg1 = wanted(&spec).into_iter().find(|l| l.stem == "pg1").unwrap();
    assert_eq!(pg1.ips, vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
}

#[test]
fn a_leaf_is_stale_when_its_names_change_or_it_ends_within_a_week() {
    let (ca, ca_key) = new_ca("t").unwrap();
    let l = leaf("pg1");
    let (cert, _) = issue(&ca, &ca_key, &l).unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(stale(&l, &cert, now), None);
    let mut other = l.clone();
    other.dns.push("pg1.example".into());
    assert_eq!(
        stale(&other, &cert, now).as_deref(),
        Some("names other hosts")
    );
    let later = now + (LEAF_DAYS - RENEW_DAYS + 1) * 86400;
    assert!(stale(&l, &cert, later).unwrap().contains("within 7 days"));
    assert!(stale(&l, "junk", now).unwrap().starts_with("unreadable"));
}

fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn a_certificate_matches_its_own_key_only() {
    let (ca, ca_key) = new_ca("t").unwrap();
    let (c1, k1) = issue(&ca, &ca_key, &leaf("pg1")).unwrap();
    let (_, k2) = issue(&ca, &ca_key, &leaf("pg1")).unwrap();
    assert!(pair_matches(&c1, &k1));
    assert!(pair_matches(&ca, &ca_key));
    assert!(!pair_matches(&c1, &k2), "a key written by a later run");
    assert!(!pair_matches(&c1, "not a key"));
}

#[test]
fn prometheus_and_alertmanager_serve_under_their_names() {
    for m in ["prometheus", "alertmanager"] {
        let l = leaf(m);
        for n in [m.to_string(), format!("pgha-{m}"), "localhost".into()] {
            assert!(l.dns.contains(&n), "{n} in {:?}", l.dns);
        }
        assert!(l.ips.contains(&IpAddr::from([127, 0, 0, 1])));
    }
    let mut off = Spec::default();
    off.monitoring.enabled = false;
    assert!(!wanted(&off).iter().any(|l| l.stem == "alertmanager"));
}

#[test]
fn a_bundle_splits_into_its_certificates_and_a_rotated_ca_has_its_own_name() {
    let (a, _) = new_ca("t").unwrap();
    let (b, kb) = new_ca_named("pgha t CA 2026-12-04 10:00:00").unwrap();
    let bundle = format!("{a}{b}");
    let certs = pem_certificates(&bundle);
    assert_eq!(certs.len(), 2);
    assert_eq!(
        facts(&certs[1]).unwrap().cn,
        "pgha t CA 2026-12-04 10:00:00"
    );
    assert_ne!(facts(&certs[0]).unwrap().cn, facts(&certs[1]).unwrap().cn);
    // A key file that carries its certificate: both parts still read.
    let key_file = format!("{kb}{b}");
    assert_eq!(pem_certificates(&key_file), vec![b.clone()]);
    assert!(pair_matches(&pem_certificates(&key_file)[0], &kb));
    assert!(pem_certificates("no pem").is_empty());
}
