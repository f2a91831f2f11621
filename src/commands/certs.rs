//! `pgha certs status` lists the cluster's certificates and when they end; `pgha certs rotate`
//! reissues every leaf (the CA stays) and applies them to the running containers with a reload:
//! PostgreSQL and Patroni's REST API reload on SIGHUP and `pg_reload_conf()`, etcd reads its
//! certificate at every new connection, HAProxy reloads its checks' client certificate on USR2.
//! Nothing restarts (`ops::certs::apply`, which `up` uses for certificates it reissued).

use crate::cli::CertsRotateArgs;
use crate::ops::certs::apply;
use crate::ops::converge;
use crate::ops::session::Session;
use crate::output::{fmt_time, json, new_table};
use crate::progress::Progress;
use crate::spec::Spec;
use crate::tls::{self, CertRow};
use crate::usage;
use anyhow::{bail, Result};

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

fn spec_with_tls(session: &Session, what: &str) -> Result<Spec> {
    let access = session.access_for_containers(what)?;
    let (spec, _) = access.require_pgha(what)?;
    if !spec.tls.enabled {
        usage!(
            "cluster {} has `[tls] enabled = false`: it has no TLS certificates to {what}",
            spec.name
        );
    }
    Ok(spec.clone())
}

pub fn run_status(session: &Session) -> Result<()> {
    let spec = spec_with_tls(session, "certs status")?;
    let rows = tls::status(&spec)?;
    if rows.is_empty() {
        bail!(
            "cluster {} has no certificates in {} (`pgha up` makes them)",
            spec.name,
            tls::tls_dir(&spec.name).display()
        );
    }
    if session.global.json {
        crate::say!("{}", json(&rows));
    } else {
        crate::sayln!("{}", rows_table(&rows));
    }
    Ok(())
}

pub async fn run_rotate(session: &Session, args: &CertsRotateArgs) -> Result<()> {
    let spec = spec_with_tls(session, "certs rotate")?;
    let engine = session.engine().await?;
    let p = Progress::new();
    let Some(secrets) = crate::secrets::load(&spec.name)? else {
        usage!(
            "cluster {} has no secrets: was it made by `pgha up`?",
            spec.name
        );
    };
    if args.ca {
        return rotate_ca(session, &spec, engine, &secrets, p).await;
    }
    let (want, issued) = converge::desired_now(&spec, engine, &secrets, true, &p).await?;
    p.note(format!("issued {} certificates", issued.len()));
    let reached = apply(engine, &want, None, &p).await?;
    crate::ops::ca::restart_pgbackrest_servers(engine, &spec, &p).await?;
    p.finish();
    let rows = tls::status(&spec)?;
    if session.global.json {
        crate::say!(
            "{}",
            json(&serde_json::json!({"issued": issued, "reloaded": reached, "certificates": rows}))
        );
    } else {
        crate::sayln!("{}", rows_table(&rows));
        crate::sayln!(
            "{} certificates reissued; {} containers have them (the running ones reloaded them, stopped ones read them when they start)",
            issued.len(),
            reached.len()
        );
    }
    Ok(())
}

/// `certs rotate --ca`: a new CA in three phases (`ops::ca`), alerts silenced meanwhile.
async fn rotate_ca(
    session: &Session,
    spec: &Spec,
    engine: &crate::adapters::docker::Engine,
    secrets: &crate::secrets::Secrets,
    p: Progress,
) -> Result<()> {
    let quiet = crate::ops::silence::quiet(
        spec,
        crate::monitoring::api::Quieted::Cluster,
        "pgha certs rotate --ca",
        std::time::Duration::from_secs(900),
        std::time::Duration::ZERO,
        &p,
    )
    .await;
    let done = crate::ops::ca::rotate(spec, engine, secrets, &p).await;
    crate::ops::silence::end(quiet, &p).await;
    let done = done?;
    p.finish();
    let rows = tls::status(spec)?;
    if session.global.json {
        crate::say!(
            "{}",
            json(
                &serde_json::json!({"ca": done.new_ca, "seconds": done.seconds, "certificates": rows})
            )
        );
    } else {
        crate::sayln!("{}", rows_table(&rows));
        crate::sayln!(
            "new CA \"{}\" in {:.1} s: every certificate is its, the old CA is trusted nowhere; PostgreSQL did not restart",
            done.new_ca,
            done.seconds
        );
    }
    Ok(())
}
