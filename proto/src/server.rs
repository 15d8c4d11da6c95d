//! The server's sans-IO state machine: sessions, channels, roles, moderation, data forwarding
//! and resume.
//!
//! Inputs are [`Server::handle_input`] (a connection's frames and its closing) and
//! [`Server::handle_timeout`] (call it at least every 250 ms); outputs come from
//! [`Server::poll_output`]. Time is milliseconds since the Unix epoch, passed in.
//!
//! Who sees whom: hosts see every participant; the audience sees the hosts (and itself). That
//! keeps a join in a channel with thousands of viewers O(hosts), not O(viewers).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::error::{Error, ErrorCode};
use std::sync::Arc;

use crate::id::{self, ChannelId, SessionId, UserId};
use crate::media::{Kind, Layer};
use crate::rate::DataRate;
use crate::token::{self, Claims, Expect, Grant};
use crate::wire::{
    self, Action, ClientFrame, DataLimits, Event, Hello, Intent, LeaveReason, Participant, Profile,
    Request, Role, ServerFrame, Welcome,
};

/// Server policy.
#[derive(Clone, Debug)]
pub struct Config {
    /// The app id tokens must name.
    pub app: String,
    /// The HS256 secret tokens are signed with.
    pub secret: Vec<u8>,
    /// Most hosts per channel.
    pub host_cap: usize,
    /// Profile of channels not listed in `profiles`.
    pub profile: Profile,
    /// Per-channel profiles.
    pub profiles: HashMap<ChannelId, Profile>,
    /// How long a session whose connection was lost is kept for resuming.
    pub resume_ms: u64,
    /// How long before token expiry the client is warned.
    pub expiry_warning_secs: u64,
    /// Data message limits per user.
    pub limits: DataLimits,
    /// Most unacknowledged events kept per session before it is dropped as too slow.
    pub max_backlog: usize,
    /// Seed for session resume keys (use OS randomness in production).
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            app: "livestage".into(),
            secret: Vec::new(),
            host_cap: 17,
            profile: Profile::LiveBroadcast,
            profiles: HashMap::new(),
            resume_ms: 20_000,
            expiry_warning_secs: 60,
            limits: DataLimits::default(),
            max_backlog: 8192,
            seed: 0,
        }
    }
}

/// A connection, numbered by the glue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What happened on a connection.
#[derive(Debug)]
pub enum Input {
    /// A frame body arrived (the length prefix already checked).
    Frame(Vec<u8>),
    /// The transport refused a frame (e.g. an oversized length prefix).
    Malformed(Error),
    /// The connection is gone.
    Closed,
}

/// What the glue must do.
#[derive(Debug, PartialEq)]
pub enum Output {
    /// Send a frame on the connection's control stream.
    Send {
        /// Where.
        conn: ConnId,
        /// What.
        frame: ServerFrame,
    },
    /// Close the connection after sending what was queued.
    Close {
        /// Which.
        conn: ConnId,
    },
}

struct Session {
    media_id: u64,
    key: u64,
    channel: ChannelId,
    claims: Claims,
    role: Role,
    audio_muted: bool,
    video_muted: bool,
    /// Asked to be invited on stage; only ever true for the audience.
    hand_raised: bool,
    /// `None` hears everyone.
    hears: Option<BTreeSet<UserId>>,
    conn: Option<ConnId>,
    lost_at: Option<u64>,
    last_event: u64,
    backlog: VecDeque<(u64, Event)>,
    applied: u64,
    ack_due: bool,
    data_seq: u64,
    rate: DataRate,
    warned: bool,
    /// What this session receives from each publisher, when not the default.
    subscriptions: HashMap<UserId, Subscription>,
    /// When a keyframe of each layer was last asked of this publisher.
    keyframe_asked: [u64; 2],
    /// When this session was last told its media was refused.
    media_refused_at: Option<u64>,
    /// As a publisher: audio loss each subscriber reported, with when.
    loss_reports: HashMap<SessionId, (u8, u64)>,
    /// As a publisher: the loss last told, and when.
    loss_told: Option<(u8, u64)>,
    /// As a publisher: when it last sent low-layer video.
    low_layer_at: Option<u64>,
    /// As a subscriber: when each publisher's high layer last congested its path.
    congested_at: HashMap<u64, u64>,
}

/// What a subscriber receives from one publisher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Subscription {
    audio: bool,
    video: Option<Layer>,
}

impl Default for Subscription {
    fn default() -> Self {
        Self {
            audio: true,
            video: Some(Layer::High),
        }
    }
}

impl Subscription {
    fn wants(&self, kind: Kind) -> bool {
        match kind {
            Kind::Audio => self.audio,
            Kind::Video(layer) => self.video == Some(layer),
        }
    }
}

/// Where one publisher's media of one kind goes.
#[derive(Clone, Debug)]
pub struct Route {
    /// The publisher's media id, to stamp on the packet.
    pub media_id: u64,
    /// The subscribers' connections.
    pub to: Arc<[ConnId]>,
}

/// Least time between two keyframe requests to one publisher for one layer.
pub const KEYFRAME_INTERVAL_MS: u64 = 500;
/// Two congestion signals this close together move a subscriber to the low layer.
pub const CONGESTION_WINDOW_MS: u64 = 10_000;
/// A publisher counts as sending a low layer this long after its last low frame.
const LOW_LAYER_FRESH_MS: u64 = 2_000;
/// Loss reports older than this no longer count.
const LOSS_REPORT_TTL_MS: u64 = 5_000;
/// Least time between two loss notices to one publisher.
const LOSS_TELL_INTERVAL_MS: u64 = 1_000;
/// Least time between two "your media is refused" notices to one session.
const MEDIA_REFUSAL_INTERVAL_MS: u64 = 5_000;

impl Session {
    fn participant(&self) -> Participant {
        Participant {
            user: self.claims.sub.clone(),
            role: self.role,
            moderator: self.claims.allows(Grant::Moderator),
            audio_muted: self.audio_muted,
            video_muted: self.video_muted,
            hand_raised: self.hand_raised,
            media_id: self.media_id,
        }
    }

    fn hears(&self, user: &str) -> bool {
        self.hears.as_ref().is_none_or(|set| set.contains(user))
    }
}

struct Channel {
    profile: Profile,
    members: BTreeMap<UserId, SessionId>,
    /// What moderators imposed on each user, kept past the user's session: leaving and joining
    /// again (or replacing the session) must not lift a mute or a hearing set.
    restrictions: BTreeMap<UserId, Restriction>,
}

/// A moderator's mutes and hearing set for one user of a channel.
#[derive(Clone, Debug, Default)]
struct Restriction {
    hears: Option<BTreeSet<UserId>>,
    audio_muted: bool,
    video_muted: bool,
}

/// The whole server's control state.
pub struct Server {
    config: Config,
    rng: StdRng,
    next_session: u64,
    sessions: HashMap<SessionId, Session>,
    channels: HashMap<ChannelId, Channel>,
    /// Every open connection; `None` until its `Hello` was accepted.
    conns: HashMap<ConnId, Option<SessionId>>,
    outputs: VecDeque<Output>,
    /// Media routes, rebuilt lazily after any control change.
    routes: HashMap<(SessionId, Kind), Route>,
}

impl Server {
    /// A server with no channels.
    pub fn new(config: Config) -> Self {
        let rng = StdRng::seed_from_u64(config.seed);
        Self {
            config,
            rng,
            next_session: 1,
            sessions: HashMap::new(),
            channels: HashMap::new(),
            conns: HashMap::new(),
            outputs: VecDeque::new(),
            routes: HashMap::new(),
        }
    }

    /// The policy in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of live sessions (connected or waiting to resume).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The participants of a channel, in user id order.
    pub fn participants(&self, channel: &str) -> Vec<Participant> {
        let Some(ch) = self.channels.get(channel) else {
            return Vec::new();
        };
        ch.members
            .values()
            .map(|sid| self.sessions[sid].participant())
            .collect()
    }

    /// Handles what happened on a connection.
    pub fn handle_input(&mut self, conn: ConnId, input: Input, now_ms: u64) {
        // Any control input may change who receives what.
        self.routes.clear();
        match input {
            Input::Closed => self.connection_lost(conn, now_ms),
            Input::Malformed(error) => self.protocol_error(conn, error),
            Input::Frame(body) => match self.conns.get(&conn).copied() {
                None | Some(None) => match wire::decode::<Hello>(&body) {
                    Ok(hello) => self.handle_hello(conn, hello, now_ms),
                    Err(error) => self.protocol_error(conn, error),
                },
                Some(Some(sid)) => match wire::decode::<ClientFrame>(&body) {
                    Ok(frame) => self.handle_frame(sid, frame, now_ms),
                    Err(error) => self.protocol_error(conn, error),
                },
            },
        }
        self.flush_acks();
    }

    /// Runs timers: resume windows, token expiry warnings and expiry.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let now_unix = now_ms / 1000;
        let mut offline = Vec::new();
        let mut expired = Vec::new();
        let mut warn = Vec::new();
        for (&sid, s) in &self.sessions {
            if s.lost_at
                .is_some_and(|t| now_ms >= t + self.config.resume_ms)
            {
                offline.push(sid);
            } else if s.claims.exp <= now_unix {
                expired.push(sid);
            } else if !s.warned && s.claims.exp <= now_unix + self.config.expiry_warning_secs {
                warn.push((sid, s.claims.exp - now_unix));
            }
        }
        if !(offline.is_empty() && expired.is_empty()) {
            self.routes.clear();
        }
        for sid in offline {
            self.end_session(sid, LeaveReason::Offline, None);
        }
        for sid in expired {
            let error = Error::new(
                ErrorCode::TokenExpired,
                "token expired; join again with a new token",
            );
            self.end_session(sid, LeaveReason::Expired, Some(error));
        }
        for (sid, remaining_secs) in warn {
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.warned = true;
            }
            self.emit(sid, Event::TokenExpiring { remaining_secs });
        }
    }

    /// The next thing the glue must do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn send(&mut self, conn: ConnId, frame: ServerFrame) {
        self.outputs.push_back(Output::Send { conn, frame });
    }

    /// Says goodbye and closes; the connection is forgotten.
    fn refuse(&mut self, conn: ConnId, error: Error) {
        self.send(conn, ServerFrame::Goodbye(error));
        self.outputs.push_back(Output::Close { conn });
        self.conns.remove(&conn);
    }

    fn protocol_error(&mut self, conn: ConnId, error: Error) {
        match self.conns.get(&conn).copied().flatten() {
            Some(sid) => self.end_session(sid, LeaveReason::Dropped, Some(error)),
            None => self.refuse(conn, error),
        }
    }

    fn connection_lost(&mut self, conn: ConnId, now_ms: u64) {
        if let Some(Some(sid)) = self.conns.remove(&conn)
            && let Some(s) = self.sessions.get_mut(&sid)
            && s.conn == Some(conn)
        {
            s.conn = None;
            s.lost_at = Some(now_ms);
        }
    }

    fn handle_hello(&mut self, conn: ConnId, hello: Hello, now_ms: u64) {
        if self.conns.get(&conn).is_some_and(Option::is_some) {
            return self.protocol_error(conn, Error::new(ErrorCode::ProtocolError, "second hello"));
        }
        if hello.version != wire::VERSION {
            let msg = format!(
                "protocol version {} is not supported; this server speaks {}",
                hello.version,
                wire::VERSION
            );
            return self.refuse(conn, Error::new(ErrorCode::ProtocolError, msg));
        }
        match hello.intent {
            Intent::Join {
                channel,
                token,
                role,
            } => self.join(conn, &channel, &token, role, now_ms),
            Intent::Resume {
                session,
                key,
                received,
            } => self.resume(conn, session, key, received),
        }
    }

    fn join(&mut self, conn: ConnId, channel: &str, jwt: &str, wanted: Role, now_ms: u64) {
        if let Err(e) = id::validate("channel", channel) {
            return self.refuse(conn, e);
        }
        let expect = Expect {
            app: &self.config.app,
            channel,
            user: None,
        };
        let claims = match token::verify(jwt, &self.config.secret, expect, now_ms / 1000) {
            Ok(claims) => claims,
            Err(e) => return self.refuse(conn, e),
        };
        let user = claims.sub.clone();
        let profile = self
            .config
            .profiles
            .get(channel)
            .copied()
            .unwrap_or(self.config.profile);
        let old = self
            .channels
            .get(channel)
            .and_then(|ch| ch.members.get(&user).copied());
        if let Some(old) = old {
            let error = Error::new(
                ErrorCode::Replaced,
                format!("{user} joined {channel} again elsewhere"),
            );
            self.end_session(old, LeaveReason::Replaced, Some(error));
        }
        let wants_host = wanted == Role::Host || profile == Profile::Communication;
        let mut refusal = None;
        let role = if !wants_host {
            Role::Audience
        } else if !claims.may_host() {
            let msg = "token grants no publishing, so you joined as audience";
            refusal = Some(Error::new(ErrorCode::NotPermitted, msg));
            Role::Audience
        } else if self.host_count(channel) >= self.config.host_cap {
            let msg = format!(
                "{channel} has {} hosts already; you joined as audience",
                self.config.host_cap
            );
            refusal = Some(Error::new(ErrorCode::TooManyHosts, msg));
            Role::Audience
        } else {
            Role::Host
        };

        let sid = SessionId(self.next_session);
        self.next_session += 1;
        let restriction = self
            .channels
            .get(channel)
            .and_then(|ch| ch.restrictions.get(&user))
            .cloned()
            .unwrap_or_default();
        let session = Session {
            media_id: sid.0,
            key: self.rng.next_u64(),
            channel: channel.to_owned(),
            rate: DataRate::enforce(self.config.limits, now_ms),
            claims,
            role,
            audio_muted: restriction.audio_muted,
            video_muted: restriction.video_muted,
            hand_raised: false,
            hears: restriction.hears.clone(),
            conn: Some(conn),
            lost_at: None,
            last_event: 0,
            backlog: VecDeque::new(),
            applied: 0,
            ack_due: false,
            data_seq: 0,
            warned: false,
            subscriptions: HashMap::new(),
            keyframe_asked: [0; 2],
            media_refused_at: None,
            loss_reports: HashMap::new(),
            loss_told: None,
            low_layer_at: None,
            congested_at: HashMap::new(),
        };
        let participant = session.participant();
        self.sessions.insert(sid, session);
        self.conns.insert(conn, Some(sid));
        let ch = self
            .channels
            .entry(channel.to_owned())
            .or_insert_with(|| Channel {
                profile,
                members: BTreeMap::new(),
                restrictions: BTreeMap::new(),
            });
        ch.members.insert(user.clone(), sid);

        self.send_welcome(sid, conn);
        if let Some(hears) = restriction.hears {
            let hears = Some(hears.into_iter().collect());
            self.emit(sid, Event::HearingChanged { hears });
        }
        self.announce(
            sid,
            |_| Event::PeerJoined(participant.clone()),
            &participant,
        );
        self.ask_hosts_for_keyframes(channel, sid, now_ms);
        if let Some(error) = refusal {
            self.emit(sid, Event::Refused { request: 0, error });
        }
    }

    fn resume(&mut self, conn: ConnId, sid: SessionId, key: u64, received: u64) {
        let Some(s) = self.sessions.get_mut(&sid).filter(|s| s.key == key) else {
            let msg = "the session to resume has ended; join again";
            return self.refuse(conn, Error::new(ErrorCode::SessionExpired, msg));
        };
        if received > s.last_event {
            let msg = format!("resume acknowledges event {received} that was never sent");
            return self.refuse(conn, Error::new(ErrorCode::ProtocolError, msg));
        }
        let stale = s.conn.replace(conn);
        s.lost_at = None;
        s.backlog.retain(|(seq, _)| *seq > received);
        let replay: Vec<_> = s.backlog.iter().cloned().collect();
        if let Some(stale) = stale {
            self.conns.remove(&stale);
            self.outputs.push_back(Output::Close { conn: stale });
        }
        self.conns.insert(conn, Some(sid));
        self.send_welcome(sid, conn);
        for (seq, event) in replay {
            self.send(conn, ServerFrame::Event { seq, event });
        }
    }

    fn send_welcome(&mut self, sid: SessionId, conn: ConnId) {
        let s = &self.sessions[&sid];
        let profile = self.channels[&s.channel].profile;
        let welcome = Welcome {
            session: sid,
            key: s.key,
            channel: s.channel.clone(),
            profile,
            you: s.participant(),
            peers: self.visible_roster(sid),
            received: s.applied,
            token_expires: s.claims.exp,
            limits: self.config.limits,
            resume_secs: self.config.resume_ms / 1000,
        };
        self.send(conn, ServerFrame::Welcome(Box::new(welcome)));
    }

    /// The participants `viewer` may see, itself excluded.
    fn visible_roster(&self, viewer: SessionId) -> Vec<Participant> {
        let v = &self.sessions[&viewer];
        self.channels[&v.channel]
            .members
            .values()
            .filter(|&&sid| sid != viewer)
            .map(|sid| &self.sessions[sid])
            .filter(|s| v.role == Role::Host || s.role == Role::Host)
            .map(Session::participant)
            .collect()
    }

    fn host_count(&self, channel: &str) -> usize {
        self.channels.get(channel).map_or(0, |ch| {
            ch.members
                .values()
                .filter(|sid| self.sessions[sid].role == Role::Host)
                .count()
        })
    }

    fn session_of(&self, channel: &str, user: &str) -> Option<SessionId> {
        self.channels.get(channel)?.members.get(user).copied()
    }

    /// Queues an event for a session (kept until acknowledged) and sends it if connected.
    fn emit(&mut self, sid: SessionId, event: Event) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.backlog.len() >= self.config.max_backlog {
            let msg = format!(
                "{} events unacknowledged; the client is not keeping up",
                s.backlog.len()
            );
            return self.end_session(
                sid,
                LeaveReason::Dropped,
                Some(Error::new(ErrorCode::Overloaded, msg)),
            );
        }
        s.last_event += 1;
        let seq = s.last_event;
        s.backlog.push_back((seq, event.clone()));
        if let Some(conn) = s.conn {
            self.send(conn, ServerFrame::Event { seq, event });
        }
    }

    /// Tells the others in `subject`'s channel who may see it (hosts always; the audience
    /// only about hosts).
    fn announce(
        &mut self,
        subject: SessionId,
        event: impl Fn(SessionId) -> Event,
        about: &Participant,
    ) {
        let s = &self.sessions[&subject];
        let to: Vec<SessionId> = self.channels[&s.channel]
            .members
            .values()
            .copied()
            .filter(|&sid| sid != subject)
            .filter(|sid| about.role == Role::Host || self.sessions[sid].role == Role::Host)
            .collect();
        for sid in to {
            self.emit(sid, event(sid));
        }
    }

    /// Removes a session: says goodbye if it is connected and tells the channel.
    fn end_session(&mut self, sid: SessionId, reason: LeaveReason, goodbye: Option<Error>) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let about = s.participant();
        let channel = s.channel.clone();
        if let Some(conn) = s.conn {
            if let Some(error) = goodbye {
                self.send(conn, ServerFrame::Goodbye(error));
            }
            self.outputs.push_back(Output::Close { conn });
            self.conns.remove(&conn);
        }
        // Announce while the session is still a member, then remove it.
        let user = about.user.clone();
        self.announce(
            sid,
            |_| Event::PeerLeft {
                user: user.clone(),
                reason,
            },
            &about,
        );
        self.sessions.remove(&sid);
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.members.remove(&about.user);
            if ch.members.is_empty() {
                self.channels.remove(&channel);
            }
        }
    }

    /// The moderation record of `user` in `channel` (which exists: a moderator is in it).
    fn restriction(&mut self, channel: &str, user: &str) -> &mut Restriction {
        self.channels
            .get_mut(channel)
            .expect("a moderator acts in a channel it is a member of")
            .restrictions
            .entry(user.to_owned())
            .or_default()
    }

    fn flush_acks(&mut self) {
        let due: Vec<(ConnId, u64)> = self
            .sessions
            .values_mut()
            .filter(|s| s.ack_due)
            .filter_map(|s| {
                s.ack_due = false;
                s.conn.map(|c| (c, s.applied))
            })
            .collect();
        for (conn, upto) in due {
            self.send(conn, ServerFrame::Ack { upto });
        }
    }

    fn handle_frame(&mut self, sid: SessionId, frame: ClientFrame, now_ms: u64) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        match frame {
            ClientFrame::Ack { upto } => {
                if upto > s.last_event {
                    let msg = format!("ack of event {upto} that was never sent");
                    let error = Error::new(ErrorCode::ProtocolError, msg);
                    return self.end_session(sid, LeaveReason::Dropped, Some(error));
                }
                while s.backlog.front().is_some_and(|(seq, _)| *seq <= upto) {
                    s.backlog.pop_front();
                }
            }
            ClientFrame::Request { seq, request } => {
                s.ack_due = true;
                if seq <= s.applied {
                    return; // Resent after a resume; already applied once.
                }
                if seq != s.applied + 1 {
                    let msg = format!(
                        "request {seq} after {}: sequence numbers must not skip",
                        s.applied
                    );
                    let error = Error::new(ErrorCode::ProtocolError, msg);
                    return self.end_session(sid, LeaveReason::Dropped, Some(error));
                }
                s.applied = seq;
                if let Err(error) = self.apply(sid, request, now_ms) {
                    self.emit(
                        sid,
                        Event::Refused {
                            request: seq,
                            error,
                        },
                    );
                }
            }
        }
    }

    fn apply(&mut self, sid: SessionId, request: Request, now_ms: u64) -> Result<(), Error> {
        match request {
            Request::Leave => {
                // Acknowledge before the session (and its ack flag) is gone.
                let s = &self.sessions[&sid];
                if let Some(conn) = s.conn {
                    let upto = s.applied;
                    self.send(conn, ServerFrame::Ack { upto });
                }
                self.end_session(sid, LeaveReason::Left, None);
                Ok(())
            }
            Request::SetRole(role) => {
                let user = self.sessions[&sid].claims.sub.clone();
                self.set_role(sid, role, &user)
            }
            Request::Data { to, payload } => self.forward_data(sid, to, payload, now_ms),
            Request::Moderate(action) => self.moderate(sid, action),
            Request::RaiseHand(raised) => self.raise_hand(sid, raised, now_ms),
            Request::RenewToken(jwt) => self.renew(sid, &jwt, now_ms),
            Request::Subscribe { user, audio, video } => {
                let s = self
                    .sessions
                    .get_mut(&sid)
                    .expect("caller holds a live session");
                s.subscriptions
                    .insert(user.clone(), Subscription { audio, video });
                if let (Some(layer), Some(publisher)) = (
                    video,
                    self.session_of(&self.sessions[&sid].channel.clone(), &user),
                ) {
                    self.ask_keyframe(publisher, layer, now_ms);
                }
                Ok(())
            }
            Request::ReportLoss { media_id, percent } => {
                let channel = &self.sessions[&sid].channel;
                let publisher = SessionId(media_id);
                if self
                    .sessions
                    .get(&publisher)
                    .is_some_and(|p| &p.channel == channel)
                {
                    self.report_loss(publisher, sid, percent.min(100), now_ms);
                }
                Ok(())
            }
            Request::RequestKeyframe { media_id, layer } => {
                let channel = &self.sessions[&sid].channel;
                let publisher = SessionId(media_id);
                // A hint: the publisher may have just left, so an unknown id is not an error.
                if self
                    .sessions
                    .get(&publisher)
                    .is_none_or(|p| &p.channel != channel)
                {
                    return Ok(());
                }
                self.ask_keyframe(publisher, layer, now_ms);
                Ok(())
            }
        }
    }

    fn set_role(&mut self, sid: SessionId, role: Role, by: &str) -> Result<(), Error> {
        let s = &self.sessions[&sid];
        if s.role == role {
            return Ok(());
        }
        if role == Role::Host {
            if !s.claims.may_host() {
                let msg = format!(
                    "{}'s token grants no publishing, so it cannot be a host",
                    s.claims.sub
                );
                return Err(Error::new(ErrorCode::NotPermitted, msg));
            }
            if self.host_count(&s.channel) >= self.config.host_cap {
                let msg = format!("{} has {} hosts already", s.channel, self.config.host_cap);
                return Err(Error::new(ErrorCode::TooManyHosts, msg));
            }
        }
        let before = s.participant();
        let s = self.sessions.get_mut(&sid).expect("session checked above");
        s.role = role;
        // On stage the request is granted: the hand goes down with the role change.
        if role == Role::Host {
            s.hand_raised = false;
        }
        let participant = s.participant();
        let by = by.to_owned();
        // Everyone who could see it before or can see it now learns the change.
        let about = if before.role == Role::Host {
            &before
        } else {
            &participant
        };
        let changed = Event::RoleChanged {
            participant: participant.clone(),
            by: by.clone(),
        };
        self.announce(sid, |_| changed.clone(), about);
        self.emit(sid, changed);
        let roster = self.visible_roster(sid);
        self.emit(sid, Event::Roster(roster));
        Ok(())
    }

    /// Raises or lowers the hand of an audience member and tells it and everyone who sees it.
    /// Every request is charged to the sender's data rate limit, even one that changes nothing.
    fn raise_hand(&mut self, sid: SessionId, raised: bool, now_ms: u64) -> Result<(), Error> {
        let limits = self.config.limits;
        let s = self
            .sessions
            .get_mut(&sid)
            .expect("caller holds a live session");
        if !s.rate.try_take(0, now_ms) {
            let msg = format!(
                "more than {} messages per second (raised hands count as messages); slow down",
                limits.messages_per_sec
            );
            return Err(Error::new(ErrorCode::RateLimited, msg));
        }
        if raised && s.role == Role::Host {
            return Err(Error::new(
                ErrorCode::NotPermitted,
                "hosts are on stage already; only the audience raises a hand",
            ));
        }
        if s.hand_raised == raised {
            return Ok(());
        }
        s.hand_raised = raised;
        let about = s.participant();
        let event = Event::HandChanged {
            user: about.user.clone(),
            raised,
        };
        self.announce(sid, |_| event.clone(), &about);
        self.emit(sid, event);
        Ok(())
    }

    fn forward_data(
        &mut self,
        sid: SessionId,
        to: Vec<UserId>,
        payload: Vec<u8>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let limits = self.config.limits;
        let s = self
            .sessions
            .get_mut(&sid)
            .expect("caller holds a live session");
        if !s.claims.allows(Grant::PublishData) {
            return Err(Error::new(
                ErrorCode::NotPermitted,
                "token does not grant publish-data",
            ));
        }
        if s.role != Role::Host {
            return Err(Error::new(
                ErrorCode::NotPermitted,
                "the audience cannot send data; go on stage first",
            ));
        }
        if payload.len() > limits.max_payload as usize {
            let msg = format!(
                "data message of {} bytes exceeds the {}-byte limit",
                payload.len(),
                limits.max_payload
            );
            return Err(Error::new(ErrorCode::MessageTooLarge, msg));
        }
        if to.len() > wire::MAX_LIST {
            let msg = format!(
                "{} recipients exceed the limit of {}",
                to.len(),
                wire::MAX_LIST
            );
            return Err(Error::new(ErrorCode::MessageTooLarge, msg));
        }
        if !s.rate.try_take(payload.len(), now_ms) {
            let msg = format!(
                "more than {} messages or {} bytes per second; slow down",
                limits.messages_per_sec, limits.bytes_per_sec
            );
            return Err(Error::new(ErrorCode::RateLimited, msg));
        }
        s.data_seq += 1;
        let (seq, from) = (s.data_seq, s.claims.sub.clone());
        let private = !to.is_empty();
        let recipients: Vec<SessionId> = self.channels[&s.channel]
            .members
            .iter()
            .filter(|&(user, &r)| r != sid && (!private || to.contains(user)))
            .map(|(_, &r)| r)
            .filter(|r| self.sessions[r].hears(&from))
            .collect();
        for r in recipients {
            let event = Event::Data {
                from: from.clone(),
                seq,
                private,
                payload: payload.clone(),
            };
            self.emit(r, event);
        }
        Ok(())
    }

    fn moderate(&mut self, sid: SessionId, action: Action) -> Result<(), Error> {
        let s = &self.sessions[&sid];
        if !s.claims.allows(Grant::Moderator) {
            return Err(Error::new(
                ErrorCode::NotPermitted,
                "token does not grant moderator",
            ));
        }
        let (channel, me) = (s.channel.clone(), s.claims.sub.clone());
        let target = |server: &Self, user: &str| {
            server.session_of(&channel, user).ok_or_else(|| {
                Error::new(
                    ErrorCode::UnknownUser,
                    format!("{user} is not in {channel}"),
                )
            })
        };
        match action {
            Action::Promote(user) => self.set_role(target(self, &user)?, Role::Host, &me),
            Action::Demote(user) => self.set_role(target(self, &user)?, Role::Audience, &me),
            Action::Mute { user, audio, video } => {
                let t = target(self, &user)?;
                let s = self.sessions.get_mut(&t).expect("target just found");
                s.audio_muted = audio.unwrap_or(s.audio_muted);
                s.video_muted = video.unwrap_or(s.video_muted);
                let about = s.participant();
                let record = self.restriction(&channel, &user);
                record.audio_muted = about.audio_muted;
                record.video_muted = about.video_muted;
                let event = Event::MuteChanged {
                    user,
                    audio: about.audio_muted,
                    video: about.video_muted,
                };
                self.announce(t, |_| event.clone(), &about);
                self.emit(t, event);
                Ok(())
            }
            Action::Kick(user) => {
                let t = target(self, &user)?;
                let error =
                    Error::new(ErrorCode::Kicked, format!("removed from {channel} by {me}"));
                self.end_session(t, LeaveReason::Kicked, Some(error));
                Ok(())
            }
            Action::SetHearing { listener, hears } => {
                let t = target(self, &listener)?;
                if hears.as_ref().is_some_and(|h| h.len() > wire::MAX_LIST) {
                    let msg = format!("a hearing set holds at most {} users", wire::MAX_LIST);
                    return Err(Error::new(ErrorCode::MessageTooLarge, msg));
                }
                let set: Option<BTreeSet<UserId>> = hears.map(|h| h.into_iter().collect());
                let listed = set.as_ref().map(|s| s.iter().cloned().collect());
                self.restriction(&channel, &listener).hears = set.clone();
                self.sessions.get_mut(&t).expect("target just found").hears = set;
                self.emit(t, Event::HearingChanged { hears: listed });
                Ok(())
            }
        }
    }

    /// Where media of `kind` from the session on `conn` goes. `Err` when the sender may not
    /// publish it (the sender is told, at most every few seconds); muted media goes nowhere.
    pub fn route(&mut self, conn: ConnId, kind: Kind, now_ms: u64) -> Result<Route, Error> {
        let Some(&Some(sid)) = self.conns.get(&conn) else {
            return Err(Error::new(ErrorCode::ProtocolError, "media before joining"));
        };
        if kind == Kind::Video(Layer::Low)
            && let Some(s) = self.sessions.get_mut(&sid)
        {
            s.low_layer_at = Some(now_ms);
        }
        if let Some(route) = self.routes.get(&(sid, kind)) {
            return Ok(route.clone());
        }
        let s = &self.sessions[&sid];
        let (grant, what) = match kind {
            Kind::Audio => (Grant::PublishAudio, "audio"),
            Kind::Video(_) => (Grant::PublishVideo, "video"),
        };
        let refusal = if s.role != Role::Host {
            Some(format!(
                "the audience cannot publish {what}; go on stage first"
            ))
        } else if !s.claims.allows(grant) {
            Some(format!("token does not grant publish-{what}"))
        } else {
            None
        };
        if let Some(msg) = refusal {
            let error = Error::new(ErrorCode::NotPermitted, msg);
            let due = s
                .media_refused_at
                .is_none_or(|t| now_ms >= t + MEDIA_REFUSAL_INTERVAL_MS);
            if due {
                self.sessions
                    .get_mut(&sid)
                    .expect("session checked above")
                    .media_refused_at = Some(now_ms);
                self.emit(
                    sid,
                    Event::Refused {
                        request: 0,
                        error: error.clone(),
                    },
                );
            }
            return Err(error);
        }
        let muted = match kind {
            Kind::Audio => s.audio_muted,
            Kind::Video(_) => s.video_muted,
        };
        let user = &s.claims.sub;
        let to: Arc<[ConnId]> = if muted {
            Arc::from([])
        } else {
            self.channels[&s.channel]
                .members
                .values()
                .filter(|&&r| r != sid)
                .map(|r| &self.sessions[r])
                .filter(|r| r.hears(user))
                .filter(|r| {
                    r.subscriptions
                        .get(user)
                        .copied()
                        .unwrap_or_default()
                        .wants(kind)
                })
                .filter_map(|r| r.conn)
                .collect()
        };
        let route = Route {
            media_id: s.media_id,
            to,
        };
        self.routes.insert((sid, kind), route.clone());
        Ok(route)
    }

    /// Records a subscriber's loss report and tells the publisher the worst current one when
    /// it changed by 2 points or more, at most once a second.
    fn report_loss(&mut self, publisher: SessionId, from: SessionId, percent: u8, now_ms: u64) {
        let Some(p) = self.sessions.get_mut(&publisher) else {
            return;
        };
        p.loss_reports.insert(from, (percent, now_ms));
        // Reports older than 5 s (a subscriber that left or stopped reporting) no longer count.
        p.loss_reports
            .retain(|_, (_, at)| now_ms < *at + LOSS_REPORT_TTL_MS);
        let worst = p
            .loss_reports
            .values()
            .map(|(pct, _)| *pct)
            .max()
            .unwrap_or(0);
        let due = match p.loss_told {
            None => true,
            Some((told, at)) => now_ms >= at + LOSS_TELL_INTERVAL_MS && told.abs_diff(worst) >= 2,
        };
        if due {
            p.loss_told = Some((worst, now_ms));
            self.emit(publisher, Event::AudioLoss { percent: worst });
        }
    }

    /// The glue could not keep up sending `layer` of publisher `media_id` to the subscriber on
    /// `conn` (its frames were dropped). The second time within [`CONGESTION_WINDOW_MS`], if
    /// the publisher also sends a low layer, the subscriber is moved to it and told; either way
    /// the publisher is asked for a keyframe of the layer the subscriber now receives.
    pub fn congested(&mut self, conn: ConnId, media_id: u64, layer: Layer, now_ms: u64) {
        let publisher = SessionId(media_id);
        let Some(&Some(sid)) = self.conns.get(&conn) else {
            return;
        };
        let publishes_low = self
            .sessions
            .get(&publisher)
            .and_then(|p| p.low_layer_at)
            .is_some_and(|t| now_ms < t + LOW_LAYER_FRESH_MS);
        let Some(user) = self.sessions.get(&publisher).map(|p| p.claims.sub.clone()) else {
            return;
        };
        let s = self
            .sessions
            .get_mut(&sid)
            .expect("connection maps to a live session");
        let again = s
            .congested_at
            .insert(media_id, now_ms)
            .is_some_and(|t| now_ms < t + CONGESTION_WINDOW_MS);
        let mut wants = layer;
        if layer == Layer::High && again && publishes_low {
            let sub = s.subscriptions.entry(user).or_default();
            sub.video = Some(Layer::Low);
            wants = Layer::Low;
            self.routes.clear();
            self.emit(
                sid,
                Event::LayerChanged {
                    media_id,
                    layer: Layer::Low,
                },
            );
        }
        self.ask_keyframe(publisher, wants, now_ms);
    }

    /// Asks the publisher with `media_id` for a keyframe of `layer` (throttled), e.g. because
    /// a subscriber fell behind and its old frames were dropped.
    pub fn request_keyframe(&mut self, media_id: u64, layer: Layer, now_ms: u64) {
        let sid = SessionId(media_id);
        if self.sessions.contains_key(&sid) {
            self.ask_keyframe(sid, layer, now_ms);
        }
    }

    fn ask_keyframe(&mut self, publisher: SessionId, layer: Layer, now_ms: u64) {
        let Some(s) = self.sessions.get_mut(&publisher) else {
            return;
        };
        let slot = &mut s.keyframe_asked[layer as usize];
        if *slot != 0 && now_ms < *slot + KEYFRAME_INTERVAL_MS {
            return;
        }
        *slot = now_ms;
        self.emit(publisher, Event::KeyframeRequest { layer });
    }

    /// Asks every host in `channel` for a keyframe of the high layer (a viewer arrived).
    fn ask_hosts_for_keyframes(&mut self, channel: &str, except: SessionId, now_ms: u64) {
        let hosts: Vec<SessionId> = self.channels[channel]
            .members
            .values()
            .copied()
            .filter(|&h| h != except)
            .filter(|h| {
                let s = &self.sessions[h];
                s.role == Role::Host && s.claims.allows(Grant::PublishVideo)
            })
            .collect();
        for h in hosts {
            self.ask_keyframe(h, Layer::High, now_ms);
        }
    }

    fn renew(&mut self, sid: SessionId, jwt: &str, now_ms: u64) -> Result<(), Error> {
        let s = &self.sessions[&sid];
        let expect = Expect {
            app: &self.config.app,
            channel: &s.channel,
            user: Some(&s.claims.sub),
        };
        let claims = token::verify(jwt, &self.config.secret, expect, now_ms / 1000)?;
        let user = claims.sub.clone();
        let expires = claims.exp;
        let demote = s.role == Role::Host && !claims.may_host();
        let s = self.sessions.get_mut(&sid).expect("session checked above");
        s.claims = claims;
        s.warned = false;
        self.emit(sid, Event::TokenRenewed { expires });
        if demote {
            self.set_role(sid, Role::Audience, &user)?;
        }
        Ok(())
    }
}
