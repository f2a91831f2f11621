//! What `up` checks before it creates anything, so that a bad start changes nothing: the host
//! ports of the containers it will create must be free, and no container, network or volume with
//! one of the cluster's names may belong to anything but this cluster. Pure: which ports and names
//! to check, and the one-line messages; the probing is in `ops::converge::containers`.

use super::{needs_create, published, Inventory, PortSpec, LABEL_CLUSTER};
use crate::spec::names::{container_names, network_name, volume_name};
use crate::spec::Spec;

/// A host port `up` is about to publish, and the container that publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedPort {
    pub container: String,
    pub port: PortSpec,
}

impl WantedPort {
    pub fn address(&self) -> String {
        format!("{}:{}", self.port.host_ip, self.port.host_port)
    }
}

/// Host ports of the containers `up` will create (missing, or created but never started) or
/// start again (exited: Docker released their ports).
pub fn ports_to_check(spec: &Spec, have: &Inventory) -> Vec<WantedPort> {
    let exited = |name: &str| have.container(name).is_some_and(|o| o.state == "exited");
    published(spec)
        .into_iter()
        .filter(|(name, _)| needs_create(have, name) || exited(name))
        .flat_map(|(container, ports)| {
            ports.into_iter().map(move |port| WantedPort {
                container: container.clone(),
                port,
            })
        })
        .collect()
}

/// One line naming the ports found in use, who needs them, and how to move them.
pub fn ports_taken_message(taken: &[WantedPort]) -> String {
    let fix = "set port_base in pgha.toml to move all of the cluster's ports (`pgha init` writes that file)";
    match taken {
        [one] => format!(
            "{} is already in use, and container {} needs it for {}; {fix}",
            one.address(),
            one.container,
            one.port.what
        ),
        many => format!(
            "{} are already in use; {fix}",
            many.iter()
                .map(|t| format!("{} ({}, {})", t.address(), t.container, t.port.what))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The bind address is not one of this host's: Docker could not publish anything on it.
pub fn bind_unavailable_message(spec: &Spec) -> String {
    format!(
        "bind = {:?} is not an address of this host, so Docker cannot publish ports on it; use 127.0.0.1, 0.0.0.0 or an address of this machine",
        spec.bind
    )
}

/// The kinds of objects `up` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Container,
    Network,
    Volume,
}

impl Object {
    pub fn word(self) -> &'static str {
        match self {
            Object::Container => "container",
            Object::Network => "network",
            Object::Volume => "volume",
        }
    }
}

/// Every name `up` gives an object, by kind.
pub fn object_names(spec: &Spec) -> Vec<(Object, String)> {
    let volumes = spec
        .etcd_names()
        .into_iter()
        .chain(spec.nodes.names.iter().cloned())
        .chain(
            crate::spec::names::monitor_members(spec)
                .take(1)
                .map(String::from),
        )
        .map(|m| (Object::Volume, volume_name(spec, &m)));
    container_names(spec)
        .into_iter()
        .map(|n| (Object::Container, n))
        .chain([(Object::Network, network_name(spec))])
        .chain(volumes)
        .collect()
}

/// An object Docker has under one of the cluster's names, with its cluster label if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: Object,
    pub name: String,
    pub cluster: Option<String>,
}

/// One line naming the objects that hold the cluster's names but are not this cluster's, or None.
pub fn name_clash_message(spec: &Spec, found: &[Found]) -> Option<String> {
    let clashes: Vec<String> = found
        .iter()
        .filter(|f| f.cluster.as_deref() != Some(spec.name.as_str()))
        .map(|f| match &f.cluster {
            Some(other) => format!(
                "{} {} belongs to pgha cluster {other}",
                f.kind.word(),
                f.name
            ),
            None => format!(
                "{} {} exists and pgha did not make it (no {LABEL_CLUSTER}={} label)",
                f.kind.word(),
                f.name,
                spec.name
            ),
        })
        .collect();
    (!clashes.is_empty()).then(|| {
        format!(
            "{}; remove or rename it, or set another `name` in pgha.toml (`pgha init` writes that file)",
            clashes.join("; ")
        )
    })
}
