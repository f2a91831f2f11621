//! `pgha reinit M`: rebuild a replica from the leader through Patroni's REST API
//! (`POST /reinitialize`), refused on the leader, then wait until a new PostgreSQL start (its
//! start time read before the POST) streams from the leader.

use crate::cli::ReinitArgs;
use crate::decide;
use crate::error::UsageError;
use crate::ops::handover;
use crate::ops::restart;
use crate::ops::session::Session;
use crate::ops::silence;
use crate::output::{json, list_report, list_table, secs};
use crate::progress::Progress;
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

pub async fn run(session: &Session, args: &ReinitArgs) -> Result<()> {
    let access = session.access()?;
    let dcs = session.dcs().await?;
    let view = dcs.read_cluster().await?;
    decide::reinit(&view, &args.member).map_err(UsageError)?;
    session.confirm(&format!(
        "reinit {} of cluster {}: delete its data and copy it again from the leader {}",
        args.member,
        view.scope,
        view.leader.as_deref().unwrap_or("?")
    ))?;
    let api = access.api(&view, &args.member)?;
    let p = Progress::new();
    let timeout = Duration::from_secs(args.timeout);
    let quiet = silence::quiet_members(
        access,
        std::slice::from_ref(&args.member),
        "pgha reinit",
        timeout + Duration::from_secs(60),
        &p,
    )
    .await;
    let work = async {
        // Its PostgreSQL start time now; a new one (after the rebuild) that streams marks it done.
        let before = restart::start_time_before(&api, &args.member, &p).await?;
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
        restart::wait_restarted(
            &api,
            &dcs,
            &args.member,
            before.as_deref(),
            &format!("{} to be rebuilt and stream again", args.member),
            timeout,
            &p,
        )
        .await?;
        let after = handover::wait_streaming(&dcs, &args.member, 0, timeout, &p).await?;
        Ok::<_, anyhow::Error>((t0, after))
    }
    .await;
    silence::end(quiet, &p).await;
    let (t0, after) = work?;
    p.finish();
    let r = ReinitReport {
        cluster: view.scope.clone(),
        member: args.member.clone(),
        seconds: t0.elapsed().as_secs_f64(),
        timeline: after.member(&args.member).and_then(|m| m.data.timeline),
    };
    if session.global.json {
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
