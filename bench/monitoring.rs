//! What monitoring costs and how fast it tells: the memory its processes hold at idle
//! (Prometheus and Alertmanager as Docker counts their containers, the exporters' RSS in each
//! node), the whole cluster's memory at idle with and without monitoring (without: the full run
//! only, after an `up` with `[monitoring]` off), and the time from `failover --kill` to the
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

const HOOK_PY: &str = r#"
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

/// When a notification with `status` about `alert` of `member` first arrived after `after`.
fn arrival(hook: &str, status: &str, alert: &str, member: &str, after: f64) -> Result<Option<f64>> {
    Ok(docker(&["logs", hook])?.lines().find_map(|l| {
        let (t, body) = l.split_once(' ')?;
        let t: f64 = t.parse().ok()?;
        let v: Value = serde_json::from_str(body).ok()?;
        let hit = v["alerts"].as_array()?.iter().any(|a| {
            a["status"] == status
                && a["labels"]["alertname"] == alert
                && a["labels"]["member"] == member
        });
        (hit && t >= after).then_some(t)
    }))
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

/// MiB the cluster's containers use at idle, as docker stats counts them (peak of 3 samples).
async fn cluster_mib(b: &Bench<'_>, engine: &Engine) -> Result<f64> {
    let inv = engine.inventory(&[("io.pgha.cluster", &b.o.name)]).await?;
    let mut peak = 0f64;
    for _ in 0..3 {
        let mut total = 0u64;
        for c in &inv.containers {
            total += engine.memory_usage(&c.name).await?.0;
        }
        peak = peak.max(total as f64 / 1048576.0);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(peak)
}

/// MiB monitoring's processes hold: the two containers (docker stats) and the exporters' RSS.
async fn monitoring_mib(b: &Bench<'_>, engine: &Engine) -> Result<(f64, f64)> {
    let mut containers = 0u64;
    for m in ["prometheus", "alertmanager"] {
        containers += engine.memory_usage(&format!("{}-{m}", b.o.name)).await?.0;
    }
    let mut exporters_kib = 0u64;
    for n in ["pg1", "pg2", "pg3"] {
        let out = docker(&[
            "exec",
            &format!("{}-{n}", b.o.name),
            "ps",
            "-eo",
            "rss=,args=",
        ])?;
        exporters_kib += out
            .lines()
            .filter(|l| l.contains("-exporter ") && !l.contains("while"))
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok((containers as f64 / 1048576.0, exporters_kib as f64 / 1024.0))
}

pub async fn measure(b: &Bench<'_>, engine: &Engine, runs: usize) -> Result<Vec<Metric>> {
    let hook = format!("{}-hook", b.o.name);
    let image = b.pgha(&["image", "name"])?.trim().to_string();
    let net = format!("{}-net", b.o.name);
    docker(&["rm", "-f", &hook])?;
    docker(&[
        "run",
        "-d",
        "--name",
        &hook,
        "--label",
        "io.pgha.test=bench",
        "--network",
        &net,
        "--network-alias",
        "hook",
        &image,
        "python3",
        "-u",
        "-c",
        HOOK_PY,
    ])?;
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
        b.json(&["start", &killed])?;
        let t1 = now();
        resolved.push(wait_arrival(&hook, "resolved", "PghaLeaderDown", &killed, t1).await?);
    }
    docker(&["rm", "-f", &hook])?;

    eprintln!("bench: monitoring's memory at idle");
    b.settle().await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut parts = Metric::new(
        "monitoring at idle: Prometheus + Alertmanager (docker stats) + exporters (RSS)",
        "MiB",
    );
    let mut exporters = Metric::new("  of which the 3 nodes' exporters (RSS)", "MiB");
    let mut with = Metric::new(
        "cluster memory at idle with monitoring (docker stats)",
        "MiB",
    );
    let mut without = Metric::new(
        "cluster memory at idle without monitoring (docker stats)",
        "MiB",
    );
    let (c, e) = monitoring_mib(b, engine).await?;
    parts.push((c > 0.0).then_some(c + e));
    exporters.push((e > 0.0).then_some(e));
    let w = cluster_mib(b, engine).await?;
    with.push((w > 0.0).then_some(w));
    if b.o.quick {
        without.push(None);
    } else {
        eprintln!("bench: the same cluster without monitoring");
        b.respec("monitoring.enabled = false\n")?;
        b.pgha(&["up", "--yes"])?;
        b.settle().await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let wo = cluster_mib(b, engine).await?;
        without.push((wo > 0.0).then_some(wo));
        b.respec("")?;
        b.pgha(&["up", "--yes"])?;
    }
    Ok(vec![fired, resolved, parts, exporters, with, without])
}
