//! A handle on one test or bench cluster: its folder (the spec `pgha.toml`, and `home/`, pgha's
//! state folder through `PGHA_HOME`), its name, port base and `io.pgha.test` label. It runs the
//! pgha binary there with a deadline, rewrites the spec, reads the generated passwords, and
//! takes ports and container names from `Spec` as pgha computes them, never by formula here.

use super::run::{docker, lines, run_with_deadline, text};
use anyhow::{bail, Context, Result};
use pgha::adapters::dcs::EtcdAuth;
use pgha::adapters::pg::PgTarget;
use pgha::spec::Spec;
use pgha::tls::ClientTls;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    /// Its `io.pgha.test` label: what the kit removes leftovers by.
    pub test: String,
    pub port_base: u32,
    pub dir: PathBuf,
    pub bin: PathBuf,
    /// Spec lines every `respec` keeps (top-level keys or sections, before `extra`).
    pub fixed: String,
}

impl Cluster {
    pub fn new(bin: &Path, dir: &Path, name: &str, test: &str, port_base: u32) -> Cluster {
        Cluster {
            name: name.to_string(),
            test: test.to_string(),
            port_base,
            dir: dir.to_path_buf(),
            bin: bin.to_path_buf(),
            fixed: String::new(),
        }
    }

    /// Writes the spec again: name, port base, the fixed lines, `extra` (TOML) and the label.
    pub fn respec(&self, extra: &str) -> Result<()> {
        let spec = format!(
            "name = \"{}\"\nport_base = {}\n{}{extra}\n[labels]\n\"io.pgha.test\" = \"{}\"\n",
            self.name, self.port_base, self.fixed, self.test
        );
        std::fs::write(self.path("pgha.toml"), spec).context("write pgha.toml")
    }

    /// The spec as pgha reads it (validated).
    pub fn spec(&self) -> Result<Spec> {
        let path = self.path("pgha.toml");
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        Spec::parse(&text, "pgha.toml").map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn spec_or_panic(&self) -> Spec {
        self.spec().unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// pgha's state folder of `cluster` (this one's, or a restore's).
    pub fn state_of(&self, cluster: &str) -> PathBuf {
        self.home().join(cluster)
    }

    /// pgha with `args`, in the cluster's folder and state folder.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .current_dir(&self.dir)
            .env("PGHA_HOME", self.home())
            .env_remove("PGHA_SPEC");
        c
    }

    /// Runs pgha; its output whatever the exit code (an error only past the deadline).
    pub fn pgha_output(&self, args: &[&str], deadline: Duration) -> Result<Output> {
        run_with_deadline(&mut self.command(args), deadline)
    }

    /// Runs pgha and insists on success; its stdout.
    pub fn pgha(&self, args: &[&str], deadline: Duration) -> Result<String> {
        let out = self.pgha_output(args, deadline)?;
        if !out.status.success() {
            bail!(
                "pgha {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
                out.status,
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        Ok(text(&out.stdout))
    }

    /// pgha with `args` and `--json`, parsed.
    pub fn json(&self, args: &[&str], deadline: Duration) -> Result<Value> {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.pgha(&a, deadline)?;
        serde_json::from_str(&out).with_context(|| format!("parse pgha {a:?}: {out}"))
    }

    /// One generated secret of `cluster` (this one or a restore's), from its 0600 secrets file.
    pub fn secret_of(&self, cluster: &str, key: &str) -> Result<String> {
        let path = self.state_of(cluster).join("secrets.toml");
        let t =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        let v: toml::Value =
            toml::from_str(&t).with_context(|| format!("parse {}", path.display()))?;
        v.get(key)
            .and_then(|s| s.as_str())
            .map(String::from)
            .with_context(|| format!("no {key} in {}", path.display()))
    }

    /// The superuser's password.
    pub fn password(&self) -> Result<String> {
        self.secret_of(&self.name, "superuser_password")
    }

    /// The container of `member` (a node, an etcd member, haproxy, or a helper such as `hook`).
    pub fn container(&self, member: &str) -> String {
        pgha::spec::names::container_name(&self.spec_or_panic(), member)
    }

    pub fn network(&self) -> String {
        pgha::spec::names::network_name(&self.spec_or_panic())
    }

    pub fn node_port(&self, i: usize) -> u16 {
        self.spec_or_panic().node_pg_port(i) as u16
    }

    pub fn primary_port(&self) -> u16 {
        self.spec_or_panic().haproxy_primary_port() as u16
    }

    pub fn replica_port(&self) -> u16 {
        self.spec_or_panic().haproxy_replica_port() as u16
    }

    pub fn api_port(&self, i: usize) -> u16 {
        self.spec_or_panic().node_api_port(i) as u16
    }

    pub fn etcd_endpoints(&self) -> Vec<String> {
        self.spec_or_panic().etcd_endpoints()
    }

    /// The spec's node names.
    pub fn nodes(&self) -> Vec<String> {
        self.spec_or_panic().nodes.names.clone()
    }

    /// Prometheus's and Alertmanager's APIs as pgha reaches them: logged in with the monitoring
    /// password from the secrets file, over https checked against the cluster's CA (`[tls]` on).
    pub fn prom(&self) -> pgha::adapters::prom::Prom {
        pgha::adapters::prom::Prom::new(
            &self.spec_or_panic(),
            self.prom_login().ok(),
            self.prom_ca(),
        )
    }

    /// The monitoring login (user and password) of the cluster's secrets file.
    pub fn prom_login(&self) -> Result<pgha::adapters::prom::Login> {
        Ok(pgha::adapters::prom::Login {
            user: pgha::secrets::MONITORING_USER.into(),
            password: self.secret_of(&self.name, pgha::secrets::MONITORING_PASSWORD_KEY)?,
        })
    }

    /// The cluster's CA (PEM), when the spec has TLS and the CA exists.
    pub fn prom_ca(&self) -> Option<String> {
        if !self.spec().ok()?.tls.enabled {
            return None;
        }
        std::fs::read_to_string(self.state_of(&self.name).join("tls").join("ca.crt")).ok()
    }

    /// The CAs of every cluster under the state folder (restores included), for clients that
    /// check PostgreSQL's certificate; None when the spec has TLS off or no CA exists yet.
    pub fn pg_tls(&self) -> Option<ClientTls> {
        if !self.spec().ok()?.tls.enabled {
            return None;
        }
        let mut cas = String::new();
        for e in std::fs::read_dir(self.home()).ok()?.flatten() {
            if let Ok(t) = std::fs::read_to_string(e.path().join("tls").join("ca.crt")) {
                cas.push_str(&t);
            }
        }
        (!cas.is_empty()).then_some(ClientTls {
            ca: Some(cas),
            identity: None,
        })
    }

    /// The superuser on 127.0.0.1:`port`, over TLS when the cluster has it.
    pub fn pg_target(&self, port: u16) -> Result<PgTarget> {
        Ok(PgTarget {
            host: "127.0.0.1".into(),
            port,
            user: "postgres".into(),
            password: self.password()?,
            dbname: "postgres".into(),
            tls: self.pg_tls(),
        })
    }

    /// Every node's own port, in the spec's order.
    pub fn node_targets(&self) -> Result<Vec<PgTarget>> {
        (0..self.nodes().len())
            .map(|i| self.pg_target(self.node_port(i)))
            .collect()
    }

    /// How etcd is reached: pgha's client certificate and etcd's root user (TLS on), or nothing.
    pub fn etcd_auth(&self) -> EtcdAuth {
        if !self.spec().map(|s| s.tls.enabled).unwrap_or(false) {
            return EtcdAuth::default();
        }
        let Ok(Some(tls)) = pgha::tls::pgha_client_in(&self.state_of(&self.name).join("tls"))
        else {
            return EtcdAuth::default();
        };
        EtcdAuth {
            tls: Some(tls),
            user: self
                .secret_of(&self.name, "etcd_root_password")
                .ok()
                .map(|p| ("root".to_string(), p)),
        }
    }

    /// Names of the containers, networks or volumes carrying this cluster's test label.
    pub fn labelled(&self, kind: &str) -> Result<Vec<String>> {
        let filter = format!("label=io.pgha.test={}", self.test);
        let out = match kind {
            "container" => docker(&["ps", "-a", "--format", "{{.Names}}", "--filter", &filter])?,
            "network" => docker(&[
                "network",
                "ls",
                "--format",
                "{{.Name}}",
                "--filter",
                &filter,
            ])?,
            "volume" => docker(&["volume", "ls", "--format", "{{.Name}}", "--filter", &filter])?,
            _ => bail!("labelled: unknown kind {kind}"),
        };
        Ok(lines(&out))
    }

    /// Waits until `list` shows one leader, a sync standby, and every other member streaming
    /// with no lag; returns that `list --json`.
    pub async fn settle(&self, deadline: Duration) -> Result<Value> {
        let t0 = Instant::now();
        loop {
            let l = self.json(&["list"], Duration::from_secs(30))?;
            if settled(&l, self.nodes().len()) {
                return Ok(l);
            }
            if t0.elapsed() > deadline {
                bail!("the cluster did not settle within {deadline:?}: {l}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `list --json` shows `n` members: one leader, a sync standby, every other one streaming and
/// less than 1 MiB behind (Patroni's `maximum_lag_on_failover` default, past which a switchover
/// to it is refused).
pub fn settled(list: &Value, n: usize) -> bool {
    let m = list["members"].as_array().cloned().unwrap_or_default();
    m.len() == n
        && m.iter().filter(|x| x["role"] == "Leader").count() == 1
        && m.iter().any(|x| x["role"] == "Sync Standby")
        && m.iter().filter(|x| x["role"] != "Leader").all(|x| {
            x["state"] == "streaming" && x["lag_bytes"].as_u64().is_some_and(|b| b < 1 << 20)
        })
}
