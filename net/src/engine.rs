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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};
use livestage_proto::client::RosterChange;
use livestage_proto::media::{AudioPacket, Layer, VideoHeader};
use livestage_proto::quality::Quality;
use livestage_proto::track::{Track, TrackId};
use livestage_proto::wire::{self, Action, Participant, PeerLink, Profile, Request, Role};
use livestage_proto::{Error, ErrorCode};
use tokio::sync::mpsc;

pub use crate::link::{REORDER_WAIT_MS, run_link};

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
    /// Options with the defaults: server name `localhost`, pacing on, 10 s connect timeout.
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
            connect_timeout: Duration::from_secs(10),
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
    /// The path to the server as this client's QUIC connection measures it, once a second
    /// while connected. A publisher's voice protection follows `uplink_loss_percent`.
    Link(LinkStats),
    /// Once a second: the paths of the hosts this client sees, as the server knows them
    /// (round trip and downlink loss measured by the server, uplink loss as each reported it).
    PeerLinks(Vec<PeerLink>),
}

/// The path to the server, from this client's QUIC connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Smoothed round-trip time, milliseconds.
    pub rtt_ms: u32,
    /// Packets this client sent that the server did not acknowledge, smoothed, percent.
    pub uplink_loss_percent: u8,
    /// Packets the server sent this client that did not arrive, percent, as the server last
    /// told (0 until it has).
    pub downlink_loss_percent: u8,
    /// What the congestion controller lets this client send now (congestion window over
    /// the round trip), kilobits per second: the available uplink as far as QUIC knows.
    pub bandwidth_kbps: u32,
    /// Extra copies of each voice datagram sent now ([`livestage_proto::redundancy`]).
    pub voice_copies: u8,
    /// The path graded from its worse loss and its round trip ([`Quality::of_path`]);
    /// [`Quality::Down`] while nothing is heard from the server.
    pub quality: Quality,
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
pub(crate) const PUBLISH_IN_FLIGHT: usize = 16;

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

    /// Starts, changes or stops a CDN push of the channel (moderators and holders of the
    /// `push` grant); each URL's state comes back as [`wire::Event::Push`].
    pub fn push(&self, channel: &str, request: livestage_proto::push::Request) {
        self.request(channel, Request::Push(Box::new(request)));
    }

    /// Starts, changes or stops an inject into the channel (moderators): the server publishes
    /// a stream or file as `inject-<name>`; its state comes back as [`wire::Event::Inject`].
    pub fn inject(&self, channel: &str, request: livestage_proto::inject::Request) {
        self.request(channel, Request::Inject(Box::new(request)));
    }

    /// Starts, changes, pauses, resumes or stops relaying this host's own tracks into other
    /// channels (co-hosting across channels; the token must grant `relay`); each
    /// destination's state comes back as [`wire::Event::Relay`].
    pub fn relay(&self, channel: &str, request: livestage_proto::relay::Request) {
        self.request(channel, Request::Relay(Box::new(request)));
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

    /// Publishes one encoded video frame of `header.track` (dropped if not connected, if the
    /// path is congested, or while the server does not have the track published).
    pub fn send_video(&self, channel: &str, header: VideoHeader, payload: impl Into<Bytes>) {
        let command = LinkCommand::Video {
            header,
            payload: payload.into(),
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

pub(crate) fn now_ms() -> u64 {
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
                // Media and media hints (keyframe requests) for a channel that was
                // just left are dropped quietly; a real request there is an app error worth
                // reporting.
                let is_media = match &command {
                    LinkCommand::Request(r) => {
                        matches!(r, Request::RequestKeyframe { .. })
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
