//! The Prometheus and Alertmanager adapter: their HTTP APIs on the cluster's published,
//! loopback-bound ports (plain HTTP, like the HAProxy stats page). Answers are parsed by
//! `monitoring::api`.

use crate::monitoring::api::{self, Alert, Sample, ScrapeTarget};
use crate::spec::Spec;
use anyhow::{bail, Context, Result};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Prom {
    pub prometheus: String,
    pub alertmanager: String,
}

impl Prom {
    pub fn for_spec(spec: &Spec) -> Prom {
        Prom {
            prometheus: format!("http://127.0.0.1:{}", spec.prometheus_port()),
            alertmanager: format!("http://127.0.0.1:{}", spec.alertmanager_port()),
        }
    }

    async fn get(&self, url: &str) -> Result<serde_json::Value> {
        super::tls::init();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(1))
            .build()
            .context("build HTTP client")?;
        let r = client
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = r.status().as_u16();
        let body = r.text().await.with_context(|| format!("read {url}"))?;
        if !(200..300).contains(&status) {
            bail!(
                "GET {url}: HTTP {status}: {}",
                body.lines().next().unwrap_or("")
            );
        }
        serde_json::from_str(&body).with_context(|| format!("parse the answer of {url}"))
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
