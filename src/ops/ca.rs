//! Rotating the cluster's CA with no moment in which a client or server rejects another
//! (`pgha certs rotate --ca`), in three phases, each one `certs rotate` of every leaf:
//! 1. a new CA is trusted beside the old one: every container's `ca.crt` becomes the bundle of
//!    both, every leaf is issued again (under the old CA, so that every server, Patroni's REST
//!    API among them, builds its TLS context anew with the bundle), etcd's members restart one
//!    at a time (etcd reads its trusted CAs when it starts) and so do the pgBackRest servers;
//! 2. the new CA issues: every leaf again, now under it (both still trusted);
//! 3. the old CA leaves the bundle: every leaf again, etcd and pgBackRest's servers once more.
//!
//! Each phase is recorded in the state folder before it is applied (`tls::ca_phase`), so an
//! interrupted rotation is taken up where it stopped. PostgreSQL never restarts.

use crate::adapters::docker::Engine;
use crate::ops::{certs, converge, health};
use crate::progress::Progress;
use crate::secrets::Secrets;
use crate::spec::{names, Spec};
use crate::tls::{self, CaPhase};
use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// What a CA rotation did.
pub struct CaRotated {
    pub new_ca: String,
    pub seconds: f64,
}

/// Every leaf issued again under the issuing CA, with the trust bundle of now, put into every
/// container and reloaded; with `restart_etcd`, etcd's members restart one at a time.
async fn phase(
    spec: &Spec,
    engine: &Engine,
    secrets: &Secrets,
    restart_etcd: bool,
    what: &str,
    p: &Progress,
) -> Result<()> {
    let (want, _) = converge::desired_now(spec, engine, secrets, true, p).await?;
    certs::apply(engine, &want, None, p).await?;
    restart_pgbackrest_servers(engine, spec, p).await?;
    if restart_etcd {
        restart_etcd_members(engine, spec, p).await?;
    }
    p.note(what);
    Ok(())
}

/// Rotates `spec`'s CA (or takes an interrupted rotation up again).
pub async fn rotate(
    spec: &Spec,
    engine: &Engine,
    secrets: &Secrets,
    p: &Progress,
) -> Result<CaRotated> {
    let t0 = Instant::now();
    if let Some(cn) = tls::begin_ca_rotation(&spec.name)? {
        p.note(format!("new CA \"{cn}\", trusted beside the old one"));
    } else {
        p.note("taking up the CA rotation that did not finish");
    }
    if tls::ca_phase(&spec.name)? == CaPhase::Trusting {
        phase(
            spec,
            engine,
            secrets,
            true,
            "phase 1 of 3: every part trusts both CAs",
            p,
        )
        .await?;
        tls::swap_ca(&spec.name)?;
    }
    if tls::ca_phase(&spec.name)? == CaPhase::Swapped {
        phase(
            spec,
            engine,
            secrets,
            false,
            "phase 2 of 3: every certificate is the new CA's",
            p,
        )
        .await?;
        tls::end_ca_rotation(&spec.name)?;
        phase(
            spec,
            engine,
            secrets,
            true,
            "phase 3 of 3: the old CA is trusted nowhere",
            p,
        )
        .await?;
    }
    let ca = std::fs::read_to_string(tls::ca_path(&spec.name))?;
    Ok(CaRotated {
        new_ca: tls::facts(&ca)?.cn,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// etcd reads the CAs it trusts when it starts: each member restarts, one at a time, and is
/// healthy again before the next (the others keep the quorum).
async fn restart_etcd_members(engine: &Engine, spec: &Spec, p: &Progress) -> Result<()> {
    let auth = crate::security::etcd_auth(spec)?;
    let endpoints = spec.etcd_endpoints();
    for (i, m) in spec.etcd_names().iter().enumerate() {
        let c = names::container_name(spec, m);
        if engine.running(&c).await? != Some(true) {
            continue;
        }
        engine.stop(&c, 10).await?;
        engine.start(&c).await?;
        let Some(endpoint) = endpoints.get(i) else {
            bail!("etcd member {m} has no endpoint in the spec");
        };
        health::wait_etcd(
            &auth,
            std::slice::from_ref(endpoint),
            Duration::from_secs(60),
            p,
        )
        .await?;
        p.note(format!("{m} restarted and healthy with the new trust"));
    }
    Ok(())
}

/// pgBackRest's TLS server reads its certificate and CA when it starts: each node's starts again
/// (its loop restarts it).
pub async fn restart_pgbackrest_servers(engine: &Engine, spec: &Spec, p: &Progress) -> Result<()> {
    if !spec.backup.enabled {
        return Ok(());
    }
    let nodes: Vec<String> = spec
        .nodes
        .names
        .iter()
        .map(|m| names::container_name(spec, m))
        .collect();
    restart_looped(engine, &nodes, "pgbackrest server").await?;
    p.note("pgBackRest's servers start again with the new certificates");
    Ok(())
}

/// Ends `program` (started as `program ...` by a node's shell loop, which starts it again) in each
/// running container of `containers`. Anchored at the command line's start: the loop's own shell
/// has the name in its command line too.
pub async fn restart_looped(engine: &Engine, containers: &[String], program: &str) -> Result<()> {
    let pattern = format!("^{program}");
    for c in containers {
        if engine.running(c).await? != Some(true) {
            continue;
        }
        let out = engine
            .exec(c, &["pkill", "-f", &pattern], None, &[])
            .await?;
        // pkill: 0 ended one, 1 none runs (its part is off).
        if out.code > 1 {
            bail!("restart {program} in {c}: {}", out.stderr.trim());
        }
    }
    Ok(())
}
