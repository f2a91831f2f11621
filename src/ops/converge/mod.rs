//! Converging a cluster to its spec: what `up` does (and `restore` through it), the executor of
//! the one plan (`plan::up_plan`, which `pgha plan` prints). Images, secrets and rendered configs
//! give the wanted Docker objects (`prepare`); the preflight refuses clashes before anything is
//! made; the plan is computed once from them and the inventory; then its steps in order: the TLS
//! switch (`tls_switch`), the container steps (`execute`: created, then everything started at
//! once), the waits (etcd quorum, a leader and streaming replicas, HAProxy routing writes), the
//! rolling replacements (`ops::roll`, ordered with the leader of that moment), the config key
//! (`config`, compared after the roll), the pgBackRest stanza and monitoring. `report` turns the
//! outcome (with the steps performed) into what `up` prints.

pub mod config;
mod containers;
pub mod execute;
mod prepare;
pub mod report;
mod tls_switch;

pub use config::{config_plan, converge_config, restart_params, ConfigPlan, Converged};
pub use prepare::{desired_for, desired_now, prepare, Prepared};

use crate::cli::UpArgs;
use crate::monitoring::api::Quieted;
use crate::ops::health;
use crate::ops::image;
use crate::ops::roll::{self, Rolled};
use crate::ops::session::Session;
use crate::plan::up_plan::{Observed, Step, UpPlan};
use crate::plan::{self, dynamic, LABEL_CLUSTER};
use crate::plan::{ContainerPlan, Desired, Inventory};
use crate::progress::Progress;
use crate::secrets::{self, Secrets};
use crate::spec::Spec;
use crate::state::ClusterView;
use crate::usage;
use anyhow::Result;
use containers::{all_running, monitoring_ready, preflight, wait_started_nodes};
use execute::Performed;
use std::time::Duration;

/// What `up` did, for its report.
pub struct Outcome {
    /// The steps it performed, in order.
    pub done: Performed,
    pub changed: bool,
    /// What `up` changed in the config key of a running cluster.
    pub converged: Converged,
    /// The containers `up` replaced or removed one at a time on a running cluster.
    pub rolled: Option<Rolled>,
    pub secrets: Secrets,
    pub image_built: bool,
    /// Scrape targets Prometheus reports up, when `up` saw all of them up.
    pub scrape_targets: Option<usize>,
    /// The cluster at the end.
    pub view: ClusterView,
}

/// `up` of the session's spec (`restore --into` makes a session for a spec that bootstraps from
/// a backup). Ends with `p` finished.
pub async fn up(session: &Session, args: &UpArgs, p: &Progress) -> Result<Outcome> {
    let spec = session.spec()?;
    let engine = session.engine().await?;
    let timeout = Duration::from_secs(args.timeout);

    let have = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
    preflight(spec, engine, &have).await?;
    if spec.backup.enabled
        && spec.bootstrap_from.is_none()
        && crate::ops::repo::orphan_repository(spec, &have.volumes)
    {
        usage!(
            "cluster {} has no data but its backup repository {} remains (kept by `down --volumes`): restore it with `pgha restore --latest --into NAME`, or remove it with `pgha down --volumes --repository`",
            spec.name,
            crate::spec::names::repo_volume(&spec.name)
        );
    }
    // A missing node image is built: containers to create need it, and so do the replacements
    // when pgha's recipe changed (its tag is the recipe's) under a running cluster.
    let prepared = prepare(spec, engine, p, true).await?;
    let want = &prepared.desired;
    // The plan, computed once. `up` reads etcd only once the cluster runs: the rolling order
    // and the config steps are resolved then (see `plan::up_plan`).
    let params = dynamic::default_restart_params();
    let observed = Observed {
        have: &have,
        view: None,
        restart_params: &params,
    };
    let mut plan = match plan::up_plan(spec, want, &observed, args.restart) {
        Ok(plan) => plan,
        Err(why) => usage!("{why}"),
    };
    let mut done = Performed::default();
    let have = match plan.tls_switch.clone() {
        Some(switch) => {
            // A whole-cluster restart; the containers are planned again against what it left.
            let left = tls_switch::run(session, &prepared, &have, timeout, p).await?;
            done.steps.push(Step::TlsSwitch(switch));
            if let Err(why) = plan.replan(want, &left) {
                usage!("{why}");
            }
            left
        }
        None => have,
    };
    if let Some(question) = roll::question(spec, &plan.containers) {
        p.suspend(|| session.confirm(&question))?;
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
        crate::ops::certs::apply(engine, want, Some(&prepared.issued), p).await?;
    }
    execute::containers(engine, want, &plan.containers.steps(), p, &mut done).await?;
    // Quiet on planned work: what this `up` makes, starts or rolls does not page (ops::silence).
    let quiet = quiet_for(spec, &have, &plan.containers, want, timeout, p).await;
    let result = run_started(session, args, p, &prepared, &plan, done, timeout).await;
    crate::ops::silence::end(quiet, p).await;
    if result.is_ok() {
        p.finish();
    }
    result
}

/// The silence over what `plan` acts on: every alert of a cluster made now, else the members
/// whose containers it creates, starts, replaces or removes (none when it changes nothing).
async fn quiet_for(
    spec: &Spec,
    have: &Inventory,
    plan: &ContainerPlan,
    want: &Desired,
    timeout: Duration,
    p: &Progress,
) -> Option<crate::ops::silence::Quiet> {
    let what = if have.containers.is_empty() {
        Quieted::Cluster
    } else {
        let members = plan.members(want);
        if members.is_empty() {
            return None;
        }
        Quieted::Members(members)
    };
    crate::ops::silence::quiet(
        spec,
        what,
        "pgha up",
        timeout + Duration::from_secs(60),
        Duration::from_secs(20),
        p,
    )
    .await
}

/// `up` once its containers were made and started: etcd, health, the roll, the config key, the
/// stanza and the first backup, monitoring.
async fn run_started(
    session: &Session,
    args: &UpArgs,
    p: &Progress,
    prepared: &Prepared,
    plan: &UpPlan,
    mut done: Performed,
    timeout: Duration,
) -> Result<Outcome> {
    let spec = session.spec()?;
    let engine = session.engine().await?;
    let want = &prepared.desired;
    let live = roll::live_etcd(spec, &plan.containers);
    let target = session.target()?;
    health::wait_etcd(&target.auth, &live, timeout.min(Duration::from_secs(60)), p).await?;
    p.note("etcd has a quorum");
    if spec.tls.enabled {
        let setup = crate::adapters::dcs::auth::ensure(
            &live,
            &crate::security::etcd_root(spec)?,
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
        .retain(|c| !plan.containers.etcd_join.iter().any(|j| j.name == c.name));
    let dcs = session.dcs_through(live).await?;
    health::wait_healthy(&dcs, &spec.nodes.names, Some((engine, spec)), timeout, p).await?;
    wait_started_nodes(engine, spec, &now, &plan.containers, timeout, p).await?;
    let view = dcs.read_cluster().await?;
    p.note(format!(
        "leader {} and every replica streaming",
        view.leader.as_deref().unwrap_or("?")
    ));
    health::wait_haproxy_primary(spec, &prepared.secrets, Duration::from_secs(60), p).await?;
    p.note("HAProxy routes writes to the leader");
    all_running(engine, spec, &now).await?;
    let rolled = if !plan.containers.rolls() {
        None
    } else {
        // The rolling order, resolved now: with the leader and sync standbys etcd names after
        // the waits.
        let steps = plan.roll_steps(view.leader.as_deref(), &view.sync_standbys);
        let rolling = roll::Rolling {
            want,
            secrets: &prepared.secrets,
            steps: &steps,
            remove_volumes: args.volumes,
            timeout,
        };
        let r = roll::roll(session, &dcs, rolling, p).await?;
        done.steps.extend(steps.iter().cloned().map(Step::Roll));
        all_running(engine, spec, want).await?;
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
        image::remove_unused(engine, &keep, p).await?;
    }
    // etcd members may have restarted: a new connection, to every member the spec names.
    let dcs = if rolled.is_some() {
        session.reconnect_dcs().await?
    } else {
        dcs
    };
    // The spec's [patroni] settings reach a running cluster through the config key: compared
    // now, after the roll (the plan's config intent and restarts, resolved at this moment).
    let converged = converge_config(session, &plan.restarts, timeout, p).await?;
    done.steps
        .extend(converged.steps.iter().cloned().map(Step::Config));
    let config_changed = !converged.steps.is_empty() || !converged.restarted.is_empty();
    let changed = !plan.containers.is_noop() || config_changed;
    if spec.tls.enabled && !plan.containers.is_noop() {
        let set = crate::ops::roles::ensure_role_passwords(spec, &prepared.secrets).await?;
        if !set.is_empty() {
            p.note(format!(
                "roles {} log in with certificates, and have their passwords for a cluster without TLS",
                set.join(", ")
            ));
        }
    }
    if spec.backup.enabled && !plan.containers.is_noop() {
        // Idempotent: made by Patroni's post_bootstrap on a new cluster; here for a cluster that
        // gained archiving through this `up`.
        let now = dcs.read_cluster().await?;
        if let Some(leader) = &now.leader {
            crate::ops::repo::ensure_stanza(engine, spec, leader).await?;
            p.note(format!(
                "pgBackRest stanza {} ready, WAL archived",
                spec.name
            ));
            // Recoverable from the first minute: a repository without a backup gets a full one
            // once the cluster is healthy, before `up` returns, so that the commands after it do
            // not meet it running (its WAL switches read as lag for a moment).
            if let Some(m) = crate::ops::backup::start_first(engine, spec, &now).await? {
                p.note(format!("cluster healthy; first full backup running on {m}"));
                let t0 = std::time::Instant::now();
                crate::ops::backup::wait_for_running(engine, spec, timeout, p).await?;
                let repo = crate::ops::repo::Repo::on(
                    engine,
                    spec,
                    &crate::spec::names::container_name(spec, &m),
                );
                if repo.info().await?.backups.iter().any(|b| !b.error) {
                    p.note(format!(
                        "first full backup taken on {m} in {:.1} s",
                        t0.elapsed().as_secs_f64()
                    ));
                } else {
                    p.note(format!(
                        "warning: the first backup on {m} did not complete; `pgha backup` takes one (`pgha logs {m}` says why)"
                    ));
                }
            }
        }
    }
    let scrape_targets = if spec.monitoring.enabled {
        monitoring_ready(spec, &prepared.secrets, p).await
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
    Ok(Outcome {
        done,
        changed,
        converged,
        rolled,
        secrets: prepared.secrets.clone(),
        image_built: prepared.images.built,
        scrape_targets,
        view,
    })
}

/// `up` of `spec` and its report: what `pgha up` runs, and `restore` for the cluster it makes or
/// rebuilds.
pub async fn up_and_report(session: &Session, args: &UpArgs) -> Result<()> {
    // The spec and the engine come before the progress display, as `up` always had them.
    session.spec()?;
    session.engine().await?;
    let p = Progress::new();
    let outcome = up(session, args, &p).await?;
    report::print(session, outcome, &p)
}
