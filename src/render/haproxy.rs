//! HAProxy's config: a primary and a replica backend over every node, checked through
//! Patroni's REST API (over TLS with the cluster's CA when `[tls]` is on).

use super::{render, tls_ctx, TlsCtx};
use crate::spec::Spec;
use anyhow::{Context, Result};
use serde::Serialize;

#[derive(Serialize)]
struct HaproxyCtx<'a> {
    scope: &'a str,
    nodes: &'a [String],
    tls: Option<TlsCtx>,
}

pub fn haproxy_cfg(spec: &Spec) -> Result<String> {
    let ctx = HaproxyCtx {
        scope: &spec.name,
        nodes: &spec.nodes.names,
        tls: tls_ctx(spec),
    };
    render("haproxy.cfg.j2", &ctx).context("render haproxy.cfg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_lists_every_node_in_both_backends() {
        let spec = Spec::parse("[nodes]\nnames = [\"a\", \"b\"]", "t").unwrap();
        let cfg = haproxy_cfg(&spec).unwrap();
        assert_eq!(cfg.matches("server a a:5432").count(), 2);
        assert_eq!(cfg.matches("server b b:5432").count(), 2);
        assert!(cfg.contains("uri /primary") && cfg.contains("uri /replica"));
        assert!(cfg.contains("on-marked-down shutdown-sessions"));
    }
}
