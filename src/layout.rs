//! What a container's file system looks like: every path and in-container port pgha's
//! containers are built around, in one place. Plans mount volumes and put files at these paths,
//! renderings point the programs at them, scripts run against them. Pure constants.
//!
//! - Every container: `/etc/pgha/` (`PGHA_DIR`) holds what pgha puts in (configs, secrets,
//!   certificates). Certificates are in `TLS_DIR` (HAProxy's in `HAPROXY_DIR`), owned by the
//!   process's user.
//! - Node containers (Patroni, PostgreSQL, pgBackRest, the exporters): the data volume at
//!   `NODE_DATA`, the cluster directory at `PGDATA` inside it; Patroni's config folder at
//!   `PATRONI_CONFIG_DIR` (`00-patroni.yml`, `90-secrets.yml`), libpq's password file at
//!   `NODE_PGPASS`; with `[backup]` the repository volume at `REPO_PATH` and pgBackRest's
//!   config at `PGBACKREST_CONF`, its TLS server on `PGBACKREST_TLS_PORT`; a restored cluster's
//!   source repository read-only at `SOURCE_REPO_PATH`; the exporters' files in `EXPORTERS_DIR`
//!   (the node exporter watches `NODE_EXPORTER_MOUNTS`). PostgreSQL's socket is in
//!   `PG_SOCKET_DIR`; a tool container's recovery logs to `RECOVERY_LOG`.
//! - etcd containers: the data volume at `ETCD_DATA`, etcd's data directory `ETCD_DATA_DIR`.
//! - HAProxy: its config, CA and client certificate in `HAPROXY_DIR`.
//! - Ports: each program listens on its usual port inside the network (`PG_PORT`, `REST_PORT`,
//!   etcd's, HAProxy's, the exporters'); the spec publishes them on host ports.
//! - Monitoring (`[monitoring]`): Prometheus's config in `PROMETHEUS_DIR` and its data volume at
//!   `PROMETHEUS_DATA`; Alertmanager's config in `ALERTMANAGER_DIR` and its state at
//!   `ALERTMANAGER_DATA`, both under the prometheus user's `PROMETHEUS_HOME`; their web configs
//!   (`*_WEB_CONFIG`) and the certificate they serve (`WEB_CERT`).
//! - The node image (`image`) makes the volumes' folders, owned by their users.

/// What pgha puts into a container (configs, secrets, certificates), in folders below.
pub const PGHA_DIR: &str = "/etc/pgha";
/// The certificates of a container's own process (CA, its certificate and key, client ones).
pub const TLS_DIR: &str = "/etc/pgha/tls";
/// HAProxy's config, CA and client certificate, inside its container.
pub const HAPROXY_DIR: &str = "/etc/pgha/haproxy";
/// The file HAProxy runs with.
pub const HAPROXY_CFG: &str = "/etc/pgha/haproxy/haproxy.cfg";

/// PostgreSQL's Unix socket folder in node containers (`unix_socket_directories` in
/// `templates/patroni.yml.j2` writes the same); local `psql` and pgBackRest connect through it.
pub const PG_SOCKET_DIR: &str = "/tmp";
/// The log of a tool container's PostgreSQL (the restore recoveries start it alone).
pub const RECOVERY_LOG: &str = "/tmp/recovery.log";

/// Where a node container mounts its data volume.
pub const NODE_DATA: &str = "/var/lib/postgresql/data";
/// PostgreSQL's data directory, inside the node's data volume.
pub const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
/// A libpq password file in node containers, for `pgha psql` (no password on a command line).
pub const NODE_PGPASS: &str = "/etc/pgha/pgpass";
/// Where Patroni's config folder lives in a node container.
pub const PATRONI_CONFIG_DIR: &str = "/etc/pgha/patroni";

/// Where the node containers mount their cluster's repository.
pub const REPO_PATH: &str = "/var/lib/pgbackrest";
/// Where a restored cluster's nodes mount the repository they restore from (read-only).
pub const SOURCE_REPO_PATH: &str = "/var/lib/pgbackrest-source";
/// pgBackRest's configuration in the node containers; `PGBACKREST_CONFIG` in their environment
/// points every pgbackrest process (PostgreSQL's archiver, Patroni's, `docker exec`) at it.
pub const PGBACKREST_CONF: &str = "/etc/pgha/pgbackrest.conf";
/// pgBackRest's TLS server port on every node (its default).
pub const PGBACKREST_TLS_PORT: u16 = 8432;

/// Where an etcd container mounts its data volume, and etcd's data directory inside it.
pub const ETCD_DATA: &str = "/var/lib/etcd";
pub const ETCD_DATA_DIR: &str = "/var/lib/etcd/data";

/// Config folders inside the monitoring and node containers.
pub const PROMETHEUS_DIR: &str = "/etc/pgha/prometheus";
pub const ALERTMANAGER_DIR: &str = "/etc/pgha/alertmanager";
pub const EXPORTERS_DIR: &str = "/etc/pgha/exporters";
/// Prometheus's and Alertmanager's web config (basic auth; TLS with `[tls]` on), each in its
/// config folder; the password Prometheus logs in to itself and to Alertmanager with; the
/// certificate and key they serve (each container's own leaf).
pub const PROMETHEUS_WEB_CONFIG: &str = "/etc/pgha/prometheus/web.yml";
pub const ALERTMANAGER_WEB_CONFIG: &str = "/etc/pgha/alertmanager/web.yml";
pub const PROMETHEUS_WEB_PASS: &str = "/etc/pgha/prometheus/web.pass";
pub const WEB_CERT: &str = "/etc/pgha/tls/web.crt";
pub const WEB_KEY: &str = "/etc/pgha/tls/web.key";
/// The prometheus user's home, holding Prometheus's data (a named volume) and Alertmanager's
/// (silences, notification log).
pub const PROMETHEUS_HOME: &str = "/var/lib/prometheus";
pub const PROMETHEUS_DATA: &str = "/var/lib/prometheus/data";
pub const ALERTMANAGER_DATA: &str = "/var/lib/prometheus/alertmanager";
/// The node exporter's mount-point filter: the node's data volume and repository volume
/// (`NODE_DATA`, `REPO_PATH`).
pub const NODE_EXPORTER_MOUNTS: &str = "^/var/lib/(postgresql/data|pgbackrest)$";

/// Ports inside the cluster network (what the containers listen on; the host ports are the
/// spec's). The templates in `templates/` write the same numbers.
pub const PG_PORT: u16 = 5432;
/// Patroni's REST API.
pub const REST_PORT: u16 = 8008;
pub const ETCD_CLIENT_PORT: u16 = 2379;
pub const ETCD_PEER_PORT: u16 = 2380;
pub const HAPROXY_PRIMARY_PORT: u16 = 5000;
pub const HAPROXY_REPLICA_PORT: u16 = 5001;
pub const HAPROXY_STATS_PORT: u16 = 7000;
pub const PROMETHEUS_PORT: u16 = 9090;
pub const ALERTMANAGER_PORT: u16 = 9093;
/// The exporters in every node container.
pub const POSTGRES_EXPORTER_PORT: u16 = 9187;
pub const NODE_EXPORTER_PORT: u16 = 9100;
pub const PGBACKREST_EXPORTER_PORT: u16 = 9854;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_paths_nest_as_the_module_says() {
        assert!(PGDATA.starts_with(&format!("{NODE_DATA}/")));
        assert!(ETCD_DATA_DIR.starts_with(&format!("{ETCD_DATA}/")));
        for d in [PROMETHEUS_DATA, ALERTMANAGER_DATA] {
            assert!(d.starts_with(&format!("{PROMETHEUS_HOME}/")), "{d}");
        }
        for d in [
            TLS_DIR,
            HAPROXY_DIR,
            NODE_PGPASS,
            PATRONI_CONFIG_DIR,
            PGBACKREST_CONF,
            PROMETHEUS_DIR,
            ALERTMANAGER_DIR,
            EXPORTERS_DIR,
        ] {
            assert!(d.starts_with(&format!("{PGHA_DIR}/")), "{d}");
        }
        assert!(HAPROXY_CFG.starts_with(&format!("{HAPROXY_DIR}/")));
        for f in [PROMETHEUS_WEB_CONFIG, PROMETHEUS_WEB_PASS] {
            assert!(f.starts_with(&format!("{PROMETHEUS_DIR}/")), "{f}");
        }
        assert!(ALERTMANAGER_WEB_CONFIG.starts_with(&format!("{ALERTMANAGER_DIR}/")));
        for f in [WEB_CERT, WEB_KEY] {
            assert!(f.starts_with(&format!("{TLS_DIR}/")), "{f}");
        }
        assert!(RECOVERY_LOG.starts_with(&format!("{PG_SOCKET_DIR}/")));
        // The node exporter watches exactly the data and repository volumes.
        let under = |p: &'static str| p.strip_prefix("/var/lib/").expect("under /var/lib");
        assert_eq!(
            NODE_EXPORTER_MOUNTS,
            format!("^/var/lib/({}|{})$", under(NODE_DATA), under(REPO_PATH))
        );
    }
}
