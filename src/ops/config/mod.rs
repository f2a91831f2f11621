//! Writing Patroni's dynamic configuration (the `config` key) and following it until every
//! member has it: compare-and-swap on the key's revision, then each member's Patroni and
//! PostgreSQL observed (`follow`). Shared by `edit-config` and `up` on a running cluster.

use crate::adapters::dcs::Dcs;
use crate::dynconf;
use crate::ops::access::Access;
use crate::output::secs;
use crate::progress::Progress;
use anyhow::{bail, Result};
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime};

mod follow;
use follow::wait_applied;
pub use follow::Rejection;

/// What a configuration write came to (see `write_and_follow`).
pub struct Written {
    pub applied_s: f64,
    /// Members that flag a pending restart afterwards.
    pub pending: Vec<String>,
    /// Parameters a member's PostgreSQL did not take as asked.
    pub rejected: Vec<Rejection>,
    /// The cluster after the write.
    pub after: crate::state::ClusterView,
}

impl Written {
    /// The outcome in lines for a person (stdout).
    pub fn say_outcome(&self) {
        let took = secs(Duration::from_secs_f64(self.applied_s));
        if self.rejected.is_empty() {
            crate::sayln!("Applied on every member after {took}.");
        } else {
            crate::sayln!("Written; every member processed it after {took}.");
        }
        if !self.pending.is_empty() {
            crate::sayln!(
                "Pending restart on {} (`pgha list` shows it; `pgha restart --pending` applies it).",
                self.pending.join(", ")
            );
        }
    }

    /// Exit 1 naming the parameters some member did not take (each printed on stderr).
    pub fn fail_on_rejections(&self, scope: &str) -> Result<()> {
        if self.rejected.is_empty() {
            return Ok(());
        }
        for r in &self.rejected {
            eprintln!("{}", r.line());
        }
        let mut names: Vec<&str> = self.rejected.iter().map(|r| r.parameter.as_str()).collect();
        names.sort();
        names.dedup();
        bail!(
            "the configuration of cluster {scope} was written, but PostgreSQL does not run with {} as asked on {} of {} members (see above); change or remove it with `pgha edit-config`",
            names.join(", "),
            self.rejected.iter().map(|r| &r.member).collect::<std::collections::BTreeSet<_>>().len(),
            self.after.members.len()
        );
    }
}

/// Writes `new` over `old` into the config key with compare-and-swap on `revision`, then waits
/// until every member's Patroni has it and its PostgreSQL applied each changed parameter (or
/// flags a pending restart, or did not take it: `Written::rejected`). Fails, writing nothing,
/// when the key changed since it was read.
pub async fn write_and_follow(
    access: &Access,
    dcs: &Dcs,
    scope: &str,
    old: &Value,
    new: &Value,
    revision: i64,
    p: &Progress,
) -> Result<Written> {
    let text = serde_json::to_string(new)?;
    let written_at = SystemTime::now();
    if !dcs.cas_put("config", &text, revision).await? {
        bail!(
            "the configuration of cluster {scope} changed since it was read (someone else edited it); nothing was written: run the command again"
        );
    }
    let t0 = Instant::now();
    let params = dynconf::changed_parameters(old, new);
    let rejected = wait_applied(access, dcs, new, &params, written_at, p).await?;
    let after = dcs.read_cluster().await?;
    let pending = after
        .members
        .iter()
        .filter(|m| m.data.pending_restart == Some(true))
        .map(|m| m.name.clone())
        .collect();
    Ok(Written {
        applied_s: t0.elapsed().as_secs_f64(),
        pending,
        rejected,
        after,
    })
}
