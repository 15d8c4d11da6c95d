//! The client core shared by the Bevy plugin and the C ABI: a tokio runtime on background
//! threads drives one QUIC connection per joined channel; the front end sends commands and
//! receives [`Event`]s on a crossbeam channel, never blocking on the network.
//!
//! ```no_run
//! use livestage_net::{Engine, JoinOptions};
//! use livestage_proto::wire::Role;
//!
//! let engine = Engine::new()?;
//! let pem = std::fs::read("livestage-dev-cert.pem")?;
//! engine.join(JoinOptions::new("127.0.0.1:4443".parse()?, &pem, "lobby", "TOKEN", Role::Audience));
//! while let Ok(event) = engine.events().recv() {
//!     println!("{event:?}");
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use livestage_proto::client::{Gate, Notice, RosterChange, Session};
use livestage_proto::media::{AudioPacket, Layer, VideoHeader};
use livestage_proto::reorder::Reorder;
use livestage_proto::track::{Track, TrackId};
use livestage_proto::wire::{self, Action, Participant, Profile, Request, Role, ServerFrame};
use livestage_proto::{Error, ErrorCode};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};

use crate::media::{VideoSender, read_video};
use crate::transport::{self, ReadError};

/// How to reach a server and what to join there.
#[derive(Clone, Debug)]
pub struct JoinOptions {
    /// The server's UDP address.
    pub server: SocketAddr,
    /// The name in the server's certificate (`localhost` for the dev certificate).
    pub server_name: String,
    /// PEM of the certificate (or CA) to trust.
    pub cert_pem: Vec<u8>,
    /// The channel to join.
    pub channel: String,
    /// This membership's local name: the key for every call and the `channel` of every event
    /// and media item it produces. The channel's name by default; a different one lets a
    /// single engine join the same channel twice (say, as the streamer and as a viewer).
    pub link: String,
    /// The access token.
    pub token: String,
    /// The role asked for.
    pub role: Role,
    /// Keep data messages and raised hands under the server's rate limit by delaying them
    /// (default on).
    pub pace_data: bool,
    /// How long to keep trying to reach the server before giving up on the first connection.
    pub connect_timeout: Duration,
}

impl JoinOptions {
    /// Options with the defaults: server name `localhost`, pacing on, 5 s connect timeout.
    pub fn new(
        server: SocketAddr,
        cert_pem: &[u8],
        channel: &str,
        token: &str,
        role: Role,
    ) -> Self {
        Self {
            server,
            server_name: "localhost".into(),
            cert_pem: cert_pem.to_vec(),
            channel: channel.into(),
            link: channel.into(),
            token: token.into(),
            role,
            pace_data: true,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The state of a channel's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Reaching the server for the first time.
    Connecting,
    /// Joined and live.
    Connected,
    /// The path was lost; resuming the same session.
    Reconnecting,
    /// Over: left, refused, kicked, or unreachable (see the error).
    Disconnected,
}

/// Something that happened in a channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The channel it happened in.
    pub channel: String,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// The connection state changed; `error` says why when it ended badly.
    State {
        /// The new state.
        state: ConnectionState,
        /// Why, for a disconnect that was not asked for.
        error: Option<Error>,
    },
    /// Joined (or resumed after a reconnect) with this view of the channel.
    Joined {
        /// This client as the channel sees it.
        me: Participant,
        /// The others this client can see (the hosts; for a host also the raised hands).
        peers: Vec<Participant>,
        /// How many members are audience.
        audience: u32,
        /// The channel's profile.
        profile: Profile,
        /// True when an earlier session continued after a reconnect.
        resumed: bool,
    },
    /// Who this client sees changed: the session's roster, for front ends to mirror (sent
    /// before the server event that caused it).
    Roster(RosterChange),
    /// An event from the server (peers, roles, raised hands, data, refusals, token warnings).
    Server(wire::Event),
    /// A request was refused locally before it was sent (e.g. too large, not joined).
    LocalError(Error),
    /// A local track's source ended by itself (a shared window closed): the track was
    /// unpublished, and `error` says why.
    TrackEnded {
        /// The track.
        track: TrackId,
        /// Why (e.g. [`ErrorCode::SourceEnded`]).
        error: Error,
    },
}

/// Media that arrived from a publisher, still encoded.
#[derive(Clone, Debug)]
pub struct MediaEvent {
    /// The channel.
    pub channel: String,
    /// The publisher's [`Participant::media_id`].
    pub media_id: u64,
    /// The publisher's track.
    pub track: TrackId,
    /// The media.
    pub kind: MediaKind,
}

/// Encoded media.
#[derive(Clone, Debug)]
pub enum MediaKind {
    /// One video frame (Annex B H.264).
    Video {
        /// Layer, frame number, keyframe flag, capture time.
        header: VideoHeader,
        /// The encoded frame.
        data: Bytes,
    },
    /// One 20 ms audio frame (Opus).
    Audio {
        /// The publication it belongs to; `seq` starts again at 0 in each.
        stream: u32,
        /// Frame counter (wrapping).
        seq: u32,
        /// Capture time, microseconds since the Unix epoch.
        capture_us: u64,
        /// The Opus packet.
        payload: Bytes,
    },
}

/// Most encoded media waiting for the front end; beyond it media is dropped (and counted).
pub const MEDIA_QUEUE: usize = 2048;
/// Most events waiting for the front end. A front end that lets this many pile up has stopped
/// reading: the channel whose event did not fit is left (memory never grows without bound),
/// and its last event says so once there is room.
pub const EVENT_QUEUE: usize = 65_536;
/// Video frames a publisher may have unacknowledged before new ones are dropped.
const PUBLISH_IN_FLIGHT: usize = 16;

/// What a front end asks of one channel's link.
pub enum LinkCommand {
    /// A reliable request.
    Request(Request),
    /// Publish a track whenever this client is a host (see [`Session::publish`]).
    Publish(Track),
    /// Stop publishing a track.
    Unpublish(TrackId),
    /// A track's source ended: unpublish it and tell the front end.
    End(TrackId, Error),
    /// Publish one encoded video frame.
    Video {
        /// Its header (`media_id` is ignored; the server stamps it).
        header: VideoHeader,
        /// The encoded frame.
        payload: Bytes,
    },
    /// Publish one audio datagram (an encoded [`AudioPacket`]) of a track.
    Audio {
        /// The track, as in the datagram.
        track: TrackId,
        /// The encoded packet.
        datagram: Bytes,
    },
}

enum Command {
    Join(Box<JoinOptions>),
    Link {
        channel: String,
        command: LinkCommand,
    },
}

/// The client engine. Dropping it leaves every channel and stops its threads.
pub struct Engine {
    commands: mpsc::UnboundedSender<Command>,
    events: Receiver<Event>,
    media: Receiver<MediaEvent>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Engine {
    /// Starts the engine's runtime (two background threads).
    pub fn new() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("livestage-engine")
            .enable_all()
            .build()?;
        let (commands, rx) = mpsc::unbounded_channel();
        let (events_tx, events) = crossbeam_channel::bounded(EVENT_QUEUE);
        let (media_tx, media) = crossbeam_channel::bounded(MEDIA_QUEUE);
        runtime.spawn(dispatch(rx, events_tx, media_tx));
        Ok(Self {
            commands,
            events,
            media,
            runtime: Some(runtime),
        })
    }

    /// Joins a channel; progress arrives as events. Joining a channel already joined
    /// replaces that membership.
    pub fn join(&self, options: JoinOptions) {
        self.command(Command::Join(Box::new(options)));
    }

    /// Leaves a channel.
    pub fn leave(&self, channel: &str) {
        self.request(channel, Request::Leave);
    }

    /// Asks to become host or audience.
    pub fn set_role(&self, channel: &str, role: Role) {
        self.request(channel, Request::SetRole(role));
    }

    /// Sends a data message to everyone who hears this client, or only to `to` if not empty.
    pub fn send_data(&self, channel: &str, to: Vec<String>, payload: Vec<u8>) {
        self.request(channel, Request::Data { to, payload });
    }

    /// A moderator action.
    pub fn moderate(&self, channel: &str, action: Action) {
        self.request(channel, Request::Moderate(action));
    }

    /// Raises (`true`) or lowers (`false`) this client's hand, asking the moderators to invite
    /// it on stage. Only the audience may raise a hand; the change comes back as a
    /// [`wire::Event::HandChanged`] (or a refusal). Paced with data messages when
    /// [`JoinOptions::pace_data`] is on.
    pub fn raise_hand(&self, channel: &str, raised: bool) {
        self.request(channel, Request::RaiseHand(raised));
    }

    /// Replaces the token of a live channel membership.
    pub fn renew_token(&self, channel: &str, token: &str) {
        self.request(channel, Request::RenewToken(token.into()));
    }

    /// Chooses what to receive from `user` on all its tracks: audio, and which video layer
    /// (or none). Replaces earlier per-track choices.
    pub fn subscribe(&self, channel: &str, user: &str, audio: bool, video: Option<Layer>) {
        self.request(
            channel,
            Request::Subscribe {
                user: user.into(),
                track: None,
                audio,
                video,
            },
        );
    }

    /// Chooses what to receive from one track of `user` (audio on or off for an audio track,
    /// the layer or none for a video track).
    pub fn subscribe_track(
        &self,
        channel: &str,
        user: &str,
        track: TrackId,
        audio: bool,
        video: Option<Layer>,
    ) {
        self.request(
            channel,
            Request::Subscribe {
                user: user.into(),
                track: Some(track),
                audio,
                video,
            },
        );
    }

    /// Publishes `track` in `channel` whenever this client is a host (now, or once it is
    /// promoted); its media is sent only once the server has it. Publishing an id again
    /// changes the track.
    pub fn publish_track(&self, channel: &str, track: Track) {
        self.link(channel, LinkCommand::Publish(track));
    }

    /// Stops publishing track `id` in `channel`.
    pub fn unpublish_track(&self, channel: &str, id: TrackId) {
        self.link(channel, LinkCommand::Unpublish(id));
    }

    /// A source ended by itself: unpublishes track `id` in `channel` and reports
    /// [`EventKind::TrackEnded`] with `error`.
    pub fn end_track(&self, channel: &str, id: TrackId, error: Error) {
        self.link(channel, LinkCommand::End(id, error));
    }

    /// Asks the publisher with `media_id` for a keyframe of `layer` of `track` (after decode
    /// errors).
    pub fn request_keyframe(&self, channel: &str, media_id: u64, track: TrackId, layer: Layer) {
        self.request(
            channel,
            Request::RequestKeyframe {
                media_id,
                track,
                layer,
            },
        );
    }

    /// Reports the audio loss measured from a publisher over the last second (percent).
    pub fn report_loss(&self, channel: &str, media_id: u64, percent: u8) {
        self.request(channel, Request::ReportLoss { media_id, percent });
    }

    /// Publishes one encoded video frame of `header.track` (dropped if not connected, if the
    /// path is congested, or while the server does not have the track published).
    pub fn send_video(&self, channel: &str, header: VideoHeader, payload: Vec<u8>) {
        let command = LinkCommand::Video {
            header,
            payload: Bytes::from(payload),
        };
        self.link(channel, command);
    }

    /// Publishes one encoded 20 ms audio frame of `track`, publication `stream` (dropped if
    /// not connected or while the server does not have the track published). A new
    /// publication takes a new `stream` and starts `seq` at 0 again.
    pub fn send_audio(
        &self,
        channel: &str,
        track: TrackId,
        stream: u32,
        seq: u32,
        capture_us: u64,
        payload: &[u8],
    ) {
        let datagram = AudioPacket {
            media_id: 0,
            track,
            stream,
            seq,
            capture_us,
            payload,
        }
        .encode();
        let command = LinkCommand::Audio {
            track,
            datagram: Bytes::from(datagram),
        };
        self.link(channel, command);
    }

    fn link(&self, channel: &str, command: LinkCommand) {
        self.command(Command::Link {
            channel: channel.into(),
            command,
        });
    }

    /// Encoded media from publishers, oldest first; bounded, so a front end that stops reading
    /// loses media, never memory.
    pub fn media(&self) -> &Receiver<MediaEvent> {
        &self.media
    }

    /// The events of every channel, in order per channel.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    fn request(&self, channel: &str, request: Request) {
        self.link(channel, LinkCommand::Request(request));
    }

    fn command(&self, command: Command) {
        // The dispatcher lives as long as the runtime, which lives as long as `self`.
        let _ = self.commands.send(command);
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Microseconds since the Unix epoch: the clock media capture stamps use.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Routes commands to one task per channel.
async fn dispatch(
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: Sender<Event>,
    media: Sender<MediaEvent>,
) {
    let mut links: HashMap<String, mpsc::UnboundedSender<LinkCommand>> = HashMap::new();
    while let Some(command) = commands.recv().await {
        match command {
            Command::Join(options) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let channel = options.link.clone();
                let endpoint = match client_endpoint(options.server) {
                    Ok(e) => e,
                    Err(e) => {
                        let error = Error::new(
                            ErrorCode::ServerUnreachable,
                            format!("cannot open a UDP socket: {e}"),
                        );
                        let kind = EventKind::State {
                            state: ConnectionState::Disconnected,
                            error: Some(error),
                        };
                        let _ = events.send(Event { channel, kind });
                        continue;
                    }
                };
                tokio::spawn(run_link(
                    endpoint,
                    *options,
                    rx,
                    events.clone(),
                    media.clone(),
                ));
                links.insert(channel, tx);
            }
            Command::Link { channel, command } => {
                // Media and media hints (loss reports, keyframe requests) for a channel that was
                // just left are dropped quietly; a real request there is an app error worth
                // reporting.
                let is_media = match &command {
                    LinkCommand::Request(r) => {
                        matches!(
                            r,
                            Request::ReportLoss { .. } | Request::RequestKeyframe { .. }
                        )
                    }
                    LinkCommand::Publish(_) | LinkCommand::Unpublish(_) | LinkCommand::End(..) => {
                        false
                    }
                    LinkCommand::Video { .. } | LinkCommand::Audio { .. } => true,
                };
                let sent = links
                    .get(&channel)
                    .is_some_and(|tx| tx.send(command).is_ok());
                if !sent && !is_media {
                    let error =
                        Error::new(ErrorCode::ProtocolError, format!("not joined to {channel}"));
                    let _ = events.send(Event {
                        channel,
                        kind: EventKind::LocalError(error),
                    });
                }
            }
        }
    }
}

/// A client endpoint bound to the wildcard address of the server's family.
pub fn client_endpoint(server: SocketAddr) -> std::io::Result<quinn::Endpoint> {
    let bind: SocketAddr = if server.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    }
    .parse()
    .expect("literal socket address");
    quinn::Endpoint::client(bind)
}

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
                        Gate::Send => send_media(conn, &video, &mut skipping, media, emit),
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
                    send_media(conn, &video, &mut skipping, media, emit);
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

/// Sends one video frame or audio datagram. After a congested moment a video layer is dropped
/// until its next keyframe (later frames would not decode without the dropped one), and the
/// publisher is asked for one.
fn send_media(
    conn: &quinn::Connection,
    video: &VideoSender,
    skipping: &mut Vec<(TrackId, Layer)>,
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
        LinkCommand::Audio { datagram, .. } => {
            let _ = conn.send_datagram(datagram);
        }
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
