//! pgBackRest, the pure part: the repository layout every node shares, the configuration file
//! and the commands Patroni and PostgreSQL run (archive-push, archive-get, replica restore, the
//! restore bootstrap of `pgha restore --into`), restore targets, and the parse of
//! `pgbackrest info --output=json` into what `backup list` shows.
//!
//! The repository is a posix repository on one Docker volume (`<name>-backup`) that every node
//! mounts at `REPO_PATH`: all containers run on one Docker engine, so a shared volume gives every
//! node archive-push, archive-get and restore without a network hop, and needs no repository host
//! or SSH. Each node also runs `pgbackrest server` (TLS, the cluster's CA) so that a backup can
//! run on a standby: it copies the standby's files and reaches the primary through that server.

use crate::spec::RestoreSource;
use serde::{Deserialize, Serialize};

// The container layout, at the paths it had here before `layout` (kept for callers).
pub use crate::layout::{
    PGBACKREST_CONF as CONF_PATH, PGBACKREST_TLS_PORT as TLS_PORT, PGDATA, REPO_PATH,
    SOURCE_REPO_PATH, TLS_DIR,
};

pub use crate::spec::names::repo_volume;

/// The options of a backup on a standby (pg1, local): the primary as pg2, reached through its
/// pgBackRest TLS server with the node's certificate.
pub fn standby_backup_options(primary: &str) -> Vec<String> {
    vec![
        "--backup-standby=y".into(),
        format!("--pg2-host={primary}"),
        "--pg2-host-type=tls".into(),
        format!("--pg2-host-port={TLS_PORT}"),
        format!("--pg2-host-cert-file={TLS_DIR}/node.crt"),
        format!("--pg2-host-key-file={TLS_DIR}/node.key"),
        format!("--pg2-host-ca-file={TLS_DIR}/ca.crt"),
        format!("--pg2-path={PGDATA}"),
        "--pg2-socket-path=/tmp".into(),
        "--pg2-port=5432".into(),
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
         psql -h /tmp -XAtc checkpoint postgres >/dev/null\n\
         echo timeline=$(psql -h /tmp -XAtc 'select timeline_id from pg_control_checkpoint()' postgres)\n\
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
        "pg_ctl -D {PGDATA} -l /tmp/recovery.log -o \"-c listen_addresses= -c ssl=off -c unix_socket_directories=/tmp{settings}\" start >/dev/null\n\
         i=0\n\
         until [ \"$(psql -h /tmp -XAtc 'select pg_is_in_recovery()' postgres 2>/dev/null)\" = f ]; do\n\
           if ! pg_ctl -D {PGDATA} status >/dev/null || [ $i -ge {ticks} ]; then\n\
             echo 'ERROR: {failure}; its log:'; tail -n 15 /tmp/recovery.log; exit 1\n\
           fi\n\
           i=$((i+1)); sleep 0.5\n\
         done\n",
        ticks = deadline_s * 2
    )
}

/// One query that counts every user table's rows exactly: `schema.table=count,...` (empty when
/// the database has no table). The same text on the leader and on a restored copy compares them.
pub const ROW_COUNTS_SQL: &str = "select coalesce(string_agg(format('%I.%I', schemaname, relname)      || '=' || (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I',      schemaname, relname), false, true, '')))[1]::text, ',' order by schemaname, relname), '')      from pg_stat_user_tables";

/// The databases a restore test compares (every one that accepts connections but the templates).
pub const DATABASES_SQL: &str =
    "select string_agg(datname, ',' order by datname) from pg_database where datallowconn and not datistemplate";

/// The script of verify's restore test, in a tool container with an empty data volume: restore
/// the latest backup and all archived WAL, let PostgreSQL reach the end of it and promote, then
/// print `db<TAB>counts` per database (`ROW_COUNTS_SQL`) and stop.
pub fn restore_test_script(stanza: &str, deadline_s: u32) -> String {
    format!(
        "set -e\n\
         mkdir -p -m 0700 {PGDATA}\n\
         pgbackrest --stanza={stanza} restore >/dev/null\n\
         {promoted}\
         for db in $(psql -h /tmp -XAtc \"{dbs}\" postgres | tr ',' ' '); do\n\
           printf '%s\\t%s\\n' \"$db\" \"$(psql -h /tmp -XAtc \"{counts}\" \"$db\")\"\n\
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

/// What a restore recovers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Target {
    /// The end of the archived WAL.
    Latest,
    Time(String),
    Lsn(String),
    Xid(String),
    /// A restore point (`pgha backup --mark NAME`).
    Name(String),
}

impl Target {
    /// Checks the value; the error names what is wrong and how to write it.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Target::Latest => Ok(()),
            Target::Time(t) => check_time(t),
            Target::Lsn(l) => {
                let ok = l.split_once('/').is_some_and(|(a, b)| {
                    [a, b].iter().all(|p| {
                        !p.is_empty() && p.len() <= 8 && p.bytes().all(|c| c.is_ascii_hexdigit())
                    })
                });
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "--lsn {l:?} is not an LSN: write it as PostgreSQL prints one, e.g. 0/3000060"
                    ))
                }
            }
            Target::Xid(x) => {
                if !x.is_empty() && x.len() <= 20 && x.bytes().all(|c| c.is_ascii_digit()) {
                    Ok(())
                } else {
                    Err(format!(
                        "--xid {x:?} is not a transaction ID: give the number, e.g. 7654"
                    ))
                }
            }
            Target::Name(n) => check_mark(n).map_err(|e| format!("--name {n:?} {e}")),
        }
    }

    /// pgBackRest's options for this target. A target other than the end of the WAL stops there
    /// and promotes (`pause` does not work under Patroni's custom bootstrap).
    pub fn options(&self) -> Vec<String> {
        let (typ, target) = match self {
            Target::Latest => return vec![],
            Target::Time(t) => ("time", t),
            Target::Lsn(l) => ("lsn", l),
            Target::Xid(x) => ("xid", x),
            Target::Name(n) => ("name", n),
        };
        vec![
            format!("--type={typ}"),
            format!("--target=\"{target}\""),
            "--target-action=promote".into(),
        ]
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Latest => "the latest archived WAL".into(),
            Target::Time(t) => format!("time {t}"),
            Target::Lsn(l) => format!("LSN {l}"),
            Target::Xid(x) => format!("transaction {x}"),
            Target::Name(n) => format!("restore point {n:?}"),
        }
    }
}

/// A restore point's name (`backup --mark`): it travels in a shell command, so plain characters.
pub fn check_mark(n: &str) -> Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 63
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(
            "is not a usable restore point name: use 1-63 letters, digits, '-', '_', '.', ':'"
                .into(),
        )
    }
}

/// `YYYY-MM-DD HH:MM:SS[.frac][+HH[:MM]|Z]`, the form PostgreSQL's recovery_target_time reads.
fn check_time(t: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "--time {t:?} is not a timestamp: write it as YYYY-MM-DD HH:MM:SS with a zone, e.g. \"2026-12-02 10:15:00+00\""
        ))
    };
    let b = t.as_bytes();
    if b.len() < 19 {
        return bad();
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(|c| c.is_ascii_digit());
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b' ' || b[10] == b'T')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return bad();
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return bad();
        }
        rest = &frac[n..];
    }
    let zone_ok = rest == "Z"
        || (rest.len() >= 3
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest[1..]
                .split(':')
                .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_digit())));
    if !zone_ok {
        return Err(format!(
            "--time {t:?} has no time zone: add one (+00 for UTC), so the target does not depend on the server's zone"
        ));
    }
    Ok(())
}

/// PostgreSQL's archiver as `pg_stat_archiver` on the leader has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveStatus {
    pub archived_count: i64,
    pub failed_count: i64,
    pub last_archived_wal: Option<String>,
    /// Seconds since the last success / failure.
    pub last_archived_age_s: Option<i64>,
    pub last_failed_wal: Option<String>,
    pub last_failed_age_s: Option<i64>,
}

/// The SQL whose one text row `ArchiveStatus::parse` reads.
pub const ARCHIVER_SQL: &str = "select concat_ws('|', archived_count, failed_count,      coalesce(last_archived_wal, ''),      coalesce(extract(epoch from now() - last_archived_time)::bigint::text, ''),      coalesce(last_failed_wal, ''),      coalesce(extract(epoch from now() - last_failed_time)::bigint::text, ''))      from pg_stat_archiver";

impl ArchiveStatus {
    pub fn parse(row: &str) -> Option<ArchiveStatus> {
        let f: Vec<&str> = row.split('|').collect();
        if f.len() != 6 {
            return None;
        }
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let num = |s: &str| s.parse::<i64>().ok();
        Some(ArchiveStatus {
            archived_count: num(f[0])?,
            failed_count: num(f[1])?,
            last_archived_wal: text(f[2]),
            last_archived_age_s: num(f[3]),
            last_failed_wal: text(f[4]),
            last_failed_age_s: num(f[5]),
        })
    }

    /// The last attempt failed: a failure newer than the last success (or no success at all).
    pub fn failing(&self) -> bool {
        match (self.last_failed_age_s, self.last_archived_age_s) {
            (Some(f), Some(a)) => f < a,
            (Some(_), None) => true,
            _ => false,
        }
    }

    pub fn describe(&self) -> String {
        let age = |s: Option<i64>| s.map_or("?".into(), crate::output::fmt_age);
        if self.failing() {
            format!(
                "FAILING: {} could not be archived ({} ago; {} failures, last success {}); WAL piles up in pg_wal until archiving works: check the repository (`pgha logs` shows pgbackrest's error)",
                self.last_failed_wal.as_deref().unwrap_or("?"),
                age(self.last_failed_age_s),
                self.failed_count,
                self.last_archived_wal
                    .as_ref()
                    .map_or("never".to_string(), |w| format!("{w}, {} ago", age(self.last_archived_age_s)))
            )
        } else if let Some(w) = &self.last_archived_wal {
            format!(
                "ok: last {w} archived {} ago ({} archived)",
                age(self.last_archived_age_s),
                self.archived_count
            )
        } else {
            "ok: nothing to archive yet".into()
        }
    }
}

/// Unix seconds of a `--time` value that passed `Target::check`.
pub fn time_unix(t: &str) -> Option<i64> {
    let n = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, s) = (n(11..13)?, n(14..16)?, n(17..19)?);
    let zone = t[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone {
        "Z" => 0,
        z => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let mut parts = z[1..].split(':');
            let zh: i64 = parts.next()?.parse().ok()?;
            let zm: i64 = parts.next().map_or(Some(0), |m| m.parse().ok())?;
            sign * (zh * 3600 + zm * 60)
        }
    };
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// A backup label as pgBackRest writes them (`20261202-012345F`, `..._20261202-013000D`).
pub fn check_label(l: &str) -> Result<(), String> {
    let ok = (16..=40).contains(&l.len())
        && l.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'F' | b'D' | b'I'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--set {l:?} is not a backup label: copy one from `pgha backup list`, e.g. 20261202-012345F"
        ))
    }
}

/// One backup as `backup list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupRow {
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds.
    pub start: i64,
    pub stop: i64,
    /// Bytes of the database, and of this backup in the repository (compressed, its own files).
    pub database_bytes: u64,
    pub repository_bytes: u64,
    pub wal_start: String,
    pub wal_stop: String,
    pub lsn_start: String,
    pub lsn_stop: String,
    pub error: bool,
}

/// The stanza as `backup list` and `verify` see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StanzaInfo {
    pub stanza: String,
    /// pgBackRest's status: 0 ok, 2 no valid backups, 1 missing stanza path, ...
    pub status_code: i64,
    pub status: String,
    pub backups: Vec<BackupRow>,
    /// The archived WAL: the oldest and newest segment of the current database.
    pub wal_min: Option<String>,
    pub wal_max: Option<String>,
}

#[derive(Deserialize)]
struct RawStanza {
    name: String,
    #[serde(default)]
    status: RawStatus,
    #[serde(default)]
    backup: Vec<RawBackup>,
    #[serde(default)]
    archive: Vec<RawArchive>,
}

#[derive(Deserialize, Default)]
struct RawStatus {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct RawBackup {
    label: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    error: bool,
    timestamp: RawRange<i64>,
    #[serde(default)]
    archive: Option<RawRange<String>>,
    #[serde(default)]
    lsn: Option<RawRange<String>>,
    info: RawInfo,
}

#[derive(Deserialize)]
struct RawRange<T> {
    start: T,
    stop: T,
}

#[derive(Deserialize)]
struct RawInfo {
    size: u64,
    repository: RawRepo,
}

#[derive(Deserialize)]
struct RawRepo {
    delta: u64,
}

#[derive(Deserialize)]
struct RawArchive {
    #[serde(default)]
    min: Option<String>,
    #[serde(default)]
    max: Option<String>,
}

/// Parses `pgbackrest --stanza=X info --output=json` (an array with one stanza).
pub fn parse_info(json: &str, stanza: &str) -> Result<StanzaInfo, String> {
    let raw: Vec<RawStanza> = serde_json::from_str(json)
        .map_err(|e| format!("pgbackrest info printed no stanza list ({e})"))?;
    let Some(s) = raw.into_iter().find(|s| s.name == stanza) else {
        return Ok(StanzaInfo {
            stanza: stanza.into(),
            status_code: 1,
            status: "missing stanza".into(),
            backups: vec![],
            wal_min: None,
            wal_max: None,
        });
    };
    let backups = s
        .backup
        .into_iter()
        .map(|b| {
            let (wal_start, wal_stop) = b.archive.map(|a| (a.start, a.stop)).unwrap_or_default();
            let (lsn_start, lsn_stop) = b.lsn.map(|a| (a.start, a.stop)).unwrap_or_default();
            BackupRow {
                label: b.label,
                kind: b.kind,
                start: b.timestamp.start,
                stop: b.timestamp.stop,
                database_bytes: b.info.size,
                repository_bytes: b.info.repository.delta,
                wal_start,
                wal_stop,
                lsn_start,
                lsn_stop,
                error: b.error,
            }
        })
        .collect();
    // The last archive entry is the current database (after a stanza upgrade there are more).
    let last = s.archive.last();
    Ok(StanzaInfo {
        stanza: s.name,
        status_code: s.status.code,
        status: s.status.message,
        backups,
        wal_min: last.and_then(|a| a.min.clone()),
        wal_max: last.and_then(|a| a.max.clone()),
    })
}

/// A WAL segment name's timeline, log and segment numbers.
pub fn wal_parts(name: &str) -> Option<(u32, u32, u32)> {
    if name.len() != 24 || !name.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| u32::from_str_radix(&name[r], 16).ok();
    Some((n(0..8)?, n(8..16)?, n(16..24)?))
}

/// A segment's position in the WAL, whatever its timeline (16 MiB segments: 256 per log file).
fn position(name: &str) -> Option<u64> {
    let (_, log, seg) = wal_parts(name)?;
    Some(log as u64 * 256 + seg as u64)
}

/// The WAL positions from `from` up to (not including) `current`, the segment being written now,
/// that no archived segment of any timeline covers, named as on `from`'s timeline. Empty when
/// the archive is continuous. (A timeline switch starts the new timeline's segments where the
/// old one stopped, so each position needs one segment of some timeline.)
pub fn missing_segments(archived: &[String], from: &str, current: &str) -> Vec<String> {
    let (Some(a), Some(b), Some((tl, _, _))) = (position(from), position(current), wal_parts(from))
    else {
        return vec![];
    };
    let have: std::collections::BTreeSet<u64> =
        archived.iter().filter_map(|n| position(n)).collect();
    (a..b)
        .filter(|p| !have.contains(p))
        .map(|p| format!("{tl:08X}{:08X}{:08X}", p / 256, p % 256))
        .collect()
}

#[cfg(test)]
mod tests;
