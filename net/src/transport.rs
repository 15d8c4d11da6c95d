//! What client and server share on the wire below the protocol: QUIC transport settings,
//! TLS trust for a pinned certificate (by its PEM, or by its SHA-256 fingerprint), the one
//! connection type both paths speak, and length-prefixed frames on a QUIC stream.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use livestage_proto::Error;
use livestage_proto::wire;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
pub use web_transport_quinn::{RecvStream, SendStream};

/// ALPN protocol id of Livestage over QUIC.
pub const ALPN: &[u8] = b"livestage/1";

/// A connection as the control and media paths use it: a native client's QUIC connection
/// (wrapped with [`Connection::raw`]) or a browser's WebTransport session. Both open and
/// accept the same streams and datagrams, so nothing above this layer tells them apart; its
/// QUIC counters are the wrapped `quinn::Connection`'s (it derefs to it).
pub type Connection = web_transport_quinn::Session;

/// A connection that hears nothing for this long is given up; the session then resumes on a
/// new connection. Long enough that a quiet connection on a path losing 80% of its packets
/// each way survives: the client reports `reconnecting` after 4 s of silence (`link::STALL`)
/// and then probes 20 times a second, so that some acknowledgement gets back through.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// Keep-alive interval (client side; the server's acknowledgements of them keep both idle
/// timers fed, and probing from the server as well would double what an idle audience costs).
pub const KEEP_ALIVE: Duration = Duration::from_millis(800);
/// The round trip assumed before one is measured: the first handshake packet is sent again
/// after about three times this, instead of after a second with QUIC's default of 333 ms.
pub const INITIAL_RTT: Duration = Duration::from_millis(100);

/// Transport parameters used by both ends.
pub fn transport_config() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    // The constant is far below the varint limit, so the conversion cannot fail.
    t.max_idle_timeout(Some(
        IDLE_TIMEOUT
            .try_into()
            .expect("15 s fits a QUIC idle timeout"),
    ));
    t.keep_alive_interval(Some(KEEP_ALIVE));
    t.initial_rtt(INITIAL_RTT);
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

/// What a fingerprint given in place of PEM starts with: `sha256:` and 64 hex digits, with or
/// without a colon between bytes (as `openssl x509 -fingerprint -sha256` prints them).
pub const FINGERPRINT_PREFIX: &str = "sha256:";

/// The SHA-256 digest of a certificate's DER encoding: what a pinned fingerprint names.
pub fn fingerprint(cert: &CertificateDer<'_>) -> [u8; 32] {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .expect("TLS13_AES_128_GCM_SHA256 is a TLS 1.3 suite");
    let digest = suite.common.hash_provider.hash(cert.as_ref());
    digest
        .as_ref()
        .try_into()
        .expect("the suite's hash is SHA-256, 32 bytes")
}

/// Formats a fingerprint as [`client_config`] accepts it: `sha256:` and 64 lowercase hex digits.
pub fn format_fingerprint(digest: &[u8; 32]) -> String {
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{FINGERPRINT_PREFIX}{hex}")
}

/// Reads a `sha256:` fingerprint; `None` when `text` does not start with the prefix (so it
/// may be PEM).
///
/// # Errors
///
/// When it starts with the prefix but is not 32 bytes of hex.
pub fn parse_fingerprint(text: &[u8]) -> anyhow::Result<Option<[u8; 32]>> {
    let text = String::from_utf8_lossy(text);
    let Some(hex) = text.trim().strip_prefix(FINGERPRINT_PREFIX) else {
        return Ok(None);
    };
    let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
    let bad = || {
        anyhow::anyhow!(
            "{FINGERPRINT_PREFIX}{hex} is not a SHA-256 fingerprint: expected 64 hex digits"
        )
    };
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(digits.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(Some(digest))
}

/// A QUIC client configuration that trusts exactly the certificates in `pem` (the server's
/// own self-signed certificate in development, or a CA in production), or, when `pem` is a
/// fingerprint (`sha256:` and 64 hex digits, see [`parse_fingerprint`]), exactly the server
/// certificate with that SHA-256 digest, whatever name it carries.
pub fn client_config(pem: &[u8]) -> anyhow::Result<quinn::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 is unavailable")?;
    let mut tls = if let Some(fingerprint) = parse_fingerprint(pem)? {
        let pinned = Pinned {
            fingerprint,
            provider,
        };
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(pinned))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs_from_pem(pem)? {
            roots
                .add(cert)
                .context("the certificate cannot be used as a trust anchor")?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .context("TLS config unusable for QUIC")?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport_config()));
    Ok(config)
}

/// Trusts the one server certificate whose SHA-256 digest is pinned; the handshake signature is
/// still checked against that certificate's key, so only its holder can answer.
#[derive(Debug)]
struct Pinned {
    fingerprint: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if fingerprint(end_entity) == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_back_and_bad_ones_are_errors() {
        let digest: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        let text = format_fingerprint(&digest);
        assert_eq!(parse_fingerprint(text.as_bytes()).ok(), Some(Some(digest)));
        let colons: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
        let openssl = format!("sha256:{}\n", colons.join(":"));
        assert_eq!(
            parse_fingerprint(openssl.as_bytes()).ok(),
            Some(Some(digest))
        );
        assert!(matches!(
            parse_fingerprint(b"-----BEGIN CERTIFICATE-----"),
            Ok(None)
        ));
        assert!(parse_fingerprint(b"sha256:abcd").is_err());
        assert!(parse_fingerprint(&[b"sha256:".as_slice(), &[b'z'; 64]].concat()).is_err());
        assert!(client_config(b"sha256:1234").is_err());
        assert!(client_config(text.as_bytes()).is_ok());
    }
}
