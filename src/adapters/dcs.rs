//! The etcd adapter: the only module that speaks etcd-client. Reads Patroni's keys with
//! linearizable range reads (as patronictl does) and writes intents with compare-and-swap.
//! When etcd cannot answer, every request fails with one line saying why (`diagnose`): nobody
//! answers, or no quorum (then `read_cluster_stale` reads a member's last known state).

pub mod auth;
mod diagnose;
mod endpoint;

use endpoint::probe_all;
pub use endpoint::{endpoint_health, move_etcd_leader_off, EndpointStatus};

pub use diagnose::{Answer, EtcdUnavailable, Probe, Problem};

use crate::state::{ClusterView, Kv};
use anyhow::{Context, Result};
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp};
use std::future::Future;
use std::time::Duration;

/// A request still pending after this long makes pgha probe the endpoints, so that a read which
/// cannot succeed (no quorum: etcd-client waits for its whole timeout) ends at once.
const PROBE_AFTER: Duration = Duration::from_secs(1);

/// Where a Patroni cluster lives in etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub endpoints: Vec<String>,
    pub namespace: String,
    pub scope: String,
    pub auth: EtcdAuth,
}

/// How to reach etcd: TLS (the CA to trust, the client certificate to present) and etcd's user;
/// `Debug` shows no password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EtcdAuth {
    pub tls: Option<crate::tls::ClientTls>,
    pub user: Option<(String, String)>,
}

impl std::fmt::Debug for EtcdAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdAuth")
            .field("tls", &self.tls)
            .field("user", &crate::secrets::exposure::user_redacted(&self.user))
            .finish()
    }
}

impl EtcdAuth {
    /// TLS alone: enough for a member's status and member list, and what works before etcd's
    /// authentication is enabled.
    pub fn transport(&self) -> EtcdAuth {
        EtcdAuth {
            tls: self.tls.clone(),
            user: None,
        }
    }
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

/// One member of the etcd cluster as etcd lists it (its name is empty until it first starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
}

fn etcd_members(ms: &[etcd_client::Member]) -> Vec<EtcdMember> {
    ms.iter()
        .map(|m| EtcdMember {
            id: m.id(),
            name: m.name().to_string(),
            peer_urls: m.peer_urls().to_vec(),
        })
        .collect()
}

#[derive(Clone)]
pub struct Dcs {
    client: Client,
    pub target: Target,
}

fn options(auth: &EtcdAuth) -> ConnectOptions {
    let mut o = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5));
    if let Some(t) = &auth.tls {
        let mut tls = etcd_client::TlsOptions::new();
        if let Some(ca) = &t.ca {
            tls = tls.ca_certificate(etcd_client::Certificate::from_pem(ca));
        }
        if let Some((cert, key)) = &t.identity {
            tls = tls.identity(etcd_client::Identity::from_pem(cert, key));
        }
        o = o.with_tls(tls);
    }
    if let Some((u, p)) = &auth.user {
        o = o.with_user(u, p);
    }
    o
}

/// The URLs the client connects to: an endpoint as given when it has a scheme, else https with
/// TLS and http without.
pub fn endpoint_urls(endpoints: &[String], auth: &EtcdAuth) -> Vec<String> {
    let scheme = if auth.tls.is_some() { "https" } else { "http" };
    endpoints
        .iter()
        .map(|e| {
            if e.contains("://") {
                e.clone()
            } else {
                format!("{scheme}://{e}")
            }
        })
        .collect()
}

/// An etcd-client client with pgha's TLS and user, for tests and tools that need etcd's own API.
pub async fn raw_client(endpoints: &[String], auth: &EtcdAuth) -> Result<Client> {
    connect_to(endpoints, auth)
        .await
        .with_context(|| format!("connect to etcd at {}", endpoints.join(",")))
}

async fn connect_to(endpoints: &[String], auth: &EtcdAuth) -> Result<Client, etcd_client::Error> {
    crate::adapters::tls::init();
    Client::connect(endpoint_urls(endpoints, auth), Some(options(auth))).await
}

impl Dcs {
    pub async fn connect(target: Target) -> Result<Dcs> {
        let client = match connect_to(&target.endpoints, &target.auth).await {
            Ok(c) => c,
            Err(e) => {
                return Err(explain(&target.endpoints, &target.auth, "connect", &e)
                    .await
                    .into())
            }
        };
        Ok(Dcs { client, target })
    }

    /// Every key under the cluster's prefix, read linearizably.
    pub async fn read_kvs(&self) -> Result<Vec<Kv>> {
        let prefix = self.target.prefix();
        let what = format!("read {prefix}");
        let opts = GetOptions::new().with_prefix();
        let resp = self
            .guard(&what, |mut c| {
                let (prefix, opts) = (prefix.clone(), opts.clone());
                async move { c.get(prefix, Some(opts)).await }
            })
            .await?;
        kvs(&resp)
    }

    pub async fn read_cluster(&self) -> Result<ClusterView> {
        let kvs = self.read_kvs().await?;
        Ok(self.view(&kvs))
    }

    /// The cluster as one member that answers has it, without asking for a quorum (a serializable
    /// read): its last known state, possibly out of date.
    pub async fn read_cluster_stale(&self, from: &Answer) -> Result<ClusterView> {
        let prefix = self.target.prefix();
        let endpoints = [from.endpoint.clone()];
        let what = format!("read {prefix} from {} (serializable)", from.member);
        let auth = &self.target.auth;
        let mut c = match connect_to(&endpoints, auth).await {
            Ok(c) => c,
            Err(e) => return Err(explain(&endpoints, auth, &what, &e).await.into()),
        };
        let opts = GetOptions::new().with_prefix().with_serializable();
        let resp = match c.get(prefix.as_str(), Some(opts)).await {
            Ok(r) => r,
            Err(e) => return Err(explain(&endpoints, auth, &what, &e).await.into()),
        };
        Ok(self.view(&kvs(&resp)?))
    }

    fn view(&self, kvs: &[Kv]) -> ClusterView {
        ClusterView::from_kvs(&self.target.scope, &self.target.prefix(), kvs)
    }

    /// Runs one etcd request (`request` makes it on a client). When it fails, or is still pending
    /// and a probe of the endpoints shows it cannot succeed, the error is one line saying why
    /// (`diagnose`). A request that found no connection, or no answer in time, while etcd has a
    /// quorum went to a member that is down or was restarted (etcd-client's balancer does not
    /// retry): it is made once more on a member that answers and knows the leader.
    async fn guard<T, F, Fut>(&self, what: &str, request: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let (endpoints, auth) = (&self.target.endpoints, &self.target.auth);
        let e = match watched(endpoints, auth, request(self.client.clone())).await? {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let mut probes = probe_all(endpoints, auth).await;
        let mut last = e;
        if no_connection(&last) || timed_out(&last) {
            if let Some(a) = diagnose::serving(&probes) {
                let one = std::slice::from_ref(&a.endpoint);
                match connect_to(one, auth).await {
                    Ok(c) => match watched(endpoints, auth, request(c)).await? {
                        Ok(v) => return Ok(v),
                        Err(e) => last = e,
                    },
                    Err(e) => last = e,
                }
                probes = probe_all(endpoints, auth).await;
            }
        }
        let verdict = diagnose::judge(endpoints, &probes)
            .unwrap_or_else(|| diagnose::failed(endpoints, what, &detail(&last), &probes));
        Err(verdict.into())
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
        let what = format!("compare-and-swap {key}");
        let resp = self
            .guard(&what, |mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .await?;
        Ok(resp.succeeded())
    }

    /// Deletes the key at `rel` (a removed member's `members/<name>`); an absent key is fine.
    pub async fn delete(&self, rel: &str) -> Result<()> {
        let key = self.target.key(rel);
        let what = format!("delete {key}");
        self.guard(&what, |mut c| {
            let key = key.clone();
            async move { c.delete(key, None).await }
        })
        .await?;
        Ok(())
    }

    /// etcd's member list.
    pub async fn etcd_members(&self) -> Result<Vec<EtcdMember>> {
        let resp = self
            .guard(
                "list etcd members",
                |mut c| async move { c.member_list().await },
            )
            .await?;
        Ok(etcd_members(resp.members()))
    }

    /// Adds a member at `peer_url` to etcd's membership (`member add`); returns the member list
    /// after it, the new member (not started: no name) included.
    pub async fn add_etcd_member(&self, peer_url: &str) -> Result<Vec<EtcdMember>> {
        let what = format!("add etcd member {peer_url}");
        let resp = self
            .guard(&what, |mut c| async move {
                c.member_add([peer_url], None).await
            })
            .await?;
        Ok(etcd_members(resp.member_list()))
    }

    /// Removes a member from etcd's membership (`member remove`).
    pub async fn remove_etcd_member(&self, id: u64) -> Result<()> {
        let what = format!("remove etcd member {id:x}");
        self.guard(&what, |mut c| async move { c.member_remove(id).await })
            .await?;
        Ok(())
    }

    /// Revokes a lease: every key attached to it (a dead leader's `leader` and member key) goes.
    pub async fn revoke_lease(&self, lease: i64) -> Result<()> {
        let what = format!("revoke etcd lease {lease:x}");
        self.guard(&what, |mut c| async move { c.lease_revoke(lease).await })
            .await?;
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
        let what = format!("fence {leader}: delete {key} if unchanged");
        let resp = self
            .guard(&what, |mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })
            .await?;
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

fn kvs(resp: &etcd_client::GetResponse) -> Result<Vec<Kv>> {
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

/// Awaits `request`; while it is pending (etcd-client's timeout bounds it), probes the endpoints
/// every `PROBE_AFTER` and gives up with the verdict once it cannot succeed (a member that still
/// believed in a leader just after the others stopped knows better a moment later).
async fn watched<T>(
    endpoints: &[String],
    auth: &EtcdAuth,
    request: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<Result<T, etcd_client::Error>, EtcdUnavailable> {
    tokio::pin!(request);
    loop {
        tokio::select! {
            r = &mut request => return Ok(r),
            _ = tokio::time::sleep(PROBE_AFTER) => {}
        }
        let probes = probe_all(endpoints, auth);
        tokio::pin!(probes);
        tokio::select! {
            r = &mut request => return Ok(r),
            p = &mut probes => {
                if let Some(verdict) = diagnose::hopeless(endpoints, &p) {
                    return Err(verdict);
                }
            }
        }
    }
}

/// The request never reached etcd (it went to an endpoint that does not answer); etcd's own
/// errors start with `etcdserver:`.
fn no_connection(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(s) => {
            s.code() as i32 == 14 && !s.message().starts_with("etcdserver:")
        }
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        _ => false,
    }
}

/// The request got no answer in time: on a connection to a member that was stopped and started
/// again, etcd-client may wait for an answer that never comes. Every request pgha makes is safe
/// to make again (reads, deletes, compare-and-swap, membership changes checked by the caller).
fn timed_out(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s) if matches!(s.code() as i32, 1 | 4))
}

/// etcd's own word for a failed request, without the library's internals (no gRPC chain).
fn detail(e: &etcd_client::Error) -> String {
    use etcd_client::Error as E;
    match e {
        // gRPC status codes: 1 cancelled, 4 deadline exceeded, 14 unavailable.
        E::GRpcStatus(s) => match s.code() as i32 {
            14 => "no connection".into(),
            1 | 4 => "no answer in time".into(),
            _ if s.message().is_empty() => format!("{:?}", s.code()),
            _ => s.message().to_string(),
        },
        E::TransportError(_) | E::IoError(_) => "no connection".into(),
        E::InvalidUri(_) => "not a valid address (HOST:PORT)".into(),
        other => other.to_string(),
    }
}

/// Turns a failed request into one line: probes every endpoint to say whether etcd is out of
/// reach, out of quorum, or answered and refused this request.
async fn explain(
    endpoints: &[String],
    auth: &EtcdAuth,
    what: &str,
    e: &etcd_client::Error,
) -> EtcdUnavailable {
    let probes = probe_all(endpoints, auth).await;
    diagnose::judge(endpoints, &probes)
        .unwrap_or_else(|| diagnose::failed(endpoints, what, &detail(e), &probes))
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
            auth: EtcdAuth::default(),
        };
        assert_eq!(t.prefix(), "/service/demo/");
        assert_eq!(t.key("leader"), "/service/demo/leader");
    }

    #[test]
    fn debug_shows_no_password() {
        let auth = EtcdAuth {
            tls: None,
            user: Some(("root".into(), "pw-secret".into())),
        };
        let shown = format!("{auth:?}");
        assert!(!shown.contains("pw-secret"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
