//! The executor of `up`'s plan (`plan::UpPlan`): it performs the plan's steps and records each
//! one it performed, in order (`Performed`: `up --json` reports them as `actions`). It decides
//! nothing the planner did not: the container steps come from `UpPlan::steps`, the rolling order
//! from `UpPlan::roll_steps` with the leader at roll time, the config steps from
//! `plan::up_plan::config_steps` against the key after the roll (see `plan::up_plan`'s doc).
//! Here: the container, network and volume steps; the TLS switch is `tls_switch`, the roll
//! `ops::roll`, the config key `config`.

use crate::adapters::docker::Engine;
use crate::plan::up_plan::Step;
use crate::plan::Desired;
use crate::progress::Progress;
use anyhow::Result;
use futures_util::future::try_join_all;

/// The steps `up` performed, in order.
#[derive(Debug, Default)]
pub struct Performed {
    pub steps: Vec<Step>,
}

impl Performed {
    /// One line per step, for the log (`up --json` `actions`).
    pub fn actions(&self) -> Vec<String> {
        self.steps.iter().filter_map(Step::action).collect()
    }
}

/// The container, network and volume steps of `steps` (others are left to their executors):
/// the network and the volumes one by one; the containers that never started removed; the
/// containers to create made all at once, with their files; then everything created or to
/// start started at once. Patroni retries etcd while Python starts, which overlaps etcd's first
/// election, and HAProxy finds the leader by its health checks whenever it comes.
pub async fn containers(
    engine: &Engine,
    want: &Desired,
    steps: &[Step],
    p: &Progress,
    done: &mut Performed,
) -> Result<()> {
    let mut create = Vec::new();
    let mut start = Vec::new();
    for s in steps {
        match s {
            Step::CreateNetwork => {
                engine.ensure_network(&want.network, &want.labels).await?;
                p.note(format!("created network {}", want.network));
            }
            Step::CreateVolume(v) => engine.create_volume(v, &want.labels).await?,
            Step::Create { name, recreate } => {
                if *recreate {
                    engine.remove_container(name).await?;
                    p.note(format!(
                        "removed {name}: created but never started (an earlier `up` stopped half-way)"
                    ));
                }
                create.push(name.as_str());
                start.push(name.as_str());
            }
            Step::Start(name) => start.push(name.as_str()),
            Step::TlsSwitch(_) | Step::Roll(_) | Step::Config(_) => continue,
        }
        if !matches!(s, Step::Create { .. } | Step::Start(_)) {
            done.steps.push(s.clone());
        }
    }
    try_join_all(
        want.containers
            .iter()
            .filter(|c| create.contains(&c.name.as_str()))
            .map(|c| async move {
                engine.create_container(c).await?;
                p.note(format!("created {}", c.name));
                Ok::<_, anyhow::Error>(())
            }),
    )
    .await?;
    try_join_all(
        want.containers
            .iter()
            .filter(|c| start.contains(&c.name.as_str()))
            .map(|c| async move {
                engine.start(&c.name).await?;
                p.note(format!("started {}", c.name));
                Ok::<_, anyhow::Error>(())
            }),
    )
    .await?;
    done.steps.extend(
        steps
            .iter()
            .filter(|s| matches!(s, Step::Create { .. } | Step::Start(_)))
            .cloned(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::dynamic::{ConfigStep, Impact};
    use crate::plan::rolling::{Action, RollStep};
    use crate::plan::{ContainerPlan, Kind};

    /// `up --json` reports the steps performed in `actions`, in the words it always used.
    #[test]
    fn the_steps_performed_are_the_actions_up_reports() {
        let plan = ContainerPlan {
            create_network: true,
            create_volumes: vec!["c-pg1-data".into()],
            create: vec!["c-pg1".into(), "c-pg2".into()],
            recreate: vec!["c-pg2".into()],
            start: vec!["c-haproxy".into()],
            ..Default::default()
        };
        let mut done = Performed {
            steps: plan.steps(),
        };
        done.steps.push(Step::Roll(RollStep {
            action: Action::Replace,
            kind: Kind::Node,
            member: "pg3".into(),
            container: "c-pg3".into(),
            reason: "its settings changed".into(),
            impact: Impact::MemberRestart,
        }));
        let config = ConfigStep {
            path: "ttl".into(),
            parameter: None,
            from: Some(20.into()),
            to: 30.into(),
            reason: "the spec sets ttl = 30".into(),
            impact: Impact::None,
        };
        done.steps.push(Step::Config(config.clone()));
        let mut want = plan.describe();
        want.extend(["replace c-pg3".to_string(), config.describe()]);
        assert_eq!(done.actions(), want);
        assert_eq!(
            done.actions()[..5],
            [
                "create network",
                "create volume c-pg1-data",
                "create and start container c-pg1",
                "remove container c-pg2 (created but never started) and create and start it again",
                "start container c-haproxy"
            ]
        );
    }
}
