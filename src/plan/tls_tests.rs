//! Plan tests of the TLS parts: etcd's flags, the certificate files and their owners, the
//! stats page's address, the refusal to switch a running cluster's TLS, and the monitoring
//! containers' private files.

use super::tests::{desired_for, desired_with, running, try_desired};
use super::*;
use crate::spec::Spec;

fn fake_certs(spec: &Spec) -> crate::tls::cert::ClusterCerts {
    crate::tls::cert::ClusterCerts {
        ca: "CA".into(),
        leaves: crate::tls::cert::wanted(spec)
            .into_iter()
            .map(|l| {
                (
                    l.stem.clone(),
                    (format!("{}-crt", l.stem), format!("{}-key", l.stem)),
                )
            })
            .collect(),
    }
}

#[test]
fn with_tls_etcd_speaks_https_and_requires_certificates_each_owning_its_key() {
    let spec = Spec::default();
    let d = desired_with(&spec, &fake_certs(&spec), (105, 106));
    let etcd1 = &d.containers[0];
    for flag in [
        "--listen-client-urls=https://0.0.0.0:2379",
        "--advertise-client-urls=https://etcd1:2379",
        "--initial-advertise-peer-urls=https://etcd1:2380",
        "--client-cert-auth",
        "--peer-client-cert-auth",
        "--trusted-ca-file=/etc/pgha/tls/ca.crt",
    ] {
        assert!(
            etcd1.cmd.iter().any(|a| a == flag),
            "{flag} in {:?}",
            etcd1.cmd
        );
    }
    assert!(etcd1
        .cmd
        .iter()
        .any(|a| a.starts_with("--initial-cluster=etcd1=https://etcd1:2380,")));
    let key = etcd1
        .files
        .iter()
        .find(|f| f.path == "/etc/pgha/tls/etcd.key")
        .unwrap();
    assert_eq!(
        (key.uid, key.gid, key.mode, key.secret),
        (105, 106, 0o600, true)
    );
    assert_eq!(key.contents, b"etcd1-key");
    let pg2 = d.containers.iter().find(|c| c.member == "pg2").unwrap();
    let paths: Vec<&str> = pg2.files.iter().map(|f| f.path.as_str()).collect();
    for p in [
        "node.crt",
        "node.key",
        "replicator.key",
        "etcd-client.crt",
        "ca.crt",
    ] {
        assert!(
            paths.contains(&format!("/etc/pgha/tls/{p}").as_str()),
            "{p}: {paths:?}"
        );
    }
    let node_key = pg2
        .files
        .iter()
        .find(|f| f.path.ends_with("/node.key"))
        .unwrap();
    assert_eq!(
        (node_key.uid, node_key.mode),
        (102, 0o600),
        "the postgres user's"
    );
    assert_eq!(node_key.contents, b"pg2-key");
    let hap = d
        .containers
        .iter()
        .find(|c| c.kind == Kind::Haproxy)
        .unwrap();
    let pem = hap
        .files
        .iter()
        .find(|f| f.path.ends_with("/client.pem"))
        .unwrap();
    assert_eq!(pem.contents, b"client-haproxy-crtclient-haproxy-key");
    for c in &d.containers {
        assert_eq!(c.labels[LABEL_TLS], "on", "{}", c.name);
    }
    // Without TLS: http, no certificate flags or files (but for pgBackRest's node certificate).
    let mut off = spec.clone();
    off.tls.enabled = false;
    let d = desired_with(&off, &fake_certs(&off), (105, 106));
    assert!(d.containers[0]
        .cmd
        .iter()
        .all(|a| !a.contains("https") && !a.contains("cert")));
    assert!(d.containers[0].files.is_empty());
    let hap = d.containers.iter().find(|c| c.kind == Kind::Haproxy);
    assert!(hap.unwrap().files.len() == 1, "haproxy.cfg only");
    assert_eq!(d.containers[0].labels[LABEL_TLS], "off");
}

#[test]
fn a_key_whose_owner_is_unknown_is_refused_naming_the_image_and_the_file() {
    let spec = Spec::default();
    let certs = fake_certs(&spec);
    let pg = Owner::Ids(102, 104);
    let no_label = Owner::NoLabel {
        image: "my-etcd:3.5".into(),
        label: "io.pgha.etcd-ids".into(),
    };
    let why = try_desired(&spec, &certs, &no_label, &pg).unwrap_err();
    assert!(
        why.starts_with(
            "image my-etcd:3.5 has no io.pgha.etcd-ids label, so the owner of /etc/pgha/tls/"
        ),
        "{why}"
    );
    assert!(
        why.contains("cannot be known; give the image that label") && !why.contains('\n'),
        "{why}"
    );
    let not_built = Owner::NotBuilt {
        image: "pgha-node:abc".into(),
    };
    let ids = Owner::Ids(105, 106);
    let why = try_desired(&spec, &certs, &ids, &not_built).unwrap_err();
    assert_eq!(
        why,
        "image pgha-node:abc is not on this Docker engine, so the owner of /etc/pgha/patroni/90-secrets.yml cannot be known; build it with `pgha image build`"
    );
    // Every private file of every container is 0600 to its user, none root's or readable.
    let d = try_desired(&spec, &certs, &ids, &pg).unwrap();
    for c in &d.containers {
        for f in c
            .files
            .iter()
            // The certificates' ends and the passwords' change times are no secret; they are
            // rewritten in place, so they are not in the config hash either.
            .filter(|f| {
                f.secret
                    && !f.path.ends_with("certificates.yml")
                    && !f.path.ends_with("passwords.yml")
            })
        {
            assert_eq!(f.mode, 0o600, "{} {}", c.name, f.path);
            assert_ne!(f.uid, 0, "{} {}", c.name, f.path);
        }
    }
}

#[test]
fn the_stats_page_stays_on_loopback() {
    let spec = Spec {
        bind: "0.0.0.0".into(),
        ..Default::default()
    };
    let d = desired_with(&spec, &fake_certs(&spec), (105, 106));
    let hap = d
        .containers
        .iter()
        .find(|c| c.kind == Kind::Haproxy)
        .unwrap();
    let ports: Vec<(&str, &str)> = hap
        .ports
        .iter()
        .map(|p| (p.what, p.host_ip.as_str()))
        .collect();
    assert!(ports.contains(&("HAProxy stats", "127.0.0.1")), "{ports:?}");
    assert!(ports.contains(&("HAProxy primary", "0.0.0.0")), "{ports:?}");
}

#[test]
fn a_running_cluster_with_the_other_tls_setting_is_named() {
    let spec = Spec::default();
    let d = desired_for(&spec);
    let mut have = running(&d);
    assert_eq!(tls_switch(true, &have), None);
    let why = tls_switch(false, &have).unwrap();
    assert!(
        why.contains("runs with TLS on") && why.contains("asks for TLS off"),
        "{why}"
    );
    for c in &mut have.containers {
        c.tls = false;
    }
    let why = tls_switch(true, &have).unwrap();
    assert!(why.contains("runs with TLS off (pgha-etcd1"), "{why}");
    assert_eq!(
        tls_switch(true, &Inventory::default()),
        None,
        "nothing runs yet"
    );
}

#[test]
fn debug_of_the_wanted_containers_shows_no_key_or_password() {
    let spec = Spec::default();
    let certs = fake_certs(&spec);
    let d = desired_with(&spec, &certs, (105, 106));
    let shown = format!("{d:?} {certs:?}");
    for stem in certs.leaves.keys() {
        assert!(
            !shown.contains(&format!("{stem}-key")),
            "{stem}'s key in Debug"
        );
    }
    // Secret files' contents are byte lists in a derived Debug: none of theirs is there.
    let secret = b"secret: x\n"
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>();
    assert!(
        !shown.contains(&secret.join(", ")),
        "90-secrets.yml's contents in Debug"
    );
    assert!(shown.contains("[redacted]"));
}

#[test]
fn monitoring_files_with_a_password_a_key_or_the_webhook_are_the_prometheus_users_alone() {
    let spec = Spec::default();
    let d = desired_with(&spec, &fake_certs(&spec), (105, 106));
    let get = |member: &str, path: &str| {
        let c = d.containers.iter().find(|c| c.member == member).unwrap();
        c.files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("{member}: no {path}"))
            .clone()
    };
    let am_yml = format!("{}/alertmanager.yml", layout::ALERTMANAGER_DIR);
    for (member, path) in [
        ("prometheus", layout::PROMETHEUS_WEB_CONFIG),
        ("prometheus", layout::PROMETHEUS_WEB_PASS),
        ("prometheus", layout::WEB_KEY),
        ("alertmanager", layout::ALERTMANAGER_WEB_CONFIG),
        ("alertmanager", layout::WEB_KEY),
        ("alertmanager", am_yml.as_str()),
    ] {
        let f = get(member, path);
        assert_eq!((f.mode, f.uid, f.gid), (0o600, 100, 101), "{member} {path}");
    }
    // Each serves its own certificate; the web config and Alertmanager's config are in the
    // config hash (a changed password or webhook replaces the container), the password file not.
    assert_eq!(
        get("alertmanager", layout::WEB_CERT).contents,
        b"alertmanager-crt"
    );
    assert_eq!(
        get("prometheus", layout::WEB_KEY).contents,
        b"prometheus-key"
    );
    assert!(!get("prometheus", layout::PROMETHEUS_WEB_CONFIG).secret);
    assert!(!get("alertmanager", &am_yml).secret);
    assert!(get("prometheus", layout::PROMETHEUS_WEB_PASS).secret);
    assert_eq!(
        get("prometheus", layout::PROMETHEUS_WEB_PASS).contents,
        b"web-pw"
    );
    // With [tls] off: the password still, no certificate.
    let mut off = spec.clone();
    off.tls.enabled = false;
    let d = desired_with(&off, &fake_certs(&off), (105, 106));
    let am = d.containers.iter().find(|c| c.member == "alertmanager");
    let paths: Vec<&str> = am.unwrap().files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, [am_yml.as_str(), layout::ALERTMANAGER_WEB_CONFIG]);
}
