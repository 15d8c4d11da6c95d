//! The control wire format: versioned, length-prefixed postcard messages with hard size limits.
//!
//! A frame on the control stream is a big-endian `u32` length followed by that many bytes of
//! postcard. The first client frame is a [`Hello`]; the server answers with
//! [`ServerFrame::Welcome`] or [`ServerFrame::Goodbye`]. After that both sides send
//! [`ClientFrame`] / [`ServerFrame`] values: requests and events carry a sequence number and are
//! acknowledged, so they survive a reconnect exactly once.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::id::{SessionId, UserId};
use crate::media::Layer;
use crate::track::{self, Track, TrackId};

/// Version of this wire format; a server refuses a `Hello` with another version. Version 2
/// added raised hands ([`Participant::hand_raised`], [`Request::RaiseHand`],
/// [`Event::HandChanged`]); version 3 paginated rosters ([`RosterPage`]), counted the
/// audience instead of listing it ([`Event::Audience`]) and made a kick a ban
/// ([`Action::Kick`], [`Action::Unban`]); version 4 made media tracks first-class
/// ([`Participant::tracks`], [`Request::Publish`], per-track subscriptions and mutes, a track
/// id in every media packet); version 5 added CDN pushes ([`Request::Push`], [`Event::Push`]);
/// version 6 injects ([`Request::Inject`], [`Event::Inject`]); version 7 dropped the audio
/// loss reports (each leg now measures its own loss from QUIC, see
/// [`redundancy`](crate::redundancy)); version 8 added each path's figures
/// ([`ClientFrame::Link`], [`ServerFrame::Links`]); version 9 relays across channels
/// ([`Request::Relay`], [`Event::Relay`]).
pub const VERSION: u16 = 9;
/// Largest control frame body, in bytes. A longer frame is a protocol error.
pub const MAX_FRAME: usize = 64 * 1024;
/// Largest data message payload, in bytes.
pub const MAX_DATA: usize = 4 * 1024;
/// Most user ids in one list (hearing sets, recipients).
pub const MAX_LIST: usize = 256;
/// Most participants in one [`RosterPage`]. A participant encodes to at most
/// [`MAX_PARTICIPANT`] bytes, so a full page stays inside [`MAX_FRAME`].
pub const ROSTER_PAGE: usize = 128;
/// Largest encoded [`Participant`], in bytes (a 64-byte user id, flags, a 10-byte varint and
/// a full set of tracks).
pub const MAX_PARTICIPANT: usize = 1
    + crate::id::MAX_ID_LEN
    + 5
    + 10
    + 1
    + (track::MAX_VIDEO + track::MAX_AUDIO) * track::MAX_ENCODED;

/// A participant's role in a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// On stage: may publish media (as its token allows).
    Host,
    /// Watching: receives, never publishes.
    Audience,
}

/// What kind of channel this is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Hosts on stage, an audience watching.
    #[default]
    LiveBroadcast,
    /// Everyone who may publish is a host.
    Communication,
}

/// What everyone in a channel knows about a participant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The user id from the participant's token.
    pub user: UserId,
    /// Host or audience.
    pub role: Role,
    /// Whether the participant's token grants moderation.
    pub moderator: bool,
    /// A moderator muted this participant's audio.
    pub audio_muted: bool,
    /// A moderator muted this participant's video.
    pub video_muted: bool,
    /// An audience member asked to be invited on stage ([`Request::RaiseHand`]). Always
    /// false for a host: going on stage lowers the hand.
    pub hand_raised: bool,
    /// The id that media from this participant carries.
    pub media_id: u64,
    /// The tracks it publishes (a host's; the audience publishes none), by id.
    pub tracks: Vec<Track>,
}

impl Participant {
    /// Its track with id `id`.
    pub fn track(&self, id: TrackId) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }
}

/// The first frame a client sends on a new connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal [`VERSION`].
    pub version: u16,
    /// Start a session or resume one.
    pub intent: Intent,
}

/// Start or resume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Intent {
    /// Join a channel with a token.
    Join {
        /// Channel name; must match the token.
        channel: String,
        /// The token.
        token: String,
        /// The role asked for; a host request may be answered with audience.
        role: Role,
    },
    /// Resume a session after losing the connection.
    Resume {
        /// The session from `Welcome`.
        session: SessionId,
        /// The secret from `Welcome`.
        key: u64,
        /// The last event sequence number the client has processed.
        received: u64,
    },
}

/// What a client asks for once joined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Leave the channel; the session ends.
    Leave,
    /// Become host or audience.
    SetRole(Role),
    /// Send a data message to everyone who hears the sender, or only to `to` when not empty.
    Data {
        /// Recipients; empty means everyone.
        to: Vec<UserId>,
        /// At most [`MAX_DATA`] bytes.
        payload: Vec<u8>,
    },
    /// A moderator action.
    Moderate(Action),
    /// Replace the token on a live session (same channel and user).
    RenewToken(String),
    /// Choose what to receive from `user`; by default the audio and the high video layer of
    /// every track. With `track` the choice is for that track only (its kind picks whether
    /// `audio` or `video` applies) and outlives the participant-wide choice; without it, it
    /// replaces every earlier choice for `user`.
    Subscribe {
        /// The publisher.
        user: UserId,
        /// One of its tracks (which must be published), or all of them.
        track: Option<TrackId>,
        /// Receive audio.
        audio: bool,
        /// Receive this video layer, or none.
        video: Option<Layer>,
    },
    /// Announce a track before sending its media (or change a published one, e.g. to add a
    /// low layer). Hosts only, within the token's grants and the per-kind caps
    /// ([`ErrorCode::TooManyTracks`]).
    Publish(Track),
    /// Stop a track; its media is refused from now on.
    Unpublish(TrackId),
    /// Ask a publisher for a keyframe (e.g. after decode errors); throttled by the server.
    RequestKeyframe {
        /// The publisher's media id, as carried by its media.
        media_id: u64,
        /// Its track.
        track: TrackId,
        /// The layer.
        layer: Layer,
    },
    /// Raise (`true`) or lower (`false`) this client's hand, asking the moderators to invite
    /// it on stage. Only the audience may raise a hand (a host is refused with
    /// [`ErrorCode::NotPermitted`]); lowering is always allowed. Each request counts as a
    /// zero-byte message against the sender's data message rate limit
    /// ([`ErrorCode::RateLimited`] beyond it), so toggling cannot flood the channel.
    RaiseHand(bool),
    /// Start, change or stop a CDN push of the channel (moderators and holders of the `push`
    /// grant). Each URL's progress comes back as [`Event::Push`].
    Push(Box<crate::push::Request>),
    /// Start, change or stop an inject: a stream or file the server publishes into the
    /// channel as `inject-<name>` (moderators). Its state comes back as [`Event::Inject`].
    Inject(Box<crate::inject::Request>),
    /// Start, change, pause, resume or stop relaying this host's own tracks into other
    /// channels (hosts whose token grants `relay`). Each destination's state comes back as
    /// [`Event::Relay`].
    Relay(Box<crate::relay::Request>),
}

/// Moderator actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Make a user a host (its token must grant publishing).
    Promote(UserId),
    /// Move a host to the audience.
    Demote(UserId),
    /// Mute or unmute a user's audio and/or video; `None` leaves that part as it is.
    Mute {
        /// Who.
        user: UserId,
        /// Audio muted.
        audio: Option<bool>,
        /// Video muted.
        video: Option<bool>,
    },
    /// Mute or unmute one track of a user (e.g. stop a screen share); everyone who sees the
    /// user is told through [`Event::TrackPublished`].
    MuteTrack {
        /// Who.
        user: UserId,
        /// Which of its tracks.
        track: TrackId,
        /// Muted now.
        muted: bool,
    },
    /// Remove a user from the channel and keep it out: it is refused at join (with
    /// [`ErrorCode::Kicked`]) until `until`, seconds since the Unix epoch, or by default
    /// until its token expires.
    Kick {
        /// Who.
        user: UserId,
        /// When the ban ends; `None` is the kicked token's expiry.
        until: Option<u64>,
    },
    /// Lift a ban before it ends.
    Unban(UserId),
    /// Set whose media and data `listener` receives; `None` means everyone.
    SetHearing {
        /// Who listens.
        listener: UserId,
        /// Whom it hears.
        hears: Option<Vec<UserId>>,
    },
}

/// Why a participant left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// It asked to.
    Left,
    /// It lost its connection and did not come back in time.
    Offline,
    /// A moderator removed it.
    Kicked,
    /// It joined again from elsewhere.
    Replaced,
    /// Its token expired.
    Expired,
    /// The server dropped it for breaking the protocol or not keeping up.
    Dropped,
}

/// What the server tells a client about its channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// Someone joined.
    PeerJoined(Participant),
    /// Someone left.
    PeerLeft {
        /// Who.
        user: UserId,
        /// Why.
        reason: LeaveReason,
    },
    /// Someone's role, or the client's own, changed.
    RoleChanged {
        /// The participant with its new role.
        participant: Participant,
        /// Who changed it (the user itself or a moderator).
        by: UserId,
    },
    /// How many of the channel's members are audience, sent to hosts when it changed (at
    /// most once a second). The audience is counted, not listed: a host sees the hosts and the
    /// audience members who raised a hand.
    Audience {
        /// Audience members now.
        count: u32,
    },
    /// A moderator muted or unmuted someone.
    MuteChanged {
        /// Who.
        user: UserId,
        /// Audio muted now.
        audio: bool,
        /// Video muted now.
        video: bool,
    },
    /// Someone raised or lowered their hand (or this client did). Sent to the user itself
    /// and to the hosts, who see an audience member exactly while its hand is raised;
    /// nothing is sent when the state did not change. Going on stage lowers a hand without
    /// this event: the [`Event::RoleChanged`] participant carries `hand_raised: false`.
    HandChanged {
        /// Who, with `hand_raised` as it is now.
        participant: Participant,
    },
    /// Someone published a track, or a published track changed (a moderator muted it, its
    /// publisher added a low layer). Sent to everyone who sees the publisher.
    TrackPublished {
        /// The publisher.
        user: UserId,
        /// The track as it is now.
        track: Track,
    },
    /// Someone stopped a track (it asked to, or stepped off the stage).
    TrackUnpublished {
        /// The publisher.
        user: UserId,
        /// The track's id.
        track: TrackId,
    },
    /// This client's hearing set changed.
    HearingChanged {
        /// Whom it hears; `None` is everyone.
        hears: Option<Vec<UserId>>,
    },
    /// A data message.
    Data {
        /// The sender, stamped by the server.
        from: UserId,
        /// The sender's data sequence number, counted by the server from 1.
        seq: u64,
        /// Whether it was sent to chosen recipients only.
        private: bool,
        /// The payload.
        payload: Vec<u8>,
    },
    /// A request of this client was refused.
    Refused {
        /// The request's sequence number.
        request: u64,
        /// Why.
        error: Error,
    },
    /// The token expires soon; renew it.
    TokenExpiring {
        /// Seconds left.
        remaining_secs: u64,
    },
    /// The server moved this client to another video layer of a publisher (e.g. the low layer
    /// because the high one did not fit its path).
    LayerChanged {
        /// The publisher's media id.
        media_id: u64,
        /// Its track.
        track: TrackId,
        /// The layer now received.
        layer: Layer,
    },
    /// Subscribers need a keyframe of this layer of your video track.
    KeyframeRequest {
        /// The track.
        track: TrackId,
        /// The layer.
        layer: Layer,
    },
    /// A new token was accepted.
    TokenRenewed {
        /// New expiry, seconds since the Unix epoch.
        expires: u64,
    },
    /// A URL of a CDN push changed state. Sent to the user who started the push and to the
    /// channel's moderators.
    Push {
        /// The push.
        name: String,
        /// The URL, as given.
        url: String,
        /// Its state now.
        state: crate::push::UrlState,
    },
    /// An inject changed state. Sent to the user who started it and to the channel's
    /// moderators.
    Inject {
        /// The inject.
        name: String,
        /// Its state now.
        state: crate::push::UrlState,
    },
    /// A destination of this host's relay changed state. Sent to the relaying host only.
    Relay {
        /// The destination.
        to: crate::relay::Target,
        /// Its state now.
        state: crate::relay::State,
    },
}

/// Frames from client to server after the `Hello`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientFrame {
    /// A request with its sequence number (from 1, no gaps).
    Request {
        /// Sequence number.
        seq: u64,
        /// The request.
        request: Request,
    },
    /// All events up to and including `upto` were received.
    Ack {
        /// Highest event sequence number processed.
        upto: u64,
    },
    /// The client's uplink as its QUIC connection measures it (the share of its packets the
    /// server did not acknowledge), about once a second. Not sequenced: a lost or late one is
    /// simply replaced by the next; the server keeps at most one a [`LINK_REPORT_MS`].
    Link {
        /// Percent, 0 to 100.
        uplink_loss_percent: u8,
    },
}

/// Least time between two [`ClientFrame::Link`] reports the server takes from a connection
/// (more are ignored), and how often it sends [`ServerFrame::Links`].
pub const LINK_REPORT_MS: u64 = 1_000;

/// Most entries in one [`ServerFrame::Links`]: the receiver itself and the first hosts.
pub const MAX_LINKS: usize = 32;

/// One member's path to the server, as the server knows it: round trip and downlink loss
/// from its own QUIC connection to the member, uplink loss as the member reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerLink {
    /// The member.
    pub user: UserId,
    /// Smoothed round trip, milliseconds.
    pub rtt_ms: u32,
    /// Packets from the member that did not reach the server, percent (its own measure).
    pub uplink_loss_percent: u8,
    /// Packets from the server that did not reach the member, percent.
    pub downlink_loss_percent: u8,
}

/// The session state the server sends on join and on resume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The session, for resuming.
    pub session: SessionId,
    /// The resume secret.
    pub key: u64,
    /// The channel.
    pub channel: String,
    /// The channel's profile.
    pub profile: Profile,
    /// This client as others see it.
    pub you: Participant,
    /// The first page of the participants this client may see (hosts see the hosts and the
    /// raised hands, the audience sees the hosts); further pages follow at once as
    /// [`ServerFrame::Roster`].
    pub roster: RosterPage,
    /// How many members are audience.
    pub audience: u32,
    /// The highest request sequence number the server has applied.
    pub received: u64,
    /// Token expiry, seconds since the Unix epoch.
    pub token_expires: u64,
    /// Data limits the server enforces, so the client can pace itself.
    pub limits: DataLimits,
    /// Seconds a lost session is kept for resuming.
    pub resume_secs: u64,
}

/// Part of a roster. A roster larger than [`ROSTER_PAGE`] participants is split into pages
/// sent back to back; the client replaces what it knew once the last page (`more: false`) is
/// in, so no frame grows with the channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterPage {
    /// This page starts a roster that replaces the one the client knew.
    pub start: bool,
    /// At most [`ROSTER_PAGE`] participants.
    pub peers: Vec<Participant>,
    /// More pages follow.
    pub more: bool,
}

/// Data message limits per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataLimits {
    /// Largest payload in bytes.
    pub max_payload: u32,
    /// Messages per second.
    pub messages_per_sec: u32,
    /// Payload bytes per second.
    pub bytes_per_sec: u32,
}

impl Default for DataLimits {
    fn default() -> Self {
        Self {
            max_payload: MAX_DATA as u32,
            messages_per_sec: 60,
            bytes_per_sec: 30 * 1024,
        }
    }
}

/// Frames from server to client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// The session is live (answer to a `Hello`).
    Welcome(Box<Welcome>),
    /// An event with its sequence number (from 1, no gaps, per session).
    Event {
        /// Sequence number.
        seq: u64,
        /// The event.
        event: Event,
    },
    /// All requests up to and including `upto` were applied.
    Ack {
        /// Highest request sequence number applied.
        upto: u64,
    },
    /// A page of the roster: one that continues the `Welcome`'s, or (with `start`) a new
    /// roster after this client's role changed. Not sequenced: a resumed session gets a fresh
    /// roster with its `Welcome`.
    Roster(RosterPage),
    /// The session is over (or was never started); the connection closes after this.
    Goodbye(Error),
    /// Each second: the receiver's own path (first) and the paths of the hosts it sees, at
    /// most [`MAX_LINKS`]. Not sequenced: each replaces the last. (Last, so that `Goodbye`
    /// keeps its place and a client of an older version still reads why it was refused.)
    Links(Vec<PeerLink>),
}

/// Encodes a message as one frame: length prefix and body.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serializing these plain enums into a Vec cannot fail.
    let body = postcard::to_stdvec(msg).expect("postcard serializes owned plain data infallibly");
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Reads a frame's length prefix and checks it against [`MAX_FRAME`].
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, Error> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(Error::new(
            ErrorCode::ProtocolError,
            format!("control frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"),
        ));
    }
    Ok(len)
}

/// Decodes a frame body; trailing bytes are an error.
pub fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Error> {
    let (msg, rest) = postcard::take_from_bytes(body).map_err(|e| {
        Error::new(
            ErrorCode::ProtocolError,
            format!("malformed control frame: {e}"),
        )
    })?;
    if !rest.is_empty() {
        return Err(Error::new(
            ErrorCode::ProtocolError,
            format!("malformed control frame: {} trailing bytes", rest.len()),
        ));
    }
    Ok(msg)
}
