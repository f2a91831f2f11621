//! The spec's `[backup]` section: continuous WAL archiving and backups with pgBackRest into the
//! cluster's repository volume. Pure.

use serde::Deserialize;

/// `[backup]`: on by default. `archive_timeout` (seconds) bounds how much committed data a lost
/// cluster can cost when writes are rare: PostgreSQL switches to a new WAL segment, and so
/// archives the current one, at least that often.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backup {
    pub enabled: bool,
    pub archive_timeout: u32,
    /// Full backups kept; older ones (and the differential and incremental backups and WAL that
    /// depend on them) are expired after each backup.
    pub retention_full: u32,
    /// Differential backups kept per full backup (0: pgBackRest's default, all of them).
    pub retention_diff: u32,
}

impl Default for Backup {
    fn default() -> Self {
        Backup {
            enabled: true,
            archive_timeout: 60,
            retention_full: 2,
            retention_diff: 0,
        }
    }
}

impl Backup {
    pub fn problems(&self, p: &mut Vec<String>) {
        if self.archive_timeout != 0 && !(10..=86_400).contains(&self.archive_timeout) {
            p.push(format!(
                "backup.archive_timeout = {} is out of range: use 10 to 86400 seconds (0 turns the timer off)",
                self.archive_timeout
            ));
        }
        if !(1..=100).contains(&self.retention_full) {
            p.push(format!(
                "backup.retention_full = {}: keep 1 to 100 full backups",
                self.retention_full
            ));
        }
        if self.retention_diff > 100 {
            p.push(format!(
                "backup.retention_diff = {}: keep at most 100 differential backups (0 keeps them all)",
                self.retention_diff
            ));
        }
    }
}
