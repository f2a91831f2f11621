//! What backups and archiving cost, on one pgbench database (`--backup-scale`, default 20: about
//! 300 MiB): a full `pgha backup` next to `pg_basebackup` of the same cluster (streamed as tar to
//! /dev/null inside a replica's container: the copy alone, no compression, no checksums), a
//! point-in-time `pgha restore --into` until the new cluster is healthy, and the archive lag
//! under a steady writer: from a commit until the WAL segment holding it is in the repository,
//! which `archive_timeout` (10 s in the bench's spec) bounds when writes are few.

use super::pgbench::{in_network, pgbench, roles};
use super::{Bench, Metric};
use anyhow::{bail, Context, Result};
use pgha::adapters::docker::Engine;
use pgha::adapters::pg::Pg;
use pgha::ops::archive;
use pgha::ops::writer::Writer;
use std::time::{Duration, Instant};

/// The bench spec's archive_timeout (see `Bench::respec`).
pub const ARCHIVE_TIMEOUT_S: u64 = 10;

pub struct Figures {
    pub size: Metric,
    pub backup_s: Metric,
    pub backup_rate: Metric,
    pub basebackup_s: Metric,
    pub basebackup_rate: Metric,
    pub restore_s: Metric,
    pub lag: Metric,
}

impl Figures {
    pub fn new() -> Figures {
        Figures {
            size: Metric::new("backup: pgbench database size", "MiB"),
            backup_s: Metric::new("pgha backup --type full: time", "s"),
            backup_rate: Metric::new("pgha backup --type full: throughput", "MiB/s"),
            basebackup_s: Metric::new(
                "pg_basebackup of the same cluster (tar to /dev/null): time",
                "s",
            ),
            basebackup_rate: Metric::new("pg_basebackup: throughput", "MiB/s"),
            restore_s: Metric::new(
                "pgha restore --time T --into (new cluster healthy, data checked)",
                "s",
            ),
            lag: Metric::new(
                "archive lag under a steady writer (archive_timeout 10 s): commit to segment archived",
                "s",
            ),
        }
    }

    pub fn into_metrics(self) -> Vec<Metric> {
        vec![
            self.size,
            self.backup_s,
            self.backup_rate,
            self.basebackup_s,
            self.basebackup_rate,
            self.restore_s,
            self.lag,
        ]
    }
}

/// Fills the pgbench tables at `scale` (once per bench run).
pub async fn prepare(b: &Bench<'_>, engine: &Engine, scale: u64) -> Result<()> {
    let (leader, client) = roles(b).await?;
    let (haproxy, _) = in_network(b, &leader)?;
    eprintln!("bench: backup: pgbench -i -s {scale}");
    pgbench(
        engine,
        &client,
        &haproxy.0,
        &haproxy.1,
        &["-i", "-q", "-s", &scale.to_string()],
    )
    .await
    .context("fill the pgbench tables for the backup bench")?;
    Ok(())
}

/// One repetition of every figure.
pub async fn measure(b: &Bench<'_>, engine: &Engine, run: usize, f: &mut Figures) -> Result<()> {
    let mib = |bytes: f64| bytes / 1048576.0;

    // A full backup through pgha.
    eprintln!("bench: backup: full backup");
    let r = b.json(&["backup", "--type", "full"])?;
    let secs = r["elapsed_s"].as_f64();
    let bytes = r["backup"]["database_bytes"].as_f64();
    f.size.push(bytes.map(mib));
    f.backup_s.push(secs);
    f.backup_rate.push(match (bytes, secs) {
        (Some(b), Some(s)) if s > 0.0 => Some(mib(b) / s),
        _ => None,
    });

    // pg_basebackup of the same cluster, from a replica's container.
    let (leader, client) = roles(b).await?;
    let (_, direct) = in_network(b, &leader)?;
    eprintln!("bench: backup: pg_basebackup");
    // As the replication user, whose password Patroni keeps in the replica's own password file.
    let script = format!(
        "pg_basebackup -h {} -p {} -U replicator -c fast -X none -Ft -D - 2>/tmp/basebackup.err | wc -c",
        direct.0, direct.1
    );
    // Replication presents the replicator's certificate (pg_hba: clientcert=verify-full).
    let d = pgha::layout::TLS_DIR;
    let env = vec![
        "PGPASSFILE=/tmp/pgpass".to_string(),
        "PGSSLMODE=verify-full".to_string(),
        format!("PGSSLROOTCERT={d}/ca.crt"),
        format!("PGSSLCERT={d}/replicator.crt"),
        format!("PGSSLKEY={d}/replicator.key"),
    ];
    let t0 = Instant::now();
    let out = engine
        .exec(&client, &["sh", "-c", &script], Some("postgres"), &env)
        .await?;
    let took = t0.elapsed().as_secs_f64();
    let copied: Option<f64> = out.stdout.trim().parse().ok().filter(|n: &f64| *n > 1e6);
    if copied.is_none() {
        eprintln!(
            "bench:   pg_basebackup copied nothing: {}",
            engine
                .exec(
                    &client,
                    &["cat", "/tmp/basebackup.err"],
                    Some("postgres"),
                    &[]
                )
                .await
                .map(|o| o.stdout)
                .unwrap_or_default()
                .trim()
        );
    }
    f.basebackup_s.push(copied.map(|_| took));
    f.basebackup_rate.push(copied.map(|n| mib(n) / took));

    // A point-in-time restore into a new cluster: rows written after T must not be there.
    let pg = Pg::connect(&b.primary()?, Duration::from_secs(5)).await?;
    pg.batch("create table if not exists bench_pitr (id bigint primary key, after boolean)")
        .await?;
    let base = 10_000 * run as i64;
    pg.batch(&format!(
        "insert into bench_pitr select {base} + g, false from generate_series(1, 100) g"
    ))
    .await?;
    // pgBackRest keeps a backup's stop time in whole seconds: T lies a second past it at least.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = pg
        .query_text(
            "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'",
        )
        .await?
        .unwrap_or_default();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    pg.batch(&format!(
        "insert into bench_pitr select {base} + 100 + g, true from generate_series(1, 100) g"
    ))
    .await?;
    archive::switch_and_wait(&pg, Duration::from_secs(30)).await?;
    let into = format!("{}-r", b.o.name);
    let port_base = (b.o.port_base + 100).to_string();
    eprintln!("bench: backup: restore --time {t} --into {into}");
    let t0 = Instant::now();
    let restored = b.pgha(&[
        "restore",
        "--time",
        &t,
        "--into",
        &into,
        "--port-base",
        &port_base,
    ]);
    let took = t0.elapsed().as_secs_f64();
    let check = async {
        restored?;
        let secrets = std::fs::read_to_string(
            b.dir.path().join("home").join(&into).join("secrets.toml"),
        )?;
        let pw: toml::Value = toml::from_str(&secrets)?;
        let mut target = b.primary()?;
        target.port = (54320 + b.o.port_base + 100) as u16;
        target.password = pw["superuser_password"].as_str().unwrap_or_default().into();
        // The restored cluster has its own CA.
        target.tls = pgha::tls::pgha_client_in(&b.dir.path().join("home").join(&into).join("tls"))?
            .map(|t| pgha::tls::ClientTls {
                identity: None,
                ..t
            });
        let rpg = Pg::connect(&target, Duration::from_secs(10)).await?;
        let after = rpg
            .query_i64s(&format!(
                "select count(*) from bench_pitr where id > {base} and after"
            ))
            .await?;
        let before = rpg
            .query_i64s(&format!(
                "select count(*) from bench_pitr where id > {base} and not after"
            ))
            .await?;
        if after != [0] || before != [100] {
            bail!("the restored cluster has {before:?} rows from before T (want 100) and {after:?} from after (want 0)");
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    let spec = format!("{into}.toml");
    let _ = b.pgha(&[
        "--spec",
        &spec,
        "down",
        "--volumes",
        "--repository",
        "--yes",
    ]);
    let _ = std::fs::remove_file(b.dir.path().join(&spec));
    check?;
    f.restore_s.push(Some(took));

    // Archive lag under a steady writer: a commit's segment, until it is archived.
    eprintln!("bench: backup: archive lag under a writer");
    pg.batch("create table if not exists bench_lag (id bigint primary key)")
        .await?;
    let w = Writer::start(b.primary()?, "bench_lag", 1_000_000 * (run as i64 + 1));
    for _ in 0..if b.o.quick { 1 } else { 2 } {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let seg = pg
            .query_text("select pg_walfile_name(pg_current_wal_insert_lsn())")
            .await?
            .unwrap_or_default();
        let t0 = Instant::now();
        let deadline = Duration::from_secs(ARCHIVE_TIMEOUT_S * 3 + 10);
        let lag = loop {
            let s = archive::status(&pg).await?;
            if s.last_archived_wal
                .as_deref()
                .is_some_and(|a| a.len() == 24 && a >= seg.as_str())
            {
                break Some(t0.elapsed().as_secs_f64());
            }
            if t0.elapsed() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        f.lag.push(lag);
    }
    let acked = w.finish().await.acked.len();
    eprintln!("bench:   {acked} writes acknowledged while the archive lag was measured");
    Ok(())
}
