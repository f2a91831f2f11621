//! The one plan of `up` (omicron's blueprint): everything `up` does to bring a cluster to its
//! spec, in order, computed once by a pure function (`up_plan`) from the spec, the desired
//! objects and what was observed (Docker's inventory, and etcd's view of the cluster when it was
//! read). The planner changes nothing: `pgha plan` prints the plan (`UpPlan::shown`), `pgha up`
//! executes it (`ops::converge`), step by step (`UpPlan::steps`), and records each step it
//! performed (`Step::action` is the line `up --json` reports in `actions`).
//!
//! Its parts, in the order `up` takes them: the TLS switch (a whole-cluster restart, when the
//! running cluster has the other TLS setting); the containers, network and volumes
//! (`ContainerPlan`); the rolling replacements and removals (`rolling`); the config-key steps
//! (`dynamic`); the restarts a parameter leaves pending (with `--restart`).
//!
//! Where a step depends on what an earlier one produced, the plan holds the intent and the
//! executor resolves the detail at that moment, through the same pure functions:
//! - after a TLS switch the containers are planned against the inventory the switch leaves:
//!   predicted here (`after_tls_switch`), read again by `up` (`UpPlan::replan`);
//! - the rolling order needs the leader and the synchronous standbys at roll time
//!   (`UpPlan::roll_steps`): `plan` orders with those etcd names now, `up` with those after
//!   its waits;
//! - the config key is compared once the cluster runs, after the roll (`config_steps`): `plan`
//!   shows the steps against the key as it is now, `up` compares again when it gets there;
//! - which members a restart must apply to is known after the config key was written.

use super::dynamic::{self, ConfigStep, Impact};
use super::rolling::{self, RollStep};
use super::{
    container_plan, etcd_membership_refusal, not_running, tls_switch, ContainerPlan, Desired,
    Inventory, Kind, ObservedContainer,
};
use crate::spec::Spec;
use crate::state::ClusterView;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// What `up` or `plan` observed, besides the spec.
#[derive(Clone, Copy)]
pub struct Observed<'a> {
    /// The cluster's Docker objects, found by label.
    pub have: &'a Inventory,
    /// etcd's view of the cluster, when it was read (`plan` reads it when the leader or the
    /// config key matters; `up` reads it when it gets there, see the module doc).
    pub view: Option<&'a ClusterView>,
    /// Lower-case names of the parameters PostgreSQL applies only on a restart.
    pub restart_params: &'a BTreeSet<String>,
}

/// The running cluster has the other TLS setting: `up` restarts the whole cluster into the
/// spec's (`ops::converge::tls_switch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSwitch {
    /// The spec's setting, which the cluster gets.
    pub on: bool,
    /// What was found (`plan::tls_switch`).
    pub why: String,
}

/// When the config key is compared with the spec's `[patroni]` settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigIntent {
    /// No container exists (a new cluster, whose bootstrap writes the spec's settings, or one
    /// brought down with its volumes kept): `up` compares once it runs; `plan` says nothing.
    NoContainers,
    /// Containers exist but not every one runs, or the TLS switch makes them again: compared
    /// once the cluster runs (`up` does it, after the roll).
    WhenRunning,
    /// Every container runs: the steps against the config key as observed (`None`: not read,
    /// or etcd has no config key). `up` compares again after the roll.
    Compare(Option<Vec<ConfigStep>>),
}

/// Restarts of PostgreSQL that a parameter leaves pending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restarts {
    /// `up --restart`: the members flagging a pending restart after the config steps restart
    /// one at a time, replicas first (without it `up` asks on a terminal, or leaves them
    /// pending and says so). Which members is known once the key was written.
    pub apply: bool,
    /// Members that flag a pending restart now, when etcd was read.
    pub pending: Vec<String>,
}

/// Everything `up` does, in order (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub struct UpPlan {
    pub tls_switch: Option<TlsSwitch>,
    /// Against the inventory observed, or after a TLS switch the one it leaves.
    pub containers: ContainerPlan,
    /// The rolling replacements and removals, ordered with the leader observed (none: every
    /// node counts as a replica); `up` orders them again at roll time (`roll_steps`).
    pub rolling: Vec<RollStep>,
    pub config: ConfigIntent,
    pub restarts: Restarts,
}

/// One step of `up`, in the order the executor takes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Restart the whole cluster into the spec's TLS setting.
    TlsSwitch(TlsSwitch),
    CreateNetwork,
    CreateVolume(String),
    /// Create and start a container (`recreate`: remove the one that never started first).
    Create {
        name: String,
        recreate: bool,
    },
    /// Start an existing container.
    Start(String),
    Roll(RollStep),
    Config(ConfigStep),
}

/// One line of `pgha plan` (its `--json` steps).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStep {
    /// `cluster`, `container`, `volume` or `config` (`restore` in a restore's plan).
    pub kind: &'static str,
    pub action: String,
    pub reason: String,
    pub impact: Impact,
}

impl PlanStep {
    /// The step as `pgha plan` prints it on a line (and `restore --plan`, whose steps are
    /// plan steps too: `plan::restore`).
    pub fn line(&self) -> String {
        format!(
            "{} {}: {} (impact: {})",
            self.kind,
            self.action,
            self.reason,
            self.impact.word()
        )
    }
}

/// The inventory a TLS switch leaves (`ops::converge::tls_switch`): every container removed
/// but the spec's etcd members, made anew and running; the network and the volumes stay (etcd's
/// made again).
pub fn after_tls_switch(want: &Desired, have: &Inventory) -> Inventory {
    let mut volumes = have.volumes.clone();
    let etcd: Vec<_> = want
        .containers
        .iter()
        .filter(|c| c.kind == Kind::Etcd)
        .collect();
    for (v, _) in etcd.iter().filter_map(|c| c.volumes.first()) {
        if !volumes.contains(v) {
            volumes.push(v.clone());
        }
    }
    Inventory {
        networks: have.networks.clone(),
        volumes,
        containers: etcd
            .into_iter()
            .map(|c| ObservedContainer::running(c, want))
            .collect(),
    }
}

/// What of etcd's view `plan` needs to show the plan in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewNeed {
    /// Nothing: a new cluster, a stopped one, or a TLS switch.
    None,
    /// The leader, for the rolling order (shown without it when etcd does not answer).
    Leader,
    /// The config key: every container runs.
    Config,
}

/// What `up_plan` needs of etcd's view for `want` against `have` (pure; the caller reads it).
/// `Err` is `up_plan`'s refusal, said before anything is read.
pub fn view_need(spec: &Spec, want: &Desired, have: &Inventory) -> Result<ViewNeed, String> {
    let (switch, planned_against) = against(spec, want, have)?;
    if switch.is_some() {
        return Ok(ViewNeed::None);
    }
    let c = container_plan(want, &planned_against);
    Ok(if not_running(want, have).is_empty() {
        ViewNeed::Config
    } else if !c.replace.is_empty() || !c.remove.is_empty() {
        ViewNeed::Leader
    } else {
        ViewNeed::None
    })
}

/// The TLS switch, if any, and the inventory the containers are planned against: the one
/// observed, or after a switch the one it leaves. `Err`: the etcd membership change `up`
/// refuses against that inventory (`etcd_membership_refusal`).
fn against(
    spec: &Spec,
    want: &Desired,
    have: &Inventory,
) -> Result<(Option<TlsSwitch>, Inventory), String> {
    let switch = tls_switch(spec.tls.enabled, have).map(|why| TlsSwitch {
        on: spec.tls.enabled,
        why,
    });
    let planned_against = if switch.is_some() {
        after_tls_switch(want, have)
    } else {
        have.clone()
    };
    match etcd_membership_refusal(want, &planned_against) {
        Some(why) => Err(why),
        None => Ok((switch, planned_against)),
    }
}

/// The config steps for the live key (`dynamic::config_plan`), what `plan` shows and what `up`
/// writes after its roll.
pub fn config_steps(
    spec: &Spec,
    live: &Value,
    restart_params: &BTreeSet<String>,
) -> Vec<ConfigStep> {
    dynamic::config_plan(spec, live, restart_params)
}

/// The plan of `up` for `spec` (`want` is what it asks for) against what was observed;
/// `restart` is `up --restart`. `Err` says why `up` refuses (an etcd membership change it
/// cannot make, see `etcd_membership_refusal`), checked against the inventory the containers
/// are planned against.
pub fn up_plan(
    spec: &Spec,
    want: &Desired,
    obs: &Observed,
    restart: bool,
) -> Result<UpPlan, String> {
    let (switch, have) = against(spec, want, obs.have)?;
    let containers = container_plan(want, &have);
    // A view read before a TLS switch is gone with etcd's data.
    let view = obs.view.filter(|_| switch.is_none());
    let config = if obs.have.containers.is_empty() {
        ConfigIntent::NoContainers
    } else if switch.is_some() || !not_running(want, obs.have).is_empty() {
        ConfigIntent::WhenRunning
    } else {
        ConfigIntent::Compare(
            view.and_then(|v| v.config.as_ref())
                .map(|live| config_steps(spec, live, obs.restart_params)),
        )
    };
    let restarts = Restarts {
        apply: restart,
        pending: view.map(pending).unwrap_or_default(),
    };
    let mut plan = UpPlan {
        tls_switch: switch,
        containers,
        rolling: vec![],
        config,
        restarts,
    };
    plan.rolling = plan.roll_steps(
        view.and_then(|v| v.leader.as_deref()),
        view.map_or(&[][..], |v| &v.sync_standbys[..]),
    );
    Ok(plan)
}

/// Members that flag a pending restart.
pub fn pending(view: &ClusterView) -> Vec<String> {
    view.members
        .iter()
        .filter(|m| m.data.pending_restart == Some(true))
        .map(|m| m.name.clone())
        .collect()
}

impl UpPlan {
    /// The rolling steps, ordered for `leader` and `sync_standbys` (`rolling::order`): what `up`
    /// runs at roll time, with the names etcd gives then.
    pub fn roll_steps(&self, leader: Option<&str>, sync_standbys: &[String]) -> Vec<RollStep> {
        rolling::order(&self.containers, leader, sync_standbys)
    }

    /// After the TLS switch: the containers planned again against the inventory it left (what
    /// `after_tls_switch` predicted, unless something else changed meanwhile). `Err` as
    /// `up_plan`'s.
    pub fn replan(&mut self, want: &Desired, have: &Inventory) -> Result<(), String> {
        if let Some(why) = etcd_membership_refusal(want, have) {
            return Err(why);
        }
        self.containers = container_plan(want, have);
        self.rolling = self.roll_steps(None, &[]);
        Ok(())
    }

    /// The config steps known now (`ConfigIntent::Compare`).
    pub fn config_now(&self) -> &[ConfigStep] {
        match &self.config {
            ConfigIntent::Compare(Some(steps)) => steps,
            _ => &[],
        }
    }

    /// Every step, in the order `up` takes them: the TLS switch, the container steps, the
    /// rolling steps, the config steps known now.
    pub fn steps(&self) -> Vec<Step> {
        let mut out: Vec<Step> = self
            .tls_switch
            .iter()
            .cloned()
            .map(Step::TlsSwitch)
            .collect();
        out.extend(self.containers.steps());
        out.extend(self.rolling.iter().cloned().map(Step::Roll));
        out.extend(self.config_now().iter().cloned().map(Step::Config));
        out
    }

    /// What `pgha plan` prints. A TLS switch makes every container again: its one step says it
    /// all.
    pub fn shown(&self, spec: &Spec) -> Vec<PlanStep> {
        let steps = self.steps();
        match steps.first() {
            Some(s @ Step::TlsSwitch(_)) => vec![s.shown(spec)],
            _ => steps.iter().map(|s| s.shown(spec)).collect(),
        }
    }
}

impl ContainerPlan {
    /// The container, network and volume steps, in order: the network, the volumes, the
    /// containers to create (and start), the ones to start.
    pub fn steps(&self) -> Vec<Step> {
        let mut out = Vec::new();
        if self.create_network {
            out.push(Step::CreateNetwork);
        }
        out.extend(self.create_volumes.iter().cloned().map(Step::CreateVolume));
        out.extend(self.create.iter().map(|c| Step::Create {
            name: c.clone(),
            recreate: self.recreate.contains(c),
        }));
        out.extend(self.start.iter().cloned().map(Step::Start));
        out
    }
}

impl Step {
    /// The line `up` logs for the step (`up --json` `actions`); `None` for the TLS switch,
    /// whose notes say what it does.
    pub fn action(&self) -> Option<String> {
        Some(match self {
            Step::TlsSwitch(_) => return None,
            Step::CreateNetwork => "create network".to_string(),
            Step::CreateVolume(v) => format!("create volume {v}"),
            Step::Create {
                name,
                recreate: true,
            } => format!(
                "remove container {name} (created but never started) and create and start it again"
            ),
            Step::Create { name, .. } => format!("create and start container {name}"),
            Step::Start(c) => format!("start container {c}"),
            Step::Roll(s) => s.describe(),
            Step::Config(s) => s.describe(),
        })
    }

    /// The step as `pgha plan` prints it.
    pub fn shown(&self, spec: &Spec) -> PlanStep {
        let container = |action: String, reason: &str| PlanStep {
            kind: "container",
            action,
            reason: reason.into(),
            impact: Impact::None,
        };
        let not_running = "the spec asks for it and it does not run";
        match self {
            Step::TlsSwitch(t) => PlanStep {
                kind: "cluster",
                action: format!(
                    "restart the whole cluster with TLS {}",
                    if t.on { "on" } else { "off" }
                ),
                reason: "the running cluster has the other TLS setting, and etcd cannot switch between http and https member by member: the nodes stop (replicas first), etcd is made anew, Patroni's configuration and every data volume are kept".into(),
                impact: Impact::Restart,
            },
            Step::CreateVolume(v) => PlanStep {
                kind: "volume",
                action: format!("create volume {v}"),
                reason: if *v == crate::spec::names::repo_volume(&spec.name) {
                    "the backup repository ([backup] is on), which every node mounts"
                } else {
                    "the spec asks for it and it does not exist"
                }
                .into(),
                impact: Impact::None,
            },
            Step::CreateNetwork | Step::Create { .. } | Step::Start(_) => {
                container(self.action().unwrap_or_default(), not_running)
            }
            Step::Roll(s) => PlanStep {
                kind: "container",
                action: s.describe(),
                reason: s.reason.clone(),
                impact: s.impact,
            },
            Step::Config(s) => PlanStep {
                kind: "config",
                action: format!("set {} = {}", s.path, as_text(&s.to)),
                reason: s.reason.clone(),
                impact: s.impact,
            },
        }
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
