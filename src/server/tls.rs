//! Downstream TLS (rustls): certificate and key from PEM files, HTTP/2 and HTTP/1.1 by
//! ALPN, swapped in place on reload.
use anyhow::Context;
use arc_swap::ArcSwap;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The current TLS configuration; clones share it.
#[derive(Clone)]
pub struct Acceptor {
    config: Arc<ArcSwap<rustls::ServerConfig>>,
}

impl Acceptor {
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Acceptor> {
        Ok(Acceptor {
            config: Arc::new(ArcSwap::from_pointee(server_config(cert, key)?)),
        })
    }

    /// Re-reads the files; on error keeps the current certificate.
    pub fn reload(&self, cert: &Path, key: &Path) -> anyhow::Result<()> {
        self.config.store(Arc::new(server_config(cert, key)?));
        Ok(())
    }

    pub fn current(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.load_full())
    }
}

fn server_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad certificate PEM {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read key {}", key.display()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}
