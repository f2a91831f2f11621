//! `pgha switchover`: a planned change of leader. Validated against etcd first (see
//! `decide::switchover`); requested through the leader's REST API (which wakes Patroni at once),
//! or the `failover` key when that API does not answer; done when etcd shows the new leader, a
//! write through HAProxy lands on it and the old leader streams from it.

use crate::cli::SwitchoverArgs;
use crate::decide;
use crate::error::UsageError;
use crate::ops::handover::{self, Report};
use crate::ops::session::Session;
use crate::ops::silence;
use crate::progress::Progress;
use crate::usage;
use anyhow::Result;
use std::time::{Duration, SystemTime};

/// `--at`: `+10m` from now, or an RFC 3339 time in UTC; Patroni wants a future time with a zone.
pub fn parse_at(s: &str, now: SystemTime) -> Result<String> {
    let at = if let Some(d) = s.strip_prefix('+') {
        match humantime::parse_duration(d) {
            Ok(d) => now + d,
            Err(e) => {
                usage!("--at {s}: {e}; use a delay like +10m or a time like 2026-11-27T10:00:00Z")
            }
        }
    } else {
        match humantime::parse_rfc3339(s) {
            Ok(t) => t,
            Err(e) => usage!(
                "--at {s}: {e}; use a time in UTC like 2026-11-27T10:00:00Z, or a delay like +10m"
            ),
        }
    };
    if at <= now {
        usage!("--at {s} is not in the future");
    }
    Ok(humantime::format_rfc3339_seconds(at).to_string())
}

pub async fn run(session: &Session, args: &SwitchoverArgs) -> Result<()> {
    let scheduled_at = args
        .at
        .as_deref()
        .map(|a| parse_at(a, SystemTime::now()))
        .transpose()?;
    let access = session.access()?;
    let dcs = session.dcs().await?;
    let view = dcs.read_cluster().await?;
    let plan = decide::switchover(
        &view,
        args.candidate.as_deref(),
        args.leader.as_deref(),
        scheduled_at.is_some(),
    )
    .map_err(UsageError)?;
    session.confirm(&format!(
        "switch over cluster {} from {} to {}{}",
        view.scope,
        plan.leader,
        plan.candidate,
        scheduled_at
            .as_deref()
            .map(|a| format!(" at {a}"))
            .unwrap_or_default()
    ))?;
    let engine = match access.pgha {
        Some(_) => Some(session.engine().await?),
        None => None,
    };
    let p = Progress::new();
    if let Some(at) = scheduled_at {
        let api = access.api(&view, &plan.leader)?;
        let body = serde_json::json!({"leader": plan.leader, "candidate": plan.candidate, "scheduled_at": at});
        let reply = api
            .post("/switchover", &body, Duration::from_secs(30))
            .await?;
        p.finish();
        if !reply.ok() {
            anyhow::bail!(
                "Patroni refused the switchover ({}): {}",
                reply.status,
                reply.body.trim()
            );
        }
        crate::sayln!(
            "Switchover of cluster {} from {} to {} scheduled at {at} (`pgha list` shows it).",
            view.scope,
            plan.leader,
            plan.candidate
        );
        return Ok(());
    }
    let quiet = silence::quiet_members(
        access,
        &[plan.leader.clone(), plan.candidate.clone()],
        "pgha switchover",
        Duration::from_secs(args.timeout + 60),
        &p,
    )
    .await;
    let done = handover::perform(
        access,
        &dcs,
        engine,
        &view,
        &plan,
        Duration::from_secs(args.timeout),
        &p,
    )
    .await;
    silence::end(quiet, &p).await;
    let done = done?;
    p.finish();
    let mut r = Report::new(
        &done.after,
        "switchover",
        Some(plan.leader.clone()),
        &plan.candidate,
        done.via,
    );
    r.new_leader_s = done.to_leader.as_secs_f64();
    r.first_write_s = done.first_write.as_ref().map(|w| w.after.as_secs_f64());
    r.first_write_server = done.first_write.map(|w| w.server);
    r.old_leader_rejoined_s = Some(done.rejoined.as_secs_f64());
    r.print(session.global.json);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_accepts_delays_and_utc_times_in_the_future() {
        let now = humantime::parse_rfc3339("2026-11-27T10:00:00Z").unwrap();
        assert_eq!(parse_at("+10m", now).unwrap(), "2026-11-27T10:10:00Z");
        assert_eq!(
            parse_at("2026-11-27T12:00:00Z", now).unwrap(),
            "2026-11-27T12:00:00Z"
        );
        assert!(parse_at("2026-11-27T09:00:00Z", now).is_err());
        assert!(parse_at("tomorrow", now).is_err());
    }
}
