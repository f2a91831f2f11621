//! After a write of the config key (`edit-config`, `up`): waits until every member's Patroni has the new configuration
//! and its PostgreSQL shows each changed parameter applied, pending a restart, or not taken (what
//! `dynconf::applied` judges from `pg_settings` / `pg_file_settings`), and returns the ones not taken.

use crate::adapters::pg::Pg;
use crate::dynconf::applied;
use crate::ops::access::Access;
use crate::ops::health::POLL;
use crate::progress::Progress;
use crate::wait::{wait_for, Check};
use anyhow::{Context, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How long a value must stay missing from Patroni's file, with PostgreSQL reloaded since the
/// write, before it counts as changed or dropped by Patroni (more than Patroni's shortest loop
/// plus the 1 s it sleeps after a reload).
const SETTLE: Duration = Duration::from_secs(3);

/// A parameter a member did not take as asked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rejection {
    pub member: String,
    pub parameter: String,
    pub value: String,
    pub reason: String,
    pub in_effect: Option<String>,
}

impl Rejection {
    pub fn line(&self) -> String {
        let effect = match &self.in_effect {
            Some(v) => format!("; in effect: {v}"),
            None => String::new(),
        };
        format!(
            "{}: {} = {} not applied: {}{effect}",
            self.member, self.parameter, self.value, self.reason
        )
    }
}

/// One parameter's `pg_settings` row and `pg_file_settings` lines on a member, as JSON.
const OBSERVE_SQL: &str = "select json_build_object(
  'load', extract(epoch from pg_conf_load_time()),
  'settings', coalesce((select json_agg(json_build_object('name', name, 'setting', setting,
      'current', current_setting(name), 'unit', unit, 'vartype', vartype,
      'pending_restart', pending_restart, 'min_val', min_val, 'max_val', max_val,
      'enumvals', enumvals)) from pg_settings where lower(name) in (NAMES)), '[]'),
  'lines', coalesce((select json_agg(json_build_object('name', name, 'sourcefile', sourcefile,
      'seqno', seqno, 'setting', setting, 'applied', applied, 'error', error))
      from pg_file_settings where lower(name) in (NAMES)), '[]'),
  'shown', (select json_object_agg(n, current_setting(n, true)) from unnest(array[NAMES]) n))::text";

#[derive(serde::Deserialize)]
struct Observation {
    load: f64,
    settings: Vec<applied::Setting>,
    lines: Vec<NamedLine>,
    shown: std::collections::HashMap<String, Option<String>>,
}

#[derive(serde::Deserialize)]
struct NamedLine {
    name: String,
    #[serde(flatten)]
    line: applied::FileLine,
}

/// What PostgreSQL on `member` shows for `params` (case-insensitive names, as PostgreSQL has them).
async fn observe(
    access: &Access,
    member: &str,
    params: &[String],
    since: f64,
) -> Result<Option<Vec<(String, applied::Observed)>>> {
    let Some(target) = access.member_pg(member) else {
        return Ok(None);
    };
    let pg = Pg::connect(&target, Duration::from_secs(2)).await?;
    let names = params
        .iter()
        .map(|p| format!("'{}'", p.to_lowercase().replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(",");
    let text = pg
        .query_text(&OBSERVE_SQL.replace("NAMES", &names))
        .await?
        .unwrap_or_default();
    let o: Observation = serde_json::from_str(&text).context("parse pg_settings")?;
    // Strictly after the write: a reload just before it (the previous edit's) says nothing.
    let reloaded = o.load > since;
    Ok(Some(
        params
            .iter()
            .map(|p| {
                let observed = applied::Observed {
                    setting: o
                        .settings
                        .iter()
                        .find(|s| s.name.eq_ignore_ascii_case(p))
                        .cloned(),
                    lines: o
                        .lines
                        .iter()
                        .filter(|l| l.name.eq_ignore_ascii_case(p))
                        .map(|l| l.line.clone())
                        .collect(),
                    shown: o.shown.get(&p.to_lowercase()).cloned().flatten(),
                    reloaded,
                };
                (p.clone(), observed)
            })
            .collect(),
    ))
}

/// Waits until every running member's Patroni has the new configuration (`GET /config`) and,
/// when PostgreSQL parameters changed, its PostgreSQL shows each one applied, pending a restart
/// (flagged by Patroni), or not taken (`applied::judge`); returns the ones not taken.
pub async fn wait_applied(
    access: &Access,
    dcs: &crate::adapters::dcs::Dcs,
    new: &Value,
    params: &[String],
    written_at: SystemTime,
    p: &Progress,
) -> Result<Vec<Rejection>> {
    let since = written_at
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs_f64();
    let asked = |name: &str| new.get("postgresql")?.get("parameters")?.get(name);
    // When each member/parameter was first seen not written by Patroni.
    let doubts: Mutex<HashMap<(String, String), Instant>> = Mutex::default();
    let rejected = wait_for(
        "every member to apply the configuration",
        Duration::from_secs(60),
        POLL,
        Some(p),
        || async {
            let view = dcs.read_cluster().await?;
            let mut rejected = Vec::new();
            for m in view.members.iter().filter(|m| m.is_running()) {
                let seen: Value = access
                    .api(&view, &m.name)?
                    .send(
                        reqwest::Method::GET,
                        "/config",
                        None,
                        Duration::from_secs(3),
                    )
                    .await
                    .and_then(|r| serde_json::from_str(&r.body).context("parse GET /config"))?;
                if &seen != new {
                    return Ok(Check::NotYet(format!(
                        "{} has not seen the change yet",
                        m.name
                    )));
                }
                if params.is_empty() {
                    continue;
                }
                let Some(observed) = observe(access, &m.name, params, since).await? else {
                    continue;
                };
                let mut needs_restart = false;
                for (name, o) in &observed {
                    let value = asked(name);
                    match applied::judge(name, value, o) {
                        applied::Verdict::Applied => {}
                        applied::Verdict::PendingRestart => needs_restart = true,
                        applied::Verdict::NotYet(why) => {
                            return Ok(Check::NotYet(format!("{}: {name}: {why}", m.name)));
                        }
                        applied::Verdict::NotWritten(reason) => {
                            let key = (m.name.clone(), name.clone());
                            let first = *doubts
                                .lock()
                                .expect("not poisoned")
                                .entry(key)
                                .or_insert_with(Instant::now);
                            if first.elapsed() < SETTLE {
                                return Ok(Check::NotYet(format!(
                                    "{}: {name}: {reason}? making sure",
                                    m.name
                                )));
                            }
                            rejected.push(Rejection {
                                member: m.name.clone(),
                                parameter: name.clone(),
                                value: value.map(applied::as_patroni_writes).unwrap_or_default(),
                                reason,
                                in_effect: o.setting.as_ref().map(|s| s.current.clone()),
                            });
                        }
                        applied::Verdict::Rejected(reason) => rejected.push(Rejection {
                            member: m.name.clone(),
                            parameter: name.clone(),
                            value: value.map(applied::as_patroni_writes).unwrap_or_default(),
                            reason,
                            in_effect: o.setting.as_ref().map(|s| s.current.clone()),
                        }),
                    }
                }
                // A parameter that needs a restart: wait until Patroni reports it in the member key.
                if needs_restart && m.data.pending_restart != Some(true) {
                    return Ok(Check::NotYet(format!(
                        "{} has not flagged its pending restart yet",
                        m.name
                    )));
                }
            }
            Ok(Check::Ready(rejected))
        },
    )
    .await?;
    Ok(rejected)
}
