//! `pgha history`: the cluster's timeline history from the `history` key, like patronictl.

use crate::ops::session::Session;
use crate::output::{json, new_table};
use anyhow::Result;

pub async fn run(session: &Session) -> Result<()> {
    let view = session.dcs().await?.read_cluster().await?;
    if session.global.json {
        crate::say!("{}", json(&view.history));
        return Ok(());
    }
    let mut t = new_table(&["TL", "LSN", "Reason", "Timestamp", "New Leader"]);
    for h in &view.history {
        t.add_row(vec![
            h.timeline.to_string(),
            h.lsn.to_string(),
            h.reason.clone(),
            h.timestamp.clone().unwrap_or_default(),
            h.new_leader.clone().unwrap_or_default(),
        ]);
    }
    crate::sayln!("{t}");
    Ok(())
}
