//! The server's sans-IO state machine: sessions, channels, roles, moderation, data forwarding,
//! media routing and resume.
//!
//! Inputs are [`Server::handle_input`] (a connection's frames and its closing),
//! [`Server::handle_timeout`] (call it at least every 250 ms) and the media-path calls
//! ([`Server::route`], [`Server::congested`], [`Server::request_keyframe`]); outputs come from
//! [`Server::poll_output`]. Time is milliseconds since the Unix epoch, passed in.
//!
//! Each input is one step. A session never ends in the middle of a step: one whose backlog
//! overflows is marked and ended when the step is over, so no code finds a session gone that
//! it looked up a moment before.
//!
//! The modules follow the data flow: [`admission`](self) (hello, join, resume, tokens, bans),
//! `roster` (who sees whom, pages, audience counts), `moderation` (roles, hands, moderator
//! actions), `tracks` (publishing, per-track mutes and subscriptions), `data` (data messages),
//! `media` (routes and media feedback), `push` (CDN pushes: permission, names, state
//! reports), `inject` (streams and files published into a channel: the same), `relay` (a
//! host's tracks relayed into other channels: the same), `session` (one session's state).

mod admission;
mod data;
mod inject;
mod links;
mod media;
mod moderation;
mod push;
mod relay;
mod roster;
mod session;
mod tracks;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::error::{Error, ErrorCode};
use crate::id::{ChannelId, SessionId, UserId};
use crate::media::Kind;
use crate::rate::Limited;
use crate::token;
use crate::track::TrackId;
use crate::wire::{self, ClientFrame, DataLimits, Event, Hello, LeaveReason, Participant, Profile};
use crate::wire::{Request, ServerFrame};

use media::Downgrade;
pub use media::{
    CONGESTION_WINDOW_MS, KEYFRAME_INTERVAL_MS, PROBE_AFTER_MS, PROBE_MAX_MS, PROBE_WINDOW_MS,
};
use roster::Channel;
use session::{Choice, MAX_SUBSCRIPTIONS, Session};

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
    /// Longest token lifetime accepted (from now to `exp`), if limited.
    pub max_token_secs: Option<u64>,
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
            max_token_secs: None,
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
    /// Start, change or stop a CDN push (already checked: the requester may push, the name
    /// is free or running as the request needs, every field is valid). The glue reports each
    /// URL's state through [`Server::push_state`].
    Push {
        /// The channel pushed.
        channel: ChannelId,
        /// Who asked (a stop may come from the core itself when the requester left).
        by: UserId,
        /// What to do.
        request: crate::push::Request,
    },
    /// Start, change or stop an inject (already checked like a push). The glue reports its
    /// state through [`Server::inject_state`].
    Inject {
        /// The channel injected into.
        channel: ChannelId,
        /// Who asked (a stop may come from the core itself when the requester left).
        by: UserId,
        /// What to do.
        request: crate::inject::Request,
    },
    /// Start, change, pause, resume or stop a host's relay into other channels (already
    /// checked: the host may relay, the destinations are valid and within the cap). The glue
    /// reports each destination's state through [`Server::relay_state`].
    Relay {
        /// The relaying host's channel.
        channel: ChannelId,
        /// The relaying host (a stop may come from the core itself when it left the stage).
        by: UserId,
        /// What to do.
        request: crate::relay::Request,
    },
}

/// Where one publisher track's media of one kind goes.
#[derive(Clone, Debug)]
pub struct Route {
    /// The publisher's media id, to stamp on the packet.
    pub media_id: u64,
    /// The subscribers' connections.
    pub to: Arc<[ConnId]>,
}

/// How often expired bans are forgotten.
const BAN_PRUNE_INTERVAL_MS: u64 = 10_000;

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
    /// Media routes, cached until a control change that can alter them.
    routes: HashMap<(SessionId, TrackId, Kind), Route>,
    /// Subscribers the server moved to a low layer: (subscriber, publisher media id, track).
    downgrades: BTreeMap<(SessionId, u64, TrackId), Downgrade>,
    /// Sessions whose backlog overflowed in this step; they end when it is over.
    overflowed: Vec<SessionId>,
    /// Sessions that had a request applied in this step and are owed an ack.
    acks_due: Vec<SessionId>,
    /// Channels whose audience count changed since the hosts were last told.
    counts_due: BTreeSet<ChannelId>,
    /// Kicked users, refused at join until the time given (seconds since the Unix epoch).
    bans: HashMap<(ChannelId, UserId), u64>,
    bans_pruned_at: u64,
    /// When the members were last told the paths ([`links`]).
    links_sent_at: u64,
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
            downgrades: BTreeMap::new(),
            overflowed: Vec::new(),
            acks_due: Vec::new(),
            counts_due: BTreeSet::new(),
            bans: HashMap::new(),
            bans_pruned_at: 0,
            links_sent_at: 0,
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

    /// Number of connections the server tracks (joined or not yet).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Events queued for sessions and not yet acknowledged, over all sessions (a measure of
    /// the memory that slow clients hold).
    pub fn backlog_len(&self) -> usize {
        self.sessions.values().map(|s| s.backlog.len()).sum()
    }

    /// The participants of a channel, in user id order.
    pub fn participants(&self, channel: &str) -> Vec<Participant> {
        let Some(ch) = self.channels.get(channel) else {
            return Vec::new();
        };
        ch.members
            .values()
            .filter_map(|sid| self.sessions.get(sid))
            .map(Session::participant)
            .collect()
    }

    /// Handles what happened on a connection.
    pub fn handle_input(&mut self, conn: ConnId, input: Input, now_ms: u64) {
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
        self.finish_step();
    }

    /// Runs timers: resume windows, token expiry warnings and expiry, audience counts.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let now_unix = now_ms / 1000;
        let mut offline = Vec::new();
        let mut expired = Vec::new();
        let mut warn = Vec::new();
        for (&sid, s) in &self.sessions {
            if s.lost_at
                .is_some_and(|t| now_ms >= t.saturating_add(self.config.resume_ms))
            {
                offline.push(sid);
            } else if token::expired(s.claims.exp, now_unix) {
                expired.push(sid);
            } else if !s.warned
                && s.claims.exp <= now_unix.saturating_add(self.config.expiry_warning_secs)
            {
                warn.push((sid, s.claims.exp.saturating_sub(now_unix)));
            }
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
        self.send_audience_counts(now_ms);
        self.send_links(now_ms);
        self.probe_up(now_ms);
        if now_ms >= self.bans_pruned_at + BAN_PRUNE_INTERVAL_MS {
            self.bans_pruned_at = now_ms;
            self.prune_bans(now_ms);
        }
        self.finish_step();
    }

    /// The next thing the glue must do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Ends what this step doomed (sessions that fell too far behind, which may doom others
    /// as their departure is announced) and acknowledges the requests applied.
    fn finish_step(&mut self) {
        while let Some(sid) = self.overflowed.pop() {
            let backlog = self.sessions.get(&sid).map_or(0, |s| s.backlog.len());
            let msg = format!("{backlog} events unacknowledged; the client is not keeping up");
            let error = Error::new(ErrorCode::Overloaded, msg);
            self.end_session(sid, LeaveReason::Dropped, Some(error));
        }
        for sid in std::mem::take(&mut self.acks_due) {
            let Some(s) = self.sessions.get_mut(&sid) else {
                continue;
            };
            if std::mem::take(&mut s.ack_due)
                && let Some(conn) = s.conn
            {
                let upto = s.applied;
                self.send(conn, ServerFrame::Ack { upto });
            }
        }
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
            self.routes.clear();
        }
    }

    fn host_count(&self, channel: &str) -> usize {
        self.channels.get(channel).map_or(0, |ch| ch.hosts.len())
    }

    fn session_of(&self, channel: &str, user: &str) -> Option<SessionId> {
        self.channels.get(channel)?.members.get(user).copied()
    }

    /// Queues an event for a session (kept until acknowledged) and sends it if connected. A
    /// session whose backlog is full gets nothing more and ends when the step is over.
    fn emit(&mut self, sid: SessionId, event: Event) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if s.overflowed {
            return;
        }
        if s.backlog.len() >= self.config.max_backlog {
            s.overflowed = true;
            self.overflowed.push(sid);
            return;
        }
        s.last_event += 1;
        let seq = s.last_event;
        s.backlog.push_back((seq, event.clone()));
        if let Some(conn) = s.conn {
            self.send(conn, ServerFrame::Event { seq, event });
        }
    }

    /// Removes a session: says goodbye if it is connected and tells the channel.
    fn end_session(&mut self, sid: SessionId, reason: LeaveReason, goodbye: Option<Error>) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let about = s.participant();
        let channel = s.channel.clone();
        let conn = s.conn;
        self.stop_jobs_of(sid, reason);
        if let Some(conn) = conn {
            if let Some(error) = goodbye {
                self.send(conn, ServerFrame::Goodbye(error));
            }
            self.outputs.push_back(Output::Close { conn });
            self.conns.remove(&conn);
        }
        // Announce while the session is still a member, then remove it.
        let left = Event::PeerLeft {
            user: about.user.clone(),
            reason,
        };
        self.announce(sid, &left, &about);
        self.sessions.remove(&sid);
        self.routes.clear();
        self.forget_downgrades(Some(sid), None);
        self.forget_downgrades(None, Some(sid.0));
        if let Some(ch) = self.channels.get_mut(&channel) {
            for index in [&mut ch.members, &mut ch.hosts, &mut ch.hands] {
                if index.get(&about.user) == Some(&sid) {
                    index.remove(&about.user);
                }
            }
            // A session replaced by the same user's new one keeps the channel (its relays,
            // pushes, restrictions) for the newcomer, who joins it in this very step.
            if ch.members.is_empty() && reason != LeaveReason::Replaced {
                self.channels.remove(&channel);
            } else {
                self.counts_due.insert(channel);
            }
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
            ClientFrame::Link {
                uplink_loss_percent,
            } => self.link_reported(sid, uplink_loss_percent, now_ms),
            ClientFrame::Request { seq, request } => {
                if !s.ack_due {
                    s.ack_due = true;
                    self.acks_due.push(sid);
                }
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
                    let refused = Event::Refused {
                        request: seq,
                        error,
                    };
                    self.emit(sid, refused);
                }
            }
        }
    }

    /// Charges a request of `kind` to the sender's limit for it.
    fn charge(&mut self, sid: SessionId, kind: Limited, now_ms: u64) -> Result<(), Error> {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Ok(());
        };
        if s.requests.try_take(kind, now_ms) {
            return Ok(());
        }
        let (per_sec, burst) = kind.limit();
        let msg = format!(
            "more than {per_sec} {kind:?} requests per second (bursts of {burst}); slow down"
        );
        Err(Error::new(ErrorCode::RateLimited, msg))
    }

    fn apply(&mut self, sid: SessionId, request: Request, now_ms: u64) -> Result<(), Error> {
        match request {
            Request::Leave => {
                // Acknowledge before the session (and its ack flag) is gone.
                if let Some(s) = self.sessions.get(&sid)
                    && let Some(conn) = s.conn
                {
                    let upto = s.applied;
                    self.send(conn, ServerFrame::Ack { upto });
                }
                self.end_session(sid, LeaveReason::Left, None);
                Ok(())
            }
            Request::SetRole(role) => {
                self.charge(sid, Limited::Role, now_ms)?;
                let user = self.user_of(sid);
                self.set_role(sid, role, &user)
            }
            Request::Data { to, payload } => self.forward_data(sid, to, payload, now_ms),
            Request::Moderate(action) => {
                self.charge(sid, Limited::Moderate, now_ms)?;
                self.moderate(sid, action, now_ms)
            }
            Request::RaiseHand(raised) => self.raise_hand(sid, raised, now_ms),
            Request::Push(request) => {
                self.charge(sid, Limited::Push, now_ms)?;
                self.push(sid, *request)
            }
            Request::Inject(request) => {
                self.charge(sid, Limited::Push, now_ms)?;
                self.inject(sid, *request)
            }
            Request::Relay(request) => {
                self.charge(sid, Limited::Push, now_ms)?;
                self.relay(sid, *request)
            }
            Request::RenewToken(jwt) => {
                self.charge(sid, Limited::Renew, now_ms)?;
                self.renew(sid, &jwt, now_ms)
            }
            Request::Subscribe {
                user,
                track,
                audio,
                video,
            } => {
                self.charge(sid, Limited::Subscribe, now_ms)?;
                self.subscribe(sid, user, track, Choice { audio, video }, now_ms)
            }
            Request::Publish(track) => {
                self.charge(sid, Limited::Track, now_ms)?;
                self.publish(sid, track, now_ms)
            }
            Request::Unpublish(id) => {
                self.charge(sid, Limited::Track, now_ms)?;
                self.unpublish(sid, id)
            }
            Request::RequestKeyframe {
                media_id,
                track,
                layer,
            } => {
                self.charge(sid, Limited::Hint, now_ms)?;
                // A hint: the publisher may have just left, so an unknown id is not an error.
                let publisher = SessionId(media_id);
                if self.same_channel(sid, publisher) {
                    self.ask_keyframe(publisher, track, layer, now_ms);
                }
                Ok(())
            }
        }
    }

    fn user_of(&self, sid: SessionId) -> UserId {
        self.sessions
            .get(&sid)
            .map(|s| s.user().to_owned())
            .unwrap_or_default()
    }

    fn same_channel(&self, a: SessionId, b: SessionId) -> bool {
        match (self.sessions.get(&a), self.sessions.get(&b)) {
            (Some(a), Some(b)) => a.channel == b.channel,
            _ => false,
        }
    }
}
