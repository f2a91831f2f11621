//! The plan of `pgha restore`, computed once by a pure function (`restore_plan`) from the spec,
//! the target and how the cluster is restored. Its steps are the plan steps `pgha plan` shows
//! (`PlanStep`, kind `restore`): `restore --plan` prints them through the same printer, the
//! executor (`commands::restore`) announces the same lines before it acts, and `--in-place`'s
//! confirmation is the plan's `question`. The planner changes nothing.

use super::dynamic::Impact;
use super::up_plan::PlanStep;
use crate::spec::names;
use crate::spec::Spec;

/// How the cluster is restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreMode<'a> {
    /// The cluster itself goes back to the target (`--in-place`).
    InPlace,
    /// A new cluster `name` beside it, on `port_base`, whose spec is written to `spec_file`
    /// (`--into NAME`).
    Into {
        name: &'a str,
        port_base: u32,
        spec_file: &'a str,
    },
}

/// Everything `restore` does, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct RestorePlan {
    /// The cluster whose backups are restored.
    pub cluster: String,
    pub steps: Vec<PlanStep>,
    /// What the confirmation asks before anything is changed (`--in-place`; `--into` changes
    /// nothing of this cluster and asks nothing).
    pub question: Option<String>,
}

impl RestorePlan {
    /// The lines `restore --plan` prints and the executor announces (`PlanStep::line`, as
    /// `pgha plan` prints its steps).
    pub fn lines(&self) -> Vec<String> {
        self.steps.iter().map(PlanStep::line).collect()
    }

    /// The steps' actions: `restore --plan --json`.
    pub fn actions(&self) -> Vec<String> {
        self.steps.iter().map(|s| s.action.clone()).collect()
    }
}

fn step(action: String, reason: String, impact: Impact) -> PlanStep {
    PlanStep {
        kind: "restore",
        action,
        reason,
        impact,
    }
}

/// What is restored: the backup `--set` names, or the newest suitable one.
fn backup(set: Option<&str>) -> String {
    set.map_or("the newest suitable backup".to_string(), |l| {
        format!("backup {l}")
    })
}

/// The plan of `restore` of `spec`'s backups to `target` (`Target::describe`), from backup
/// `set` (none: the newest suitable one), in `mode`.
pub fn restore_plan(
    spec: &Spec,
    target: &str,
    set: Option<&str>,
    mode: RestoreMode,
) -> RestorePlan {
    let (steps, question) = match mode {
        RestoreMode::InPlace => (in_place(spec, target, set), Some(question(spec, target))),
        RestoreMode::Into {
            name,
            port_base,
            spec_file,
        } => (into(spec, target, set, name, port_base, spec_file), None),
    };
    RestorePlan {
        cluster: spec.name.clone(),
        steps,
        question,
    }
}

fn question(spec: &Spec, target: &str) -> String {
    format!(
        "restore cluster {} in place to {target}: the data of {} is replaced and every write after that point is lost (backups and archived WAL stay)",
        spec.name,
        spec.nodes.names.join(", ")
    )
}

fn in_place(spec: &Spec, target: &str, set: Option<&str>) -> Vec<PlanStep> {
    let first = &spec.nodes.names[0];
    let others = &spec.nodes.names[1..];
    let or = |none: &str| {
        if others.is_empty() {
            none.to_string()
        } else {
            others.join(", ")
        }
    };
    vec![
        step(
            format!(
                "stop the nodes of {} (replicas first; the leader archives its last WAL)",
                spec.name
            ),
            "nothing may write while the data goes back".into(),
            Impact::Outage,
        ),
        step(
            format!(
                "restore {} onto {first}'s data with --delta and replay WAL to {target}, where PostgreSQL promotes on a new timeline",
                backup(set)
            ),
            "PostgreSQL alone replays to the target (Patroni would rewrite the recovery settings and promote early); every write after the target is lost".into(),
            Impact::DataLoss,
        ),
        step(
            "clear Patroni's state in etcd (leader, members, history; the config key stays)"
                .into(),
            format!("{first} takes the leader lock with its restored data"),
            Impact::None,
        ),
        step(
            format!("remove {}'s containers and data volumes", or("no other node")),
            format!("their data lies past the target; they are rebuilt from {first}"),
            Impact::DataLoss,
        ),
        step(
            format!("start {first}: it takes the leader lock with the restored data"),
            "the cluster serves again, on the new timeline".into(),
            Impact::None,
        ),
        step(
            format!("`up` creates {} again as replicas of {first}", or("nothing")),
            "the spec asks for them".into(),
            Impact::None,
        ),
    ]
}

fn into(
    src: &Spec,
    target: &str,
    set: Option<&str>,
    name: &str,
    port_base: u32,
    spec_file: &str,
) -> Vec<PlanStep> {
    let none = |action: String, reason: String| step(action, reason, Impact::None);
    vec![
        none(
            format!(
                "write {spec_file} (the spec of {name}: {}'s, with port_base {port_base})",
                src.name
            ),
            format!("`pgha --spec {spec_file} ...` manages the new cluster"),
        ),
        none(
            format!(
                "create cluster {name} (etcd, nodes {}, HAProxy) with its own volumes and repository {}",
                src.nodes.names.join(", "),
                names::repo_volume(name)
            ),
            format!("a new cluster beside {}, on its own ports", src.name),
        ),
        none(
            format!(
                "the first node restores {} from repository {} (read-only) to {target}, and promotes there on a new timeline",
                backup(set),
                names::repo_volume(&src.name),
            ),
            format!("Patroni's custom bootstrap, from the backups and archived WAL of {}", src.name),
        ),
        none(
            format!("the other nodes copy it and stream; {name} archives into its own repository"),
            "replicas of the restored node".into(),
        ),
        none(
            format!("{} is not touched", src.name),
            "--into builds a new cluster and only reads this one's repository".into(),
        ),
    ]
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
