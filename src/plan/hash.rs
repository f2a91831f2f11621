//! What makes a container what it is: its config hash (a label `up` compares), without what is
//! no drift (secrets, etcd's first-start flags, Patroni's bootstrap and etcd sections); and the
//! command of an etcd member that joins a running cluster. Pure.

use super::ContainerSpec;
use sha2::{Digest, Sha256};

/// A hash of what makes a container what it is (not its secrets), stored as a label so that `up`
/// can tell a container made from another spec.
pub fn config_hash(c: &ContainerSpec) -> String {
    let mut h = Sha256::new();
    h.update(c.image.as_bytes());
    for part in c.cmd.iter().filter(|a| !first_start_only(a)).chain(&c.env) {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for p in &c.ports {
        h.update(format!("{}:{}:{}", p.container_port, p.host_ip, p.host_port).as_bytes());
    }
    let r = &c.resources;
    h.update(
        format!(
            "shm={:?} cpus={:?} memory={:?} log={}x{}",
            r.shm_size, r.nano_cpus, r.memory, r.log_max_size, r.log_max_files
        )
        .as_bytes(),
    );
    for f in c.files.iter().filter(|f| !f.secret) {
        h.update(f.path.as_bytes());
        h.update(without_bootstrap(&f.contents));
    }
    hex::encode(&h.finalize()[..8])
}

/// etcd's flags that only a member with an empty data dir reads (the membership it starts into):
/// a member that joins later gets the membership of that moment, so they are no drift.
fn first_start_only(arg: &str) -> bool {
    arg.starts_with("--initial-cluster=") || arg.starts_with("--initial-cluster-state=")
}

/// The command of an etcd member that joins a running etcd cluster: `initial_cluster` (the
/// membership `member add` returned, itself included) and state `existing`.
pub fn etcd_join_cmd(cmd: &[String], initial_cluster: &str) -> Vec<String> {
    cmd.iter()
        .map(|a| {
            if a.starts_with("--initial-cluster=") {
                format!("--initial-cluster={initial_cluster}")
            } else if a.starts_with("--initial-cluster-state=") {
                "--initial-cluster-state=existing".to_string()
            } else {
                a.clone()
            }
        })
        .collect()
}

/// `--initial-cluster` for `joining` from etcd's member list after `member add`: `name=peer_url`
/// for every member, the one not started yet (no name) being `joining` at `peer_url`.
pub fn etcd_initial_cluster(members: &[(String, String)], joining: &str, peer_url: &str) -> String {
    members
        .iter()
        .map(|(name, url)| {
            let name = if name.is_empty() && url == peer_url {
                joining
            } else {
                name
            };
            format!("{name}={url}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A Patroni config without its `bootstrap:` and `etcd3:` sections. Patroni reads `bootstrap`
/// once, when it initialises the cluster; later changes of those settings reach the config key
/// (`dynamic`), not the container. It reads the etcd hosts only to find etcd when it starts, then
/// follows etcd's own member list (refreshed from `/v3/cluster/member/list`), so a changed etcd
/// membership reaches a running Patroni without a restart. Neither is drift. Other files are kept
/// whole.
fn without_bootstrap(contents: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(contents) else {
        return contents.to_vec();
    };
    let mut out = String::new();
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let top = !line.starts_with([' ', '\t', '#', '\n', '\r']);
        if top {
            skipping = line.starts_with("bootstrap:") || line.starts_with("etcd3:");
        }
        if !skipping {
            out.push_str(line);
        }
    }
    out.into_bytes()
}
