//! The monitoring parts of the wanted containers (`[monitoring]` on): the exporters' files in each
//! node container, and the Prometheus and Alertmanager containers with theirs: each its web
//! config (basic auth, and TLS with its own certificate), Prometheus the password it logs in
//! with. Whatever holds a password, a hash of one or the webhook URL is 0600 to the prometheus
//! user. Pure.

use super::tls_files::key_file;
use super::{ports, resources, ContainerSpec, FileSpec, Inputs, Kind};
use crate::layout;
use crate::layout::{ALERTMANAGER_DIR, EXPORTERS_DIR, PROMETHEUS_DIR};
use crate::monitoring;
use crate::spec::names::container_name;
use crate::spec::Spec;
use std::collections::BTreeMap;

fn file(path: String, contents: String, secret: bool) -> FileSpec {
    FileSpec {
        path,
        contents: contents.into_bytes(),
        mode: 0o644,
        uid: 0,
        gid: 0,
        secret,
    }
}

/// The exporters' queries, web config (TLS) and password file, in a node container.
pub(super) fn exporter_files(inp: &Inputs) -> Result<Vec<FileSpec>, String> {
    let d = EXPORTERS_DIR;
    let m = &inp.files.monitor;
    let mut files = vec![file(
        format!("{d}/queries.yml"),
        m.exporter_queries.clone(),
        false,
    )];
    if let Some(web) = &m.exporters_web {
        files.push(file(format!("{d}/web.yml"), web.clone(), false));
    }
    files.push(key_file(
        format!("{d}/monitor.pass"),
        inp.monitor_password,
        inp.postgres_owner,
    )?);
    Ok(files)
}

/// A file only the monitoring containers' user reads (0600; see `key_file`), in their config
/// hash unlike a key: the web config with its stored bcrypt hash, Alertmanager's config with
/// the webhook URL (which often holds a token).
fn private_config(path: String, contents: &str, inp: &Inputs) -> Result<FileSpec, String> {
    Ok(FileSpec {
        secret: false,
        ..key_file(path, contents, inp.prometheus_owner)?
    })
}

/// What Prometheus and Alertmanager both get: their web config, and with `[tls]` on the
/// certificate and key they serve (their own leaf, `member`'s).
fn web_files(
    spec: &Spec,
    inp: &Inputs,
    member: &str,
    web_config: &str,
) -> Result<Vec<FileSpec>, String> {
    let owner = inp.prometheus_owner;
    let mut files = vec![private_config(
        web_config.into(),
        inp.monitoring_web_yml,
        inp,
    )?];
    if spec.tls.enabled {
        if let Some((crt, key)) = inp.tls.get(member) {
            files.push(key_file(layout::WEB_CERT.into(), crt, owner)?);
            files.push(key_file(layout::WEB_KEY.into(), key, owner)?);
        }
    }
    Ok(files)
}

/// Prometheus (its data on `volume`) and Alertmanager.
pub(super) fn containers(
    spec: &Spec,
    inp: &Inputs,
    network: &str,
    volume: String,
) -> Result<Vec<ContainerSpec>, String> {
    let m = &inp.files.monitor;
    let mut prom_files = vec![
        file(
            format!("{PROMETHEUS_DIR}/prometheus.yml"),
            m.prometheus.clone(),
            false,
        ),
        file(
            format!("{PROMETHEUS_DIR}/alerts.yml"),
            m.alerts.clone(),
            false,
        ),
        // Rewritten in place by `certs rotate` (and Prometheus reloaded): not the container's
        // config, like the certificates themselves.
        file(
            format!("{PROMETHEUS_DIR}/certificates.yml"),
            m.certificates.clone(),
            true,
        ),
        // Rewritten in place by `passwords rotate`, like the certificates' ends.
        file(
            format!("{PROMETHEUS_DIR}/passwords.yml"),
            inp.passwords_yml.to_string(),
            true,
        ),
    ];
    prom_files.extend(web_files(
        spec,
        inp,
        crate::spec::names::PROMETHEUS,
        layout::PROMETHEUS_WEB_CONFIG,
    )?);
    // What Prometheus logs in to itself and to Alertmanager with.
    prom_files.push(key_file(
        layout::PROMETHEUS_WEB_PASS.into(),
        inp.monitoring_web_password,
        inp.prometheus_owner,
    )?);
    if spec.tls.enabled {
        let d = layout::TLS_DIR;
        let owner = inp.prometheus_owner;
        prom_files.push(key_file(format!("{d}/ca.crt"), &inp.tls.ca, owner)?);
        if let Some((crt, key)) = inp.tls.get(crate::tls::cert::PROMETHEUS_CLIENT) {
            prom_files.push(key_file(format!("{d}/prometheus.crt"), crt, owner)?);
            prom_files.push(key_file(format!("{d}/prometheus.key"), key, owner)?);
        }
    }
    let mut am_files = vec![private_config(
        format!("{ALERTMANAGER_DIR}/alertmanager.yml"),
        &m.alertmanager,
        inp,
    )?];
    am_files.extend(web_files(
        spec,
        inp,
        crate::spec::names::ALERTMANAGER,
        layout::ALERTMANAGER_WEB_CONFIG,
    )?);
    let make = |i: usize, member: &str, cmd: Vec<String>, volumes, files| ContainerSpec {
        name: container_name(spec, member),
        kind: Kind::Monitor,
        member: member.into(),
        image: inp.node_image.into(),
        cmd,
        user: Some("prometheus".into()),
        env: vec![],
        labels: BTreeMap::new(),
        ports: ports(spec, Kind::Monitor, i),
        volumes,
        ro_volumes: vec![],
        network: network.into(),
        init: true,
        stop_timeout: 10,
        resources: resources(spec, Kind::Monitor),
        files,
    };
    Ok(vec![
        make(
            0,
            crate::spec::names::PROMETHEUS,
            monitoring::prometheus_cmd(spec),
            vec![(volume, layout::PROMETHEUS_DATA.into())],
            prom_files,
        ),
        make(
            1,
            crate::spec::names::ALERTMANAGER,
            monitoring::alertmanager_cmd(),
            vec![],
            am_files,
        ),
    ])
}
