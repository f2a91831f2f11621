//! Tests of restore's plan: its steps say today's words, and `restore --plan` prints what the
//! executor announces and the confirmation asks, from the one value `restore_plan` computes.

use super::*;
use crate::pgbackrest::Target;

fn in_place_plan(set: Option<&str>) -> RestorePlan {
    let t = Target::Name("m1".into()).describe();
    restore_plan(&Spec::default(), &t, set, RestoreMode::InPlace)
}

fn into_plan() -> RestorePlan {
    let t = Target::Latest.describe();
    let mode = RestoreMode::Into {
        name: "copy",
        port_base: 5500,
        spec_file: "copy.toml",
    };
    restore_plan(&Spec::default(), &t, Some("L1"), mode)
}

#[test]
fn in_place_steps_name_what_happens_to_each_node() {
    let plan = in_place_plan(None);
    let a = plan.actions();
    assert_eq!(a.len(), 6);
    assert_eq!(
        a[0],
        "stop the nodes of pgha (replicas first; the leader archives its last WAL)"
    );
    assert!(a[1].contains("onto pg1's data"), "{}", a[1]);
    assert!(a[1].contains("restore point \"m1\""), "{}", a[1]);
    assert!(
        a[1].starts_with("restore the newest suitable backup"),
        "{}",
        a[1]
    );
    assert_eq!(a[3], "remove pg2, pg3's containers and data volumes");
    assert_eq!(a[5], "`up` creates pg2, pg3 again as replicas of pg1");
    assert!(in_place_plan(Some("L1")).actions()[1].starts_with("restore backup L1 onto"));
    let impacts: Vec<_> = plan.steps.iter().map(|s| s.impact).collect();
    assert_eq!(
        impacts,
        [
            Impact::Outage,
            Impact::DataLoss,
            Impact::None,
            Impact::DataLoss,
            Impact::None,
            Impact::None
        ]
    );
    assert_eq!(
        plan.question.as_deref(),
        Some("restore cluster pgha in place to restore point \"m1\": the data of pg1, pg2, pg3 is replaced and every write after that point is lost (backups and archived WAL stay)")
    );
}

#[test]
fn into_steps_leave_the_source_untouched() {
    let plan = into_plan();
    assert_eq!(plan.question, None, "--into asks nothing");
    assert_eq!(
        plan.actions(),
        [
            "write copy.toml (the spec of copy: pgha's, with port_base 5500)",
            "create cluster copy (etcd, nodes pg1, pg2, pg3, HAProxy) with its own volumes and repository copy-backup",
            &format!("the first node restores backup L1 from repository pgha-backup (read-only) to {}, and promotes there on a new timeline", Target::Latest.describe()),
            "the other nodes copy it and stream; copy archives into its own repository",
            "pgha is not touched",
        ]
    );
    assert!(plan.steps.iter().all(|s| s.impact == Impact::None));
}

#[test]
fn the_plan_printed_is_the_plan_announced() {
    for plan in [in_place_plan(None), into_plan()] {
        // `restore --plan` prints each step as `pgha plan` does (`PlanStep::line`); the
        // executor announces `lines()`: the same value, the same lines, in the same order.
        let printed: Vec<String> = plan.steps.iter().map(PlanStep::line).collect();
        assert_eq!(printed, plan.lines());
        for (line, s) in plan.lines().iter().zip(&plan.steps) {
            assert_eq!(s.kind, "restore");
            assert!(
                line.starts_with(&format!("restore {}: ", s.action)),
                "{line}"
            );
            assert!(
                line.ends_with(&format!("(impact: {})", s.impact.word())),
                "{line}"
            );
        }
        // `--json` keeps its shape: the actions, in order.
        let json = serde_json::to_value(plan.actions()).unwrap();
        assert!(json.as_array().unwrap().iter().all(|v| v.is_string()));
    }
}
