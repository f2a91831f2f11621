//! How pgha reaches the parts of a cluster it made, with `[tls]` on or off: the scheme of its
//! REST API, the client certificate and CA it presents and trusts (from the state folder), and
//! the etcd user it acts as, and how it logs in to Prometheus and Alertmanager. Reads the state
//! folder; everything else is pure.

use crate::adapters::dcs::EtcdAuth;
use crate::adapters::prom::{Login, Prom};
use crate::secrets::{self, ETCD_ROOT};
use crate::spec::Spec;
use crate::tls::{self, ClientTls};
use anyhow::Result;

/// pgha's client certificate and the CA, when the spec has TLS and the certificates exist.
pub fn client_tls(spec: &Spec) -> Result<Option<ClientTls>> {
    if !spec.tls.enabled {
        return Ok(None);
    }
    tls::pgha_client(&spec.name)
}

/// The CA alone (PostgreSQL: pgha checks the server, and authenticates with a password).
pub fn server_check(spec: &Spec) -> Result<Option<ClientTls>> {
    Ok(client_tls(spec)?.map(|t| ClientTls {
        ca: t.ca,
        identity: None,
    }))
}

/// etcd as pgha reaches it: TLS with its client certificate, whose name is etcd's user `pgha`
/// (root's role; no token needed, so reads without a quorum work).
pub fn etcd_auth(spec: &Spec) -> Result<EtcdAuth> {
    Ok(EtcdAuth {
        tls: client_tls(spec)?,
        user: None,
    })
}

/// etcd as `up` sets its authentication up: as root, with root's password.
pub fn etcd_root(spec: &Spec) -> Result<EtcdAuth> {
    let user = secrets::load(&spec.name)?.map(|s| (ETCD_ROOT.to_string(), s.etcd_root_password));
    Ok(EtcdAuth {
        tls: client_tls(spec)?,
        user,
    })
}

/// The published REST API of node `i`.
pub fn api_base(spec: &Spec, i: usize) -> String {
    format!(
        "{}://{}:{}",
        spec.tls.scheme(),
        spec.connect_host(),
        spec.node_api_port(i)
    )
}

/// Prometheus's and Alertmanager's APIs as pgha reaches them: basic auth with the monitoring
/// password from the secrets file, and the cluster's CA for their https (`[tls]` on).
pub fn prom(spec: &Spec) -> Result<Prom> {
    let login = secrets::load(&spec.name)?.map(|s| Login {
        user: secrets::MONITORING_USER.into(),
        password: s.monitoring_web_password,
    });
    let ca = server_check(spec)?.and_then(|t| t.ca);
    Ok(Prom::new(spec, login, ca))
}
