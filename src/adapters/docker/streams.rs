//! The Docker adapter's streaming side: image import, exec, logs, stats, network (dis)connection
//! of a running container, and the tar archives that carry config files into containers.

use super::{is_not_found, Engine, LogLine};
use crate::plan::ContainerSpec;
use anyhow::{anyhow, Context, Result};
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{
    EndpointSettings, ExecConfig, NetworkConnectRequest, NetworkDisconnectRequest,
};
use bollard::query_parameters::{
    CreateImageOptions, ListContainersOptions, ListImagesOptions, LogsOptions, RemoveImageOptions,
    StatsOptions, TagImageOptions,
};
use futures_util::{Stream, StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::path::Path;

/// What one `exec` printed and returned.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Whether an unused image with these tags may go: untagged, or every tag in `repo`, and none in
/// `keep`.
fn prunable(tags: &[&String], repo: &str, keep: &[String]) -> bool {
    tags.iter()
        .all(|t| t.split_once(':').is_some_and(|(r, _)| r == repo))
        && !tags.iter().any(|t| keep.contains(t))
}

impl Engine {
    /// Labels of a local image, or `None` when it is not there.
    pub async fn image_labels(&self, image: &str) -> Result<Option<HashMap<String, String>>> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(Some(i.config.and_then(|c| c.labels).unwrap_or_default())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("inspect image {image}")),
        }
    }

    /// The ID of a local image, or `None` when it is not there.
    pub async fn image_id(&self, image: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(i.id),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("inspect image {image}")),
        }
    }

    /// Gives the image `image` the reference `repo:tag` too (`docker tag`).
    pub async fn tag_image(&self, image: &str, repo: &str, tag: &str) -> Result<()> {
        self.docker
            .tag_image(
                image,
                Some(TagImageOptions {
                    repo: Some(repo.into()),
                    tag: Some(tag.into()),
                }),
            )
            .await
            .with_context(|| format!("tag image {image} as {repo}:{tag}"))
    }

    /// Removes the images labelled `label` (`key=value`) that no container uses and whose every
    /// tag is in `repo` (untagged ones included), except those with a tag in `keep`: an image
    /// somebody tagged elsewhere (one built from pgha's, say) stays. Returns how each was known.
    pub async fn remove_unused_images(
        &self,
        label: &str,
        repo: &str,
        keep: &[String],
    ) -> Result<Vec<String>> {
        let images = self
            .docker
            .list_images(Some(ListImagesOptions {
                filters: Some(HashMap::from([(
                    "label".to_string(),
                    vec![label.to_string()],
                )])),
                ..Default::default()
            }))
            .await
            .context("list images")?;
        let used: std::collections::HashSet<String> = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .context("list containers")?
            .into_iter()
            .filter_map(|c| c.image_id)
            .collect();
        let mut removed = Vec::new();
        for i in images {
            let tags: Vec<&String> = i
                .repo_tags
                .iter()
                .filter(|t| t.as_str() != "<none>:<none>")
                .collect();
            if used.contains(&i.id) || !prunable(&tags, repo, keep) {
                continue;
            }
            let shown = tags.first().map(|t| t.to_string()).unwrap_or_else(|| {
                let id = i.id.trim_start_matches("sha256:");
                format!("{} (untagged)", &id[..id.len().min(12)])
            });
            match self
                .docker
                .remove_image(
                    &i.id,
                    // Removing by ID needs force when it has more than one tag.
                    Some(RemoveImageOptions {
                        force: tags.len() > 1,
                        ..Default::default()
                    }),
                    None,
                )
                .await
            {
                Ok(_) => removed.push(shown),
                // In use meanwhile, or a parent of another image: it stays.
                Err(e) if is_not_found(&e) => {}
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409, ..
                }) => {}
                Err(e) => return Err(e).with_context(|| format!("remove image {shown}")),
            }
        }
        Ok(removed)
    }

    /// Imports a root filesystem tarball as `repo:tag` (`docker import`), reporting bytes sent.
    pub async fn import_rootfs(
        &self,
        tarball: &Path,
        repo: &str,
        tag: &str,
        changes: Vec<String>,
        on_bytes: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<()> {
        let file = tokio::fs::File::open(tarball)
            .await
            .with_context(|| format!("open {}", tarball.display()))?;
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).inspect_ok(move |b| {
                on_bytes(b.len() as u64);
            });
        let opts = CreateImageOptions {
            from_src: Some("-".into()),
            repo: Some(repo.into()),
            tag: Some(tag.into()),
            changes,
            ..Default::default()
        };
        let mut s =
            self.docker
                .create_image(Some(opts), Some(bollard::body_try_stream(stream)), None);
        while let Some(item) = s.next().await {
            item.with_context(|| format!("import image {repo}:{tag}"))?;
        }
        Ok(())
    }

    /// A container's log lines (`tail`: how many of the last lines; `follow`: keep streaming).
    pub fn logs(
        &self,
        container: &str,
        tail: Option<usize>,
        since: Option<i64>,
        follow: bool,
        timestamps: bool,
    ) -> impl Stream<Item = Result<LogLine>> + use<> {
        let name = container.to_string();
        self.docker
            .logs(
                container,
                Some(LogsOptions {
                    follow,
                    stdout: true,
                    stderr: true,
                    since: since.unwrap_or(0) as i32,
                    timestamps,
                    tail: tail.map(|t| t.to_string()).unwrap_or_else(|| "all".into()),
                    ..Default::default()
                }),
            )
            .map(move |item| {
                let item = item.with_context(|| format!("read logs of {name}"))?;
                let stderr = matches!(item, bollard::container::LogOutput::StdErr { .. });
                Ok(LogLine {
                    stderr,
                    text: String::from_utf8_lossy(&item.into_bytes()).into_owned(),
                })
            })
    }

    /// Memory in use by a container now, in bytes: as `docker stats` counts it (usage less
    /// inactive page cache), and the processes' own (anonymous) memory.
    pub async fn memory_usage(&self, container: &str) -> Result<(u64, u64)> {
        let mut s = self.docker.stats(
            container,
            Some(StatsOptions {
                stream: false,
                one_shot: true,
            }),
        );
        let st = s
            .next()
            .await
            .ok_or_else(|| anyhow!("no stats for {container}"))?
            .with_context(|| format!("stats of {container}"))?;
        let mem = st.memory_stats.unwrap_or_default();
        let usage = mem.usage.unwrap_or(0);
        let stats = mem.stats.unwrap_or_default();
        let cache = stats
            .get("inactive_file")
            .or_else(|| stats.get("total_inactive_file"))
            .copied()
            .unwrap_or(0);
        let anon = stats
            .get("anon")
            .or_else(|| stats.get("rss"))
            .copied()
            .unwrap_or(0);
        Ok((usage.saturating_sub(cache), anon))
    }

    /// Runs `cmd` in a running container as `user`, with `env` (`KEY=value`; secrets go here or
    /// in a file, never in `cmd`), and collects its output and exit code.
    pub async fn exec(
        &self,
        container: &str,
        cmd: &[&str],
        user: Option<&str>,
        env: &[String],
    ) -> Result<ExecOutput> {
        let exec = self
            .docker
            .create_exec(
                container,
                ExecConfig {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    env: Some(env.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    user: user.map(String::from),
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("exec {:?} in {container}", cmd.first()))?;
        let mut out = ExecOutput::default();
        if let StartExecResults::Attached { mut output, .. } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .with_context(|| format!("start exec in {container}"))?
        {
            while let Some(msg) = output.next().await {
                match msg.with_context(|| format!("read exec output in {container}"))? {
                    LogOutput::StdErr { message } => {
                        out.stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => out
                        .stdout
                        .push_str(&String::from_utf8_lossy(&other.into_bytes())),
                }
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .with_context(|| format!("inspect exec in {container}"))?;
        out.code = inspect.exit_code.unwrap_or(-1);
        Ok(out)
    }

    /// Starts `cmd` in a running container as `user` and returns at once: it runs on in the
    /// container (its output goes nowhere; what it does must be observable elsewhere).
    pub async fn exec_detached(&self, container: &str, cmd: &[&str], user: &str) -> Result<()> {
        let exec = self
            .docker
            .create_exec(
                container,
                ExecConfig {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    user: Some(user.to_string()),
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("exec {:?} in {container}", cmd.first()))?;
        self.docker
            .start_exec(
                &exec.id,
                Some(StartExecOptions {
                    detach: true,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .with_context(|| format!("start exec in {container}"))?;
        Ok(())
    }

    /// The command lines (program and arguments, space separated) of the execs that run now in
    /// `container`; none when it does not exist.
    pub async fn running_execs(&self, container: &str) -> Result<Vec<String>> {
        let c = match self.docker.inspect_container(container, None).await {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => return Ok(vec![]),
            Err(e) => return Err(e).with_context(|| format!("inspect {container}")),
        };
        let mut out = Vec::new();
        for id in c.exec_ids.unwrap_or_default() {
            let Ok(e) = self.docker.inspect_exec(&id).await else {
                continue; // ended and gone meanwhile
            };
            if e.running != Some(true) {
                continue;
            }
            if let Some(pc) = e.process_config {
                let mut words = vec![pc.entrypoint.unwrap_or_default()];
                words.extend(pc.arguments.unwrap_or_default());
                out.push(words.join(" "));
            }
        }
        Ok(out)
    }

    /// Cuts a running container off `network` (a network partition; its published ports go too).
    pub async fn network_disconnect(&self, network: &str, container: &str) -> Result<()> {
        self.docker
            .disconnect_network(
                network,
                NetworkDisconnectRequest {
                    container: container.to_string(),
                    force: Some(true),
                },
            )
            .await
            .with_context(|| format!("disconnect container {container} from network {network}"))
    }

    /// Connects a container to `network` under `alias` (its member name, so DNS finds it).
    /// Already connected counts as done.
    pub async fn network_connect(&self, network: &str, container: &str, alias: &str) -> Result<()> {
        if self.connected(network, container).await? {
            return Ok(());
        }
        self.docker
            .connect_network(
                network,
                NetworkConnectRequest {
                    container: container.to_string(),
                    endpoint_config: Some(EndpointSettings {
                        aliases: Some(vec![alias.to_string()]),
                        ..Default::default()
                    }),
                },
            )
            .await
            .with_context(|| format!("connect container {container} to network {network}"))
    }

    /// Whether a container is attached to `network`.
    pub async fn connected(&self, network: &str, container: &str) -> Result<bool> {
        let c = self
            .docker
            .inspect_container(container, None)
            .await
            .with_context(|| format!("inspect container {container}"))?;
        Ok(c.network_settings
            .and_then(|n| n.networks)
            .is_some_and(|n| n.contains_key(network)))
    }
}

/// The tar archive `upload_to_container` wants: our own folders, then the files, with owners and
/// modes set in the headers.
pub(super) fn files_tar(c: &ContainerSpec) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs: Vec<String> = Vec::new();
    let ours = crate::layout::PGHA_DIR.trim_start_matches('/');
    for f in &c.files {
        let rel = f.path.trim_start_matches('/');
        // Only folders pgha owns (below `layout::PGHA_DIR`); never touch /etc itself.
        let mut acc = String::new();
        for part in rel.split('/').take(rel.split('/').count() - 1) {
            acc = if acc.is_empty() {
                part.to_string()
            } else {
                format!("{acc}/{part}")
            };
            if acc.starts_with(ours) && !dirs.contains(&acc) {
                dirs.push(acc.clone());
            }
        }
    }
    let owner = c
        .files
        .iter()
        .find(|f| f.secret)
        .map(|f| (f.uid, f.gid))
        .unwrap_or((0, 0));
    for d in &dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_size(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, format!("{d}/"), std::io::empty())?;
    }
    for f in &c.files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(f.mode);
        h.set_uid(f.uid);
        h.set_gid(f.gid);
        h.set_size(f.contents.len() as u64);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(
            &mut h,
            f.path.trim_start_matches('/'),
            f.contents.as_slice(),
        )?;
    }
    Ok(b.into_inner()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_pgha_node_images_not_kept_are_prunable() {
        let t = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<String>>();
        let keep = t(&["pgha-node:abc"]);
        let check = |tags: &[&str]| {
            let tags = t(tags);
            super::prunable(&tags.iter().collect::<Vec<_>>(), "pgha-node", &keep)
        };
        assert!(check(&[]), "untagged");
        assert!(check(&["pgha-node:old", "pgha-node:old-123"]));
        assert!(!check(&["pgha-node:abc", "pgha-node:abc-123"]), "kept");
        assert!(!check(&["my-node:2"]), "somebody else's tag");
        assert!(!check(&["pgha-node:old", "my-node:2"]));
    }
}
