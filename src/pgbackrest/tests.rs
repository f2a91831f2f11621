//! pgBackRest tests: restore targets, the scripts and options it runs (restore bootstrap, standby
//! backup, tool recoveries), WAL names, and what `info` and the archiver say.

use super::*;
use crate::spec::RestoreSource;

#[test]
fn targets_check_their_values() {
    assert!(Target::Time("2026-12-02 10:15:00+00".into())
        .check()
        .is_ok());
    assert!(Target::Time("2026-12-02T10:15:00.123456+01:00".into())
        .check()
        .is_ok());
    assert!(Target::Time("2026-12-02 10:15:00Z".into()).check().is_ok());
    let no_zone = Target::Time("2026-12-02 10:15:00".into())
        .check()
        .unwrap_err();
    assert!(no_zone.contains("no time zone"), "{no_zone}");
    assert!(Target::Time("yesterday".into()).check().is_err());
    assert!(Target::Lsn("0/3000060".into()).check().is_ok());
    assert!(Target::Lsn("3000060".into()).check().is_err());
    assert!(Target::Xid("7654".into()).check().is_ok());
    assert!(Target::Xid("x1".into()).check().is_err());
    assert!(Target::Name("before-migration".into()).check().is_ok());
    assert!(Target::Name("it's".into()).check().is_err());
}

#[test]
fn target_options_stop_and_promote_except_latest() {
    assert!(Target::Latest.options().is_empty());
    assert_eq!(
        Target::Time("2026-12-02 10:15:00+00".into()).options(),
        vec![
            "--type=time",
            "--target=\"2026-12-02 10:15:00+00\"",
            "--target-action=promote"
        ]
    );
    assert_eq!(Target::Xid("7".into()).options()[0], "--type=xid");
}

#[test]
fn restore_bootstrap_reads_the_source_repository() {
    let src = RestoreSource {
        stanza: "prod".into(),
        volume: "prod-backup".into(),
        options: vec!["--set=20261202-010000F".into()],
    };
    let c = bootstrap_command(&src);
    assert!(
        c.contains("--stanza=prod --repo1-path=/var/lib/pgbackrest-source"),
        "{c}"
    );
    assert!(c.contains("--set=20261202-010000F restore"), "{c}");
    assert!(bootstrap_restore_command(&src).ends_with("archive-get %f \"%p\""));
}

#[test]
fn wal_names_parse() {
    assert_eq!(wal_parts("00000002000000010000000A"), Some((2, 1, 10)));
    assert_eq!(wal_parts("00000002.history"), None);
}

#[test]
fn missing_segments_follow_positions_across_timelines() {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let archived = names(&[
        "0000000100000000000000FE",
        "0000000100000000000000FF",
        "000000020000000100000000",
    ]);
    // FE, FF on timeline 1, then 1/00 on timeline 2; 1/01 is the current segment.
    assert!(missing_segments(
        &archived,
        "0000000100000000000000FE",
        "000000020000000100000001"
    )
    .is_empty());
    assert_eq!(
        missing_segments(
            &archived,
            "0000000100000000000000FE",
            "000000020000000100000003"
        ),
        vec!["000000010000000100000001", "000000010000000100000002"]
    );
    assert!(missing_segments(&archived, "garbage", "000000020000000100000003").is_empty());
}

#[test]
fn times_convert_with_their_zone() {
    assert_eq!(time_unix("1970-01-01 00:00:00Z"), Some(0));
    assert_eq!(time_unix("2026-12-02 01:00:00+00"), Some(1_796_173_200));
    assert_eq!(time_unix("2026-12-02 02:00:00+01:00"), Some(1_796_173_200));
    assert_eq!(time_unix("2026-12-01 20:00:00.250-05"), Some(1_796_173_200));
    assert!(check_label("20261202-012345F").is_ok());
    assert!(check_label("20261202-012345F_20261202-013000D").is_ok());
    assert!(check_label("latest; rm").is_err());
}

/// `pgbackrest --output=json info` as pgBackRest 2.55.1 printed it for a cluster with one backup.
const INFO: &str = r#"[{"archive":[{"database":{"id":1,"repo-key":1},"id":"17-1","max":"000000010000000000000009","min":"000000010000000000000001"}],"backup":[{"archive":{"start":"000000010000000000000006","stop":"000000010000000000000007"},"backrest":{"format":5,"version":"2.55.1"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":23476871,"repository":{"delta":2801381,"size":2801381},"size":23476871},"label":"20261202-010435F","lsn":{"start":"0/6000028","stop":"0/7000050"},"prior":null,"reference":null,"timestamp":{"start":1796173475,"stop":1796173477},"type":"full"}],"cipher":"none","db":[{"id":1,"repo-key":1,"system-id":7714506284956385312,"version":"17"}],"name":"bk","repo":[{"cipher":"none","key":1,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]"#;

#[test]
fn info_parses_backups_and_the_archive() {
    let i = parse_info(INFO, "bk").unwrap();
    assert_eq!((i.status_code, i.status.as_str()), (0, "ok"));
    assert_eq!(i.backups.len(), 1);
    let b = &i.backups[0];
    assert_eq!(b.label, "20261202-010435F");
    assert_eq!(b.kind, "full");
    assert_eq!((b.start, b.stop), (1796173475, 1796173477));
    assert_eq!((b.database_bytes, b.repository_bytes), (23476871, 2801381));
    assert_eq!(b.wal_start, "000000010000000000000006");
    assert_eq!(b.lsn_stop, "0/7000050");
    assert_eq!(i.wal_min.as_deref(), Some("000000010000000000000001"));
    assert_eq!(i.wal_max.as_deref(), Some("000000010000000000000009"));
    // Another stanza's name: reported as missing, not as an empty success.
    assert_eq!(parse_info(INFO, "other").unwrap().status_code, 1);
    assert!(parse_info("not json", "bk").is_err());
}

#[test]
fn archiver_row_tells_failing_from_ok() {
    let ok = ArchiveStatus::parse("7|0|000000010000000000000005|12||").unwrap();
    assert!(!ok.failing());
    assert!(ok
        .describe()
        .starts_with("ok: last 000000010000000000000005 archived 12 s ago"));
    // A failure older than the last success is over.
    let recovered =
        ArchiveStatus::parse("7|1|00000002000000000000000B|3|00000002.history|15").unwrap();
    assert!(!recovered.failing());
    let failing =
        ArchiveStatus::parse("7|4|000000010000000000000005|300|000000010000000000000006|2")
            .unwrap();
    assert!(failing.failing());
    assert!(
        failing
            .describe()
            .starts_with("FAILING: 000000010000000000000006"),
        "{}",
        failing.describe()
    );
    assert!(ArchiveStatus::parse("0|2|||000000010000000000000001|1")
        .unwrap()
        .failing());
    assert!(ArchiveStatus::parse("0|0||||")
        .unwrap()
        .describe()
        .contains("nothing"));
    assert_eq!(ArchiveStatus::parse("garbage"), None);
}

#[test]
fn a_standby_backup_names_the_primary() {
    let o = standby_backup_options("pg3");
    assert!(o.contains(&"--backup-standby=y".to_string()));
    assert!(o.contains(&"--pg2-host=pg3".to_string()));
    assert!(o.contains(&"--pg2-host-type=tls".to_string()));
}

#[test]
fn both_tool_recoveries_wait_for_the_promotion_with_a_deadline() {
    let ip = in_place_script("pgha", &["--type=name".into()], 60);
    let rt = restore_test_script("pgha", 300);
    for (s, ticks) in [(&ip, "120"), (&rt, "600")] {
        assert!(s.contains("select pg_is_in_recovery()"), "{s}");
        assert!(s.contains(&format!("[ $i -ge {ticks} ]")), "{s}");
        assert!(s.contains("tail -n 15 /tmp/recovery.log; exit 1"), "{s}");
    }
    assert!(ip.contains("--delta --type=name restore\n"), "{ip}");
    assert!(ip.contains("echo timeline="), "{ip}");
    assert!(
        !ip.contains("archive_mode=off"),
        "the in-place copy archives its timeline"
    );
    assert!(
        rt.contains("unix_socket_directories=/tmp -c archive_mode=off\""),
        "{rt}"
    );
    assert!(rt.contains("printf '%s\\t%s\\n'"), "{rt}");
}
