//! Every file pgha renders for a cluster's containers, as text in one value: what
//! `plan::desired` places into the containers (it renders nothing itself).

use super::{haproxy_cfg, monitoring, patroni_yml, pgbackrest};
use crate::spec::Spec;
use crate::tls::cert::ClusterCerts;
use anyhow::Result;
use std::collections::BTreeMap;

/// The rendered files of a cluster's containers. Each is rendered whatever the spec turns on;
/// `plan::desired` places those of the parts that are on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterFiles {
    /// Patroni's `00-patroni.yml`, by member.
    pub patroni: BTreeMap<String, String>,
    pub haproxy: String,
    /// A node's `pgbackrest.conf` (`[backup]`).
    pub pgbackrest: String,
    /// The monitoring containers' and the exporters' files (`[monitoring]`).
    pub monitor: MonitorFiles,
}

/// The files of `[monitoring]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorFiles {
    pub prometheus: String,
    pub alerts: String,
    /// The certificates' end dates (`certificates.yml`).
    pub certificates: String,
    pub alertmanager: String,
    /// The exporters' queries, and their web config (TLS; none with `[tls]` off).
    pub exporter_queries: String,
    pub exporters_web: Option<String>,
}

/// Renders every file of `spec`'s containers; `certs` are the cluster's certificates (their end
/// dates go into Prometheus's rules).
pub fn cluster_files(spec: &Spec, certs: &ClusterCerts) -> Result<ClusterFiles> {
    let patroni = spec
        .nodes
        .names
        .iter()
        .map(|n| Ok((n.clone(), patroni_yml(spec, n)?)))
        .collect::<Result<_>>()?;
    Ok(ClusterFiles {
        patroni,
        haproxy: haproxy_cfg(spec)?,
        pgbackrest: pgbackrest::config(spec, true),
        monitor: MonitorFiles {
            prometheus: monitoring::prometheus_yml(spec)?,
            alerts: monitoring::rules_yaml(spec),
            certificates: monitoring::certificates_yml(certs),
            alertmanager: monitoring::alertmanager_yml(spec)?,
            exporter_queries: monitoring::QUERIES_YML.into(),
            exporters_web: monitoring::exporters_web_yml(spec),
        },
    })
}
