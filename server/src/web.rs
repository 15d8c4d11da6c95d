//! Browsers on the same server: a connection that negotiated HTTP/3 (`h3`) becomes a
//! WebTransport session once its CONNECT request to [`PATH`] is accepted; every other
//! connection is a native client's. Both come out as one [`Connection`] type, so the glue and
//! the core beyond this point cannot tell a browser from a native client.

use std::time::Duration;

use livestage_net::transport::{self, Connection};
use tokio::time::timeout;
use tracing::debug;
use web_transport_quinn::http::StatusCode;

/// ALPN of HTTP/3, which WebTransport rides on.
pub const ALPN_H3: &[u8] = b"h3";
/// The path browsers open a session on: `https://ADDR/livestage`.
pub const PATH: &str = "/livestage";

/// The ALPNs the server offers: the native protocol, and HTTP/3 when browsers are served.
pub fn alpns(webtransport: bool) -> Vec<Vec<u8>> {
    let mut alpns = vec![transport::ALPN.to_vec()];
    if webtransport {
        alpns.push(ALPN_H3.to_vec());
    }
    alpns
}

/// The session of a new connection: a native client's as it is, a browser's once its
/// WebTransport request is in and accepted (within `wait`); `None` (closed) otherwise.
pub async fn session_of(conn: quinn::Connection, wait: Duration) -> Option<Connection> {
    let alpn = conn
        .handshake_data()
        .and_then(|data| data.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|data| data.protocol);
    if alpn.as_deref() != Some(ALPN_H3) {
        return Some(Connection::raw(conn));
    }
    // The CONNECT request holds a bidirectional stream of its own beside the control stream
    // (native clients get one: theirs is the control stream).
    conn.set_max_concurrent_bi_streams(2u32.into());
    let request = match timeout(wait, web_transport_quinn::Request::accept(conn.clone())).await {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => {
            debug!("WebTransport handshake failed: {e}");
            conn.close(1u32.into(), b"not a WebTransport request");
            return None;
        }
        Err(_) => {
            conn.close(1u32.into(), b"no WebTransport request in time");
            return None;
        }
    };
    if request.url.path() != PATH {
        debug!(url = %request.url, "WebTransport request for an unknown path");
        let _ = request.reject(StatusCode::NOT_FOUND).await;
        return None;
    }
    match request.ok().await {
        Ok(session) => Some(session),
        Err(e) => {
            debug!("WebTransport session not started: {e}");
            None
        }
    }
}
