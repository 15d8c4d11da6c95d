//! Relays across channels as the core sees them: who may relay, which destinations each host
//! sends to, and who hears of their states. The relays themselves (joining each destination
//! as the host, forwarding the encoded frames) run in the glue, which acts on
//! [`Output::Relay`] and reports back through [`Server::relay_state`]. A relay ends with its
//! host's time on stage: leaving, a kick or a demotion in its own channel stops it everywhere.

use std::collections::BTreeSet;

use crate::error::{Error, ErrorCode};
use crate::id::SessionId;
use crate::relay::{self, MAX_DESTINATIONS, State, Target};
use crate::token::Grant;
use crate::wire::Event;

use super::{Output, Server};

impl Server {
    pub(super) fn relay(&mut self, sid: SessionId, request: relay::Request) -> Result<(), Error> {
        let Some(s) = self.sessions.get(&sid) else {
            return Ok(());
        };
        let user = s.user().to_owned();
        if !s.claims.allows(Grant::Relay) {
            let msg = format!("{user}'s token does not grant relay, so it cannot relay");
            return Err(Error::new(ErrorCode::NotPermitted, msg));
        }
        if !s.is_host() && matches!(request, relay::Request::Start { .. }) {
            let msg = format!("{user} is in the audience; only a host relays its tracks");
            return Err(Error::new(ErrorCode::NotPermitted, msg));
        }
        request.validate()?;
        let channel = s.channel.clone();
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Ok(());
        };
        let home = |t: &Target| t.server.is_none() && t.channel == channel;
        let invalid = |msg: String| Err(Error::new(ErrorCode::InvalidInput, msg));
        match (&request, ch.relays.get_mut(&user)) {
            (relay::Request::Start { .. }, Some(_)) => {
                return invalid(format!("{user} relays already; update or stop that relay"));
            }
            (relay::Request::Start { destinations }, None) => {
                if let Some(d) = destinations.iter().find(|d| home(&d.target)) {
                    return invalid(format!("{} is {user}'s own channel", d.target));
                }
                let targets = destinations.iter().map(|d| d.target.clone()).collect();
                ch.relays.insert(user.clone(), targets);
            }
            (_, None) => return invalid(format!("{user} relays nothing in {channel}")),
            (relay::Request::Update { add, remove }, Some(running)) => {
                if let Some(d) = add.iter().find(|d| home(&d.target)) {
                    return invalid(format!("{} is {user}'s own channel", d.target));
                }
                if let Some(t) = remove.iter().find(|t| !running.contains(t)) {
                    return invalid(format!("{user} does not relay into {t}"));
                }
                let mut after: BTreeSet<Target> = running.clone();
                after.retain(|t| !remove.contains(t));
                if let Some(d) = add.iter().find(|d| after.contains(&d.target)) {
                    return invalid(format!("{user} relays into {} already", d.target));
                }
                after.extend(add.iter().map(|d| d.target.clone()));
                if after.len() > MAX_DESTINATIONS {
                    return invalid(format!(
                        "that makes {} destinations; a relay sends to at most {MAX_DESTINATIONS}",
                        after.len()
                    ));
                }
                *running = after;
            }
            (relay::Request::Stop, Some(_)) => {
                ch.relays.remove(&user);
            }
            (relay::Request::Pause | relay::Request::Resume, Some(_)) => {}
        }
        self.outputs.push_back(Output::Relay {
            channel,
            by: user,
            request,
        });
        Ok(())
    }

    /// Tells the relaying host `owner` of `channel` that destination `to` changed state. A
    /// final state takes the destination off the host's relay.
    pub fn relay_state(&mut self, channel: &str, owner: &str, to: &Target, state: State) {
        if state.is_final()
            && let Some(ch) = self.channels.get_mut(channel)
            && let Some(running) = ch.relays.get_mut(owner)
        {
            running.remove(to);
            if running.is_empty() {
                ch.relays.remove(owner);
            }
        }
        if let Some(sid) = self.session_of(channel, owner) {
            let to = to.clone();
            self.emit(sid, Event::Relay { to, state });
        }
        self.finish_step();
    }

    /// The destinations `owner` of `channel` relays into (not yet stopped or failed).
    pub fn relay_targets(&self, channel: &str, owner: &str) -> Vec<Target> {
        self.channels
            .get(channel)
            .and_then(|ch| ch.relays.get(owner))
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Stops the relay of the host in `sid` (it left, was kicked or demoted at home); the glue
    /// reports every destination stopped.
    pub(super) fn stop_relay_of(&mut self, sid: SessionId) {
        let Some(s) = self.sessions.get(&sid) else {
            return;
        };
        let (channel, user) = (s.channel.clone(), s.user().to_owned());
        let Some(ch) = self.channels.get_mut(&channel) else {
            return;
        };
        if ch.relays.remove(&user).is_some() {
            self.outputs.push_back(Output::Relay {
                channel,
                by: user,
                request: relay::Request::Stop,
            });
        }
    }
}
