//! Test harness for end-to-end tests against the real Docker engine: a uniquely named cluster per
//! test, on its own port base, labelled `io.pgha.test=<test>`; leftovers of earlier runs with that
//! label are removed first, and the cluster is removed at the end (pass or fail). The pgha binary is
//! driven as a user would, with a deadline on every command. Checks read Docker (docker CLI), etcd
//! (etcd-client) and PostgreSQL (tokio-postgres) directly, not through pgha.

#![allow(dead_code)]

pub use crate::support::cluster::Cluster;
pub use crate::support::lock::DockerLock;
pub use crate::support::run::text;
use pgha::adapters::dcs::EtcdAuth;
use pgha::tls::ClientTls;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Takes the machine's Docker lock (one Docker test at a time; its duration is printed when it is
/// released).
pub fn docker_lock() -> DockerLock {
    DockerLock::take().unwrap_or_else(|e| panic!("{e:#}"))
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pgha")
}

/// Runs a command with a deadline; panics when it passes (with the child's stderr).
pub fn run_with_deadline(cmd: &mut Command, deadline: Duration) -> Output {
    crate::support::run::run_with_deadline(cmd, deadline).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `docker <args>`; panics when it fails.
pub fn docker(args: &[&str]) -> String {
    crate::support::run::docker(args).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The start of a `docker exec` running etcdctl in `container` (an etcd member's) over TLS with
/// the member's certificate, as etcd's root user: the password comes from `ETCDCTL_USER`, which
/// the command must carry in its environment (`etcd_root_env`), never on a command line.
pub fn etcdctl_exec(container: &str) -> Vec<String> {
    [
        "exec",
        "-e",
        "ETCDCTL_USER",
        container,
        "etcdctl",
        "--endpoints=https://127.0.0.1:2379",
        "--cacert=/etc/pgha/tls/ca.crt",
        "--cert=/etc/pgha/tls/etcd.crt",
        "--key=/etc/pgha/tls/etcd.key",
    ]
    .map(String::from)
    .to_vec()
}

/// `ETCDCTL_USER=root:<password>` of the running test's cluster.
pub fn etcd_root_env() -> (String, String) {
    let (u, p) = etcd_auth().user.unwrap_or_default();
    ("ETCDCTL_USER".into(), format!("{u}:{p}"))
}

/// etcdctl `args` in `container`, as root over TLS; panics when it fails.
pub fn etcdctl(container: &str, args: &[&str]) -> String {
    let (k, v) = etcd_root_env();
    let out = run_with_deadline(
        Command::new("docker")
            .args(etcdctl_exec(container))
            .args(args)
            .env(k, v),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "etcdctl {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Removes every container, network and volume labelled `io.pgha.test=<test>`.
pub fn remove_by_test_label(test: &str) {
    crate::support::run::remove_by_test_label(test).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Spec lines of a cluster whose subject is not monitoring: no Prometheus, Alertmanager or
/// exporters competing for the machine's two cores.
pub const NO_MONITORING: &str = "[monitoring]\nenabled = false\n";

/// A test's cluster: the kit's handle on a fresh folder, the machine lock for the test's whole
/// life, leftovers of an earlier run removed first, and everything removed at the end (pass or
/// fail). Its methods are the kit's, failing the test instead of returning an error.
pub struct TestCluster {
    pub test: String,
    pub name: String,
    pub port_base: u32,
    pub kit: Cluster,
    pub dir: tempfile::TempDir,
    _lock: DockerLock,
}

fn must<T>(r: anyhow::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e:#}"))
}

impl TestCluster {
    /// A cluster for one test: `extra` is TOML appended to the spec.
    pub fn new(test: &str, port_base: u32, extra: &str) -> TestCluster {
        let lock = docker_lock();
        remove_by_test_label(test);
        let dir = tempfile::tempdir().unwrap();
        let name = format!("it-{}", test.replace('_', "-"));
        let kit = Cluster::new(Path::new(bin()), dir.path(), &name, test, port_base);
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(kit.clone());
        let c = TestCluster {
            test: test.to_string(),
            name,
            port_base,
            kit,
            dir,
            _lock: lock,
        };
        c.respec(extra);
        c
    }

    /// Writes the test's spec again with `extra` (TOML) in place of what it had.
    pub fn respec(&self, extra: &str) {
        must(self.kit.respec(extra))
    }

    pub fn home(&self) -> PathBuf {
        self.kit.home()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.kit.command(args)
    }

    /// Runs pgha in the test's folder; returns the output whatever the exit code.
    pub fn pgha_output(&self, args: &[&str], deadline: Duration) -> Output {
        must(self.kit.pgha_output(args, deadline))
    }

    /// Runs pgha and insists on success; returns stdout.
    pub fn pgha(&self, args: &[&str], deadline: Duration) -> String {
        must(self.kit.pgha(args, deadline))
    }

    /// `pgha up`, allowing for an image build on a fresh machine.
    pub fn up(&self) -> Output {
        let out = self.pgha_output(&["up"], Duration::from_secs(600));
        assert!(
            out.status.success(),
            "pgha up failed:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    }

    pub fn list_json(&self) -> serde_json::Value {
        must(self.kit.json(&["list"], Duration::from_secs(30)))
    }

    /// Waits until one leader, a sync standby and every other member streaming, caught up.
    pub async fn settle(&self) -> serde_json::Value {
        must(self.kit.settle(Duration::from_secs(120)).await)
    }

    /// Runs SQL through HAProxy's primary port (e.g. to create a test's table).
    pub async fn sql_on_primary(&self, sql: &str) {
        pg(
            self.primary_port(),
            &self.superuser_password(),
            Duration::from_secs(60),
        )
        .await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn superuser_password(&self) -> String {
        must(self.kit.password())
    }

    /// The superuser's password of `cluster` (a restore made under this test's state folder).
    pub fn password_of(&self, cluster: &str) -> String {
        must(self.kit.secret_of(cluster, "superuser_password"))
    }

    pub fn container(&self, member: &str) -> String {
        self.kit.container(member)
    }

    pub fn node_port(&self, i: usize) -> u16 {
        self.kit.node_port(i)
    }

    pub fn primary_port(&self) -> u16 {
        self.kit.primary_port()
    }

    pub fn replica_port(&self) -> u16 {
        self.kit.replica_port()
    }

    pub fn etcd_endpoints(&self) -> Vec<String> {
        self.kit.etcd_endpoints()
    }

    /// Containers, networks or volumes (names) carrying this test's label.
    pub fn labelled(&self, kind: &str) -> Vec<String> {
        must(self.kit.labelled(kind))
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.kit.path(rel)
    }
}

impl Drop for TestCluster {
    /// Removes everything carrying the test's label (the cluster, restores made from it, helper
    /// containers) with `docker rm -f`: the data goes with the test, so nothing needs a graceful
    /// stop (`pgha down` itself is tested in the lifecycle test). The state folder goes with `dir`.
    fn drop(&mut self) {
        if let Err(e) = crate::support::run::remove_by_test_label(&self.test) {
            eprintln!("cleanup of {}: {e:#}", self.test);
        }
    }
}

/// The cluster of the test running now (tests hold the Docker lock one at a time): its spec, and
/// in `home/` its certificates and etcd password.
static CURRENT: std::sync::Mutex<Option<Cluster>> = std::sync::Mutex::new(None);

fn current() -> Option<Cluster> {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The CA of every cluster the running test made (its restores included), for clients that
/// check PostgreSQL's certificate; None when no cluster has TLS.
pub fn pg_tls() -> Option<ClientTls> {
    current()?.pg_tls()
}

/// How the running test's cluster's etcd is reached: pgha's certificate and etcd's root user.
pub fn etcd_auth() -> EtcdAuth {
    current().map(|c| c.etcd_auth()).unwrap_or_default()
}

/// A raw etcd client on the running test's cluster (TLS and root when it has them).
pub async fn etcd_client(endpoints: &[String]) -> etcd_client::Client {
    pgha::adapters::dcs::raw_client(endpoints, &etcd_auth())
        .await
        .expect("connect to etcd")
}

/// A plaintext (no TLS) connection to 127.0.0.1:`port` as the superuser: the server's refusal
/// (its error, as text), or None when it accepted.
pub async fn plaintext_refusal(port: u16, password: &str) -> Option<String> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host("127.0.0.1")
        .port(port)
        .user("postgres")
        .password(password)
        .dbname("postgres")
        .ssl_mode(tokio_postgres::config::SslMode::Disable)
        .connect_timeout(Duration::from_secs(5));
    cfg.connect(tokio_postgres::NoTls)
        .await
        .err()
        .map(|e| format!("{e:?}"))
}

/// Connects to PostgreSQL on 127.0.0.1:port as the superuser, retrying until `deadline`.
pub async fn pg(port: u16, password: &str, deadline: Duration) -> tokio_postgres::Client {
    let start = Instant::now();
    let tls = pg_tls();
    loop {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host("127.0.0.1")
            .port(port)
            .user("postgres")
            .password(password)
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(2));
        let connected = match &tls {
            None => cfg
                .connect(tokio_postgres::NoTls)
                .await
                .map(|(c, conn)| (c, tokio::spawn(async move { conn.await.ok() }))),
            Some(t) => {
                cfg.ssl_mode(tokio_postgres::config::SslMode::Require);
                let make = tokio_postgres_rustls::MakeRustlsConnect::new(
                    pgha::adapters::tls::client_config(t).unwrap(),
                );
                cfg.connect(make)
                    .await
                    .map(|(c, conn)| (c, tokio::spawn(async move { conn.await.ok() })))
            }
        };
        match connected {
            Ok((client, _conn)) => return client,
            Err(e) if start.elapsed() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("connect to 127.0.0.1:{port}: {e}"),
        }
    }
}

/// Polls `f` until it returns Some or the deadline passes (then panics with `what`).
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One key of the cluster, read straight from etcd.
pub async fn etcd_get(endpoints: &[String], key: &str) -> Option<String> {
    let mut c = pgha::adapters::dcs::raw_client(endpoints, &etcd_auth())
        .await
        .ok()?;
    let r = c.get(key, None).await.ok()?;
    r.kvs()
        .first()
        .map(|kv| kv.value_str().unwrap_or("").to_string())
}

/// One member's row of `list --json`.
pub fn member_row(list: &serde_json::Value, name: &str) -> serde_json::Value {
    list["members"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["member"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no member {name} in {list}"))
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
