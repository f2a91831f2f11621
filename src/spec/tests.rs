//! Spec parsing and validation: the default, and a table of bad inputs with their exact messages.

use super::*;

#[test]
fn default_toml_is_the_default_spec() {
    let spec = Spec::parse(DEFAULT_SPEC_TOML, "default").unwrap();
    assert_eq!(spec, Spec::default());
    assert_eq!(Spec::parse("", "empty").unwrap(), Spec::default());
}

#[test]
fn default_ports_follow_the_original_stack() {
    let s = Spec::default();
    assert_eq!((s.node_pg_port(0), s.node_pg_port(2)), (5431, 5433));
    assert_eq!(s.haproxy_primary_port(), 54320);
    let shifted = Spec::parse("port_base = 1000", "t").unwrap();
    assert_eq!(shifted.node_pg_port(0), 6431);
    assert_eq!(shifted.haproxy_primary_port(), 55320);
    assert_eq!(
        shifted.etcd_endpoints(),
        vec!["127.0.0.1:55341", "127.0.0.1:55342", "127.0.0.1:55343"]
    );
}

#[test]
fn bad_specs_have_one_clear_message_each() {
    let cases: &[(&str, &str)] = &[
        (
            "nme = \"x\"",
            "pgha.toml: line 1: unknown field `nme`, expected one of `name`, `port_base`, `bind`, `nodes`, `etcd`, `ports`, `patroni`, `images`, `haproxy`, `logs`, `labels`, `backup`, `tls`, `monitoring`, `security`",
        ),
        (
            "[ports]\nhaproxy = 1",
            "pgha.toml: line 2: unknown field `haproxy`, expected one of `postgres`, `patroni_api`, `etcd_client`, `haproxy_primary`, `haproxy_replica`, `haproxy_stats`, `prometheus`, `alertmanager`",
        ),
        (
            "port_base = \"x\"",
            "pgha.toml: line 1: invalid type: string \"x\", expected u32",
        ),
        (
            "[nodes]\nnames = [\"pg1\", \"pg2\", \"pg1\"]",
            "pgha.toml: nodes.names: duplicate member \"pg1\"; every member needs its own name",
        ),
        (
            "[nodes]\nnames = []",
            "pgha.toml: nodes.names is empty: a cluster needs at least one node",
        ),
        (
            "[etcd]\nmembers = 2",
            "pgha.toml: etcd.members = 2 is even: use an odd count (1, 3 or 5) so a quorum survives the loss of a member",
        ),
        (
            "bind = \"0.0.0.0\"\n[tls]\nenabled = false",
            "pgha.toml: bind = \"0.0.0.0\" publishes the cluster beyond this host, which needs TLS: remove `[tls] enabled = false`, or bind to 127.0.0.1",
        ),
        (
            "[etcd]\nmembers = 0",
            "pgha.toml: etcd.members = 0: Patroni needs etcd; use 1, 3 or 5",
        ),
        (
            "name = \"My_Cluster\"",
            "pgha.toml: name \"My_Cluster\" is not a valid name: use 1-30 lowercase letters, digits and '-', starting with a letter",
        ),
        (
            "[nodes]\nnames = [\"pg1\", \"etcd2\"]",
            "pgha.toml: nodes.names: member \"etcd2\" is reserved (haproxy, prometheus, alertmanager and etcdN name other containers); pick another name",
        ),
        (
            "port_base = 20000",
            "pgha.toml: port pg1 patroni_api = 74331 (port_base 20000 included) is out of range 1-65535; lower ports.* or port_base",
        ),
        (
            "[ports]\nhaproxy_stats = 5432",
            "pgha.toml: ports clash: pg2 postgres and haproxy_stats both want host port 5432; change ports.* so ranges do not overlap",
        ),
        (
            "bind = \"localhost\"",
            "pgha.toml: bind = \"localhost\" is not an IP address; use 127.0.0.1 (default) or the address to publish ports on",
        ),
        (
            "bind = \"::1\"",
            "pgha.toml: bind = \"::1\": IPv6 addresses are not supported; use 127.0.0.1, 0.0.0.0 or another IPv4 address",
        ),
        (
            "bind = \"::\"",
            "pgha.toml: bind = \"::\": IPv6 addresses are not supported; use 127.0.0.1, 0.0.0.0 or another IPv4 address",
        ),
        (
            "[nodes]\nshm_size = \"lots\"",
            "pgha.toml: nodes.shm_size = \"lots\" is not a size: use bytes or a number with a unit, e.g. \"256MiB\" or \"1GiB\"",
        ),
        (
            "[nodes]\nshm_size = \"256 XB\"",
            "pgha.toml: nodes.shm_size = \"256 XB\" is not a size: use bytes or a number with a unit, e.g. \"256MiB\" or \"1GiB\"",
        ),
        (
            "[nodes]\nshm_size = -1",
            "pgha.toml: nodes.shm_size = -1 is not a size: use bytes or a number with a unit, e.g. \"256MiB\" or \"1GiB\"",
        ),
        (
            "[nodes]\nshm_size = \"512k\"",
            "pgha.toml: nodes.shm_size = \"512k\" is too small: use at least 1MiB (default \"256MiB\")",
        ),
        (
            "[nodes]\nmemory = \"1M\"",
            "pgha.toml: nodes.memory = \"1M\" is below Docker's minimum of 6MiB; use e.g. \"1GiB\"",
        ),
        (
            "[etcd]\nmemory = true",
            "pgha.toml: etcd.memory = true is not a size: use bytes or a number with a unit, e.g. \"256MiB\" or \"1GiB\"",
        ),
        (
            "[nodes]\ncpus = 0",
            "pgha.toml: nodes.cpus = 0 is not a CPU count: use a number from 0.01 up, e.g. 0.5 or 2",
        ),
        (
            "[haproxy]\ncpus = \"two\"",
            "pgha.toml: haproxy.cpus = \"two\" is not a CPU count: use a number from 0.01 up, e.g. 0.5 or 2",
        ),
        (
            "[haproxy]\nshm_size = \"1g\"",
            "pgha.toml: line 2: unknown field `shm_size`, expected `cpus` or `memory`",
        ),
        (
            "[logs]\nmax_size = \"ten\"",
            "pgha.toml: logs.max_size = \"ten\" is not a size: use bytes or a number with a unit, e.g. \"256MiB\" or \"1GiB\"",
        ),
        (
            "[logs]\nmax_size = 0",
            "pgha.toml: logs.max_size = 0: use a positive size, e.g. \"10m\"",
        ),
        (
            "[logs]\nmax_files = 0",
            "pgha.toml: logs.max_files = 0: keep at least 1 file per container (default 3)",
        ),
        (
            "[patroni]\nttl = 10",
            "pgha.toml: patroni.ttl = 10 is below Patroni's minimum 20 (Patroni would silently raise it)",
        ),
        (
            "[patroni]\nloop_wait = 10\nretry_timeout = 10",
            "pgha.toml: patroni: loop_wait + 2*retry_timeout = 30 exceeds ttl = 20 (Patroni requires loop_wait + 2*retry_timeout <= ttl)",
        ),
        (
            "[backup]\narchive_timeout = 5",
            "pgha.toml: backup.archive_timeout = 5 is out of range: use 10 to 86400 seconds (0 turns the timer off)",
        ),
        (
            "[backup]\nretention_full = 0",
            "pgha.toml: backup.retention_full = 0: keep 1 to 100 full backups",
        ),
        (
            "[labels]\n\"io.pgha.cluster\" = \"x\"",
            "pgha.toml: labels: \"io.pgha.cluster\" is reserved for pgha's own labels; use another key",
        ),
    ];
    for (input, want) in cases {
        let err = Spec::parse(input, "pgha.toml").expect_err(input);
        let got = err.to_string();
        let first = got.lines().next().unwrap();
        assert_eq!(first, *want, "input: {input}");
    }
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let err = Spec::parse("[etcd]\nmembers = 4\n[nodes]\nnames = []", "x.toml").unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
    // Each bad size or count is a line of its own.
    let err = Spec::parse(
        "[nodes]\nshm_size = \"x\"\nmemory = \"y\"\ncpus = -2\n[logs]\nmax_files = 0",
        "x.toml",
    )
    .unwrap_err();
    assert_eq!(err.problems.len(), 4, "{err}");
    assert_eq!(err.to_string().lines().count(), 4, "{err}");
}

#[test]
fn sizes_are_bytes_or_binary_units_and_cpus_are_numbers() {
    use resources::{parse_cpus, parse_size};
    let s = |t: &str| parse_size(&toml::Value::String(t.into()));
    assert_eq!(s("256MiB"), Ok(256 << 20));
    assert_eq!(s("256MB"), Ok(256 << 20));
    assert_eq!(s("256m"), Ok(256 << 20));
    assert_eq!(s("1 GiB"), Ok(1 << 30));
    assert_eq!(s("1.5g"), Ok(3 << 29));
    assert_eq!(s("4096"), Ok(4096));
    assert_eq!(parse_size(&toml::Value::Integer(1024)), Ok(1024));
    for bad in ["", "MiB", "1..5g", "12 parsecs", "-3m"] {
        assert!(s(bad).is_err(), "{bad:?}");
    }
    assert_eq!(parse_cpus(&toml::Value::Integer(2)), Ok(2.0));
    assert_eq!(parse_cpus(&toml::Value::Float(0.5)), Ok(0.5));
    assert!(parse_cpus(&toml::Value::Float(0.001)).is_err());
}

#[test]
fn resources_default_to_256mib_shm_rotated_logs_and_no_limits() {
    let d = Spec::default();
    assert_eq!(d.nodes.shm_bytes(), 268_435_456);
    assert_eq!(d.logs.docker_max_size(), "10m");
    assert_eq!(d.logs.max_files, 3);
    assert_eq!(d.nodes.limits().resolve(), resources::Resolved::default());
    let s = Spec::parse(
        "[nodes]\nshm_size = \"1GiB\"\ncpus = 1.5\nmemory = \"2GiB\"\n[etcd]\ncpus = 1\n[haproxy]\nmemory = 268435456\n[logs]\nmax_size = \"50m\"\nmax_files = 5",
        "t",
    )
    .unwrap();
    assert_eq!(s.nodes.shm_bytes(), 1 << 30);
    let n = s.nodes.limits().resolve();
    assert_eq!(
        (n.nano_cpus, n.memory),
        (Some(1_500_000_000), Some(2 << 30))
    );
    assert_eq!(s.etcd.limits().resolve().nano_cpus, Some(1_000_000_000));
    assert_eq!(s.haproxy.resolve().memory, Some(256 << 20));
    assert_eq!(
        (s.logs.docker_max_size(), s.logs.max_files),
        ("50m".into(), 5)
    );
}

#[test]
fn one_etcd_member_and_one_node_are_allowed() {
    let s = Spec::parse("[etcd]\nmembers = 1\n[nodes]\nnames = [\"a\"]", "t").unwrap();
    assert_eq!(s.etcd_names(), vec!["etcd1"]);
}
