//! Tests of the one plan of `up`: what `pgha plan` prints and what `pgha up` executes, side by
//! side, for the same spec and observed state. The states are the plan tests' (desired objects,
//! inventories) with etcd keys recorded from a real Patroni cluster (tests/fixtures). `executed`
//! is the step sequence of `up`'s executor (`ops::converge`): the plan's steps before its waits,
//! the rolling order resolved at roll time and the config steps resolved after the roll, through
//! the functions the executor calls, with the cluster as observed (nothing changed meanwhile).

use super::dynamic::{self, Impact};
use super::tests::{desired_for, running};
use super::up_plan::*;
use super::*;
use crate::spec::Spec;
use crate::state::{ClusterView, Kv};
use serde_json::json;

/// The healthy cluster recorded in tests/fixtures: leader pg2, synchronous standby pg3.
fn healthy() -> ClusterView {
    let path = format!(
        "{}/tests/fixtures/etcd-patroni4-healthy.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let kvs: Vec<Kv> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    ClusterView::from_kvs("it-verify", "/service/it-verify/", &kvs)
}

/// `view` with a config key that has the spec's settings already.
fn converged(spec: &Spec, mut view: ClusterView) -> ClusterView {
    let live = view.config.take().unwrap();
    let steps = config_steps(spec, &live, &dynamic::default_restart_params());
    view.config = Some(dynamic::apply(&live, &steps));
    view
}

fn plan_for(spec: &Spec, want: &Desired, have: &Inventory, view: Option<&ClusterView>) -> UpPlan {
    let params = dynamic::default_restart_params();
    let obs = Observed {
        have,
        view,
        restart_params: &params,
    };
    up_plan(spec, want, &obs, false).unwrap()
}

/// The steps `up`'s executor performs for `plan`, in order (see the module doc).
fn executed(spec: &Spec, plan: &UpPlan, view: Option<&ClusterView>) -> Vec<Step> {
    let mut out: Vec<Step> = plan
        .tls_switch
        .iter()
        .cloned()
        .map(Step::TlsSwitch)
        .collect();
    out.extend(plan.containers.steps());
    if plan.containers.rolls() {
        let leader = view.and_then(|v| v.leader.as_deref());
        let sync = view.map_or(&[][..], |v| &v.sync_standbys[..]);
        out.extend(plan.roll_steps(leader, sync).into_iter().map(Step::Roll));
    }
    if let Some(live) = view.and_then(|v| v.config.as_ref()) {
        let params = dynamic::default_restart_params();
        out.extend(
            config_steps(spec, live, &params)
                .into_iter()
                .map(Step::Config),
        );
    }
    out
}

/// What `plan --json` prints as `steps`, and what `up` executes, shown the same way.
fn side_by_side(spec: &Spec, plan: &UpPlan, view: Option<&ClusterView>) -> serde_json::Value {
    let printed = serde_json::to_value(plan.shown(spec)).unwrap();
    let done = executed(spec, plan, view);
    assert_eq!(plan.steps(), done, "plan and up take the same steps");
    if plan.tls_switch.is_none() {
        let done_shown: Vec<PlanStep> = done.iter().map(|s| s.shown(spec)).collect();
        assert_eq!(printed, serde_json::to_value(done_shown).unwrap());
    }
    printed
}

#[test]
fn a_new_cluster_is_created_and_its_config_key_is_compared_once_it_runs() {
    let spec = Spec::default();
    let want = desired_for(&spec);
    let plan = plan_for(&spec, &want, &Inventory::default(), None);
    assert_eq!(plan.config, ConfigIntent::NoContainers);
    assert!(plan.tls_switch.is_none() && plan.rolling.is_empty());
    let printed = side_by_side(&spec, &plan, None);
    let steps = printed.as_array().unwrap();
    assert_eq!(
        steps[0],
        json!({"kind": "container", "action": "create network", "reason": "the spec asks for it and it does not run", "impact": "none"})
    );
    let repo = steps
        .iter()
        .find(|s| s["action"] == "create volume pgha-backup")
        .unwrap();
    assert_eq!(
        repo,
        &json!({"kind": "volume", "action": "create volume pgha-backup", "reason": "the backup repository ([backup] is on), which every node mounts", "impact": "none"})
    );
    assert_eq!(
        steps[1]["reason"],
        "the spec asks for it and it does not exist"
    );
    let created = steps
        .iter()
        .filter(|s| {
            s["action"]
                .as_str()
                .unwrap()
                .starts_with("create and start")
        })
        .count();
    assert_eq!(created, want.containers.len());
    // `up --json` reports the same lines in `actions` as before the one plan.
    let actions: Vec<String> = plan.steps().iter().filter_map(Step::action).collect();
    assert_eq!(actions, plan.containers.describe());
}

#[test]
fn a_healthy_cluster_with_the_specs_settings_has_no_step() {
    let spec = Spec::default();
    let want = desired_for(&spec);
    let have = running(&want);
    assert_eq!(view_need(&spec, &want, &have).unwrap(), ViewNeed::Config);
    let view = converged(&spec, healthy());
    let plan = plan_for(&spec, &want, &have, Some(&view));
    assert_eq!(plan.config, ConfigIntent::Compare(Some(vec![])));
    assert_eq!(side_by_side(&spec, &plan, Some(&view)), json!([]));
}

#[test]
fn config_key_steps_are_shown_as_up_writes_them() {
    let mut spec = Spec::default();
    spec.patroni.ttl = 30;
    spec.patroni
        .parameters
        .insert("max_connections".into(), toml::Value::Integer(200));
    let want = desired_for(&spec);
    let have = running(&want);
    let view = healthy();
    let plan = plan_for(&spec, &want, &have, Some(&view));
    let printed = side_by_side(&spec, &plan, Some(&view));
    let steps: Vec<(&str, &str, &str)> = printed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap(),
                s["action"].as_str().unwrap(),
                s["impact"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("config", "set ttl = 30", "none"),
            (
                "config",
                "set postgresql.parameters.max_connections = 200",
                "restart"
            )
        ],
        "{printed}"
    );
}

#[test]
fn the_rolling_order_is_resolved_with_the_leader_and_is_the_same_at_roll_time() {
    let spec = Spec::default();
    let want = desired_for(&spec);
    let mut have = running(&want);
    for c in have
        .containers
        .iter_mut()
        .filter(|c| c.kind == Some(Kind::Node))
    {
        c.config_hash = Some("old".into());
    }
    assert_eq!(view_need(&spec, &want, &have).unwrap(), ViewNeed::Config);
    let view = converged(&spec, healthy());
    let plan = plan_for(&spec, &want, &have, Some(&view));
    let printed = side_by_side(&spec, &plan, Some(&view));
    let actions: Vec<&str> = printed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "replace pgha-pg1",
            "replace pgha-pg3",
            "switch over from pg2",
            "replace pgha-pg2"
        ]
    );
    assert_eq!(printed[2]["impact"], "switchover");
    assert_eq!(printed[0]["impact"], "member-restart");
    // Without the leader (etcd did not answer `plan`), every node counts as a replica.
    let blind = plan_for(&spec, &want, &have, None);
    assert_eq!(blind.containers, plan.containers);
    assert!(!blind.rolling.iter().any(|s| s.impact == Impact::Switchover));
}

#[test]
fn a_stopped_cluster_compares_its_config_key_once_it_runs() {
    let spec = Spec::default();
    let want = desired_for(&spec);
    let mut have = running(&want);
    for c in &mut have.containers {
        c.running = false;
        c.state = "exited".into();
    }
    assert_eq!(view_need(&spec, &want, &have).unwrap(), ViewNeed::None);
    let plan = plan_for(&spec, &want, &have, None);
    assert_eq!(plan.config, ConfigIntent::WhenRunning);
    let printed = side_by_side(&spec, &plan, None);
    assert_eq!(printed.as_array().unwrap().len(), want.containers.len());
    assert!(printed[0]["action"]
        .as_str()
        .unwrap()
        .starts_with("start container "));
}

#[test]
fn a_tls_switch_is_one_step_and_up_plans_the_containers_against_what_it_leaves() {
    let mut off = Spec::default();
    off.tls.enabled = false;
    let have = running(&desired_for(&off));
    let spec = Spec::default();
    assert!(spec.tls.enabled);
    let want = desired_for(&spec);
    assert_eq!(view_need(&spec, &want, &have).unwrap(), ViewNeed::None);
    let mut plan = plan_for(&spec, &want, &have, None);
    let printed = side_by_side(&spec, &plan, None);
    assert_eq!(printed.as_array().unwrap().len(), 1, "{printed}");
    assert_eq!(printed[0]["kind"], "cluster");
    assert_eq!(
        printed[0]["action"],
        "restart the whole cluster with TLS on"
    );
    assert_eq!(printed[0]["impact"], "restart");
    assert_eq!(plan.config, ConfigIntent::WhenRunning);
    // What up does after the switch: the nodes, HAProxy and monitoring made again on their kept
    // volumes, etcd already made by the switch, nothing rolled.
    let steps = plan.steps();
    assert!(matches!(&steps[0], Step::TlsSwitch(t) if t.on));
    let created: Vec<&str> = steps[1..]
        .iter()
        .map(|s| match s {
            Step::Create { name, .. } => name.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    let not_etcd: Vec<&str> = want
        .containers
        .iter()
        .filter(|c| c.kind != Kind::Etcd)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(created, not_etcd);
    assert!(plan.rolling.is_empty());
    // Re-planned against the inventory the switch leaves, the plan stays what it said.
    let before = plan.clone();
    plan.replan(&want, &after_tls_switch(&want, &have)).unwrap();
    assert_eq!(plan, before);
}

#[test]
fn an_etcd_change_up_cannot_make_is_refused_by_the_planner() {
    let spec = Spec::default();
    let want = desired_for(&spec);
    let mut seven = spec.clone();
    seven.etcd.members = 7;
    let params = dynamic::default_restart_params();
    let obs = Observed {
        have: &running(&want),
        view: None,
        restart_params: &params,
    };
    let why = up_plan(&seven, &desired_for(&seven), &obs, false).unwrap_err();
    assert!(
        why.contains("change the membership by two members"),
        "{why}"
    );
}
