//! Test harness for end-to-end tests against the real Docker engine: a uniquely named cluster per
//! test, on its own port base, labelled `io.pgha.test=<test>`; leftovers of earlier runs with that
//! label are removed first, and the cluster is removed at the end (pass or fail). The pgha binary is
//! driven as a user would, with a deadline on every command. Checks read Docker (docker CLI), etcd
//! (etcd-client) and PostgreSQL (tokio-postgres) directly, not through pgha.

#![allow(dead_code)]

use pgha::adapters::dcs::EtcdAuth;
use pgha::tls::ClientTls;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Docker tests run one at a time: the machine has 2 cores.
static DOCKER: Mutex<()> = Mutex::new(());

/// Held while a Docker test runs: the lock between this binary's test threads, and an exclusive
/// `flock` on a file shared by every test process on the machine (two checkouts testing at once).
pub struct DockerLock {
    _file: std::fs::File,
    _guard: MutexGuard<'static, ()>,
    /// The test holding the lock (libtest names each test's thread after it) and since when.
    test: String,
    since: Instant,
}

impl Drop for DockerLock {
    /// Prints the test's duration, past libtest's capture of `eprintln!` (which would show it only
    /// for a failed test), so every run shows what each end-to-end test costs.
    fn drop(&mut self) {
        use std::io::Write;
        let line = format!(
            "e2e time: {} {:.1} s{}\n",
            self.test,
            self.since.elapsed().as_secs_f64(),
            if std::thread::panicking() { " (failed)" } else { "" }
        );
        std::io::stderr().write_all(line.as_bytes()).ok();
    }
}

pub fn docker_lock() -> DockerLock {
    let guard = DOCKER.lock().unwrap_or_else(|e| e.into_inner());
    // Blocks until no other process runs a Docker test or the bench.
    let file = crate::bench::cluster::machine_lock().unwrap_or_else(|e| panic!("{e:#}"));
    DockerLock {
        _file: file,
        _guard: guard,
        test: std::thread::current()
            .name()
            .unwrap_or("unnamed test")
            .to_string(),
        since: Instant::now(),
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pgha")
}

/// Runs a command with a deadline; kills it when the deadline passes.
pub fn run_with_deadline(cmd: &mut Command, deadline: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    // Read output on threads so a chatty child never blocks on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut b).ok();
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut b).ok();
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > deadline {
            child.kill().ok();
            let s = child.wait().unwrap();
            let err = String::from_utf8_lossy(&t_err.join().unwrap()).into_owned();
            panic!("{what} did not finish within {deadline:?} ({s}); stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `docker <args>`; panics when it fails.
pub fn docker(args: &[&str]) -> String {
    let out = run_with_deadline(Command::new("docker").args(args), Duration::from_secs(120));
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
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

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// Removes every container, network and volume labelled `io.pgha.test=<test>`.
pub fn remove_by_test_label(test: &str) {
    let filter = format!("label=io.pgha.test={test}");
    let ids = lines(&docker(&["ps", "-aq", "--filter", &filter]));
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(ids.iter().map(String::as_str));
        docker(&args);
    }
    for n in lines(&docker(&["network", "ls", "-q", "--filter", &filter])) {
        docker(&["network", "rm", &n]);
    }
    for v in lines(&docker(&["volume", "ls", "-q", "--filter", &filter])) {
        docker(&["volume", "rm", "-f", &v]);
    }
}

pub struct TestCluster {
    pub test: String,
    pub name: String,
    pub port_base: u32,
    pub dir: tempfile::TempDir,
    _lock: DockerLock,
}

impl TestCluster {
    /// A cluster for one test: `extra` is TOML appended to the spec.
    pub fn new(test: &str, port_base: u32, extra: &str) -> TestCluster {
        let lock = docker_lock();
        remove_by_test_label(test);
        let dir = tempfile::tempdir().unwrap();
        let name = format!("it-{}", test.replace('_', "-"));
        *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((dir.path().to_path_buf(), name.clone()));
        let c = TestCluster {
            test: test.to_string(),
            name,
            port_base,
            dir,
            _lock: lock,
        };
        c.respec(extra);
        c
    }

    /// Writes the test's spec again with `extra` (TOML) in place of what it had.
    pub fn respec(&self, extra: &str) {
        let spec = format!(
            "name = \"{}\"\nport_base = {}\n{extra}\n[labels]\n\"io.pgha.test\" = \"{}\"\n",
            self.name, self.port_base, self.test
        );
        std::fs::write(self.dir.path().join("pgha.toml"), spec).unwrap();
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(self.dir.path())
            .env("PGHA_HOME", self.home())
            .env_remove("PGHA_SPEC");
        c
    }

    /// Runs pgha in the test's folder; returns the output whatever the exit code.
    pub fn pgha_output(&self, args: &[&str], deadline: Duration) -> Output {
        run_with_deadline(&mut self.command(args), deadline)
    }

    /// Runs pgha and insists on success; returns stdout.
    pub fn pgha(&self, args: &[&str], deadline: Duration) -> String {
        let out = self.pgha_output(args, deadline);
        assert!(
            out.status.success(),
            "pgha {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
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
        let out = self.pgha(&["list", "--json"], Duration::from_secs(30));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("list --json: {e}: {out}"))
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
        let path = self.home().join(&self.name).join("secrets.toml");
        let t = std::fs::read_to_string(&path).unwrap();
        let v: toml::Value = toml::from_str(&t).unwrap();
        v["superuser_password"].as_str().unwrap().to_string()
    }

    pub fn container(&self, member: &str) -> String {
        format!("{}-{member}", self.name)
    }

    pub fn node_port(&self, i: usize) -> u16 {
        (5431 + self.port_base + i as u32) as u16
    }

    pub fn primary_port(&self) -> u16 {
        (54320 + self.port_base) as u16
    }

    pub fn replica_port(&self) -> u16 {
        (54321 + self.port_base) as u16
    }

    pub fn etcd_endpoints(&self) -> Vec<String> {
        (0..3)
            .map(|i| format!("127.0.0.1:{}", 54341 + self.port_base + i))
            .collect()
    }

    /// Containers (names) carrying this test's label.
    pub fn labelled(&self, kind: &str) -> Vec<String> {
        let filter = format!("label=io.pgha.test={}", self.test);
        let out = match kind {
            "container" => docker(&["ps", "-a", "--format", "{{.Names}}", "--filter", &filter]),
            "network" => docker(&[
                "network",
                "ls",
                "--format",
                "{{.Name}}",
                "--filter",
                &filter,
            ]),
            "volume" => docker(&["volume", "ls", "--format", "{{.Name}}", "--filter", &filter]),
            _ => unreachable!(),
        };
        lines(&out)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let out = run_with_deadline(
            &mut self.command(&["down", "--volumes", "--repository", "--yes"]),
            Duration::from_secs(180),
        );
        if !out.status.success() {
            eprintln!("pgha down failed during cleanup: {}", text(&out.stderr));
        }
        remove_by_test_label(&self.test);
    }
}

/// The folder and name of the cluster of the test running now (tests hold the Docker lock one
/// at a time): its spec, and in `home/` its certificates and etcd password.
static CURRENT: std::sync::Mutex<Option<(PathBuf, String)>> = std::sync::Mutex::new(None);

/// The running test's state folder and cluster name, when its spec has TLS on (the default).
fn current() -> Option<(PathBuf, String)> {
    let (dir, name) = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
    let text = std::fs::read_to_string(dir.join("pgha.toml")).ok()?;
    let spec = pgha::spec::Spec::parse(&text, "pgha.toml").ok()?;
    spec.tls.enabled.then(|| (dir.join("home"), name))
}

/// The CA of every cluster the running test made (its restores included), for clients that
/// check PostgreSQL's certificate; None when no cluster has TLS.
pub fn pg_tls() -> Option<ClientTls> {
    let (home, _) = current()?;
    let mut cas = String::new();
    for e in std::fs::read_dir(&home).ok()?.flatten() {
        if let Ok(t) = std::fs::read_to_string(e.path().join("tls").join("ca.crt")) {
            cas.push_str(&t);
        }
    }
    (!cas.is_empty()).then_some(ClientTls {
        ca: Some(cas),
        identity: None,
    })
}

/// How the running test's cluster's etcd is reached: pgha's certificate and etcd's root user.
pub fn etcd_auth() -> EtcdAuth {
    let Some((home, name)) = current() else {
        return EtcdAuth::default();
    };
    let Ok(Some(tls)) = pgha::tls::pgha_client_in(&home.join(&name).join("tls")) else {
        return EtcdAuth::default();
    };
    let pw = std::fs::read_to_string(home.join(&name).join("secrets.toml"))
        .ok()
        .and_then(|t| toml::from_str::<toml::Value>(&t).ok())
        .and_then(|v| v["etcd_root_password"].as_str().map(String::from));
    EtcdAuth {
        tls: Some(tls),
        user: pw.map(|p| ("root".to_string(), p)),
    }
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
