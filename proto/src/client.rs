//! The client's sans-IO session: join, the roster, reliable requests that survive a reconnect,
//! and data pacing under the server's limits.
//!
//! Run loop (the glue does the I/O):
//! 1. on a new connection send [`Session::hello`], then call [`Session::handle_frame`] for every
//!    frame that arrives and [`Session::handle_timeout`] whenever [`Session::poll_timeout`] says;
//! 2. send every frame from [`Session::poll_transmit`];
//! 3. report every [`Notice`] from [`Session::poll_notice`];
//! 4. when the connection is lost call [`Session::handle_lost`] and, on a new connection, start
//!    again at 1: the session resumes and nothing sent or received is lost or repeated.
//!
//! Tracks: [`Session::publish`] keeps a track published whenever this client is a host (again
//! after being promoted, or after a resume the server did not keep); the glue sends a track's
//! media only while [`Session::may_send`] says the server has it, so the first packets of a
//! new track do not race its announcement.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::error::{Error, ErrorCode};
use crate::id::{SessionId, UserId};
use crate::rate::DataRate;
use crate::track::{self, Track, TrackId};
use crate::wire::{
    self, ClientFrame, Event, Hello, Intent, Participant, PeerLink, Profile, Request, Role,
    RosterPage, ServerFrame, Welcome,
};

/// Most requests sent and not yet acknowledged. A stalled path therefore holds back at most
/// this many, so when it recovers the server never sees more than this in one burst (well under
/// its rate limit's allowance), and paced data stays paced on arrival.
pub const MAX_IN_FLIGHT: usize = 32;

/// What the front end should know.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// The session is live; `resumed` is true after a reconnect.
    Welcomed {
        /// Whether this continued an earlier connection's session.
        resumed: bool,
    },
    /// Who this client sees changed. A participant that came into view or changed is told
    /// before the [`Notice::Event`] that caused it and one that is gone after it, so a front
    /// end that mirrors the roster has the participant whenever it reports the event.
    Roster(RosterChange),
    /// An event from the server, each exactly once and in order.
    Event(Event),
    /// The paths to the server, once a second: this client's own first (as the server
    /// measures its downlink), then the hosts it sees (see [`ServerFrame::Links`]).
    Links(Vec<PeerLink>),
    /// The session is over.
    Ended(Error),
}

/// What the glue does with media of a track ([`Session::gate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Send it.
    Send,
    /// Hold it briefly: the track was announced and the server has not confirmed it yet (its
    /// first frames, with the keyframe a viewer starts from, go out once it does).
    Wait,
    /// Drop it: a moderator muted the track (nobody would receive it), or this client
    /// unpublished it (the last frames of a stopping source).
    Drop,
}

/// A change to the participants this client sees ([`Session::roster`]). Front ends mirror
/// the roster from these instead of interpreting events themselves.
#[derive(Clone, Debug, PartialEq)]
pub enum RosterChange {
    /// The whole roster, replacing what was known (after this client's role changed).
    Replace(Vec<Participant>),
    /// A participant came into view or changed (role, mutes, hand). It may be this client
    /// itself ([`Session::me`]).
    Upsert(Participant),
    /// A participant left the channel or this client's view.
    Gone(UserId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for a Welcome on the current connection.
    Handshake,
    /// Live on the current connection.
    Live,
    /// No connection; requests queue up for the resume.
    Lost,
    /// Over.
    Ended,
}

struct Resume {
    session: SessionId,
    key: u64,
}

/// One channel membership as the client sees it.
pub struct Session {
    channel: String,
    token: String,
    role_wanted: Role,
    state: State,
    resume: Option<Resume>,
    me: Option<Participant>,
    profile: Profile,
    roster: BTreeMap<UserId, Participant>,
    /// The tracks this client publishes, announced whenever it is a host.
    local: BTreeMap<TrackId, Track>,
    /// Tracks this client unpublished (and has not published again): their media still on its
    /// way from a stopping source is dropped, not refused by the server.
    unpublished: BTreeSet<TrackId>,
    /// Roster pages received while more are to come.
    incoming: Option<Vec<Participant>>,
    /// The welcome waits for the last roster page: `Some(resumed)` until then.
    welcome_due: Option<bool>,
    audience: u32,
    token_expires: u64,
    /// Requests not yet numbered, held back by pacing (in order).
    queued: VecDeque<Request>,
    /// Numbered requests the server has not acknowledged.
    unacked: VecDeque<(u64, Request)>,
    /// After a resume: how many of the oldest `unacked` still have to be sent again (paced).
    resend: usize,
    next_request: u64,
    received: u64,
    ack_due: bool,
    pace: bool,
    pacing: Option<DataRate>,
    transmit: VecDeque<ClientFrame>,
    notices: VecDeque<Notice>,
}

impl Session {
    /// A session that will join `channel` with `token`, asking for `role`.
    pub fn new(channel: &str, token: &str, role: Role) -> Self {
        Self {
            channel: channel.to_owned(),
            token: token.to_owned(),
            role_wanted: role,
            state: State::Handshake,
            resume: None,
            me: None,
            profile: Profile::default(),
            roster: BTreeMap::new(),
            local: BTreeMap::new(),
            unpublished: BTreeSet::new(),
            incoming: None,
            welcome_due: None,
            audience: 0,
            token_expires: 0,
            queued: VecDeque::new(),
            unacked: VecDeque::new(),
            resend: 0,
            next_request: 1,
            received: 0,
            ack_due: false,
            pace: true,
            pacing: None,
            transmit: VecDeque::new(),
            notices: VecDeque::new(),
        }
    }

    /// Turns off client-side pacing, so the server's rate limit answers instead (for tests).
    pub fn without_pacing(mut self) -> Self {
        self.pace = false;
        self.pacing = None;
        self
    }

    /// The channel name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// This client as the channel sees it, once welcomed.
    pub fn me(&self) -> Option<&Participant> {
        self.me.as_ref()
    }

    /// The channel's profile, once welcomed.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The other participants this client can see: the hosts, and for a host also the audience
    /// members with a raised hand.
    pub fn roster(&self) -> impl Iterator<Item = &Participant> {
        self.roster.values()
    }

    /// How many of the channel's members are audience (kept current for hosts; the audience
    /// learns it when welcomed).
    pub fn audience(&self) -> u32 {
        self.audience
    }

    /// Token expiry, seconds since the Unix epoch (0 before the welcome).
    pub fn token_expires(&self) -> u64 {
        self.token_expires
    }

    /// Whether the session has ended.
    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Whether the server has welcomed (or resumed) the session on the current connection.
    pub fn is_live(&self) -> bool {
        self.state == State::Live
    }

    /// Whether the session was ever welcomed (so a new connection resumes it).
    pub fn is_established(&self) -> bool {
        self.resume.is_some()
    }

    /// Requests sent or queued that the server has not acknowledged yet.
    pub fn pending(&self) -> usize {
        self.queued.len() + self.unacked.len()
    }

    /// Publishes `track` (or changes the published track with its id), and again whenever
    /// this client becomes a host. Once welcomed the request goes out at once whatever the
    /// role, so an audience member learns why nothing is sent (an [`Event::Refused`] with
    /// [`ErrorCode::NotPermitted`]) and is published the moment it is promoted.
    ///
    /// # Errors
    ///
    /// A track that [`Track::validate`] refuses, or one over the per-kind cap.
    pub fn publish(&mut self, track: Track, now_ms: u64) -> Result<(), Error> {
        track.validate()?;
        track::check_caps(self.local.values(), &track)?;
        if self.state == State::Ended {
            return Err(Error::new(
                ErrorCode::ProtocolError,
                "the session has ended",
            ));
        }
        self.unpublished.remove(&track.id);
        self.local.insert(track.id, track.clone());
        if self.me.is_some() {
            self.send(Request::Publish(track), now_ms)?;
        }
        Ok(())
    }

    /// Stops publishing track `id` (nothing happens when it is not one of this client's).
    pub fn unpublish(&mut self, id: TrackId, now_ms: u64) -> Result<(), Error> {
        if self.local.remove(&id).is_none() {
            return Ok(());
        }
        self.unpublished.insert(id);
        self.send(Request::Unpublish(id), now_ms)
    }

    /// The tracks this client publishes (or will, once a host).
    pub fn local_tracks(&self) -> impl Iterator<Item = &Track> {
        self.local.values()
    }

    /// Whether media of `track` may be sent now: for a track of this client's, once the server
    /// has it published and unmuted; other track ids are the caller's business (the server
    /// refuses what is not published).
    pub fn may_send(&self, track: TrackId) -> bool {
        self.gate(track) == Gate::Send
    }

    /// What to do with media of `track` now (see [`Gate`]).
    pub fn gate(&self, track: TrackId) -> Gate {
        if !self.local.contains_key(&track) {
            return if self.unpublished.contains(&track) {
                Gate::Drop
            } else {
                Gate::Send
            };
        }
        match self.me.as_ref().and_then(|m| m.track(track)) {
            Some(t) if t.muted => Gate::Drop,
            Some(_) if self.state == State::Live => Gate::Send,
            _ => Gate::Wait,
        }
    }

    /// Asks again for the local tracks the server does not have, when this client is a host:
    /// after a welcome (a fresh session has none) and after being promoted.
    fn republish(&mut self, now_ms: u64) {
        let Some(me) = self.me.as_ref().filter(|m| m.role == Role::Host) else {
            return;
        };
        let pending = |id: TrackId, r: &Request| matches!(r, Request::Publish(t) if t.id == id);
        let missing: Vec<Track> = self
            .local
            .values()
            .filter(|t| me.track(t.id).is_none())
            .filter(|t| {
                !self.queued.iter().any(|r| pending(t.id, r))
                    && !self.unacked.iter().any(|(_, r)| pending(t.id, r))
            })
            .cloned()
            .collect();
        for track in missing {
            self.queued.push_back(Request::Publish(track));
        }
        self.release(now_ms);
    }

    /// The first frame to send on a new connection.
    pub fn hello(&mut self) -> Hello {
        self.state = State::Handshake;
        self.transmit.clear();
        let intent = match &self.resume {
            Some(r) => Intent::Resume {
                session: r.session,
                key: r.key,
                received: self.received,
            },
            None => Intent::Join {
                channel: self.channel.clone(),
                token: self.token.clone(),
                role: self.role_wanted,
            },
        };
        Hello {
            version: wire::VERSION,
            intent,
        }
    }

    /// Queues a request. Data over the size limit is refused here, before it is sent. Data
    /// messages and [`Request::RaiseHand`] are paced under the server's rate limit (unless
    /// [`Session::without_pacing`]).
    pub fn send(&mut self, request: Request, now_ms: u64) -> Result<(), Error> {
        if self.state == State::Ended {
            return Err(Error::new(
                ErrorCode::ProtocolError,
                "the session has ended",
            ));
        }
        if let Request::Data { payload, .. } = &request
            && payload.len() > wire::MAX_DATA
        {
            let msg = format!(
                "data message of {} bytes exceeds the {}-byte limit",
                payload.len(),
                wire::MAX_DATA
            );
            return Err(Error::new(ErrorCode::MessageTooLarge, msg));
        }
        if let Request::RenewToken(token) = &request {
            self.token = token.clone();
        }
        self.queued.push_back(request);
        self.release(now_ms);
        Ok(())
    }

    /// Sends requests as pacing allows, in order: first those to be resent after a resume, then
    /// new ones (numbered here). Nothing moves without a live connection, so pacing holds on the
    /// wire: a burst built up during an outage would otherwise trip the server's limit.
    fn release(&mut self, now_ms: u64) {
        while self.state == State::Live {
            let Some(request) = self.next_waiting() else {
                break;
            };
            let data_len = paced_len(request);
            if let (Some(len), Some(pacing)) = (data_len, self.pacing.as_mut())
                && !pacing.try_take(len, now_ms)
            {
                break;
            }
            let resending = self.resend > 0;
            if resending {
                let (seq, request) = &self.unacked[self.unacked.len() - self.resend];
                self.transmit.push_back(ClientFrame::Request {
                    seq: *seq,
                    request: request.clone(),
                });
                self.resend -= 1;
            } else {
                let request = self.queued.pop_front().expect("front exists");
                let seq = self.next_request;
                self.next_request += 1;
                self.transmit.push_back(ClientFrame::Request {
                    seq,
                    request: request.clone(),
                });
                self.unacked.push_back((seq, request));
            }
        }
    }

    /// The next request waiting to be sent, if the window allows one.
    fn next_waiting(&self) -> Option<&Request> {
        if self.resend > 0 {
            self.unacked
                .get(self.unacked.len() - self.resend)
                .map(|(_, r)| r)
        } else if self.unacked.len() >= MAX_IN_FLIGHT {
            None // Wait for acks.
        } else {
            self.queued.front()
        }
    }

    /// When [`Session::handle_timeout`] should next be called, if anything waits on time.
    pub fn poll_timeout(&mut self, now_ms: u64) -> Option<u64> {
        if self.state != State::Live {
            return None;
        }
        let Some(data_len) = paced_len(self.next_waiting()?) else {
            return Some(now_ms);
        };
        let wait = self
            .pacing
            .as_mut()
            .map_or(0, |p| p.wait_ms(data_len, now_ms));
        Some(now_ms + wait.max(1))
    }

    /// Releases paced requests whose time has come.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.release(now_ms);
    }

    /// The connection is gone; keep everything for the resume.
    pub fn handle_lost(&mut self) {
        if self.state != State::Ended {
            self.state = State::Lost;
            self.transmit.clear();
        }
    }

    /// Ends the session locally (e.g. the server stayed unreachable).
    pub fn handle_failed(&mut self, error: Error) {
        if self.state != State::Ended {
            self.state = State::Ended;
            self.notices.push_back(Notice::Ended(error));
        }
    }

    /// Handles a frame from the server.
    pub fn handle_frame(&mut self, frame: ServerFrame, now_ms: u64) -> Result<(), Error> {
        match frame {
            ServerFrame::Welcome(welcome) => self.handle_welcome(*welcome, now_ms)?,
            ServerFrame::Event { seq, event } => {
                if self.state != State::Live {
                    return Err(Error::new(ErrorCode::ProtocolError, "event before welcome"));
                }
                if seq <= self.received {
                    return Ok(()); // Replayed after a resume; already delivered.
                }
                if seq != self.received + 1 {
                    let msg = format!(
                        "event {seq} after {}: the server skipped one",
                        self.received
                    );
                    return Err(Error::new(ErrorCode::ProtocolError, msg));
                }
                self.received = seq;
                self.ack_due = true;
                let promoted = matches!(&event, Event::RoleChanged { participant, .. }
                    if participant.role == Role::Host
                        && self.me.as_ref().is_some_and(|m| m.user == participant.user));
                match self.apply(&event) {
                    Some(gone @ RosterChange::Gone(_)) => {
                        self.notices.push_back(Notice::Event(event));
                        self.notices.push_back(Notice::Roster(gone));
                    }
                    change => {
                        self.notices.extend(change.map(Notice::Roster));
                        self.notices.push_back(Notice::Event(event));
                    }
                }
                if promoted {
                    self.republish(now_ms);
                }
            }
            ServerFrame::Ack { upto } => {
                while self.unacked.front().is_some_and(|(seq, _)| *seq <= upto) {
                    self.unacked.pop_front();
                }
                self.release(now_ms);
            }
            ServerFrame::Roster(page) => {
                if self.state != State::Live {
                    return Err(Error::new(
                        ErrorCode::ProtocolError,
                        "roster before welcome",
                    ));
                }
                self.handle_roster_page(page)?;
            }
            ServerFrame::Goodbye(error) => {
                self.state = State::Ended;
                self.notices.push_back(Notice::Ended(error));
            }
            ServerFrame::Links(links) => {
                if self.state == State::Live {
                    self.notices.push_back(Notice::Links(links));
                }
            }
        }
        Ok(())
    }

    /// Tells the server this client's uplink loss (call about once a second while live; the
    /// server passes it on to the members who see this client).
    pub fn report_link(&mut self, uplink_loss_percent: u8) {
        if self.state == State::Live {
            self.transmit.push_back(ClientFrame::Link {
                uplink_loss_percent,
            });
        }
    }

    fn handle_welcome(&mut self, w: Welcome, now_ms: u64) -> Result<(), Error> {
        if self.state != State::Handshake {
            return Err(Error::new(ErrorCode::ProtocolError, "unexpected welcome"));
        }
        let resumed = self.resume.is_some();
        self.resume = Some(Resume {
            session: w.session,
            key: w.key,
        });
        self.state = State::Live;
        self.profile = w.profile;
        self.token_expires = w.token_expires;
        if self.pace && self.pacing.is_none() {
            self.pacing = Some(DataRate::pace(w.limits, now_ms));
        }
        self.me = Some(w.you);
        self.audience = w.audience;
        self.welcome_due = Some(resumed);
        self.incoming = None;
        // Requests the server applied before the connection broke are done; resend the rest.
        self.unacked.retain(|(seq, _)| *seq > w.received);
        self.resend = self.unacked.len();
        self.handle_roster_page(w.roster)?;
        self.release(now_ms);
        self.republish(now_ms);
        Ok(())
    }

    /// Collects roster pages; the last one replaces the roster (and completes a welcome).
    fn handle_roster_page(&mut self, page: RosterPage) -> Result<(), Error> {
        if page.peers.len() > wire::ROSTER_PAGE {
            let msg = format!("a roster page of {} participants", page.peers.len());
            return Err(Error::new(ErrorCode::ProtocolError, msg));
        }
        let mut peers = match (page.start, self.incoming.take()) {
            (true, _) => Vec::new(),
            (false, Some(peers)) => peers,
            (false, None) => {
                return Err(Error::new(
                    ErrorCode::ProtocolError,
                    "a roster page continues no roster",
                ));
            }
        };
        peers.extend(page.peers);
        if page.more {
            self.incoming = Some(peers);
            return Ok(());
        }
        self.roster = peers.iter().map(|p| (p.user.clone(), p.clone())).collect();
        match self.welcome_due.take() {
            Some(resumed) => self.notices.push_back(Notice::Welcomed { resumed }),
            None => self
                .notices
                .push_back(Notice::Roster(RosterChange::Replace(peers))),
        }
        Ok(())
    }

    /// Whether this client sees `p`: everyone sees a host, a host sees a raised hand.
    fn sees(&self, p: &Participant) -> bool {
        let i_am_host = self.me.as_ref().is_some_and(|m| m.role == Role::Host);
        p.role == Role::Host || (i_am_host && p.hand_raised)
    }

    /// Puts `p` in the roster or takes it out, as this client may see it.
    fn place(&mut self, p: &Participant) -> Option<RosterChange> {
        if self.me.as_ref().is_some_and(|m| m.user == p.user) {
            self.me = Some(p.clone());
            return Some(RosterChange::Upsert(p.clone()));
        }
        if self.sees(p) {
            self.roster.insert(p.user.clone(), p.clone());
            Some(RosterChange::Upsert(p.clone()))
        } else {
            self.roster
                .remove(&p.user)
                .map(|_| RosterChange::Gone(p.user.clone()))
        }
    }

    /// This client or a participant it sees, by user id.
    fn participant(&self, user: &str) -> Option<Participant> {
        let me = self.me.as_ref().filter(|m| m.user == user);
        me.or_else(|| self.roster.get(user)).cloned()
    }

    /// Keeps the roster and this client's own state in step with events.
    fn apply(&mut self, event: &Event) -> Option<RosterChange> {
        match event {
            Event::PeerJoined(p)
            | Event::RoleChanged { participant: p, .. }
            | Event::HandChanged { participant: p } => self.place(p),
            Event::PeerLeft { user, .. } => self
                .roster
                .remove(user)
                .map(|_| RosterChange::Gone(user.clone())),
            Event::MuteChanged { user, audio, video } => {
                let mut p = self.participant(user)?;
                p.audio_muted = *audio;
                p.video_muted = *video;
                self.place(&p)
            }
            Event::TrackPublished { user, track } => {
                let mut p = self.participant(user)?;
                match p.tracks.iter_mut().find(|t| t.id == track.id) {
                    Some(t) => *t = track.clone(),
                    None => p.tracks.push(track.clone()),
                }
                self.place(&p)
            }
            Event::TrackUnpublished { user, track } => {
                let mut p = self.participant(user)?;
                p.tracks.retain(|t| t.id != *track);
                self.place(&p)
            }
            Event::Audience { count } => {
                self.audience = *count;
                None
            }
            Event::TokenRenewed { expires } => {
                self.token_expires = *expires;
                None
            }
            Event::HearingChanged { .. }
            | Event::KeyframeRequest { .. }
            | Event::LayerChanged { .. }
            | Event::Data { .. }
            | Event::Refused { .. }
            | Event::TokenExpiring { .. }
            | Event::Push { .. }
            | Event::Inject { .. }
            | Event::Relay { .. } => None,
        }
    }

    /// The next frame to send, if any.
    pub fn poll_transmit(&mut self) -> Option<ClientFrame> {
        if let Some(frame) = self.transmit.pop_front() {
            return Some(frame);
        }
        if self.ack_due && self.state == State::Live {
            self.ack_due = false;
            return Some(ClientFrame::Ack {
                upto: self.received,
            });
        }
        None
    }

    /// The next notice for the front end, if any.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }
}

/// The length a request counts for against the server's data rate limit, or `None` when it
/// is not limited. A raised or lowered hand counts as a message of zero bytes.
fn paced_len(request: &Request) -> Option<usize> {
    match request {
        Request::Data { payload, .. } => Some(payload.len()),
        Request::RaiseHand(_) => Some(0),
        _ => None,
    }
}
