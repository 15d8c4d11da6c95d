//! What client and server share on the wire below the protocol: QUIC transport settings,
//! TLS trust for a pinned certificate, and length-prefixed frames on a QUIC stream.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use livestage_proto::Error;
use livestage_proto::wire;
use quinn::{RecvStream, SendStream};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// ALPN protocol id of Livestage over QUIC.
pub const ALPN: &[u8] = b"livestage/1";

/// A connection that hears nothing for this long is considered lost; the session then
/// resumes on a new connection. Short, so a dead path is noticed quickly.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Keep-alive interval, well under [`IDLE_TIMEOUT`] so a few lost probes are tolerated.
pub const KEEP_ALIVE: Duration = Duration::from_millis(800);

/// Transport parameters used by both ends.
pub fn transport_config() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    // The constant is far below the varint limit, so the conversion cannot fail.
    t.max_idle_timeout(Some(
        IDLE_TIMEOUT
            .try_into()
            .expect("4 s fits a QUIC idle timeout"),
    ));
    t.keep_alive_interval(Some(KEEP_ALIVE));
    // Media must keep flowing through random loss: BBR models bandwidth and delay instead of
    // halving its window on every lost packet as loss-based controllers do.
    t.congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()));
    t
}

/// Parses every certificate in a PEM text.
pub fn certs_from_pem(pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .context("the certificate file is not valid PEM")?;
    if certs.is_empty() {
        bail!("the certificate file holds no CERTIFICATE block");
    }
    Ok(certs)
}

/// A QUIC client configuration that trusts exactly the certificates in `pem` (the server's
/// own self-signed certificate in development, or a CA in production).
pub fn client_config(pem: &[u8]) -> anyhow::Result<quinn::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs_from_pem(pem)? {
        roots
            .add(cert)
            .context("the certificate cannot be used as a trust anchor")?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 is unavailable")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .context("TLS config unusable for QUIC")?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport_config()));
    Ok(config)
}

/// Why reading a frame stopped.
#[derive(Debug)]
pub enum ReadError {
    /// The stream or connection ended.
    Closed,
    /// The peer sent an oversized frame.
    Malformed(Error),
}

/// Reads one frame body from a control stream.
pub async fn read_frame(recv: &mut RecvStream) -> Result<Vec<u8>, ReadError> {
    let mut prefix = [0u8; 4];
    recv.read_exact(&mut prefix)
        .await
        .map_err(|_| ReadError::Closed)?;
    let len = wire::frame_len(prefix).map_err(ReadError::Malformed)?;
    let mut body = vec![0u8; len];
    recv.read_exact(&mut body)
        .await
        .map_err(|_| ReadError::Closed)?;
    Ok(body)
}

/// Writes one already-encoded frame (from [`wire::encode`]).
pub async fn write_frame(send: &mut SendStream, frame: &[u8]) -> anyhow::Result<()> {
    send.write_all(frame)
        .await
        .context("control stream closed")?;
    Ok(())
}
