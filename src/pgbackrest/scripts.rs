//! The shell and command lines pgBackRest runs in the containers: Patroni's archive, restore and
//! replica commands, the restore bootstrap of `pgha restore --into`, a backup on a standby, and
//! the scripts of an in-place restore and of verify's restore test in a tool container.

use super::sql::{DATABASES_SQL, ROW_COUNTS_SQL};
use crate::layout::{
    PGBACKREST_TLS_PORT, PGDATA, PG_PORT, PG_SOCKET_DIR, RECOVERY_LOG, SOURCE_REPO_PATH, TLS_DIR,
};
use crate::spec::RestoreSource;

/// The options of a backup on a standby (pg1, local): the primary as pg2, reached through its
/// pgBackRest TLS server with the node's certificate.
pub fn standby_backup_options(primary: &str) -> Vec<String> {
    vec![
        "--backup-standby=y".into(),
        format!("--pg2-host={primary}"),
        "--pg2-host-type=tls".into(),
        format!("--pg2-host-port={PGBACKREST_TLS_PORT}"),
        format!("--pg2-host-cert-file={TLS_DIR}/node.crt"),
        format!("--pg2-host-key-file={TLS_DIR}/node.key"),
        format!("--pg2-host-ca-file={TLS_DIR}/ca.crt"),
        format!("--pg2-path={PGDATA}"),
        format!("--pg2-socket-path={PG_SOCKET_DIR}"),
        format!("--pg2-port={PG_PORT}"),
    ]
}

pub fn archive_command(stanza: &str) -> String {
    format!("pgbackrest --stanza={stanza} archive-push %p")
}

pub fn restore_command(stanza: &str) -> String {
    format!("pgbackrest --stanza={stanza} archive-get %f \"%p\"")
}

/// Patroni's replica method: a delta restore from the cluster's own repository, then WAL.
pub fn replica_command(stanza: &str) -> String {
    format!("pgbackrest --stanza={stanza} --delta restore")
}

/// Run by Patroni right after bootstrap, before any promotion, so the first timeline's WAL and
/// every later history file reach the archive. It never fails the bootstrap (Patroni would wipe
/// the new cluster and start over); `up` creates the stanza again and reports a failure.
pub fn post_bootstrap(stanza: &str) -> String {
    format!("sh -c 'pgbackrest --stanza={stanza} stanza-create || true' post-bootstrap")
}

/// Options that point pgBackRest at the source repository of a restore.
fn source_options(src: &RestoreSource) -> String {
    format!(
        "--stanza={} --repo1-path={SOURCE_REPO_PATH} --pg1-path={PGDATA}",
        src.stanza
    )
}

/// Patroni's custom bootstrap command of a restored cluster: restore the source's backup to the
/// target into the empty data folder. pgBackRest writes the recovery settings (restore_command,
/// recovery target, `promote` at the target), which Patroni keeps (`keep_existing_recovery_conf`).
pub fn bootstrap_command(src: &RestoreSource) -> String {
    format!(
        "sh -c 'mkdir -p -m 0700 {PGDATA} && pgbackrest {} {} restore'",
        source_options(src),
        src.options.join(" ")
    )
}

/// The restore_command of a restored cluster while it recovers: WAL from the source repository.
pub fn bootstrap_restore_command(src: &RestoreSource) -> String {
    format!("pgbackrest {} archive-get %f \"%p\"", source_options(src))
}

/// The script an in-place restore runs in a tool container on the first node's data volume
/// (PostgreSQL is stopped on every node): a delta restore to the target, then PostgreSQL alone
/// (no Patroni, which would rewrite the recovery settings and promote before the target) until
/// it promotes at the target on a new timeline, then a clean stop. Prints `timeline=N`.
pub fn in_place_script(stanza: &str, options: &[String], deadline_s: u32) -> String {
    format!(
        "set -e\n\
         pgbackrest --stanza={stanza} --delta {opts} restore\n\
         {promoted}\
         psql -h {PG_SOCKET_DIR} -XAtc checkpoint postgres >/dev/null\n\
         echo timeline=$(psql -h {PG_SOCKET_DIR} -XAtc 'select timeline_id from pg_control_checkpoint()' postgres)\n\
         pg_ctl -D {PGDATA} -m fast -w stop >/dev/null\n",
        opts = options.join(" "),
        promoted = start_until_promoted(
            "",
            deadline_s,
            "PostgreSQL did not reach the target and promote"
        )
    )
}

/// Shell lines of both tool-container recoveries: start PostgreSQL alone on the restored data
/// (no TCP listener and no TLS: a tool container has no certificates; `settings` added), then wait until it has promoted; when it stops or
/// `deadline_s` passes first, print `ERROR: <failure>` and its log's tail, and exit 1.
fn start_until_promoted(settings: &str, deadline_s: u32, failure: &str) -> String {
    format!(
        "pg_ctl -D {PGDATA} -l {RECOVERY_LOG} -o \"-c listen_addresses= -c ssl=off -c unix_socket_directories={PG_SOCKET_DIR}{settings}\" start >/dev/null\n\
         i=0\n\
         until [ \"$(psql -h {PG_SOCKET_DIR} -XAtc 'select pg_is_in_recovery()' postgres 2>/dev/null)\" = f ]; do\n\
           if ! pg_ctl -D {PGDATA} status >/dev/null || [ $i -ge {ticks} ]; then\n\
             echo 'ERROR: {failure}; its log:'; tail -n 15 {RECOVERY_LOG}; exit 1\n\
           fi\n\
           i=$((i+1)); sleep 0.5\n\
         done\n",
        ticks = deadline_s * 2
    )
}

/// The script of verify's restore test, in a tool container with an empty data volume: restore
/// the latest backup and all archived WAL, let PostgreSQL reach the end of it and promote, then
/// print `db<TAB>counts` per database (`ROW_COUNTS_SQL`) and stop.
pub fn restore_test_script(stanza: &str, deadline_s: u32) -> String {
    format!(
        "set -e\n\
         mkdir -p -m 0700 {PGDATA}\n\
         pgbackrest --stanza={stanza} restore >/dev/null\n\
         {promoted}\
         for db in $(psql -h {PG_SOCKET_DIR} -XAtc \"{dbs}\" postgres | tr ',' ' '); do\n\
           printf '%s\\t%s\\n' \"$db\" \"$(psql -h {PG_SOCKET_DIR} -XAtc \"{counts}\" \"$db\")\"\n\
         done\n\
         pg_ctl -D {PGDATA} -m fast -w stop >/dev/null\n",
        promoted = start_until_promoted(
            " -c archive_mode=off",
            deadline_s,
            "the restored copy did not reach the end of the archive"
        ),
        dbs = DATABASES_SQL.replace('"', "\\\""),
        counts = ROW_COUNTS_SQL.replace('"', "\\\"")
    )
}
