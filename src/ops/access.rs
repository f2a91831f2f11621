//! How commands reach a cluster's members: Patroni's REST API, PostgreSQL through HAProxy, and
//! (for clusters made by `pgha up`) their Docker containers. External clusters (--etcd/--scope)
//! are reached through the addresses their member keys advertise. A command's `Session` builds
//! its `Access` once.

use crate::adapters::patroni::Api;
use crate::adapters::pg::PgTarget;
use crate::secrets::{self, exposure, Secrets, REST_USER};
use crate::spec::names;
use crate::spec::Spec;
use crate::state::ClusterView;
use crate::usage;
use anyhow::{anyhow, Result};

pub struct Access {
    /// The spec and secrets of a pgha cluster; `None` for an external cluster.
    pub pgha: Option<(Spec, Secrets)>,
    /// `--scope` given without `--etcd`: etcd's state would be another cluster's than the
    /// spec's containers, so nothing may act on containers.
    scope_without_etcd: Option<String>,
    /// --cacert/--cert/--key and --rest-user for an external cluster's REST API.
    external_tls: Option<crate::tls::ClientTls>,
    external_rest: Option<(String, String)>,
    /// --allow-plaintext-credentials: --rest-user's password may go to an http `api_url`.
    allow_plaintext: bool,
}

/// Node `i`'s published REST API of a cluster pgha made, logging in with `s`'s password (the
/// secrets file's, or a rotation's new one).
pub fn node_api(spec: &Spec, i: usize, s: &Secrets) -> Result<Api> {
    Ok(Api {
        base: crate::security::api_base(spec, i),
        auth: Some((REST_USER.to_string(), s.restapi_password.clone())),
        tls: crate::security::client_tls(spec)?,
    })
}

impl Access {
    /// A cluster pgha did not make (--etcd): its REST API with --cacert/--cert/--key and
    /// --rest-user (over http only with `allow_plaintext`).
    pub fn external(
        tls: Option<crate::tls::ClientTls>,
        rest: Option<(String, String)>,
        allow_plaintext: bool,
    ) -> Access {
        Access {
            pgha: None,
            scope_without_etcd: None,
            external_tls: tls,
            external_rest: rest,
            allow_plaintext,
        }
    }

    /// A cluster made by `pgha up`: its spec and secrets (`scope_without_etcd`: --scope given
    /// without --etcd). Refuses a cluster without secrets.
    pub fn pgha(spec: &Spec, scope_without_etcd: Option<String>) -> Result<Access> {
        let Some(s) = secrets::load(&spec.name)? else {
            usage!(
                "cluster {} has no secrets at {}; was it made by `pgha up` with this spec? (for another Patroni cluster use --etcd and --scope)",
                spec.name,
                secrets::secrets_path(&spec.name).display()
            );
        };
        Ok(Access {
            pgha: Some((spec.clone(), s)),
            scope_without_etcd,
            external_tls: None,
            external_rest: None,
            allow_plaintext: false,
        })
    }

    pub fn spec(&self) -> Option<&Spec> {
        self.pgha.as_ref().map(|(s, _)| s)
    }

    /// Only clusters made by pgha have containers pgha may touch, and only without `--scope`
    /// (which without `--etcd` would pair the spec's containers with another cluster's state).
    pub fn require_pgha(&self, what: &str) -> Result<(&Spec, &Secrets)> {
        if let Some(scope) = &self.scope_without_etcd {
            scope_refusal(what, scope)?;
        }
        match &self.pgha {
            Some((spec, s)) => Ok((spec, s)),
            None => usage!("{what} needs a cluster made by `pgha up` (it acts on Docker containers), not --etcd"),
        }
    }

    /// A member's REST API: the published port for pgha clusters, its `api_url` otherwise
    /// (refused when --rest-user's password would go to it over plain http).
    pub fn api(&self, view: &ClusterView, member: &str) -> Result<Api> {
        if let Some((spec, s)) = &self.pgha {
            if let Some(i) = spec.node_index(member) {
                return node_api(spec, i, s);
            }
        }
        let url = view
            .member(member)
            .and_then(|m| m.data.api_url.clone())
            .ok_or_else(|| anyhow!("member {member} advertises no REST API (api_url)"))?;
        if self.external_rest.is_some() {
            // An error (exit 1), not a usage error: a command may ask for a member's API after
            // it changed something (another member restarted first).
            exposure::rest_credentials_allowed(member, &url, self.allow_plaintext)
                .map_err(|why| anyhow!("{why}"))?;
        }
        Ok(Api {
            auth: self.external_rest.clone(),
            tls: self.external_tls.clone(),
            ..Api::from_api_url(&url)
        })
    }

    /// The member's container name (pgha clusters).
    pub fn container(&self, member: &str) -> Result<String> {
        let (spec, _) = self.require_pgha("this command")?;
        Ok(names::container_name(spec, member))
    }

    /// The superuser through HAProxy's primary port (pgha clusters).
    pub fn primary(&self) -> Option<PgTarget> {
        self.pgha
            .as_ref()
            .map(|(spec, s)| crate::ops::health::primary_target(spec, s))
    }

    /// The superuser on one member's own published port (pgha clusters).
    pub fn member_pg(&self, member: &str) -> Option<PgTarget> {
        let (spec, s) = self.pgha.as_ref()?;
        let i = spec.node_index(member)?;
        Some(crate::ops::health::pg_target(spec, spec.node_pg_port(i), s))
    }
}

pub fn scope_refusal(what: &str, scope: &str) -> Result<()> {
    usage!("{what} acts on the spec's Docker containers: --scope {scope} needs --etcd (another Patroni cluster), or leave --scope out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Kv;

    fn view(api_url: &str) -> ClusterView {
        let member = Kv {
            key: "/service/x/members/pg1".into(),
            value: serde_json::json!({"api_url": api_url, "role": "replica"}).to_string(),
            mod_revision: 1,
            lease: 0,
        };
        ClusterView::from_kvs("x", "/service/x/", &[member])
    }

    #[test]
    fn a_rest_password_goes_to_an_http_api_url_only_when_allowed() {
        let rest = Some(("admin".to_string(), "pw".to_string()));
        let plain = view("http://10.0.0.1:8008/patroni");
        let refused = Access::external(None, rest.clone(), false);
        let why = format!("{:#}", refused.api(&plain, "pg1").unwrap_err());
        assert!(
            why.starts_with(
                "member pg1 advertises its REST API at http://10.0.0.1:8008/patroni, plain http"
            ),
            "{why}"
        );
        let allowed = Access::external(None, rest.clone(), true);
        assert_eq!(
            allowed.api(&plain, "pg1").unwrap().base,
            "http://10.0.0.1:8008"
        );
        let tls = view("https://10.0.0.1:8008/patroni");
        assert!(refused.api(&tls, "pg1").is_ok());
        // No credentials, nothing to protect.
        assert!(Access::external(None, None, false)
            .api(&plain, "pg1")
            .is_ok());
    }
}
