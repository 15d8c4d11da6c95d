//! One channel membership's link, driven by the [`Engine`](crate::Engine)'s runtime: connect,
//! run the sans-IO client [`Session`] over the control stream, resume after losses; send the
//! front end's media (holding a new track's media until the server confirms the track, dropping
//! a congested layer until its next keyframe, sending voice again on a lossy uplink) and hand
//! incoming media back in order; once a second, report the path ([`EventKind::Link`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Sender;
use livestage_proto::client::{Gate, Notice, Session};
use livestage_proto::media::{AudioPacket, Layer, PROBE, VideoHeader};
use livestage_proto::quality::{self, Quality};
use livestage_proto::redundancy::{self, Deferred, History, LossMeter};
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
use crate::transport::{self, Connection, ReadError};

/// How one connection attempt ended.
enum Outcome {
    /// The path broke (nothing was heard since `silent_since`); resume on a new connection.
    Lost {
        /// When the server was last heard from.
        silent_since: Instant,
        /// Whether `Reconnecting` was reported already (the path went quiet before it broke).
        reported: bool,
    },
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
    // Until the first welcome: the connect timeout; after a loss: the resume window.
    let mut give_up = Instant::now() + options.connect_timeout;
    let mut leaving = false;
    loop {
        let reached = reach(
            &endpoint,
            &client_config,
            &options,
            give_up,
            &mut session,
            &mut requests,
            &emit,
            &mut leaving,
        )
        .await;
        let conn = match reached {
            Reached::Connection(conn) => Connection::raw(conn),
            Reached::Ended => return,
            Reached::Left => {
                return emit(EventKind::State {
                    state: ConnectionState::Disconnected,
                    error: None,
                });
            }
            Reached::Unusable(e) => {
                let error =
                    Error::new(ErrorCode::ServerUnreachable, format!("cannot connect: {e}"));
                return emit(EventKind::State {
                    state: ConnectionState::Disconnected,
                    error: Some(error),
                });
            }
            Reached::GaveUp => {
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
        };
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
        conn.close(0, b"bye");
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
            Outcome::Lost { .. } if leaving => {
                return emit(EventKind::State {
                    state: ConnectionState::Disconnected,
                    error: None,
                });
            }
            Outcome::Lost {
                silent_since,
                reported,
            } => {
                session.handle_lost();
                if session.is_established() {
                    // The server keeps the session for its resume window after its own idle
                    // timeout noticed the loss; trying longer could only meet an expired one.
                    give_up = silent_since + transport::IDLE_TIMEOUT + RESUME_WINDOW;
                    if !reported {
                        emit(EventKind::State {
                            state: ConnectionState::Reconnecting,
                            error: None,
                        });
                    }
                }
            }
        }
    }
}

/// How a server's resume window is assumed to last (the server's default `resume_secs`); a
/// client stops resuming this long after the server would have noticed the loss.
const RESUME_WINDOW: Duration = Duration::from_secs(20);

/// A new handshake starts this often while none has finished and the server has answered
/// none, each an independent chance through a lossy path (a single handshake's own
/// retransmissions back off exponentially, so after a few losses it waits seconds between
/// tries). On a clean path the first one finishes long before the second would start.
const RACE_EVERY: Duration = Duration::from_millis(500);
/// Handshakes in flight at most; each costs the server one pending connection.
const RACE_WIDTH: usize = 8;

/// How reaching the server ended.
enum Reached {
    /// A connection is up (the others in the race are dropped, which closes them).
    Connection(quinn::Connection),
    /// No handshake finished before the deadline.
    GaveUp,
    /// The app asked to leave meanwhile.
    Left,
    /// The app dropped the link.
    Ended,
    /// The endpoint cannot connect at all (say, an address of the wrong family).
    Unusable(quinn::ConnectError),
}

/// Races handshakes to the server until one finishes or `give_up` passes, still taking the
/// app's requests (media meanwhile is dropped; requests queue in the session).
#[allow(clippy::too_many_arguments)]
async fn reach(
    endpoint: &quinn::Endpoint,
    config: &quinn::ClientConfig,
    options: &JoinOptions,
    give_up: Instant,
    session: &mut Session,
    requests: &mut mpsc::UnboundedReceiver<LinkCommand>,
    emit: &impl Fn(EventKind),
    leaving: &mut bool,
) -> Reached {
    let mut racing = tokio::task::JoinSet::new();
    // Handshakes in the race that the server has answered.
    let answering = Arc::new(AtomicUsize::new(0));
    let mut next = Instant::now();
    loop {
        if *leaving {
            return Reached::Left;
        }
        let now = Instant::now();
        if now >= give_up {
            return Reached::GaveUp;
        }
        // While the server is answering a handshake, the path works and that one will finish:
        // more would only load a server that is slow rather than out of reach.
        let answered = answering.load(Ordering::Relaxed) > 0;
        if now >= next && racing.len() < RACE_WIDTH && !answered {
            match endpoint.connect_with(config.clone(), options.server, &options.server_name) {
                Ok(mut connecting) => {
                    let answering = answering.clone();
                    racing.spawn(async move {
                        let heard = connecting.handshake_data().await.is_ok();
                        if heard {
                            answering.fetch_add(1, Ordering::Relaxed);
                        }
                        let done = connecting.await;
                        if heard && done.is_err() {
                            answering.fetch_sub(1, Ordering::Relaxed);
                        }
                        done
                    });
                }
                Err(e) => return Reached::Unusable(e),
            }
            next = now + RACE_EVERY;
        }
        tokio::select! {
            Some(done) = racing.join_next() => {
                if let Ok(Ok(conn)) = done {
                    return Reached::Connection(conn);
                }
                // This handshake failed (timed out, refused); the next starts on schedule.
            }
            _ = sleep_until(next.min(give_up)) => {}
            request = requests.recv() => match request {
                Some(LinkCommand::Video { .. } | LinkCommand::Audio { .. }) => {} // Dropped.
                Some(command) => control(session, command, emit, leaving),
                None => return Reached::Ended,
            },
        }
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
    conn: &Connection,
    link: &str,
    session: &mut Session,
    requests: &mut mpsc::UnboundedReceiver<LinkCommand>,
    emit: &impl Fn(EventKind),
    overflowed: &AtomicBool,
    media: &Sender<MediaEvent>,
    leaving: &mut bool,
) -> Outcome {
    let lost_now = || Outcome::Lost {
        silent_since: Instant::now(),
        reported: false,
    };
    let Ok((mut send, mut recv)) = conn.open_bi().await else {
        return lost_now();
    };
    let video = VideoSender::new(conn.clone(), PUBLISH_IN_FLIGHT);
    let mut skipping: Vec<(TrackId, Layer)> = Vec::new();
    let mut uplink = Uplink::default();
    let mut silence = Silence::new();
    let mut probe = interval(PROBE_EVERY);
    probe.set_missed_tick_behavior(MissedTickBehavior::Skip);
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
        return lost_now();
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
                Some(Err(ReadError::Closed)) | None => break Outcome::Lost { silent_since: silence.last_heard, reported: silence.stalled },
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
            _ = async { sleep_until(uplink.later.next_at().unwrap_or_else(Instant::now)).await }, if !uplink.later.is_empty() => {
                uplink.send_due(conn);
            }
            _ = probe.tick(), if !session.is_live() || silence.stalled || session.pending() > 0 => {
                let _ = conn.send_datagram(Bytes::from_static(PROBE));
            }
            _ = measure.tick() => {
                let stats = quic(conn).stats();
                if let Some(state) = silence.update(stats.udp_rx.datagrams, session.is_live()) {
                    emit(EventKind::State { state, error: None });
                }
                if let Some(stats) = uplink.measure(&stats, silence.stalled) {
                    session.report_link(stats.uplink_loss_percent);
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
        if report(session, &mut uplink, emit) || overflowed.load(Ordering::Relaxed) {
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
    /// The downlink loss the server last told.
    downlink_loss: u8,
    /// Recent voice datagrams per track, with the stream they belong to.
    recent: HashMap<TrackId, (u32, History<Bytes>)>,
    /// Copies waiting for their gap ([`redundancy::COPY_GAP_MS`]).
    later: Deferred<Instant, Bytes>,
    ticks: u32,
}

impl Uplink {
    /// Reads the connection's counters; once every [`REPORT_EVERY`] calls returns the stats.
    fn measure(&mut self, stats: &quinn::ConnectionStats, stalled: bool) -> Option<LinkStats> {
        self.meter
            .update(stats.path.sent_packets, stats.path.lost_packets);
        let loss = self.meter.percent();
        self.copies = redundancy::copies(loss);
        self.ticks += 1;
        if !self.ticks.is_multiple_of(REPORT_EVERY) {
            return None;
        }
        let rtt_ms = stats.path.rtt.as_millis().clamp(1, u128::from(u32::MAX)) as u32;
        let quality = if stalled {
            Quality::Down
        } else {
            Quality::of_path(loss.max(self.downlink_loss), rtt_ms)
        };
        Some(LinkStats {
            rtt_ms,
            uplink_loss_percent: loss,
            downlink_loss_percent: self.downlink_loss,
            bandwidth_kbps: (stats.path.cwnd * 8 / u64::from(rtt_ms)).min(u64::from(u32::MAX))
                as u32,
            voice_copies: self.copies,
            quality,
        })
    }

    /// Sends a voice datagram now, and after it, [`redundancy::COPY_GAP_MS`] apart so that
    /// each travels in a packet of its own, the earlier ones due for a copy ([`Self::send_due`]).
    fn send_voice(&mut self, conn: &Connection, track: TrackId, datagram: Bytes) {
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
        let now = Instant::now();
        for (k, copy) in (1..).zip(history.due(seq, self.copies)) {
            let at = now + Duration::from_millis(k * redundancy::COPY_GAP_MS);
            if let Err(copy) = self.later.push(at, copy.clone()) {
                let _ = conn.send_datagram(copy);
            }
        }
        history.push(seq, datagram);
    }

    /// Sends the copies due by now.
    fn send_due(&mut self, conn: &Connection) {
        let now = Instant::now();
        while let Some(copy) = self.later.pop_due(now) {
            let _ = conn.send_datagram(copy);
        }
    }
}

/// How often a [`PROBE`] goes out while this client waits for the server: for the welcome on
/// a new connection, for the acknowledgement of a request, or for anything at all after
/// [`STALL`]. On a path losing 80% each way, QUIC alone resends a lost packet only after
/// a timeout that doubles each time; each probe instead draws an acknowledgement with 4% odds
/// that tells QUIC what was lost (joins at 80% loss: 15 to 19 in 20 within 30 s with probes, 5
/// without; see tests/join_under_loss.rs).
const PROBE_EVERY: Duration = Duration::from_millis(50);

/// Nothing heard from the server for this long while joined is reported as
/// [`ConnectionState::Reconnecting`] (and [`ConnectionState::Connected`] again when the path
/// comes back); the connection itself is given up only after [`transport::IDLE_TIMEOUT`].
pub const STALL: Duration = Duration::from_millis(quality::STALL_MS);

/// When the server was last heard from, from the connection's received-datagram counter.
struct Silence {
    received: u64,
    last_heard: Instant,
    stalled: bool,
}

impl Silence {
    fn new() -> Self {
        Self {
            received: 0,
            last_heard: Instant::now(),
            stalled: false,
        }
    }

    /// Takes the counter's current value; returns the state to report when it changed.
    fn update(&mut self, received: u64, joined: bool) -> Option<ConnectionState> {
        if received != self.received {
            self.received = received;
            self.last_heard = Instant::now();
            if self.stalled {
                self.stalled = false;
                return Some(ConnectionState::Connected);
            }
        } else if joined && !self.stalled && self.last_heard.elapsed() >= STALL {
            self.stalled = true;
            return Some(ConnectionState::Reconnecting);
        }
        None
    }
}

/// Sends one video frame or audio datagram. After a congested moment a video layer is dropped
/// until its next keyframe (later frames would not decode without the dropped one), and the
/// publisher is asked for one.
fn send_media(
    conn: &Connection,
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
fn report(session: &mut Session, uplink: &mut Uplink, emit: &impl Fn(EventKind)) -> bool {
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
            Notice::Links(mut links) => {
                // The first is this client's own path as the server sees it.
                if !links.is_empty() {
                    uplink.downlink_loss = links.remove(0).downlink_loss_percent;
                }
                emit(EventKind::PeerLinks(links));
            }
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
async fn receive_media(conn: Connection, channel: String, media: Sender<MediaEvent>) {
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

/// The QUIC connection under a session, for its counters.
fn quic(conn: &Connection) -> &quinn::Connection {
    conn
}
