//! pgha's benchmark: brings up its own cluster and prints one table of medians (with min and max)
//! over `--runs N` repetitions: `up` with the image present, `pgha list` next to `patronictl list`,
//! switchover under writes, `failover --kill` fenced and not, acknowledged writes lost, and the
//! cluster's memory at idle. It reports; it never fails on a slow machine.
//!
//! Run: `cargo bench --bench cluster -- --runs 3` (the e2e tests run it once with `--runs 1`).

#![allow(dead_code)]

use anyhow::{bail, Context, Result};
use pgha::adapters::docker::Engine;
use pgha::adapters::pg::{Pg, PgTarget};
use pgha::ops::writer::{lost, Writer};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Opts {
    pub runs: usize,
    pub port_base: u32,
    pub name: String,
    pub bin: PathBuf,
}

impl Opts {
    pub fn from_args(bin: PathBuf) -> Opts {
        let args: Vec<String> = std::env::args().collect();
        let runs = args
            .iter()
            .position(|a| a == "--runs")
            .and_then(|i| args.get(i + 1))
            .and_then(|r| r.parse().ok())
            .or_else(|| {
                std::env::var("PGHA_BENCH_RUNS")
                    .ok()
                    .and_then(|r| r.parse().ok())
            })
            .unwrap_or(3);
        Opts {
            runs,
            port_base: 8000,
            name: "pgha-bench".into(),
            bin,
        }
    }
}

/// Samples of one metric.
struct Metric {
    name: &'static str,
    unit: &'static str,
    samples: Vec<f64>,
}

impl Metric {
    fn new(name: &'static str, unit: &'static str) -> Metric {
        Metric {
            name,
            unit,
            samples: Vec::new(),
        }
    }

    fn stats(&self) -> Option<(f64, f64, f64)> {
        if self.samples.is_empty() {
            return None;
        }
        let mut s = self.samples.clone();
        s.sort_by(|a, b| a.total_cmp(b));
        let median = if s.len() % 2 == 1 {
            s[s.len() / 2]
        } else {
            (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
        };
        Some((median, s[0], s[s.len() - 1]))
    }
}

struct Bench<'a> {
    o: &'a Opts,
    dir: tempfile::TempDir,
}

impl Bench<'_> {
    fn pgha(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.o.bin)
            .args(args)
            .current_dir(self.dir.path())
            .env("PGHA_HOME", self.dir.path().join("home"))
            .output()
            .with_context(|| format!("run pgha {args:?}"))?;
        if !out.status.success() {
            bail!(
                "pgha {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn json(&self, args: &[&str]) -> Result<Value> {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.pgha(&a)?;
        serde_json::from_str(&out).with_context(|| format!("parse pgha {args:?}: {out}"))
    }

    fn password(&self) -> Result<String> {
        let t = std::fs::read_to_string(
            self.dir
                .path()
                .join("home")
                .join(&self.o.name)
                .join("secrets.toml"),
        )?;
        let v: toml::Value = toml::from_str(&t)?;
        Ok(v["superuser_password"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    fn target(&self, port: u32) -> Result<PgTarget> {
        Ok(PgTarget {
            host: "127.0.0.1".into(),
            port: port as u16,
            user: "postgres".into(),
            password: self.password()?,
            dbname: "postgres".into(),
        })
    }

    fn primary(&self) -> Result<PgTarget> {
        self.target(54320 + self.o.port_base)
    }

    /// Waits until `list` shows a leader, every member streaming and a sync standby.
    async fn settle(&self) -> Result<Value> {
        let t0 = Instant::now();
        loop {
            let l = self.json(&["list"])?;
            let m = l["members"].as_array().cloned().unwrap_or_default();
            let ok = m.len() == 3
                && m.iter().filter(|x| x["role"] == "Leader").count() == 1
                && m.iter().any(|x| x["role"] == "Sync Standby")
                && m.iter()
                    .filter(|x| x["role"] != "Leader")
                    .all(|x| x["state"] == "streaming");
            if ok {
                return Ok(l);
            }
            if t0.elapsed() > Duration::from_secs(120) {
                bail!("the cluster did not settle: {l}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs `op` under a continuous writer (and a watcher of every node's promotion and
    /// `synchronous_standby_names`); returns its JSON, the longest write gap, the loss, the number
    /// of acknowledged writes, and how many were acknowledged by a new leader before it named a
    /// sync standby.
    async fn under_writes(&self, table: &str, first: i64, op: &[&str]) -> Result<Outcome> {
        let w = Writer::start(self.primary()?, table, first);
        let targets: Vec<PgTarget> = (0..3)
            .map(|i| self.target(5431 + self.o.port_base + i))
            .collect::<Result<_>>()?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = tokio::spawn(watch_promotion(targets, stop.clone()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let r = tokio::task::block_in_place(|| self.json(op))?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let seen = watcher.await?;
        let written = w.finish().await;
        let window = unreplicated_window(&seen)
            .map(|(from, to)| {
                written
                    .acked_at
                    .iter()
                    .filter(|t| **t >= from && **t < to)
                    .count()
            })
            .unwrap_or(0);
        let pg = Pg::connect(&self.primary()?, Duration::from_secs(5)).await?;
        let present = pg
            .query_i64s(&format!("select id from {table} where id >= {first}"))
            .await?;
        Ok(Outcome {
            report: r,
            gap: written.longest_gap.as_secs_f64(),
            lost: lost(&written.acked, &present).len(),
            acked: written.acked.len(),
            window,
        })
    }
}

struct Outcome {
    report: Value,
    gap: f64,
    lost: usize,
    acked: usize,
    window: usize,
}

/// One observation of a node: when, which, primary or not, synchronous_standby_names set or not.
type Seen = (Instant, usize, bool, bool);

/// Polls every node every 20 ms until `stop`.
async fn watch_promotion(
    targets: Vec<PgTarget>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut conns: Vec<Option<Pg>> = targets.iter().map(|_| None).collect();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        for (i, t) in targets.iter().enumerate() {
            if conns[i].is_none() {
                conns[i] = Pg::connect(t, Duration::from_millis(300)).await.ok();
            }
            let Some(c) = &conns[i] else { continue };
            let sql = "select (not pg_is_in_recovery())::text || ' ' || (current_setting('synchronous_standby_names') <> '')::text";
            match c.query_text(sql).await {
                Ok(Some(v)) => seen.push((
                    Instant::now(),
                    i,
                    v.starts_with("true"),
                    v.ends_with("true"),
                )),
                _ => conns[i] = None,
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen
}

/// From a node's promotion until it set synchronous_standby_names: the window in which a new
/// leader acknowledges writes that no standby has confirmed.
fn unreplicated_window(seen: &[Seen]) -> Option<(Instant, Instant)> {
    let first_primary = |i: usize| seen.iter().find(|s| s.1 == i && s.2).map(|s| s.0);
    // The new leader: seen in recovery first, primary later.
    let new = (0..3).find(|i| {
        first_primary(*i).is_some_and(|p| seen.iter().any(|s| s.1 == *i && !s.2 && s.0 < p))
    })?;
    let from = first_primary(new)?;
    let to = seen
        .iter()
        .find(|s| s.1 == new && s.2 && s.3 && s.0 >= from)
        .map(|s| s.0)?;
    Some((from, to))
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub async fn run(o: &Opts) -> Result<String> {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("pgha.toml"),
        format!(
            "name = \"{}\"\nport_base = {}\n[labels]\n\"io.pgha.test\" = \"bench\"\n",
            o.name, o.port_base
        ),
    )?;
    let b = Bench { o, dir };
    eprintln!("bench: image");
    b.pgha(&["image", "build"])?;
    let _ = b.pgha(&["down", "--volumes", "--yes"]);
    let result = measure(&b).await;
    let _ = b.pgha(&["down", "--volumes", "--yes"]);
    result
}

async fn measure(b: &Bench<'_>) -> Result<String> {
    let runs = b.o.runs.max(1);
    let mut up = Metric::new("up from nothing until healthy (image present)", "s");
    for i in 0..runs {
        eprintln!("bench: up {}/{runs}", i + 1);
        b.pgha(&["down", "--volumes", "--yes"])?;
        let t0 = Instant::now();
        b.pgha(&["up"])?;
        up.samples.push(t0.elapsed().as_secs_f64());
        eprintln!("bench:   {:.2} s", t0.elapsed().as_secs_f64());
    }
    b.settle().await?;

    eprintln!("bench: list latency");
    let mut list = Metric::new("pgha list", "ms");
    let mut pctl = Metric::new("patronictl list (inside a node container)", "ms");
    let mut ratio = Metric::new("patronictl list / pgha list", "x");
    for _ in 0..runs {
        let mut ours = Vec::new();
        for _ in 0..20 {
            let t0 = Instant::now();
            b.pgha(&["list"])?;
            ours.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let script = "for i in 1 2 3 4 5 6 7 8 9 10; do s=$(date +%s%N); patronictl -c /etc/pgha/patroni list >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 )); done";
        let out = Command::new("docker")
            .args(["exec", &format!("{}-pg1", b.o.name), "sh", "-c", script])
            .output()?;
        let theirs: Vec<f64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse::<f64>().ok())
            .map(|us| us / 1000.0)
            .collect();
        if theirs.is_empty() {
            bail!(
                "patronictl timing failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (o, t) = (median_ms(ours), median_ms(theirs));
        list.samples.push(o);
        pctl.samples.push(t);
        ratio.samples.push(t / o);
    }

    let pg = Pg::connect(&b.primary()?, Duration::from_secs(5)).await?;
    pg.batch("create table if not exists bench_rows (id bigint primary key)")
        .await?;
    let mut lost_total = 0usize;
    let mut acked_total = 0usize;

    let mut so_leader = Metric::new("switchover: new leader in etcd", "s");
    let mut so_gap = Metric::new("switchover: longest gap between acknowledged writes", "s");
    let mut so_window = Metric::new(
        "switchover: writes acked by the new leader before it named a sync standby",
        "writes",
    );
    let mut kill_window = Metric::new(
        "failover --kill: writes acked by the new leader before it named a sync standby",
        "writes",
    );
    for i in 0..runs {
        eprintln!("bench: switchover {}/{runs}", i + 1);
        b.settle().await?;
        let o = b
            .under_writes(
                "bench_rows",
                1_000_000 * (i as i64 + 1),
                &["switchover", "--yes"],
            )
            .await?;
        so_leader
            .samples
            .push(o.report["new_leader_s"].as_f64().unwrap_or(f64::NAN));
        so_gap.samples.push(o.gap);
        so_window.samples.push(o.window as f64);
        eprintln!(
            "bench:   new leader {:.2} s, longest write gap {:.2} s, {} acked before a sync standby, {} lost",
            o.report["new_leader_s"].as_f64().unwrap_or(f64::NAN),
            o.gap,
            o.window,
            o.lost
        );
        lost_total += o.lost;
        acked_total += o.acked;
    }

    let mut kill = [
        (
            Metric::new("failover --kill: new leader in etcd", "s"),
            Metric::new("failover --kill: first write through HAProxy", "s"),
            false,
        ),
        (
            Metric::new("failover --kill --no-fence: new leader in etcd", "s"),
            Metric::new(
                "failover --kill --no-fence: first write through HAProxy",
                "s",
            ),
            true,
        ),
    ];
    let mut rejoin = Metric::new("killed node streaming again after `pgha start`", "s");
    for (k, (leader_m, write_m, no_fence)) in kill.iter_mut().enumerate() {
        for i in 0..runs {
            eprintln!(
                "bench: failover --kill{} {}/{runs}",
                if *no_fence { " --no-fence" } else { "" },
                i + 1
            );
            b.settle().await?;
            let mut op = vec!["failover", "--kill", "--yes"];
            if *no_fence {
                op.push("--no-fence");
            }
            let first = 100_000_000 * (k as i64 + 1) + 1_000_000 * i as i64;
            let o = b.under_writes("bench_rows", first, &op).await?;
            if !*no_fence {
                kill_window.samples.push(o.window as f64);
            }
            eprintln!(
                "bench:   new leader {:.2} s, first write {:.2} s, {} acked before a sync standby, {} lost",
                o.report["new_leader_s"].as_f64().unwrap_or(f64::NAN),
                o.report["first_write_s"].as_f64().unwrap_or(f64::NAN),
                o.window,
                o.lost
            );
            let (r, loss, acked) = (o.report, o.lost, o.acked);
            leader_m
                .samples
                .push(r["new_leader_s"].as_f64().unwrap_or(f64::NAN));
            write_m
                .samples
                .push(r["first_write_s"].as_f64().unwrap_or(f64::NAN));
            lost_total += loss;
            acked_total += acked;
            let killed = r["killed"].as_str().unwrap_or_default().to_string();
            let s = b.json(&["start", &killed])?;
            rejoin
                .samples
                .push(s[0]["seconds"].as_f64().unwrap_or(f64::NAN));
        }
    }

    eprintln!("bench: memory at idle");
    b.settle().await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let engine = Engine::connect().await?;
    let inv = engine.inventory(&[("io.pgha.cluster", &b.o.name)]).await?;
    let mut mem = Metric::new(
        "cluster memory at idle, as docker stats counts it (peak of 5 samples)",
        "MiB",
    );
    let mut anon = Metric::new(
        "  of which process memory (anon/rss, peak of 5 samples)",
        "MiB",
    );
    let (mut peak, mut peak_anon) = (0f64, 0f64);
    for _ in 0..5 {
        let (mut total, mut total_anon) = (0u64, 0u64);
        for c in &inv.containers {
            let (u, a) = engine.memory_usage(&c.name).await?;
            total += u;
            total_anon += a;
        }
        peak = peak.max(total as f64 / 1048576.0);
        peak_anon = peak_anon.max(total_anon as f64 / 1048576.0);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    mem.samples.push(peak);
    anon.samples.push(peak_anon);

    let mut lost_m = Metric::new("acknowledged writes lost (switchovers and kills)", "writes");
    lost_m.samples.push(lost_total as f64);
    let mut acked_m = Metric::new("acknowledged writes checked", "writes");
    acked_m.samples.push(acked_total as f64);

    let [(kl, kw, _), (nl, nw, _)] = kill;
    let metrics = [
        up,
        list,
        pctl,
        ratio,
        so_leader,
        so_gap,
        so_window,
        kl,
        kw,
        kill_window,
        nl,
        nw,
        rejoin,
        lost_m,
        acked_m,
        mem,
        anon,
    ];
    let mut t = pgha::output::new_table(&["Metric", "Median", "Min", "Max", "Runs"]);
    for m in &metrics {
        if let Some((med, min, max)) = m.stats() {
            let f = |x: f64| match m.unit {
                "s" => format!("{x:.2} s"),
                "writes" => format!("{x:.0} writes"),
                unit => format!("{x:.1} {unit}"),
            };
            t.add_row(vec![
                m.name.to_string(),
                f(med),
                f(min),
                f(max),
                m.samples.len().to_string(),
            ]);
        }
    }
    Ok(format!("{t}\n"))
}

fn main() -> Result<()> {
    let opts = Opts::from_args(PathBuf::from(env!("CARGO_BIN_EXE_pgha")));
    let rt = tokio::runtime::Runtime::new()?;
    let table = rt.block_on(run(&opts))?;
    print!("{table}");
    Ok(())
}
