//! What pgBackRest and PostgreSQL say about the backups: `pgbackrest info --output=json` parsed
//! into what `backup list` shows, the archiver's row (`sql::ARCHIVER_SQL`), and WAL segment names
//! (which positions the archive lacks).

use serde::{Deserialize, Serialize};

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
