//! Patroni's config of each member (`00-patroni.yml`): the cluster's settings, the base
//! PostgreSQL parameters under the spec's, and archiving, restore and TLS when they are on.

use super::{render, tls_ctx, TlsCtx};
use crate::pgbackrest::scripts;
use crate::spec::Spec;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;

/// PostgreSQL parameters every pgha cluster starts with; `patroni.parameters` in the spec wins.
const BASE_PARAMETERS: &[(&str, &str)] = &[
    ("hot_standby", "on"),
    ("max_connections", "100"),
    ("max_replication_slots", "10"),
    ("max_wal_senders", "10"),
    ("password_encryption", "scram-sha-256"),
    ("wal_keep_size", "128MB"),
    ("wal_level", "replica"),
    ("wal_log_hints", "on"),
];

#[derive(Serialize)]
struct PatroniCtx<'a> {
    scope: &'a str,
    member: &'a str,
    etcd_hosts: Vec<String>,
    ttl: u32,
    loop_wait: u32,
    retry_timeout: u32,
    maximum_lag_on_failover: u64,
    synchronous_mode: bool,
    synchronous_mode_strict: bool,
    failsafe_mode: bool,
    parameters: BTreeMap<String, serde_json::Value>,
    backup: Option<BackupCtx>,
    restore: Option<RestoreCtx>,
    tls: Option<TlsCtx>,
}

/// Archiving and pgBackRest replica creation (`[backup]` on).
#[derive(Serialize)]
struct BackupCtx {
    archive_command: String,
    archive_timeout: u32,
    restore_command: String,
    replica_command: String,
    post_bootstrap: String,
}

/// The custom bootstrap of a cluster made by `pgha restore --into`.
#[derive(Serialize)]
struct RestoreCtx {
    command: String,
    restore_command: String,
}

fn parameters(spec: &Spec) -> BTreeMap<String, serde_json::Value> {
    let mut out: BTreeMap<String, serde_json::Value> = BASE_PARAMETERS
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    for (k, v) in &spec.patroni.parameters {
        // As `up` later writes it into the config key, so that both compare equal.
        out.insert(k.clone(), crate::dynconf::toml_param(v));
    }
    out
}

/// The Patroni config of one member.
pub fn patroni_yml(spec: &Spec, member: &str) -> Result<String> {
    let ctx = PatroniCtx {
        scope: &spec.name,
        member,
        etcd_hosts: spec.etcd_names(),
        ttl: spec.patroni.ttl,
        loop_wait: spec.patroni.loop_wait,
        retry_timeout: spec.patroni.retry_timeout,
        maximum_lag_on_failover: spec.patroni.maximum_lag_on_failover,
        synchronous_mode: spec.patroni.synchronous_mode,
        synchronous_mode_strict: spec.patroni.synchronous_mode_strict,
        failsafe_mode: spec.patroni.failsafe_mode,
        parameters: parameters(spec),
        backup: spec.backup.enabled.then(|| BackupCtx {
            archive_command: scripts::archive_command(&spec.name),
            archive_timeout: spec.backup.archive_timeout,
            restore_command: scripts::restore_command(&spec.name),
            replica_command: scripts::replica_command(&spec.name),
            post_bootstrap: scripts::post_bootstrap(&spec.name),
        }),
        restore: spec.bootstrap_from.as_ref().map(|src| RestoreCtx {
            command: scripts::bootstrap_command(src),
            restore_command: scripts::bootstrap_restore_command(src),
        }),
        tls: tls_ctx(spec),
    };
    render("patroni.yml.j2", &ctx).with_context(|| format!("render patroni.yml for {member}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::haproxy_cfg;

    #[test]
    fn rendered_patroni_yaml_parses_and_has_per_node_fields() {
        let spec = Spec::default();
        let yml = patroni_yml(&spec, "pg2").unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&yml).unwrap();
        assert_eq!(v["name"], "pg2");
        assert_eq!(v["scope"], "pgha");
        assert_eq!(v["restapi"]["connect_address"], "pg2:8008");
        assert_eq!(v["postgresql"]["connect_address"], "pg2:5432");
        assert_eq!(v["bootstrap"]["dcs"]["synchronous_mode"], true);
        assert_eq!(v["bootstrap"]["dcs"]["postgresql"]["use_pg_rewind"], true);
        assert_eq!(v["watchdog"]["mode"], "off");
        let hosts = v["etcd3"]["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 3);
        assert!(!yml.contains("password:"), "no secret in rendered files");
    }

    #[test]
    fn with_tls_every_part_uses_the_cluster_certificates_and_without_none_does() {
        let v: serde_json::Value =
            serde_saphyr::from_str(&patroni_yml(&Spec::default(), "pg1").unwrap()).unwrap();
        assert_eq!(v["restapi"]["verify_client"], "optional");
        assert_eq!(v["restapi"]["certfile"], "/etc/pgha/tls/node.crt");
        assert_eq!(v["ctl"]["certfile"], "/etc/pgha/tls/node.crt");
        assert_eq!(v["etcd3"]["protocol"], "https");
        assert_eq!(v["etcd3"]["cert"], "/etc/pgha/tls/etcd-client.crt");
        let pg = &v["postgresql"];
        assert_eq!(pg["parameters"]["ssl"], "on");
        assert_eq!(pg["parameters"]["ssl_min_protocol_version"], "TLSv1.3");
        assert_eq!(pg["parameters"]["archive_mode"], "on", "beside archiving");
        let repl = &pg["authentication"]["replication"];
        assert_eq!(repl["sslmode"], "verify-full");
        assert_eq!(repl["sslcert"], "/etc/pgha/tls/replicator.crt");
        let hba: Vec<&str> = pg["pg_hba"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(hba.iter().all(|l| !l.starts_with("host ")), "{hba:?}");
        assert!(hba.contains(&"hostnossl all all 0.0.0.0/0 reject"));
        assert!(hba.contains(&"hostssl replication replicator samenet cert"));
        // The user names the certificates carry (CN) and Patroni logs in as.
        let rewind_line = format!("hostssl all {} samenet cert", crate::secrets::REWIND_USER);
        assert!(hba.contains(&rewind_line.as_str()), "{hba:?}");
        let repl_line = format!(
            "hostssl replication {} samenet cert",
            crate::secrets::REPLICATION_USER
        );
        assert!(hba.contains(&repl_line.as_str()), "{hba:?}");
        assert_eq!(
            pg["authentication"]["rewind"]["sslcert"],
            "/etc/pgha/tls/rewind.crt"
        );
        assert_eq!(pg["use_unix_socket"], true);
        let hap = haproxy_cfg(&Spec::default()).unwrap();
        assert!(hap.contains("check port 8008 check-ssl verify required ca-file /etc/pgha/haproxy/ca.crt crt /etc/pgha/haproxy/client.pem verifyhost pg1"), "{hap}");

        let mut off = Spec::default();
        off.tls.enabled = false;
        let yml = patroni_yml(&off, "pg1").unwrap();
        let v: serde_json::Value = serde_saphyr::from_str(&yml).unwrap();
        assert!(v.get("ctl").is_none() && v["restapi"].get("certfile").is_none());
        assert!(v["etcd3"].get("protocol").is_none());
        assert!(v["postgresql"]["parameters"].get("ssl").is_none());
        assert!(yml.contains("- host all all samenet scram-sha-256"));
        assert!(!haproxy_cfg(&off).unwrap().contains("check-ssl"));
    }

    #[test]
    fn archiving_and_pgbackrest_replicas_are_on_by_default_and_off_with_backup_off() {
        let v: serde_json::Value =
            serde_saphyr::from_str(&patroni_yml(&Spec::default(), "pg1").unwrap()).unwrap();
        let pg = &v["postgresql"];
        assert_eq!(pg["parameters"]["archive_mode"], "on");
        assert_eq!(
            pg["parameters"]["archive_command"],
            "pgbackrest --stanza=pgha archive-push %p"
        );
        assert_eq!(pg["parameters"]["archive_timeout"], 60);
        assert_eq!(
            pg["recovery_conf"]["restore_command"],
            "pgbackrest --stanza=pgha archive-get %f \"%p\""
        );
        assert_eq!(pg["create_replica_methods"][0], "pgbackrest");
        assert_eq!(pg["create_replica_methods"][1], "basebackup");
        assert_eq!(pg["pgbackrest"]["keep_data"], true);
        assert!(v["bootstrap"]["post_bootstrap"]
            .as_str()
            .unwrap()
            .contains("stanza-create"));
        assert!(v["bootstrap"].get("method").is_none(), "initdb by default");

        let off = Spec::parse("[backup]\nenabled = false", "t").unwrap();
        let yml = patroni_yml(&off, "pg1").unwrap();
        assert!(!yml.contains("archive_"), "{yml}");
        assert!(!yml.contains("pgbackrest"), "{yml}");
    }

    #[test]
    fn a_restored_cluster_bootstraps_from_the_source_repository() {
        let spec = Spec {
            name: "copy".into(),
            bootstrap_from: Some(crate::spec::RestoreSource {
                stanza: "prod".into(),
                volume: "prod-backup".into(),
                options: crate::pgbackrest::Target::Time("2026-12-02 10:00:00+00".into()).options(),
            }),
            ..Spec::default()
        };
        let v: serde_json::Value =
            serde_saphyr::from_str(&patroni_yml(&spec, "pg1").unwrap()).unwrap();
        let b = &v["bootstrap"];
        assert_eq!(b["method"], "pgbackrest");
        let m = &b["pgbackrest"];
        assert_eq!(m["keep_existing_recovery_conf"], true);
        assert_eq!(m["recovery_conf"]["recovery_target_action"], "promote");
        let cmd = m["command"].as_str().unwrap();
        assert!(
            cmd.contains("--stanza=prod --repo1-path=/var/lib/pgbackrest-source"),
            "{cmd}"
        );
        assert!(
            cmd.contains("--type=time --target=\"2026-12-02 10:00:00+00\""),
            "{cmd}"
        );
        // It archives into its own stanza.
        assert_eq!(
            v["postgresql"]["parameters"]["archive_command"],
            "pgbackrest --stanza=copy archive-push %p"
        );
    }

    #[test]
    fn spec_parameters_override_the_base_ones() {
        let spec = Spec::parse(
            "[patroni.parameters]\nmax_connections = 200\nwork_mem = \"8MB\"",
            "t",
        )
        .unwrap();
        let v: serde_json::Value =
            serde_saphyr::from_str(&patroni_yml(&spec, "pg1").unwrap()).unwrap();
        let p = &v["bootstrap"]["dcs"]["postgresql"]["parameters"];
        assert_eq!(p["max_connections"], 200);
        assert_eq!(p["work_mem"], "8MB");
        assert_eq!(p["wal_level"], "replica");
    }
}
