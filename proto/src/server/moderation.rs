//! The stage and its moderators: role changes, raised hands, promote, demote, mute, kick (a
//! ban) and hearing sets.

use std::collections::BTreeSet;

use crate::error::{Error, ErrorCode};
use crate::id::{self, SessionId, UserId};
use crate::token::Grant;
use crate::wire::{self, Action, Event, LeaveReason, Role};

use super::Server;

impl Server {
    pub(super) fn set_role(&mut self, sid: SessionId, role: Role, by: &str) -> Result<(), Error> {
        let Some(s) = self.sessions.get(&sid) else {
            return Ok(());
        };
        if s.role == role {
            return Ok(());
        }
        if role == Role::Host {
            if !s.claims.may_host() {
                let msg = format!(
                    "{}'s token grants no publishing, so it cannot be a host",
                    s.user()
                );
                return Err(Error::new(ErrorCode::NotPermitted, msg));
            }
            if self.host_count(&s.channel) >= self.config.host_cap {
                let msg = format!("{} has {} hosts already", s.channel, self.config.host_cap);
                return Err(Error::new(ErrorCode::TooManyHosts, msg));
            }
        }
        let before = s.participant();
        if role != Role::Host {
            self.stop_relay_of(sid);
        }
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Ok(());
        };
        s.role = role;
        // On stage the request is granted: the hand goes down with the role change. Off
        // stage nothing is published: the participant in the event has no tracks.
        if role == Role::Host {
            s.hand_raised = false;
        } else {
            s.tracks.clear();
            s.low_layer_at.clear();
        }
        let participant = s.participant();
        self.reindex(sid);
        self.routes.clear();
        // Everyone who could see it before or can see it now learns the change.
        let about = wire::Participant {
            role: if before.role == Role::Host {
                before.role
            } else {
                role
            },
            hand_raised: before.hand_raised || participant.hand_raised,
            ..participant.clone()
        };
        let changed = Event::RoleChanged {
            participant: participant.clone(),
            by: by.to_owned(),
        };
        self.announce(sid, &changed, &about);
        self.emit(sid, changed);
        self.send_roster(sid);
        Ok(())
    }

    /// Raises or lowers the hand of an audience member and tells it and the hosts.
    /// Every request is charged to the sender's data rate limit, even one that changes nothing.
    pub(super) fn raise_hand(
        &mut self,
        sid: SessionId,
        raised: bool,
        now_ms: u64,
    ) -> Result<(), Error> {
        let limits = self.config.limits;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Ok(());
        };
        if !s.rate.try_take(0, now_ms) {
            let msg = format!(
                "more than {} messages per second (raised hands count as messages); slow down",
                limits.messages_per_sec
            );
            return Err(Error::new(ErrorCode::RateLimited, msg));
        }
        if raised && s.is_host() {
            return Err(Error::new(
                ErrorCode::NotPermitted,
                "hosts are on stage already; only the audience raises a hand",
            ));
        }
        if s.hand_raised == raised {
            return Ok(());
        }
        // Announced with the hand raised either way: the hosts saw it, or see it now.
        let about = s.participant();
        s.hand_raised = raised;
        let participant = s.participant();
        self.reindex(sid);
        let event = Event::HandChanged { participant };
        self.announce(
            sid,
            &event,
            &wire::Participant {
                hand_raised: true,
                ..about
            },
        );
        self.emit(sid, event);
        Ok(())
    }

    pub(super) fn moderate(
        &mut self,
        sid: SessionId,
        action: Action,
        now_ms: u64,
    ) -> Result<(), Error> {
        let Some(s) = self.sessions.get(&sid) else {
            return Ok(());
        };
        if !s.claims.allows(Grant::Moderator) {
            return Err(Error::new(
                ErrorCode::NotPermitted,
                "token does not grant moderator",
            ));
        }
        let (channel, me) = (s.channel.clone(), s.user().to_owned());
        let target = |server: &Self, user: &str| {
            id::validate("user id", user)?;
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
                let Some(s) = self.sessions.get_mut(&t) else {
                    return Ok(());
                };
                s.audio_muted = audio.unwrap_or(s.audio_muted);
                s.video_muted = video.unwrap_or(s.video_muted);
                let about = s.participant();
                self.routes.clear();
                if let Some(record) = self.restriction(&channel, &user) {
                    record.audio_muted = about.audio_muted;
                    record.video_muted = about.video_muted;
                }
                let event = Event::MuteChanged {
                    user,
                    audio: about.audio_muted,
                    video: about.video_muted,
                };
                self.announce(t, &event, &about);
                self.emit(t, event);
                Ok(())
            }
            Action::MuteTrack { user, track, muted } => {
                let t = target(self, &user)?;
                self.mute_track(t, track, muted)
            }
            Action::Kick { user, until } => {
                let t = target(self, &user)?;
                let expires = self.sessions.get(&t).map_or(0, |s| s.claims.exp);
                self.ban(&channel, &user, until.unwrap_or(expires), now_ms);
                let error =
                    Error::new(ErrorCode::Kicked, format!("removed from {channel} by {me}"));
                self.end_session(t, LeaveReason::Kicked, Some(error));
                Ok(())
            }
            Action::Unban(user) => {
                id::validate("user id", &user)?;
                self.bans.remove(&(channel, user));
                Ok(())
            }
            Action::SetHearing { listener, hears } => {
                let t = target(self, &listener)?;
                if hears.as_ref().is_some_and(|h| h.len() > wire::MAX_LIST) {
                    let msg = format!("a hearing set holds at most {} users", wire::MAX_LIST);
                    return Err(Error::new(ErrorCode::MessageTooLarge, msg));
                }
                for user in hears.iter().flatten() {
                    id::validate("user id", user)?;
                }
                let set: Option<BTreeSet<UserId>> = hears.map(|h| h.into_iter().collect());
                let listed = set.as_ref().map(|s| s.iter().cloned().collect());
                if let Some(record) = self.restriction(&channel, &listener) {
                    record.hears = set.clone();
                }
                if let Some(s) = self.sessions.get_mut(&t) {
                    s.hears = set;
                }
                self.routes.clear();
                self.emit(t, Event::HearingChanged { hears: listed });
                Ok(())
            }
        }
    }

    /// The moderation record of `user` in `channel`.
    fn restriction(
        &mut self,
        channel: &str,
        user: &str,
    ) -> Option<&mut super::roster::Restriction> {
        Some(
            self.channels
                .get_mut(channel)?
                .restrictions
                .entry(user.to_owned())
                .or_default(),
        )
    }
}
