//! What the spec's objects are called and where pgha reaches them: members, Docker names
//! (containers, volumes, network, the backup repository's volume) and the published host ports.
//! Pure.

use super::Spec;

/// Members (and network aliases) of the two monitoring containers.
pub const PROMETHEUS: &str = "prometheus";
pub const ALERTMANAGER: &str = "alertmanager";

pub fn network_name(spec: &Spec) -> String {
    format!("{}-net", spec.name)
}

pub fn container_name(spec: &Spec, member: &str) -> String {
    format!("{}-{}", spec.name, member)
}

/// Every container a spec asks for, by name (what `plan::desired` names them).
pub fn container_names(spec: &Spec) -> Vec<String> {
    spec.etcd_names()
        .iter()
        .chain(&spec.nodes.names)
        .map(|m| container_name(spec, m))
        .chain([container_name(spec, "haproxy")])
        .chain(monitor_members(spec).map(|m| container_name(spec, m)))
        .collect()
}

/// The monitoring containers' members, when `[monitoring]` is on.
pub fn monitor_members(spec: &Spec) -> impl Iterator<Item = &'static str> {
    let on = spec.monitoring.enabled;
    [PROMETHEUS, ALERTMANAGER].into_iter().filter(move |_| on)
}

/// The data volume of a member.
pub fn volume_name(spec: &Spec, member: &str) -> String {
    format!("{}-{}-data", spec.name, member)
}

/// The backup repository's volume of cluster `cluster`.
pub fn repo_volume(cluster: &str) -> String {
    format!("{cluster}-backup")
}

/// One published port: what it is for, and its host port after `port_base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub what: String,
    pub port: u32,
}

impl Spec {
    pub fn etcd_names(&self) -> Vec<String> {
        (1..=self.etcd.members)
            .map(|i| format!("etcd{i}"))
            .collect()
    }

    /// Host port of node `i` (0-based) PostgreSQL.
    /// The host ports clients reach PostgreSQL on: each node's, then HAProxy's primary and
    /// replica ports (what the host's password file names).
    pub fn host_pg_ports(&self) -> Vec<u32> {
        (0..self.nodes.names.len())
            .map(|i| self.node_pg_port(i))
            .chain([self.haproxy_primary_port(), self.haproxy_replica_port()])
            .collect()
    }

    pub fn node_pg_port(&self, i: usize) -> u32 {
        self.ports.postgres + self.port_base + i as u32
    }

    pub fn node_api_port(&self, i: usize) -> u32 {
        self.ports.patroni_api + self.port_base + i as u32
    }

    pub fn etcd_client_port(&self, i: usize) -> u32 {
        self.ports.etcd_client + self.port_base + i as u32
    }

    pub fn haproxy_primary_port(&self) -> u32 {
        self.ports.haproxy_primary + self.port_base
    }

    pub fn haproxy_replica_port(&self) -> u32 {
        self.ports.haproxy_replica + self.port_base
    }

    pub fn haproxy_stats_port(&self) -> u32 {
        self.ports.haproxy_stats + self.port_base
    }

    pub fn prometheus_port(&self) -> u32 {
        self.ports.prometheus + self.port_base
    }

    pub fn alertmanager_port(&self) -> u32 {
        self.ports.alertmanager + self.port_base
    }

    /// Host endpoints of etcd's client API, as pgha reaches them.
    pub fn etcd_endpoints(&self) -> Vec<String> {
        (0..self.etcd.members as usize)
            .map(|i| format!("{}:{}", self.connect_host(), self.etcd_client_port(i)))
            .collect()
    }

    /// The address pgha uses to reach published ports: the bind address, or loopback for 0.0.0.0.
    pub fn connect_host(&self) -> &str {
        match self.bind.as_str() {
            "0.0.0.0" => "127.0.0.1",
            other => other,
        }
    }

    pub fn node_index(&self, member: &str) -> Option<usize> {
        self.nodes.names.iter().position(|n| n == member)
    }

    /// Every published port with what it serves, in a stable order.
    pub fn published_ports(&self) -> Vec<PublishedPort> {
        let mut out = Vec::new();
        let mut push = |what: String, port: u32| out.push(PublishedPort { what, port });
        for (i, n) in self.nodes.names.iter().enumerate() {
            push(format!("{n} postgres"), self.node_pg_port(i));
            push(format!("{n} patroni_api"), self.node_api_port(i));
        }
        for (i, e) in self.etcd_names().iter().enumerate() {
            push(format!("{e} etcd_client"), self.etcd_client_port(i));
        }
        push("haproxy_primary".into(), self.haproxy_primary_port());
        push("haproxy_replica".into(), self.haproxy_replica_port());
        push("haproxy_stats".into(), self.haproxy_stats_port());
        if self.monitoring.enabled {
            push("prometheus".into(), self.prometheus_port());
            push("alertmanager".into(), self.alertmanager_port());
        }
        out
    }
}
