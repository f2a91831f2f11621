//! What a container's file system looks like: every path and in-container port pgha's
//! containers are built around, in one place. Plans mount volumes and put files at these paths,
//! renderings point the programs at them, scripts run against them. Pure constants.
//!
//! - Every container: `/etc/pgha/` holds what pgha puts in (configs, secrets, certificates).
//!   Certificates are in `TLS_DIR` (HAProxy's in `HAPROXY_DIR`), owned by the process's user.
//! - Node containers (Patroni, PostgreSQL, pgBackRest, the exporters): the data volume at
//!   `NODE_DATA`, the cluster directory at `PGDATA` inside it; Patroni's config folder at
//!   `PATRONI_CONFIG_DIR` (`00-patroni.yml`, `90-secrets.yml`), libpq's password file at
//!   `NODE_PGPASS`; with `[backup]` the repository volume at `REPO_PATH` and pgBackRest's
//!   config at `PGBACKREST_CONF`, its TLS server on `PGBACKREST_TLS_PORT`; a restored cluster's
//!   source repository read-only at `SOURCE_REPO_PATH`; the exporters' files in `EXPORTERS_DIR`.
//! - etcd containers: the data volume at `ETCD_DATA`.
//! - HAProxy: its config, CA and client certificate in `HAPROXY_DIR`.
//! - Ports: each program listens on its usual port inside the network (`PG_PORT`, `REST_PORT`,
//!   etcd's, HAProxy's, the exporters'); the spec publishes them on host ports.
//! - Monitoring (`[monitoring]`): Prometheus's config in `PROMETHEUS_DIR` and its data volume at
//!   `PROMETHEUS_DATA`; Alertmanager's config in `ALERTMANAGER_DIR` and its state at
//!   `ALERTMANAGER_DATA`.

/// The certificates of a container's own process (CA, its certificate and key, client ones).
pub const TLS_DIR: &str = "/etc/pgha/tls";
/// HAProxy's config, CA and client certificate, inside its container.
pub const HAPROXY_DIR: &str = "/etc/pgha/haproxy";
/// The file HAProxy runs with.
pub const HAPROXY_CFG: &str = "/etc/pgha/haproxy/haproxy.cfg";

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

/// Where an etcd container mounts its data volume.
pub const ETCD_DATA: &str = "/var/lib/etcd";

/// Config folders inside the monitoring and node containers.
pub const PROMETHEUS_DIR: &str = "/etc/pgha/prometheus";
pub const ALERTMANAGER_DIR: &str = "/etc/pgha/alertmanager";
pub const EXPORTERS_DIR: &str = "/etc/pgha/exporters";
/// Prometheus's data (a named volume) and Alertmanager's (silences, notification log).
pub const PROMETHEUS_DATA: &str = "/var/lib/prometheus/data";
pub const ALERTMANAGER_DATA: &str = "/var/lib/prometheus/alertmanager";

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
