//! `pgha up`: image, network, volumes, etcd, nodes, HAProxy; then wait until a leader runs, every
//! replica streams and HAProxy routes writes to the leader; print the table and how to connect.
//! On a running cluster it writes changed `[patroni]` settings into the config key (see
//! `plan::converge_config`); on a healthy cluster whose key matches it changes nothing and says so.

use crate::adapters::dcs::{Dcs, Target};
use crate::adapters::docker::Engine;
use crate::adapters::patroni::Api;
use crate::cli::UpArgs;
use crate::commands::image;
use crate::commands::roll::{self, Rolled};
use crate::context::Ctx;
use crate::ops::health;
use crate::output::{json, list_report, list_table, ListReport};
use crate::plan::{self, preflight, ContainerSpec, Desired, Inventory, Kind, LABEL_CLUSTER};
use crate::progress::Progress;
use crate::secrets::{self, Secrets};
use crate::spec::Spec;
use crate::usage;
use crate::wait::{wait_for, Check};
use anyhow::{bail, Result};
use futures_util::future::try_join_all;
use serde::Serialize;
use std::time::Duration;

#[derive(Serialize)]
struct UpReport {
    cluster: String,
    changed: bool,
    actions: Vec<String>,
    /// What `up` changed in the config key of a running cluster.
    config: crate::commands::plan::Converged,
    /// The containers `up` replaced or removed one at a time on a running cluster.
    rolled: Option<Rolled>,
    image_built: bool,
    elapsed_s: f64,
    primary_dsn: String,
    replica_dsn: String,
    pgpass: String,
    haproxy_stats: String,
    /// Prometheus's and Alertmanager's web UI and API (`[monitoring]` on).
    prometheus: Option<String>,
    alertmanager: Option<String>,
    /// Scrape targets Prometheus reports up, when `up` saw all of them up.
    scrape_targets: Option<usize>,
    list: ListReport,
}

/// Everything `up` needs to know about the wanted cluster.
pub struct Prepared {
    pub desired: Desired,
    pub secrets: Secrets,
    pub images: image::Images,
    /// Certificates issued by this `prepare` (new, or replacing ones that were stale).
    pub issued: Vec<String>,
}

/// Images, secrets and rendered configs → the wanted Docker objects.
pub async fn prepare(spec: &Spec, engine: &Engine, p: &Progress, build: bool) -> Result<Prepared> {
    let images = image::resolve(spec, engine, p, build).await?;
    let secrets = match secrets::load(&spec.name)? {
        Some(s) => s,
        None => {
            let inv = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
            if !inv.volumes.is_empty() {
                bail!(
                    "cluster {} has data volumes ({}) but its secrets file {} is missing; restore that file, or remove the data with `pgha down --volumes`",
                    spec.name,
                    inv.volumes.join(", "),
                    secrets::secrets_path(&spec.name).display()
                );
            }
            secrets::load_or_create(&spec.name)?.0
        }
    };
    // The certificates (`[tls]`, and pgBackRest's TLS server): made once, kept with the
    // secrets, reissued when they near their end.
    let (tls, issued) = if spec.backup.enabled || spec.tls.enabled {
        crate::tls::ensure_all(spec, false)?
    } else {
        Default::default()
    };
    let mut desired = desired_for(spec, &images, &secrets, &tls)?;
    desired.image_ids = image::image_ids(engine, &desired).await?;
    Ok(Prepared {
        desired,
        secrets,
        images,
        issued,
    })
}

/// The wanted Docker objects for `spec` with these images and secrets (rendered configs included).
pub fn desired_for(
    spec: &Spec,
    images: &image::Images,
    secrets: &Secrets,
    tls: &crate::tls::ClusterCerts,
) -> Result<Desired> {
    let files = crate::render::cluster_files(spec, tls)?;
    let secrets_yml = secrets.patroni_yaml(spec.tls.enabled);
    let pgpass = format!(
        "*:*:*:{}:{}\n",
        secrets::SUPERUSER,
        secrets.superuser_password
    );
    Ok(plan::desired(
        spec,
        &plan::Inputs {
            node_image: &images.node,
            etcd_image: &images.etcd,
            haproxy_image: &images.haproxy,
            postgres_uid: images.postgres_uid,
            postgres_gid: images.postgres_gid,
            files: &files,
            secrets_yml: &secrets_yml,
            pgpass: &pgpass,
            tls,
            etcd_ids: images.etcd_ids,
            haproxy_ids: images.haproxy_ids,
            prometheus_ids: images.prometheus_ids,
            monitor_password: &secrets.monitor_password,
        },
    ))
}

/// The exporters' role, then every scrape target up; a problem is a warning (the database is up
/// either way). Returns the number of targets when all are up.
async fn monitoring_ready(spec: &Spec, secrets: &Secrets, p: &Progress) -> Option<usize> {
    match crate::ops::monitor::ensure_role(spec, secrets).await {
        Ok(true) => p.note(format!(
            "PostgreSQL role {} ready for the exporters",
            crate::monitoring::MONITOR_ROLE
        )),
        Ok(false) => {}
        Err(e) => p.note(format!("warning: {e:#}")),
    }
    match crate::ops::monitor::wait_targets(spec, Duration::from_secs(60), p).await {
        Ok(n) => {
            p.note(format!("Prometheus scrapes all {n} targets"));
            Some(n)
        }
        Err(e) => {
            p.note(format!("warning: monitoring is not complete: {e:#}"));
            None
        }
    }
}

/// Before anything is made: no container, network or volume under the cluster's names belongs to
/// something else, and every host port of a container to create is free (a listener is bound on
/// it and released at once). Either is a usage error: nothing was changed.
async fn preflight(spec: &Spec, engine: &Engine, have: &Inventory) -> Result<()> {
    let found = engine.objects_named(&preflight::object_names(spec)).await?;
    if let Some(msg) = preflight::name_clash_message(spec, &found) {
        usage!("{msg}");
    }
    // Published ports live on the engine's host; probe them only when that is this machine.
    if !engine.address.starts_with("unix://") {
        return Ok(());
    }
    let mut taken = Vec::new();
    for w in preflight::ports_to_check(spec, have) {
        let Ok(port) = u16::try_from(w.port.host_port) else {
            continue;
        };
        match std::net::TcpListener::bind((w.port.host_ip.as_str(), port)) {
            Ok(listener) => drop(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => taken.push(w),
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                usage!("{}", preflight::bind_unavailable_message(spec))
            }
            // E.g. a port below 1024 for a user: the engine binds it, not pgha.
            Err(_) => {}
        }
    }
    if !taken.is_empty() {
        usage!("{}", preflight::ports_taken_message(&taken));
    }
    Ok(())
}

/// Creates the missing containers (with their files), all at once.
async fn create_missing(
    engine: &Engine,
    want: &Desired,
    plan: &plan::UpPlan,
    p: &Progress,
) -> Result<()> {
    try_join_all(
        want.containers
            .iter()
            .filter(|c| plan.create.contains(&c.name))
            .map(|c| async move {
                engine.create_container(c).await?;
                p.note(format!("created {}", c.name));
                Ok::<_, anyhow::Error>(())
            }),
    )
    .await?;
    Ok(())
}

/// Starts the containers created now or found stopped, in parallel.
async fn start_all(
    engine: &Engine,
    group: &[ContainerSpec],
    plan: &plan::UpPlan,
    p: &Progress,
) -> Result<()> {
    try_join_all(
        group
            .iter()
            .filter(|c| plan.create.contains(&c.name) || plan.start.contains(&c.name))
            .map(|c| async move {
                engine.start(&c.name).await?;
                p.note(format!("started {}", c.name));
                Ok::<_, anyhow::Error>(())
            }),
    )
    .await?;
    Ok(())
}

/// Every container of the cluster runs (asked of Docker: etcd keeps a removed member's key until
/// its TTL ends, so etcd alone would not tell).
async fn all_running(engine: &Engine, spec: &Spec, want: &Desired) -> Result<()> {
    let now = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
    let missing = plan::not_running(want, &now);
    if !missing.is_empty() {
        bail!(
            "{} (removed or stopped while `up` waited); run `pgha up` again",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The nodes this `up` created or started answer on their own REST API as leader or streaming
/// replica, while every container still runs. etcd alone is not enough: the key of a removed
/// container lives until its TTL ends.
async fn wait_started_nodes(
    engine: &Engine,
    spec: &Spec,
    want: &Desired,
    plan: &plan::UpPlan,
    timeout: Duration,
    p: &Progress,
) -> Result<()> {
    let started: Vec<(String, Api)> = want
        .containers
        .iter()
        .filter(|c| c.kind == Kind::Node)
        .filter(|c| plan.create.contains(&c.name) || plan.start.contains(&c.name))
        .filter_map(|c| {
            let i = spec.node_index(&c.member)?;
            let base = crate::security::api_base(spec, i);
            let tls = crate::security::client_tls(spec).ok().flatten();
            Some((
                c.member.clone(),
                Api {
                    base,
                    auth: None,
                    tls,
                },
            ))
        })
        .collect();
    if started.is_empty() {
        return Ok(());
    }
    wait_for(
        "the started nodes to run",
        timeout,
        health::POLL,
        Some(p),
        || async {
            if let Err(e) = all_running(engine, spec, want).await {
                return Ok(Check::Fail(e));
            }
            let mut not = Vec::new();
            for (member, api) in &started {
                match api.status().await {
                    Ok(v) => {
                        if let Err(why) = plan::node_runs(&v) {
                            not.push(format!("{member} is {why}"));
                        }
                    }
                    Err(e) => not.push(format!("{member}: {e:#}")),
                }
            }
            Ok(if not.is_empty() {
                Check::Ready(())
            } else {
                Check::NotYet(not.join("; "))
            })
        },
    )
    .await?;
    Ok(())
}

pub async fn run(ctx: &Ctx, args: &UpArgs) -> Result<()> {
    run_spec(ctx, &ctx.spec()?, args).await
}

/// `up` of `spec` (`restore --into` passes a spec that bootstraps from a backup; everything else
/// the command reads through `ctx` is the same spec).
pub async fn run_spec(ctx: &Ctx, spec: &Spec, args: &UpArgs) -> Result<()> {
    let spec = spec.clone();
    let engine = ctx.engine().await?;
    let p = Progress::new();
    let timeout = Duration::from_secs(args.timeout);

    let have = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
    preflight(&spec, &engine, &have).await?;
    if spec.backup.enabled
        && spec.bootstrap_from.is_none()
        && crate::commands::backup::repo::orphan_repository(&spec, &have.volumes)
    {
        usage!(
            "cluster {} has no data but its backup repository {} remains (kept by `down --volumes`): restore it with `pgha restore --latest --into NAME`, or remove it with `pgha down --volumes --repository`",
            spec.name,
            crate::pgbackrest::repo_volume(&spec.name)
        );
    }
    // The running cluster has the other TLS setting: a whole-cluster restart (tls_switch).
    let switching = plan::tls_switch(spec.tls.enabled, &have).is_some();
    // A missing node image is built: containers to create need it, and so do the replacements
    // when pgha's recipe changed (its tag is the recipe's) under a running cluster.
    let prepared = prepare(&spec, &engine, &p, true).await?;
    let want = &prepared.desired;
    let have = if switching {
        crate::commands::tls_switch::run(ctx, &engine, &spec, &prepared, &have, timeout, &p).await?
    } else {
        have
    };
    if let Some(why) = plan::etcd_membership_refusal(want, &have) {
        usage!("{why}");
    }
    let plan = plan::up_plan(want, &have);
    if let Some(question) = roll::question(&spec, &plan) {
        p.suspend(|| ctx.confirm(&question))?;
    }
    if !spec.tls.enabled {
        p.note(format!(
            "warning: cluster {} runs without TLS ([tls] enabled = false): etcd, PostgreSQL and the REST API are open to anyone who reaches their ports",
            spec.name
        ));
    }
    if !prepared.issued.is_empty() && !have.containers.is_empty() {
        // Certificates are not part of a container's config: running ones get new ones in place.
        p.note(format!(
            "reissued certificates: {}",
            prepared.issued.join(", ")
        ));
        crate::commands::certs::apply(&engine, want, Some(&prepared.issued), &p).await?;
    }

    if plan.create_network {
        engine.ensure_network(&want.network, &want.labels).await?;
        p.note(format!("created network {}", want.network));
    }
    for v in &plan.create_volumes {
        engine.create_volume(v, &want.labels).await?;
    }
    for c in &plan.recreate {
        engine.remove_container(c).await?;
        p.note(format!(
            "removed {c}: created but never started (an earlier `up` stopped half-way)"
        ));
    }
    create_missing(&engine, want, &plan, &p).await?;
    // Everything starts at once: Patroni retries etcd while Python starts, which overlaps etcd's
    // first election, and HAProxy finds the leader by its health checks whenever it comes.
    start_all(&engine, &want.containers, &plan, &p).await?;
    let live = roll::live_etcd(&spec, &plan);
    let target = ctx.target()?;
    health::wait_etcd(
        &target.auth,
        &live,
        timeout.min(Duration::from_secs(60)),
        &p,
    )
    .await?;
    p.note("etcd has a quorum");
    if spec.tls.enabled {
        let setup = crate::adapters::dcs::auth::ensure(
            &live,
            &crate::security::etcd_root(&spec)?,
            (
                secrets::ETCD_PATRONI,
                &prepared.secrets.etcd_patroni_password,
            ),
            &target.prefix(),
        )
        .await?;
        if setup == crate::adapters::dcs::auth::AuthSetup::Enabled {
            p.note(format!(
                "etcd requires authentication now: users {} (password), {} (client certificate) and {} (password, limited to {})",
                secrets::ETCD_ROOT,
                crate::adapters::dcs::auth::CERT_USER,
                secrets::ETCD_PATRONI,
                target.prefix()
            ));
        }
    }
    // Until the rolling part has run, the members still to join are not there.
    let mut now = want.clone();
    now.containers
        .retain(|c| !plan.etcd_join.iter().any(|j| j.name == c.name));
    let dcs = Dcs::connect(Target {
        endpoints: live,
        ..target
    })
    .await?;
    health::wait_healthy(&dcs, &spec.nodes.names, Some((&engine, &spec)), timeout, &p).await?;
    wait_started_nodes(&engine, &spec, &now, &plan, timeout, &p).await?;
    let view = dcs.read_cluster().await?;
    p.note(format!(
        "leader {} and every replica streaming",
        view.leader.as_deref().unwrap_or("?")
    ));
    health::wait_haproxy_primary(&spec, &prepared.secrets, Duration::from_secs(60), &p).await?;
    p.note("HAProxy routes writes to the leader");
    all_running(&engine, &spec, &now).await?;
    let rolled = if !plan.rolls() {
        None
    } else {
        let steps = plan::rolling::order(&plan, view.leader.as_deref(), &view.sync_standbys);
        let access = crate::commands::access::Access::new(ctx)?;
        let r = roll::roll(
            &engine,
            &dcs,
            &access,
            &spec,
            want,
            &prepared.secrets,
            &steps,
            args.volumes,
            timeout,
            &p,
        )
        .await?;
        all_running(&engine, &spec, want).await?;
        Some(r)
    };
    if rolled.is_some() {
        // The images the replaced containers ran may be unused now.
        let keep: Vec<String> = want
            .containers
            .iter()
            .map(|c| c.image.clone())
            .chain([crate::image::reference()])
            .collect();
        image::remove_unused(&engine, &keep, &p).await?;
    }
    // etcd members may have restarted: a new connection, to every member the spec names.
    let dcs = if rolled.is_some() {
        ctx.dcs().await?
    } else {
        dcs
    };
    // The spec's [patroni] settings reach a running cluster through the config key.
    let converged = crate::commands::plan::converge_config(ctx, &spec, args, &p).await?;
    let config_changed = !converged.steps.is_empty() || !converged.restarted.is_empty();
    let changed = !plan.is_noop() || config_changed;
    if spec.backup.enabled && !plan.is_noop() {
        // Idempotent: made by Patroni's post_bootstrap on a new cluster; here for a cluster that
        // gained archiving through this `up`.
        if let Some(leader) = &dcs.read_cluster().await?.leader {
            crate::commands::backup::ensure_stanza(&engine, &spec, leader).await?;
            p.note(format!(
                "pgBackRest stanza {} ready, WAL archived",
                spec.name
            ));
        }
    }
    let scrape_targets = if spec.monitoring.enabled {
        monitoring_ready(&spec, &prepared.secrets, &p).await
    } else {
        None
    };
    if !changed {
        p.note(format!("cluster {} is up; nothing to change", spec.name));
    }
    let view = if !config_changed && rolled.is_none() {
        view
    } else {
        dcs.read_cluster().await?
    };
    p.finish();

    let host = spec.connect_host();
    let pg_ports: Vec<u32> = (0..spec.nodes.names.len())
        .map(|i| spec.node_pg_port(i))
        .chain([spec.haproxy_primary_port(), spec.haproxy_replica_port()])
        .collect();
    let pgpass = secrets::write_pgpass(&spec.name, host, &pg_ports, &prepared.secrets)?;
    let ca = crate::tls::ca_path(&spec.name);
    let monitor = spec
        .monitoring
        .enabled
        .then(|| crate::adapters::prom::Prom::for_spec(&spec));
    let report = UpReport {
        cluster: spec.name.clone(),
        changed,
        actions: plan
            .describe()
            .into_iter()
            .chain(rolled.iter().flat_map(|r| r.steps.iter().cloned()))
            .chain(converged.steps.iter().map(|s| s.describe()))
            .collect(),
        config: converged,
        rolled,
        image_built: prepared.images.built,
        elapsed_s: p.elapsed().as_secs_f64(),
        primary_dsn: health::primary_target(&spec, &prepared.secrets).url(Some(&ca)),
        replica_dsn: health::pg_target(&spec, spec.haproxy_replica_port(), &prepared.secrets)
            .url(Some(&ca)),
        pgpass: pgpass.display().to_string(),
        haproxy_stats: format!("http://{host}:{}/", spec.haproxy_stats_port()),
        prometheus: monitor.as_ref().map(|m| format!("{}/", m.prometheus)),
        alertmanager: monitor.as_ref().map(|m| format!("{}/", m.alertmanager)),
        scrape_targets,
        list: list_report(&view),
    };
    eprintln!(
        "cluster {} is healthy ({:.1} s{})",
        spec.name,
        report.elapsed_s,
        if report.changed {
            ""
        } else {
            ", nothing changed"
        }
    );
    if ctx.global.json {
        crate::say!("{}", json(&report));
    } else {
        crate::say!("{}", list_table(&report.list));
        crate::sayln!();
        crate::sayln!("Writes (leader):   psql \"{}\"", report.primary_dsn);
        crate::sayln!("Reads (replicas):  psql \"{}\"", report.replica_dsn);
        crate::sayln!("Password file:     export PGPASSFILE={}", report.pgpass);
        crate::sayln!("HAProxy stats:     {}", report.haproxy_stats);
        if let (Some(prom), Some(am)) = (&report.prometheus, &report.alertmanager) {
            let up = report
                .scrape_targets
                .map_or(String::new(), |n| format!(" ({n} targets up)"));
            crate::sayln!("Prometheus:        {prom}{up}");
            crate::sayln!("Alertmanager:      {am}  (`pgha alerts`, `pgha top`)");
        }
        if let Some(r) = &report.rolled {
            crate::sayln!(
                "Rolled: {} step{} in {:.1} s; longest gap between acknowledged writes {} ({} writes acknowledged through HAProxy, {} missing on {}); leader {} -> {}.",
                r.steps.len(),
                if r.steps.len() == 1 { "" } else { "s" },
                r.elapsed_s,
                r.longest_write_gap_s
                    .map_or("n/a".to_string(), |g| format!("{g:.2} s")),
                r.writes_acked,
                r.writes_lost,
                r.checked_on.join(", "),
                r.leader_before.as_deref().unwrap_or("none"),
                r.leader_after.as_deref().unwrap_or("none")
            );
        }
        if !report.config.pending_restart.is_empty() {
            crate::sayln!(
                "Pending restart on {}: `pgha list` shows it; `pgha restart --pending` (or `pgha up --restart`) applies it.",
                report.config.pending_restart.join(", ")
            );
        }
    }
    Ok(())
}
