//! Monitoring checks on a real cluster, driven from the kill test (one cluster for both): every
//! scrape target up after `up`, `promtool check` on the rendered rules, config and web config,
//! Prometheus and Alertmanager closed (401 without the password, no lifecycle API, no plain
//! http, their private files 0600 to the prometheus user), a webhook
//! receiver on the cluster network that records Alertmanager's notifications, alerts as
//! Alertmanager has them, and `pgha top`'s frames.

#![allow(dead_code)]

use crate::harness::*;
use pgha::adapters::prom::{Login, Prom};
use pgha::monitoring::api::Alert;
use std::time::{Duration, Instant};

/// The spec lines of a cluster whose Alertmanager posts to the test's receiver.
pub fn webhook_spec() -> String {
    format!(
        "[monitoring]\nwebhook_url = \"{}\"\n",
        crate::support::hook::WEBHOOK_URL
    )
}

pub fn prom(c: &TestCluster) -> Prom {
    c.kit.prom()
}

/// Every target of every job pgha renders is up in Prometheus (checked once: `up` waited).
pub async fn assert_targets_up(c: &TestCluster) {
    let t = prom(c).targets().await.expect("Prometheus's targets");
    let mut want: Vec<(String, String)> = Vec::new();
    for job in ["patroni", "postgres", "disk", "pgbackrest"] {
        for n in ["pg1", "pg2", "pg3"] {
            want.push((job.into(), n.into()));
        }
    }
    for e in ["etcd1", "etcd2", "etcd3"] {
        want.push(("etcd".into(), e.into()));
    }
    for (j, m) in [
        ("haproxy", "haproxy"),
        ("prometheus", "prometheus"),
        ("alertmanager", "alertmanager"),
    ] {
        want.push((j.into(), m.into()));
    }
    let mut have: Vec<(String, String)> = t
        .iter()
        .map(|t| (t.job.clone(), t.member.clone()))
        .collect();
    have.sort();
    want.sort();
    assert_eq!(have, want, "the scrape targets");
    let down: Vec<String> = t
        .iter()
        .filter(|t| t.health != "up")
        .map(|t| format!("{} {}: {} {}", t.job, t.member, t.health, t.last_error))
        .collect();
    assert!(down.is_empty(), "targets not up after `up`: {down:?}");
}

/// `promtool check rules` and `check config` pass on the files in the Prometheus container.
pub fn assert_promtool_passes(c: &TestCluster) {
    let prom = c.container("prometheus");
    let d = pgha::layout::PROMETHEUS_DIR;
    for args in [
        vec![
            "check".to_string(),
            "rules".into(),
            format!("{d}/alerts.yml"),
            format!("{d}/certificates.yml"),
        ],
        vec![
            "check".into(),
            "config".into(),
            format!("{d}/prometheus.yml"),
        ],
        vec![
            "check".into(),
            "web-config".into(),
            pgha::layout::PROMETHEUS_WEB_CONFIG.into(),
        ],
    ] {
        let mut cmd = vec!["exec", prom.as_str(), "promtool"];
        cmd.extend(args.iter().map(String::as_str));
        let out = run_with_deadline(
            std::process::Command::new("docker").args(&cmd),
            Duration::from_secs(30),
        );
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "promtool {args:?}: {all}");
        if args[1] == "rules" {
            let n = pgha::monitoring::rules::rules(&pgha::spec::Spec::default()).len();
            assert!(all.contains(&format!("SUCCESS: {n} rules found")), "{all}");
        }
    }
}

/// One request's HTTP status, or why no HTTP answer came: https checked against `ca` when
/// given, basic auth with `login` when given.
async fn status(
    method: reqwest::Method,
    url: &str,
    ca: Option<&str>,
    login: Option<&Login>,
) -> Result<u16, String> {
    pgha::adapters::tls::init();
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(5));
    if let Some(ca) = ca {
        let t = pgha::tls::ClientTls {
            ca: Some(ca.into()),
            identity: None,
        };
        b = b.tls_backend_preconfigured(pgha::adapters::tls::client_config(&t).unwrap());
    }
    let mut req = b.build().unwrap().request(method, url);
    if let Some(l) = login {
        req = req.basic_auth(&l.user, Some(&l.password));
    }
    req.send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:#}"))
}

/// Prometheus and Alertmanager are closed (TLS cluster): their APIs answer 401 without the
/// password or with a wrong one, 200 with it; plain http gets no answer from them (Go's TLS
/// server answers a plain request with 400, or the connection fails); Prometheus's lifecycle
/// API refuses `POST /-/quit` and `/-/reload` and Prometheus still answers afterwards;
/// Alertmanager's reload and silences refuse anyone without the password; the files that hold
/// a password, its hash, a key or the webhook URL are 0600 and the prometheus user's.
pub async fn assert_closed(c: &TestCluster) {
    use reqwest::Method;
    let p = prom(c);
    let ca = c
        .kit
        .prom_ca()
        .expect("the cluster's CA (the kill test's cluster has TLS)");
    let ca = Some(ca.as_str());
    let login = c.kit.prom_login().expect("the monitoring password");
    let wrong = Login {
        user: login.user.clone(),
        password: "not-the-password".into(),
    };
    for (what, url) in [
        ("Prometheus", format!("{}/api/v1/targets", p.prometheus)),
        ("Alertmanager", format!("{}/api/v2/alerts", p.alertmanager)),
    ] {
        assert!(url.starts_with("https://"), "{url}");
        let s = status(Method::GET, &url, ca, None).await;
        assert_eq!(s, Ok(401), "{what} without the password: {url}");
        let s = status(Method::GET, &url, ca, Some(&wrong)).await;
        assert_eq!(s, Ok(401), "{what} with a wrong password: {url}");
        let s = status(Method::GET, &url, ca, Some(&login)).await;
        assert_eq!(s, Ok(200), "{what} with the password: {url}");
        let plain = url.replacen("https://", "http://", 1);
        let s = status(Method::GET, &plain, None, Some(&login)).await;
        assert!(
            matches!(s, Err(_) | Ok(400)),
            "{what} over plain http must not serve: {plain}: {s:?}"
        );
    }
    for path in ["/-/quit", "/-/reload"] {
        let url = format!("{}{path}", p.prometheus);
        for l in [None, Some(&login)] {
            let s = status(Method::POST, &url, ca, l).await;
            assert!(
                matches!(s, Ok(401 | 403 | 404 | 405)),
                "POST {url} (logged in: {}) must be refused: {s:?}",
                l.is_some()
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    p.targets()
        .await
        .expect("Prometheus still answers after POST /-/quit");
    for (method, path) in [
        (Method::POST, "/-/reload"),
        (Method::POST, "/api/v2/silences"),
    ] {
        let url = format!("{}{path}", p.alertmanager);
        let s = status(method, &url, ca, None).await;
        assert_eq!(s, Ok(401), "POST {url} without the password");
    }
    let tls = pgha::layout::TLS_DIR;
    for (member, files) in [
        (
            "prometheus",
            vec![
                pgha::layout::PROMETHEUS_WEB_CONFIG.to_string(),
                pgha::layout::PROMETHEUS_WEB_PASS.into(),
                pgha::layout::WEB_KEY.into(),
                format!("{tls}/prometheus.key"),
            ],
        ),
        (
            "alertmanager",
            vec![
                format!("{}/alertmanager.yml", pgha::layout::ALERTMANAGER_DIR),
                pgha::layout::ALERTMANAGER_WEB_CONFIG.into(),
                pgha::layout::WEB_KEY.into(),
            ],
        ),
    ] {
        let container = c.container(member);
        let mut args = vec!["exec", container.as_str(), "stat", "-c", "%a %U %n"];
        args.extend(files.iter().map(String::as_str));
        let out = docker(&args);
        for f in &files {
            assert!(
                out.lines().any(|l| l == format!("600 prometheus {f}")),
                "{member}: {f} must be 0600 and the prometheus user's:\n{out}"
            );
        }
    }
}

/// The kit's webhook receiver on the cluster network (alias `hook`); removed on drop.
pub struct Hook(crate::support::hook::Hook);

impl Hook {
    pub fn start(c: &TestCluster) -> Hook {
        Hook(crate::support::hook::Hook::start(&c.kit).unwrap_or_else(|e| panic!("{e:#}")))
    }

    /// Every alert notified as firing so far ("name member").
    pub fn fired(&self) -> Vec<String> {
        self.0.fired().unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// When the first notification with `status` (firing or resolved) about alert `name` of
    /// `member` arrived, if one did.
    pub fn arrived(&self, status: &str, name: &str, member: &str) -> Option<f64> {
        self.0
            .arrived(status, name, member, 0.0)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }
}

/// Alertmanager's active alerts.
pub async fn alerts(c: &TestCluster) -> Vec<Alert> {
    prom(c).alerts().await.unwrap_or_default()
}

fn has(alerts: &[Alert], name: &str, member: &str) -> bool {
    alerts.iter().any(|a| a.name == name && a.member == member)
}

/// Waits until Alertmanager has alert `name` for `member` active; returns how long it took.
pub async fn wait_alert(c: &TestCluster, name: &str, member: &str, deadline: Duration) -> Duration {
    let start = Instant::now();
    eventually(&format!("alert {name} for {member}"), deadline, || async {
        has(&alerts(c).await, name, member).then_some(())
    })
    .await;
    start.elapsed()
}

/// Waits until Alertmanager has no active alert `name` for `member`.
pub async fn wait_resolved(c: &TestCluster, name: &str, member: &str, deadline: Duration) {
    eventually(
        &format!("alert {name} for {member} to resolve"),
        deadline,
        || async { (!has(&alerts(c).await, name, member)).then_some(()) },
    )
    .await;
}

/// The TPS `pgha top` shows for `member` in its last frame (None: "-", not known yet), with
/// every member present.
pub fn top_tps(out: &str, members: &[String], member: &str) -> Option<f64> {
    let last = out
        .rsplit("pgha top: cluster")
        .next()
        .unwrap_or_else(|| panic!("no frame in {out}"));
    for m in members {
        assert!(
            last.lines().any(|l| l.starts_with(&format!("{m} "))),
            "{m} missing from the frame:\n{last}"
        );
    }
    let header = last
        .lines()
        .find(|l| l.starts_with("Member"))
        .unwrap_or_else(|| panic!("no header in {last}"));
    let col = header.find("TPS ").unwrap();
    let row = last
        .lines()
        .find(|l| l.starts_with(&format!("{member} ")))
        .unwrap();
    let cell: String = row
        .chars()
        .skip(col)
        .take_while(|c| !c.is_whitespace())
        .collect();
    if cell == "-" {
        return None;
    }
    Some(
        cell.parse()
            .unwrap_or_else(|_| panic!("no TPS for {member} at column {col} in:\n{last}")),
    )
}
