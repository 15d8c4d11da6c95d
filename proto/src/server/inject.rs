//! Injects as the core sees them: who may start, change and stop one, which names run in each
//! channel, and who hears of their states. The injects themselves (demuxing, publishing as
//! `inject-<name>`) run in the glue, which acts on [`Output::Inject`] and reports back through
//! [`Server::inject_state`]. The inject's participant joins like any host, so the host cap,
//! mutes, hearing sets and kicks apply to it unchanged.

use crate::error::{Error, ErrorCode};
use crate::id::SessionId;
use crate::inject;
use crate::push::UrlState;
use crate::token::Grant;
use crate::wire::Event;

use super::{Output, Server};

impl Server {
    pub(super) fn inject(&mut self, sid: SessionId, request: inject::Request) -> Result<(), Error> {
        let Some(s) = self.sessions.get(&sid) else {
            return Ok(());
        };
        if !s.claims.allows(Grant::Moderator) {
            let msg = format!(
                "{}'s token does not grant moderator, so it cannot inject a stream",
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
        let running = ch.injects.contains_key(&name);
        match &request {
            inject::Request::Start { .. } if running => {
                let msg =
                    format!("an inject named {name:?} is running; stop it or pick another name");
                return Err(Error::new(ErrorCode::InvalidInput, msg));
            }
            inject::Request::Start { .. } if ch.injects.len() >= inject::MAX_PER_CHANNEL => {
                let msg = format!(
                    "{channel} runs {} injects already, the most a channel may",
                    inject::MAX_PER_CHANNEL
                );
                return Err(Error::new(ErrorCode::InvalidInput, msg));
            }
            inject::Request::Start { .. } => {
                ch.injects.insert(name, by.clone());
            }
            _ if !running => {
                let msg = format!("no inject named {name:?} runs in {channel}");
                return Err(Error::new(ErrorCode::InvalidInput, msg));
            }
            // The glue reports it stopped, then frees the name (`inject_ended`).
            inject::Request::Stop { .. } | inject::Request::Update { .. } => {}
        }
        self.outputs.push_back(Output::Inject {
            channel,
            by,
            request,
        });
        Ok(())
    }

    /// Tells the inject's requester and the channel's moderators that inject `name` changed
    /// state. An inject that ended is no longer reported on.
    pub fn inject_state(&mut self, channel: &str, name: &str, state: UrlState) {
        let Some(owner) = self
            .channels
            .get(channel)
            .and_then(|ch| ch.injects.get(name))
        else {
            return;
        };
        let told = self.owner_and_moderators(channel, &owner.clone());
        let event = Event::Inject {
            name: name.to_owned(),
            state,
        };
        for sid in told {
            self.emit(sid, event.clone());
        }
        self.finish_step();
    }

    /// An inject is over (stopped as asked, its source ended or failed): its name is free
    /// again and its states are no longer reported.
    pub fn inject_ended(&mut self, channel: &str, name: &str) {
        if let Some(ch) = self.channels.get_mut(channel) {
            ch.injects.remove(name);
        }
    }
}
