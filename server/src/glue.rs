//! The QUIC glue around the sans-IO core: accepts connections, moves control frames between
//! each connection and the one task that owns [`core::Server`], and runs its timers.
//!
//! One task per connection reads frames; one task per connection writes them; the core task
//! is the only place state changes, so there are no locks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use livestage_net::transport::{self, ReadError};
use livestage_proto::server::{self as core, ConnId, Input, Output};
use livestage_proto::wire;
use livestage_proto::{Error, ErrorCode};
use quinn::{Connection, SendStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{interval, timeout};
use tracing::{debug, info};

use crate::tls::Identity;

/// How long a new connection may take to open its control stream and say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the core's timers run.
const TICK: Duration = Duration::from_millis(200);

enum ToCore {
    Open {
        conn: ConnId,
        writer: mpsc::UnboundedSender<ToConn>,
    },
    Input {
        conn: ConnId,
        input: Input,
    },
}

enum ToConn {
    Frame(Vec<u8>),
    Close,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A bound server, not yet serving.
pub struct Listener {
    endpoint: quinn::Endpoint,
    core: core::Server,
}

/// Binds the QUIC endpoint.
pub fn bind(addr: SocketAddr, identity: Identity, core: core::Config) -> anyhow::Result<Listener> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 is unavailable")?
        .with_no_client_auth()
        .with_single_cert(identity.certs, identity.key)
        .context("the certificate and key do not match")?;
    tls.alpn_protocols = vec![transport::ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .context("TLS config unusable for QUIC")?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(Arc::new(transport::transport_config()));
    let endpoint = quinn::Endpoint::server(config, addr)
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(Listener {
        endpoint,
        core: core::Server::new(core),
    })
}

impl Listener {
    /// The address it listens on.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.endpoint.local_addr()?)
    }

    /// Serves until `stop` fires (or forever when it never does).
    pub async fn run(self, mut stop: oneshot::Receiver<()>) {
        let Listener { endpoint, mut core } = self;
        let (to_core, mut inbox) = mpsc::channel::<ToCore>(4096);
        let mut writers: HashMap<ConnId, mpsc::UnboundedSender<ToConn>> = HashMap::new();
        let mut tick = interval(TICK);
        let mut next_conn = 1;
        loop {
            tokio::select! {
                incoming = endpoint.accept() => {
                    let Some(incoming) = incoming else { break };
                    let conn = ConnId(next_conn);
                    next_conn += 1;
                    tokio::spawn(serve_connection(incoming, conn, to_core.clone()));
                }
                Some(msg) = inbox.recv() => match msg {
                    ToCore::Open { conn, writer } => {
                        writers.insert(conn, writer);
                    }
                    ToCore::Input { conn, input } => {
                        let closed = matches!(input, Input::Closed);
                        core.handle_input(conn, input, now_ms());
                        if closed {
                            writers.remove(&conn);
                        }
                    }
                },
                _ = tick.tick() => core.handle_timeout(now_ms()),
                _ = &mut stop => break,
            }
            while let Some(output) = core.poll_output() {
                match output {
                    Output::Send { conn, frame } => {
                        if let Some(w) = writers.get(&conn) {
                            let _ = w.send(ToConn::Frame(wire::encode(&frame)));
                        }
                    }
                    Output::Close { conn } => {
                        if let Some(w) = writers.remove(&conn) {
                            let _ = w.send(ToConn::Close);
                        }
                    }
                }
            }
        }
        endpoint.close(0u32.into(), b"server stopping");
        info!(sessions = core.session_count(), "server stopped");
    }
}

async fn serve_connection(incoming: quinn::Incoming, id: ConnId, core: mpsc::Sender<ToCore>) {
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => return debug!("handshake failed: {e}"),
    };
    let Ok(Ok((send, mut recv))) = timeout(HELLO_TIMEOUT, conn.accept_bi()).await else {
        return conn.close(1u32.into(), b"no control stream");
    };
    let (writer, frames) = mpsc::unbounded_channel();
    if core.send(ToCore::Open { conn: id, writer }).await.is_err() {
        return;
    }
    tokio::spawn(write_frames(conn.clone(), send, frames));
    let mut first = true;
    loop {
        let read = transport::read_frame(&mut recv);
        let frame = if first {
            first = false;
            timeout(HELLO_TIMEOUT, read).await.unwrap_or_else(|_| {
                Err(ReadError::Malformed(Error::new(
                    ErrorCode::ProtocolError,
                    "no hello within 5 s",
                )))
            })
        } else {
            read.await
        };
        let input = match frame {
            Ok(body) => Input::Frame(body),
            Err(ReadError::Malformed(error)) => Input::Malformed(error),
            Err(ReadError::Closed) => break,
        };
        let stop = matches!(input, Input::Malformed(_));
        if core.send(ToCore::Input { conn: id, input }).await.is_err() || stop {
            break;
        }
    }
    let _ = core
        .send(ToCore::Input {
            conn: id,
            input: Input::Closed,
        })
        .await;
}

async fn write_frames(
    conn: Connection,
    mut send: SendStream,
    mut frames: mpsc::UnboundedReceiver<ToConn>,
) {
    while let Some(msg) = frames.recv().await {
        match msg {
            ToConn::Frame(bytes) => {
                if transport::write_frame(&mut send, &bytes).await.is_err() {
                    break;
                }
            }
            ToConn::Close => {
                // Let the goodbye reach the client before the connection goes.
                let _ = send.finish();
                let _ = timeout(Duration::from_secs(1), send.stopped()).await;
                break;
            }
        }
    }
    conn.close(0u32.into(), b"closed");
}
