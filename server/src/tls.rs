//! Server certificates: load PEM files, or make a self-signed one for development.

use std::path::Path;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How long a development certificate is valid: browsers take a certificate by its hash only
/// when it is valid for at most 14 days.
pub const DEV_VALIDITY: time::Duration = time::Duration::days(13);

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

    /// A fresh self-signed certificate for `localhost`, 127.0.0.1 and ::1, made so that
    /// browsers accept it by its hash alone (WebTransport's `serverCertificateHashes`): an
    /// ECDSA P-256 key and a validity of [`DEV_VALIDITY`], under the 14 days they allow.
    pub fn self_signed() -> anyhow::Result<Self> {
        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let mut params =
            rcgen::CertificateParams::new(names).context("cannot make a certificate")?;
        let now = time::OffsetDateTime::now_utc();
        // A little slack before now, for clocks that differ; the whole span stays under 14 days.
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + DEV_VALIDITY;
        let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .context("cannot make a key")?;
        let cert = params
            .self_signed(&key_pair)
            .context("cannot make a certificate")?;
        let key = PrivateKeyDer::try_from(key_pair.serialize_der())
            .map_err(|e| anyhow::anyhow!("generated key unusable: {e}"))?;
        Ok(Self {
            cert_pem: cert.pem(),
            certs: vec![cert.der().clone()],
            key,
        })
    }

    /// The SHA-256 of the leaf certificate, as 64 lowercase hex digits: what a browser pins
    /// with `serverCertificateHashes` (and, after `sha256:`, what native clients accept).
    pub fn hash_hex(&self) -> String {
        let digest = self
            .certs
            .first()
            .map(livestage_net::transport::fingerprint)
            .unwrap_or_default();
        let text = livestage_net::transport::format_fingerprint(&digest);
        text.trim_start_matches(livestage_net::transport::FINGERPRINT_PREFIX)
            .to_owned()
    }
}
