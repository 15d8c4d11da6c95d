//! The QUIC glue around the sans-IO core: accepts connections, moves control frames between
//! each connection and the one task that owns [`core::Server`], and runs its timers.
//!
//! One task per connection reads frames; one task per connection writes them; the core task
//! is the only place state changes, so there are no locks.
//!
//! What a hostile connection can cost is bounded here: its control frames queue in a bounded
//! writer (a client that stops reading is disconnected), its media is stopped unread unless it
//! may publish, a video frame must arrive within a deadline, its audio datagrams are capped
//! per second and never wait for room in the shared inbox (copies of a frame stop here:
//! [`crate::voice`]), and a panic in the core while handling its input ends only its session.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use livestage_net::media::{VideoSender, read_video};
use livestage_net::transport::{self, Connection, ReadError, SendStream};
use livestage_proto::media::{self, AudioPacket, Kind, Layer, VideoHeader};
use livestage_proto::rate::FramePace;
use livestage_proto::redundancy;
use livestage_proto::server::{self as core, ConnId, Input, Output};
use livestage_proto::track::TrackId;
use livestage_proto::wire;
use livestage_proto::{Error, ErrorCode};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, interval, sleep_until, timeout};
use tracing::{debug, error, info};

use crate::allow::Allow;
use crate::inject::Injects;
use crate::push::{self, Pushes};
use crate::relay::Relays;
use crate::tls::Identity;
use crate::voice::{Downlink, Voices};
use crate::web;

/// How long a new connection may take to open its control stream and say hello: as long as
/// it may stay silent ([`transport::IDLE_TIMEOUT`]), since at 80% loss the stream's first
/// bytes can take several retransmissions to arrive.
const HELLO_TIMEOUT: Duration = transport::IDLE_TIMEOUT;
/// How often the core's timers run.
const TICK: Duration = Duration::from_millis(200);
/// Ticks between two path measures handed to the core (one a second).
const PATHS_EVERY: u64 = 5;

/// Video frames a subscriber may have unacknowledged before newer ones are dropped until the
/// next keyframe (its bounded queue).
const VIDEO_IN_FLIGHT: usize = 16;
/// Control frames queued for one connection's writer; a client that lets this many pile up
/// (it stopped reading its control stream) is disconnected.
const WRITER_QUEUE: usize = 4096;
/// Longest the server waits, after a session's goodbye, for the client to read it and close.
const GOODBYE_WAIT: Duration = Duration::from_secs(2);
/// Longest a publisher may take to deliver one video frame's stream.
const VIDEO_DEADLINE: Duration = Duration::from_secs(2);
/// Audio datagrams one connection may send per second: 50 frames a second on two tracks, each
/// sent up to three times on a lossy uplink ([`redundancy::MAX_COPIES`]); the rest are dropped
/// before they reach the shared inbox.
const AUDIO_PER_SEC: u32 = 50 * 2 * (1 + redundancy::MAX_COPIES as u32);

enum ToCore {
    Open {
        conn: ConnId,
        writer: mpsc::Sender<ToConn>,
        /// Boxed: a session is large, the other messages small.
        connection: Box<Connection>,
        may_publish: Arc<AtomicBool>,
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
    /// Media arrived that the connection may not send; it was dropped unread.
    Refused {
        conn: ConnId,
        kind: Kind,
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
    writer: mpsc::Sender<ToConn>,
    connection: Connection,
    /// Whether the connection's session may publish now; its media readers check it.
    may_publish: Arc<AtomicBool>,
    video: VideoSender,
    /// Publisher track layers this subscriber fell behind on: skip until their next keyframe.
    skipping: HashSet<(u64, TrackId, Layer)>,
    /// The loss on the path to this client, which sets its voice copies.
    downlink: Downlink,
}

impl Peer {
    /// Forwards a frame under the drop policy; `false` when a keyframe is needed.
    fn forward_video(&mut self, header: &VideoHeader, payload: &Bytes) -> bool {
        let key = (header.media_id, header.track, header.layer);
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

/// QUIC limits per client connection, sized for what a publisher needs and no more: a few
/// frames in flight each up to the largest frame, a few hundred milliseconds of audio.
fn server_transport() -> quinn::TransportConfig {
    let mut t = transport::transport_config();
    let frame = (media::MAX_VIDEO_FRAME + media::MAX_VIDEO_HEADER + 2) as u32;
    t.max_concurrent_uni_streams(32u32.into());
    t.max_concurrent_bidi_streams(1u32.into());
    t.stream_receive_window(frame.into());
    t.receive_window((2 * frame).into());
    t.datagram_receive_buffer_size(Some(64 * 1024));
    // Clients send the keep-alives (transport::KEEP_ALIVE).
    t.keep_alive_interval(None);
    t
}

/// A bound server, not yet serving.
pub struct Listener {
    endpoint: quinn::Endpoint,
    core: core::Server,
    identity: Identity,
    cert_pem: String,
    push: Allow,
    inject: Allow,
    relay: Allow,
    server_name: String,
}

/// Binds the QUIC endpoint; browsers are served over WebTransport on the same port (see
/// [`Listener::serve_browsers`]).
pub fn bind(addr: SocketAddr, identity: Identity, core: core::Config) -> anyhow::Result<Listener> {
    let config = server_config(&identity, true)?;
    let endpoint = quinn::Endpoint::server(config, addr)
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(Listener {
        endpoint,
        core: core::Server::new(core),
        cert_pem: identity.cert_pem.clone(),
        identity,
        push: Allow::default(),
        inject: Allow::default(),
        relay: Allow::default(),
        server_name: "localhost".into(),
    })
}

/// TLS 1.3 with the server's certificate, offering the native ALPN and, for browsers, HTTP/3.
fn server_config(identity: &Identity, webtransport: bool) -> anyhow::Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .context("TLS 1.3 is unavailable")?
        .with_no_client_auth()
        .with_single_cert(identity.certs.clone(), identity.key.clone_key())
        .context("the certificate and key do not match")?;
    tls.alpn_protocols = web::alpns(webtransport);
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .context("TLS config unusable for QUIC")?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(Arc::new(server_transport()));
    Ok(config)
}

impl Listener {
    /// The address it listens on.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.endpoint.local_addr()?)
    }

    /// Whether browsers may connect over WebTransport (on by default). Off, the server offers
    /// only the native ALPN, so a browser's handshake fails.
    pub fn serve_browsers(&mut self, on: bool) -> anyhow::Result<()> {
        self.endpoint
            .set_server_config(Some(server_config(&self.identity, on)?));
        Ok(())
    }

    /// Lets CDN pushes go where `allow` says (nowhere by default). The server's own push
    /// viewers connect over loopback expecting `server_name` in its certificate.
    pub fn allow_pushes(&mut self, allow: Allow, server_name: &str) {
        self.push = allow;
        self.server_name = server_name.to_owned();
    }

    /// Lets injects open what `allow` names (nothing by default): its folders for files.
    pub fn allow_injects(&mut self, allow: Allow) {
        self.inject = allow;
    }

    /// Lets relays publish to the other servers `allow` names (`livestage://ADDR` entries;
    /// none by default). Channels on this server need no entry.
    pub fn allow_relays(&mut self, allow: Allow) {
        self.relay = allow;
    }

    /// Serves until `stop` fires (or forever when it never does).
    pub async fn run(self, mut stop: oneshot::Receiver<()>) {
        let ctx = self.push_context();
        let Listener {
            endpoint,
            mut core,
            inject,
            relay,
            ..
        } = self;
        let (mut pushes, mut push_reports) = Pushes::new(ctx.clone());
        let (mut injects, mut inject_reports) = Injects::new(ctx.clone(), inject);
        let (mut relays, mut relay_reports) = Relays::new(ctx, relay);
        let (to_core, mut inbox) = mpsc::channel::<ToCore>(4096);
        let mut peers: HashMap<ConnId, Peer> = HashMap::new();
        let mut voices = Voices::default();
        let mut tick = interval(TICK);
        let mut ticks: u64 = 0;
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
                    ToCore::Open { conn, writer, connection, may_publish } => {
                        let connection = *connection;
                        let video = VideoSender::new(connection.clone(), VIDEO_IN_FLIGHT);
                        let peer = Peer { writer, connection, may_publish, video, skipping: HashSet::new(), downlink: Downlink::default() };
                        peers.insert(conn, peer);
                    }
                    ToCore::Input { conn, input } => {
                        let closed = matches!(input, Input::Closed);
                        contain(&mut core, conn, |core| core.handle_input(conn, input, now_ms()));
                        if closed {
                            peers.remove(&conn);
                            voices.forget(conn);
                        } else if let Some(peer) = peers.get(&conn) {
                            peer.may_publish.store(core.may_publish(conn), Ordering::Relaxed);
                        }
                    }
                    ToCore::Video { conn, mut header, payload } => {
                        let now = now_ms();
                        let route = contain(&mut core, conn, |core| core.route(conn, header.track, Kind::Video(header.layer), now));
                        if let Some(Ok(route)) = route {
                            header.media_id = route.media_id;
                            for to in route.to.iter() {
                                if let Some(peer) = peers.get_mut(to)
                                    && !peer.forward_video(&header, &payload)
                                {
                                    let (track, layer) = (header.track, header.layer);
                                    contain(&mut core, *to, |core| core.congested(*to, route.media_id, track, layer, now));
                                }
                            }
                        }
                    }
                    ToCore::Refused { conn, kind } => {
                        contain(&mut core, conn, |core| core.route(conn, 0, kind, now_ms()));
                    }
                    ToCore::Audio { conn, datagram } => {
                        // The reader checked the datagram, so it decodes; a copy the publisher
                        // sent for its own lossy uplink goes no further.
                        if let Ok(packet) = AudioPacket::decode(&datagram)
                            && voices.first(conn, &packet)
                            && let Some(Ok(route)) = contain(&mut core, conn, |core| core.route(conn, packet.track, Kind::Audio, now_ms()))
                        {
                            let mut stamped = datagram.to_vec();
                            AudioPacket::stamp(&mut stamped, route.media_id);
                            let to = route.to.iter().filter_map(|to| peers.get(to)).map(|p| (&p.connection, p.downlink.copies()));
                            voices.send(conn, &packet, Bytes::from(stamped), to, Instant::now());
                        }
                    }
                },
                () = sleep_until(voices.next_copy_at().unwrap_or_else(Instant::now)), if voices.next_copy_at().is_some() => {
                    voices.send_due(Instant::now());
                }
                Some(report) = push_reports.recv() => pushes.report(&mut core, report),
                Some(report) = inject_reports.recv() => injects.report(&mut core, report),
                Some(report) = relay_reports.recv() => relays.report(&mut core, report),
                _ = tick.tick() => {
                    let now = now_ms();
                    ticks += 1;
                    // The core hears each path about once a second, for network quality.
                    let tell_core = ticks.is_multiple_of(PATHS_EVERY);
                    for (&conn, peer) in peers.iter_mut() {
                        let rtt_ms = peer.downlink.measure(&peer.connection);
                        if tell_core {
                            core.path_measured(conn, rtt_ms, peer.downlink.loss_percent());
                        }
                    }
                    if catch_unwind(AssertUnwindSafe(|| core.handle_timeout(now))).is_err() {
                        error!("the server core panicked running its timers; carrying on");
                    }
                }
                _ = &mut stop => break,
            }
            let mut stuck = Vec::new();
            while let Some(output) = core.poll_output() {
                match output {
                    Output::Send { conn, frame } => {
                        if let Some(p) = peers.get(&conn) {
                            let sent = p.writer.try_send(ToConn::Frame(wire::encode(&frame)));
                            if matches!(sent, Err(mpsc::error::TrySendError::Full(_))) {
                                stuck.push(conn);
                            }
                            // A role change or the end of a session may change who may publish.
                            p.may_publish
                                .store(core.may_publish(conn), Ordering::Relaxed);
                        }
                    }
                    Output::Push {
                        channel,
                        by,
                        request,
                    } => {
                        pushes.handle(&mut core, channel, &by, request);
                    }
                    Output::Inject {
                        channel,
                        by,
                        request,
                    } => {
                        injects.handle(&mut core, channel, &by, request);
                    }
                    Output::Relay {
                        channel,
                        by,
                        request,
                    } => {
                        relays.handle(&mut core, channel, by, request);
                    }
                    Output::Close { conn } => {
                        if let Some(p) = peers.remove(&conn) {
                            p.may_publish.store(false, Ordering::Relaxed);
                            // A full queue cannot take the close: the writer ends when dropped.
                            let _ = p.writer.try_send(ToConn::Close);
                        }
                    }
                }
            }
            stuck.dedup();
            for conn in stuck {
                let msg =
                    format!("{WRITER_QUEUE} control frames unread; the client is not keeping up");
                let error = Error::new(ErrorCode::Overloaded, msg);
                contain(&mut core, conn, |core| {
                    core.handle_input(conn, Input::Malformed(error), now_ms())
                });
            }
        }
        endpoint.close(0u32.into(), b"server stopping");
        info!(sessions = core.session_count(), "server stopped");
    }
}

impl Listener {
    /// What the server's pushes need: how to reach this server as a client on this machine.
    fn push_context(&self) -> push::Context {
        let mut server = self
            .endpoint
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 4443)));
        if server.ip().is_unspecified() {
            server.set_ip(match server {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let config = self.core.config();
        push::Context {
            server,
            server_name: self.server_name.clone(),
            cert_pem: self.cert_pem.clone().into_bytes(),
            app: config.app.clone(),
            secret: String::from_utf8_lossy(&config.secret).into_owned(),
            token_secs: config
                .max_token_secs
                .unwrap_or(PUSH_TOKEN_SECS)
                .min(PUSH_TOKEN_SECS),
            allow: self.push.clone(),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

/// Lifetime of a push viewer's token (the push ends with it, or with its requester).
const PUSH_TOKEN_SECS: u64 = 7 * 24 * 3600;

async fn serve_connection(incoming: quinn::Incoming, id: ConnId, core: mpsc::Sender<ToCore>) {
    let conn = match incoming.await {
        Ok(conn) => conn,
        Err(e) => return debug!("handshake failed: {e}"),
    };
    let Some(conn) = web::session_of(conn, HELLO_TIMEOUT).await else {
        return;
    };
    let Ok(Ok((send, mut recv))) = timeout(HELLO_TIMEOUT, conn.accept_bi()).await else {
        return conn.close(1, b"no control stream");
    };
    let (writer, frames) = mpsc::channel(WRITER_QUEUE);
    let may_publish = Arc::new(AtomicBool::new(false));
    let open = ToCore::Open {
        conn: id,
        writer,
        connection: Box::new(conn.clone()),
        may_publish: may_publish.clone(),
    };
    if core.send(open).await.is_err() {
        return;
    }
    tokio::spawn(write_frames(conn.clone(), send, frames));
    tokio::spawn(read_media(conn.clone(), id, core.clone(), may_publish));
    let mut first = true;
    let mut pace = FramePace::new(now_ms());
    loop {
        let read = transport::read_frame(&mut recv);
        let frame = if first {
            first = false;
            timeout(HELLO_TIMEOUT, read).await.unwrap_or_else(|_| {
                Err(ReadError::Malformed(Error::new(
                    ErrorCode::ProtocolError,
                    format!("no hello within {} s", HELLO_TIMEOUT.as_secs()),
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
        let wait = pace.take(now_ms());
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
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

async fn write_frames(conn: Connection, mut send: SendStream, mut frames: mpsc::Receiver<ToConn>) {
    while let Some(msg) = frames.recv().await {
        match msg {
            ToConn::Frame(bytes) => {
                if transport::write_frame(&mut send, &bytes).await.is_err() {
                    break;
                }
            }
            ToConn::Close => {
                // Let the goodbye reach the client before the connection goes: its stream
                // acknowledged, then the client's own close, since a browser drops what its page
                // has not read yet once the session closes under it.
                let _ = send.finish();
                let _ = timeout(GOODBYE_WAIT, async {
                    let _ = send.stopped().await;
                    conn.closed().await
                })
                .await;
                break;
            }
        }
    }
    conn.close(0, b"closed");
}

/// Reads a connection's media (video streams and audio datagrams) into the core task. Media
/// from a connection that may not publish is stopped unread (the core still hears of it, at
/// most once a second, so it can tell the client why).
async fn read_media(
    conn: Connection,
    id: ConnId,
    core: mpsc::Sender<ToCore>,
    may_publish: Arc<AtomicBool>,
) {
    let datagrams = {
        let (conn, core, may_publish) = (conn.clone(), core.clone(), may_publish.clone());
        tokio::spawn(async move {
            let mut window = (tokio::time::Instant::now(), 0u32);
            let mut refused_at = None;
            while let Ok(datagram) = conn.read_datagram().await {
                let now = tokio::time::Instant::now();
                if now.duration_since(window.0) >= Duration::from_secs(1) {
                    window = (now, 0);
                }
                window.1 += 1;
                if window.1 > AUDIO_PER_SEC || AudioPacket::decode(&datagram).is_err() {
                    continue; // Over the cap or malformed: dropped, as audio is unreliable.
                }
                if !may_publish.load(Ordering::Relaxed) && !refusal_due(&mut refused_at) {
                    continue;
                }
                // Never wait for room: a full inbox drops this datagram, not everyone's control.
                let _ = core.try_send(ToCore::Audio { conn: id, datagram });
            }
        })
    };
    let mut refused_at = None;
    while let Ok(mut recv) = conn.accept_uni().await {
        if !may_publish.load(Ordering::Relaxed) {
            let _ = recv.stop(STOPPED_NOT_PERMITTED);
            if refusal_due(&mut refused_at) {
                // The core refuses it and tells the client (throttled there too).
                let _ = core.try_send(ToCore::Refused {
                    conn: id,
                    kind: Kind::Video(Layer::High),
                });
            }
            continue;
        }
        let core = core.clone();
        tokio::spawn(async move {
            match timeout(VIDEO_DEADLINE, read_video(recv)).await {
                Ok(Ok((header, payload))) => {
                    let _ = core
                        .send(ToCore::Video {
                            conn: id,
                            header,
                            payload,
                        })
                        .await;
                }
                Ok(Err(e)) => debug!("dropped a video stream: {e}"),
                Err(_) => debug!("dropped a video stream that took over {VIDEO_DEADLINE:?}"),
            }
        });
    }
    datagrams.abort();
}

/// The application error code a refused media stream is stopped with.
const STOPPED_NOT_PERMITTED: u32 = 1;

/// Whether refused media should be passed on to the core now (once a second), so it can tell
/// the client; the rest is dropped here.
fn refusal_due(last: &mut Option<tokio::time::Instant>) -> bool {
    let now = tokio::time::Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
        return false;
    }
    *last = Some(now);
    true
}

/// Runs a step of the core; a panic in it (a bug) ends the session of the connection whose
/// input caused it, is logged, and leaves everyone else untouched.
fn contain<R>(
    core: &mut core::Server,
    conn: ConnId,
    step: impl FnOnce(&mut core::Server) -> R,
) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(|| step(core))) {
        Ok(r) => Some(r),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            error!(
                ?conn,
                "the server core panicked: {what}; closing that connection's session"
            );
            let error = Error::new(
                ErrorCode::ProtocolError,
                "internal server error; join again",
            );
            let end = Input::Malformed(error);
            if catch_unwind(AssertUnwindSafe(|| core.handle_input(conn, end, now_ms()))).is_err() {
                error!(?conn, "closing the session panicked too");
            }
            None
        }
    }
}
