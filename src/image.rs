//! The node image: one image holding PostgreSQL 17, Patroni, pgBackRest, etcd, HAProxy, curl and the
//! monitoring parts (Prometheus, Alertmanager and the exporters) from Debian trixie packages. Its recipe (packages, hooks, suite) is fixed here; its tag is derived from the
//! recipe, so an unchanged recipe is never rebuilt. Built with mmdebstrap into a rootfs tarball,
//! then imported through the Docker adapter (`docker import`).

use crate::layout;
use sha2::{Digest, Sha256};

pub const REPO: &str = "pgha-node";
pub const SUITE: &str = "trixie";

/// Labels recording what the image is and who owns the PostgreSQL files in it.
pub const LABEL_IMAGE: &str = "io.pgha.image";
pub const LABEL_POSTGRES_UID: &str = "io.pgha.postgres-uid";
pub const LABEL_POSTGRES_GID: &str = "io.pgha.postgres-gid";
/// `uid:gid` of the etcd and haproxy users (owners of their keys with `[tls]` on).
pub const LABEL_ETCD_IDS: &str = "io.pgha.etcd-ids";
pub const LABEL_HAPROXY_IDS: &str = "io.pgha.haproxy-ids";
/// `uid:gid` of the prometheus user (Prometheus and Alertmanager run as it; owner of their keys).
pub const LABEL_PROMETHEUS_IDS: &str = "io.pgha.prometheus-ids";
/// The users whose ids the image's labels record, in `import_changes`'s order.
pub const ID_USERS: [&str; 4] = ["postgres", "etcd", "haproxy", "prometheus"];
/// A hash of the image's installed packages and their versions (`content_hash`).
pub const LABEL_CONTENT: &str = "io.pgha.content";

pub const PACKAGES: &[&str] = &[
    "ca-certificates",
    "curl",
    "etcd-client",
    "etcd-server",
    "haproxy",
    "iproute2",
    "patroni",
    "pgbackrest",
    "postgresql-17",
    "procps",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "prometheus-pgbackrest-exporter",
    "prometheus-postgres-exporter",
    "python3-etcd",
];

/// dpkg path filters: no manuals, docs or translations in the image (copyright files stay).
pub const DPKG_OPTIONS: &[&str] = &[
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
];

/// Run by mmdebstrap on the finished root (`$1`): drop Debian's default cluster (its package's
/// paths), and make the folders of `layout` that pgha's containers write to, owned by their users
/// (a new named volume copies them).
pub fn customize_hook() -> String {
    format!(
        concat!(
            "rm -rf \"$1\"/var/lib/postgresql/17 \"$1\"/etc/postgresql/17 && ",
            "mkdir -p \"$1\"{data} \"$1\"{pgha} \"$1\"{repo} && ",
            "chroot \"$1\" chown postgres:postgres {data} {repo} && ",
            "chmod 0750 \"$1\"{repo} && ",
            "mkdir -p \"$1\"{prom} \"$1\"{am} && ",
            "chroot \"$1\" chown -R prometheus:prometheus {prom_home} && ",
            "chmod 0700 \"$1\"{data} && ",
            "rm -rf \"$1\"/var/cache/apt/* \"$1\"/var/lib/apt/lists/*"
        ),
        data = layout::NODE_DATA,
        pgha = layout::PGHA_DIR,
        repo = layout::REPO_PATH,
        prom = layout::PROMETHEUS_DATA,
        am = layout::ALERTMANAGER_DATA,
        prom_home = layout::PROMETHEUS_HOME,
    )
}

/// Dockerfile-style changes applied at import.
pub fn import_changes(ids: [(u32, u32); 4]) -> Vec<String> {
    let [(uid, gid), (eu, eg), (hu, hg), (pu, pg)] = ids;
    vec![
        "ENV PATH=/usr/lib/postgresql/17/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        "ENV LANG=C.UTF-8".into(),
        "WORKDIR /".into(),
        format!("LABEL {LABEL_IMAGE}=node"),
        format!("LABEL {LABEL_POSTGRES_UID}={uid}"),
        format!("LABEL {LABEL_POSTGRES_GID}={gid}"),
        format!("LABEL {LABEL_ETCD_IDS}={eu}:{eg}"),
        format!("LABEL {LABEL_HAPROXY_IDS}={hu}:{hg}"),
        format!("LABEL {LABEL_PROMETHEUS_IDS}={pu}:{pg}"),
    ]
}

/// The mmdebstrap arguments (before the output path and optional mirror).
pub fn mmdebstrap_args() -> Vec<String> {
    let mut a = vec![
        "--variant=apt".to_string(),
        "--mode=auto".into(),
        format!("--include={}", PACKAGES.join(",")),
    ];
    for o in DPKG_OPTIONS {
        a.push(format!("--dpkgopt={o}"));
    }
    a.push(format!("--customize-hook={}", customize_hook()));
    a.push(SUITE.into());
    a
}

/// The tag: a hash of the whole recipe.
pub fn tag() -> String {
    let mut h = Sha256::new();
    for a in mmdebstrap_args() {
        h.update(a.as_bytes());
        h.update([0]);
    }
    for c in import_changes([(0, 0); 4]) {
        h.update(c.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..6])
}

pub fn reference() -> String {
    format!("{REPO}:{}", tag())
}

/// What the image holds: 12 hex digits of a hash over every installed package and its version,
/// read from dpkg's status file. Two builds from the same Debian packages have the same content;
/// a security update changes it.
pub fn content_hash(dpkg_status: &str) -> String {
    let mut pkgs: Vec<(String, String)> = Vec::new();
    for stanza in dpkg_status.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        if let (Some(p), Some(v)) = (field("Package:"), field("Version:")) {
            let arch = field("Architecture:").unwrap_or_default();
            pkgs.push((format!("{p}:{arch}"), v));
        }
    }
    pkgs.sort();
    let mut h = Sha256::new();
    for (p, v) in &pkgs {
        h.update(format!("{p}={v}\n").as_bytes());
    }
    hex::encode(&h.finalize()[..6])
}

/// The reference that names one build's content: `pgha-node:<recipe tag>-<content>`.
pub fn content_reference(content: &str) -> String {
    format!("{REPO}:{}-{content}", tag())
}

/// uid and gid of `user` in an /etc/passwd text.
pub fn passwd_ids(passwd: &str, user: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_is_twelve_hex_digits() {
        let t = tag();
        assert_eq!(t.len(), 12);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()), "{t}");
        assert!(reference().starts_with("pgha-node:"));
    }

    #[test]
    fn recipe_has_every_component() {
        for p in ["postgresql-17", "patroni", "etcd-server", "haproxy", "curl"] {
            assert!(PACKAGES.contains(&p), "{p}");
        }
        assert!(mmdebstrap_args().last().unwrap() == SUITE);
    }

    #[test]
    fn content_hash_follows_package_versions_not_their_order() {
        let a = "Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 8.14.1-2\n\nPackage: haproxy\nArchitecture: amd64\nVersion: 3.0.11-1\n";
        let b = "Package: haproxy\nArchitecture: amd64\nVersion: 3.0.11-1\n\nPackage: curl\nArchitecture: amd64\nVersion: 8.14.1-2\n";
        let updated = a.replace("8.14.1-2", "8.14.1-2+deb13u1");
        assert_eq!(content_hash(a), content_hash(b));
        assert_ne!(content_hash(a), content_hash(&updated));
        assert_eq!(content_hash(a).len(), 12);
        assert!(content_reference("abc").starts_with(&format!("{}-", reference())));
    }

    #[test]
    fn passwd_ids_finds_the_user() {
        let p = "root:x:0:0:root:/root:/bin/bash\npostgres:x:102:104:PostgreSQL:/var/lib/postgresql:/bin/bash\n";
        assert_eq!(passwd_ids(p, "postgres"), Some((102, 104)));
        assert_eq!(passwd_ids(p, "nobody"), None);
    }
}
