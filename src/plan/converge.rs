//! What `up` must do, given what Docker reports of the cluster (its inventory, found by label):
//! create, re-create, start, replace (a container made from another spec or image) or remove (a
//! node the spec no longer names); and the etcd membership changes it refuses. The order of the
//! replacements on a running cluster is `rolling`'s; the whole plan of `up` (of which this is the
//! container part, `ContainerPlan`) is `up_plan`'s. Pure.

use super::{ContainerSpec, Desired, Kind, LABEL_CONFIG_HASH, LABEL_TLS};
use std::collections::BTreeMap;

/// A container as Docker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub name: String,
    pub kind: Option<Kind>,
    pub member: String,
    pub running: bool,
    /// Docker's state word: running, exited, created, ...
    pub state: String,
    pub config_hash: Option<String>,
    /// Made with `[tls]` on (its `io.pgha.tls` label).
    pub tls: bool,
    /// The image reference it was created from, as Docker reports it.
    pub image: String,
    /// The ID of the image it runs.
    pub image_id: Option<String>,
}

impl ObservedContainer {
    /// `c` as it runs once created from the plan: running, with its labels' config hash and TLS
    /// setting, on the image `want` resolved for it.
    pub fn running(c: &ContainerSpec, want: &Desired) -> ObservedContainer {
        ObservedContainer {
            name: c.name.clone(),
            kind: Some(c.kind),
            member: c.member.clone(),
            running: true,
            state: "running".into(),
            config_hash: c.labels.get(LABEL_CONFIG_HASH).cloned(),
            tls: c.labels.get(LABEL_TLS).is_some_and(|v| v == "on"),
            image: c.image.clone(),
            image_id: want.image_ids.get(&c.image).cloned(),
        }
    }
}

/// What exists of a cluster, found by its label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub containers: Vec<ObservedContainer>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

impl Inventory {
    pub fn container(&self, name: &str) -> Option<&ObservedContainer> {
        self.containers.iter().find(|c| c.name == name)
    }
}

impl ObservedContainer {
    /// Created but never started: Docker's state "created". An `up` that stopped between
    /// creating a container and starting it (its files may be missing) leaves one behind.
    pub fn never_ran(&self) -> bool {
        self.state == "created"
    }
}

/// True when `up` must create the container named `name`: it is missing, or it never ran.
pub fn needs_create(have: &Inventory, name: &str) -> bool {
    have.container(name)
        .is_none_or(ObservedContainer::never_ran)
}

/// What `up` must do to the containers, network and volumes (one part of `UpPlan`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerPlan {
    pub create_network: bool,
    pub create_volumes: Vec<String>,
    /// Containers to create (and then start), by name.
    pub create: Vec<String>,
    /// Of `create`: containers that exist but never ran, removed first (an earlier `up` stopped
    /// half-way, so their config files may be missing; Docker cannot fix their labels).
    pub recreate: Vec<String>,
    /// Existing containers that are not running.
    pub start: Vec<String>,
    /// Existing containers made from a different spec or image: replaced one at a time.
    pub replace: Vec<Change>,
    /// Node and etcd containers of the cluster whose member the spec no longer names.
    pub remove: Vec<Change>,
    /// etcd members that join the existing etcd cluster (see `etcd_join`); not in `create`.
    pub etcd_join: Vec<Change>,
}

/// A container to replace or remove, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub name: String,
    pub kind: Kind,
    pub member: String,
    pub reason: String,
}

impl ContainerPlan {
    pub fn is_noop(&self) -> bool {
        !self.create_network
            && self.create_volumes.is_empty()
            && self.create.is_empty()
            && self.start.is_empty()
            && self.replace.is_empty()
            && self.remove.is_empty()
            && self.etcd_join.is_empty()
    }

    /// Whether the running cluster changes one member at a time (see `rolling`).
    pub fn rolls(&self) -> bool {
        !self.replace.is_empty() || !self.remove.is_empty() || !self.etcd_join.is_empty()
    }

    /// The members whose containers this plan creates, starts, replaces or removes, or that
    /// join etcd, sorted: what planned work touches (and what `up` silences alerts of).
    pub fn members(&self, want: &Desired) -> Vec<String> {
        let member_of = |name: &String| {
            want.containers
                .iter()
                .find(|c| &c.name == name)
                .map(|c| c.member.clone())
        };
        let mut m: Vec<String> = self
            .create
            .iter()
            .chain(&self.start)
            .filter_map(member_of)
            .chain(
                self.replace
                    .iter()
                    .chain(&self.remove)
                    .chain(&self.etcd_join)
                    .map(|c| c.member.clone()),
            )
            .collect();
        m.sort();
        m.dedup();
        m
    }

    /// One line per action, for the log (`up_plan::Step::action` of its `steps`).
    pub fn describe(&self) -> Vec<String> {
        self.steps().iter().filter_map(|s| s.action()).collect()
    }
}

/// Why an existing container is not what `want` makes of it, if it is not: another image
/// reference, the same reference now naming another image (rebuilt), or other settings.
fn replace_reason(
    c: &super::ContainerSpec,
    o: &ObservedContainer,
    image_ids: &BTreeMap<String, String>,
) -> Option<String> {
    let id_now = image_ids.get(&c.image);
    let rebuilt = matches!((id_now, &o.image_id), (Some(a), Some(b)) if a != b);
    if o.config_hash.as_deref() != c.labels.get(LABEL_CONFIG_HASH).map(String::as_str) {
        let named = !o.image.is_empty() && !o.image.starts_with("sha256:");
        return Some(if named && o.image != c.image {
            format!("image {} -> {}", o.image, c.image)
        } else if rebuilt {
            format!("image {} was rebuilt, and its settings changed", c.image)
        } else {
            "its settings changed (command, ports, limits or config file)".into()
        });
    }
    rebuilt.then(|| {
        format!(
            "image {} now names another image ({} -> {})",
            c.image,
            short_id(o.image_id.as_deref().unwrap_or("")),
            short_id(id_now.map(String::as_str).unwrap_or(""))
        )
    })
}

fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

pub fn container_plan(want: &Desired, have: &Inventory) -> ContainerPlan {
    let mut p = ContainerPlan {
        create_network: !have.networks.contains(&want.network),
        create_volumes: want
            .volumes
            .iter()
            .filter(|v| !have.volumes.contains(v))
            .cloned()
            .collect(),
        ..Default::default()
    };
    let join = etcd_join(want, have);
    let joins = |name: &str| join.iter().any(|j| j.name == name);
    for c in &want.containers {
        match have.container(&c.name) {
            None if joins(&c.name) => {}
            None => p.create.push(c.name.clone()),
            Some(o) if o.never_ran() => {
                p.recreate.push(c.name.clone());
                p.create.push(c.name.clone());
            }
            Some(o) => {
                if !o.running {
                    p.start.push(c.name.clone());
                }
                if let Some(reason) = replace_reason(c, o, &want.image_ids) {
                    p.replace.push(Change {
                        name: c.name.clone(),
                        kind: c.kind,
                        member: c.member.clone(),
                        reason,
                    });
                }
            }
        }
    }
    let wanted = |m: &str| want.containers.iter().any(|c| c.member == m);
    for o in &have.containers {
        let Some(kind) = o.kind.filter(|k| *k != Kind::Haproxy) else {
            continue;
        };
        if !wanted(&o.member) {
            p.remove.push(Change {
                name: o.name.clone(),
                kind,
                member: o.member.clone(),
                reason: match kind {
                    Kind::Etcd => format!(
                        "the spec has fewer etcd members: {} leaves etcd's membership",
                        o.member
                    ),
                    Kind::Monitor => "monitoring is off in the spec".to_string(),
                    _ => format!("the spec no longer names {}", o.member),
                },
            });
        }
    }
    p.etcd_join = join;
    // etcd members leave from the highest number down.
    p.remove
        .sort_by_key(|c| (c.kind, std::cmp::Reverse(etcd_index(&c.member))));
    p
}

/// The number in an etcd member's name (`etcd3` -> 3).
fn etcd_index(member: &str) -> Option<usize> {
    member.strip_prefix("etcd")?.parse().ok()
}

/// Why `up` refuses the spec's etcd members on a cluster that has some already, or `None`. etcd's
/// membership changes one member at a time through its runtime reconfiguration, so pgha grows or
/// shrinks it by two at most per `up` (to the next odd size), never below 3 members, and rebuilds
/// a member whose data volume is gone only while the others keep a quorum.
/// A cluster whose etcd runs with TLS on when the spec says off, or the other way round: etcd's
/// members cannot move between http and https peers one at a time (each would lose the others),
/// so `up` restarts the whole cluster into it (`ops::converge::tls_switch`). Says which, if so.
pub fn tls_switch(spec_tls: bool, have: &Inventory) -> Option<String> {
    let etcd: Vec<&ObservedContainer> = have
        .containers
        .iter()
        .filter(|c| c.kind == Some(Kind::Etcd))
        .collect();
    let other = etcd.iter().find(|c| c.tls != spec_tls)?;
    let (now, asked) = if spec_tls {
        ("off", "on")
    } else {
        ("on", "off")
    };
    Some(format!(
        "the cluster runs with TLS {now} ({} and the others) and the spec asks for TLS {asked}",
        other.name
    ))
}

pub fn etcd_membership_refusal(want: &Desired, have: &Inventory) -> Option<String> {
    let now = etcd_size(want, have);
    if now == 0 {
        return None;
    }
    let asked = want
        .containers
        .iter()
        .filter(|c| c.kind == Kind::Etcd)
        .count();
    let keep = "set [etcd] members back, or start over with `pgha down --volumes`";
    if asked < now && asked < 3 {
        return Some(format!(
            "the spec asks for {asked} etcd member{} where the cluster has {now}: pgha does not shrink etcd below 3 members (a single member stops the cluster when it does); {keep}",
            if asked == 1 { "" } else { "s" }
        ));
    }
    if asked.abs_diff(now) > 2 {
        return Some(format!(
            "the spec asks for {asked} etcd members where the cluster has {now}: change the membership by two members per `pgha up` ({now} -> {}), so that every step keeps a quorum; or {keep}",
            if asked > now { now + 2 } else { now - 2 }
        ));
    }
    let lost = etcd_join(want, have)
        .iter()
        .filter(|c| etcd_index(&c.member).is_some_and(|i| i <= now))
        .count();
    if lost > 0 && now - lost < now / 2 + 1 {
        return Some(format!(
            "{lost} of the cluster's {now} etcd members lost their data volumes: the others hold no quorum to rebuild them from; start over with `pgha down --volumes`"
        ));
    }
    None
}

/// How many members the cluster's etcd has now: the highest member number among its etcd
/// containers and the spec's etcd volumes (0: no etcd yet). Members lost above the highest one
/// left are not seen here; `up` then finds etcd without a quorum and says so.
fn etcd_size(want: &Desired, have: &Inventory) -> usize {
    let containers = have
        .containers
        .iter()
        .filter(|o| o.kind == Some(Kind::Etcd))
        .filter_map(|o| etcd_index(&o.member));
    let volumes = want
        .containers
        .iter()
        .filter(|c| c.kind == Kind::Etcd)
        .filter(|c| {
            c.volumes
                .first()
                .is_some_and(|(v, _)| have.volumes.contains(v))
        })
        .filter_map(|c| etcd_index(&c.member));
    containers.chain(volumes).max().unwrap_or(0)
}

/// The spec's etcd members that must join the existing etcd cluster through its runtime
/// reconfiguration (`member add`, then a start with `--initial-cluster-state=existing`): new
/// members, and members whose data volume is gone (removed from the membership first). Members
/// that lost their data come first, then the new ones in order. Empty for a new cluster.
pub fn etcd_join(want: &Desired, have: &Inventory) -> Vec<Change> {
    let now = etcd_size(want, have);
    if now == 0 {
        return Vec::new();
    }
    let mut out: Vec<Change> = want
        .containers
        .iter()
        .filter(|c| c.kind == Kind::Etcd)
        .filter(|c| {
            have.container(&c.name).is_none()
                && !c
                    .volumes
                    .first()
                    .is_some_and(|(v, _)| have.volumes.contains(v))
        })
        .map(|c| Change {
            name: c.name.clone(),
            kind: Kind::Etcd,
            member: c.member.clone(),
            reason: if etcd_index(&c.member).is_some_and(|i| i <= now) {
                format!(
                    "{}'s data volume is gone: it leaves etcd's membership and joins again, empty",
                    c.member
                )
            } else {
                format!("the spec has {} as a new etcd member", c.member)
            },
        })
        .collect();
    out.sort_by_key(|c| (!c.reason.contains("is gone"), etcd_index(&c.member)));
    out
}
/// Wanted containers that do not run (gone, or in another state), one phrase each.
pub fn not_running(want: &Desired, have: &Inventory) -> Vec<String> {
    want.containers
        .iter()
        .filter_map(|c| match have.container(&c.name) {
            Some(o) if o.running => None,
            Some(o) => Some(format!("{} is {}", c.name, o.state)),
            None => Some(format!("{} is gone", c.name)),
        })
        .collect()
}

/// Whether a node's own `GET /patroni` shows it running: the leader as primary, any other member
/// streaming. `Err` says what it shows instead.
pub fn node_runs(status: &serde_json::Value) -> Result<(), String> {
    let (state, role) = (&status["state"], &status["role"]);
    let leads = role == "primary" || role == "master";
    if state == "running" && (leads || status["replication_state"] == "streaming") {
        return Ok(());
    }
    Err(format!(
        "{} {}{}",
        role.as_str().unwrap_or("?"),
        state.as_str().unwrap_or("?"),
        status["replication_state"]
            .as_str()
            .map(|r| format!(", {r}"))
            .unwrap_or_default()
    ))
}
