//! A webhook receiver for Alertmanager: a small Python server in pgha's node image, on the
//! cluster network under the alias `hook`, printing each notification as one line (arrival time
//! in Unix seconds, then the JSON body). Removed when dropped.

use super::cluster::Cluster;
use super::run::docker;
use anyhow::Result;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Where a spec's `[monitoring] webhook_url` points to reach the receiver.
pub const WEBHOOK_URL: &str = "http://hook:8080/alerts";

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

pub struct Hook {
    pub container: String,
}

impl Hook {
    /// Starts the receiver on `c`'s network, labelled with `c`'s test label.
    pub fn start(c: &Cluster) -> Result<Hook> {
        let container = c.container("hook");
        let image = c.pgha(&["image", "name"], Duration::from_secs(60))?;
        let _ = docker(&["rm", "-f", &container]);
        let label = format!("io.pgha.test={}", c.test);
        let net = c.network();
        docker(&[
            "run",
            "-d",
            "--name",
            &container,
            "--label",
            &label,
            "--network",
            &net,
            "--network-alias",
            "hook",
            image.trim(),
            "python3",
            "-u",
            "-c",
            HOOK_PY,
        ])?;
        Ok(Hook { container })
    }

    /// When the first notification with `status` (firing or resolved) about alert `alert` of
    /// `member` arrived at or after `after` (Unix seconds), if one did.
    pub fn arrived(
        &self,
        status: &str,
        alert: &str,
        member: &str,
        after: f64,
    ) -> Result<Option<f64>> {
        Ok(arrival(
            &docker(&["logs", &self.container])?,
            status,
            alert,
            member,
            after,
        ))
    }

    /// Every alert (name and member) notified as firing so far.
    pub fn fired(&self) -> Result<Vec<String>> {
        let log = docker(&["logs", &self.container])?;
        Ok(log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l.split_once(' ')?.1).ok())
            .flat_map(|v| v["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["status"] == "firing")
            .map(|a| format!("{} {}", a["labels"]["alertname"], a["labels"]["member"]))
            .collect())
    }

    /// Waits up to `deadline` for such a notification; how long after `after` it arrived.
    pub async fn wait(
        &self,
        status: &str,
        alert: &str,
        member: &str,
        after: f64,
        deadline: Duration,
    ) -> Result<Option<f64>> {
        let start = Instant::now();
        while start.elapsed() < deadline {
            if let Some(t) = self.arrived(status, alert, member, after)? {
                return Ok(Some(t - after));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(None)
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.container]);
    }
}

/// When, in the receiver's log, a notification with `status` about `alert` of `member` first
/// arrived at or after `after`.
pub fn arrival(log: &str, status: &str, alert: &str, member: &str, after: f64) -> Option<f64> {
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

/// Unix seconds now.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
