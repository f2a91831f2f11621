//! Rendering: the text of every file pgha puts into a container or `pgha render` writes, from the
//! spec (and the certificates, for the files that list them): Patroni's YAML per member, the HAProxy
//! config, pgBackRest's config, the monitoring configs (Prometheus, its rules, Alertmanager), the
//! exporters' files, and the files that carry the passwords (`secrets`: Patroni's secrets file,
//! the node and host password files). Templates are the minijinja files in `templates/` (embedded at build time).
//! Pure: `plan` places these texts into containers, `files::write_all` writes them to a folder.

use crate::layout;
use crate::spec::Spec;
use anyhow::{Context, Result};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

mod cluster;
mod haproxy;
pub mod monitoring;
mod patroni;
pub mod pgbackrest;
mod secrets;
pub use cluster::{cluster_files, ClusterFiles, MonitorFiles};
pub use haproxy::haproxy_cfg;
pub use patroni::patroni_yml;
pub use secrets::{host_pgpass, node_pgpass, patroni_secrets_yml};

const PATRONI_TEMPLATE: &str = include_str!("../../templates/patroni.yml.j2");
const HAPROXY_TEMPLATE: &str = include_str!("../../templates/haproxy.cfg.j2");
const PROMETHEUS_TEMPLATE: &str = include_str!("../../templates/prometheus.yml.j2");
const ALERTMANAGER_TEMPLATE: &str = include_str!("../../templates/alertmanager.yml.j2");

/// One rendered file, with its path relative to the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: String,
    pub contents: String,
}

/// Where the certificates are inside the containers (`[tls]` on).
#[derive(Serialize)]
pub(super) struct TlsCtx {
    dir: &'static str,
    haproxy_dir: &'static str,
}

pub(super) fn tls_ctx(spec: &Spec) -> Option<TlsCtx> {
    spec.tls.enabled.then_some(TlsCtx {
        dir: layout::TLS_DIR,
        haproxy_dir: layout::HAPROXY_DIR,
    })
}

fn env() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Values are validated names and numbers; YAML strings are quoted with `tojson` where needed.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()?,
    );
    env.add_template("patroni.yml.j2", PATRONI_TEMPLATE)
        .context("load template patroni.yml.j2")?;
    env.add_template("haproxy.cfg.j2", HAPROXY_TEMPLATE)
        .context("load template haproxy.cfg.j2")?;
    env.add_template("prometheus.yml.j2", PROMETHEUS_TEMPLATE)
        .context("load template prometheus.yml.j2")?;
    env.add_template("alertmanager.yml.j2", ALERTMANAGER_TEMPLATE)
        .context("load template alertmanager.yml.j2")?;
    Ok(env)
}

/// Renders one of the embedded templates with `ctx`.
pub(crate) fn render<T: Serialize>(template: &str, ctx: &T) -> Result<String> {
    Ok(env()?
        .get_template(template)?
        .render(minijinja::Value::from(minijinja::value::Serde(ctx)))?)
}

/// Every file of a cluster: `patroni/<member>.yml` per node, `haproxy/haproxy.cfg` and, with
/// `[monitoring]` on, Prometheus's config and rules and Alertmanager's config in `monitoring/`.
pub fn render_all(spec: &Spec) -> Result<Vec<RenderedFile>> {
    let mut out = Vec::new();
    for n in &spec.nodes.names {
        out.push(RenderedFile {
            path: format!("patroni/{n}.yml"),
            contents: patroni_yml(spec, n)?,
        });
    }
    out.push(RenderedFile {
        path: "haproxy/haproxy.cfg".into(),
        contents: haproxy_cfg(spec)?,
    });
    if spec.monitoring.enabled {
        for (name, contents) in [
            ("prometheus.yml", monitoring::prometheus_yml(spec)?),
            ("alerts.yml", monitoring::rules_yaml(spec)),
            ("alertmanager.yml", monitoring::alertmanager_yml(spec)?),
        ] {
            out.push(RenderedFile {
                path: format!("monitoring/{name}"),
                contents,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn repository_folders_are_the_rendering_of_the_default_spec() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for f in render_all(&Spec::default()).unwrap() {
            let on_disk = std::fs::read_to_string(root.join(&f.path))
                .unwrap_or_else(|e| panic!("read {}: {e} (run `pgha render`)", f.path));
            assert!(
                on_disk == f.contents,
                "{} differs from the rendering of the default spec; run `cargo run -- render` and commit",
                f.path
            );
        }
    }
}
