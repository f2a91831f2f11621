//! The config part of converging a running cluster: the steps that give Patroni's config key the
//! spec's `[patroni]` settings (`config_plan`, shown by `plan`), and `converge_config`, which
//! `up` runs: write, follow until every member has it, restart where a parameter needs it.

use crate::adapters::dcs::Dcs;
use crate::adapters::pg::Pg;
use crate::cli::UpArgs;
use crate::ops::access::Access;
use crate::ops::session::Session;
use crate::ops::{config, restart};
use crate::plan::dynamic::{self, ConfigStep};
use crate::progress::Progress;
use crate::spec::Spec;
use crate::state::ClusterView;
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

/// The config key as it is and the steps that give it the spec's settings.
pub struct ConfigPlan {
    pub view: ClusterView,
    pub live: Value,
    pub steps: Vec<ConfigStep>,
}

/// Lower-case names of the parameters PostgreSQL applies only on a restart, from the leader's
/// `pg_settings`; the built-in list when it cannot be read.
async fn restart_params(access: &Access, view: &ClusterView) -> BTreeSet<String> {
    let read = async {
        let leader = view
            .leader
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("no leader"))?;
        let target = access
            .member_pg(leader)
            .ok_or_else(|| anyhow::anyhow!("no port for {leader}"))?;
        let pg = Pg::connect(&target, Duration::from_secs(3)).await?;
        let text = pg
            .query_text("select coalesce(json_agg(lower(name)), '[]')::text from pg_settings where context = 'postmaster'")
            .await?
            .unwrap_or_default();
        Ok::<_, anyhow::Error>(serde_json::from_str::<BTreeSet<String>>(&text)?)
    };
    match read.await {
        Ok(set) if !set.is_empty() => set,
        _ => dynamic::default_restart_params(),
    }
}

/// The config steps for `spec` against the running cluster; `None` when it has no config key yet.
pub async fn config_plan(spec: &Spec, access: &Access, dcs: &Dcs) -> Result<Option<ConfigPlan>> {
    let view = dcs.read_cluster().await?;
    let Some(live) = view.config.clone() else {
        return Ok(None);
    };
    let mut steps = dynamic::config_plan(spec, &live, &dynamic::default_restart_params());
    if steps.iter().any(|s| s.parameter.is_some()) {
        steps = dynamic::config_plan(spec, &live, &restart_params(access, &view).await);
    }
    Ok(Some(ConfigPlan { view, live, steps }))
}

/// Members that flag a pending restart.
fn pending(view: &ClusterView) -> Vec<String> {
    view.members
        .iter()
        .filter(|m| m.data.pending_restart == Some(true))
        .map(|m| m.name.clone())
        .collect()
}

/// Asks on the terminal; `false` off a terminal.
fn ask(question: &str) -> bool {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// What `up` did to the config key.
#[derive(Debug, Default, Serialize)]
pub struct Converged {
    pub steps: Vec<ConfigStep>,
    pub applied_s: f64,
    pub pending_restart: Vec<String>,
    pub restarted: Vec<String>,
}

/// `up` on a running cluster: writes the spec's changed `[patroni]` settings into the config key
/// (compare-and-swap), waits until every member applied them (edit-config's machinery), and for
/// a parameter that needs a restart restarts the members one at a time (replicas first) with
/// `--restart` or a yes on the terminal; otherwise leaves it pending and says so. With
/// `--restart` and nothing to write, a restart left pending earlier is applied the same way.
pub async fn converge_config(session: &Session, args: &UpArgs, p: &Progress) -> Result<Converged> {
    let access = session.access()?;
    let dcs = session.dcs().await?;
    let Some(cp) = config_plan(session.spec()?, access, &dcs).await? else {
        return Ok(Converged::default());
    };
    let mut out = Converged::default();
    if cp.steps.is_empty() {
        // Nothing to write; `--restart` still applies a restart an earlier change left pending.
        out.pending_restart = pending(&cp.view);
        if !args.restart || out.pending_restart.is_empty() {
            return Ok(out);
        }
    } else {
        for s in &cp.steps {
            p.note(format!("config: {}", s.describe()));
        }
        let new = dynamic::apply(&cp.live, &cp.steps);
        let w = config::write_and_follow(
            access,
            &dcs,
            &cp.view.scope,
            &cp.live,
            &new,
            cp.view.config_revision,
            p,
        )
        .await?;
        p.note(format!(
            "config key of cluster {} written; every member has it after {:.1} s",
            cp.view.scope, w.applied_s
        ));
        w.fail_on_rejections(&cp.view.scope)?;
        out.steps = cp.steps;
        out.applied_s = w.applied_s;
        out.pending_restart = w.pending;
        if out.pending_restart.is_empty() {
            return Ok(out);
        }
    }
    let names = out.pending_restart.join(", ");
    let agreed = args.restart
        || ask(&format!(
            "restart PostgreSQL on {names} now (one at a time, replicas first) to apply the change"
        ));
    if !agreed {
        p.note(format!(
            "pending restart on {names}: `pgha list` shows it pending, `pgha restart --pending` (or `pgha up --restart`) applies it"
        ));
        return Ok(out);
    }
    let view = dcs.read_cluster().await?;
    let chosen = restart::choose(&view, &[], crate::cli::RoleFilter::Any, true)?;
    let done = restart::rolling(
        access,
        &dcs,
        &view,
        &chosen,
        true,
        Duration::from_secs(args.timeout),
        p,
    )
    .await?;
    out.restarted = done.into_iter().map(|d| d.member).collect();
    out.pending_restart.clear();
    Ok(out)
}
