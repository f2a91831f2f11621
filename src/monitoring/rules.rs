//! pgha's alert rules: what each fires on (PromQL over the scrape jobs of `monitoring`), how
//! long it must hold, and a runbook line (what it means, which pgha command helps). Rendered into
//! Prometheus's rules file (`render::monitoring`); `pgha alerts` and the README's table read the same list. Pure.

use crate::spec::Spec;

/// One alert rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub expr: String,
    /// Seconds the condition must hold before the alert fires.
    pub for_s: u32,
    pub severity: &'static str,
    /// One line with Prometheus's `{{ $labels.member }}` where it names a member.
    pub summary: String,
    pub runbook: &'static str,
}

/// The rules for `spec` (thresholds from `[monitoring.thresholds]`; the sync-standby rule only
/// with synchronous mode on, the backup rules only with `[backup]` on).
pub fn rules(spec: &Spec) -> Vec<Rule> {
    let t = &spec.monitoring.thresholds;
    let i = spec.monitoring.scrape_interval;
    let m = "{{ $labels.member }}";
    let v = "{{ $value | humanize }}";
    let rule = |name, expr: String, for_s, severity, summary: String, runbook| Rule {
        name,
        expr,
        for_s,
        severity,
        summary,
        runbook,
    };
    let mut out = vec![
        rule(
            "PghaNoLeader",
            "max(patroni_cluster_unlocked) == 1 or absent(patroni_primary == 1)".into(),
            2 * i,
            "critical",
            "the cluster has no leader: writes fail".into(),
            "No member holds the leader lock. `pgha list` shows every member's state; `pgha failover --to MEMBER` promotes one when none is chosen automatically.",
        ),
        rule(
            "PghaLeaderDown",
            "last_over_time(patroni_primary{job=\"patroni\"}[10m]) == 1 and on(member) (up{job=\"patroni\"} == 0 or patroni_postgres_running{job=\"patroni\"} == 0)".into(),
            0,
            "critical",
            format!("{m}, the leader when last seen, is down"),
            "The leader was lost; Patroni promotes the synchronous standby. `pgha list` shows the new leader, `pgha start MEMBER` brings the old one back as a replica (`pgha reinit MEMBER` if it cannot rejoin).",
        ),
        rule(
            "PghaMemberDown",
            "up{job=\"patroni\"} == 0 or patroni_postgres_running{job=\"patroni\"} == 0".into(),
            // Rides out one scrape of a starting member: a blip is not trouble.
            2 * i,
            "critical",
            format!("{m}: Patroni or PostgreSQL is not running"),
            "A member's container is stopped or PostgreSQL is down in it. `pgha list`, `pgha logs MEMBER`; `pgha start MEMBER` starts it.",
        ),
        rule(
            "PghaReplicaNotStreaming",
            "(patroni_postgres_streaming{job=\"patroni\"} == 0 and on(member) patroni_primary{job=\"patroni\"} == 0) or on(member) (up{job=\"patroni\"} == 0 unless on(member) last_over_time(patroni_primary{job=\"patroni\"}[10m]) == 1)".into(),
            2 * i,
            "warning",
            format!("{m} does not stream WAL from the leader"),
            "A replica is down or does not replicate: it cannot take over and falls behind. `pgha list` shows its state and lag, `pgha logs MEMBER` why; `pgha start MEMBER` or `pgha reinit MEMBER`.",
        ),
        rule(
            "PghaReplicationLagBytes",
            format!(
                "scalar(max(patroni_xlog_location{{job=\"patroni\"}} and on(member) patroni_primary == 1)) - (patroni_xlog_received_location{{job=\"patroni\"}} and on(member) patroni_replica == 1) > {}",
                t.replication_lag_bytes
            ),
            2 * i,
            "warning",
            format!("{m} is {v}B behind the leader"),
            "A replica receives WAL slower than the leader writes it (network, disk, or a long query on it). `pgha list` shows the lag; a replica far behind is not promoted (maximum_lag_on_failover).",
        ),
        rule(
            "PghaReplicationLagSeconds",
            format!(
                "pg_replication_lag_seconds{{job=\"postgres\"}} > {}",
                t.replication_lag_seconds
            ),
            2 * i,
            "warning",
            format!("{m} replays WAL {v}s behind the leader"),
            "Replay on a replica is behind (a conflicting query, or slow I/O): reads from it are stale. `pgha top` shows lag live; `pgha logs MEMBER`.",
        ),
        rule(
            "PghaArchiveFailing",
            "pgha_archive_failing{job=\"postgres\"} == 1".into(),
            6 * i,
            "critical",
            format!("WAL archiving fails on {m}"),
            "PostgreSQL cannot push WAL to the backup repository: point-in-time recovery stops at the last archived segment and pg_wal grows. `pgha logs MEMBER`, `pgha verify --only archive`.",
        ),
        rule(
            "PghaArchiveLag",
            format!(
                "pgha_archive_oldest_ready_seconds{{job=\"postgres\"}} > {}",
                t.archive_lag_seconds
            ),
            2 * i,
            "warning",
            format!("the oldest WAL segment waiting for the archive on {m} is {v}s old"),
            "Archiving is behind: a lost cluster would lose more than archive_timeout of writes. `pgha verify --only archive`, `pgha logs MEMBER`.",
        ),
        rule(
            "PghaEtcdMemberDown",
            "up{job=\"etcd\"} == 0".into(),
            // Rides out one scrape of a starting member: a blip is not trouble.
            2 * i,
            "critical",
            format!("etcd member {m} does not answer"),
            "One etcd member is down; losing one more of three costs the quorum and every leader steps down. `pgha logs MEMBER`, `pgha start MEMBER`.",
        ),
        rule(
            "PghaEtcdNoLeader",
            "etcd_server_has_leader{job=\"etcd\"} == 0".into(),
            // Rides out one scrape of a starting member: a blip is not trouble.
            2 * i,
            "critical",
            format!("etcd member {m} has no leader"),
            "etcd has no quorum from this member's view: Patroni cannot renew the leader lock. `pgha logs etcdN` shows why; `pgha start etcdN` for a stopped one.",
        ),
        rule(
            "PghaHaproxyPrimaryDown",
            "haproxy_backend_active_servers{job=\"haproxy\",proxy=\"primary\"} == 0 or up{job=\"haproxy\"} == 0".into(),
            2 * i,
            "critical",
            "HAProxy routes writes to no server".into(),
            "HAProxy finds no leader (its health checks fail on every node) or is down: writes through it fail. `pgha list`, `pgha logs haproxy`.",
        ),
        rule(
            "PghaVolumeNearlyFull",
            format!(
                "100 * (1 - node_filesystem_avail_bytes{{job=\"disk\"}} / node_filesystem_size_bytes{{job=\"disk\"}}) > {}",
                t.volume_used_percent
            ),
            2 * i,
            "warning",
            format!("{{{{ $labels.mountpoint }}}} on {m} is {v}% full"),
            "The file system of a data or backup volume is nearly full: PostgreSQL stops when it is. Free space on the Docker host; `pgha backup` expires old backups by retention.",
        ),
        rule(
            "PghaConnectionsHigh",
            format!(
                "100 * pgha_connections_used{{job=\"postgres\"}} / pgha_connections_max{{job=\"postgres\"}} > {}",
                t.connections_percent
            ),
            2 * i,
            "warning",
            format!("{m} uses {v}% of max_connections"),
            "New connections will soon be refused. Find the clients with `pgha psql -- -c 'table pg_stat_activity'`; raise max_connections with `pgha edit-config` (a restart).",
        ),
        rule(
            "PghaLongTransaction",
            format!(
                "pgha_transactions_oldest_seconds{{job=\"postgres\"}} > {}",
                t.long_transaction_seconds
            ),
            i,
            "warning",
            format!("a transaction on {m} has been open for {v}s"),
            "A long transaction holds back vacuum and can block others. Find it in pg_stat_activity (`pgha psql`), end it with pg_terminate_backend.",
        ),
        rule(
            "PghaCertificateExpiring",
            format!(
                "pgha_certificate_not_after_seconds - time() < {}",
                u64::from(t.cert_expiry_days) * 86_400
            ),
            0,
            "warning",
            "certificate {{ $labels.certificate }} ends within the threshold".into(),
            "A certificate of the cluster's CA ends soon. `pgha certs status` shows them, `pgha certs rotate` issues new ones without downtime (`pgha up` renews those within 7 days of their end).",
        ),
    ];
    if spec.patroni.synchronous_mode {
        out.insert(
            4,
            rule(
                "PghaNoSyncStandby",
                "max(patroni_sync_standby{job=\"patroni\"}) == 0 and on() count(patroni_primary{job=\"patroni\"} == 1) == 1".into(),
                2 * i,
                "critical",
                "synchronous mode is on but no member is the sync standby".into(),
                "Commits are no longer confirmed by a standby: a failover now can lose them (or, strict, writes stop). `pgha list` shows the replicas; start or reinit one.",
            ),
        );
    }
    if spec.backup.enabled {
        out.push(rule(
            "PghaBackupTooOld",
            format!(
                "min(pgbackrest_backup_since_last_completion_seconds{{job=\"pgbackrest\"}}) > {}",
                u64::from(t.backup_age_hours) * 3600
            ),
            i,
            "warning",
            format!("the last backup finished {{{{ $value | humanizeDuration }}}} ago (threshold {}h)", t.backup_age_hours),
            "No backup has finished recently: a restore would replay much WAL, or find none. `pgha backup list`, then `pgha backup`.",
        ));
    } else {
        out.retain(|r| !r.name.starts_with("PghaArchive"));
    }
    if let Some(max) =
        crate::spec::monitoring::prometheus_duration_secs(&spec.security.password_max_age)
    {
        out.push(rule(
            "PghaPasswordOld",
            format!("time() - pgha_password_changed_seconds > {max}"),
            0,
            "warning",
            format!(
                "the {{{{ $labels.user }}}} password is older than {}",
                spec.security.password_max_age
            ),
            "A password is past the age [security] password_max_age allows. `pgha passwords status` shows each one's age; `pgha passwords rotate --user USER` changes it everywhere, with no restart.",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_runbook_and_the_thresholds_of_the_spec() {
        let mut spec = Spec::default();
        spec.monitoring.thresholds.replication_lag_bytes = 12345;
        spec.monitoring.thresholds.cert_expiry_days = 3;
        let all = rules(&spec);
        for r in &all {
            assert!(
                r.runbook.contains("pgha "),
                "{} has no pgha command",
                r.name
            );
            assert!(!r.summary.is_empty());
        }
        let by = |n: &str| all.iter().find(|r| r.name == n).unwrap().expr.clone();
        assert!(by("PghaReplicationLagBytes").ends_with("> 12345"));
        assert!(by("PghaCertificateExpiring").ends_with(&format!("< {}", 3 * 86400)));
        for needed in [
            "PghaNoLeader",
            "PghaLeaderDown",
            "PghaMemberDown",
            "PghaReplicaNotStreaming",
            "PghaNoSyncStandby",
            "PghaArchiveFailing",
            "PghaArchiveLag",
            "PghaBackupTooOld",
            "PghaEtcdMemberDown",
            "PghaEtcdNoLeader",
            "PghaHaproxyPrimaryDown",
            "PghaVolumeNearlyFull",
            "PghaConnectionsHigh",
            "PghaLongTransaction",
        ] {
            assert!(all.iter().any(|r| r.name == needed), "{needed}");
        }
    }

    #[test]
    fn the_readme_lists_every_alert() {
        let readme = include_str!("../../README.md");
        for r in rules(&Spec::default()) {
            assert!(
                readme.contains(&format!("| `{}` |", r.name)),
                "README's alert table lacks {}",
                r.name
            );
        }
    }

    #[test]
    fn rules_follow_sync_mode_and_backup() {
        let mut spec = Spec::default();
        spec.patroni.synchronous_mode = false;
        spec.backup.enabled = false;
        let names: Vec<&str> = rules(&spec).iter().map(|r| r.name).collect();
        for gone in [
            "PghaNoSyncStandby",
            "PghaBackupTooOld",
            "PghaArchiveFailing",
        ] {
            assert!(!names.contains(&gone), "{gone}");
        }
    }
}
