//! Reaching a cluster's pgBackRest repository: through one of its running node containers, or,
//! when none runs (the cluster is down, or gone with only its repository volume left), through a
//! short-lived tool container from the node image that mounts the repository volume and nothing
//! else (no network, no ports). Every pgbackrest call goes through `Repo::run`. Also the stanza
//! `up` makes sure of (`ensure_stanza`), and the orphan check of a repository left without data.

use crate::adapters::docker::{Engine, ExecOutput};
use crate::layout;
use crate::pgbackrest::{self, StanzaInfo};
use crate::plan::{self, ContainerSpec, Kind, Resources, LABEL_CLUSTER};
use crate::spec::names;
use crate::spec::Spec;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Label of a tool container: the cluster whose repository it opens.
pub const LABEL_TOOL: &str = "io.pgha.tool";

pub struct Repo<'a> {
    engine: &'a Engine,
    pub stanza: String,
    pub container: String,
    /// True when `container` is a tool container that `close` removes.
    tool: bool,
}

/// The first line of a pgbackrest failure a user can act on (its `ERROR: [nnn]: ...` line).
pub fn failure(out: &ExecOutput) -> String {
    let all = format!("{}\n{}", out.stdout, out.stderr);
    all.lines()
        .find(|l| l.contains("ERROR:"))
        .or_else(|| all.lines().rev().find(|l| !l.trim().is_empty()))
        .map(|l| {
            let l = l.trim();
            l.find("ERROR:").map_or(l, |i| &l[i..]).to_string()
        })
        .unwrap_or_else(|| format!("exit code {}", out.code))
}

impl<'a> Repo<'a> {
    /// The repository as seen from a running node container of the cluster.
    pub fn on(engine: &'a Engine, spec: &Spec, container: &str) -> Repo<'a> {
        Repo {
            engine,
            stanza: spec.name.clone(),
            container: container.into(),
            tool: false,
        }
    }

    /// The repository of `spec`'s cluster. `node_image` is used only when no node runs.
    pub async fn open(engine: &'a Engine, spec: &Spec, node_image: &str) -> Result<Repo<'a>> {
        let volume = names::repo_volume(&spec.name);
        let inv = engine.inventory(&[(LABEL_CLUSTER, &spec.name)]).await?;
        if !inv.volumes.contains(&volume) {
            bail!(
                "cluster {} has no backup repository (volume {volume} is missing); `pgha up` with [backup] enabled makes one",
                spec.name
            );
        }
        if let Some(c) = inv
            .containers
            .iter()
            .find(|c| c.kind == Some(Kind::Node) && c.running)
        {
            return Ok(Repo {
                engine,
                stanza: spec.name.clone(),
                container: c.name.clone(),
                tool: false,
            });
        }
        Repo::tool(engine, spec, node_image, "pgbackrest-tool", vec![]).await
    }

    /// A tool container `<cluster>-<what>` from `node_image` with the repository volume, and
    /// `extra` volumes (name, mount point) besides, on no network.
    pub async fn tool(
        engine: &'a Engine,
        spec: &Spec,
        node_image: &str,
        what: &str,
        extra: Vec<(String, String)>,
    ) -> Result<Repo<'a>> {
        let volume = names::repo_volume(&spec.name);
        let name = format!("{}-{what}", spec.name);
        // A tool container left by an interrupted call.
        engine.remove_container(&name).await?;
        let mut labels: BTreeMap<String, String> = spec.labels.clone();
        labels.insert(LABEL_TOOL.into(), spec.name.clone());
        let c = ContainerSpec {
            name: name.clone(),
            kind: Kind::Node,
            member: what.into(),
            image: node_image.into(),
            // As long as its job: `close` removes it (and the next tool of the name, if a run
            // was cut short).
            cmd: vec!["sleep".into(), "infinity".into()],
            user: Some("postgres".into()),
            env: vec![format!("PGBACKREST_CONFIG={}", layout::PGBACKREST_CONF)],
            labels,
            ports: vec![],
            volumes: [(volume, layout::REPO_PATH.to_string())]
                .into_iter()
                .chain(extra)
                .collect(),
            ro_volumes: vec![],
            network: "none".into(),
            init: true,
            stop_timeout: 1,
            resources: Resources {
                shm_size: Some(spec.nodes.shm_bytes()),
                log_max_size: "1m".into(),
                log_max_files: 1,
                ..Default::default()
            },
            files: vec![plan::pgbackrest_conf_file(spec, false)],
        };
        engine.create_container(&c).await?;
        if let Err(e) = engine.start(&name).await {
            let _ = engine.remove_container(&name).await;
            return Err(e);
        }
        Ok(Repo {
            engine,
            stanza: spec.name.clone(),
            container: name,
            tool: true,
        })
    }

    /// `pgbackrest --stanza=<stanza> <args>`.
    fn pgbackrest(&self, args: &[&str]) -> Vec<String> {
        [
            "pgbackrest".to_string(),
            format!("--stanza={}", self.stanza),
        ]
        .into_iter()
        .chain(args.iter().map(|a| a.to_string()))
        .collect()
    }

    /// Runs `pgbackrest --stanza=<stanza> <args>` as postgres.
    pub async fn run(&self, args: &[&str]) -> Result<ExecOutput> {
        let cmd = self.pgbackrest(args);
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        self.engine
            .exec(&self.container, &cmd, Some("postgres"), &[])
            .await
    }

    /// Starts `pgbackrest --stanza=<cluster> <args>` as postgres in the container and returns:
    /// it runs on there (a backup that must not hold up its caller).
    pub async fn start(&self, args: &[&str]) -> Result<()> {
        let cmd = self.pgbackrest(args);
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        self.engine
            .exec_detached(&self.container, &cmd, "postgres")
            .await
    }

    /// Runs a shell script as postgres in the container.
    pub async fn shell(&self, script: &str) -> Result<ExecOutput> {
        self.engine
            .exec(
                &self.container,
                &["sh", "-c", script],
                Some("postgres"),
                &[],
            )
            .await
    }

    /// Runs a command and fails with pgbackrest's own error line when it fails.
    pub async fn must(&self, what: &str, args: &[&str]) -> Result<ExecOutput> {
        let out = self.run(args).await?;
        if out.code != 0 {
            bail!("{what} ({}): {}", self.container, failure(&out));
        }
        Ok(out)
    }

    pub async fn info(&self) -> Result<StanzaInfo> {
        let out = self
            .must("read the backup repository", &["--output=json", "info"])
            .await?;
        pgbackrest::parse_info(&out.stdout, &self.stanza)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("read pgbackrest info of {}", self.stanza))
    }

    /// One line per WAL segment file in the archive, as `find -printf FORMAT` prints it.
    async fn archive_files(&self, format: &str) -> Result<String> {
        let dir = format!("{}/archive/{}", layout::REPO_PATH, self.stanza);
        let cmd = [
            "find", &dir, "-type", "f", "-name", "0000*", "-printf", format,
        ];
        let out = self
            .engine
            .exec(&self.container, &cmd, Some("postgres"), &[])
            .await?;
        Ok(out.stdout)
    }

    /// Unix time of the newest WAL segment in the archive (its file's modification time), if any.
    pub async fn newest_archived_at(&self) -> Result<Option<i64>> {
        Ok(self
            .archive_files("%T@\\n")
            .await?
            .lines()
            .filter_map(|l| l.trim().parse::<f64>().ok())
            .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))))
            .map(|t| t as i64))
    }

    /// The names of the WAL segments in the archive (without pgBackRest's checksum suffix).
    pub async fn archived_segments(&self) -> Result<Vec<String>> {
        Ok(self
            .archive_files("%f\\n")
            .await?
            .lines()
            .filter_map(|l| l.get(..24))
            .filter(|n| pgbackrest::wal_parts(n).is_some())
            .map(String::from)
            .collect())
    }

    /// Removes the tool container, if this repo opened one.
    pub async fn close(self) -> Result<()> {
        if self.tool {
            self.engine.remove_container(&self.container).await?;
        }
        Ok(())
    }
}

/// The node image a tool container runs: the cluster's own, as `up` resolves it.
pub fn tool_image(spec: &Spec) -> String {
    spec.images
        .node
        .clone()
        .unwrap_or_else(crate::image::reference)
}

/// True when `volume` exists for `spec`'s cluster but none of its node data volumes does: a
/// repository left by `down --volumes`, holding backups of an earlier cluster of that name.
pub fn orphan_repository(spec: &Spec, volumes: &[String]) -> bool {
    let repo = names::repo_volume(&spec.name);
    volumes.contains(&repo)
        && !spec
            .nodes
            .names
            .iter()
            .any(|n| volumes.contains(&names::volume_name(spec, n)))
}

/// Now in Unix seconds, to age a backup by (pgBackRest reports its times so).
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The stanza exists and matches the database (`stanza-create` is idempotent), and archiving works
/// (`check`). Run on the leader's container by `up` after it made or changed the cluster.
pub async fn ensure_stanza(
    engine: &crate::adapters::docker::Engine,
    spec: &Spec,
    leader: &str,
) -> Result<()> {
    let repo = Repo::on(engine, spec, &names::container_name(spec, leader));
    let out = repo.run(&["stanza-create"]).await?;
    if out.code != 0 {
        bail!(
            "create the pgBackRest stanza {} on {leader}: {}; WAL is not archived until this works (`pgha verify` checks it)",
            spec.name,
            failure(&out)
        );
    }
    // pgBackRest's check switches WAL and waits until the segment is archived. That also wakes an
    // archiver that gave up for a minute on WAL (a timeline's history file) it could not push
    // before the stanza existed, as when `up` gives a running cluster archiving.
    let out = repo.run(&["check"]).await?;
    if out.code != 0 {
        bail!(
            "cluster {} runs, but WAL archiving fails on {leader}: {} (`pgha list` shows the archiver)",
            spec.name,
            failure(&out)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_repository_without_node_data_is_an_orphan() {
        let spec = Spec::default();
        let v = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(orphan_repository(&spec, &v(&["pgha-backup"])));
        assert!(!orphan_repository(
            &spec,
            &v(&["pgha-backup", "pgha-pg2-data"])
        ));
        assert!(!orphan_repository(&spec, &v(&[])));
    }
}
