//! What `up` wants: images, secrets and certificates, and the Docker objects they give
//! (`desired_for`, also what `plan` and `certs rotate` compare against).

use crate::adapters::docker::Engine;
use crate::ops::image;
use crate::plan::{self, Desired, LABEL_CLUSTER};
use crate::progress::Progress;
use crate::secrets::{self, Secrets};
use crate::spec::Spec;
use anyhow::{anyhow, bail, Result};

/// Everything `up` needs to know about the wanted cluster.
pub struct Prepared {
    pub desired: Desired,
    pub secrets: Secrets,
    pub images: image::Images,
    /// Certificates issued by this `prepare` (new, or replacing ones that were stale).
    pub issued: Vec<String>,
}

/// Images, secrets and rendered configs → the wanted Docker objects.
pub async fn prepare(spec: &Spec, engine: &Engine, p: &Progress, build: bool) -> Result<Prepared> {
    let images = image::resolve(spec, engine, p, build).await?;
    if secrets::load(&spec.name)?.is_none() {
        let inv = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
        if !inv.volumes.is_empty() {
            bail!(
                "cluster {} has data volumes ({}) but its secrets file {} is missing; restore that file, or remove the data with `pgha down --volumes`",
                spec.name,
                inv.volumes.join(", "),
                secrets::secrets_path(&spec.name).display()
            );
        }
    }
    // Under the cluster's lock (`up`, `restore` hold it): one set of passwords, ever.
    let secrets = secrets::load_or_create(&spec.name)?.0;
    // The certificates (`[tls]`, and pgBackRest's TLS server): made once, kept with the
    // secrets, reissued when they near their end.
    let (tls, issued) = if spec.backup.enabled || spec.tls.enabled {
        crate::tls::ensure_all(spec, false)?
    } else {
        Default::default()
    };
    let mut desired = desired_for(spec, &images, &secrets, &tls)?;
    desired.image_ids = image::image_ids(engine, &desired).await?;
    Ok(Prepared {
        desired,
        secrets,
        images,
        issued,
    })
}

/// The wanted containers of `spec` with `secrets`, for putting files into the running cluster:
/// its images as they are (resolved, never built) and its certificates (issued where missing or
/// stale, all of them with `reissue_all`). Returns the stems it issued too. What `certs rotate`,
/// a CA rotation's phases and `passwords rotate` put in place.
pub async fn desired_now(
    spec: &Spec,
    engine: &Engine,
    secrets: &Secrets,
    reissue_all: bool,
    p: &Progress,
) -> Result<(Desired, Vec<String>)> {
    let images = image::resolve(spec, engine, p, false).await?;
    let (tls, issued) = if reissue_all || spec.backup.enabled || spec.tls.enabled {
        crate::tls::ensure_all(spec, reissue_all)?
    } else {
        Default::default()
    };
    Ok((desired_for(spec, &images, secrets, &tls)?, issued))
}

/// The wanted Docker objects for `spec` with these images and secrets (rendered configs included).
pub fn desired_for(
    spec: &Spec,
    images: &image::Images,
    secrets: &Secrets,
    tls: &crate::tls::ClusterCerts,
) -> Result<Desired> {
    let files = crate::render::cluster_files(spec, tls)?;
    let secrets_yml = crate::render::patroni_secrets_yml(secrets, spec.tls.enabled);
    let pgpass = crate::render::node_pgpass(&secrets.superuser_password);
    let web_yml =
        crate::render::monitoring::monitoring_web_yml(spec, &secrets.monitoring_web_bcrypt);
    let passwords_yml = crate::render::monitoring::password_rules_yaml(
        &crate::secrets::rotate::changed_at(secrets, made_at(tls)),
    );
    plan::desired(
        spec,
        &plan::Inputs {
            node_image: &images.node,
            etcd_image: &images.etcd,
            haproxy_image: &images.haproxy,
            postgres_owner: &images.postgres,
            files: &files,
            secrets_yml: &secrets_yml,
            pgpass: &pgpass,
            tls,
            etcd_owner: &images.etcd_owner,
            haproxy_owner: &images.haproxy_owner,
            prometheus_owner: &images.prometheus,
            monitor_password: &secrets.monitor_password,
            monitoring_web_yml: &web_yml,
            monitoring_web_password: &secrets.monitoring_web_password,
            passwords_yml: &passwords_yml,
        },
    )
    .map_err(|why| anyhow!("{why}"))
}

/// When the cluster was made, as far as its files tell: its CA's start (none without TLS).
pub fn made_at(tls: &crate::tls::ClusterCerts) -> Option<i64> {
    crate::tls::facts(&tls.ca).ok().map(|f| f.not_before)
}
