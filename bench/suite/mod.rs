//! The benchmark's measurements (what `bench/cluster.rs` runs, and the e2e tests run once with
//! `--runs 1` and short pgbench cases, so they cannot rot): its own cluster through the test kit's
//! `Cluster`, one table of medians (with min and max) over the repetitions. See `bench/cluster.rs`
//! for what is measured and how to run it.

mod backup;
mod converge;
pub mod monitoring;
mod pgbench;
mod tls;
mod writes;

use crate::support::cluster::Cluster;
use anyhow::{bail, Context, Result};
use pgha::adapters::docker::Engine;
use pgha::adapters::pg::{Pg, PgTarget};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Opts {
    pub runs: usize,
    /// Length of each pgbench case.
    pub pgbench_seconds: u64,
    /// pgbench scale of the backup bench's database (20: about 300 MiB).
    pub backup_scale: u64,
    /// The e2e tests' run: fewer samples per figure, and no unfenced kill (it waits out
    /// Patroni's ttl and runs the same code as the fenced one); its rows print n/a.
    pub quick: bool,
    /// `--only monitoring`: up, then the monitoring figures alone.
    pub only_monitoring: bool,
    pub port_base: u32,
    pub name: String,
    pub bin: PathBuf,
}

/// Samples of one metric; a repetition that could not observe it adds no sample.
pub struct Metric {
    name: &'static str,
    unit: &'static str,
    samples: Vec<f64>,
    tries: usize,
}

impl Metric {
    pub fn new(name: &'static str, unit: &'static str) -> Metric {
        Metric {
            name,
            unit,
            samples: Vec::new(),
            tries: 0,
        }
    }

    /// One repetition's value, or None when it was not observed.
    pub fn push(&mut self, v: Option<f64>) {
        self.tries += 1;
        if let Some(v) = v.filter(|v| v.is_finite()) {
            self.samples.push(v);
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

    fn format(&self, x: f64) -> String {
        match self.unit {
            "s" => format!("{x:.2} s"),
            "writes" => format!("{x:.0} writes"),
            unit => format!("{x:.1} {unit}"),
        }
    }

    /// Its table row: median, min, max, and runs observed ("n/a" where none was).
    fn row(&self) -> Vec<String> {
        let runs = if self.samples.len() == self.tries {
            self.tries.to_string()
        } else {
            format!("{} of {}", self.samples.len(), self.tries)
        };
        match self.stats() {
            Some((med, min, max)) => vec![
                self.name.to_string(),
                self.format(med),
                self.format(min),
                self.format(max),
                runs,
            ],
            None => vec![
                self.name.to_string(),
                "n/a".into(),
                "n/a".into(),
                "n/a".into(),
                runs,
            ],
        }
    }
}

pub struct Bench<'a> {
    pub o: &'a Opts,
    /// The bench cluster's folder (removed with the bench).
    pub dir: tempfile::TempDir,
    pub c: Cluster,
}

/// How long one pgha command of the bench may take (an `up` may build the image first).
const PGHA_DEADLINE: Duration = Duration::from_secs(900);

impl Bench<'_> {
    pub fn pgha(&self, args: &[&str]) -> Result<String> {
        self.c.pgha(args, PGHA_DEADLINE)
    }

    /// Writes the bench's spec with `extra` (TOML) in place of what it had; the webhook and
    /// archive_timeout lines stay.
    pub fn respec(&self, extra: &str) -> Result<()> {
        self.c.respec(extra).context("write the bench's pgha.toml")
    }

    pub fn json(&self, args: &[&str]) -> Result<Value> {
        self.c.json(args, PGHA_DEADLINE)
    }

    pub fn target(&self, port: u32) -> Result<PgTarget> {
        self.c.pg_target(port as u16)
    }

    pub fn primary(&self) -> Result<PgTarget> {
        self.target(self.c.primary_port().into())
    }

    /// Waits until `list` shows a leader, every member streaming (caught up) and a sync standby.
    pub async fn settle(&self) -> Result<Value> {
        self.c.settle(Duration::from_secs(120)).await
    }
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub async fn run(o: &Opts) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let mut c = Cluster::new(&o.bin, dir.path(), &o.name, "bench", o.port_base);
    c.fixed = format!(
        "monitoring.webhook_url = \"{}\"\nbackup.archive_timeout = {}\n",
        crate::support::hook::WEBHOOK_URL,
        backup::ARCHIVE_TIMEOUT_S
    );
    let b = Bench { o, dir, c };
    b.respec("")?;
    eprintln!("bench: image");
    b.pgha(&["image", "build"])?;
    let _ = b.pgha(&["down", "--volumes", "--repository", "--yes"]);
    let result = measure(&b).await;
    let _ = b.pgha(&["down", "--volumes", "--repository", "--yes"]);
    converge::remove_image(&b);
    result
}

/// `up` runs times, then the median and extremes of 20 `pgha list` against 10 `patronictl list`.
async fn up_and_list(b: &Bench<'_>, runs: usize) -> Result<Vec<Metric>> {
    let mut up = Metric::new("up from nothing until healthy (image present)", "s");
    for i in 0..runs {
        eprintln!("bench: up {}/{runs}", i + 1);
        b.pgha(&["down", "--volumes", "--repository", "--yes"])?;
        let t0 = Instant::now();
        b.pgha(&["up"])?;
        up.push(Some(t0.elapsed().as_secs_f64()));
        eprintln!("bench:   {:.2} s", t0.elapsed().as_secs_f64());
    }
    b.settle().await?;

    eprintln!("bench: list latency");
    let mut list = Metric::new("pgha list", "ms");
    let mut pctl = Metric::new("patronictl list (inside a node container)", "ms");
    let mut ratio = Metric::new("patronictl list / pgha list", "x");
    for _ in 0..runs {
        let mut ours = Vec::new();
        for _ in 0..if b.o.quick { 5 } else { 20 } {
            let t0 = Instant::now();
            b.pgha(&["list"])?;
            ours.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let n = if b.o.quick {
            "1 2 3"
        } else {
            "1 2 3 4 5 6 7 8 9 10"
        };
        let script = format!("for i in {n}; do s=$(date +%s%N); patronictl -c /etc/pgha/patroni list >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 )); done");
        let out =
            crate::support::run::docker(&["exec", &b.c.container("pg1"), "sh", "-c", &script])
                .context("patronictl timing")?;
        let theirs: Vec<f64> = out
            .lines()
            .filter_map(|l| l.trim().parse::<f64>().ok())
            .map(|us| us / 1000.0)
            .collect();
        if theirs.is_empty() {
            bail!("patronictl timing printed no figure: {out}");
        }
        let (o, t) = (median_ms(ours), median_ms(theirs));
        list.push(Some(o));
        pctl.push(Some(t));
        ratio.push(Some(t / o));
    }
    Ok(vec![up, list, pctl, ratio])
}

async fn measure(b: &Bench<'_>) -> Result<String> {
    let runs = b.o.runs.max(1);
    let mut metrics = up_and_list(b, runs).await?;
    if b.o.only_monitoring {
        let engine = Engine::connect().await?;
        metrics.extend(monitoring::measure(b, &engine, runs).await?);
        return Ok(table(&metrics));
    }

    let pg = Pg::connect(&b.primary()?, Duration::from_secs(5)).await?;
    pg.batch("create table if not exists bench_rows (id bigint primary key)")
        .await?;
    let mut lost_total = 0usize;
    let mut acked_total = 0usize;
    let secs = |r: &Value, k: &str| r[k].as_f64();

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
        let first = 1_000_000 * (i as i64 + 1);
        let o = b
            .under_writes("bench_rows", first, &["switchover", "--yes"])
            .await?;
        let lost = b.lost_on_any_node("bench_rows", &o.acked).await?;
        so_leader.push(secs(&o.report, "new_leader_s"));
        so_gap.push(Some(o.gap));
        so_window.push(o.window.map(|w| w as f64));
        eprintln!(
            "bench:   new leader {:?} s, longest write gap {:.2} s, {:?} acked before a sync standby, {lost} of {} lost on some node",
            secs(&o.report, "new_leader_s"),
            o.gap,
            o.window,
            o.acked.len()
        );
        lost_total += lost;
        acked_total += o.acked.len();
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
        if *no_fence && b.o.quick {
            leader_m.push(None);
            write_m.push(None);
            continue;
        }
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
                kill_window.push(o.window.map(|w| w as f64));
            }
            leader_m.push(secs(&o.report, "new_leader_s"));
            write_m.push(secs(&o.report, "first_write_s"));
            let killed = o.report["killed"]
                .as_str()
                .context("failover --kill --json names no killed member")?
                .to_string();
            let s = b.json(&["start", &killed])?;
            rejoin.push(s[0]["seconds"].as_f64());
            // Every acknowledged id on every node, the killed one included now it is back.
            let lost = b.lost_on_any_node("bench_rows", &o.acked).await?;
            eprintln!(
                "bench:   new leader {:?} s, first write {:?} s, {:?} acked before a sync standby, {lost} of {} lost on some node",
                secs(&o.report, "new_leader_s"),
                secs(&o.report, "first_write_s"),
                o.window,
                o.acked.len()
            );
            lost_total += lost;
            acked_total += o.acked.len();
        }
    }

    let (converged, acked, lost) = converge::measure(b, runs).await?;
    acked_total += acked;
    lost_total += lost;

    // Every password, and the CA, changed under writes (issue 20's rotation benchmark). The quick
    // run (the e2e tests') leaves them out: the lifecycle and kill tests run the same commands
    // under a writer; n/a here.
    let mut rotations = Vec::new();
    for (op, name, base, n) in [
        (
            &["passwords", "rotate", "--user", "all", "--yes"][..],
            "passwords rotate --user all under writes",
            500_000_000,
            if b.o.quick { 0 } else { runs },
        ),
        (
            &["certs", "rotate", "--ca"][..],
            "certs rotate --ca under writes",
            600_000_000,
            if b.o.quick { 0 } else { runs },
        ),
    ] {
        let (rows, acked, lost) = rotation_rows(b, op, name, base, n).await?;
        rotations.extend(rows);
        acked_total += acked;
        lost_total += lost;
    }

    eprintln!("bench: pgbench");
    let engine = Engine::connect().await?;
    let mut tp = pgbench::Throughput::new();
    for i in 0..runs {
        eprintln!("bench: pgbench {}/{runs}", i + 1);
        pgbench::measure(b, &engine, b.o.pgbench_seconds, &mut tp).await?;
    }

    backup::prepare(b, &engine, b.o.backup_scale).await?;
    let mut bk = backup::Figures::new();
    for i in 0..runs {
        eprintln!("bench: backup {}/{runs}", i + 1);
        backup::measure(b, &engine, i, &mut bk).await?;
    }

    eprintln!("bench: memory at idle");
    b.settle().await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut mem = Metric::new(
        "cluster memory at idle, as docker stats counts it (peak of 5 samples)",
        "MiB",
    );
    let mut anon = Metric::new(
        "  of which process memory (anon/rss, peak of 5 samples)",
        "MiB",
    );
    let (peak, peak_anon) =
        crate::support::memory::cluster_peak(&engine, &b.o.name, 5, Duration::from_secs(1)).await?;
    // Docker reports 0 when the cgroup does not count it: not observed.
    mem.push((peak > 0.0).then_some(peak));
    anon.push((peak_anon > 0.0).then_some(peak_anon));

    let mut lost_m = Metric::new(
        "acknowledged writes lost on any node (switchovers, kills, rolling replacements)",
        "writes",
    );
    lost_m.push(Some(lost_total as f64));
    let mut acked_m = Metric::new("acknowledged writes checked on every node", "writes");
    acked_m.push(Some(acked_total as f64));

    let [(kl, kw, _), (nl, nw, _)] = kill;
    metrics.extend([
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
    ]);
    metrics.extend(converged);
    metrics.extend(rotations);
    metrics.extend(tp.into_metrics());
    metrics.extend(bk.into_metrics());
    metrics.extend([mem, anon]);
    metrics.extend(monitoring::measure(b, &engine, runs).await?);
    // Last: it makes the cluster anew without TLS.
    metrics.extend(tls::measure(b, &engine, runs).await?);
    Ok(table(&metrics))
}

/// `op` under writes `runs` times: its own time, the longest gap between acknowledged writes and
/// the acknowledged writes lost on any node; with the writes acknowledged and lost in all.
async fn rotation_rows(
    b: &Bench<'_>,
    op: &[&str],
    name: &'static str,
    base: i64,
    runs: usize,
) -> Result<([Metric; 3], usize, usize)> {
    let mut total = Metric::new(name, "s");
    let mut gap = Metric::new("  longest gap between acknowledged writes", "s");
    let mut lost_m = Metric::new("  acknowledged writes lost on any node", "writes");
    let (mut acked, mut lost_all) = (0, 0);
    for i in 0..runs {
        eprintln!("bench: {} {}/{runs}", op.join(" "), i + 1);
        b.settle().await?;
        let o = b
            .under_writes("bench_rows", base + 1_000_000 * i as i64, op)
            .await?;
        let lost = b.lost_on_any_node("bench_rows", &o.acked).await?;
        total.push(o.report["seconds"].as_f64());
        gap.push(Some(o.gap));
        lost_m.push(Some(lost as f64));
        acked += o.acked.len();
        lost_all += lost;
    }
    Ok(([total, gap, lost_m], acked, lost_all))
}

fn table(metrics: &[Metric]) -> String {
    let mut t = pgha::output::new_table(&["Metric", "Median", "Min", "Max", "Runs"]);
    for m in metrics {
        t.add_row(m.row());
    }
    format!("{t}\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn unobserved_figures_print_na_never_zero() {
        let mut m = super::Metric::new("x", "s");
        m.push(None);
        assert_eq!(m.row(), ["x", "n/a", "n/a", "n/a", "0 of 1"]);
        m.push(Some(f64::NAN));
        m.push(Some(2.0));
        assert_eq!(m.row(), ["x", "2.00 s", "2.00 s", "2.00 s", "1 of 3"]);
    }
}
