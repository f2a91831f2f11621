//! `pgha list`: the members as Patroni's state in etcd has them, like `patronictl list`. With
//! `--stale`, when etcd has no quorum, the last known state of a member that answers, marked stale.

use crate::adapters::dcs::{Dcs, EtcdUnavailable, Problem};
use crate::cli::ListArgs;
use crate::context::Ctx;
use crate::output::{json, list_report, list_table, ListReport};
use anyhow::Result;
use std::time::Duration;

pub async fn run(ctx: &Ctx, args: &ListArgs) -> Result<()> {
    let dcs = ctx.dcs().await?;
    loop {
        let report = read(&dcs, args.stale).await?;
        let text = if ctx.global.json {
            json(&report)
        } else {
            list_table(&report)
        };
        match args.watch {
            None => {
                crate::say!("{text}");
                return Ok(());
            }
            Some(interval) => {
                // Clear the screen and redraw, like `watch`.
                crate::say!("\x1b[2J\x1b[H{text}");
                tokio::time::sleep(Duration::from_secs_f64(interval.max(0.2))).await;
            }
        }
    }
}

/// A linearizable read; with `stale`, when etcd has no quorum, a serializable read from the most
/// up to date member that answers, said on stderr and marked in the report.
async fn read(dcs: &Dcs, stale: bool) -> Result<ListReport> {
    let err = match dcs.read_cluster().await {
        Ok(view) => return Ok(list_report(&view)),
        Err(e) => e,
    };
    let fallback = err
        .downcast_ref::<EtcdUnavailable>()
        .filter(|u| stale && u.problem == Problem::NoQuorum)
        .and_then(|u| Some((u.reason.clone(), u.answering.first()?.clone())));
    let Some((reason, from)) = fallback else {
        return Err(err);
    };
    let view = dcs.read_cluster_stale(&from).await?;
    eprintln!(
        "warning: {reason}; showing {}'s last known state, which may be out of date",
        from.member
    );
    let mut report = list_report(&view);
    report.stale = true;
    report.stale_from = Some(from.member);
    Ok(report)
}
