//! The QUIC glue around the sans-IO core: accepts connections, moves control frames between
//! each connection and the one task that owns [`core::Server`], and runs its timers.
//!
//! One task per connection reads frames; one task per connection writes them; the core task
//! is the only place state changes, so there are no locks.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use livestage_net::media::{VideoSender, read_video};
use livestage_net::transport::{self, ReadError};
use livestage_proto::media::{AudioPacket, Kind, Layer, VideoHeader};
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

/// Video frames a subscriber may have unacknowledged before newer ones are dropped until the
/// next keyframe (its bounded queue).
const VIDEO_IN_FLIGHT: usize = 16;

enum ToCore {
    Open {
        conn: ConnId,
        writer: mpsc::UnboundedSender<ToConn>,
        connection: Connection,
    },
    Video {
        conn: ConnId,
        header: VideoHeader,
        payload: Bytes,
    },
    Audio {
        conn: ConnId,
        datagram: Bytes,
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

/// The core task's handle on one connection.
struct Peer {
    writer: mpsc::UnboundedSender<ToConn>,
    connection: Connection,
    video: VideoSender,
    /// Publisher layers this subscriber fell behind on: skip until their next keyframe.
    skipping: HashSet<(u64, Layer)>,
}

impl Peer {
    /// Forwards a frame under the drop policy; `false` when a keyframe is needed.
    fn forward_video(&mut self, header: &VideoHeader, payload: &Bytes) -> bool {
        let key = (header.media_id, header.layer);
        if self.skipping.contains(&key) {
            if !header.keyframe {
                return true; // Already asked for a keyframe; drop until it comes.
            }
            self.skipping.remove(&key);
        }
        if self.video.send(header, payload.clone()) {
            return true;
        }
        self.skipping.insert(key);
        false
    }
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
        let mut peers: HashMap<ConnId, Peer> = HashMap::new();
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
                    ToCore::Open { conn, writer, connection } => {
                        let video = VideoSender::new(connection.clone(), VIDEO_IN_FLIGHT);
                        peers.insert(conn, Peer { writer, connection, video, skipping: HashSet::new() });
                    }
                    ToCore::Input { conn, input } => {
                        let closed = matches!(input, Input::Closed);
                        core.handle_input(conn, input, now_ms());
                        if closed {
                            peers.remove(&conn);
                        }
                    }
                    ToCore::Video { conn, mut header, payload } => {
                        let now = now_ms();
                        if let Ok(route) = core.route(conn, Kind::Video(header.layer), now) {
                            header.media_id = route.media_id;
                            for to in route.to.iter() {
                                if let Some(peer) = peers.get_mut(to)
                                    && !peer.forward_video(&header, &payload)
                                {
                                    core.congested(*to, route.media_id, header.layer, now);
                                }
                            }
                        }
                    }
                    ToCore::Audio { conn, datagram } => {
                        if let Ok(route) = core.route(conn, Kind::Audio, now_ms()) {
                            let mut stamped = datagram.to_vec();
                            AudioPacket::stamp(&mut stamped, route.media_id);
                            let stamped = Bytes::from(stamped);
                            for peer in route.to.iter().filter_map(|to| peers.get(to)) {
                                // Datagrams are dropped by QUIC when the peer's buffer is full.
                                let _ = peer.connection.send_datagram(stamped.clone());
                            }
                        }
                    }
                },
                _ = tick.tick() => core.handle_timeout(now_ms()),
                _ = &mut stop => break,
            }
            while let Some(output) = core.poll_output() {
                match output {
                    Output::Send { conn, frame } => {
                        if let Some(p) = peers.get(&conn) {
                            let _ = p.writer.send(ToConn::Frame(wire::encode(&frame)));
                        }
                    }
                    Output::Close { conn } => {
                        if let Some(p) = peers.remove(&conn) {
                            let _ = p.writer.send(ToConn::Close);
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
    let open = ToCore::Open {
        conn: id,
        writer,
        connection: conn.clone(),
    };
    if core.send(open).await.is_err() {
        return;
    }
    tokio::spawn(write_frames(conn.clone(), send, frames));
    tokio::spawn(read_media(conn.clone(), id, core.clone()));
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

/// Reads a connection's media (video streams and audio datagrams) into the core task.
async fn read_media(conn: Connection, id: ConnId, core: mpsc::Sender<ToCore>) {
    let datagrams = {
        let (conn, core) = (conn.clone(), core.clone());
        tokio::spawn(async move {
            while let Ok(datagram) = conn.read_datagram().await {
                if AudioPacket::decode(&datagram).is_err() {
                    continue; // Malformed audio is dropped; it is unreliable anyway.
                }
                if core
                    .send(ToCore::Audio { conn: id, datagram })
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    while let Ok(recv) = conn.accept_uni().await {
        let core = core.clone();
        tokio::spawn(async move {
            match read_video(recv).await {
                Ok((header, payload)) => {
                    let _ = core
                        .send(ToCore::Video {
                            conn: id,
                            header,
                            payload,
                        })
                        .await;
                }
                Err(e) => debug!("dropped a video stream: {e}"),
            }
        });
    }
    datagrams.abort();
}
