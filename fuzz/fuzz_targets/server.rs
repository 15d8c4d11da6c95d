//! The server core as a state machine: arbitrary sequences of what connections can do — join
//! with a valid (or wrong) token, resume, mostly well-formed requests and acks (publishing,
//! unpublishing, muting and subscribing to tracks among them), raw garbage, closing, media
//! routing on any track id, congestion, keyframe requests — from up to eight connections
//! (plus, with the `crowd` feature, a thousand viewers) on virtual time. After every step the
//! invariants in `server/invariants.rs` hold, and every frame the server sent encodes to at
//! most `MAX_FRAME` bytes plus its prefix.
//!
//! `max_backlog` is 4, so sessions that do not acknowledge are dropped as too slow while
//! other changes are under way.
//!
//! Modules: `ops` (the input: steps and requests, and how they become wire values), `tokens`
//! (the tokens joins and renewals carry), `invariants` (what is checked after each step).
#![no_main]

#[path = "server/invariants.rs"]
mod invariants;
#[path = "server/ops.rs"]
mod ops;
#[path = "server/tokens.rs"]
mod tokens;

use std::collections::{HashMap, HashSet};

use libfuzzer_sys::fuzz_target;
use livestage_proto::id::SessionId;
use livestage_proto::media::{Kind, Layer};
use livestage_proto::server::{Config, ConnId, Input, Output, Server};
use livestage_proto::track::{self, TrackId};
use livestage_proto::wire::{self, ClientFrame, Event, Hello, Intent, Role, ServerFrame};
use livestage_proto::{Error, ErrorCode};

use ops::{Name, Named, Op, Req, Seq, Tid, TokenKind, TrackSpec, Upto, layer, long, media_id};
use tokens::{GrantSet, TokenSpec, Ttl, tokens};

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

/// What the harness knows of a session from the frames the server sent.
struct Known {
    key: u64,
    user: String,
    channel: String,
    next_request: u64,
    last_event: u64,
    /// The grants of its token, when the harness knows them (it joined with a valid token,
    /// or last renewed with one).
    grants: Option<GrantSet>,
    /// A `TokenRenewed` event arrived since the harness last sent a renewal.
    renewed: bool,
}

struct Slot {
    conn: ConnId,
    /// The session welcomed on `conn`, if any.
    session: Option<SessionId>,
    /// The channel index last asked for (for renewals).
    channel: usize,
    /// The grants of the valid token in the Hello just sent, for the session it opens.
    joining: Option<GrantSet>,
    /// A Welcome arrived in this step: the events that follow may be a resumed backlog,
    /// about a state that has changed since.
    welcomed: bool,
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
    /// (channel, user, track) a moderator ever asked to mute: only those tracks may be muted.
    mutes_asked: HashSet<(String, String, TrackId)>,
    /// Keyframe requests sent to a session in this step, fresh (not a resumed backlog).
    keyframes_asked: Vec<(SessionId, TrackId)>,
    /// Layer changes sent in this step: (publisher's media id, track).
    layers_changed: Vec<(u64, TrackId)>,
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
            mutes_asked: HashSet::new(),
            keyframes_asked: Vec::new(),
            layers_changed: Vec::new(),
            #[cfg(feature = "crowd")]
            crowd_joined: 0,
        };
        for _ in 0..SLOTS {
            let conn = h.fresh_conn();
            h.slots.push(Slot {
                conn,
                session: None,
                channel: 0,
                joining: None,
                welcomed: false,
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
        self.slots[slot].joining = None;
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
                // As the glue does: report each URL (the longest state message the glue
                // builds), and free the name of a stopped push.
                Output::Push {
                    channel, request, ..
                } => {
                    use livestage_proto::push::{FailReason, Request, UrlState};
                    let name = request.name().to_owned();
                    if let Request::Start { urls, .. } = &request {
                        for url in urls {
                            let state = UrlState::Failed {
                                reason: FailReason::Unreachable,
                                message: "m".repeat(600),
                            };
                            self.server.push_state(&channel, &name, url, state);
                        }
                    }
                    if let Request::Stop { .. } = request {
                        self.server.push_ended(&channel, &name);
                    }
                }
                // As the glue does: the longest state it reports, then the end of a stop.
                Output::Inject {
                    channel, request, ..
                } => {
                    use livestage_proto::inject::Request;
                    use livestage_proto::push::{FailReason, UrlState};
                    let name = request.name().to_owned();
                    let state = UrlState::Failed {
                        reason: FailReason::Unsupported,
                        message: "m".repeat(600),
                    };
                    self.server.inject_state(&channel, &name, state);
                    if let Request::Stop { .. } = request {
                        self.server.inject_ended(&channel, &name);
                    }
                }
                // As the glue does: every destination started fails with the longest message
                // (or runs), a stop or a removal reports stopped.
                Output::Relay {
                    channel,
                    by,
                    request,
                } => {
                    use livestage_proto::ErrorCode;
                    use livestage_proto::relay::{Request, State};
                    let (failing, stopped) = match request {
                        Request::Start { destinations } => (destinations, Vec::new()),
                        Request::Update { add, remove } => (add, remove),
                        Request::Stop => (Vec::new(), self.server.relay_targets(&channel, &by)),
                        Request::Pause | Request::Resume => (Vec::new(), Vec::new()),
                    };
                    for (i, d) in failing.into_iter().enumerate() {
                        let state = if i % 2 == 0 {
                            State::failed(ErrorCode::TooManyHosts, "é".repeat(5000))
                        } else {
                            State::Running
                        };
                        self.server.relay_state(&channel, &by, &d.target, state);
                    }
                    for target in stopped {
                        self.server.relay_state(&channel, &by, &target, State::Stopped);
                    }
                }
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
                slot.welcomed = true;
                let joining = slot.joining.take();
                let k = self.known.entry(w.session).or_insert_with(|| Known {
                    key: w.key,
                    user: w.you.user.clone(),
                    channel: w.channel.clone(),
                    next_request: 1,
                    last_event: 0,
                    grants: joining,
                    renewed: false,
                });
                k.next_request = w.received + 1;
                if !self.seen.contains(&w.session) {
                    self.seen.push(w.session);
                }
            }
            ServerFrame::Event { seq, event } => {
                let Some(sid) = slot.session else {
                    return;
                };
                let fresh = !slot.welcomed;
                let Some(k) = self.known.get_mut(&sid) else {
                    return;
                };
                k.last_event = k.last_event.max(seq);
                match event {
                    Event::TokenRenewed { .. } => k.renewed = true,
                    Event::KeyframeRequest { track, .. } if fresh => {
                        self.keyframes_asked.push((sid, track));
                    }
                    Event::LayerChanged {
                        media_id, track, ..
                    } if fresh => {
                        self.layers_changed.push((media_id, track));
                    }
                    _ => {}
                }
            }
            ServerFrame::Ack { .. }
            | ServerFrame::Roster(_)
            | ServerFrame::Goodbye(_)
            | ServerFrame::Links(_) => {}
        }
    }

    /// Forgets what the last step's checks needed.
    fn begin_step(&mut self) {
        self.keyframes_asked.clear();
        self.layers_changed.clear();
        for slot in &mut self.slots {
            slot.welcomed = false;
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
                self.slots[i].joining = None;
                let jwt = match kind {
                    TokenKind::Valid => {
                        self.slots[i].joining = Some(token.grants);
                        tokens().get(&token, channel, false)
                    }
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
            Op::Request { slot, seq, request } => self.request(self.slot(slot), seq, request),
            Op::GoLive {
                slot,
                user,
                channel,
                grants,
            } => {
                let token = TokenSpec {
                    user,
                    grants,
                    ttl: Ttl::Long,
                };
                self.step(Op::Join {
                    slot,
                    channel: Named::Known(channel),
                    token,
                    kind: TokenKind::Valid,
                    host: true,
                    same_connection: false,
                });
                for (id, video) in [(track::CAMERA, true), (track::MICROPHONE, false)] {
                    let spec = TrackSpec {
                        id: Tid::Few(id),
                        video,
                        source: if video { 0 } else { 2 },
                        name: Name::Letters { letter: 0, len: 0 },
                        low_layer: video,
                        muted: false,
                    };
                    self.request(self.slot(slot), Seq::Next, Req::Publish(spec));
                }
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
            Op::Link {
                slot,
                uplink_loss_percent,
                rtt_ms,
                downlink_loss_percent,
            } => {
                let i = self.slot(slot);
                let conn = self.slots[i].conn;
                self.server
                    .path_measured(conn, rtt_ms, downlink_loss_percent);
                self.frame(i, &ClientFrame::Link { uplink_loss_percent });
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
                track,
                kind,
                congest,
            } => self.media(self.slot(slot), track.id(), kind.kind(), congest),
            Op::Congested {
                slot,
                media_id: id,
                track,
                low,
            } => {
                let conn = self.slots[self.slot(slot)].conn;
                let (id, track) = (media_id(id), track.id());
                self.server.congested(conn, id, track, layer(low), self.now);
                self.drain();
            }
            Op::RequestKeyframe {
                media_id: id,
                track,
                low,
            } => {
                let (id, track) = (media_id(id), track.id());
                self.server
                    .request_keyframe(id, track, layer(low), self.now);
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
                            token: tokens::crowd_tokens()[n].clone(),
                            role: Role::Audience,
                        },
                    };
                    self.input(conn, Input::Frame(wire::encode(&hello)[4..].to_vec()));
                }
                self.crowd_joined = end;
            }
        }
    }

    /// Sends a request from slot `i`, noting what the invariants need: the tracks a moderator
    /// asked to mute, and the grants of a token that renewed.
    fn request(&mut self, i: usize, seq: Seq, request: Req) {
        let sid = self.slots[i].session;
        let known = sid.and_then(|s| self.known.get_mut(&s));
        let next = known.as_ref().map_or(1, |k| k.next_request);
        let seq = match seq {
            Seq::Next => next,
            Seq::Again => next.saturating_sub(1),
            Seq::Any(n) => n,
        };
        let mut renewal = None;
        if let Some(k) = known {
            if seq == k.next_request {
                k.next_request += 1;
            }
            k.renewed = false;
            match &request {
                Req::Renew(spec) => renewal = Some(spec.grants),
                &Req::MuteTrack {
                    user,
                    track,
                    muted: true,
                } => {
                    let asked = (k.channel.clone(), user.id(), Tid::id(track));
                    self.mutes_asked.insert(asked);
                }
                _ => {}
            }
        }
        let request = request.request(self.slots[i].channel);
        self.frame(i, &ClientFrame::Request { seq, request });
        if let Some(grants) = renewal
            && let Some(k) = sid.and_then(|s| self.known.get_mut(&s))
            && k.renewed
        {
            k.grants = Some(grants);
        }
    }

    /// Routes media on `track` from a slot's connection and checks who may send it and where
    /// it goes; optionally reports its first subscriber congested.
    fn media(&mut self, i: usize, track: TrackId, kind: Kind, congest: bool) {
        let conn = self.slots[i].conn;
        let route = self.server.route(conn, track, kind, self.now);
        self.drain();
        let Ok(route) = route else {
            return;
        };
        self.check_route(i, track, kind, &route);
        if congest && let Some(&to) = route.to.first() {
            let layer = match kind {
                Kind::Video(l) => l,
                Kind::Audio => Layer::High,
            };
            self.server
                .congested(to, route.media_id, track, layer, self.now);
            self.drain();
        }
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
        h.begin_step();
        h.step(op);
        h.check();
    }
});
