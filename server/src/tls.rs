//! Server certificates: load PEM files, or make a self-signed one for development.

use std::path::Path;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate chain and its key.
pub struct Identity {
    /// The chain, leaf first.
    pub certs: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// The leaf certificate as PEM, for clients to trust in development.
    pub cert_pem: String,
}

impl Identity {
    /// Reads a PEM certificate chain and private key.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let cert_pem = std::fs::read_to_string(cert)
            .with_context(|| format!("cannot read {}", cert.display()))?;
        let certs = livestage_net::transport::certs_from_pem(cert_pem.as_bytes())
            .with_context(|| format!("in {}", cert.display()))?;
        let key = PrivateKeyDer::from_pem_file(key)
            .with_context(|| format!("no private key in {}", key.display()))?;
        Ok(Self {
            certs,
            key,
            cert_pem,
        })
    }

    /// A fresh self-signed certificate for `localhost`, 127.0.0.1 and ::1.
    pub fn self_signed() -> anyhow::Result<Self> {
        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let cert =
            rcgen::generate_simple_self_signed(names).context("cannot make a certificate")?;
        let cert_pem = cert.cert.pem();
        let key = PrivateKeyDer::try_from(cert.key_pair.serialize_der())
            .map_err(|e| anyhow::anyhow!("generated key unusable: {e}"))?;
        Ok(Self {
            certs: vec![cert.cert.der().clone()],
            key,
            cert_pem,
        })
    }
}
