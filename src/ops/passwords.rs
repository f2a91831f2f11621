//! Rotating passwords on a running cluster, in `secrets::rotate`'s order: the nodes' password
//! files and Patroni's reload, the PostgreSQL roles (SCRAM verifiers) and the exporters, etcd's
//! users, then `secrets.toml`. No PostgreSQL restarts; Patroni's own connections use none of the
//! passwords that change under them (socket, certificates).

use crate::adapters::dcs::auth::change_password;
use crate::adapters::docker::Engine;
use crate::adapters::pg::Pg;
use crate::layout;
use crate::ops::{converge, health};
use crate::plan::{ContainerSpec, Kind};
use crate::progress::Progress;
use crate::secrets::rotate::User;
use crate::secrets::{self, Secrets};
use crate::spec::Spec;
use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};

/// What a rotation did, for its report.
pub struct Rotated {
    pub users: Vec<User>,
    pub seconds: f64,
    /// The node containers that got the new files and reloaded.
    pub nodes: Vec<String>,
}

/// The password files of a node container (Patroni's secrets, the superuser's pgpass, the
/// exporters' password): what a rotation puts in place.
fn password_files(c: &ContainerSpec) -> ContainerSpec {
    let wanted = [
        format!("{}/90-secrets.yml", layout::PATRONI_CONFIG_DIR),
        layout::NODE_PGPASS.to_string(),
        format!("{}/monitor.pass", layout::EXPORTERS_DIR),
    ];
    let mut only = c.clone();
    only.files.retain(|f| wanted.contains(&f.path));
    only
}

/// Rotates `users`' passwords of `spec`'s cluster (`old` its secrets now; `new` the pending ones).
pub async fn rotate(
    spec: &Spec,
    engine: &Engine,
    old: &Secrets,
    new: &Secrets,
    p: &Progress,
) -> Result<Rotated> {
    let t0 = Instant::now();
    let users = secrets::rotate::changed(old, new);
    // 1. Every running node: the new password files, and Patroni reloads them.
    let (want, _) = converge::desired_now(spec, engine, new, false, p).await?;
    let mut nodes = Vec::new();
    for c in want.containers.iter().filter(|c| c.kind == Kind::Node) {
        let Some(running) = engine.running(&c.name).await? else {
            continue;
        };
        // Docker copies into a stopped container too: it starts with the new passwords.
        engine.put_files(&password_files(c)).await?;
        if running {
            engine.signal(&c.name, "SIGHUP").await?;
            nodes.push(c.name.clone());
        } else {
            p.note(format!(
                "{}: stopped; the new passwords are in place for its next start",
                c.name
            ));
        }
    }
    p.note(format!(
        "new password files in {}; Patroni reloads them",
        nodes.join(", ")
    ));
    if users.contains(&User::Restapi) {
        wait_rest_password(spec, new, Duration::from_secs(30), p).await?;
    } else {
        // Patroni reloads at the start of its next cycle.
        tokio::time::sleep(Duration::from_secs(u64::from(spec.patroni.loop_wait) + 2)).await;
    }
    // 2. The roles, over one connection made with the superuser's password of now.
    let roles: Vec<User> = users
        .iter()
        .copied()
        .filter(|u| u.role().is_some())
        .collect();
    if !roles.is_empty() {
        let pg = Pg::connect(&health::primary_target(spec, old), Duration::from_secs(10))
            .await
            .context("connect to the leader through HAProxy")?;
        // The superuser's own last: the connection stays open either way.
        for u in roles
            .iter()
            .filter(|u| **u != User::Superuser)
            .chain(roles.iter().filter(|u| **u == User::Superuser))
        {
            let role = u.role().unwrap_or_default();
            crate::ops::roles::set_password(&pg, role, u.password(new)).await?;
            p.note(format!("role {role}: new password (SCRAM verifier)"));
        }
        if users.contains(&User::Monitor) {
            // The exporters read their password file when they start.
            crate::ops::ca::restart_looped(engine, &nodes, "prometheus-postgres-exporter").await?;
            p.note("the exporters start again with the new password");
        }
    }
    // 3. etcd: Patroni's user (Patroni logs in again with the reloaded password when etcd refuses
    // its token), then root, as root with the password of now.
    if spec.tls.enabled {
        let auth = crate::security::etcd_root(spec)?;
        let endpoints = spec.etcd_endpoints();
        for (u, name) in [
            (User::EtcdPatroni, secrets::ETCD_PATRONI),
            (User::EtcdRoot, secrets::ETCD_ROOT),
        ] {
            if users.contains(&u) {
                change_password(&endpoints, &auth, name, u.password(new)).await?;
                p.note(format!("etcd user {name}: new password"));
            }
        }
    }
    // 4. Prometheus records when each password changed (`PghaPasswordOld`).
    if let Some(prom) = want
        .containers
        .iter()
        .find(|c| c.kind == Kind::Monitor && c.member == crate::spec::names::PROMETHEUS)
    {
        if engine.running(&prom.name).await? == Some(true) {
            let mut only = prom.clone();
            only.files
                .retain(|f| f.path == format!("{}/passwords.yml", layout::PROMETHEUS_DIR));
            engine.put_files(&only).await?;
            engine.signal(&prom.name, "SIGHUP").await?;
        }
    }
    Ok(Rotated {
        users,
        seconds: t0.elapsed().as_secs_f64(),
        nodes,
    })
}

/// Waits until every node's REST API takes the new password (Patroni reloaded its config).
async fn wait_rest_password(
    spec: &Spec,
    new: &Secrets,
    deadline: Duration,
    p: &Progress,
) -> Result<()> {
    let t0 = Instant::now();
    for (i, member) in spec.nodes.names.iter().enumerate() {
        let api = crate::ops::access::node_api(spec, i, new)?;
        loop {
            // A harmless call that needs the password: one more reload.
            let ok = api
                .post("/reload", &serde_json::json!({}), Duration::from_secs(3))
                .await
                .map(|r| r.ok())
                .unwrap_or(false);
            if ok {
                break;
            }
            if t0.elapsed() > deadline {
                bail!(
                    "{member}'s REST API does not take the new password after {} s: Patroni did not reload its config (`pgha logs {member}`)",
                    deadline.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    p.note("every Patroni REST API takes the new password");
    Ok(())
}
