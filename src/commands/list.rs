//! `pgha list`: the members as Patroni's state in etcd has them, like `patronictl list`.

use crate::cli::ListArgs;
use crate::context::Ctx;
use crate::output::{json, list_report, list_table};
use anyhow::Result;
use std::time::Duration;

pub async fn run(ctx: &Ctx, args: &ListArgs) -> Result<()> {
    let dcs = ctx.dcs().await?;
    loop {
        let view = dcs.read_cluster().await?;
        let report = list_report(&view);
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
