//! `pgha certs status` lists the cluster's certificates and when they end; `pgha certs rotate`
//! reissues every leaf (the CA stays) and applies them to the running containers with a reload:
//! PostgreSQL and Patroni's REST API reload on SIGHUP and `pg_reload_conf()`, etcd reads its
//! certificate at every new connection, HAProxy reloads its checks' client certificate on USR2.
//! Nothing restarts. `up` applies certificates it reissued (ending within 7 days) the same way.

use crate::adapters::docker::Engine;
use crate::commands::access::Access;
use crate::context::Ctx;
use crate::output::{fmt_time, json, new_table};
use crate::plan::{ContainerSpec, Desired, Kind};
use crate::progress::Progress;
use crate::spec::Spec;
use crate::tls::{self, CertRow};
use crate::usage;
use anyhow::{bail, Result};

/// The certificate files of a container (its secret files under the TLS folders).
fn cert_files(c: &ContainerSpec) -> ContainerSpec {
    let mut only = c.clone();
    only.files.retain(|f| {
        f.secret
            && (f.path.starts_with(crate::pgbackrest::TLS_DIR)
                || f.path.starts_with(crate::render::HAPROXY_DIR)
                || f.path.starts_with(crate::monitoring::PROMETHEUS_DIR))
    });
    only
}

/// Whether container `c` holds one of the certificates `issued` (file stems).
fn holds(c: &ContainerSpec, issued: &[String]) -> bool {
    let has = |stem: &str| issued.iter().any(|s| s == stem);
    has(&c.member)
        || match c.kind {
            Kind::Node => has(tls::REPLICATION_CLIENT) || has(tls::PATRONI_ETCD_CLIENT),
            Kind::Haproxy => has(tls::HAPROXY_CLIENT),
            // Prometheus's rules record every certificate's end.
            Kind::Monitor => c.member == crate::monitoring::PROMETHEUS && !issued.is_empty(),
            Kind::Etcd => false,
        }
}

/// Puts the certificates of the running containers of `want` in place (those holding one of
/// `only`, or all) and makes their processes read them. Returns the containers it reached.
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
        if engine.running(&c.name).await? != Some(true) {
            continue;
        }
        let files = cert_files(c);
        if files.files.is_empty() {
            continue;
        }
        engine.put_files(&files).await?;
        match c.kind {
            Kind::Node => {
                // Patroni reloads its REST API's certificate; PostgreSQL its TLS files.
                engine.signal(&c.name, "SIGHUP").await?;
                let out = engine
                    .exec(
                        &c.name,
                        &["psql", "-h", "/tmp", "-Atc", "select pg_reload_conf()"],
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
            // Prometheus reads its rules (the certificates' ends) again.
            Kind::Monitor => engine.signal(&c.name, "SIGHUP").await?,
            // etcd loads its certificate anew for every connection.
            Kind::Etcd => {}
        }
        p.note(format!("{}: new certificates in place, reloaded", c.name));
        done.push(c.name.clone());
    }
    Ok(done)
}

fn rows_table(rows: &[CertRow]) -> String {
    let mut t = new_table(&["Certificate", "For", "Names", "Expires", "Days left"]);
    for r in rows {
        let names = match (r.names.is_empty(), r.subject.is_empty()) {
            (false, _) => r.names.join(", "),
            (true, false) => format!("CN={}", r.subject),
            (true, true) => "(no name)".to_string(),
        };
        t.add_row(vec![
            r.name.clone(),
            r.role.clone(),
            names,
            fmt_time(r.not_after),
            r.days_left.to_string(),
        ]);
    }
    t.to_string()
}

fn spec_with_tls(ctx: &Ctx, what: &str) -> Result<Spec> {
    let access = Access::for_containers(ctx, what)?;
    let (spec, _) = access.require_pgha(what)?;
    if !spec.tls.enabled {
        usage!(
            "cluster {} has `[tls] enabled = false`: it has no TLS certificates to {what}",
            spec.name
        );
    }
    Ok(spec.clone())
}

pub fn run_status(ctx: &Ctx) -> Result<()> {
    let spec = spec_with_tls(ctx, "certs status")?;
    let rows = tls::status(&spec)?;
    if rows.is_empty() {
        bail!(
            "cluster {} has no certificates in {} (`pgha up` makes them)",
            spec.name,
            tls::tls_dir(&spec.name).display()
        );
    }
    if ctx.global.json {
        crate::say!("{}", json(&rows));
    } else {
        crate::sayln!("{}", rows_table(&rows));
    }
    Ok(())
}

pub async fn run_rotate(ctx: &Ctx) -> Result<()> {
    let spec = spec_with_tls(ctx, "certs rotate")?;
    let engine = ctx.engine().await?;
    let p = Progress::new();
    let images = crate::commands::image::resolve(&spec, &engine, &p, false).await?;
    let Some(secrets) = crate::secrets::load(&spec.name)? else {
        usage!(
            "cluster {} has no secrets: was it made by `pgha up`?",
            spec.name
        );
    };
    let (certs, issued) = tls::ensure_all(&spec, true)?;
    p.note(format!("issued {} certificates", issued.len()));
    let want = crate::commands::up::desired_for(&spec, &images, &secrets, &certs)?;
    let reached = apply(&engine, &want, None, &p).await?;
    p.finish();
    let rows = tls::status(&spec)?;
    if ctx.global.json {
        crate::say!(
            "{}",
            json(&serde_json::json!({"issued": issued, "reloaded": reached, "certificates": rows}))
        );
    } else {
        crate::sayln!("{}", rows_table(&rows));
        crate::sayln!(
            "{} certificates reissued; {} running containers reloaded them",
            issued.len(),
            reached.len()
        );
    }
    Ok(())
}
