//! `pgha topology`: the members as a tree (leader, replicas, cascading replicas), like patronictl.

use crate::ops::session::Session;
use crate::output::{json, list_table, topology_report};
use anyhow::Result;

pub async fn run(session: &Session) -> Result<()> {
    let view = session.dcs().await?.read_cluster().await?;
    let r = topology_report(&view);
    if session.global.json {
        crate::say!("{}", json(&r));
    } else {
        crate::say!("{}", list_table(&r));
    }
    Ok(())
}
