//! CDN pushes as the core sees them: who may start, change and stop one, which names run in
//! each channel, and who hears of each URL's state. The pushes themselves (decoding,
//! composing, RTMP) run in the glue, which acts on [`Output::Push`] and reports back through
//! [`Server::push_state`].

use crate::error::{Error, ErrorCode};
use crate::id::SessionId;
use crate::push::{self, UrlState};
use crate::token::Grant;
use crate::wire::{Event, LeaveReason};

use super::{Output, Server};

impl Server {
    pub(super) fn push(&mut self, sid: SessionId, request: push::Request) -> Result<(), Error> {
        let Some(s) = self.sessions.get(&sid) else {
            return Ok(());
        };
        if !s.claims.allows(Grant::Moderator) && !s.claims.allows(Grant::Push) {
            let msg = format!(
                "{}'s token grants neither moderator nor push, so it cannot push the channel",
                s.user()
            );
            return Err(Error::new(ErrorCode::NotPermitted, msg));
        }
        request.validate()?;
        let (channel, by) = (s.channel.clone(), s.user().to_owned());
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Ok(());
        };
        let name = request.name().to_owned();
        let running = ch.pushes.contains_key(&name);
        match &request {
            push::Request::Start { .. } if running => {
                let msg = format!("a push named {name:?} is running; stop it or pick another name");
                return Err(Error::new(ErrorCode::InvalidInput, msg));
            }
            push::Request::Start { .. } if ch.pushes.len() >= push::MAX_PER_CHANNEL => {
                let msg = format!(
                    "{channel} runs {} pushes already, the most a channel may",
                    push::MAX_PER_CHANNEL
                );
                return Err(Error::new(ErrorCode::InvalidInput, msg));
            }
            push::Request::Start { .. } => {
                ch.pushes.insert(name, by.clone());
            }
            _ if !running => {
                let msg = format!("no push named {name:?} runs in {channel}");
                return Err(Error::new(ErrorCode::InvalidInput, msg));
            }
            // The glue reports the URLs stopped, then frees the name (`push_ended`).
            push::Request::Stop { .. } | push::Request::Update { .. } => {}
        }
        self.outputs.push_back(Output::Push {
            channel,
            by,
            request,
        });
        Ok(())
    }

    /// Tells the push's requester and the channel's moderators that a URL of push `name`
    /// changed state. A push whose requester left, or that was stopped, is no longer
    /// reported on.
    pub fn push_state(&mut self, channel: &str, name: &str, url: &str, state: UrlState) {
        let Some(ch) = self.channels.get(channel) else {
            return;
        };
        let Some(owner) = ch.pushes.get(name) else {
            return;
        };
        let told = self.owner_and_moderators(channel, owner);
        let event = Event::Push {
            name: name.to_owned(),
            url: url.to_owned(),
            state,
        };
        for sid in told {
            self.emit(sid, event.clone());
        }
        self.finish_step();
    }

    /// The sessions of `owner` in `channel` and of the channel's other moderators: who hears
    /// of a push's or an inject's states.
    pub(super) fn owner_and_moderators(&self, channel: &str, owner: &str) -> Vec<SessionId> {
        let Some(ch) = self.channels.get(channel) else {
            return Vec::new();
        };
        ch.members
            .iter()
            .filter(|(user, _)| *user == owner)
            .map(|(_, sid)| *sid)
            .chain(ch.members.values().copied().filter(|sid| {
                self.sessions
                    .get(sid)
                    .is_some_and(|s| s.claims.allows(Grant::Moderator) && s.user() != owner)
            }))
            .collect()
    }

    /// A push is over (stopped as asked, every URL failed, or its pipeline failed): its name
    /// is free again and its states are no longer reported.
    pub fn push_ended(&mut self, channel: &str, name: &str) {
        if let Some(ch) = self.channels.get_mut(channel) {
            ch.pushes.remove(name);
        }
    }

    /// The pushes, injects and relay a departing user started stop with it (not when it only
    /// joined again from elsewhere: the new session is the same user). The moderators hear
    /// of it; the glue frees the names.
    pub(super) fn stop_jobs_of(&mut self, sid: SessionId, reason: LeaveReason) {
        if reason == LeaveReason::Replaced {
            return;
        }
        self.stop_relay_of(sid);
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let (channel, user) = (s.channel.clone(), s.user().to_owned());
        let Some(ch) = self.channels.get(&channel) else {
            return;
        };
        let started_by = |jobs: &std::collections::BTreeMap<String, String>| -> Vec<String> {
            jobs.iter()
                .filter(|(_, owner)| **owner == user)
                .map(|(name, _)| name.clone())
                .collect()
        };
        let (pushes, injects) = (started_by(&ch.pushes), started_by(&ch.injects));
        let stops = pushes
            .into_iter()
            .map(|name| Output::Push {
                channel: channel.clone(),
                by: user.clone(),
                request: push::Request::Stop { name },
            })
            .chain(injects.into_iter().map(|name| Output::Inject {
                channel: channel.clone(),
                by: user.clone(),
                request: crate::inject::Request::Stop { name },
            }));
        self.outputs.extend(stops);
    }
}
