//! `pgha restart [M...] [--pending] [--role R]`: restart PostgreSQL through Patroni's REST API
//! (`POST /restart`), replicas first and the leader last, waiting until each runs again.
//! `--container` restarts the members' containers instead (see `member`).

use crate::cli::{RestartArgs, RoleFilter};
use crate::commands::access::Access;
use crate::commands::member::{self, Action};
use crate::context::Ctx;
use crate::ops::handover;
use crate::ops::health::POLL;
use crate::output::{json, list_report, list_table, secs};
use crate::progress::Progress;
use crate::state::ClusterView;
use crate::usage;
use crate::wait::{wait_for, Check};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Serialize)]
struct Restarted {
    member: String,
    role: String,
    seconds: f64,
}

/// The members to restart, replicas first, leader last. Pure.
pub fn choose(
    view: &ClusterView,
    names: &[String],
    role: RoleFilter,
    pending: bool,
) -> Result<Vec<String>> {
    for n in names {
        if view.member(n).is_none() {
            usage!("member {n} is not in cluster {}", view.scope);
        }
    }
    let leader = view.leader.as_deref();
    let mut chosen: Vec<String> = view
        .members
        .iter()
        .filter(|m| names.is_empty() || names.contains(&m.name))
        .filter(|m| match role {
            RoleFilter::Any => true,
            RoleFilter::Leader => Some(m.name.as_str()) == leader,
            RoleFilter::Replica => Some(m.name.as_str()) != leader,
        })
        .filter(|m| !pending || m.data.pending_restart == Some(true))
        .map(|m| m.name.clone())
        .collect();
    chosen.sort_by_key(|n| (Some(n.as_str()) == leader, n.clone()));
    Ok(chosen)
}

pub async fn run(ctx: &Ctx, args: &RestartArgs) -> Result<()> {
    if args.container {
        if args.members.is_empty() {
            usage!("restart --container needs the members to restart");
        }
        return member::run_members(
            ctx,
            &args.members,
            Duration::from_secs(args.timeout),
            Action::Restart,
        )
        .await;
    }
    let access = Access::new(ctx)?;
    let dcs = ctx.dcs().await?;
    let view = dcs.read_cluster().await?;
    let chosen = choose(&view, &args.members, args.role, args.pending)?;
    if chosen.is_empty() {
        crate::sayln!(
            "nothing to restart{}",
            if args.pending {
                " (no member has a pending restart)"
            } else {
                ""
            }
        );
        return Ok(());
    }
    ctx.confirm(&format!(
        "restart PostgreSQL on {} (cluster {})",
        chosen.join(", "),
        view.scope
    ))?;
    let p = Progress::new();
    let timeout = Duration::from_secs(args.timeout);
    let mut done = Vec::new();
    for m in &chosen {
        let api = access.api(&view, m)?;
        let is_leader = view.leader.as_deref() == Some(m.as_str());
        let t0 = Instant::now();
        p.step(format!("restarting {m}"));
        let body = if args.pending {
            serde_json::json!({"restart_pending": true})
        } else {
            serde_json::json!({})
        };
        let reply = api.post("/restart", &body, timeout).await?;
        if !reply.ok() {
            bail!(
                "Patroni refused to restart {m} ({}): {}",
                reply.status,
                reply.body.trim()
            );
        }
        if is_leader {
            let rev = dcs
                .read_cluster()
                .await?
                .member(m)
                .map(|x| x.mod_revision)
                .unwrap_or(0);
            wait_for(
                &format!("{m} to run again as leader"),
                timeout,
                POLL,
                Some(&p),
                || async {
                    let v = dcs.read_cluster().await?;
                    Ok(if v.leads(m, rev - 1) {
                        Check::Ready(())
                    } else {
                        Check::NotYet(format!(
                            "{m} {}",
                            v.member(m)
                                .and_then(|x| x.data.state.clone())
                                .unwrap_or_default()
                        ))
                    })
                },
            )
            .await?;
            // The replicas reconnect and Patroni names the sync standby again.
            let running: Vec<String> = view
                .members
                .iter()
                .filter(|x| x.is_running())
                .map(|x| x.name.clone())
                .collect();
            crate::ops::health::wait_healthy(&dcs, &running, None, timeout, &p).await?;
        } else {
            handover::wait_streaming(&dcs, m, 0, timeout, &p).await?;
        }
        // A restart applies pending parameter changes: wait until Patroni clears the flag.
        wait_for(
            &format!("{m} to clear its pending restart"),
            timeout,
            POLL,
            Some(&p),
            || async {
                let v = dcs.read_cluster().await?;
                Ok(match v.member(m) {
                    Some(x) if x.data.pending_restart == Some(true) => {
                        Check::NotYet(format!("{m} pending restart"))
                    }
                    _ => Check::Ready(()),
                })
            },
        )
        .await?;
        p.note(format!("{m} restarted in {}", secs(t0.elapsed())));
        done.push(Restarted {
            member: m.clone(),
            role: if is_leader {
                "leader".into()
            } else {
                "replica".into()
            },
            seconds: t0.elapsed().as_secs_f64(),
        });
    }
    p.finish();
    let after = dcs.read_cluster().await?;
    if ctx.global.json {
        crate::say!(
            "{}",
            json(&serde_json::json!({"restarted": done, "list": list_report(&after)}))
        );
    } else {
        for d in &done {
            crate::sayln!(
                "{} ({}): restarted, running again after {}",
                d.member,
                d.role,
                secs(Duration::from_secs_f64(d.seconds))
            );
        }
        crate::say!("{}", list_table(&list_report(&after)));
    }
    Ok(())
}
