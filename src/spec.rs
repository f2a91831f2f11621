//! The cluster spec: what the user asks for (`pgha.toml`, or the embedded default), parsed and
//! validated before anything touches Docker. Pure: no I/O beyond the caller handing us text.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

pub mod backup;
pub mod monitoring;
pub mod names;
pub mod resources;
pub use backup::Backup;
pub use monitoring::Monitoring;
pub use names::PublishedPort;

/// `[tls]`: on by default. Every connection between the cluster's parts and from pgha is
/// encrypted and checked against the cluster's CA, and etcd requires a client certificate and a
/// password. Turning it off is allowed for loopback-bound clusters only, with a warning.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    pub enabled: bool,
}

impl Default for Tls {
    fn default() -> Self {
        Tls { enabled: true }
    }
}

/// `[security]`: how old a password may get before `PghaPasswordOld` alerts (a Prometheus
/// duration, e.g. "90d"; "" never alerts). `pgha passwords rotate` renews them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Security {
    pub password_max_age: String,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            password_max_age: "90d".into(),
        }
    }
}

impl Tls {
    /// `https`, or `http` with TLS off: the scheme of etcd's URLs and of the REST APIs.
    pub fn scheme(&self) -> &'static str {
        if self.enabled {
            "https"
        } else {
            "http"
        }
    }
}
pub use resources::{Limits, Logs};

/// The default spec, written out by `pgha init`; parsing it gives `Spec::default()`.
pub const DEFAULT_SPEC_TOML: &str = include_str!("../templates/pgha.toml");

/// Published ports of one cluster, before `port_base` is added.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ports {
    /// Host port of the first node's PostgreSQL; node i gets `postgres + i`.
    pub postgres: u32,
    /// Host port of the first node's Patroni REST API; node i gets `patroni_api + i`.
    pub patroni_api: u32,
    /// Host port of the first etcd member's client API; member i gets `etcd_client + i`.
    pub etcd_client: u32,
    pub haproxy_primary: u32,
    pub haproxy_replica: u32,
    pub haproxy_stats: u32,
    /// Prometheus's and Alertmanager's web APIs (`[monitoring]`); on 127.0.0.1 whatever `bind` says.
    pub prometheus: u32,
    pub alertmanager: u32,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            postgres: 5431,
            patroni_api: 54331,
            etcd_client: 54341,
            haproxy_primary: 54320,
            haproxy_replica: 54321,
            haproxy_stats: 54322,
            prometheus: 54390,
            alertmanager: 54393,
        }
    }
}

/// Patroni's dynamic configuration at bootstrap.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatroniSpec {
    pub ttl: u32,
    pub loop_wait: u32,
    pub retry_timeout: u32,
    pub maximum_lag_on_failover: u64,
    pub synchronous_mode: bool,
    pub synchronous_mode_strict: bool,
    /// Keep the leader when etcd does not answer, as long as every member confirms it over
    /// Patroni's REST API (Patroni's DCS failsafe mode).
    pub failsafe_mode: bool,
    /// PostgreSQL parameters put into `bootstrap.dcs.postgresql.parameters`.
    pub parameters: BTreeMap<String, toml::Value>,
}

impl Default for PatroniSpec {
    fn default() -> Self {
        PatroniSpec {
            ttl: 20,
            loop_wait: 1,
            retry_timeout: 5,
            maximum_lag_on_failover: 1_048_576,
            synchronous_mode: true,
            synchronous_mode_strict: false,
            failsafe_mode: true,
            parameters: BTreeMap::new(),
        }
    }
}

/// Images per role; `None` means pgha's own node image (built when missing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Images {
    pub node: Option<String>,
    pub etcd: Option<String>,
    pub haproxy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Nodes {
    pub names: Vec<String>,
    /// Size of /dev/shm in each node container (see `resources`).
    pub shm_size: toml::Value,
    pub cpus: Option<toml::Value>,
    pub memory: Option<toml::Value>,
}

impl Default for Nodes {
    fn default() -> Self {
        Nodes {
            names: vec!["pg1".into(), "pg2".into(), "pg3".into()],
            shm_size: toml::Value::String(resources::DEFAULT_SHM_SIZE.into()),
            cpus: None,
            memory: None,
        }
    }
}

impl Nodes {
    pub fn limits(&self) -> Limits {
        Limits {
            cpus: self.cpus.clone(),
            memory: self.memory.clone(),
        }
    }

    /// Bytes of /dev/shm (call after validation).
    pub fn shm_bytes(&self) -> i64 {
        resources::parse_size(&self.shm_size).unwrap_or(256 << 20) as i64
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Etcd {
    pub members: u32,
    pub cpus: Option<toml::Value>,
    pub memory: Option<toml::Value>,
}

impl Default for Etcd {
    fn default() -> Self {
        Etcd {
            members: 3,
            cpus: None,
            memory: None,
        }
    }
}

impl Etcd {
    pub fn limits(&self) -> Limits {
        Limits {
            cpus: self.cpus.clone(),
            memory: self.memory.clone(),
        }
    }
}

/// A validated cluster spec.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spec {
    /// Cluster name: prefix of every Docker object and Patroni's scope.
    pub name: String,
    /// Added to every published port, so clusters can live side by side.
    pub port_base: u32,
    /// Host address published ports bind to.
    pub bind: String,
    pub nodes: Nodes,
    pub etcd: Etcd,
    pub ports: Ports,
    pub patroni: PatroniSpec,
    pub images: Images,
    /// Optional CPU and memory limits of the HAProxy container.
    pub haproxy: Limits,
    /// Rotation of every container's log.
    pub logs: Logs,
    /// Extra labels put on every Docker object of the cluster.
    pub labels: BTreeMap<String, String>,
    /// WAL archiving and backups (pgBackRest).
    pub backup: Backup,
    /// TLS between every part, etcd authentication.
    pub tls: Tls,
    /// Prometheus, Alertmanager, the exporters and the alert rules.
    pub monitoring: Monitoring,
    /// Password age policy.
    pub security: Security,
    /// Set by `pgha restore --into`: the new cluster bootstraps from this backup repository
    /// instead of initdb. Never read from a spec file.
    #[serde(skip)]
    pub bootstrap_from: Option<RestoreSource>,
}

/// Where and to what a restored cluster bootstraps from (see `pgbackrest::restore_bootstrap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSource {
    /// The stanza (the source cluster's name) and its repository volume.
    pub stanza: String,
    pub volume: String,
    /// pgBackRest's restore options: `--type=time --target=...`, `--set=...`.
    pub options: Vec<String>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            name: "pgha".into(),
            port_base: 0,
            bind: "127.0.0.1".into(),
            nodes: Nodes::default(),
            etcd: Etcd::default(),
            ports: Ports::default(),
            patroni: PatroniSpec::default(),
            images: Images::default(),
            haproxy: Limits::default(),
            logs: Logs::default(),
            labels: BTreeMap::new(),
            backup: Backup::default(),
            tls: Tls::default(),
            monitoring: Monitoring::default(),
            security: Security::default(),
            bootstrap_from: None,
        }
    }
}

/// Every problem found in a spec, one line each. Bad input: exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub source: String,
    pub problems: Vec<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self
            .problems
            .iter()
            .map(|p| format!("{}: {}", self.source, p))
            .collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for SpecError {}

impl Spec {
    /// Parses and validates TOML text; `source` names it in messages (e.g. `pgha.toml`).
    pub fn parse(text: &str, source: &str) -> Result<Spec, SpecError> {
        let spec: Spec = toml::from_str(text).map_err(|e| SpecError {
            source: source.to_string(),
            problems: vec![toml_problem(text, &e)],
        })?;
        spec.validate(source)?;
        Ok(spec)
    }

    /// All problems with this spec, or Ok.
    pub fn validate(&self, source: &str) -> Result<(), SpecError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SpecError {
                source: source.to_string(),
                problems,
            })
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Err(why) = check_name(&self.name, 30) {
            p.push(format!("name {:?} {why}", self.name));
        }
        if self.nodes.names.is_empty() {
            p.push("nodes.names is empty: a cluster needs at least one node".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for n in &self.nodes.names {
            if let Err(why) = check_name(n, 20) {
                p.push(format!("nodes.names: member {n:?} {why}"));
            } else if RESERVED_MEMBERS.contains(&n.as_str()) || is_etcd_name(n) {
                p.push(format!(
                    "nodes.names: member {n:?} is reserved (haproxy, prometheus, alertmanager and etcdN name other containers); pick another name"
                ));
            }
            if !seen.insert(n) {
                p.push(format!(
                    "nodes.names: duplicate member {n:?}; every member needs its own name"
                ));
            }
        }
        match self.etcd.members {
            0 => p.push("etcd.members = 0: Patroni needs etcd; use 1, 3 or 5".into()),
            n if n % 2 == 0 => p.push(format!(
                "etcd.members = {n} is even: use an odd count (1, 3 or 5) so a quorum survives the loss of a member"
            )),
            n if n > 9 => p.push(format!("etcd.members = {n} is too many: use 1, 3, 5, 7 or 9")),
            _ => {}
        }
        match self.bind.parse::<std::net::IpAddr>() {
            Err(_) => p.push(format!(
                "bind = {:?} is not an IP address; use 127.0.0.1 (default) or the address to publish ports on",
                self.bind
            )),
            // URLs, etcd endpoints and libpq hosts are built as host:port; IPv6 needs brackets.
            Ok(std::net::IpAddr::V6(_)) => p.push(format!(
                "bind = {:?}: IPv6 addresses are not supported; use 127.0.0.1, 0.0.0.0 or another IPv4 address",
                self.bind
            )),
            Ok(ip) if !self.tls.enabled && !ip.is_loopback() => p.push(format!(
                "bind = {:?} publishes the cluster beyond this host, which needs TLS: remove `[tls] enabled = false`, or bind to 127.0.0.1",
                self.bind
            )),
            Ok(_) => {}
        }
        self.port_problems(&mut p);
        self.patroni_problems(&mut p);
        resources::shm_and_log_problems(&self.nodes.shm_size, &self.logs, &mut p);
        self.nodes.limits().problems("nodes", &mut p);
        self.etcd.limits().problems("etcd", &mut p);
        self.haproxy.problems("haproxy", &mut p);
        self.backup.problems(&mut p);
        self.monitoring.problems(&mut p);
        let age = &self.security.password_max_age;
        if !age.is_empty() && !monitoring::is_prometheus_duration(age) {
            p.push(format!(
                "security.password_max_age = {age:?} is not a duration like \"90d\" (or \"\" for no alert)"
            ));
        }
        for (k, v) in &self.labels {
            if k.starts_with("io.pgha.") && k != "io.pgha.test" {
                p.push(format!(
                    "labels: {k:?} is reserved for pgha's own labels; use another key"
                ));
            }
            if v.is_empty() {
                p.push(format!("labels: {k:?} has an empty value"));
            }
        }
        p
    }

    fn port_problems(&self, p: &mut Vec<String>) {
        let ports = self.published_ports();
        for pp in &ports {
            if pp.port == 0 || pp.port > 65535 {
                p.push(format!(
                    "port {} = {} (port_base {} included) is out of range 1-65535; lower ports.* or port_base",
                    pp.what, pp.port, self.port_base
                ));
            }
        }
        let mut by_port: BTreeMap<u32, &str> = BTreeMap::new();
        for pp in &ports {
            if let Some(other) = by_port.insert(pp.port, &pp.what) {
                p.push(format!(
                    "ports clash: {} and {} both want host port {}; change ports.* so ranges do not overlap",
                    other, pp.what, pp.port
                ));
            }
        }
    }

    fn patroni_problems(&self, p: &mut Vec<String>) {
        let t = &self.patroni;
        if t.ttl < 20 {
            p.push(format!(
                "patroni.ttl = {} is below Patroni's minimum 20 (Patroni would silently raise it)",
                t.ttl
            ));
        }
        if t.loop_wait < 1 {
            p.push("patroni.loop_wait = 0 is below Patroni's minimum 1".into());
        }
        if t.retry_timeout < 3 {
            p.push(format!(
                "patroni.retry_timeout = {} is below Patroni's minimum 3",
                t.retry_timeout
            ));
        }
        if t.loop_wait + 2 * t.retry_timeout > t.ttl {
            p.push(format!(
                "patroni: loop_wait + 2*retry_timeout = {} exceeds ttl = {} (Patroni requires loop_wait + 2*retry_timeout <= ttl)",
                t.loop_wait + 2 * t.retry_timeout,
                t.ttl
            ));
        }
        for (k, v) in &t.parameters {
            if matches!(v, toml::Value::Array(_) | toml::Value::Table(_)) {
                p.push(format!(
                    "patroni.parameters.{k}: use a string, number or boolean"
                ));
            }
        }
    }
}

/// Members of the cluster's other containers: no node may take their names.
pub const RESERVED_MEMBERS: [&str; 3] = ["haproxy", "prometheus", "alertmanager"];

fn is_etcd_name(n: &str) -> bool {
    n.strip_prefix("etcd")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// Names become Docker object names, host names and Patroni's scope/member names.
fn check_name(name: &str, max: usize) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let starts = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if name.is_empty() || name.len() > max || !ok_chars || !starts || name.ends_with('-') {
        return Err(format!(
            "is not a valid name: use 1-{max} lowercase letters, digits and '-', starting with a letter"
        ));
    }
    Ok(())
}

/// One line naming the TOML problem and where it is.
fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {msg}")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests;
