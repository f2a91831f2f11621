//! rustls client configurations from pgha's certificates (PEM text, `tls::ClientTls`), for the
//! REST and PostgreSQL adapters. ring is the one crypto provider (etcd-client's tonic uses it
//! too); it is also installed as the process default, for reqwest clients without TLS.

use crate::tls::ClientTls;
use anyhow::{anyhow, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::sync::{Arc, Once};

/// Installs ring as rustls' default provider (once; a provider already installed stays).
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client that trusts the CA in `t` (only it) and presents its identity, if any.
pub fn client_config(t: &ClientTls) -> Result<ClientConfig> {
    init();
    let ca =
        t.ca.as_deref()
            .ok_or_else(|| anyhow!("TLS needs a CA certificate to check the server against"))?;
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots
            .add(c.context("read the CA certificate (PEM)")?)
            .context("add the CA certificate")?;
    }
    if roots.is_empty() {
        return Err(anyhow!("the CA file holds no certificate"));
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots);
    Ok(match &t.identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .context("read the client certificate (PEM)")?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .context("read the client key (PEM)")?;
            builder
                .with_client_auth_cert(chain, key)
                .context("use the client certificate")?
        }
        None => builder.with_no_client_auth(),
    })
}
