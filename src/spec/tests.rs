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
            "pgha.toml: line 1: unknown field `nme`, expected one of `name`, `port_base`, `bind`, `nodes`, `etcd`, `ports`, `patroni`, `images`, `labels`",
        ),
        (
            "[ports]\nhaproxy = 1",
            "pgha.toml: line 2: unknown field `haproxy`, expected one of `postgres`, `patroni_api`, `etcd_client`, `haproxy_primary`, `haproxy_replica`, `haproxy_stats`",
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
            "[etcd]\nmembers = 0",
            "pgha.toml: etcd.members = 0: Patroni needs etcd; use 1, 3 or 5",
        ),
        (
            "name = \"My_Cluster\"",
            "pgha.toml: name \"My_Cluster\" is not a valid name: use 1-30 lowercase letters, digits and '-', starting with a letter",
        ),
        (
            "[nodes]\nnames = [\"pg1\", \"etcd2\"]",
            "pgha.toml: nodes.names: member \"etcd2\" is reserved (haproxy and etcdN name other containers); pick another name",
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
            "[patroni]\nttl = 10",
            "pgha.toml: patroni.ttl = 10 is below Patroni's minimum 20 (Patroni would silently raise it)",
        ),
        (
            "[patroni]\nloop_wait = 10\nretry_timeout = 10",
            "pgha.toml: patroni: loop_wait + 2*retry_timeout = 30 exceeds ttl = 20 (Patroni requires loop_wait + 2*retry_timeout <= ttl)",
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
}

#[test]
fn one_etcd_member_and_one_node_are_allowed() {
    let s = Spec::parse("[etcd]\nmembers = 1\n[nodes]\nnames = [\"a\"]", "t").unwrap();
    assert_eq!(s.etcd_names(), vec!["etcd1"]);
}
