//! How a plan's steps are printed (`plan::up_plan::PlanStep`): one line each, as `PlanStep::line`
//! gives it. `pgha plan` prints `up`'s plan with it, `restore --plan` restore's.

use crate::plan::up_plan::PlanStep;

/// The steps on stdout, one line each.
pub fn print_steps(steps: &[PlanStep]) {
    for s in steps {
        crate::sayln!("{}", s.line());
    }
}
