//! The spec's `[monitoring]` section: Prometheus and Alertmanager containers, the exporters in the
//! nodes, the alert rules' thresholds and where Alertmanager sends alerts. Pure.

use serde::Deserialize;

/// `[monitoring]`: on by default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    pub enabled: bool,
    /// How long Prometheus keeps samples ("15d", "12h").
    pub retention: String,
    /// Seconds between two scrapes of every target (and between two rule evaluations).
    pub scrape_interval: u32,
    /// Where Alertmanager posts firing and resolved alerts (Alertmanager's webhook format); empty:
    /// nowhere (`pgha alerts` still lists them).
    pub webhook_url: String,
    pub thresholds: Thresholds,
}

/// The alert rules' thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    pub replication_lag_bytes: u64,
    pub replication_lag_seconds: u32,
    /// The oldest WAL segment waiting for the archive, in seconds.
    pub archive_lag_seconds: u32,
    /// Hours since the last backup finished.
    pub backup_age_hours: u32,
    /// Percent of a data volume's file system in use.
    pub volume_used_percent: u32,
    /// Percent of `max_connections` in use.
    pub connections_percent: u32,
    pub long_transaction_seconds: u32,
    /// Days before a certificate of the cluster's CA ends.
    pub cert_expiry_days: u32,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            enabled: true,
            retention: "15d".into(),
            scrape_interval: 5,
            webhook_url: String::new(),
            thresholds: Thresholds::default(),
        }
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            replication_lag_bytes: 16 << 20,
            replication_lag_seconds: 30,
            archive_lag_seconds: 300,
            backup_age_hours: 26,
            volume_used_percent: 85,
            connections_percent: 80,
            long_transaction_seconds: 300,
            cert_expiry_days: 14,
        }
    }
}

/// Prometheus's duration syntax: a number and one unit of s, m, h, d, w, y.
pub fn is_prometheus_duration(s: &str) -> bool {
    let Some(unit) = s.chars().last() else {
        return false;
    };
    let num = &s[..s.len() - 1];
    "smhdwy".contains(unit)
        && !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit())
        && num.parse::<u64>().is_ok_and(|n| n > 0)
}

/// Seconds in a Prometheus duration (`is_prometheus_duration`), or `None`.
pub fn prometheus_duration_secs(s: &str) -> Option<u64> {
    if !is_prometheus_duration(s) {
        return None;
    }
    let n: u64 = s[..s.len() - 1].parse().ok()?;
    let unit = match s.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        'w' => 7 * 86400,
        _ => 365 * 86400,
    };
    n.checked_mul(unit)
}

impl Monitoring {
    pub fn problems(&self, p: &mut Vec<String>) {
        if !is_prometheus_duration(&self.retention) {
            p.push(format!(
                "monitoring.retention = {:?} is not a duration: use a number and one unit, e.g. \"15d\", \"36h\"",
                self.retention
            ));
        }
        if !(1..=300).contains(&self.scrape_interval) {
            p.push(format!(
                "monitoring.scrape_interval = {}: use 1 to 300 seconds",
                self.scrape_interval
            ));
        }
        let url = &self.webhook_url;
        if !url.is_empty() {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/'))
                || url.contains(char::is_whitespace)
            {
                p.push(format!(
                    "monitoring.webhook_url = {url:?} is not an http(s) URL: use e.g. \"http://alerts.example:8080/hook\", or \"\" for none"
                ));
            }
        }
        let t = &self.thresholds;
        for (name, v) in [
            ("volume_used_percent", t.volume_used_percent),
            ("connections_percent", t.connections_percent),
        ] {
            if !(1..=100).contains(&v) {
                p.push(format!(
                    "monitoring.thresholds.{name} = {v}: use a percentage from 1 to 100"
                ));
            }
        }
        for (name, v) in [
            ("replication_lag_seconds", t.replication_lag_seconds),
            ("archive_lag_seconds", t.archive_lag_seconds),
            ("backup_age_hours", t.backup_age_hours),
            ("long_transaction_seconds", t.long_transaction_seconds),
            ("cert_expiry_days", t.cert_expiry_days),
        ] {
            if v == 0 {
                p.push(format!(
                    "monitoring.thresholds.{name} = 0 would fire at once: use a positive number"
                ));
            }
        }
        if t.replication_lag_bytes == 0 {
            p.push(
                "monitoring.thresholds.replication_lag_bytes = 0 would fire at once: use a positive number".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_seconds() {
        assert_eq!(prometheus_duration_secs("90d"), Some(90 * 86400));
        assert_eq!(prometheus_duration_secs("2h"), Some(7200));
        assert_eq!(prometheus_duration_secs("1y"), Some(365 * 86400));
        assert_eq!(prometheus_duration_secs("soon"), None);
    }

    #[test]
    fn durations_as_prometheus_reads_them() {
        for ok in ["15d", "36h", "1w", "90m"] {
            assert!(is_prometheus_duration(ok), "{ok}");
        }
        for bad in ["", "d", "15", "1.5d", "15 d", "0d", "15days"] {
            assert!(!is_prometheus_duration(bad), "{bad}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        let m = Monitoring {
            retention: "forever".into(),
            scrape_interval: 0,
            webhook_url: "ftp://x".into(),
            thresholds: Thresholds {
                volume_used_percent: 120,
                cert_expiry_days: 0,
                ..Thresholds::default()
            },
            ..Monitoring::default()
        };
        let mut p = Vec::new();
        m.problems(&mut p);
        let all = p.join("\n");
        for key in [
            "monitoring.retention",
            "monitoring.scrape_interval",
            "monitoring.webhook_url",
            "volume_used_percent",
            "cert_expiry_days",
        ] {
            assert!(all.contains(key), "{key} missing from {all}");
        }
        let mut ok = Vec::new();
        Monitoring::default().problems(&mut ok);
        assert!(ok.is_empty(), "{ok:?}");
    }
}
