//! The ways `up` refuses bad input before it makes anything: a bad spec, a taken port, a name
//! clash with objects pgha did not make, an unreachable Docker engine. Each exits 2 (or 1 for
//! the engine) with one clear line, and nothing labelled is left.

use crate::harness::*;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[test]
fn bad_spec_exits_2_and_creates_nothing() {
    let c = TestCluster::new(
        "badspec",
        2000,
        "[etcd]\nmembers = 2\n[nodes]\nnames = [\"pg1\", \"pg1\"]",
    );
    let out = c.pgha_output(&["up"], T);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: pgha.toml: etcd.members = 2 is even"),
        "{err}"
    );
    assert!(
        err.contains("error: pgha.toml: nodes.names: duplicate member \"pg1\""),
        "{err}"
    );
    assert!(c.labelled("container").is_empty());
    assert!(c.labelled("network").is_empty());
    assert!(c.labelled("volume").is_empty());
    assert!(!c.home().exists(), "no secrets were made");
}

/// Nothing labelled for this test exists but the containers named in `except`.
fn nothing_made(c: &TestCluster, except: &[String]) {
    assert_eq!(c.labelled("container"), except);
    assert!(c.labelled("network").is_empty());
    assert!(c.labelled("volume").is_empty());
    assert!(!c.home().exists(), "no secrets were made");
}

#[test]
fn taken_port_exits_2_and_creates_nothing() {
    let c = TestCluster::new("portclash", 10300, "");
    let port = c.node_port(1);
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let out = c.pgha_output(&["up"], T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!(
            "error: 127.0.0.1:{port} is already in use, and container {} needs it for PostgreSQL; set port_base in pgha.toml",
            c.container("pg2")
        )),
        "{err}"
    );
    assert!(err.contains("`pgha init`"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    nothing_made(&c, &[]);
}

#[test]
fn name_clash_exits_2_and_creates_nothing() {
    let c = TestCluster::new("nameclash", 10600, "");
    let image = c.pgha(&["image", "name"], T);
    let mine = c.container("pg1");
    // The test label lets the harness remove it; no cluster label: pgha did not make it.
    docker(&[
        "create",
        "--name",
        &mine,
        "--label",
        &format!("io.pgha.test={}", c.test),
        image.trim(),
        "true",
    ]);
    let out = c.pgha_output(&["up"], T);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!(
            "error: container {mine} exists and pgha did not make it (no io.pgha.cluster={} label); remove or rename it",
            c.name
        )),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    nothing_made(&c, std::slice::from_ref(&mine));
    let state = docker(&["inspect", "-f", "{{.State.Status}}", &mine]);
    assert_eq!(state.trim(), "created", "left as it was");
}

#[test]
fn unreachable_docker_engine_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_with_deadline(
        Command::new(bin())
            .arg("up")
            .current_dir(dir.path())
            .env("PGHA_HOME", dir.path().join("home"))
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        T,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("error: cannot reach the Docker engine at unix:///nonexistent/docker.sock"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}
