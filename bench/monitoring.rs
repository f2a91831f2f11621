//! What monitoring costs and how fast it tells: the memory its processes hold at idle
//! (anon, as the project counts process memory, and RSS: Prometheus and Alertmanager by their
//! containers, the exporters in each node by /proc), the whole cluster's process memory at idle
//! with and without monitoring (the full run only: each measured after an `up`), and the time from `failover --kill` to the
//! leader-down alert arriving at a webhook receiver on the cluster network, and from `pgha start`
//! to its resolution arriving there.

use super::{Bench, Metric};
use anyhow::{Context, Result};
use pgha::adapters::docker::Engine;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Spec lines (top-level keys) pointing Alertmanager at the bench's receiver.
pub const HOOK_SPEC: &str = "monitoring.webhook_url = \"http://hook:8080/alerts\"\n";

/// A webhook receiver for Alertmanager (Python, in pgha's node image), printing each notification
/// as one line: arrival time (Unix seconds) and the JSON body. The e2e tests use it too.
pub const HOOK_PY: &str = r#"
import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0))).decode()
        print('%.3f %s' % (time.time(), body.replace('\n', ' ')), flush=True)
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(('', 8080), H).serve_forever()
"#;

fn docker(args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .with_context(|| format!("docker {args:?}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `docker run` arguments of the receiver `container` on network `net` (alias `hook`).
pub fn hook_run_args(container: &str, label: &str, net: &str, image: &str) -> Vec<String> {
    [
        "run",
        "-d",
        "--name",
        container,
        "--label",
        label,
        "--network",
        net,
        "--network-alias",
        "hook",
        image,
        "python3",
        "-u",
        "-c",
        HOOK_PY,
    ]
    .map(String::from)
    .to_vec()
}

/// When, in the receiver's log, a notification with `status` about `alert` of `member` first
/// arrived at or after `after`.
pub fn hook_arrival(log: &str, status: &str, alert: &str, member: &str, after: f64) -> Option<f64> {
    log.lines().find_map(|l| {
        let (t, body) = l.split_once(' ')?;
        let t: f64 = t.parse().ok()?;
        let v: Value = serde_json::from_str(body).ok()?;
        let hit = v["alerts"].as_array()?.iter().any(|a| {
            a["status"] == status
                && a["labels"]["alertname"] == alert
                && a["labels"]["member"] == member
        });
        (hit && t >= after).then_some(t)
    })
}

fn arrival(hook: &str, status: &str, alert: &str, member: &str, after: f64) -> Result<Option<f64>> {
    Ok(hook_arrival(
        &docker(&["logs", hook])?,
        status,
        alert,
        member,
        after,
    ))
}

async fn wait_arrival(
    hook: &str,
    status: &str,
    alert: &str,
    member: &str,
    after: f64,
) -> Result<Option<f64>> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(90) {
        if let Some(t) = arrival(hook, status, alert, member, after)? {
            return Ok(Some(t - after));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(None)
}

/// MiB of process memory (anon: what the processes allocated, as the cgroups count it) and as
/// docker stats counts it, over the cluster's containers at idle (peak of 3 samples).
async fn cluster_mib(b: &Bench<'_>, engine: &Engine) -> Result<(f64, f64)> {
    let inv = engine.inventory(&[("io.pgha.cluster", &b.o.name)]).await?;
    let (mut anon, mut stats) = (0f64, 0f64);
    for _ in 0..3 {
        let (mut a, mut u) = (0u64, 0u64);
        for c in &inv.containers {
            let (usage, an) = engine.memory_usage(&c.name).await?;
            u += usage;
            a += an;
        }
        anon = anon.max(a as f64 / 1048576.0);
        stats = stats.max(u as f64 / 1048576.0);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok((anon, stats))
}

/// Monitoring's processes: (anon MiB, RSS MiB). Prometheus and Alertmanager by their cgroups
/// (anon; and docker stats for the RSS side), the exporters in each node by /proc (RssAnon, VmRSS).
async fn monitoring_mib(b: &Bench<'_>, engine: &Engine) -> Result<(f64, f64)> {
    let (mut anon, mut rss) = (0u64, 0u64);
    for m in ["prometheus", "alertmanager"] {
        let (usage, an) = engine.memory_usage(&format!("{}-{m}", b.o.name)).await?;
        anon += an;
        rss += usage;
    }
    let script = "for p in $(pgrep -f -- '-exporter --web'); do case $(cat /proc/$p/comm) in prometheus-*) grep -E '^(RssAnon|VmRSS):' /proc/$p/status;; esac; done";
    for n in ["pg1", "pg2", "pg3"] {
        let out = docker(&["exec", &format!("{}-{n}", b.o.name), "sh", "-c", script])?;
        for l in out.lines() {
            let kib: u64 = l
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if l.starts_with("RssAnon") {
                anon += kib * 1024;
            } else {
                rss += kib * 1024;
            }
        }
    }
    Ok((anon as f64 / 1048576.0, rss as f64 / 1048576.0))
}

/// Waits until the cluster is settled and quiet.
async fn idle(b: &Bench<'_>) -> Result<()> {
    b.settle().await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    Ok(())
}

pub async fn measure(b: &Bench<'_>, engine: &Engine, runs: usize) -> Result<Vec<Metric>> {
    let hook = format!("{}-hook", b.o.name);
    let image = b.pgha(&["image", "name"])?.trim().to_string();
    let net = format!("{}-net", b.o.name);
    docker(&["rm", "-f", &hook])?;
    let args = hook_run_args(&hook, "io.pgha.test=bench", &net, &image);
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut fired = Metric::new("failover --kill: leader-down alert at the webhook", "s");
    let mut resolved = Metric::new(
        "pgha start of the killed node: its alert resolved at the webhook",
        "s",
    );
    for i in 0..runs {
        eprintln!("bench: kill -> alert {}/{runs}", i + 1);
        b.settle().await?;
        let t0 = now();
        let r = b.json(&["failover", "--kill", "--yes"])?;
        let killed = r["killed"].as_str().unwrap_or_default().to_string();
        fired.push(wait_arrival(&hook, "firing", "PghaLeaderDown", &killed, t0).await?);
        let t1 = now();
        b.json(&["start", &killed])?;
        resolved.push(wait_arrival(&hook, "resolved", "PghaLeaderDown", &killed, t1).await?);
    }
    docker(&["rm", "-f", &hook])?;

    let mut parts = Metric::new(
        "monitoring's process memory at idle (anon: Prometheus, Alertmanager, 9 exporters)",
        "MiB",
    );
    let mut parts_rss = Metric::new(
        "  the same as RSS (docker stats; the exporters' binaries' pages counted per process)",
        "MiB",
    );
    let mut with = Metric::new(
        "cluster process memory at idle, with monitoring (anon)",
        "MiB",
    );
    let mut without = Metric::new(
        "cluster process memory at idle, without monitoring (anon)",
        "MiB",
    );
    let mut with_stats = Metric::new("  with monitoring, as docker stats counts it", "MiB");
    let mut without_stats = Metric::new("  without monitoring, as docker stats counts it", "MiB");
    let pos = |v: f64| (v > 0.0).then_some(v);
    if !b.o.quick {
        // Both sides fresh from an `up`: the cluster without monitoring, then with it again.
        eprintln!("bench: the same cluster without monitoring");
        b.respec("monitoring.enabled = false\n")?;
        b.pgha(&["up", "--yes"])?;
        idle(b).await?;
        let (a, s) = cluster_mib(b, engine).await?;
        without.push(pos(a));
        without_stats.push(pos(s));
        eprintln!("bench: and with monitoring again");
        b.respec("")?;
        b.pgha(&["up", "--yes"])?;
    } else {
        without.push(None);
        without_stats.push(None);
    }
    eprintln!("bench: monitoring's memory at idle");
    idle(b).await?;
    let (a, s) = cluster_mib(b, engine).await?;
    with.push(pos(a));
    with_stats.push(pos(s));
    let (anon, rss) = monitoring_mib(b, engine).await?;
    parts.push(pos(anon));
    parts_rss.push(pos(rss));
    Ok(vec![
        fired,
        resolved,
        parts,
        parts_rss,
        with,
        without,
        with_stats,
        without_stats,
    ])
}
