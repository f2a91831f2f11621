//! The TLS parts of the wanted containers: etcd's scheme and certificate flags, and the key and
//! certificate files each container gets (owned by its process's user). Pure.

use super::{FileSpec, Inputs};
use crate::layout;
use crate::spec::Spec;

/// The peer URL of etcd member `e`.
pub fn etcd_peer_url(spec: &Spec, e: &str) -> String {
    format!("{}://{e}:{}", spec.tls.scheme(), layout::ETCD_PEER_PORT)
}

/// A private file: 0600 for its owner when the owner is known, else root's and readable (an
/// image pgha did not build, whose user ids it does not know).
pub(super) fn key_file(path: String, text: &str, ids: Option<(u64, u64)>) -> FileSpec {
    let (uid, gid, mode) = match ids {
        Some((u, g)) => (u, g, 0o600),
        None => (0, 0, 0o644),
    };
    FileSpec {
        path,
        contents: text.as_bytes().to_vec(),
        mode,
        uid,
        gid,
        secret: true,
    }
}

/// etcd's TLS flags: client and peer, both requiring a certificate from the cluster's CA.
pub(super) fn etcd_tls_flags() -> Vec<String> {
    let d = layout::TLS_DIR;
    vec![
        format!("--cert-file={d}/etcd.crt"),
        format!("--key-file={d}/etcd.key"),
        format!("--trusted-ca-file={d}/ca.crt"),
        "--client-cert-auth".into(),
        format!("--peer-cert-file={d}/etcd.crt"),
        format!("--peer-key-file={d}/etcd.key"),
        format!("--peer-trusted-ca-file={d}/ca.crt"),
        "--peer-client-cert-auth".into(),
    ]
}

/// HAProxy's config; with `[tls]` on, the CA its checks trust and its client certificate.
pub(super) fn haproxy_files(spec: &Spec, inp: &Inputs) -> Vec<FileSpec> {
    let d = layout::HAPROXY_DIR;
    let mut files = vec![FileSpec {
        path: format!("{d}/haproxy.cfg"),
        contents: inp.files.haproxy.as_bytes().to_vec(),
        mode: 0o644,
        uid: 0,
        gid: 0,
        secret: false,
    }];
    if spec.tls.enabled {
        files.push(key_file(
            format!("{d}/ca.crt"),
            &inp.tls.ca,
            inp.haproxy_ids,
        ));
        if let Some((crt, key)) = inp.tls.get(crate::tls::cert::HAPROXY_CLIENT) {
            let pem = format!("{crt}{key}");
            files.push(key_file(format!("{d}/client.pem"), &pem, inp.haproxy_ids));
        }
    }
    files
}
