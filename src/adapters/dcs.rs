//! The etcd adapter: the only module that speaks etcd-client. Reads Patroni's keys with
//! linearizable range reads (as patronictl does) and writes intents with compare-and-swap.

use crate::state::{ClusterView, Kv};
use anyhow::{anyhow, Context, Result};
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp};
use std::time::Duration;

/// Where a Patroni cluster lives in etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub endpoints: Vec<String>,
    pub namespace: String,
    pub scope: String,
}

impl Target {
    /// `/service/<scope>/`, with slashes collapsed as Patroni does.
    pub fn prefix(&self) -> String {
        let raw = format!("/{}/{}/", self.namespace, self.scope);
        let mut out = String::new();
        for ch in raw.chars() {
            if !(ch == '/' && out.ends_with('/')) {
                out.push(ch);
            }
        }
        out
    }

    pub fn key(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix())
    }
}

#[derive(Clone)]
pub struct Dcs {
    client: Client,
    pub target: Target,
}

fn options() -> ConnectOptions {
    ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
}

fn urls(endpoints: &[String]) -> Vec<String> {
    endpoints
        .iter()
        .map(|e| {
            if e.contains("://") {
                e.clone()
            } else {
                format!("http://{e}")
            }
        })
        .collect()
}

impl Dcs {
    pub async fn connect(target: Target) -> Result<Dcs> {
        let client = Client::connect(urls(&target.endpoints), Some(options()))
            .await
            .with_context(|| format!("connect to etcd at {}", target.endpoints.join(",")))?;
        Ok(Dcs { client, target })
    }

    /// Every key under the cluster's prefix, read linearizably.
    pub async fn read_kvs(&self) -> Result<Vec<Kv>> {
        let prefix = self.target.prefix();
        let resp = self
            .client
            .clone()
            .get(prefix.as_str(), Some(GetOptions::new().with_prefix()))
            .await
            .with_context(|| {
                format!(
                    "read {prefix} from etcd at {}",
                    self.target.endpoints.join(",")
                )
            })?;
        resp.kvs()
            .iter()
            .map(|kv| {
                Ok(Kv {
                    key: kv.key_str().context("etcd key is not UTF-8")?.to_string(),
                    value: kv
                        .value_str()
                        .context("etcd value is not UTF-8")?
                        .to_string(),
                    mod_revision: kv.mod_revision(),
                    lease: kv.lease(),
                })
            })
            .collect()
    }

    pub async fn read_cluster(&self) -> Result<ClusterView> {
        let kvs = self.read_kvs().await?;
        Ok(ClusterView::from_kvs(
            &self.target.scope,
            &self.target.prefix(),
            &kvs,
        ))
    }

    /// Puts `value` at `rel` only if its mod_revision is still `revision` (0: only if absent).
    pub async fn cas_put(&self, rel: &str, value: &str, revision: i64) -> Result<bool> {
        let key = self.target.key(rel);
        let cmp = if revision == 0 {
            Compare::create_revision(key.as_str(), CompareOp::Equal, 0)
        } else {
            Compare::mod_revision(key.as_str(), CompareOp::Equal, revision)
        };
        let txn = Txn::new()
            .when([cmp])
            .and_then([TxnOp::put(key.as_str(), value, None)]);
        let resp = self
            .client
            .clone()
            .txn(txn)
            .await
            .with_context(|| format!("compare-and-swap {key}"))?;
        Ok(resp.succeeded())
    }

    /// Revokes a lease: every key attached to it (a dead leader's `leader` and member key) goes.
    pub async fn revoke_lease(&self, lease: i64) -> Result<()> {
        self.client
            .clone()
            .lease_revoke(lease)
            .await
            .with_context(|| format!("revoke etcd lease {lease:x}"))?;
        Ok(())
    }

    /// Fences a dead leader in one transaction: deletes the `leader` key only if it still holds
    /// `leader` at `revision` with `lease`; then revokes that lease (its member key goes too).
    /// False, with nothing changed, when the key moved on (leadership changed meanwhile).
    pub async fn fence_leader(&self, leader: &str, revision: i64, lease: i64) -> Result<bool> {
        let key = self.target.key("leader");
        let txn = Txn::new()
            .when([
                Compare::value(key.as_str(), CompareOp::Equal, leader),
                Compare::mod_revision(key.as_str(), CompareOp::Equal, revision),
                Compare::lease(key.as_str(), CompareOp::Equal, lease),
            ])
            .and_then([TxnOp::delete(key.as_str(), None)]);
        let resp = self
            .client
            .clone()
            .txn(txn)
            .await
            .with_context(|| format!("fence {leader}: delete {key} if unchanged"))?;
        if !resp.succeeded() {
            return Ok(false);
        }
        if lease != 0 {
            // The key carried this lease: the dead leader's. Revoking drops its member key too;
            // should that fail, the leader key is gone already and the member key expires by ttl.
            let _ = self.revoke_lease(lease).await;
        }
        Ok(true)
    }
}

/// Health of one etcd endpoint: its status call answers and it knows a raft leader.
pub async fn endpoint_health(endpoint: &str) -> Result<EndpointStatus> {
    let mut c = tokio::time::timeout(
        Duration::from_secs(3),
        Client::connect(urls(&[endpoint.to_string()]), Some(options())),
    )
    .await
    .map_err(|_| anyhow!("etcd at {endpoint}: no answer in 3 s"))?
    .with_context(|| format!("connect to etcd at {endpoint}"))?;
    let st = tokio::time::timeout(Duration::from_secs(3), c.status())
        .await
        .map_err(|_| anyhow!("etcd at {endpoint}: no status in 3 s"))?
        .with_context(|| format!("status of etcd at {endpoint}"))?;
    Ok(EndpointStatus {
        version: st.version().to_string(),
        has_leader: st.leader() != 0,
        errors: st.errors().to_vec(),
        is_leader: st.header().map(|h| h.member_id()) == Some(st.leader()),
    })
}

#[derive(Debug, Clone)]
pub struct EndpointStatus {
    pub version: String,
    pub has_leader: bool,
    pub is_leader: bool,
    pub errors: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_collapses_slashes_like_patroni() {
        let t = Target {
            endpoints: vec![],
            namespace: "/service/".into(),
            scope: "demo".into(),
        };
        assert_eq!(t.prefix(), "/service/demo/");
        assert_eq!(t.key("leader"), "/service/demo/leader");
    }
}
