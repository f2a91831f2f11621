//! The Docker adapter: the only module that speaks bollard. It turns plan types (`ContainerSpec`,
//! labels) into Engine API calls and Docker's answers into plan types (`Inventory`).

use crate::plan::{
    ContainerSpec, Inventory, Kind, ObservedContainer, LABEL_CONFIG_HASH, LABEL_MEMBER, LABEL_ROLE,
};
use anyhow::{anyhow, bail, Context, Result};
use bollard::errors::Error as BErr;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, HostConfigLogConfig, Mount, MountType,
    NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, ListNetworksOptions,
    ListVolumesOptions, RemoveContainerOptions, RemoveVolumeOptions, StartContainerOptions,
    StopContainerOptions, UploadToContainerOptions,
};
use bollard::Docker;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Oldest Engine API pgha supports (Docker 20.10).
const MIN_API: (u32, u32) = (1, 41);

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    pub address: String,
    pub api_version: String,
}

/// One line of a container's log.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub stderr: bool,
    pub text: String,
}

pub fn is_not_found(e: &BErr) -> bool {
    matches!(
        e,
        BErr::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn is_conflict(e: &BErr) -> bool {
    matches!(
        e,
        BErr::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// A label filter for list calls: `key=value` pairs (all must match).
fn label_filter(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    )])
}

fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

impl Engine {
    /// Connects to the engine named by `DOCKER_HOST` (or the local socket) and checks its API.
    pub async fn connect() -> Result<Engine> {
        let address = std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        let hint = "is the Docker engine running, and may this user use it? (set DOCKER_HOST for another engine)";
        let docker = Docker::connect_with_defaults()
            .map_err(|e| anyhow!("cannot reach the Docker engine at {address}: {e}; {hint}"))?
            .with_timeout(Duration::from_secs(300));
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| {
                anyhow!("cannot reach the Docker engine at {address}: no answer in 10 s; {hint}")
            })?
            .map_err(|e| anyhow!("cannot reach the Docker engine at {address}: {e}; {hint}"))?;
        let version = docker
            .version()
            .await
            .map_err(|e| anyhow!("cannot reach the Docker engine at {address}: {e}; {hint}"))?;
        let api_version = version.api_version.unwrap_or_default();
        if let Some(v) = parse_api(&api_version) {
            if v < MIN_API {
                bail!(
                    "the Docker engine at {address} speaks API {api_version}; pgha needs 1.41 (Docker 20.10) or newer"
                );
            }
        }
        Ok(Engine {
            docker,
            address,
            api_version,
        })
    }

    /// Containers, networks and volumes carrying all the given labels.
    pub async fn inventory(&self, labels: &[(&str, &str)]) -> Result<Inventory> {
        let filters = label_filter(labels);
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await
            .context("list containers")?;
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters.clone()),
            }))
            .await
            .context("list networks")?;
        let volumes = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await
            .context("list volumes")?;
        let mut inv = Inventory {
            containers: containers
                .into_iter()
                .map(|c| {
                    let labels = c.labels.unwrap_or_default();
                    let state = c.state.map(|s| s.to_string()).unwrap_or_default();
                    ObservedContainer {
                        name: c
                            .names
                            .and_then(|n| n.first().cloned())
                            .unwrap_or_default()
                            .trim_start_matches('/')
                            .to_string(),
                        kind: labels.get(LABEL_ROLE).and_then(|r| Kind::from_label(r)),
                        member: labels.get(LABEL_MEMBER).cloned().unwrap_or_default(),
                        running: state == "running",
                        state,
                        config_hash: labels.get(LABEL_CONFIG_HASH).cloned(),
                        tls: labels
                            .get(crate::plan::LABEL_TLS)
                            .is_some_and(|v| v == "on"),
                        image: c.image.unwrap_or_default(),
                        image_id: c.image_id,
                    }
                })
                .collect(),
            networks: networks.into_iter().filter_map(|n| n.name).collect(),
            volumes: volumes
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.name)
                .collect(),
        };
        inv.containers.sort_by(|a, b| a.name.cmp(&b.name));
        inv.networks.sort();
        inv.volumes.sort();
        Ok(inv)
    }

    /// Creates the network unless one of that name exists (Docker 20.10 allows duplicates).
    pub async fn ensure_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<()> {
        let existing = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(HashMap::from([(
                    "name".to_string(),
                    vec![name.to_string()],
                )])),
            }))
            .await
            .with_context(|| format!("list networks named {name}"))?;
        if existing.iter().any(|n| n.name.as_deref() == Some(name)) {
            return Ok(());
        }
        let mut l: HashMap<String, String> = labels.clone().into_iter().collect();
        l.insert(LABEL_ROLE.into(), "network".into());
        self.docker
            .create_network(NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".into()),
                labels: Some(l),
                ..Default::default()
            })
            .await
            .with_context(|| format!("create network {name}"))?;
        Ok(())
    }

    pub async fn create_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<()> {
        let mut l: HashMap<String, String> = labels.clone().into_iter().collect();
        l.insert(LABEL_ROLE.into(), "volume".into());
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(name.to_string()),
                labels: Some(l),
                ..Default::default()
            })
            .await
            .with_context(|| format!("create volume {name}"))?;
        Ok(())
    }

    /// Creates a container and puts its files in place (before its first start). When the files
    /// cannot be put in place, the container is removed again: its labels say it is complete.
    pub async fn create_container(&self, c: &ContainerSpec) -> Result<()> {
        let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = c
            .ports
            .iter()
            .map(|p| {
                (
                    format!("{}/tcp", p.container_port),
                    Some(vec![PortBinding {
                        host_ip: Some(p.host_ip.clone()),
                        host_port: Some(p.host_port.to_string()),
                    }]),
                )
            })
            .collect();
        let body = ContainerCreateBody {
            image: Some(c.image.clone()),
            hostname: Some(c.member.clone()),
            cmd: Some(c.cmd.clone()),
            user: c.user.clone(),
            env: Some(c.env.clone()),
            labels: Some(c.labels.clone().into_iter().collect()),
            exposed_ports: Some(
                c.ports
                    .iter()
                    .map(|p| format!("{}/tcp", p.container_port))
                    .collect(),
            ),
            stop_timeout: Some(c.stop_timeout),
            host_config: Some(HostConfig {
                port_bindings: Some(port_bindings),
                mounts: Some(
                    c.volumes
                        .iter()
                        .map(|m| (m, false))
                        .chain(c.ro_volumes.iter().map(|m| (m, true)))
                        .map(|((v, target), read_only)| Mount {
                            typ: Some(MountType::VOLUME),
                            source: Some(v.clone()),
                            target: Some(target.clone()),
                            read_only: Some(read_only),
                            ..Default::default()
                        })
                        .collect(),
                ),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                network_mode: Some(c.network.clone()),
                init: Some(c.init),
                shm_size: c.resources.shm_size,
                nano_cpus: c.resources.nano_cpus,
                memory: c.resources.memory,
                log_config: Some(HostConfigLogConfig {
                    typ: Some("json-file".into()),
                    config: Some(HashMap::from([
                        ("max-size".to_string(), c.resources.log_max_size.clone()),
                        (
                            "max-file".to_string(),
                            c.resources.log_max_files.to_string(),
                        ),
                    ])),
                }),
                ..Default::default()
            }),
            // A container without a network (a tool container) has no alias to carry.
            networking_config: (c.network != "none").then(|| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    c.network.clone(),
                    EndpointSettings {
                        aliases: Some(vec![c.member.clone()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        self.docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(c.name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .with_context(|| format!("create container {}", c.name))?;
        if let Err(e) = self.put_files(c).await {
            // Best effort: if this fails too, the next `up` removes it (it never ran).
            let _ = self.remove_container(&c.name).await;
            return Err(anyhow!(
                "{e:#} (container {} removed again; the next `pgha up` creates it anew)",
                c.name
            ));
        }
        Ok(())
    }

    /// Copies `c`'s files into the container (created or running), owners and modes as given.
    pub async fn put_files(&self, c: &ContainerSpec) -> Result<()> {
        if c.files.is_empty() {
            return Ok(());
        }
        let tar = streams::files_tar(c).with_context(|| format!("pack files for {}", c.name))?;
        self.docker
            .upload_to_container(
                &c.name,
                Some(UploadToContainerOptions {
                    path: "/".into(),
                    ..Default::default()
                }),
                bollard::body_full(tar.into()),
            )
            .await
            .with_context(|| format!("copy config files into container {}", c.name))
    }

    pub async fn start(&self, name: &str) -> Result<()> {
        match self
            .docker
            .start_container(name, None::<StartContainerOptions>)
            .await
        {
            Ok(()) => Ok(()),
            Err(BErr::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("start container {name}")),
        }
    }

    /// Graceful stop (SIGTERM, then SIGKILL after `timeout` seconds). A stopped container is fine.
    pub async fn stop(&self, name: &str, timeout: i64) -> Result<()> {
        match self
            .docker
            .stop_container(
                name,
                Some(StopContainerOptions {
                    t: Some(timeout as i32),
                    signal: None,
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(BErr::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("stop container {name}")),
        }
    }

    /// Sends `signal` (e.g. "SIGHUP") to the container's main process.
    pub async fn signal(&self, name: &str, signal: &str) -> Result<()> {
        self.docker
            .kill_container(
                name,
                Some(KillContainerOptions {
                    signal: signal.into(),
                }),
            )
            .await
            .with_context(|| format!("send {signal} to container {name}"))
    }

    pub async fn kill(&self, name: &str) -> Result<()> {
        self.docker
            .kill_container(
                name,
                Some(KillContainerOptions {
                    signal: "SIGKILL".into(),
                }),
            )
            .await
            .with_context(|| format!("kill container {name}"))
    }

    /// Running state per Docker (`None` when the container does not exist).
    pub async fn running(&self, name: &str) -> Result<Option<bool>> {
        match self.docker.inspect_container(name, None).await {
            Ok(i) => Ok(Some(i.state.and_then(|s| s.running).unwrap_or(false))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("inspect container {name}")),
        }
    }

    /// The container's address on its networks (the first one found), if it has one.
    pub async fn container_ip(&self, name: &str) -> Result<Option<String>> {
        let i = self
            .docker
            .inspect_container(name, None)
            .await
            .with_context(|| format!("inspect container {name}"))?;
        Ok(i.network_settings
            .and_then(|n| n.networks)
            .and_then(|nets| {
                nets.into_values()
                    .filter_map(|e| e.ip_address)
                    .find(|ip| !ip.is_empty())
            }))
    }

    /// Removes a container (forcibly); one that is already gone is fine.
    pub async fn remove_container(&self, name: &str) -> Result<()> {
        match self
            .docker
            .remove_container(
                name,
                Some(RemoveContainerOptions {
                    force: true,
                    v: false,
                    link: false,
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("remove container {name}")),
        }
    }

    /// Waits until a removed container is gone (Docker may still be removing it), up to `deadline`.
    pub async fn wait_gone(&self, name: &str, deadline: Duration) -> Result<()> {
        let start = std::time::Instant::now();
        while self.running(name).await?.is_some() {
            if start.elapsed() > deadline {
                bail!(
                    "container {name} is still there {} s after its removal",
                    deadline.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    pub async fn remove_network(&self, name: &str) -> Result<()> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("remove network {name}")),
        }
    }

    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        match self
            .docker
            .remove_volume(name, Some(RemoveVolumeOptions { force: false }))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("remove volume {name}")),
        }
    }
}

mod names;
mod streams;
pub use streams::ExecOutput;
