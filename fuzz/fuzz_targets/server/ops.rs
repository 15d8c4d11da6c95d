//! What the `server` target's inputs are made of: the steps ([`Op`]), the requests a session
//! sends ([`Req`]) and how they become wire values. The harness in `server.rs` plays them.

use arbitrary::Arbitrary;
use livestage_proto::media::{Kind, Layer};
use livestage_proto::track::{self, Source, Track, TrackId};
use livestage_proto::wire::{self, Action, Request, Role};

use crate::T0_MS;
use crate::USERS;
use crate::tokens::{GrantSet, TokenSpec, crowd_user, tokens};

/// One step of a run.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// A Hello with a join on the slot's connection (a fresh one if it already joined, unless
    /// `same_connection`: then the Hello arrives on a live session).
    Join {
        slot: u8,
        channel: Named,
        token: TokenSpec,
        kind: TokenKind,
        host: bool,
        same_connection: bool,
    },
    /// A Hello resuming a session seen earlier, on a fresh connection.
    Resume {
        slot: u8,
        session: u8,
        right_key: bool,
        received: Upto,
    },
    Request {
        slot: u8,
        seq: Seq,
        request: Req,
    },
    Ack {
        slot: u8,
        upto: Upto,
    },
    /// An uplink report, and the glue's measure of the same connection's path.
    Link {
        slot: u8,
        uplink_loss_percent: u8,
        rtt_ms: u32,
        downlink_loss_percent: u8,
    },
    /// A frame body of arbitrary bytes.
    Raw {
        slot: u8,
        bytes: Vec<u8>,
    },
    /// A frame the transport refused (e.g. its length prefix was over the limit).
    Malformed {
        slot: u8,
    },
    Close {
        slot: u8,
    },
    Advance {
        ms: u16,
    },
    /// A shortcut to a host with media: a join as host with a valid token of an hour, then
    /// `Publish` of a camera (track 0) and a microphone (track 1) with the next sequence
    /// numbers.
    GoLive {
        slot: u8,
        user: u8,
        channel: u8,
        grants: GrantSet,
    },
    /// Media on a track from the slot's connection; optionally, its first subscriber is
    /// congested.
    Media {
        slot: u8,
        track: Tid,
        kind: MediaKind,
        congest: bool,
    },
    Congested {
        slot: u8,
        media_id: u8,
        track: Tid,
        low: bool,
    },
    RequestKeyframe {
        media_id: u8,
        track: Tid,
        low: bool,
    },
    /// Four times `count` viewers with 64-byte user ids join channel c0 on their own
    /// connections and never acknowledge anything (a thousand at most in all: the roster of a
    /// host then needs more than one control frame). Only with the `crowd` feature: every
    /// join scans the whole channel, so crowds slow the target about fiftyfold.
    #[cfg(feature = "crowd")]
    Crowd {
        count: u8,
    },
}

/// What a Hello's token is.
#[derive(Arbitrary, Debug)]
pub enum TokenKind {
    Valid,
    /// Minted for the other channel.
    OtherChannel,
    /// Signed with another secret.
    OtherSecret,
    Garbage(String),
}

/// Which request sequence number to use.
#[derive(Arbitrary, Debug)]
pub enum Seq {
    Next,
    /// The last one again (a resend after a resume).
    Again,
    Any(u64),
}

/// Which event to acknowledge.
#[derive(Arbitrary, Debug)]
pub enum Upto {
    Last,
    Behind(u8),
    Any(u64),
}

/// A user named in a request.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Who {
    /// One of [`USERS`].
    Known(u8),
    /// Someone never seen.
    Ghost,
    /// The first viewer of a crowd.
    Crowd,
    /// A name no token can carry: one letter, up to 65,535 times.
    Long { letter: u8, len: u16 },
}

impl Who {
    pub fn id(self) -> String {
        match self {
            Who::Known(i) => USERS[usize::from(i) % USERS.len()].to_owned(),
            Who::Ghost => "ghost".into(),
            Who::Crowd => crowd_user(0),
            Who::Long { letter, len } => long(letter, len),
        }
    }
}

/// `len` times one ASCII letter.
pub fn long(letter: u8, len: u16) -> String {
    char::from(b'a' + letter % 26)
        .to_string()
        .repeat(usize::from(len))
}

/// The channel a Hello names.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Named {
    /// One of [`CHANNELS`](crate::CHANNELS).
    Known(u8),
    /// A name the server must refuse.
    Long { letter: u8, len: u16 },
}

/// A track id.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Tid {
    /// One of the first four, so publishers and media meet often.
    Few(u8),
    /// Any id below [`track::MAX_ID`].
    Valid(u8),
    /// Any byte: mostly out of range.
    Any(u8),
}

impl Tid {
    pub fn id(self) -> TrackId {
        match self {
            Tid::Few(i) => i % 4,
            Tid::Valid(i) => i % track::MAX_ID,
            Tid::Any(i) => i,
        }
    }
}

/// A track's name.
#[derive(Arbitrary, Debug)]
pub enum Name {
    /// One letter `len` times, from empty to a few bytes over [`track::MAX_NAME`].
    Letters { letter: u8, len: u8 },
    /// Anything, multi-byte characters included.
    Text(String),
}

/// A track a host announces (`muted` is the server's to set; a client may claim it anyway).
#[derive(Arbitrary, Debug)]
pub struct TrackSpec {
    pub id: Tid,
    pub video: bool,
    pub source: u8,
    pub name: Name,
    pub low_layer: bool,
    pub muted: bool,
}

impl TrackSpec {
    pub fn track(self) -> Track {
        let kind = if self.video {
            track::Kind::Video
        } else {
            track::Kind::Audio
        };
        let source = Source::ALL[usize::from(self.source) % Source::ALL.len()];
        let mut t = Track::new(self.id.id(), kind, source);
        t.name = match self.name {
            Name::Letters { letter, len } => {
                long(letter, u16::from(len) % (track::MAX_NAME as u16 + 9))
            }
            Name::Text(s) => s,
        };
        t.low_layer = self.low_layer;
        t.muted = self.muted;
        t
    }
}

/// A request a session sends.
#[derive(Arbitrary, Debug)]
pub enum Req {
    Leave,
    SetRole(bool),
    Data {
        to: Vec<Who>,
        len: u16,
    },
    Promote(Who),
    Demote(Who),
    Mute {
        user: Who,
        audio: Option<bool>,
        video: Option<bool>,
    },
    MuteTrack {
        user: Who,
        track: Tid,
        muted: bool,
    },
    Kick {
        user: Who,
        until: Option<Until>,
    },
    Unban(Who),
    SetHearing {
        listener: Who,
        hears: Option<Vec<Who>>,
    },
    Renew(TokenSpec),
    Subscribe {
        user: Who,
        track: Option<Tid>,
        audio: bool,
        video: Option<bool>,
    },
    Publish(TrackSpec),
    Unpublish(Tid),
    RequestKeyframe {
        media_id: u8,
        track: Tid,
        low: bool,
    },
    RaiseHand(bool),
    /// A CDN push request on one of a few names, with a URL of up to `url_len` bytes.
    Push {
        name: u8,
        op: PushOp,
        url_len: u16,
    },
    /// An inject request on one of a few names (or a long one), with a source of up to
    /// `source_len` bytes and any volume.
    Inject {
        name: u8,
        stop: bool,
        source_len: u16,
        volume: u8,
    },
    /// A relay request naming destination channels by number (here or on another server),
    /// with tokens of up to `token_len` bytes.
    Relay(RelayOp),
}

/// What a relay request does.
#[derive(Arbitrary, Debug)]
pub enum RelayOp {
    Start {
        to: Vec<(u8, bool)>,
        token_len: u16,
    },
    Update {
        add: Vec<(u8, bool)>,
        remove: Vec<(u8, bool)>,
    },
    Pause,
    Resume,
    Stop,
}

/// What a push request does.
#[derive(Arbitrary, Debug)]
pub enum PushOp {
    Start { users: Vec<Who> },
    Update { add: bool },
    Stop,
}

/// When a ban ends.
#[derive(Arbitrary, Debug)]
pub enum Until {
    /// Seconds after the run's start (virtual time).
    In(u16),
    /// Any time at all.
    At(u64),
}

/// Which media a `Media` step sends.
#[derive(Arbitrary, Debug)]
pub enum MediaKind {
    Audio,
    High,
    Low,
}

impl MediaKind {
    pub fn kind(self) -> Kind {
        match self {
            MediaKind::Audio => Kind::Audio,
            MediaKind::High => Kind::Video(Layer::High),
            MediaKind::Low => Kind::Video(Layer::Low),
        }
    }
}

pub fn layer(low: bool) -> Layer {
    if low { Layer::Low } else { Layer::High }
}

/// A media id among the first few sessions'.
pub fn media_id(id: u8) -> u64 {
    u64::from(id % 16)
}

impl Req {
    /// The wire request, for a session whose token names channel index `channel`.
    pub fn request(self, channel: usize) -> Request {
        match self {
            Req::Leave => Request::Leave,
            Req::SetRole(host) => Request::SetRole(if host { Role::Host } else { Role::Audience }),
            Req::Data { to, len } => Request::Data {
                to: to.into_iter().map(Who::id).collect(),
                payload: vec![7; usize::from(len) % (wire::MAX_DATA + 64)],
            },
            Req::Promote(w) => Request::Moderate(Action::Promote(w.id())),
            Req::Demote(w) => Request::Moderate(Action::Demote(w.id())),
            Req::Mute { user, audio, video } => Request::Moderate(Action::Mute {
                user: user.id(),
                audio,
                video,
            }),
            Req::MuteTrack { user, track, muted } => Request::Moderate(Action::MuteTrack {
                user: user.id(),
                track: track.id(),
                muted,
            }),
            Req::Kick { user, until } => Request::Moderate(Action::Kick {
                user: user.id(),
                until: until.map(|u| match u {
                    Until::In(secs) => T0_MS / 1000 + u64::from(secs),
                    Until::At(at) => at,
                }),
            }),
            Req::Unban(w) => Request::Moderate(Action::Unban(w.id())),
            Req::SetHearing { listener, hears } => Request::Moderate(Action::SetHearing {
                listener: listener.id(),
                hears: hears.map(|h| h.into_iter().map(Who::id).collect()),
            }),
            Req::Renew(spec) => Request::RenewToken(tokens().get(&spec, channel, false)),
            Req::Subscribe {
                user,
                track,
                audio,
                video,
            } => Request::Subscribe {
                user: user.id(),
                track: track.map(Tid::id),
                audio,
                video: video.map(layer),
            },
            Req::Publish(spec) => Request::Publish(spec.track()),
            Req::Unpublish(track) => Request::Unpublish(track.id()),
            Req::RequestKeyframe {
                media_id: id,
                track,
                low,
            } => Request::RequestKeyframe {
                media_id: media_id(id),
                track: track.id(),
                layer: layer(low),
            },
            Req::RaiseHand(raised) => Request::RaiseHand(raised),
            Req::Push { name, op, url_len } => {
                use livestage_proto::push;
                let name = format!("p{}", name % 4);
                let url = format!("rtmp://127.0.0.1/live/{}", "k".repeat(usize::from(url_len)));
                Request::Push(Box::new(match op {
                    PushOp::Start { users } => push::Request::Start {
                        name,
                        urls: vec![url],
                        layout: push::Layout {
                            users: users
                                .into_iter()
                                .enumerate()
                                .map(|(i, w)| push::Region {
                                    user: w.id(),
                                    rect: push::Rect {
                                        x: (i as u32 * 16) % 1200,
                                        y: 0,
                                        width: 16,
                                        height: 16,
                                    },
                                    z: 0,
                                    alpha: 255,
                                    fit: push::Fit::Crop,
                                })
                                .collect(),
                            ..push::Layout::default()
                        },
                    },
                    PushOp::Update { add } => push::Request::Update {
                        name,
                        layout: None,
                        add: if add { vec![url] } else { vec![] },
                        remove: vec![],
                    },
                    PushOp::Stop => push::Request::Stop { name },
                }))
            }
            Req::Inject {
                name,
                stop,
                source_len,
                volume,
            } => {
                use livestage_proto::inject;
                // Names near the id limit too: `inject-` makes the participant id longer.
                let name = if name >= 250 {
                    "n".repeat(usize::from(name) - 190)
                } else {
                    format!("i{}", name % 4)
                };
                let source = format!("/srv/{}", "f".repeat(usize::from(source_len)));
                Request::Inject(Box::new(if stop {
                    inject::Request::Stop { name }
                } else {
                    inject::Request::Start {
                        name,
                        source,
                        options: inject::Options {
                            volume,
                            ..inject::Options::default()
                        },
                    }
                }))
            }
            Req::Relay(op) => {
                use livestage_proto::relay;
                // Channel numbers 0..8 name the channels sessions join (so a host may name
                // its own); any other is a long name near the id limit.
                let target = |(n, remote): (u8, bool)| relay::Target {
                    channel: if n < 8 {
                        format!("c{n}")
                    } else {
                        "c".repeat(usize::from(n) / 4)
                    },
                    server: remote.then(|| relay::Remote {
                        addr: std::net::SocketAddr::from(([127, 0, 0, 1], u16::from(n))),
                        pin: [n; 32],
                    }),
                };
                let destination = |to, token_len: u16| relay::Destination {
                    target: target(to),
                    token: "t".repeat(usize::from(token_len % 4096)),
                };
                Request::Relay(Box::new(match op {
                    RelayOp::Start { to, token_len } => relay::Request::Start {
                        destinations: to.into_iter().map(|t| destination(t, token_len)).collect(),
                    },
                    RelayOp::Update { add, remove } => relay::Request::Update {
                        add: add.into_iter().map(|t| destination(t, 16)).collect(),
                        remove: remove.into_iter().map(target).collect(),
                    },
                    RelayOp::Pause => relay::Request::Pause,
                    RelayOp::Resume => relay::Request::Resume,
                    RelayOp::Stop => relay::Request::Stop,
                }))
            }
        }
    }
}
