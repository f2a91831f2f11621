//! `pgha reinit M`: rebuild a replica from the leader through Patroni's REST API
//! (`POST /reinitialize`), refused on the leader, then wait until it streams again.

use crate::cli::ReinitArgs;
use crate::commands::access::Access;
use crate::context::Ctx;
use crate::decide;
use crate::error::UsageError;
use crate::ops::handover;
use crate::ops::health::POLL;
use crate::output::{json, list_report, list_table, secs};
use crate::progress::Progress;
use crate::wait::{wait_for, Check};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Serialize)]
struct ReinitReport {
    cluster: String,
    member: String,
    seconds: f64,
    timeline: Option<u64>,
}

pub async fn run(ctx: &Ctx, args: &ReinitArgs) -> Result<()> {
    let access = Access::new(ctx)?;
    let dcs = ctx.dcs().await?;
    let view = dcs.read_cluster().await?;
    decide::reinit(&view, &args.member).map_err(UsageError)?;
    ctx.confirm(&format!(
        "reinit {} of cluster {}: delete its data and copy it again from the leader {}",
        args.member,
        view.scope,
        view.leader.as_deref().unwrap_or("?")
    ))?;
    let api = access.api(&view, &args.member)?;
    // Its PostgreSQL start time now; a new one (after the rebuild) marks the reinit done.
    let before = api
        .status()
        .await
        .ok()
        .and_then(|s| s.get("postmaster_start_time").cloned());
    let p = Progress::new();
    let t0 = Instant::now();
    let reply = api
        .post(
            "/reinitialize",
            &serde_json::json!({ "force": args.force }),
            Duration::from_secs(30),
        )
        .await?;
    if !reply.ok() {
        bail!(
            "Patroni refused to reinitialize {} ({}): {}",
            args.member,
            reply.status,
            reply.body.trim()
        );
    }
    p.note(format!("{}: {}", args.member, reply.body.trim()));
    let timeout = Duration::from_secs(args.timeout);
    wait_for(
        &format!("{} to be rebuilt", args.member),
        timeout,
        POLL,
        Some(&p),
        || async {
            let s = api.status().await?;
            let state = s
                .get("state")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string();
            let started = s.get("postmaster_start_time").cloned();
            Ok(
                if state == "running" && started.is_some() && started != before {
                    Check::Ready(())
                } else {
                    Check::NotYet(format!("{} is {state}", args.member))
                },
            )
        },
    )
    .await?;
    let after = handover::wait_streaming(&dcs, &args.member, 0, timeout, &p).await?;
    p.finish();
    let r = ReinitReport {
        cluster: view.scope.clone(),
        member: args.member.clone(),
        seconds: t0.elapsed().as_secs_f64(),
        timeline: after.member(&args.member).and_then(|m| m.data.timeline),
    };
    if ctx.global.json {
        crate::say!("{}", json(&r));
    } else {
        crate::sayln!(
            "Reinitialized {} from the leader; streaming again after {}.",
            r.member,
            secs(t0.elapsed())
        );
        crate::say!("{}", list_table(&list_report(&after)));
    }
    Ok(())
}
