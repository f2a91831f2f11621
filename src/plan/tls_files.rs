//! The TLS parts of the wanted containers: etcd's scheme and certificate flags, and the key and
//! certificate files each container gets; and every private file's owner (`Owner`, from its
//! image's labels) and mode (`key_file`: 0600 to its owner, never a guess). Pure.

use super::{FileSpec, Inputs};
use crate::layout;
use crate::spec::Spec;

/// The peer URL of etcd member `e`.
pub fn etcd_peer_url(spec: &Spec, e: &str) -> String {
    format!("{}://{e}:{}", spec.tls.scheme(), layout::ETCD_PEER_PORT)
}

/// Who owns a container's private files: the uid/gid of its process's user, as its image's
/// labels say, or why they are not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Ids(u64, u64),
    /// The image has no such label (one pgha did not build).
    NoLabel {
        image: String,
        label: String,
    },
    /// pgha's own image is not on the engine yet (`up` builds it before it plans).
    NotBuilt {
        image: String,
    },
}

/// A private file: 0600 for its owner. An owner that is not known is an error naming the image
/// and the file, never a file others may read.
pub(super) fn key_file(path: String, text: &str, owner: &Owner) -> Result<FileSpec, String> {
    match owner {
        Owner::Ids(uid, gid) => Ok(FileSpec {
            path,
            contents: text.as_bytes().to_vec(),
            mode: 0o600,
            uid: *uid,
            gid: *gid,
            secret: true,
        }),
        Owner::NoLabel { image, label } => Err(format!(
            "image {image} has no {label} label, so the owner of {path} cannot be known; give the image that label ({label}=UID:GID of the user it runs as), or leave it out of [images] to use pgha's own image"
        )),
        Owner::NotBuilt { image } => Err(format!(
            "image {image} is not on this Docker engine, so the owner of {path} cannot be known; build it with `pgha image build`"
        )),
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
pub(super) fn haproxy_files(spec: &Spec, inp: &Inputs) -> Result<Vec<FileSpec>, String> {
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
            inp.haproxy_owner,
        )?);
        if let Some((crt, key)) = inp.tls.get(crate::tls::cert::HAPROXY_CLIENT) {
            let pem = format!("{crt}{key}");
            files.push(key_file(
                format!("{d}/client.pem"),
                &pem,
                inp.haproxy_owner,
            )?);
        }
    }
    Ok(files)
}
