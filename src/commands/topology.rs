//! `pgha topology`: the members as a tree (leader, replicas, cascading replicas), like patronictl.

use crate::context::Ctx;
use crate::output::{json, list_table, topology_report};
use anyhow::Result;

pub async fn run(ctx: &Ctx) -> Result<()> {
    let view = ctx.dcs().await?.read_cluster().await?;
    let r = topology_report(&view);
    if ctx.global.json {
        crate::say!("{}", json(&r));
    } else {
        crate::say!("{}", list_table(&r));
    }
    Ok(())
}
