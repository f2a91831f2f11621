//! The Patroni REST adapter: the only module that speaks HTTP (reqwest). https with the cluster's
//! CA and pgha's client certificate when the cluster has TLS (plain HTTP otherwise), on the
//! published, loopback-bound API ports (or a member's `api_url`), with basic auth for the POSTs.

use crate::secrets::exposure::user_redacted;
use anyhow::{Context, Result};
use serde_json::Value;
use std::time::Duration;

/// One member's REST API; `Debug` shows no password.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub auth: Option<(String, String)>,
    /// The CA to trust and the client certificate to present (https).
    pub tls: Option<crate::tls::ClientTls>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .field("auth", &user_redacted(&self.auth))
            .field("tls", &self.tls)
            .finish()
    }
}

/// A REST answer: HTTP status and body text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn client(timeout: Duration, tls: Option<&crate::tls::ClientTls>) -> Result<reqwest::Client> {
    super::tls::init();
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2));
    if let Some(t) = tls {
        b = b.tls_backend_preconfigured(super::tls::client_config(t)?);
    }
    b.build().context("build HTTP client")
}

impl Api {
    /// From a member key's `api_url` (`http://host:port/patroni`).
    pub fn from_api_url(api_url: &str) -> Api {
        let base = api_url
            .trim_end_matches("/patroni")
            .trim_end_matches('/')
            .to_string();
        Api {
            base,
            auth: None,
            tls: None,
        }
    }

    /// `GET /patroni`: the member's own status.
    pub async fn status(&self) -> Result<Value> {
        let url = format!("{}/patroni", self.base);
        let r = client(Duration::from_secs(3), self.tls.as_ref())?
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        r.json().await.with_context(|| format!("read {url}"))
    }

    /// `POST <path>` with a JSON body; any HTTP status is a reply, only transport errors fail.
    pub async fn post(&self, path: &str, body: &Value, timeout: Duration) -> Result<Reply> {
        self.send(reqwest::Method::POST, path, Some(body), timeout)
            .await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let mut req = client(timeout, self.tls.as_ref())?.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some((u, p)) = &self.auth {
            req = req.basic_auth(u, Some(p));
        }
        let r = req
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        Ok(Reply { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_user_but_not_the_password() {
        let api = Api {
            auth: Some(("admin".into(), "pw-secret".into())),
            ..Api::from_api_url("https://h:8008/patroni")
        };
        let shown = format!("{api:?}");
        assert!(!shown.contains("pw-secret"), "{shown}");
        assert!(shown.contains("(\"admin\", [redacted])"), "{shown}");
    }
}
