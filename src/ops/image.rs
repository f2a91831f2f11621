//! The node image on a Docker engine: build it with mmdebstrap and import it through Docker
//! (`build`, for `image build` and `up` when it is missing), find which images a spec uses
//! (`resolve`, `image_ids`), and remove node images no container uses (`remove_unused`). The
//! recipe itself is `crate::image`.

use crate::adapters::docker::Engine;
use crate::image::{self, LABEL_POSTGRES_GID, LABEL_POSTGRES_UID};
use crate::plan::{Desired, Owner};
use crate::progress::Progress;
use crate::spec::Spec;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The images a cluster's containers run, and the owners of their private files (their users'
/// uid/gid, from the images' labels).
#[derive(Debug, Clone)]
pub struct Images {
    pub node: String,
    pub etcd: String,
    pub haproxy: String,
    /// The postgres user of the node image.
    pub postgres: Owner,
    /// The etcd and haproxy users of their images.
    pub etcd_owner: Owner,
    pub haproxy_owner: Owner,
    /// The prometheus user of the node image (the monitoring containers run it).
    pub prometheus: Owner,
    pub built: bool,
}

impl Images {
    /// For what makes no files (`pgha plan`) before pgha's own image is built: its owners taken
    /// as root's, which changes no step (private files are outside the config hash).
    pub fn owners_for_a_dry_run(mut self) -> Images {
        for o in [
            &mut self.postgres,
            &mut self.etcd_owner,
            &mut self.haproxy_owner,
            &mut self.prometheus,
        ] {
            if matches!(o, Owner::NotBuilt { .. }) {
                *o = Owner::Ids(0, 0);
            }
        }
        self
    }
}

/// `uid:gid` from a label.
fn ids_label(labels: &std::collections::HashMap<String, String>, key: &str) -> Option<(u64, u64)> {
    let (u, g) = labels.get(key)?.split_once(':')?;
    Some((u.parse().ok()?, g.parse().ok()?))
}

/// The owner `image`'s `labels` name under `key`; `None` labels: pgha's own image, not built.
fn owner(
    image: &str,
    labels: Option<&std::collections::HashMap<String, String>>,
    key: &str,
) -> Owner {
    match labels {
        None => Owner::NotBuilt {
            image: image.into(),
        },
        Some(l) => match ids_label(l, key) {
            Some((u, g)) => Owner::Ids(u, g),
            None => Owner::NoLabel {
                image: image.into(),
                label: key.into(),
            },
        },
    }
}

/// The image ID behind each image reference the wanted containers use (those on the engine).
pub async fn image_ids(engine: &Engine, want: &Desired) -> Result<BTreeMap<String, String>> {
    let mut ids = BTreeMap::new();
    for c in &want.containers {
        if !ids.contains_key(&c.image) {
            if let Some(id) = engine.image_id(&c.image).await? {
                ids.insert(c.image.clone(), id);
            }
        }
    }
    Ok(ids)
}

/// Removes pgha's own node images (tagged `pgha-node:...` or untagged) that no container uses,
/// but for those named in `keep`.
pub async fn remove_unused(engine: &Engine, keep: &[String], p: &Progress) -> Result<()> {
    let label = format!("{}=node", image::LABEL_IMAGE);
    for gone in engine
        .remove_unused_images(&label, image::REPO, keep)
        .await?
    {
        p.note(format!("removed image {gone}: no container uses it"));
    }
    Ok(())
}

/// What a build made.
pub struct Built {
    /// `image::content_hash` of its packages.
    pub content: String,
    /// False when `--refresh` found the same packages as the current image (nothing imported).
    pub changed: bool,
}

/// Resolves the spec's images; builds pgha's node image when it is missing and `build` is set.
pub async fn resolve(
    spec: &Spec,
    engine: &Engine,
    p: &Progress,
    build_missing: bool,
) -> Result<Images> {
    let node = spec.images.node.clone().unwrap_or_else(image::reference);
    let mut built = false;
    let labels = match engine.image_labels(&node).await? {
        Some(l) => Some(l),
        None if spec.images.node.is_none() && build_missing => {
            build(engine, p, false).await?;
            built = true;
            Some(
                engine
                    .image_labels(&node)
                    .await?
                    .ok_or_else(|| anyhow!("image {node} is missing right after it was built"))?,
            )
        }
        None if spec.images.node.is_none() => None,
        None => bail!(
            "image {node} (images.node in the spec) is not on this Docker engine, and pgha does not pull images; build it, or remove images.node to use pgha's own image"
        ),
    };
    let id = |k: &str| labels.as_ref()?.get(k).and_then(|v| v.parse::<u64>().ok());
    let postgres = match (id(LABEL_POSTGRES_UID), id(LABEL_POSTGRES_GID)) {
        (Some(u), Some(g)) => Owner::Ids(u, g),
        _ if labels.is_none() => Owner::NotBuilt {
            image: node.clone(),
        },
        _ => bail!(
            "image {node} lacks the labels {LABEL_POSTGRES_UID} and {LABEL_POSTGRES_GID} (the postgres user's ids, which own the secrets file); add them to the image"
        ),
    };
    let etcd_owner = owner_in(
        engine,
        &spec.images.etcd,
        &node,
        &labels,
        image::LABEL_ETCD_IDS,
    )
    .await?;
    let haproxy_owner = owner_in(
        engine,
        &spec.images.haproxy,
        &node,
        &labels,
        image::LABEL_HAPROXY_IDS,
    )
    .await?;
    Ok(Images {
        etcd_owner,
        haproxy_owner,
        prometheus: owner(&node, labels.as_ref(), image::LABEL_PROMETHEUS_IDS),
        postgres,
        etcd: spec.images.etcd.clone().unwrap_or_else(|| node.clone()),
        haproxy: spec.images.haproxy.clone().unwrap_or_else(|| node.clone()),
        node,
        built,
    })
}

/// The owner that image `other` of the spec's `[images]` names under `key` (the node image's,
/// `node` with `labels`, when it is not set).
async fn owner_in(
    engine: &Engine,
    other: &Option<String>,
    node: &str,
    labels: &Option<std::collections::HashMap<String, String>>,
    key: &str,
) -> Result<Owner> {
    let Some(other) = other else {
        return Ok(owner(node, labels.as_ref(), key));
    };
    match engine.image_labels(other).await? {
        Some(l) => Ok(owner(other, Some(&l), key)),
        None => bail!("image {other} (from the spec's [images]) is not on this Docker engine, and pgha does not pull images"),
    }
}

/// Removes the rootfs tarball however the build ends.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Builds the node image: mmdebstrap → rootfs tarball → `docker import` with labels, tagged by
/// its content (`pgha-node:<recipe>-<content>`) and as `image::reference()`. With `refresh`, an
/// image whose packages are those of the current one is not imported.
pub async fn build(engine: &Engine, p: &Progress, refresh: bool) -> Result<Built> {
    let reference = image::reference();
    p.note(format!(
        "building image {reference} from Debian {} packages (mmdebstrap)",
        image::SUITE
    ));
    let tmp = TempFile(std::env::temp_dir().join(format!(
        "pgha-rootfs-{}-{}.tar",
        image::tag(),
        std::process::id()
    )));
    let mut cmd = tokio::process::Command::new("mmdebstrap");
    cmd.args(image::mmdebstrap_args()).arg(&tmp.0);
    if let Some(m) = std::env::var_os("PGHA_DEBIAN_MIRROR").filter(|m| !m.is_empty()) {
        cmd.arg(m);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        anyhow!(
            "run mmdebstrap: {e}; pgha builds its node image from Debian packages with mmdebstrap: install it (apt-get install mmdebstrap), or set images.node in the spec to an existing image"
        )
    })?;
    let stderr = child.stderr.take().context("mmdebstrap stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut tail: VecDeque<String> = VecDeque::new();
    while let Some(line) = lines.next_line().await.context("read mmdebstrap output")? {
        if let Some(msg) = line.strip_prefix("I: ") {
            p.step(format!("building image: {msg}"));
        }
        tail.push_back(line);
        if tail.len() > 15 {
            tail.pop_front();
        }
    }
    let status = child.wait().await.context("wait for mmdebstrap")?;
    if !status.success() {
        bail!(
            "mmdebstrap failed ({status}); its last lines:\n{}",
            Vec::from(tail).join("\n")
        );
    }
    let (ids, content) = rootfs_facts(&tmp.0)?;
    if refresh {
        let current = engine.image_labels(&reference).await?;
        if current
            .and_then(|l| l.get(image::LABEL_CONTENT).cloned())
            .as_deref()
            == Some(&content)
        {
            return Ok(Built {
                content,
                changed: false,
            });
        }
    }
    let mut changes = image::import_changes(ids);
    changes.push(format!("LABEL {}={content}", image::LABEL_CONTENT));
    let size = std::fs::metadata(&tmp.0)?.len();
    let sent = Arc::new(AtomicU64::new(0));
    let (sent2, p_msg) = (sent.clone(), size as f64 / 1048576.0);
    p.step("importing image");
    let by_content = image::content_reference(&content);
    let content_tag = by_content
        .rsplit_once(':')
        .map(|(_, t)| t.to_string())
        .unwrap_or_default();
    let import = engine.import_rootfs(&tmp.0, image::REPO, &content_tag, changes, move |n| {
        sent2.fetch_add(n, Ordering::Relaxed);
    });
    tokio::pin!(import);
    loop {
        tokio::select! {
            r = &mut import => { r?; break; }
            _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => {
                let s = sent.load(Ordering::Relaxed) as f64 / 1048576.0;
                p.step(format!("importing image: {s:.0} of {p_msg:.0} MiB"));
            }
        }
    }
    engine
        .tag_image(&by_content, image::REPO, &image::tag())
        .await?;
    p.note(format!("image {reference} built ({by_content})"));
    Ok(Built {
        content,
        changed: true,
    })
}

/// The postgres user's uid/gid (from /etc/passwd) and the content hash of the installed packages
/// (from dpkg's status file), read from the rootfs tarball.
fn rootfs_facts(tarball: &std::path::Path) -> Result<([(u32, u32); 4], String)> {
    let f = std::fs::File::open(tarball).with_context(|| format!("open {}", tarball.display()))?;
    let mut ar = tar::Archive::new(std::io::BufReader::new(f));
    let (mut ids, mut content) = (None, None);
    for entry in ar.entries().context("read rootfs tarball")? {
        let mut entry = entry.context("read rootfs tarball entry")?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./");
        if path != "etc/passwd" && path != "var/lib/dpkg/status" {
            continue;
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text)?;
        if path == "etc/passwd" {
            let mut found = [(0, 0); 4];
            for (slot, user) in found.iter_mut().zip(image::ID_USERS) {
                *slot = image::passwd_ids(&text, user)
                    .ok_or_else(|| anyhow!("no {user} user in the built image's /etc/passwd"))?;
            }
            ids = Some(found);
        } else {
            content = Some(image::content_hash(&text));
        }
    }
    match (ids, content) {
        (Some(ids), Some(c)) => Ok((ids, c)),
        (None, _) => bail!("no /etc/passwd in the built rootfs"),
        (_, None) => bail!("no /var/lib/dpkg/status in the built rootfs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_is_from_its_label_or_says_why_it_is_not_known() {
        let labels: std::collections::HashMap<String, String> =
            [(image::LABEL_ETCD_IDS.to_string(), "105:106".to_string())].into();
        let etcd = owner("img", Some(&labels), image::LABEL_ETCD_IDS);
        assert_eq!(etcd, Owner::Ids(105, 106));
        let haproxy = owner("img", Some(&labels), image::LABEL_HAPROXY_IDS);
        assert_eq!(
            haproxy,
            Owner::NoLabel {
                image: "img".into(),
                label: image::LABEL_HAPROXY_IDS.into()
            }
        );
        let missing = owner("img", None, image::LABEL_ETCD_IDS);
        assert_eq!(
            missing,
            Owner::NotBuilt {
                image: "img".into()
            }
        );
    }
}
