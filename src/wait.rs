//! One way to wait: poll a check until it is ready or a deadline passes; on timeout the error
//! names what was awaited and the last state seen.

use crate::progress::Progress;
use std::future::Future;
use std::time::{Duration, Instant};

pub enum Check<T> {
    Ready(T),
    NotYet(String),
    /// Waiting longer cannot help: stop now with this error.
    Fail(anyhow::Error),
}

/// Why a wait ended without its condition.
#[derive(Debug)]
pub enum WaitError {
    Timeout(WaitTimeout),
    Failed(anyhow::Error),
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::Timeout(t) => t.fmt(f),
            WaitError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for WaitError {}

/// A wait that ran out of time.
#[derive(Debug)]
pub struct WaitTimeout {
    pub what: String,
    pub waited: Duration,
    pub last: String,
}

impl std::fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timed out after {:.0} s waiting for {}; last seen: {}",
            self.waited.as_secs_f64(),
            self.what,
            self.last
        )
    }
}

impl std::error::Error for WaitTimeout {}

/// Polls `check` every `interval` until it is ready or `timeout` passes. Errors from `check` count
/// as "not yet" (things are starting up) and are reported as the last state.
pub async fn wait_for<T, F, Fut>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    progress: Option<&Progress>,
    mut check: F,
) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Check<T>>>,
{
    let start = Instant::now();
    let mut last = String::from("nothing yet");
    loop {
        let remaining = timeout.saturating_sub(start.elapsed());
        let outcome = tokio::time::timeout(remaining.max(Duration::from_millis(1)), check()).await;
        match outcome {
            Ok(Ok(Check::Ready(v))) => return Ok(v),
            Ok(Ok(Check::NotYet(s))) => last = s,
            Ok(Ok(Check::Fail(e))) => return Err(WaitError::Failed(e)),
            Ok(Err(e)) => last = format!("{e:#}"),
            Err(_) => {}
        }
        if let Some(p) = progress {
            p.step(format!("waiting for {what}: {last}"));
        }
        if start.elapsed() >= timeout {
            return Err(WaitError::Timeout(WaitTimeout {
                what: what.to_string(),
                waited: start.elapsed(),
                last,
            }));
        }
        tokio::time::sleep(interval.min(timeout.saturating_sub(start.elapsed()))).await;
    }
}
