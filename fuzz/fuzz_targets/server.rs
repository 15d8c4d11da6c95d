//! The server core as a state machine: arbitrary sequences of what connections can do — join
//! with a valid (or wrong) token, resume, mostly well-formed requests and acks, raw garbage,
//! closing, media routing, congestion — from up to eight connections (plus, with the `crowd`
//! feature, a thousand viewers) on virtual time. After every step:
//! - nothing panicked;
//! - no channel has more than `host_cap` hosts;
//! - `route()` is `Ok` only for a connection whose session is a host, and never sends a
//!   publisher's media back to itself;
//! - every frame the server sends encodes to at most `MAX_FRAME` bytes plus its prefix;
//! - there are never more sessions than connections made.
//!
//! `max_backlog` is 4, so sessions that do not acknowledge are dropped as too slow while
//! other changes are under way.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use livestage_proto::id::SessionId;
use livestage_proto::media::{Kind, Layer};
use livestage_proto::server::{Config, ConnId, Input, Output, Server};
use livestage_proto::token::{self, Claims, Grant, Grants};
use livestage_proto::wire::{self, Action, ClientFrame, Hello, Intent, Request, Role, ServerFrame};
use livestage_proto::{Error, ErrorCode};

const SECRET: &[u8] = b"fuzz-secret";
const OTHER_SECRET: &[u8] = b"not-the-secret";
/// Virtual time starts here (ms since the Unix epoch); every token is minted for it.
const T0_MS: u64 = 1_800_000_000_000;
const SLOTS: usize = 8;
const USERS: [&str; 6] = ["ann", "bob", "cat", "dan", "eve", "mod"];
const CHANNELS: [&str; 2] = ["c0", "c1"];
const HOST_CAP: usize = 2;
const MAX_BACKLOG: usize = 4;
/// Most viewers all `Crowd` steps join: with 64-byte user ids, a roster of them is larger
/// than one control frame.
#[cfg(feature = "crowd")]
const CROWD_MAX: usize = 1000;
const MAX_OPS: usize = 200;

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum GrantSet {
    Audience,
    Host,
    Moderator,
    ModeratorOnly,
    NoJoin,
}

impl GrantSet {
    const ALL: [GrantSet; 5] = [
        GrantSet::Audience,
        GrantSet::Host,
        GrantSet::Moderator,
        GrantSet::ModeratorOnly,
        GrantSet::NoJoin,
    ];

    fn grants(self) -> Grants {
        let list: &[Grant] = match self {
            GrantSet::Audience => &[Grant::Join],
            GrantSet::Host => &[
                Grant::Join,
                Grant::PublishAudio,
                Grant::PublishVideo,
                Grant::PublishData,
            ],
            GrantSet::Moderator => &Grant::ALL,
            GrantSet::ModeratorOnly => &[Grant::Join, Grant::Moderator],
            GrantSet::NoJoin => &[Grant::PublishAudio, Grant::PublishVideo],
        };
        list.iter().copied().collect()
    }
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Ttl {
    /// Expires within the run (30 s), after its warning.
    Short,
    /// An hour.
    Long,
    /// Expired before the run began.
    Expired,
}

impl Ttl {
    const ALL: [Ttl; 3] = [Ttl::Short, Ttl::Long, Ttl::Expired];
}

#[derive(Arbitrary, Debug)]
enum TokenKind {
    Valid,
    /// Minted for the other channel.
    OtherChannel,
    /// Signed with another secret.
    OtherSecret,
    Garbage(String),
}

#[derive(Arbitrary, Debug)]
struct TokenSpec {
    user: u8,
    grants: GrantSet,
    ttl: Ttl,
}

/// Which request sequence number to use.
#[derive(Arbitrary, Debug)]
enum Seq {
    Next,
    /// The last one again (a resend after a resume).
    Again,
    Any(u64),
}

/// Which event to acknowledge.
#[derive(Arbitrary, Debug)]
enum Upto {
    Last,
    Behind(u8),
    Any(u64),
}

/// A user named in a request.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Who {
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
    fn id(self) -> String {
        match self {
            Who::Known(i) => USERS[usize::from(i) % USERS.len()].to_owned(),
            Who::Ghost => "ghost".into(),
            Who::Crowd => crowd_user(0),
            Who::Long { letter, len } => long(letter, len),
        }
    }
}

/// `len` times one ASCII letter.
fn long(letter: u8, len: u16) -> String {
    char::from(b'a' + letter % 26)
        .to_string()
        .repeat(usize::from(len))
}

/// The channel a Hello names.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Named {
    /// One of [`CHANNELS`].
    Known(u8),
    /// A name the server must refuse.
    Long { letter: u8, len: u16 },
}

#[derive(Arbitrary, Debug)]
enum Req {
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
        audio: bool,
        video: Option<bool>,
    },
    ReportLoss {
        media_id: u8,
        percent: u8,
    },
    RequestKeyframe {
        media_id: u8,
        low: bool,
    },
    RaiseHand(bool),
}

fn layer(low: bool) -> Layer {
    if low { Layer::Low } else { Layer::High }
}

impl Req {
    fn request(self, channel: usize) -> Request {
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
            Req::Subscribe { user, audio, video } => Request::Subscribe {
                user: user.id(),
                audio,
                video: video.map(layer),
            },
            Req::ReportLoss { media_id, percent } => Request::ReportLoss {
                media_id: u64::from(media_id % 16),
                percent,
            },
            Req::RequestKeyframe { media_id, low } => Request::RequestKeyframe {
                media_id: u64::from(media_id % 16),
                layer: layer(low),
            },
            Req::RaiseHand(raised) => Request::RaiseHand(raised),
        }
    }
}

/// When a ban ends.
#[derive(Arbitrary, Debug)]
enum Until {
    /// Seconds after the run's start (virtual time).
    In(u16),
    /// Any time at all.
    At(u64),
}

#[derive(Arbitrary, Debug)]
enum MediaKind {
    Audio,
    High,
    Low,
}

#[derive(Arbitrary, Debug)]
enum Op {
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
    /// Media from the slot's connection; optionally, its first subscriber is congested.
    Media {
        slot: u8,
        kind: MediaKind,
        congest: bool,
    },
    Congested {
        slot: u8,
        media_id: u8,
        low: bool,
    },
    RequestKeyframe {
        media_id: u8,
        low: bool,
    },
    /// Four times `count` viewers with 64-byte user ids join channel c0 on their own
    /// connections and never acknowledge anything (a thousand at most in all: the roster of a
    /// host then needs more than one control frame). Only with the `crowd` feature: every join scans the whole
    /// channel, so crowds slow the target about fiftyfold.
    #[cfg(feature = "crowd")]
    Crowd {
        count: u8,
    },
}

/// Every token the target uses, minted once per process.
struct Tokens {
    table: HashMap<(usize, usize, usize, usize, bool), String>,
}

impl Tokens {
    fn get(&self, spec: &TokenSpec, channel: usize, other_secret: bool) -> String {
        let user = usize::from(spec.user) % USERS.len();
        let grants = GrantSet::ALL
            .iter()
            .position(|g| *g == spec.grants)
            .unwrap_or(0);
        let ttl = Ttl::ALL.iter().position(|t| *t == spec.ttl).unwrap_or(0);
        self.table[&(user, channel % CHANNELS.len(), grants, ttl, other_secret)].clone()
    }
}

fn crowd_user(i: usize) -> String {
    format!("crowd-{i:04}-{}", "x".repeat(64 - 11))
}

fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        let now = T0_MS / 1000;
        let mut table = HashMap::new();
        for (u, user) in USERS.iter().enumerate() {
            for (c, channel) in CHANNELS.iter().enumerate() {
                for (g, set) in GrantSet::ALL.iter().enumerate() {
                    for (t, ttl) in Ttl::ALL.iter().enumerate() {
                        let (iat, secs) = match ttl {
                            Ttl::Short => (now, 30),
                            Ttl::Long => (now, 3600),
                            Ttl::Expired => (now - 100, 10),
                        };
                        let claims =
                            Claims::new("livestage", channel, user, set.grants(), iat, secs);
                        for other in [false, true] {
                            let secret = if other { OTHER_SECRET } else { SECRET };
                            let jwt = token::mint(&claims, secret).expect("claims serialize");
                            table.insert((u, c, g, t, other), jwt);
                        }
                    }
                }
            }
        }
        Tokens { table }
    })
}

/// The crowd's tokens, minted once per process.
#[cfg(feature = "crowd")]
fn crowd_tokens() -> &'static [String] {
    static TOKENS: OnceLock<Vec<String>> = OnceLock::new();
    TOKENS.get_or_init(|| {
        (0..CROWD_MAX)
            .map(|i| {
                let claims = Claims::new(
                    "livestage",
                    CHANNELS[0],
                    &crowd_user(i),
                    GrantSet::Audience.grants(),
                    T0_MS / 1000,
                    3600,
                );
                token::mint(&claims, SECRET).expect("claims serialize")
            })
            .collect()
    })
}

/// What the harness knows of a session from the frames the server sent.
struct Known {
    key: u64,
    user: String,
    channel: String,
    next_request: u64,
    last_event: u64,
}

struct Slot {
    conn: ConnId,
    /// The session welcomed on `conn`, if any.
    session: Option<SessionId>,
    /// The channel index last asked for (for renewals).
    channel: usize,
}

struct Harness {
    server: Server,
    now: u64,
    next_conn: u64,
    /// Connections that sent a frame; sessions never outnumber them.
    conns_made: HashSet<ConnId>,
    slots: Vec<Slot>,
    known: HashMap<SessionId, Known>,
    /// Sessions in the order they were first welcomed, for `Resume`.
    seen: Vec<SessionId>,
    #[cfg(feature = "crowd")]
    crowd_joined: usize,
}

impl Harness {
    fn new() -> Self {
        let config = Config {
            secret: SECRET.to_vec(),
            host_cap: HOST_CAP,
            max_backlog: MAX_BACKLOG,
            ..Config::default()
        };
        let mut h = Self {
            server: Server::new(config),
            now: T0_MS,
            next_conn: 1,
            conns_made: HashSet::new(),
            slots: Vec::new(),
            known: HashMap::new(),
            seen: Vec::new(),
            #[cfg(feature = "crowd")]
            crowd_joined: 0,
        };
        for _ in 0..SLOTS {
            let conn = h.fresh_conn();
            h.slots.push(Slot {
                conn,
                session: None,
                channel: 0,
            });
        }
        h
    }

    fn fresh_conn(&mut self) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        conn
    }

    fn slot(&self, i: u8) -> usize {
        usize::from(i) % SLOTS
    }

    /// Gives a slot a new connection; the old one is closed if `close_old`.
    fn reconnect(&mut self, slot: usize, close_old: bool) {
        let old = self.slots[slot].conn;
        self.slots[slot].conn = self.fresh_conn();
        self.slots[slot].session = None;
        if close_old {
            self.input(old, Input::Closed);
        }
    }

    fn input(&mut self, conn: ConnId, input: Input) {
        if matches!(input, Input::Frame(_)) {
            self.conns_made.insert(conn);
        }
        // The transport delivers no body over the limit; it reports the frame as malformed.
        let input = match input {
            Input::Frame(body) if body.len() > wire::MAX_FRAME => {
                let len = (body.len() as u32).to_be_bytes();
                Input::Malformed(wire::frame_len(len).expect_err("a frame over the limit"))
            }
            other => other,
        };
        self.server.handle_input(conn, input, self.now);
        self.drain();
    }

    fn frame<T: serde::Serialize>(&mut self, slot: usize, msg: &T) {
        let body = wire::encode(msg)[4..].to_vec();
        self.input(self.slots[slot].conn, Input::Frame(body));
    }

    /// Takes every output, checks frame sizes, learns sessions and events, and closes what the
    /// server closed (the glue reports `Closed` for such a connection once it is gone).
    fn drain(&mut self) {
        let mut closed = Vec::new();
        while let Some(output) = self.server.poll_output() {
            match output {
                Output::Send { conn, frame } => {
                    let len = wire::encode(&frame).len();
                    assert!(
                        len <= wire::MAX_FRAME + 4,
                        "a {len}-byte frame exceeds the control frame limit: {}",
                        describe(&frame)
                    );
                    self.learn(conn, frame);
                }
                Output::Close { conn } => closed.push(conn),
            }
        }
        for conn in closed {
            if let Some(i) = self.slots.iter().position(|s| s.conn == conn) {
                self.reconnect(i, false);
            }
            self.server.handle_input(conn, Input::Closed, self.now);
            self.drain();
        }
    }

    fn learn(&mut self, conn: ConnId, frame: ServerFrame) {
        let Some(slot) = self.slots.iter_mut().find(|s| s.conn == conn) else {
            return; // A crowd viewer's.
        };
        match frame {
            ServerFrame::Welcome(w) => {
                slot.session = Some(w.session);
                let k = self.known.entry(w.session).or_insert_with(|| Known {
                    key: w.key,
                    user: w.you.user.clone(),
                    channel: w.channel.clone(),
                    next_request: 1,
                    last_event: 0,
                });
                k.next_request = w.received + 1;
                if !self.seen.contains(&w.session) {
                    self.seen.push(w.session);
                }
            }
            ServerFrame::Event { seq, .. } => {
                if let Some(k) = slot.session.and_then(|s| self.known.get_mut(&s)) {
                    k.last_event = k.last_event.max(seq);
                }
            }
            ServerFrame::Ack { .. } | ServerFrame::Roster(_) | ServerFrame::Goodbye(_) => {}
        }
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Join {
                slot,
                channel,
                token,
                kind,
                host,
                same_connection,
            } => {
                let i = self.slot(slot);
                if self.slots[i].session.is_some() && !same_connection {
                    self.reconnect(i, true);
                }
                let (channel, name) = match channel {
                    Named::Known(c) => {
                        let c = usize::from(c) % CHANNELS.len();
                        (c, CHANNELS[c].to_owned())
                    }
                    Named::Long { letter, len } => (0, long(letter, len)),
                };
                self.slots[i].channel = channel;
                let jwt = match kind {
                    TokenKind::Valid => tokens().get(&token, channel, false),
                    TokenKind::OtherChannel => tokens().get(&token, channel + 1, false),
                    TokenKind::OtherSecret => tokens().get(&token, channel, true),
                    TokenKind::Garbage(s) => s,
                };
                let hello = Hello {
                    version: wire::VERSION,
                    intent: Intent::Join {
                        channel: name,
                        token: jwt,
                        role: if host { Role::Host } else { Role::Audience },
                    },
                };
                self.frame(i, &hello);
            }
            Op::Resume {
                slot,
                session,
                right_key,
                received,
            } => {
                let i = self.slot(slot);
                let Some(&sid) = self.seen.get(usize::from(session) % self.seen.len().max(1))
                else {
                    return;
                };
                self.reconnect(i, false);
                let k = &self.known[&sid];
                let received = match received {
                    Upto::Last => k.last_event,
                    Upto::Behind(n) => k.last_event.saturating_sub(u64::from(n)),
                    Upto::Any(n) => n,
                };
                let hello = Hello {
                    version: wire::VERSION,
                    intent: Intent::Resume {
                        session: sid,
                        key: if right_key { k.key } else { k.key ^ 1 },
                        received,
                    },
                };
                self.frame(i, &hello);
            }
            Op::Request { slot, seq, request } => {
                let i = self.slot(slot);
                let known = self.slots[i].session.and_then(|s| self.known.get_mut(&s));
                let next = known.as_ref().map_or(1, |k| k.next_request);
                let seq = match seq {
                    Seq::Next => next,
                    Seq::Again => next.saturating_sub(1),
                    Seq::Any(n) => n,
                };
                if let Some(k) = known
                    && seq == k.next_request
                {
                    k.next_request += 1;
                }
                let request = request.request(self.slots[i].channel);
                self.frame(i, &ClientFrame::Request { seq, request });
            }
            Op::Ack { slot, upto } => {
                let i = self.slot(slot);
                let last = self.slots[i]
                    .session
                    .and_then(|s| self.known.get(&s))
                    .map_or(0, |k| k.last_event);
                let upto = match upto {
                    Upto::Last => last,
                    Upto::Behind(n) => last.saturating_sub(u64::from(n)),
                    Upto::Any(n) => n,
                };
                self.frame(i, &ClientFrame::Ack { upto });
            }
            Op::Raw { slot, bytes } => {
                let i = self.slot(slot);
                self.input(self.slots[i].conn, Input::Frame(bytes));
            }
            Op::Malformed { slot } => {
                let i = self.slot(slot);
                let error = Error::new(ErrorCode::ProtocolError, "frame over the limit");
                self.input(self.slots[i].conn, Input::Malformed(error));
            }
            Op::Close { slot } => {
                let i = self.slot(slot);
                self.reconnect(i, true);
            }
            Op::Advance { ms } => {
                self.now += u64::from(ms);
                self.server.handle_timeout(self.now);
                self.drain();
            }
            Op::Media {
                slot,
                kind,
                congest,
            } => {
                let i = self.slot(slot);
                let kind = match kind {
                    MediaKind::Audio => Kind::Audio,
                    MediaKind::High => Kind::Video(Layer::High),
                    MediaKind::Low => Kind::Video(Layer::Low),
                };
                self.media(i, kind, congest);
            }
            Op::Congested {
                slot,
                media_id,
                low,
            } => {
                let conn = self.slots[self.slot(slot)].conn;
                let media_id = u64::from(media_id % 16);
                self.server.congested(conn, media_id, layer(low), self.now);
                self.drain();
            }
            Op::RequestKeyframe { media_id, low } => {
                let media_id = u64::from(media_id % 16);
                self.server.request_keyframe(media_id, layer(low), self.now);
                self.drain();
            }
            #[cfg(feature = "crowd")]
            Op::Crowd { count } => {
                let count = usize::from(count) * 4;
                let end = (self.crowd_joined + count).min(CROWD_MAX);
                for n in self.crowd_joined..end {
                    let conn = self.fresh_conn();
                    let hello = Hello {
                        version: wire::VERSION,
                        intent: Intent::Join {
                            channel: CHANNELS[0].into(),
                            token: crowd_tokens()[n].clone(),
                            role: Role::Audience,
                        },
                    };
                    self.input(conn, Input::Frame(wire::encode(&hello)[4..].to_vec()));
                }
                self.crowd_joined = end;
            }
        }
    }

    /// Routes media from a slot's connection and checks who may send and where it goes.
    fn media(&mut self, i: usize, kind: Kind, congest: bool) {
        let conn = self.slots[i].conn;
        let route = self.server.route(conn, kind, self.now);
        self.drain();
        let Ok(route) = route else {
            return;
        };
        let session = self.slots[i]
            .session
            .and_then(|s| self.known.get(&s).map(|k| (s, k)));
        let role = session.and_then(|(sid, k)| {
            self.server
                .participants(&k.channel)
                .into_iter()
                .find(|p| p.media_id == sid.0 && p.user == k.user)
                .map(|p| p.role)
        });
        assert_eq!(
            role,
            Some(Role::Host),
            "route() is Ok for {conn:?}, whose session is not a host"
        );
        assert!(!route.to.contains(&conn), "media routed back to its sender");
        if congest && let Some(&to) = route.to.first() {
            let layer = match kind {
                Kind::Video(l) => l,
                Kind::Audio => Layer::High,
            };
            self.server.congested(to, route.media_id, layer, self.now);
            self.drain();
        }
    }

    fn check(&self) {
        for channel in CHANNELS {
            let participants = self.server.participants(channel);
            let hosts = participants.iter().filter(|p| p.role == Role::Host).count();
            assert!(hosts <= HOST_CAP, "{channel} has {hosts} hosts");
        }
        // Memory is bounded by what the clients did: no more sessions or connections than
        // were made, and no session holds more unacknowledged events than `max_backlog`.
        let sessions = self.server.session_count();
        assert!(
            sessions <= self.conns_made.len(),
            "{sessions} sessions from {} connections",
            self.conns_made.len()
        );
        assert!(
            self.server.connection_count() <= self.conns_made.len(),
            "{} connections tracked from {} made",
            self.server.connection_count(),
            self.conns_made.len()
        );
        let backlog = self.server.backlog_len();
        assert!(
            backlog <= sessions * MAX_BACKLOG,
            "{backlog} events held for {sessions} sessions"
        );
    }
}

/// A frame, briefly (a roster of a thousand is too long to print).
fn describe(frame: &ServerFrame) -> String {
    match frame {
        ServerFrame::Welcome(w) => format!("Welcome with {} peers", w.roster.peers.len()),
        ServerFrame::Roster(page) => format!("Roster page of {}", page.peers.len()),
        other => format!("{other:?}").chars().take(200).collect(),
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut h = Harness::new();
    for op in ops.into_iter().take(MAX_OPS) {
        h.step(op);
        h.check();
    }
});
