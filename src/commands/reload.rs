//! `pgha reload [M...]`: Patroni's `POST /reload` on members (all by default): re-read the config
//! and reload PostgreSQL. Reports each member's answer.

use crate::ops::session::Session;
use crate::output::{json, new_table};
use crate::usage;
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::Duration;

#[derive(Serialize)]
struct Reloaded {
    member: String,
    status: u16,
    answer: String,
}

pub async fn run(session: &Session, members: &[String]) -> Result<()> {
    let access = session.access()?;
    let view = session.dcs().await?.read_cluster().await?;
    for m in members {
        if view.member(m).is_none() {
            usage!("member {m} is not in cluster {}", view.scope);
        }
    }
    let mut out = Vec::new();
    for m in view
        .members
        .iter()
        .filter(|m| members.is_empty() || members.contains(&m.name))
    {
        let r = access
            .api(&view, &m.name)?
            .post("/reload", &serde_json::json!({}), Duration::from_secs(10))
            .await;
        out.push(match r {
            Ok(r) => Reloaded {
                member: m.name.clone(),
                status: r.status,
                answer: r.body.trim().to_string(),
            },
            Err(e) => Reloaded {
                member: m.name.clone(),
                status: 0,
                answer: format!("{e:#}"),
            },
        });
    }
    if session.global.json {
        crate::say!("{}", json(&out));
    } else {
        let mut t = new_table(&["Member", "HTTP", "Answer"]);
        for r in &out {
            t.add_row(vec![
                r.member.clone(),
                r.status.to_string(),
                r.answer.clone(),
            ]);
        }
        crate::sayln!("{t}");
    }
    let failed: Vec<&str> = out
        .iter()
        .filter(|r| !(200..300).contains(&r.status))
        .map(|r| r.member.as_str())
        .collect();
    if !failed.is_empty() {
        bail!("reload failed on {}", failed.join(", "));
    }
    Ok(())
}
