//! `pgha restart [M...] [--pending] [--role R]`: restart PostgreSQL through Patroni's REST API,
//! replicas first and the leader last (`ops::restart`). `--container` restarts the members'
//! containers instead (`ops::member`).

use crate::cli::RestartArgs;
use crate::ops::member::{self, Action};
use crate::ops::restart::{choose, rolling};
use crate::ops::session::Session;
use crate::ops::silence;
use crate::output::{json, list_report, list_table, secs};
use crate::progress::Progress;
use crate::usage;
use anyhow::Result;
use std::time::Duration;

pub async fn run(session: &Session, args: &RestartArgs) -> Result<()> {
    if args.container {
        if args.members.is_empty() {
            usage!("restart --container needs the members to restart");
        }
        return member::run_members(
            session,
            &args.members,
            Duration::from_secs(args.timeout),
            Action::Restart,
            args.force,
        )
        .await;
    }
    let access = session.access()?;
    let dcs = session.dcs().await?;
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
    session.confirm(&format!(
        "restart PostgreSQL on {} (cluster {})",
        chosen.join(", "),
        view.scope
    ))?;
    let p = Progress::new();
    let timeout = Duration::from_secs(args.timeout);
    let quiet = silence::quiet_members(
        access,
        &chosen,
        "pgha restart",
        timeout + Duration::from_secs(60),
        &p,
    )
    .await;
    let done = rolling(access, &dcs, &view, &chosen, args.pending, timeout, &p).await;
    silence::end(quiet, &p).await;
    let done = done?;
    p.finish();
    let after = dcs.read_cluster().await?;
    if session.global.json {
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
