//! etcd membership changes of a rolling `up`, one member at a time through etcd's runtime
//! reconfiguration: a member joins (`member add`, then its container starts with the membership of
//! that moment and `--initial-cluster-state=existing`; one whose data volume is gone leaves the
//! membership first), or leaves (`member remove`, then its container and data go). After each,
//! every listed member must answer with a raft leader.

use super::Roller;
use crate::adapters::dcs::{move_etcd_leader_off, EtcdMember};
use crate::ops::health;
use crate::plan::{self, ContainerSpec};
use crate::spec::names;
use crate::wait::{wait_for, Check};
use anyhow::Result;
use std::time::Duration;

impl Roller<'_> {
    /// The published client endpoint of etcd member `etcdN`.
    fn etcd_endpoint(&self, name: &str) -> Option<String> {
        let i: usize = name.strip_prefix("etcd")?.parse().ok()?;
        Some(format!(
            "{}:{}",
            self.spec.connect_host(),
            self.spec.etcd_client_port(i.checked_sub(1)?)
        ))
    }

    /// Waits until every member of etcd's member list has started (has a name) and answers with
    /// a raft leader.
    pub(super) async fn wait_etcd(&self) -> Result<()> {
        let listed = wait_for(
            "every etcd member to start",
            self.timeout,
            health::POLL,
            Some(self.p),
            || async {
                let ms = self.dcs.etcd_members().await?;
                Ok(match ms.iter().find(|m| m.name.is_empty()) {
                    None => Check::Ready(ms),
                    Some(m) => Check::NotYet(format!(
                        "member at {} has not started",
                        m.peer_urls.join(",")
                    )),
                })
            },
        )
        .await?;
        let endpoints: Vec<String> = listed
            .iter()
            .filter_map(|m| self.etcd_endpoint(&m.name))
            .collect();
        health::wait_etcd(&self.dcs.target.auth, &endpoints, self.timeout, self.p).await
    }

    /// Replaces an etcd member's container, handing raft leadership to another member first when
    /// it leads (no election while it restarts).
    pub(super) async fn replace_etcd(&self, c: &ContainerSpec) -> Result<()> {
        if let Some(ep) = self.etcd_endpoint(&c.member) {
            if move_etcd_leader_off(&self.dcs.target.auth, &ep).await? {
                self.p.note(format!(
                    "etcd leadership moved off {} before its restart",
                    c.member
                ));
            }
        }
        self.replace(c).await?;
        self.wait_etcd().await
    }

    /// `member` joins etcd: out of the membership first if it is listed with lost data, added
    /// (unless an interrupted join added it already), then created and started into it.
    pub(super) async fn join_etcd(&self, member: &str, container: &str) -> Result<()> {
        let peer = plan::etcd_peer_url(self.spec, member);
        let at_peer = |ms: &[EtcdMember]| ms.iter().find(|m| m.peer_urls.contains(&peer)).cloned();
        let mut list = self.dcs.etcd_members().await?;
        if let Some(old) = at_peer(&list).filter(|m| !m.name.is_empty()) {
            self.remove_member(member, old.id).await?;
            self.p.note(format!(
                "{member} (its data is gone) left etcd's membership"
            ));
            list = self.dcs.etcd_members().await?;
        }
        if at_peer(&list).is_none() {
            // etcd refuses a new voting member until the last one has been connected for a few
            // seconds ("unhealthy cluster"): ask again until it takes it.
            list = wait_for(
                &format!("etcd to take {member} as a member"),
                self.timeout,
                Duration::from_secs(1),
                Some(self.p),
                || async {
                    let now = self.dcs.etcd_members().await?;
                    if at_peer(&now).is_some() {
                        return Ok(Check::Ready(now));
                    }
                    Ok(match self.dcs.add_etcd_member(&peer).await {
                        Ok(l) => Check::Ready(l),
                        Err(e) => Check::NotYet(format!("{e:#}")),
                    })
                },
            )
            .await?;
        }
        let pairs: Vec<(String, String)> = list
            .iter()
            .filter_map(|m| Some((m.name.clone(), m.peer_urls.first()?.clone())))
            .collect();
        let mut c = self.wanted(container)?.clone();
        c.cmd = plan::etcd_join_cmd(&c.cmd, &plan::etcd_initial_cluster(&pairs, member, &peer));
        self.engine.create_container(&c).await?;
        self.engine.start(&c.name).await?;
        self.p.note(format!(
            "{member} added to etcd's membership ({} members)",
            list.len()
        ));
        self.wait_etcd().await
    }

    /// Takes member `id` (`name`) out of etcd's membership, asking again while etcd refuses
    /// because a member joined moments ago ("unhealthy cluster").
    async fn remove_member(&self, name: &str, id: u64) -> Result<()> {
        wait_for(
            &format!("etcd to let {name} leave"),
            self.timeout,
            Duration::from_secs(1),
            Some(self.p),
            || async {
                if !self.dcs.etcd_members().await?.iter().any(|m| m.id == id) {
                    return Ok(Check::Ready(()));
                }
                Ok(match self.dcs.remove_etcd_member(id).await {
                    Ok(()) => Check::Ready(()),
                    Err(e) => Check::NotYet(format!("{e:#}")),
                })
            },
        )
        .await?;
        Ok(())
    }

    /// `member` leaves etcd's membership; its container and data volume go (a removed member's
    /// data cannot rejoin).
    pub(super) async fn remove_etcd(&self, member: &str, container: &str) -> Result<()> {
        if let Some(ep) = self.etcd_endpoint(member) {
            move_etcd_leader_off(&self.dcs.target.auth, &ep).await?;
        }
        let list = self.dcs.etcd_members().await?;
        if let Some(m) = list.iter().find(|m| m.name == member) {
            self.remove_member(member, m.id).await?;
        }
        self.take_down(container, 10).await?;
        let v = names::volume_name(self.spec, member);
        self.engine.remove_volume(&v).await?;
        self.p.note(format!(
            "{member} left etcd's membership ({} members); removed its container and volume {v}",
            list.len().saturating_sub(1)
        ));
        self.wait_etcd().await
    }
}
