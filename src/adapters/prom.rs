//! The Prometheus and Alertmanager adapter: their HTTP APIs on the cluster's published,
//! loopback-bound ports, with basic auth (user `secrets::MONITORING_USER`) and, with `[tls]` on,
//! https checked against the cluster's CA. Answers are parsed by `monitoring::api`.

use crate::monitoring::api::{self, Alert, Sample, ScrapeTarget};
use crate::spec::Spec;
use crate::tls::ClientTls;
use anyhow::{bail, Context, Result};
use std::time::Duration;

/// How pgha logs in to Prometheus and Alertmanager.
#[derive(Clone)]
pub struct Login {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({}, [redacted])", self.user)
    }
}

#[derive(Debug, Clone)]
pub struct Prom {
    pub prometheus: String,
    pub alertmanager: String,
    login: Option<Login>,
    /// The CA their certificates are checked against (https), when the spec has TLS.
    ca: Option<String>,
}

/// Prometheus's and Alertmanager's base URLs for `spec` (https with `[tls]` on).
pub fn urls(spec: &Spec) -> (String, String) {
    let s = spec.tls.scheme();
    (
        format!("{s}://127.0.0.1:{}", spec.prometheus_port()),
        format!("{s}://127.0.0.1:{}", spec.alertmanager_port()),
    )
}

impl Prom {
    /// The APIs of `spec`'s cluster, logging in with `login`, trusting `ca` (its CA, PEM) for
    /// https. `security::prom` gives them from the state folder.
    pub fn new(spec: &Spec, login: Option<Login>, ca: Option<String>) -> Prom {
        let (prometheus, alertmanager) = urls(spec);
        Prom {
            prometheus,
            alertmanager,
            login,
            ca,
        }
    }

    fn client(&self) -> Result<reqwest::Client> {
        super::tls::init();
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(1));
        if let Some(ca) = &self.ca {
            b = b.tls_backend_preconfigured(super::tls::client_config(&ClientTls {
                ca: Some(ca.clone()),
                identity: None,
            })?);
        }
        b.build().context("build HTTP client")
    }

    async fn get(&self, url: &str) -> Result<serde_json::Value> {
        let mut req = self.client()?.get(url);
        if let Some(l) = &self.login {
            req = req.basic_auth(&l.user, Some(&l.password));
        }
        let r = req.send().await.with_context(|| format!("GET {url}"))?;
        let status = r.status().as_u16();
        let body = r.text().await.with_context(|| format!("read {url}"))?;
        if status == 401 {
            bail!(
                "GET {url}: HTTP 401: the monitoring password was refused (pgha sends monitoring_web_password from secrets.toml; `pgha up` puts it in place)"
            );
        }
        if !(200..300).contains(&status) {
            bail!(
                "GET {url}: HTTP {status}: {}",
                body.lines().next().unwrap_or("")
            );
        }
        serde_json::from_str(&body).with_context(|| format!("parse the answer of {url}"))
    }

    /// Creates (or with `body["id"]`, updates) a silence; returns its ID.
    pub async fn post_silence(&self, body: &serde_json::Value) -> Result<String> {
        let url = format!("{}/api/v2/silences", self.alertmanager);
        let mut req = self.client()?.post(&url).json(body);
        if let Some(l) = &self.login {
            req = req.basic_auth(&l.user, Some(&l.password));
        }
        let r = req.send().await.with_context(|| format!("POST {url}"))?;
        let status = r.status().as_u16();
        let text = r.text().await.with_context(|| format!("read {url}"))?;
        if !(200..300).contains(&status) {
            bail!(
                "POST {url}: HTTP {status}: {}",
                text.lines().next().unwrap_or("")
            );
        }
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parse the answer of {url}"))?;
        v["silenceID"]
            .as_str()
            .map(String::from)
            .with_context(|| format!("{url} gave no silenceID: {text}"))
    }

    /// Expires a silence at once.
    pub async fn delete_silence(&self, id: &str) -> Result<()> {
        let url = format!("{}/api/v2/silence/{id}", self.alertmanager);
        let mut req = self.client()?.delete(&url);
        if let Some(l) = &self.login {
            req = req.basic_auth(&l.user, Some(&l.password));
        }
        let r = req.send().await.with_context(|| format!("DELETE {url}"))?;
        let status = r.status().as_u16();
        if !(200..300).contains(&status) {
            bail!("DELETE {url}: HTTP {status}");
        }
        Ok(())
    }

    /// Prometheus's active scrape targets.
    pub async fn targets(&self) -> Result<Vec<ScrapeTarget>> {
        let v = self
            .get(&format!("{}/api/v1/targets?state=active", self.prometheus))
            .await?;
        api::parse_targets(&v)
    }

    /// An instant query.
    pub async fn query(&self, expr: &str) -> Result<Vec<Sample>> {
        let mut url = reqwest::Url::parse(&format!("{}/api/v1/query", self.prometheus))?;
        url.query_pairs_mut().append_pair("query", expr);
        let v = self.get(url.as_str()).await?;
        api::parse_vector(&v)
    }

    /// The alerts Alertmanager has active now (not silenced or inhibited).
    pub async fn alerts(&self) -> Result<Vec<Alert>> {
        let v = self
            .get(&format!(
                "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
                self.alertmanager
            ))
            .await?;
        api::parse_alerts(&v)
    }
}
