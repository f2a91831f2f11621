//! The global options and what they select: the spec's source, an external cluster's etcd
//! target and credentials (--etcd, --scope, --cacert...), and confirmation of destructive
//! operations. A command reaches all of it through its `ops::session::Session`.

use crate::adapters::dcs::{endpoint_urls, EtcdAuth, Target};
use crate::cli::Global;
use crate::secrets::exposure;
use crate::spec::{Spec, DEFAULT_SPEC_TOML};
use crate::tls::ClientTls;
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

    /// Reads the spec: --spec FILE, else ./pgha.toml, else the built-in default. Validated.
    /// A command reads it once, through its `ops::session::Session`.
    pub fn read_spec(&self) -> Result<Spec> {
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

    /// Where an external cluster's Patroni state is (--etcd/--scope); `None` without --etcd.
    pub fn external_target(&self) -> Result<Option<Target>> {
        if !self.external() {
            return Ok(None);
        }
        let Some(scope) = self.global.scope.clone() else {
            usage!("--etcd needs --scope NAME (the Patroni scope of the cluster to read)")
        };
        let user = match &self.global.etcd_user {
            None => None,
            Some(u) => Some((u.clone(), password_env("--etcd-user", ETCD_PASSWORD_ENV)?)),
        };
        let auth = EtcdAuth {
            tls: self.external_tls()?,
            user,
        };
        if auth.user.is_some() {
            for url in endpoint_urls(&self.global.etcd, &auth) {
                let allow = self.global.allow_plaintext_credentials;
                if let Err(why) = exposure::etcd_credentials_allowed(&url, allow) {
                    usage!("{why}");
                }
            }
        }
        Ok(Some(Target {
            endpoints: self.global.etcd.clone(),
            namespace: self.global.namespace.clone(),
            scope,
            auth,
        }))
    }

    /// Where the Patroni state of `spec`'s cluster is (--scope may name another scope).
    pub fn spec_target(&self, spec: &Spec) -> Result<Target> {
        Ok(Target {
            endpoints: spec.etcd_endpoints(),
            namespace: self.global.namespace.clone(),
            auth: crate::security::etcd_auth(spec)?,
            scope: self
                .global
                .scope
                .clone()
                .unwrap_or_else(|| spec.name.clone()),
        })
    }

    /// --cacert/--cert/--key for a cluster pgha did not make (None without --cacert or --cert).
    pub fn external_tls(&self) -> Result<Option<ClientTls>> {
        let g = &self.global;
        if g.cacert.is_none() && g.cert.is_none() {
            return Ok(None);
        }
        let read = |flag: &str, p: &PathBuf| -> Result<String> {
            match std::fs::read_to_string(p) {
                Ok(t) => Ok(t),
                Err(e) => usage!("{flag} {}: {e}", p.display()),
            }
        };
        let ca = g.cacert.as_ref().map(|p| read("--cacert", p)).transpose()?;
        let identity = match (&g.cert, &g.key) {
            (Some(c), Some(k)) => Some((read("--cert", c)?, read("--key", k)?)),
            _ => None,
        };
        if ca.is_none() {
            usage!("--cert needs --cacert (the CA the servers' certificates are checked against)");
        }
        Ok(Some(ClientTls { ca, identity }))
    }

    /// --rest-user with $PGHA_REST_PASSWORD, for a cluster pgha did not make.
    pub fn external_rest_auth(&self) -> Result<Option<(String, String)>> {
        match &self.global.rest_user {
            None => Ok(None),
            Some(u) => Ok(Some((
                u.clone(),
                password_env("--rest-user", REST_PASSWORD_ENV)?,
            ))),
        }
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

/// Where --etcd-user's and --rest-user's passwords come from (never argv).
pub const ETCD_PASSWORD_ENV: &str = "PGHA_ETCD_PASSWORD";
pub const REST_PASSWORD_ENV: &str = "PGHA_REST_PASSWORD";

fn password_env(flag: &str, var: &str) -> Result<String> {
    match std::env::var(var) {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => usage!("{flag} needs the password in ${var} (it is never read from the command line)"),
    }
}
