//! A continuous writer through HAProxy's primary port for tests: inserts increasing ids, records
//! every acknowledged one (so loss is counted, not guessed), and the longest gap between acks.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(i64, Instant)>>>,
    task: tokio::task::JoinHandle<()>,
}

pub struct Written {
    pub acked: Vec<i64>,
    pub longest_gap: Duration,
}

impl Writer {
    /// Starts writing into `table` (created beforehand with an `id bigint primary key` column).
    pub fn start(port: u16, password: &str, table: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let (s, a, pw, t) = (
            stop.clone(),
            acked.clone(),
            password.to_string(),
            table.to_string(),
        );
        let task = tokio::spawn(async move {
            let mut next: i64 = 1;
            let mut client: Option<tokio_postgres::Client> = None;
            while !s.load(Ordering::Relaxed) {
                if client.is_none() {
                    let mut cfg = tokio_postgres::Config::new();
                    cfg.host("127.0.0.1")
                        .port(port)
                        .user("postgres")
                        .password(&pw)
                        .dbname("postgres")
                        .connect_timeout(Duration::from_secs(1));
                    match tokio::time::timeout(
                        Duration::from_secs(2),
                        cfg.connect(tokio_postgres::NoTls),
                    )
                    .await
                    {
                        Ok(Ok((c, conn))) => {
                            tokio::spawn(async move {
                                let _ = conn.await;
                            });
                            client = Some(c);
                        }
                        _ => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    }
                }
                let c = client.as_ref().unwrap();
                let sql = format!("insert into {t} (id) values ($1)");
                let id = next;
                next += 1;
                match tokio::time::timeout(Duration::from_secs(5), c.execute(sql.as_str(), &[&id]))
                    .await
                {
                    Ok(Ok(_)) => a.lock().unwrap().push((id, Instant::now())),
                    // Failed or unknown: not acknowledged; reconnect.
                    _ => client = None,
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Writer { stop, acked, task }
    }

    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    pub async fn finish(self) -> Written {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let acked = self.acked.lock().unwrap().clone();
        let longest_gap = acked
            .windows(2)
            .map(|w| w[1].1.duration_since(w[0].1))
            .max()
            .unwrap_or_default();
        Written {
            acked: acked.into_iter().map(|(id, _)| id).collect(),
            longest_gap,
        }
    }
}
