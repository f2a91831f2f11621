//! Write probes through HAProxy: how soon after an operation does a write succeed again, and on
//! which server. The probe is `select txid_current()`: a real commit (it waits for the sync standby
//! like any write) that touches no table, and fails on a replica.

use crate::adapters::pg::{Pg, PgTarget};
use crate::wait::{wait_for, Check};
use anyhow::Result;
use std::time::{Duration, Instant};

/// A successful write: when (since `since`) and on which server address.
#[derive(Debug, Clone)]
pub struct Write {
    pub after: Duration,
    pub server: String,
}

/// One write attempt on a fresh connection; the server's address on success.
pub async fn write_once(target: &PgTarget) -> Result<String> {
    let pg = Pg::connect(target, Duration::from_secs(1)).await?;
    let addr = pg
        .query_text("select txid_current()::text || ' ' || coalesce(host(inet_server_addr()), '')")
        .await?
        .unwrap_or_default();
    Ok(addr
        .split_once(' ')
        .map(|(_, a)| a.to_string())
        .unwrap_or_default())
}

/// Waits for the first write through `target` that lands on `expect` (a server address), or on
/// any primary when `expect` is None.
pub async fn first_write(
    target: &PgTarget,
    expect: Option<&str>,
    since: Instant,
    timeout: Duration,
) -> Result<Write> {
    let w = wait_for(
        "a write through HAProxy's primary port",
        timeout,
        Duration::from_millis(50),
        None,
        || async {
            Ok(match write_once(target).await {
                Ok(server) if expect.is_none_or(|e| e == server) => Check::Ready(Write {
                    after: since.elapsed(),
                    server,
                }),
                Ok(server) => Check::NotYet(format!(
                    "the write landed on {server}, not on the new leader"
                )),
                Err(e) => Check::NotYet(format!("{e:#}")),
            })
        },
    )
    .await?;
    Ok(w)
}
