//! Who gets in and stays in: hello, join (tokens, bans, the host cap), resume and token
//! renewal.

use std::collections::{BTreeMap, HashMap, VecDeque};

use rand::RngCore;

use crate::error::{Error, ErrorCode};
use crate::id::{self, SessionId};
use crate::rate::{DataRate, RequestRate};
use crate::token::{self, Claims, Expect, LEEWAY_SECS};
use crate::wire::{self, Event, Hello, Intent, LeaveReason, Profile, Role, ServerFrame, Welcome};

use super::roster::Channel;
use super::session::Session;
use super::{ConnId, Output, Server};

/// Most bans the server keeps; expired ones are pruned first.
pub(super) const MAX_BANS: usize = 100_000;

impl Server {
    pub(super) fn handle_hello(&mut self, conn: ConnId, hello: Hello, now_ms: u64) {
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

    /// Verifies a token for `channel` (and `user`, on renewal) under the server's policy.
    fn verify(
        &self,
        jwt: &str,
        channel: &str,
        user: Option<&str>,
        now_ms: u64,
    ) -> Result<Claims, Error> {
        let expect = Expect {
            app: &self.config.app,
            channel,
            user,
        };
        let now_unix = now_ms / 1000;
        let claims = token::verify(jwt, &self.config.secret, expect, now_unix)?;
        if let Some(max) = self.config.max_token_secs {
            let lifetime = claims.exp.saturating_sub(now_unix);
            if lifetime > max.saturating_add(LEEWAY_SECS) {
                let msg = format!(
                    "token is valid for another {lifetime} s; this server accepts at most {max} s"
                );
                return Err(Error::new(ErrorCode::TokenInvalid, msg));
            }
        }
        Ok(claims)
    }

    fn join(&mut self, conn: ConnId, channel: &str, jwt: &str, wanted: Role, now_ms: u64) {
        if let Err(e) = id::validate("channel", channel) {
            return self.refuse(conn, e);
        }
        let claims = match self.verify(jwt, channel, None, now_ms) {
            Ok(claims) => claims,
            Err(e) => return self.refuse(conn, e),
        };
        let user = claims.sub.clone();
        if let Some(&until) = self.bans.get(&(channel.to_owned(), user.clone()))
            && now_ms / 1000 < until
        {
            let msg = format!(
                "{user} was removed from {channel} by a moderator and may not rejoin for {} s",
                until - now_ms / 1000
            );
            return self.refuse(conn, Error::new(ErrorCode::Kicked, msg));
        }
        let profile = self
            .config
            .profiles
            .get(channel)
            .copied()
            .unwrap_or(self.config.profile);
        if let Some(old) = self.session_of(channel, &user) {
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
            requests: RequestRate::new(now_ms),
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
            overflowed: false,
            applied: 0,
            ack_due: false,
            data_seq: 0,
            warned: false,
            tracks: BTreeMap::new(),
            subscriptions: HashMap::new(),
            keyframe_asked: HashMap::new(),
            media_refused_at: None,
            low_layer_at: HashMap::new(),
            path: Default::default(),
            congested_at: HashMap::new(),
        };
        let participant = session.participant();
        self.sessions.insert(sid, session);
        self.conns.insert(conn, Some(sid));
        self.channels
            .entry(channel.to_owned())
            .or_insert_with(|| Channel::new(profile))
            .members
            .insert(user, sid);
        self.reindex(sid);
        self.routes.clear();

        self.send_welcome(sid, conn);
        if let Some(hears) = restriction.hears {
            let hears = Some(hears.into_iter().collect());
            self.emit(sid, Event::HearingChanged { hears });
        }
        self.announce(sid, &Event::PeerJoined(participant.clone()), &participant);
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
        self.routes.clear();
        self.send_welcome(sid, conn);
        for (seq, event) in replay {
            self.send(conn, ServerFrame::Event { seq, event });
        }
    }

    /// The welcome with the first roster page, then the other pages.
    fn send_welcome(&mut self, sid: SessionId, conn: ConnId) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let Some(ch) = self.channels.get(&s.channel) else {
            return;
        };
        let mut pages = self.roster_pages(sid).into_iter();
        let welcome = Welcome {
            session: sid,
            key: s.key,
            channel: s.channel.clone(),
            profile: ch.profile,
            you: s.participant(),
            roster: pages.next().unwrap_or_default(),
            audience: ch.audience(),
            received: s.applied,
            token_expires: s.claims.exp,
            limits: self.config.limits,
            resume_secs: self.config.resume_ms / 1000,
        };
        self.send(conn, ServerFrame::Welcome(Box::new(welcome)));
        self.send_rest_of_roster(conn, pages.collect());
    }

    pub(super) fn renew(&mut self, sid: SessionId, jwt: &str, now_ms: u64) -> Result<(), Error> {
        let Some(s) = self.sessions.get(&sid) else {
            return Ok(());
        };
        let claims = self.verify(jwt, &s.channel, Some(s.user()), now_ms)?;
        let user = claims.sub.clone();
        let expires = claims.exp;
        let demote = s.is_host() && !claims.may_host();
        if let Some(s) = self.sessions.get_mut(&sid) {
            s.claims = claims;
            s.warned = false;
        }
        self.routes.clear();
        self.emit(sid, Event::TokenRenewed { expires });
        if demote {
            self.set_role(sid, Role::Audience, &user)?;
        }
        Ok(())
    }

    /// Keeps `user` out of `channel` until `until` (seconds since the Unix epoch).
    pub(super) fn ban(&mut self, channel: &str, user: &str, until: u64, now_ms: u64) {
        if self.bans.len() >= MAX_BANS {
            self.prune_bans(now_ms);
        }
        if self.bans.len() >= MAX_BANS {
            // Full of live bans: the one ending soonest makes room.
            let soonest = self
                .bans
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(key, _)| key.clone());
            if let Some(key) = soonest {
                self.bans.remove(&key);
            }
        }
        self.bans
            .insert((channel.to_owned(), user.to_owned()), until);
    }

    /// Forgets bans that have ended.
    pub(super) fn prune_bans(&mut self, now_ms: u64) {
        let now_unix = now_ms / 1000;
        self.bans.retain(|_, until| now_unix < *until);
    }
}
