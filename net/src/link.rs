//! One channel membership's link, driven by the [`Engine`](crate::Engine)'s runtime: connect,
//! run the sans-IO client [`Session`] over the control stream, resume after losses; send the
//! front end's media (holding a new track's media until the server confirms the track, dropping
//! a congested layer until its next keyframe, sending voice again on a lossy uplink) and hand
//! incoming media back in order; once a second, report the path ([`EventKind::Link`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Sender;
use livestage_proto::client::{Gate, Notice, Session};
use livestage_proto::media::{AudioPacket, Layer, VideoHeader};
use livestage_proto::redundancy::{self, History, LossMeter};
use livestage_proto::reorder::Reorder;
use livestage_proto::track::TrackId;
use livestage_proto::wire::{self, Request, ServerFrame};
use livestage_proto::{Error, ErrorCode};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until, timeout};

use crate::engine::{
    ConnectionState, EVENT_QUEUE, Event, EventKind, JoinOptions, LinkCommand, LinkStats,
    MediaEvent, MediaKind, PUBLISH_IN_FLIGHT, now_ms,
};
use crate::media::{VideoSender, read_video};
use crate::transport::{self, ReadError};

/// How one connection attempt ended.
enum Outcome {
    /// The path broke; resume on a new connection.
    Lost,
    /// The session is over; the link stops.
    Over,
}

/// Drives one channel membership: connect, resume after losses, until it ends. Public so load
/// tools can run many memberships over one endpoint.
pub async fn run_link(
    endpoint: quinn::Endpoint,
    options: JoinOptions,
    mut requests: mpsc::UnboundedReceiver<LinkCommand>,
    events: Sender<Event>,
    media: Sender<MediaEvent>,
) {
    let channel = options.link.clone();
    let overflowed = AtomicBool::new(false);
    let emit = |kind: EventKind| {
        let event = Event {
            channel: channel.clone(),
            kind,
        };
        if let Err(crossbeam_channel::TrySendError::Full(_)) = events.try_send(event) {
            overflowed.store(true, Ordering::Relaxed);
        }
    };
    let client_config = match transport::client_config(&options.cert_pem) {
        Ok(c) => c,
        Err(e) => {
            let error = Error::new(ErrorCode::ServerUnreachable, format!("{e:#}"));
            return emit(EventKind::State {
                state: ConnectionState::Disconnected,
                error: Some(error),
            });
        }
    };
    let mut session = Session::new(&options.channel, &options.token, options.role);
    if !options.pace_data {
        session = session.without_pacing();
    }
    emit(EventKind::State {
        state: ConnectionState::Connecting,
        error: None,
    });
    let mut backoff = Duration::from_millis(100);
    // Until the first welcome: the connect timeout; after a loss: the server's resume window.
    let mut give_up = Instant::now() + options.connect_timeout;
    let mut leaving = false;
    loop {
        let attempt =
            endpoint.connect_with(client_config.clone(), options.server, &options.server_name);
        let connected = match attempt {
            Ok(connecting) => timeout(Duration::from_secs(3), connecting)
                .await
                .ok()
                .and_then(Result::ok),
            Err(e) => {
                let error =
                    Error::new(ErrorCode::ServerUnreachable, format!("cannot connect: {e}"));
                return emit(EventKind::State {
                    state: ConnectionState::Disconnected,
                    error: Some(error),
                });
            }
        };
        if let Some(conn) = connected {
            backoff = Duration::from_millis(100);
            let outcome = run_connection(
                &conn,
                &channel,
                &mut session,
                &mut requests,
                &emit,
                &overflowed,
                &media,
                &mut leaving,
            )
            .await;
            conn.close(0u32.into(), b"bye");
            match outcome {
                Outcome::Over if overflowed.load(Ordering::Relaxed) => {
                    let msg = format!("{EVENT_QUEUE} events unread; left the channel");
                    let error = Error::new(ErrorCode::Overloaded, msg);
                    // Waits for room (off the runtime), so the front end learns why once it
                    // reads again.
                    let (events, channel) = (events.clone(), channel.clone());
                    tokio::task::spawn_blocking(move || {
                        let kind = EventKind::State {
                            state: ConnectionState::Disconnected,
                            error: Some(error),
                        };
                        let _ = events.send(Event { channel, kind });
                    });
                    return;
                }
                Outcome::Over => return,
                Outcome::Lost if leaving => {
                    return emit(EventKind::State {
                        state: ConnectionState::Disconnected,
                        error: None,
                    });
                }
                Outcome::Lost => {
                    session.handle_lost();
                    if session.is_established() {
                        give_up = Instant::now() + Duration::from_secs(25);
                        emit(EventKind::State {
                            state: ConnectionState::Reconnecting,
                            error: None,
                        });
                    }
                }
            }
        }
        if Instant::now() >= give_up {
            let error = Error::new(
                ErrorCode::ServerUnreachable,
                format!(
                    "no answer from {} (is `livestage serve` running there?)",
                    options.server
                ),
            );
            session.handle_failed(error.clone());
            return emit(EventKind::State {
                state: ConnectionState::Disconnected,
                error: Some(error),
            });
        }
        // Keep accepting requests while waiting, so nothing the app sends is lost.
        let wake = Instant::now() + backoff;
        loop {
            tokio::select! {
                _ = sleep_until(wake) => break,
                request = requests.recv() => match request {
                    Some(LinkCommand::Video { .. } | LinkCommand::Audio { .. }) => {} // Dropped.
                    Some(command) => control(&mut session, command, &emit, &mut leaving),
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// Hands a request or a track change to the session (media is the caller's business).
fn control(
    session: &mut Session,
    command: LinkCommand,
    emit: &impl Fn(EventKind),
    leaving: &mut bool,
) {
    let done = match command {
        LinkCommand::Request(request) => {
            *leaving |= request == Request::Leave;
            session.send(request, now_ms())
        }
        LinkCommand::Publish(track) => session.publish(track, now_ms()),
        LinkCommand::Unpublish(id) => session.unpublish(id, now_ms()),
        LinkCommand::End(track, error) => {
            emit(EventKind::TrackEnded { track, error });
            session.unpublish(track, now_ms())
        }
        LinkCommand::Video { .. } | LinkCommand::Audio { .. } => Ok(()),
    };
    if let Err(error) = done {
        emit(EventKind::LocalError(error));
    }
}

async fn run_connection(
    conn: &quinn::Connection,
    link: &str,
    session: &mut Session,
    requests: &mut mpsc::UnboundedReceiver<LinkCommand>,
    emit: &impl Fn(EventKind),
    overflowed: &AtomicBool,
    media: &Sender<MediaEvent>,
    leaving: &mut bool,
) -> Outcome {
    let Ok((mut send, mut recv)) = conn.open_bi().await else {
        return Outcome::Lost;
    };
    let video = VideoSender::new(conn.clone(), PUBLISH_IN_FLIGHT);
    let mut skipping: Vec<(TrackId, Layer)> = Vec::new();
    let mut uplink = Uplink::default();
    let mut measure = interval(MEASURE_EVERY);
    measure.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Media of tracks announced but not confirmed yet, oldest first (see `Gate::Wait`).
    let mut held: VecDeque<LinkCommand> = VecDeque::new();
    let receiver = tokio::spawn(receive_media(conn.clone(), link.to_owned(), media.clone()));
    // Reading is not cancel-safe inside select!, so a task feeds frames through a channel.
    let (frames_tx, mut frames) = mpsc::channel(256);
    let reader = tokio::spawn(async move {
        loop {
            let frame = transport::read_frame(&mut recv).await;
            let stop = frame.is_err();
            if frames_tx.send(frame).await.is_err() || stop {
                break;
            }
        }
    });
    let hello = wire::encode(&session.hello());
    if transport::write_frame(&mut send, &hello).await.is_err() {
        reader.abort();
        return Outcome::Lost;
    }
    let outcome = loop {
        let wake = session
            .poll_timeout(now_ms())
            .map(|at| Instant::now() + Duration::from_millis(at.saturating_sub(now_ms())));
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(Ok(body)) => {
                    let handled = wire::decode::<ServerFrame>(&body).and_then(|f| session.handle_frame(f, now_ms()));
                    if let Err(error) = handled {
                        session.handle_failed(error);
                    }
                }
                Some(Err(ReadError::Malformed(error))) => session.handle_failed(error),
                Some(Err(ReadError::Closed)) | None => break Outcome::Lost,
            },
            request = requests.recv() => match request {
                Some(media @ (LinkCommand::Video { .. } | LinkCommand::Audio { .. })) => {
                    match session.gate(media_track(&media)) {
                        Gate::Send => send_media(conn, &video, &mut skipping, &mut uplink, media, emit),
                        Gate::Wait => {
                            if held.len() == HELD_MEDIA {
                                held.pop_front();
                            }
                            held.push_back(media);
                        }
                        Gate::Drop => {}
                    }
                }
                Some(command) => control(session, command, emit, leaving),
                None => break Outcome::Over,
            },
            _ = async { sleep_until(wake.unwrap_or_else(Instant::now)).await }, if wake.is_some() => {
                session.handle_timeout(now_ms());
            }
            _ = measure.tick() => {
                if let Some(stats) = uplink.measure(conn) {
                    emit(EventKind::Link(stats));
                }
            }
        }
        // Media held for tracks the server has confirmed since goes out now, in order.
        while let Some(media) = held.front() {
            match session.gate(media_track(media)) {
                Gate::Wait => break,
                Gate::Drop => {
                    held.pop_front();
                }
                Gate::Send => {
                    let media = held.pop_front().expect("a front exists");
                    send_media(conn, &video, &mut skipping, &mut uplink, media, emit);
                }
            }
        }
        while let Some(frame) = session.poll_transmit() {
            if transport::write_frame(&mut send, &wire::encode(&frame))
                .await
                .is_err()
            {
                break;
            }
        }
        if report(session, emit) || overflowed.load(Ordering::Relaxed) {
            break Outcome::Over;
        }
    };
    reader.abort();
    receiver.abort();
    if matches!(outcome, Outcome::Over) {
        let _ = send.finish();
        // Give the last frames (a Leave, an Ack) a moment to reach the server.
        let _ = timeout(Duration::from_millis(300), send.stopped()).await;
    }
    outcome
}

/// Media held for unconfirmed tracks at most (a second of 30 fps video with its voice); beyond
/// it the oldest goes.
const HELD_MEDIA: usize = 96;

fn media_track(media: &LinkCommand) -> TrackId {
    match media {
        LinkCommand::Video { header, .. } => header.track,
        LinkCommand::Audio { track, .. } => *track,
        _ => 0,
    }
}

/// How often the path's loss is read from QUIC (and the copies adjusted).
const MEASURE_EVERY: Duration = Duration::from_millis(200);
/// Measurements between two [`EventKind::Link`] reports (one a second).
const REPORT_EVERY: u32 = 5;

/// The uplink's loss and the voice copies it asks for.
#[derive(Default)]
struct Uplink {
    meter: LossMeter,
    copies: u8,
    /// Recent voice datagrams per track, with the stream they belong to.
    recent: HashMap<TrackId, (u32, History<Bytes>)>,
    ticks: u32,
}

impl Uplink {
    /// Reads the connection's counters; once every [`REPORT_EVERY`] calls returns the stats.
    fn measure(&mut self, conn: &quinn::Connection) -> Option<LinkStats> {
        let stats = conn.stats();
        self.meter
            .update(stats.path.sent_packets, stats.path.lost_packets);
        let loss = self.meter.percent();
        self.copies = redundancy::copies(loss);
        self.ticks += 1;
        if !self.ticks.is_multiple_of(REPORT_EVERY) {
            return None;
        }
        let rtt_ms = stats.path.rtt.as_millis().max(1) as u64;
        Some(LinkStats {
            rtt_ms: rtt_ms.min(u64::from(u32::MAX)) as u32,
            uplink_loss_percent: loss,
            bandwidth_kbps: (stats.path.cwnd * 8 / rtt_ms).min(u64::from(u32::MAX)) as u32,
            voice_copies: self.copies,
        })
    }

    /// Sends a voice datagram, and again the earlier ones due for a copy now.
    fn send_voice(&mut self, conn: &quinn::Connection, track: TrackId, datagram: Bytes) {
        let Ok(packet) = AudioPacket::decode(&datagram) else {
            return;
        };
        let (stream, seq) = (packet.stream, packet.seq);
        let (current, history) = self.recent.entry(track).or_default();
        if *current != stream {
            *current = stream;
            history.clear();
        }
        let _ = conn.send_datagram(datagram.clone());
        for copy in history.due(seq, self.copies) {
            let _ = conn.send_datagram(copy.clone());
        }
        history.push(seq, datagram);
    }
}

/// Sends one video frame or audio datagram. After a congested moment a video layer is dropped
/// until its next keyframe (later frames would not decode without the dropped one), and the
/// publisher is asked for one.
fn send_media(
    conn: &quinn::Connection,
    video: &VideoSender,
    skipping: &mut Vec<(TrackId, Layer)>,
    uplink: &mut Uplink,
    media: LinkCommand,
    emit: &impl Fn(EventKind),
) {
    match media {
        LinkCommand::Video { header, payload } => {
            let key = (header.track, header.layer);
            if header.keyframe {
                skipping.retain(|k| *k != key);
            }
            if !skipping.contains(&key) && !video.send(&header, payload) {
                skipping.push(key);
                let (track, layer) = key;
                emit(EventKind::Server(wire::Event::KeyframeRequest {
                    track,
                    layer,
                }));
            }
        }
        LinkCommand::Audio { track, datagram } => uplink.send_voice(conn, track, datagram),
        _ => {}
    }
}

/// Turns session notices into events; returns true when the session ended.
fn report(session: &mut Session, emit: &impl Fn(EventKind)) -> bool {
    while let Some(notice) = session.poll_notice() {
        match notice {
            Notice::Welcomed { resumed } => {
                let me = session
                    .me()
                    .cloned()
                    .expect("welcomed sessions know themselves");
                let peers = session.roster().cloned().collect();
                emit(EventKind::State {
                    state: ConnectionState::Connected,
                    error: None,
                });
                emit(EventKind::Joined {
                    me,
                    peers,
                    audience: session.audience(),
                    profile: session.profile(),
                    resumed,
                });
            }
            Notice::Roster(change) => emit(EventKind::Roster(change)),
            Notice::Event(event) => emit(EventKind::Server(event)),
            Notice::Ended(error) => {
                emit(EventKind::State {
                    state: ConnectionState::Disconnected,
                    error: Some(error),
                });
                return true;
            }
        }
    }
    false
}

/// How long a missing video frame is waited for before the frames after it are released.
pub const REORDER_WAIT_MS: u64 = 150;

/// Hands a connection's incoming video frames (back in order per publisher layer) and audio
/// datagrams to the front end.
async fn receive_media(conn: quinn::Connection, channel: String, media: Sender<MediaEvent>) {
    let datagrams = {
        let (conn, channel, media) = (conn.clone(), channel.clone(), media.clone());
        tokio::spawn(async move {
            while let Ok(datagram) = conn.read_datagram().await {
                let Ok(p) = AudioPacket::decode(&datagram) else {
                    continue;
                };
                let payload = datagram.slice(datagram.len() - p.payload.len()..);
                let kind = MediaKind::Audio {
                    stream: p.stream,
                    seq: p.seq,
                    capture_us: p.capture_us,
                    payload,
                };
                let _ = media.try_send(MediaEvent {
                    channel: channel.clone(),
                    media_id: p.media_id,
                    track: p.track,
                    kind,
                });
            }
        })
    };
    let (frames_tx, frames) = mpsc::channel(256);
    let reorder = tokio::spawn(reorder_video(frames, channel, media));
    while let Ok(recv) = conn.accept_uni().await {
        let frames_tx = frames_tx.clone();
        tokio::spawn(async move {
            if let Ok(frame) = read_video(recv).await {
                let _ = frames_tx.send(frame).await;
            }
        });
    }
    datagrams.abort();
    reorder.abort();
}

/// Releases video frames in order per (publisher, track, layer) within each of its streams,
/// waiting briefly for stragglers; a new stream of a layer replaces the one before.
async fn reorder_video(
    mut frames: mpsc::Receiver<(VideoHeader, Bytes)>,
    channel: String,
    media: Sender<MediaEvent>,
) {
    let mut queues: HashMap<(u64, TrackId, Layer), Reorder<(VideoHeader, Bytes)>> = HashMap::new();
    loop {
        let wake = queues.values().filter_map(Reorder::poll_timeout).min();
        let wait = wake.map(|at| Duration::from_millis(at.saturating_sub(now_ms())));
        tokio::select! {
            frame = frames.recv() => {
                let Some((header, data)) = frame else { break };
                let queue = queues.entry((header.media_id, header.track, header.layer)).or_insert_with(|| Reorder::new(REORDER_WAIT_MS));
                queue.push(header.stream, header.frame, header.keyframe, (header, data), now_ms());
            }
            _ = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => {}
        }
        let now = now_ms();
        for queue in queues.values_mut() {
            while let Some((header, data)) = queue.pop(now) {
                let kind = MediaKind::Video { header, data };
                let _ = media.try_send(MediaEvent {
                    channel: channel.clone(),
                    media_id: header.media_id,
                    track: header.track,
                    kind,
                });
            }
        }
    }
}
