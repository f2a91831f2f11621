//! `pgha plan`: what `up` would change, and why, without changing anything. It observes the
//! cluster (Docker's inventory; etcd's view when the leader or the config key matters, and the
//! leader's restart parameters when a parameter changes) and prints the one plan of `up`
//! (`plan::up_plan`): the TLS switch, the container steps, the rolling replacements and removals
//! in the order `up` takes them (with the leader etcd names now), and on a running cluster the
//! steps that give Patroni's config key the spec's `[patroni]` settings.

use crate::ops::converge::{self, restart_params};
use crate::ops::image;
use crate::ops::plan_report;
use crate::ops::session::Session;
use crate::output::json;
use crate::plan::up_plan::{self, ConfigIntent, Observed, PlanStep, ViewNeed};
use crate::plan::{dynamic, LABEL_CLUSTER};
use crate::progress::Progress;
use crate::secrets;
use anyhow::Result;
use serde::Serialize;

#[derive(Serialize)]
struct PlanReport {
    cluster: String,
    changed: bool,
    steps: Vec<PlanStep>,
}

pub async fn run(session: &Session) -> Result<()> {
    let spec = session.spec()?;
    let engine = session.engine().await?;
    let p = Progress::new();
    let have = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
    // `plan` makes no files: pgha's own image, when not built yet, owns them as root here.
    let images = image::resolve(spec, engine, &p, false)
        .await?
        .owners_for_a_dry_run();
    // Secrets do not count in the config hash: a cluster without them gets throwaway ones.
    let secrets = secrets::load(&spec.name)?.unwrap_or_else(secrets::Secrets::generate);
    // Certificates are secret files, outside the config hash: plan makes none.
    let no_certs = crate::tls::ClusterCerts::default();
    let mut want = converge::desired_for(spec, &images, &secrets, &no_certs)?;
    want.image_ids = image::image_ids(engine, &want).await?;
    let need = match up_plan::view_need(spec, &want, &have) {
        Ok(need) => need,
        Err(why) => crate::usage!("{why}"),
    };
    let view = match need {
        ViewNeed::None => None,
        // The leader decides the order of a rolling change; read it when etcd may answer.
        ViewNeed::Leader => match session.dcs().await {
            Ok(dcs) => dcs.read_cluster().await.ok(),
            Err(_) => None,
        },
        ViewNeed::Config => {
            session.access()?;
            Some(session.dcs().await?.read_cluster().await?)
        }
    };
    // The leader's restart parameters, when a parameter changes (the built-in list otherwise).
    let params = match view.as_ref().filter(|_| need == ViewNeed::Config) {
        Some(v) => restart_params(spec, session.access()?, v).await,
        None => dynamic::default_restart_params(),
    };
    let obs = Observed {
        have: &have,
        view: view.as_ref(),
        restart_params: &params,
    };
    let up = match up_plan::up_plan(spec, &want, &obs, false) {
        Ok(up) => up,
        Err(why) => crate::usage!("{why}"),
    };
    if up.config == ConfigIntent::WhenRunning {
        p.note("the config key is compared once the cluster runs (`pgha up` does it)");
    }
    let steps = up.shown(spec);
    p.finish();
    let report = PlanReport {
        cluster: spec.name.clone(),
        changed: !steps.is_empty(),
        steps,
    };
    if session.global.json {
        crate::say!("{}", json(&report));
    } else if report.steps.is_empty() {
        crate::sayln!("cluster {}: nothing to change", report.cluster);
    } else {
        plan_report::print_steps(&report.steps);
    }
    Ok(())
}
