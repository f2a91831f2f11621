//! `pgha top`: a live view, one frame every second (`--interval`). The members' role, state,
//! timeline and lag come from etcd each frame (as `list`); TPS, connections, replay lag, the last
//! archived WAL's and the last backup's age and the alerts from Prometheus and Alertmanager when
//! they run, else from each node's PostgreSQL directly (backup age and alerts then n/a). On a
//! terminal each frame redraws the screen; otherwise frames follow each other.

use crate::adapters::pg::{Pg, PgTarget};
use crate::adapters::prom::Prom;
use crate::cli::TopArgs;
use crate::monitoring::view::{self, AlertLine, Frame, History, MemberLine};
use crate::ops::session::Session;
use crate::output::list_report;
use crate::spec::Spec;
use anyhow::{anyhow, Result};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// One node's PostgreSQL, read directly when Prometheus does not run.
struct Direct {
    target: PgTarget,
    pg: Option<Pg>,
    /// Transactions and when they were read, for TPS.
    last: Option<(f64, Instant)>,
}

/// What the direct read of one node gives: TPS, connections, replay lag, last archive's age.
#[derive(Default)]
struct DirectFigures {
    tps: Option<f64>,
    connections: Option<f64>,
    lag_s: Option<f64>,
    archive_age_s: Option<f64>,
}

const DIRECT_SQL: &str = "select (select sum(xact_commit + xact_rollback) from pg_stat_database)::float8, \
     (select count(*) from pg_stat_activity where backend_type = 'client backend')::float8, \
     case when not pg_is_in_recovery() then null \
          when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0 \
          else greatest(0, extract(epoch from now() - pg_last_xact_replay_timestamp())) end::float8, \
     (select extract(epoch from now() - last_archived_time) from pg_stat_archiver)::float8";

impl Direct {
    async fn read(&mut self) -> Result<DirectFigures> {
        if self.pg.is_none() {
            self.pg = Some(Pg::connect(&self.target, Duration::from_millis(800)).await?);
        }
        let pg = self.pg.as_ref().expect("connected above");
        let row = match pg.row_f64s(DIRECT_SQL).await {
            Ok(r) => r,
            Err(e) => {
                self.pg = None;
                return Err(e);
            }
        };
        let now = Instant::now();
        let xacts = row.first().copied().flatten();
        let tps = match (xacts, self.last) {
            (Some(x), Some((lx, lt))) => Some((x - lx).max(0.0) / (now - lt).as_secs_f64()),
            _ => None,
        };
        self.last = xacts.map(|x| (x, now));
        Ok(DirectFigures {
            tps,
            connections: row.get(1).copied().flatten(),
            lag_s: row.get(2).copied().flatten(),
            archive_age_s: row.get(3).copied().flatten(),
        })
    }
}

/// A query's values by member.
async fn by_member(prom: &Prom, expr: &str) -> Result<BTreeMap<String, f64>> {
    Ok(prom
        .query(expr)
        .await?
        .into_iter()
        .filter(|s| s.value.is_finite())
        .map(|s| (s.label("member").to_string(), s.value))
        .collect())
}

/// The figures Prometheus and Alertmanager have; Err when Prometheus does not answer.
async fn from_prometheus(prom: &Prom, f: &mut Frame) -> Result<()> {
    let tps = by_member(
        prom,
        "irate(pgha_transactions_total{job=\"postgres\"}[30s])",
    )
    .await?;
    let conns = by_member(prom, "pgha_connections_used{job=\"postgres\"}").await?;
    let lag = by_member(prom, "pg_replication_lag_seconds{job=\"postgres\"}").await?;
    let archive = by_member(
        prom,
        "pgha_archive_last_archived_age_seconds{job=\"postgres\"} and on(member) patroni_primary == 1",
    )
    .await?;
    let backup = prom
        .query("min(pgbackrest_backup_since_last_completion_seconds)")
        .await?;
    for m in &mut f.members {
        m.tps = tps.get(&m.member).copied();
        m.connections = conns.get(&m.member).copied();
        if m.role != "Leader" {
            m.lag_s = lag.get(&m.member).copied();
        }
    }
    f.archive_age_s = archive.values().next().copied().filter(|a| *a >= 0.0);
    f.backup_age_s = backup.first().map(|s| s.value).filter(|v| v.is_finite());
    f.alerts = match prom.alerts().await {
        Ok(a) => Some(
            a.into_iter()
                .map(|a| AlertLine {
                    severity: a.severity,
                    name: a.name,
                    member: a.member,
                    summary: a.summary,
                })
                .collect(),
        ),
        Err(e) => {
            f.problems.push(format!("Alertmanager: {e:#}"));
            None
        }
    };
    f.source = "Prometheus".into();
    Ok(())
}

async fn from_postgres(direct: &mut BTreeMap<String, Direct>, f: &mut Frame) {
    for m in &mut f.members {
        let Some(d) = direct.get_mut(&m.member) else {
            continue;
        };
        match d.read().await {
            Ok(x) => {
                m.tps = x.tps;
                m.connections = x.connections;
                m.lag_s = x.lag_s;
                if m.role == "Leader" {
                    f.archive_age_s = x.archive_age_s;
                }
            }
            Err(e) => f.problems.push(format!("{}: {e:#}", m.member)),
        }
    }
}

fn clock() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    t.get(11..19).unwrap_or(&t).to_string() + " UTC"
}

fn direct_targets(spec: &Spec, secrets: &crate::secrets::Secrets) -> BTreeMap<String, Direct> {
    spec.nodes
        .names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let target = crate::ops::health::pg_target(spec, spec.node_pg_port(i), secrets);
            (
                n.clone(),
                Direct {
                    target,
                    pg: None,
                    last: None,
                },
            )
        })
        .collect()
}

pub async fn run(session: &Session, args: &TopArgs) -> Result<()> {
    let spec = session.spec()?;
    let secrets = crate::secrets::load(&spec.name)?.ok_or_else(|| {
        anyhow!(
            "cluster {} has no secrets file {}: is it up? (`pgha up`)",
            spec.name,
            crate::secrets::secrets_path(&spec.name).display()
        )
    })?;
    let dcs = session.dcs().await?;
    let prom = spec
        .monitoring
        .enabled
        .then(|| crate::security::prom(spec))
        .transpose()?;
    let mut direct = direct_targets(spec, &secrets);
    let mut history = History::default();
    let tty = std::io::stdout().is_terminal();
    let mut members: Vec<MemberLine> = Vec::new();
    let mut frames = 0u64;
    loop {
        let mut f = Frame {
            cluster: spec.name.clone(),
            clock: clock(),
            ..Default::default()
        };
        match dcs.read_cluster().await {
            Ok(view) => {
                members = list_report(&view)
                    .members
                    .into_iter()
                    .map(|m| MemberLine {
                        member: m.member,
                        role: m.role,
                        state: m.state,
                        timeline: m.timeline,
                        lag_bytes: m.lag_bytes,
                        ..Default::default()
                    })
                    .collect();
            }
            Err(e) => f
                .problems
                .push(format!("etcd: {e:#} (members as last seen)")),
        }
        f.members = members.clone();
        let from_prom = match &prom {
            Some(p) => from_prometheus(p, &mut f).await.is_ok(),
            None => false,
        };
        if !from_prom {
            f.source = if prom.is_some() {
                "PostgreSQL directly: Prometheus does not answer".into()
            } else {
                "PostgreSQL directly: monitoring is off".into()
            };
            f.alerts = None;
            from_postgres(&mut direct, &mut f).await;
        }
        history.push(&f);
        let text = view::render(&f, &history);
        if tty {
            crate::say!("\x1b[H\x1b[2J{text}");
        } else {
            crate::sayln!("{text}");
        }
        frames += 1;
        if args.count.is_some_and(|c| frames >= c) {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(args.interval)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
