//! One command's way to its cluster, built once per command and passed down: the global options
//! (`Ctx`, through `Deref`), the spec (read and validated once, or given: `restore --into`
//! passes the spec of the cluster it makes), the Docker engine, the etcd connection to the
//! cluster's Patroni state (connected when first asked, kept; `reconnect_dcs` after etcd's
//! members restarted), and REST/PostgreSQL access to its members (`Access`).

use crate::adapters::dcs::{Dcs, Target};
use crate::adapters::docker::Engine;
use crate::context::Ctx;
use crate::ops::access::{scope_refusal, Access};
use crate::spec::Spec;
use anyhow::Result;
use std::sync::OnceLock;
use tokio::sync::{Mutex, OnceCell};

pub struct Session {
    ctx: Ctx,
    spec: OnceLock<Spec>,
    engine: OnceCell<Engine>,
    dcs: Mutex<Option<Dcs>>,
    access: OnceLock<Access>,
}

impl std::ops::Deref for Session {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        &self.ctx
    }
}

impl Session {
    /// The session of a command run with these options; the spec is read when first asked.
    pub fn new(ctx: Ctx) -> Session {
        Session {
            ctx,
            spec: OnceLock::new(),
            engine: OnceCell::new(),
            dcs: Mutex::new(None),
            access: OnceLock::new(),
        }
    }

    /// A session for `spec`'s cluster, whatever spec the options name.
    pub fn with_spec(ctx: Ctx, spec: Spec) -> Session {
        let s = Session::new(ctx);
        let _ = s.spec.set(spec);
        s
    }

    /// A session for another cluster, `spec`'s (`restore --into` makes one), on the same engine.
    pub fn for_other_cluster(&self, ctx: Ctx, spec: Spec) -> Session {
        let s = Session::with_spec(ctx, spec);
        if let Some(e) = self.engine.get() {
            let _ = s.engine.set(e.clone());
        }
        s
    }

    /// The spec: --spec FILE, else ./pgha.toml, else the built-in default; validated, read once.
    pub fn spec(&self) -> Result<&Spec> {
        if let Some(s) = self.spec.get() {
            return Ok(s);
        }
        let read = self.ctx.read_spec()?;
        Ok(self.spec.get_or_init(|| read))
    }

    /// Where the cluster's Patroni state is: --etcd/--scope, or the spec's etcd members.
    pub fn target(&self) -> Result<Target> {
        match self.ctx.external_target()? {
            Some(t) => Ok(t),
            None => self.ctx.spec_target(self.spec()?),
        }
    }

    /// The Docker engine, connected once.
    pub async fn engine(&self) -> Result<&Engine> {
        self.engine.get_or_try_init(Engine::connect).await
    }

    /// The connection to the cluster's etcd (`target`), made when first asked and then kept.
    pub async fn dcs(&self) -> Result<Dcs> {
        let mut slot = self.dcs.lock().await;
        if let Some(d) = &*slot {
            return Ok(d.clone());
        }
        let d = Dcs::connect(self.target()?).await?;
        *slot = Some(d.clone());
        Ok(d)
    }

    /// A new connection to the cluster's etcd, kept from now on: after etcd's members restarted.
    pub async fn reconnect_dcs(&self) -> Result<Dcs> {
        let mut slot = self.dcs.lock().await;
        let d = Dcs::connect(self.target()?).await?;
        *slot = Some(d.clone());
        Ok(d)
    }

    /// The cluster's etcd through `endpoints` only (those that run before the rolling part of
    /// `up`): the kept connection when they are all of the target's.
    pub async fn dcs_through(&self, endpoints: Vec<String>) -> Result<Dcs> {
        let target = self.target()?;
        if endpoints == target.endpoints {
            return self.dcs().await;
        }
        Dcs::connect(Target {
            endpoints,
            ..target
        })
        .await
    }

    /// How to reach the members' REST APIs and PostgreSQL, built once.
    pub fn access(&self) -> Result<&Access> {
        if let Some(a) = self.access.get() {
            return Ok(a);
        }
        let built = if self.ctx.external() {
            Access::external(
                self.ctx.external_tls()?,
                self.ctx.external_rest_auth()?,
                self.ctx.global.allow_plaintext_credentials,
            )
        } else {
            Access::pgha(self.spec()?, self.ctx.global.scope.clone())?
        };
        Ok(self.access.get_or_init(|| built))
    }

    /// For a command that acts on Docker containers: refuses `--scope` without `--etcd` before
    /// anything else is read, then requires a cluster made by pgha (see `Access::require_pgha`).
    pub fn access_for_containers(&self, what: &str) -> Result<&Access> {
        if !self.ctx.external() {
            if let Some(scope) = &self.ctx.global.scope {
                scope_refusal(what, scope)?;
            }
        }
        let a = self.access()?;
        a.require_pgha(what)?;
        Ok(a)
    }
}
