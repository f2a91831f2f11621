//! TLS and authentication checks on a running cluster (driven from the lifecycle test, which owns
//! the cluster): PostgreSQL refuses plaintext and every connection and replica uses TLS 1.3; etcd
//! refuses plaintext and a certificate without a password; Patroni's REST API refuses an unsafe
//! call without a client certificate and answers health checks; `certs rotate` under a writer
//! puts new certificates in every server without a restart and loses no acknowledged write.

use crate::harness::*;
use crate::writer::{self, assert_no_acked_write_lost};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

pub(crate) fn tls_file(c: &TestCluster, f: &str) -> String {
    c.home()
        .join(&c.name)
        .join("tls")
        .join(f)
        .display()
        .to_string()
}

fn api_port(c: &TestCluster, i: usize) -> u16 {
    c.kit.api_port(i)
}

/// `curl` on a REST URL: the HTTP status ("000" when no connection was made).
fn curl(args: &[&str]) -> String {
    let out = run_with_deadline(
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5"])
            .args(args),
        Duration::from_secs(15),
    );
    text(&out.stdout).trim().to_string()
}

/// The serial of the certificate a server presents on 127.0.0.1:`port`.
pub(crate) fn served_serial(port: u16, starttls_postgres: bool) -> String {
    let starttls = if starttls_postgres {
        "-starttls postgres"
    } else {
        ""
    };
    let script = format!(
        "echo | openssl s_client -connect 127.0.0.1:{port} {starttls} 2>/dev/null | openssl x509 -noout -serial"
    );
    let out = run_with_deadline(
        Command::new("sh").args(["-c", &script]),
        Duration::from_secs(15),
    );
    let s = text(&out.stdout).trim().to_string();
    assert!(
        s.starts_with("serial="),
        "no certificate served on {port}: {s}"
    );
    s
}

pub(crate) fn file_serial(path: &str) -> String {
    let out = run_with_deadline(
        Command::new("openssl").args(["x509", "-noout", "-serial", "-in", path]),
        Duration::from_secs(15),
    );
    text(&out.stdout).trim().to_string()
}

pub async fn tls_everywhere(c: &TestCluster) {
    let pw = c.superuser_password();

    // PostgreSQL: plaintext is refused on every node and through HAProxy.
    for port in [
        c.node_port(0),
        c.node_port(1),
        c.node_port(2),
        c.primary_port(),
    ] {
        let msg = plaintext_refusal(port, &pw)
            .await
            .unwrap_or_else(|| panic!("a plaintext connection to port {port} was accepted"));
        assert!(msg.contains("no encryption"), "port {port}: {msg}");
    }
    // Every client connection and every replica uses TLS 1.3.
    let admin = pg(c.primary_port(), &pw, T).await;
    let row = admin
        .query_one(
            "select count(*), count(*) filter (where s.ssl and s.version = 'TLSv1.3') \
             from pg_stat_activity a join pg_stat_ssl s using (pid) where a.client_addr is not null",
            &[],
        )
        .await
        .unwrap();
    let (all, tls): (i64, i64) = (row.get(0), row.get(1));
    assert!(all >= 3, "the test's and the replicas' connections: {all}");
    assert_eq!(all, tls, "every TCP connection uses TLS 1.3");
    let row = admin
        .query_one(
            "select count(*), count(*) filter (where s.ssl and s.version = 'TLSv1.3') \
             from pg_stat_replication r join pg_stat_ssl s using (pid)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (2, 2),
        "both replicas over TLS 1.3"
    );
    drop(admin);

    // etcd: plaintext fails, and so do the cluster's other certificates without a password (a
    // node's, and Patroni's for etcd, which has no name); pgha's own names etcd's user `pgha`.
    let eps = c.etcd_endpoints();
    let key = format!("/service/{}/leader", c.name);
    let plain = async {
        let mut cl = etcd_client::Client::connect(
            [format!("http://{}", eps[0])],
            Some(etcd_client::ConnectOptions::new().with_timeout(Duration::from_secs(3))),
        )
        .await?;
        cl.get(key.as_str(), None).await
    };
    assert!(plain.await.is_err(), "a plaintext etcd request succeeded");
    let no_cert = pgha::adapters::dcs::EtcdAuth {
        tls: Some(pgha::tls::ClientTls {
            ca: etcd_auth().tls.and_then(|t| t.ca),
            identity: None,
        }),
        user: etcd_auth().user,
    };
    let without = async {
        let mut cl = pgha::adapters::dcs::raw_client(&eps, &no_cert).await.ok()?;
        cl.get(key.as_str(), None).await.ok()
    };
    assert!(
        without.await.is_none(),
        "etcd answered over TLS without a client certificate (root's password given)"
    );
    let tls = |f: &str| read(&c.home().join(&c.name).join("tls").join(f));
    for stem in ["pg1", "client-patroni-etcd"] {
        let cert_only = pgha::adapters::dcs::EtcdAuth {
            tls: Some(pgha::tls::ClientTls {
                ca: Some(tls("ca.crt")),
                identity: Some((tls(&format!("{stem}.crt")), tls(&format!("{stem}.key")))),
            }),
            user: None,
        };
        let no_pw = async {
            let mut cl = pgha::adapters::dcs::raw_client(&eps, &cert_only)
                .await
                .ok()?;
            cl.get(key.as_str(), None).await.ok()
        };
        assert!(
            no_pw.await.is_none(),
            "etcd answered {stem}'s certificate without a password"
        );
    }
    let pgha_cert = pgha::adapters::dcs::EtcdAuth {
        user: None,
        ..etcd_auth()
    };
    let mut cl = pgha::adapters::dcs::raw_client(&eps, &pgha_cert)
        .await
        .unwrap();
    assert!(
        cl.get(key.as_str(), None).await.is_ok(),
        "pgha's certificate is etcd's user pgha"
    );
    assert!(
        etcd_get(&eps, &key).await.is_some(),
        "root reads the leader key"
    );

    // Patroni's REST API: health checks need no certificate; unsafe calls do; no plain HTTP.
    let ca = tls_file(c, "ca.crt");
    let api = |i: usize, path: &str| format!("https://127.0.0.1:{}{path}", api_port(c, i));
    let leader = c.list_json()["leader"].as_str().unwrap().to_string();
    let li = leader.trim_start_matches("pg").parse::<usize>().unwrap() - 1;
    assert_eq!(curl(&["--cacert", &ca, &api(li, "/health")]), "200");
    assert_eq!(
        curl(&[
            "--cacert",
            &ca,
            "-X",
            "POST",
            "-d",
            "{}",
            &api(li, "/switchover")
        ]),
        "403",
        "a switchover without a client certificate"
    );
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{}/health", api_port(c, li))]),
        "000",
        "plain HTTP"
    );

    // certs rotate under a writer: new certificates served, no restart, nothing lost.
    let start_times = || async {
        let mut out = Vec::new();
        for i in 0..3 {
            let cl = pg(c.node_port(i), &pw, T).await;
            let t: String = cl
                .query_one("select pg_postmaster_start_time()::text", &[])
                .await
                .unwrap()
                .get(0);
            out.push(t);
        }
        out
    };
    let started = start_times().await;
    let before = [
        served_serial(api_port(c, 0), false),
        served_serial(c.node_port(0), true),
        served_serial(c.kit.spec().unwrap().etcd_client_port(0) as u16, false),
    ];
    let status_before: serde_json::Value =
        serde_json::from_str(&c.pgha(&["certs", "status", "--json"], T)).unwrap();
    c.sql_on_primary("create table tls_rows (id bigint primary key)")
        .await;
    let w = writer::start(c.primary_port(), &pw, "tls_rows");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let out = c.pgha_output(&["certs", "rotate"], T);
    assert!(out.status.success(), "{}", text(&out.stderr));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let written = w.finish().await;
    let after = [
        served_serial(api_port(c, 0), false),
        served_serial(c.node_port(0), true),
        served_serial(c.kit.spec().unwrap().etcd_client_port(0) as u16, false),
    ];
    let files = [
        file_serial(&tls_file(c, "pg1.crt")),
        file_serial(&tls_file(c, "pg1.crt")),
        file_serial(&tls_file(c, "etcd1.crt")),
    ];
    for (what, ((b, a), f)) in ["REST API", "PostgreSQL", "etcd"]
        .iter()
        .zip(before.iter().zip(&after).zip(&files))
    {
        assert_ne!(b, a, "{what} still serves the old certificate");
        assert_eq!(a, f, "{what} serves the new certificate");
    }
    assert_eq!(start_times().await, started, "no postmaster restarted");
    assert_no_acked_write_lost(c, "tls_rows", &written.acked, 20, &[0, 1, 2]).await;
    eprintln!(
        "certs rotate under a writer: {} writes acknowledged, none lost, no restart",
        written.acked.len()
    );
    let status: serde_json::Value =
        serde_json::from_str(&c.pgha(&["certs", "status", "--json"], T)).unwrap();
    let rows = status.as_array().unwrap();
    assert!(
        rows.len() >= 11,
        "CA, 3 nodes, 3 etcd members, 4 clients: {status}"
    );
    for (new, old) in rows.iter().zip(status_before.as_array().unwrap()) {
        assert_eq!(new["name"], old["name"]);
        assert!(new["issued_by_ca"].as_bool().unwrap());
        if new["name"] != "ca" {
            assert!(new["not_after"].as_i64() >= old["not_after"].as_i64());
            assert!(new["days_left"].as_i64().unwrap() >= 89, "{new}");
        }
    }
    // The replicas came back over TLS with the new certificates.
    eventually("both replicas streaming after the rotation", T, || async {
        let l = c.list_json();
        let streaming = l["members"]
            .as_array()?
            .iter()
            .filter(|m| m["state"] == "streaming")
            .count();
        (streaming == 2).then_some(())
    })
    .await;

    // A secured Patroni cluster seen as one pgha did not make: a switchover through --etcd with
    // the CA, a client certificate, etcd's user and the REST API's user, passwords from the
    // environment. Members advertise their REST APIs on the cluster network, so the binary runs
    // there (in a throwaway container of the node image, labelled as the test's).
    let before = etcd_get(&eps, &key).await.unwrap();
    let secrets: toml::Value =
        toml::from_str(&read(&c.home().join(&c.name).join("secrets.toml"))).unwrap();
    let image = docker(&["inspect", "-f", "{{.Config.Image}}", &c.container("pg1")]);
    let tls_dir = c.home().join(&c.name).join("tls");
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--network", &c.kit.network()])
        .args(["--label", &format!("io.pgha.test={}", c.test)])
        .args(["-v", &format!("{}:/pgha:ro", bin())])
        .args(["-v", &format!("{}:/tls:ro", tls_dir.display())])
        .args([
            "-e",
            "PGHA_ETCD_PASSWORD",
            "-e",
            "PGHA_REST_PASSWORD",
            image.trim(),
        ])
        .args([
            "/pgha",
            "switchover",
            "--yes",
            "--etcd",
            "etcd1:2379",
            "--scope",
            &c.name,
        ])
        .args(["--cacert", "/tls/ca.crt", "--cert", "/tls/client-pgha.crt"])
        .args(["--key", "/tls/client-pgha.key", "--etcd-user", "root"])
        .args(["--rest-user", "pgha"])
        .env(
            "PGHA_ETCD_PASSWORD",
            secrets["etcd_root_password"].as_str().unwrap(),
        )
        .env(
            "PGHA_REST_PASSWORD",
            secrets["restapi_password"].as_str().unwrap(),
        );
    let out = run_with_deadline(&mut cmd, T);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let after = etcd_get(&eps, &key).await.unwrap();
    assert_ne!(before, after, "the foreign switchover moved the leader");
    eprintln!("switchover through --etcd on the secured cluster: {before} -> {after}");
}
