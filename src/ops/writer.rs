//! A continuous writer through HAProxy's primary port, for `verify` and the benchmark: inserts
//! increasing ids into a table, records every acknowledged one (so loss is counted, not guessed)
//! and the longest gap between two acknowledgements.

use crate::adapters::pg::{Pg, PgTarget};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(i64, Instant)>>>,
    task: tokio::task::JoinHandle<()>,
}

/// What a writer got acknowledged.
#[derive(Debug, Clone)]
pub struct Written {
    pub acked: Vec<i64>,
    /// When each id of `acked` was acknowledged.
    pub acked_at: Vec<Instant>,
    pub longest_gap: Duration,
}

impl Writer {
    /// Writes ids from `first` upward into `table` (which has an `id bigint` primary key).
    pub fn start(target: PgTarget, table: &str, first: i64) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (s, a) = (stop.clone(), acked.clone());
        let sql = format!("insert into {table} (id) values ($1) returning id");
        let task = tokio::spawn(async move {
            let mut next = first;
            let mut conn: Option<Pg> = None;
            while !s.load(Ordering::Relaxed) {
                if conn.is_none() {
                    match Pg::connect(&target, Duration::from_secs(1)).await {
                        Ok(c) => conn = Some(c),
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    }
                }
                let id = next;
                next += 1;
                let Some(c) = conn.as_ref() else { continue };
                match tokio::time::timeout(Duration::from_secs(5), c.insert_returning(&sql, id))
                    .await
                {
                    Ok(Ok(_)) => a
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((id, Instant::now())),
                    // Failed, or its fate unknown: not acknowledged. Reconnect.
                    _ => conn = None,
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Writer { stop, acked, task }
    }

    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub async fn finish(self) -> Written {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let acked = self.acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let acked_at: Vec<Instant> = acked.iter().map(|(_, t)| *t).collect();
        Written {
            longest_gap: longest_gap(&acked_at),
            acked: acked.into_iter().map(|(id, _)| id).collect(),
            acked_at,
        }
    }
}

/// The longest time between two consecutive instants.
pub fn longest_gap(times: &[Instant]) -> Duration {
    times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .max()
        .unwrap_or_default()
}

/// Acknowledged ids missing from `present`.
pub fn lost(acked: &[i64], present: &[i64]) -> Vec<i64> {
    let have: std::collections::HashSet<i64> = present.iter().copied().collect();
    acked
        .iter()
        .filter(|id| !have.contains(id))
        .copied()
        .collect()
}

/// The ids of `acked` missing from what `sql` (one `bigint` column) returns on `target`, read
/// again until none is missing or `replay` has passed (a replica may still be replaying). A node
/// that cannot be read by then is an error naming it.
pub async fn missing_after_replay(
    target: &PgTarget,
    sql: &str,
    acked: &[i64],
    replay: Duration,
) -> anyhow::Result<Vec<i64>> {
    let deadline = Instant::now() + replay;
    loop {
        let read = match Pg::connect(target, Duration::from_secs(2)).await {
            Ok(pg) => pg.query_i64s(sql).await,
            Err(e) => Err(e),
        };
        match read {
            Ok(present) => {
                let missing = lost(acked, &present);
                if missing.is_empty() || Instant::now() >= deadline {
                    return Ok(missing);
                }
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(e.context(format!("read {sql} on {}:{}", target.host, target.port)))
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_and_gap() {
        assert_eq!(lost(&[1, 2, 3], &[3, 1]), vec![2]);
        let t = Instant::now();
        let ts = [
            t,
            t + Duration::from_millis(10),
            t + Duration::from_millis(510),
        ];
        assert_eq!(longest_gap(&ts), Duration::from_millis(500));
        assert_eq!(longest_gap(&ts[..1]), Duration::ZERO);
    }

    #[tokio::test]
    async fn a_node_that_cannot_be_read_by_the_deadline_is_an_error_naming_it() {
        let nowhere = PgTarget {
            host: "127.0.0.1".into(),
            port: 1,
            user: "postgres".into(),
            password: String::new(),
            dbname: "postgres".into(),
            tls: None,
        };
        let e = missing_after_replay(
            &nowhere,
            "select 1::bigint",
            &[1],
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(format!("{e:#}").contains("127.0.0.1:1"), "{e:#}");
    }
}
