//! Quiet on planned work: a silence in the cluster's Alertmanager over exactly what pgha is about
//! to act on (the members a switchover, restart or reinit touches; the whole cluster for `up`
//! when it makes or rolls it, for rotations and for `verify`'s drills), for as long as the step
//! runs, ended three scrape intervals after it (without waiting: the command returns at once). Faults pgha did not cause
//! still alert as fast as ever, and so does `failover --kill`: a crash drill is meant to page.
//! Without monitoring, or when Alertmanager does not answer, there is no silence and the step
//! goes on (said on stderr).

use crate::monitoring::api::{silence_body, Quieted};
use crate::progress::Progress;
use crate::spec::Spec;
use std::time::{Duration, SystemTime};

/// A silence pgha made; `end` it when the step is over.
pub struct Quiet {
    /// To reach Alertmanager again at the end (with the CA of then: the step may change it).
    spec: Spec,
    id: String,
    what: Quieted,
    starts: String,
    comment: String,
    grace: Duration,
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Silences `what` for `why` (e.g. "pgha switchover"), for at most `longest`. Retries for up to
/// `wait` while Alertmanager does not answer yet (`up` starts it with the cluster).
pub async fn quiet(
    spec: &Spec,
    what: Quieted,
    why: &str,
    longest: Duration,
    wait: Duration,
    p: &Progress,
) -> Option<Quiet> {
    if !spec.monitoring.enabled {
        return None;
    }
    let prom = match crate::security::prom(spec) {
        Ok(prom) => prom,
        Err(e) => {
            p.note(format!("warning: alerts not silenced for {why}: {e:#}"));
            return None;
        }
    };
    let now = SystemTime::now();
    let starts = rfc3339(now);
    let comment = format!("{why}: planned work by pgha (pid {})", std::process::id());
    let body = silence_body(&what, &starts, &rfc3339(now + longest), &comment, None);
    let t0 = std::time::Instant::now();
    loop {
        match prom.post_silence(&body).await {
            Ok(id) => {
                return Some(Quiet {
                    spec: spec.clone(),
                    id,
                    what,
                    starts,
                    comment,
                    grace: Duration::from_secs(3 * u64::from(spec.monitoring.scrape_interval)),
                })
            }
            Err(e) if t0.elapsed() >= wait => {
                p.note(format!("warning: alerts not silenced for {why}: {e:#}"));
                return None;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

impl Quiet {
    /// Ends the silence a few scrape intervals from now, without waiting: what the step left
    /// pending (a member seen down while it restarted) is seen up by then, and a fault after the
    /// step alerts at the latest when the silence ends. Alertmanager is reached with the CA of
    /// now (`certs rotate --ca` changes it under the step).
    pub async fn end(self, p: &Progress) {
        let prom = match crate::security::prom(&self.spec) {
            Ok(prom) => prom,
            Err(e) => {
                p.note(format!(
                    "warning: the silence {} stays until its end: {e:#}",
                    self.id
                ));
                return;
            }
        };
        let ends = rfc3339(SystemTime::now() + self.grace);
        let body = silence_body(
            &self.what,
            &self.starts,
            &ends,
            &self.comment,
            Some(&self.id),
        );
        if let Err(e) = prom.post_silence(&body).await {
            if prom.delete_silence(&self.id).await.is_err() {
                p.note(format!(
                    "warning: the silence {} stays until its end: {e:#}",
                    self.id
                ));
            }
        }
    }
}

/// Ends `q` when there is one.
pub async fn end(q: Option<Quiet>, p: &Progress) {
    if let Some(q) = q {
        q.end(p).await;
    }
}

/// For a command on a cluster pgha made (`access`): silences `members` for `why`; `None` for a
/// cluster named by --etcd, whose alerting is not pgha's.
pub async fn quiet_members(
    access: &crate::ops::access::Access,
    members: &[String],
    why: &str,
    longest: Duration,
    p: &Progress,
) -> Option<Quiet> {
    let (spec, _) = access.pgha.as_ref()?;
    quiet(
        spec,
        Quieted::Members(members.to_vec()),
        why,
        longest,
        Duration::ZERO,
        p,
    )
    .await
}
