//! One operator at a time: the exclusive lock a command that changes a cluster holds on the
//! cluster's state folder (`<state>/<cluster>/lock`) for its whole run. It is an `flock` on that
//! file, so the kernel releases it when the holder ends, however it ends (a SIGKILLed `pgha up`
//! leaves a file behind, never a lock). The holder writes who it is into the file (command, pid,
//! start time), which is what a refused command names.

use crate::secrets::cluster_dir;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Held while it lives; dropping it (or the process ending) releases the lock. Dropping it also
/// removes the lock file, and the folders taking it made when nothing else is in them, so that a
/// refused command on a cluster that does not exist leaves nothing behind.
#[derive(Debug)]
pub struct ClusterLock {
    file: File,
    path: PathBuf,
    /// The folders that did not exist before, deepest first.
    made: Vec<PathBuf>,
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        // Unlinked while still held: a taker that opened it meanwhile finds its path names
        // another file (or none) and opens again (see `acquire_in`).
        if names(&self.path, &self.file) {
            let _ = std::fs::remove_file(&self.path);
            // Only empty ones go: a cluster's secrets keep its folder.
            for dir in &self.made {
                if std::fs::remove_dir(dir).is_err() {
                    break;
                }
            }
        }
    }
}

/// `path` names the file `file` has open.
fn names(path: &std::path::Path, file: &File) -> bool {
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(p), Ok(f)) => p.ino() == f.ino() && p.dev() == f.dev(),
        _ => false,
    }
}

/// Who holds a cluster's lock, as its holder wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub command: String,
    pub pid: u32,
    pub since: String,
}

/// The lock file's text for a holder.
fn holder_text(h: &Holder) -> String {
    format!("command={}\npid={}\nsince={}\n", h.command, h.pid, h.since)
}

/// Reads `holder_text`; `None` when the holder had not written itself yet.
fn parse_holder(text: &str) -> Option<Holder> {
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_string)
    };
    Some(Holder {
        command: field("command")?,
        pid: field("pid")?.parse().ok()?,
        since: field("since")?,
    })
}

/// The one line a command that finds the lock taken exits with.
fn refusal(cluster: &str, holder: Option<&Holder>, waited: Duration) -> String {
    let who = match holder {
        Some(h) => format!("`{}` (pid {}, since {})", h.command, h.pid, h.since),
        None => "another pgha command".into(),
    };
    let waited = if waited.is_zero() {
        String::new()
    } else {
        format!(" (waited {} s)", waited.as_secs())
    };
    format!(
        "cluster {cluster} is being changed by {who}{waited}; wait for it, or pass --wait-lock 60"
    )
}

/// Takes `cluster`'s lock for `command` (e.g. "pgha up"), waiting up to `wait` for its holder.
/// Exits with one line naming the holder when it is still held after that.
pub async fn acquire(cluster: &str, command: &str, wait: Duration) -> Result<ClusterLock> {
    acquire_in(cluster_dir(cluster), cluster, command, wait).await
}

async fn acquire_in(
    dir: PathBuf,
    cluster: &str,
    command: &str,
    wait: Duration,
) -> Result<ClusterLock> {
    let path = dir.join("lock");
    let made: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(PathBuf::from)
        .collect();
    let start = Instant::now();
    loop {
        crate::files::private_dir(&dir)?;
        let mut file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => f,
            // The folder went between making it and opening (a holder's release removed it).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("open {}", path.display())),
        };
        match file.try_lock() {
            Ok(()) => {
                // A holder that released it (or removed the folder, `down --volumes`) unlinked the
                // file we locked: the lock is ours only if the path still names that file.
                if !names(&path, &file) {
                    continue;
                }
                let me = Holder {
                    command: command.to_string(),
                    pid: std::process::id(),
                    since: now_hms(),
                };
                file.set_len(0)
                    .and_then(|_| file.rewind())
                    .and_then(|_| file.write_all(holder_text(&me).as_bytes()))
                    .with_context(|| format!("write {}", path.display()))?;
                return Ok(ClusterLock { file, path, made });
            }
            Err(TryLockError::WouldBlock) => {
                if start.elapsed() >= wait {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    anyhow::bail!(refusal(cluster, parse_holder(&text).as_ref(), wait));
                }
                drop(file);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("lock {}", path.display()))
            }
        }
    }
}

/// The time of day in UTC, to the second: when a holder took the lock.
fn now_hms() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!("{:02}:{:02}:{:02} UTC", t.hour(), t.minute(), t.second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_taker_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("home").join("c");
        let first = acquire_in(d.clone(), "c", "pgha up", Duration::ZERO)
            .await
            .unwrap();
        let e = acquire_in(d.clone(), "c", "pgha down", Duration::from_millis(300))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cluster c is being changed by `pgha up` (pid "),
            "{e}"
        );
        drop(first);
        assert!(
            !d.exists(),
            "the lock file and the empty folder go with the lock"
        );
        let again = acquire_in(d.clone(), "c", "pgha down", Duration::ZERO).await;
        assert!(again.is_ok());
        let text = std::fs::read_to_string(d.join("lock")).unwrap();
        assert_eq!(parse_holder(&text).unwrap().command, "pgha down");
        std::fs::write(d.join("secrets.toml"), "").unwrap();
        drop(again);
        assert!(
            d.exists() && !d.join("lock").exists(),
            "a folder with secrets stays"
        );
    }

    #[tokio::test]
    async fn a_folder_removed_under_the_holder_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("c");
        let first = acquire_in(d.clone(), "c", "pgha down", Duration::ZERO)
            .await
            .unwrap();
        std::fs::remove_dir_all(&d).unwrap();
        // The folder's new lock file is free although the first still holds the removed one.
        let second = acquire_in(d.clone(), "c", "pgha up", Duration::ZERO).await;
        assert!(second.is_ok());
        drop(first);
    }

    #[test]
    fn the_holder_written_is_the_holder_read() {
        let h = Holder {
            command: "pgha up".into(),
            pid: 1234,
            since: "12:03:04 UTC".into(),
        };
        assert_eq!(parse_holder(&holder_text(&h)), Some(h));
        assert_eq!(parse_holder(""), None);
    }

    #[test]
    fn the_refusal_names_the_holder_and_what_to_do() {
        let h = Holder {
            command: "pgha up".into(),
            pid: 1234,
            since: "12:03:04 UTC".into(),
        };
        assert_eq!(
            refusal("pgha", Some(&h), Duration::ZERO),
            "cluster pgha is being changed by `pgha up` (pid 1234, since 12:03:04 UTC); wait for it, or pass --wait-lock 60"
        );
        assert_eq!(
            refusal("demo", None, Duration::from_secs(5)),
            "cluster demo is being changed by another pgha command (waited 5 s); wait for it, or pass --wait-lock 60"
        );
    }
}
