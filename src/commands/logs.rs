//! `pgha logs [M] [--follow] [--tail N] [--since T]`: container logs through the Docker API. With
//! no member, every container of the cluster, interleaved in time order and prefixed by name, as
//! `docker compose logs` does.

use crate::cli::LogsArgs;
use crate::ops::session::Session;
use crate::plan::LABEL_CLUSTER;
use crate::usage;
use anyhow::Result;
use futures_util::stream::{select_all, StreamExt};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `--since`: a duration back from now (10m) or an RFC 3339 time, as Unix seconds.
pub fn parse_since(s: &str, now: SystemTime) -> Result<i64> {
    let t = if let Ok(d) = humantime::parse_duration(s) {
        now - d
    } else if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        t
    } else {
        usage!("--since {s}: use a duration like 10m or a time like 2026-11-27T10:00:00Z");
    };
    Ok(t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64)
}

/// Splits Docker's `<RFC 3339 timestamp> <text>` line.
fn split_ts(line: &str) -> (&str, &str) {
    line.split_once(' ').unwrap_or(("", line))
}

pub async fn run(session: &Session, args: &LogsArgs) -> Result<()> {
    let access = session.access()?;
    let (spec, _) = access.require_pgha("logs")?;
    let engine = session.engine().await?;
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, SystemTime::now()))
        .transpose()?;
    let inv = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
    let names: Vec<(String, String)> = match &args.member {
        Some(m) => {
            let c = access.container(m)?;
            if inv.container(&c).is_none() {
                usage!(
                    "{m} has no container in cluster {} (members: {})",
                    spec.name,
                    inv.containers
                        .iter()
                        .map(|c| c.member.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            vec![(m.clone(), c)]
        }
        None => inv
            .containers
            .iter()
            .map(|c| (c.member.clone(), c.name.clone()))
            .collect(),
    };
    let width = names.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let prefix = |m: &str| {
        if args.member.is_some() {
            String::new()
        } else {
            format!("{m:<width$} | ")
        }
    };
    let show = |m: &str, line: &str| {
        let (ts, text) = split_ts(line);
        if args.timestamps {
            format!("{}{ts} {text}\n", prefix(m))
        } else {
            format!("{}{text}\n", prefix(m))
        }
    };
    if args.follow {
        let streams = names.iter().map(|(m, c)| {
            let m = m.clone();
            engine
                .logs(c, args.tail, since, true, true)
                .map(move |l| (m.clone(), l))
        });
        let mut all = select_all(streams);
        while let Some((m, line)) = all.next().await {
            for l in line?.text.lines() {
                crate::say!("{}", show(&m, l));
            }
        }
        return Ok(());
    }
    let mut lines: Vec<(String, String, String)> = Vec::new();
    for (m, c) in &names {
        let mut s = Box::pin(engine.logs(c, args.tail, since, false, true));
        while let Some(chunk) = s.next().await {
            for l in chunk?.text.lines() {
                let (ts, _) = split_ts(l);
                lines.push((ts.to_string(), m.clone(), l.to_string()));
            }
        }
    }
    // RFC 3339 timestamps with nanoseconds sort as text; the sort is stable per container.
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    for (_, m, l) in &lines {
        out.push_str(&show(m, l));
    }
    crate::say!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_times() {
        let now = humantime::parse_rfc3339("2026-11-27T10:00:00Z").unwrap();
        assert_eq!(parse_since("10m", now).unwrap(), 1_795_773_600 - 600);
        assert_eq!(
            parse_since("2026-11-27T09:00:00Z", now).unwrap(),
            1_795_770_000
        );
        assert!(parse_since("yesterday", now).is_err());
    }
}
