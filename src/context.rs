//! What every command starts from: the global options, the spec they select, and the ways to
//! reach the cluster (etcd target, Docker engine), plus confirmation of destructive operations.

use crate::adapters::dcs::{Dcs, Target};
use crate::adapters::docker::Engine;
use crate::cli::Global;
use crate::spec::{Spec, DEFAULT_SPEC_TOML};
use crate::usage;
use anyhow::{Context, Result};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

pub struct Ctx {
    pub global: Global,
}

/// Where the spec came from, for messages.
pub fn spec_source(global: &Global) -> Option<PathBuf> {
    if let Some(p) = &global.spec {
        return Some(p.clone());
    }
    let local = PathBuf::from("pgha.toml");
    local.exists().then_some(local)
}

impl Ctx {
    pub fn new(global: Global) -> Ctx {
        Ctx { global }
    }

    /// The spec: --spec FILE, else ./pgha.toml, else the built-in default. Validated.
    pub fn spec(&self) -> Result<Spec> {
        match spec_source(&self.global) {
            Some(path) => {
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        usage!(
                            "spec file {} not found; run `pgha init` to write one, or leave --spec out for the default",
                            path.display()
                        )
                    }
                    Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
                };
                Ok(Spec::parse(&text, &path.display().to_string())?)
            }
            None => Ok(Spec::parse(DEFAULT_SPEC_TOML, "built-in spec")?),
        }
    }

    /// True when the command targets a cluster pgha did not make (--etcd given).
    pub fn external(&self) -> bool {
        !self.global.etcd.is_empty()
    }

    /// Where the cluster's Patroni state is: --etcd/--scope, or the spec's etcd members.
    pub fn target(&self) -> Result<Target> {
        if self.external() {
            let Some(scope) = self.global.scope.clone() else {
                usage!("--etcd needs --scope NAME (the Patroni scope of the cluster to read)")
            };
            return Ok(Target {
                endpoints: self.global.etcd.clone(),
                namespace: self.global.namespace.clone(),
                scope,
            });
        }
        let spec = self.spec()?;
        Ok(Target {
            endpoints: spec.etcd_endpoints(),
            namespace: self.global.namespace.clone(),
            scope: self.global.scope.clone().unwrap_or(spec.name),
        })
    }

    pub async fn dcs(&self) -> Result<Dcs> {
        Dcs::connect(self.target()?).await
    }

    pub async fn engine(&self) -> Result<Engine> {
        Engine::connect().await
    }

    /// Asks before a destructive step: --yes, or "y" typed on a terminal. Otherwise a usage error.
    pub fn confirm(&self, question: &str) -> Result<()> {
        if self.global.yes {
            return Ok(());
        }
        if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
            usage!("{question}: not on a terminal, so pass --yes to confirm");
        }
        eprint!("{question} [y/N] ");
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            Ok(())
        } else {
            usage!("not confirmed; nothing was changed")
        }
    }
}
