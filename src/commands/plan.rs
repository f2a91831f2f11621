//! `pgha plan`: what `up` would change, and why, without changing anything: the container steps
//! of the up planner (create, start, re-create), the rolling replacements and removals in the
//! order `up` takes them (`plan::rolling`, with the leader etcd names now), and on a running
//! cluster the steps that give Patroni's config key the spec's `[patroni]` settings
//! (`ops::converge::config_plan`).

use crate::ops::converge::{self, config_plan};
use crate::ops::image;
use crate::ops::session::Session;
use crate::output::json;
use crate::plan::dynamic::{ConfigStep, Impact};
use crate::plan::rolling::{self, RollStep};
use crate::plan::{self, LABEL_CLUSTER};
use crate::progress::Progress;
use crate::secrets;
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

/// One line of the plan.
#[derive(Debug, Serialize)]
pub struct Step {
    /// `container` or `config`.
    pub kind: &'static str,
    pub action: String,
    pub reason: String,
    /// none, reload or restart.
    pub impact: Impact,
}

impl From<&RollStep> for Step {
    fn from(s: &RollStep) -> Step {
        Step {
            kind: "container",
            action: s.describe(),
            reason: s.reason.clone(),
            impact: s.impact,
        }
    }
}

impl From<&ConfigStep> for Step {
    fn from(s: &ConfigStep) -> Step {
        Step {
            kind: "config",
            action: format!("set {} = {}", s.path, as_text(&s.to)),
            reason: s.reason.clone(),
            impact: s.impact,
        }
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Serialize)]
struct PlanReport {
    cluster: String,
    changed: bool,
    steps: Vec<Step>,
}

pub async fn run(session: &Session) -> Result<()> {
    let spec = session.spec()?;
    let engine = session.engine().await?;
    let p = Progress::new();
    let have = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
    let images = image::resolve(spec, engine, &p, false).await?;
    // Secrets do not count in the config hash: a cluster without them gets throwaway ones.
    let secrets = secrets::load(&spec.name)?.unwrap_or_else(secrets::Secrets::generate);
    // Certificates are secret files, outside the config hash: plan makes none.
    let no_certs = crate::tls::ClusterCerts::default();
    let mut want = converge::desired_for(spec, &images, &secrets, &no_certs)?;
    want.image_ids = image::image_ids(engine, &want).await?;
    if let Some(why) = plan::etcd_membership_refusal(&want, &have) {
        crate::usage!("{why}");
    }
    let switching = plan::tls_switch(spec.tls.enabled, &have).is_some();
    let up = plan::up_plan(&want, &have);
    let mut steps: Vec<Step> = if switching {
        // Every container is made again: one step says it all.
        vec![Step {
            kind: "cluster",
            action: format!(
                "restart the whole cluster with TLS {}",
                if spec.tls.enabled { "on" } else { "off" }
            ),
            reason: "the running cluster has the other TLS setting, and etcd cannot switch between http and https member by member: the nodes stop (replicas first), etcd is made anew, Patroni's configuration and every data volume are kept".into(),
            impact: Impact::Restart,
        }]
    } else {
        up.describe()
            .into_iter()
            .map(|action| {
                let repo = format!(
                    "create volume {}",
                    crate::pgbackrest::repo_volume(&spec.name)
                );
                let (kind, reason) = if action == repo {
                    (
                        "volume",
                        "the backup repository ([backup] is on), which every node mounts",
                    )
                } else if action.starts_with("create volume ") {
                    ("volume", "the spec asks for it and it does not exist")
                } else {
                    ("container", "the spec asks for it and it does not run")
                };
                Step {
                    kind,
                    action,
                    reason: reason.into(),
                    impact: Impact::None,
                }
            })
            .collect()
    };
    let all_run = !switching && plan::not_running(&want, &have).is_empty();
    // The leader decides the order of a rolling change; read it when etcd may answer.
    let view = if !up.replace.is_empty() || !up.remove.is_empty() {
        match session.dcs().await {
            Ok(dcs) => dcs.read_cluster().await.ok(),
            Err(_) => None,
        }
    } else {
        None
    };
    let roll = rolling::order(
        &up,
        view.as_ref().and_then(|v| v.leader.as_deref()),
        view.as_ref().map_or(&[][..], |v| &v.sync_standbys[..]),
    );
    if !switching {
        steps.extend(roll.iter().map(Step::from));
    }
    if all_run {
        let access = session.access()?;
        let dcs = session.dcs().await?;
        if let Some(cp) = config_plan(spec, access, &dcs).await? {
            steps.extend(cp.steps.iter().map(Step::from));
        }
    } else if !have.containers.is_empty() {
        p.note("the config key is compared once the cluster runs (`pgha up` does it)");
    }
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
        for s in &report.steps {
            crate::sayln!(
                "{} {}: {} (impact: {})",
                s.kind,
                s.action,
                s.reason,
                s.impact.word()
            );
        }
    }
    Ok(())
}
