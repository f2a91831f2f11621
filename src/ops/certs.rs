//! Putting new certificates into running containers and reloading them: PostgreSQL and Patroni's
//! REST API reload on SIGHUP and `pg_reload_conf()`, etcd reads its certificate at every new
//! connection, HAProxy reloads its checks' client certificate on USR2, Prometheus and
//! Alertmanager read the certificate they serve at every new connection (their web config's
//! TLS) and get a SIGHUP (their configs, Prometheus's rules). Nothing restarts. Used by
//! `certs rotate` and by `up` for certificates it reissued (ending within 7 days).

use crate::adapters::docker::Engine;
use crate::plan::{ContainerSpec, Desired, Kind};
use crate::progress::Progress;
use crate::tls;
use anyhow::{bail, Result};

/// The certificate files of a container (its secret files under the TLS folders).
fn cert_files(c: &ContainerSpec) -> ContainerSpec {
    let mut only = c.clone();
    only.files.retain(|f| {
        f.secret
            && (f.path.starts_with(crate::layout::TLS_DIR)
                || f.path.starts_with(crate::layout::HAPROXY_DIR)
                || f.path.starts_with(crate::layout::PROMETHEUS_DIR))
    });
    only
}

/// Whether container `c` holds one of the certificates `issued` (file stems).
fn holds(c: &ContainerSpec, issued: &[String]) -> bool {
    let has = |stem: &str| issued.iter().any(|s| s == stem);
    has(&c.member)
        || match c.kind {
            Kind::Node => {
                has(tls::REPLICATION_CLIENT)
                    || has(tls::REWIND_CLIENT)
                    || has(tls::PATRONI_ETCD_CLIENT)
            }
            Kind::Haproxy => has(tls::HAPROXY_CLIENT),
            // Prometheus's rules record every certificate's end.
            Kind::Monitor => c.member == crate::spec::names::PROMETHEUS && !issued.is_empty(),
            Kind::Etcd => false,
        }
}

/// Puts the certificates of the containers of `want` in place (those holding one of `only`, or
/// all) and makes the running ones' processes read them. Returns the containers it reached.
pub async fn apply(
    engine: &Engine,
    want: &Desired,
    only: Option<&[String]>,
    p: &Progress,
) -> Result<Vec<String>> {
    let mut done = Vec::new();
    for c in &want.containers {
        if only.is_some_and(|issued| !holds(c, issued)) {
            continue;
        }
        let files = cert_files(c);
        if files.files.is_empty() {
            continue;
        }
        match engine.running(&c.name).await? {
            None => continue,
            // A stopped container gets them too (Docker copies into it), and reads them when it
            // starts: it never comes back with an old certificate.
            Some(false) => {
                engine.put_files(&files).await?;
                p.note(format!(
                    "{}: stopped; new certificates in place for its next start",
                    c.name
                ));
                done.push(c.name.clone());
                continue;
            }
            Some(true) => {}
        }
        engine.put_files(&files).await?;
        match c.kind {
            Kind::Node => {
                // Patroni reloads its REST API's certificate; PostgreSQL its TLS files.
                engine.signal(&c.name, "SIGHUP").await?;
                let out = engine
                    .exec(
                        &c.name,
                        &[
                            "psql",
                            "-h",
                            crate::layout::PG_SOCKET_DIR,
                            "-Atc",
                            "select pg_reload_conf()",
                        ],
                        Some("postgres"),
                        &[],
                    )
                    .await?;
                if out.code != 0 {
                    bail!(
                        "reload PostgreSQL in {}: {}",
                        c.name,
                        out.stderr.lines().next().unwrap_or("psql failed")
                    );
                }
            }
            Kind::Haproxy => engine.signal(&c.name, "SIGUSR2").await?,
            // Prometheus reads its rules (the certificates' ends) again; Alertmanager its config.
            Kind::Monitor => engine.signal(&c.name, "SIGHUP").await?,
            // etcd loads its certificate anew for every connection.
            Kind::Etcd => {}
        }
        p.note(format!("{}: new certificates in place, reloaded", c.name));
        done.push(c.name.clone());
    }
    Ok(done)
}
