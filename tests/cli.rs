//! The command line without Docker: usage errors exit 2 with one clear line, `init` and `render`.

#[path = "support/mod.rs"]
mod support;

use std::process::Command;

/// pgha in `dir` (its state folder inside), with a deadline.
fn pgha(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgha"));
    cmd.args(args)
        .current_dir(dir)
        .env("PGHA_HOME", dir.join("home"))
        .env_remove("PGHA_SPEC");
    support::run::run_with_deadline(&mut cmd, std::time::Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&[&str], &str)] = &[
        (
            &["list", "--etcd", "127.0.0.1:1"],
            "error: --etcd needs --scope NAME",
        ),
        (
            &["up", "--spec", "missing.toml"],
            "error: spec file missing.toml not found",
        ),
        (
            &["switchover", "--at", "tomorrow", "--yes"],
            "error: --at tomorrow",
        ),
        (
            &["verify", "--only", "nosuch"],
            "error: --only nosuch: no such check",
        ),
        (&["failover"], "error: failover needs --candidate MEMBER"),
        (
            &[
                "edit-config",
                "--set",
                "novalue",
                "--etcd",
                "127.0.0.1:1",
                "--scope",
                "x",
            ],
            "error: \"novalue\" is not PATH=VALUE",
        ),
    ];
    for (args, want) in cases {
        let o = pgha(args, d);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.starts_with(want), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
    }
    // clap's own usage errors exit 2 too.
    assert_eq!(pgha(&["bogus"], d).status.code(), Some(2));
    assert_eq!(
        pgha(&["failover", "--kill", "--candidate", "pg1"], d)
            .status
            .code(),
        Some(2)
    );
    assert!(!d.join("home").exists(), "nothing was made");
}

#[test]
fn init_writes_the_default_spec_once() {
    let dir = tempfile::tempdir().unwrap();
    let o = pgha(&["init"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let written = std::fs::read_to_string(dir.path().join("pgha.toml")).unwrap();
    assert!(written.contains("name = \"pgha\""));
    let again = pgha(&["init"], dir.path());
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"));
    // The written spec is what `render` uses by default: same files as the repository's.
    let o = pgha(&["render", "--out", "out"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in [
        "patroni/pg1.yml",
        "patroni/pg2.yml",
        "patroni/pg3.yml",
        "haproxy/haproxy.cfg",
    ] {
        let got = std::fs::read_to_string(dir.path().join("out").join(f)).unwrap();
        let want = std::fs::read_to_string(root.join(f)).unwrap();
        assert_eq!(got, want, "{f}");
    }
}

#[test]
fn a_bad_spec_is_refused_before_anything_happens() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pgha.toml"), "[ports]\npostgres = 70000\n").unwrap();
    let o = pgha(&["render"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: pgha.toml: port pg1 postgres = 70000"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("patroni").exists());
}

#[test]
fn up_refuses_an_ipv6_bind_and_bad_sizes_one_line_each_before_docker() {
    let dir = tempfile::tempdir().unwrap();
    let spec =
        "bind = \"::1\"\n[nodes]\nshm_size = \"big\"\nmemory = \"1k\"\n[logs]\nmax_files = 0\n";
    std::fs::write(dir.path().join("pgha.toml"), spec).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgha"));
    cmd.arg("up")
        .current_dir(dir.path())
        .env("PGHA_HOME", dir.path().join("home"))
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("PGHA_SPEC");
    let o = support::run::run_with_deadline(&mut cmd, std::time::Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.trim_end().lines().collect();
    assert_eq!(
        lines,
        [
            "error: pgha.toml: bind = \"::1\": IPv6 addresses are not supported; use 127.0.0.1, 0.0.0.0 or another IPv4 address",
            "error: pgha.toml: nodes.shm_size = \"big\" is not a size: use bytes or a number with a unit, e.g. \"256MiB\" or \"1GiB\"",
            "error: pgha.toml: logs.max_files = 0: keep at least 1 file per container (default 3)",
            "error: pgha.toml: nodes.memory = \"1k\" is below Docker's minimum of 6MiB; use e.g. \"1GiB\"",
        ]
    );
    assert!(!dir.path().join("home").exists(), "nothing was made");
}

#[test]
fn init_documents_shm_log_rotation_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    assert!(pgha(&["init"], dir.path()).status.success());
    let written = std::fs::read_to_string(dir.path().join("pgha.toml")).unwrap();
    for key in [
        "shm_size = \"256MiB\"",
        "[logs]",
        "max_size = \"10m\"",
        "max_files = 3",
        "[haproxy]",
        "# cpus = ",
        "# memory = ",
    ] {
        assert!(written.contains(key), "{key} in:\n{written}");
    }
}

#[test]
fn commands_on_containers_refuse_scope_without_etcd() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&[&str], &str)] = &[
        (
            &["failover", "--kill", "--scope", "other", "--yes"],
            "error: failover --kill acts on the spec's Docker containers: --scope other needs --etcd",
        ),
        (
            &["stop", "pg1", "--scope", "other", "--yes"],
            "error: stop acts on the spec's Docker containers: --scope other needs --etcd",
        ),
        (
            &["start", "pg1", "--scope", "other"],
            "error: start acts on the spec's Docker containers: --scope other needs --etcd",
        ),
        (
            &["restart", "--container", "etcd1", "--scope", "other", "--yes"],
            "error: restart --container acts on the spec's Docker containers: --scope other needs --etcd",
        ),
    ];
    for (args, want) in cases {
        let o = pgha(args, d);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    // The new flags are checked by clap: --allow-data-loss is for --candidate, --force on
    // restart for --container.
    for args in [
        &["failover", "--kill", "--allow-data-loss"][..],
        &["restart", "--force", "pg1"][..],
    ] {
        assert_eq!(pgha(args, d).status.code(), Some(2), "{args:?}");
    }
    assert!(!d.join("home").exists(), "nothing was made");
}

#[test]
fn an_etcd_that_does_not_answer_is_one_line_naming_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--etcd", "127.0.0.1:1", "--scope", "x", "list"][..],
        &["--etcd", "127.0.0.1:1", "--scope", "x", "list", "--stale"][..],
        &["--etcd", "127.0.0.1:1", "--scope", "x", "show-config"][..],
    ] {
        let o = pgha(args, dir.path());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(
            err.trim_end(),
            "error: etcd does not answer at 127.0.0.1:1: is the cluster up? (pgha up)",
            "{args:?}"
        );
        let lower = err.to_lowercase();
        assert!(!lower.contains("tonic") && !lower.contains("grpc"), "{err}");
    }
}

#[test]
fn an_etcd_password_is_not_sent_over_plain_http_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--etcd",
        "127.0.0.1:1",
        "--scope",
        "x",
        "--etcd-user",
        "admin",
        "list",
    ];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgha"));
    cmd.args(args)
        .current_dir(dir.path())
        .env("PGHA_HOME", dir.path().join("home"))
        .env("PGHA_ETCD_PASSWORD", "secret")
        .env_remove("PGHA_SPEC");
    let o = support::run::run_with_deadline(&mut cmd, std::time::Duration::from_secs(60)).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim_end(),
        "error: etcd endpoint http://127.0.0.1:1 is plain http, so --etcd-user's password would cross the network unencrypted; give --cacert (etcd over TLS), or pass --allow-plaintext-credentials"
    );
    // Allowed, pgha goes on to connect (and finds no etcd there).
    cmd.arg("--allow-plaintext-credentials");
    let o = support::run::run_with_deadline(&mut cmd, std::time::Duration::from_secs(60)).unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("etcd does not answer at 127.0.0.1:1"),
        "{}",
        stderr(&o)
    );
}
