//! Data messages: size and rate limits, the server-stamped sender, hearing sets.

use std::collections::BTreeSet;

use crate::error::{Error, ErrorCode};
use crate::id::{self, SessionId, UserId};
use crate::token::Grant;
use crate::wire::{self, Event};

use super::Server;

impl Server {
    pub(super) fn forward_data(
        &mut self,
        sid: SessionId,
        to: Vec<UserId>,
        payload: Vec<u8>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let limits = self.config.limits;
        let Some(s) = self.sessions.get_mut(&sid) else {
            return Ok(());
        };
        if !s.claims.allows(Grant::PublishData) {
            return Err(Error::new(
                ErrorCode::NotPermitted,
                "token does not grant publish-data",
            ));
        }
        if !s.is_host() {
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
        for user in &to {
            id::validate("recipient", user)?;
        }
        s.data_seq += 1;
        let (seq, from) = (s.data_seq, s.user().to_owned());
        let private = !to.is_empty();
        let Some(ch) = self.channels.get(&s.channel) else {
            return Ok(());
        };
        let recipients: Vec<SessionId> = if private {
            // Each named recipient once, however often it is named.
            let named: BTreeSet<&UserId> = to.iter().collect();
            named
                .into_iter()
                .filter_map(|u| ch.members.get(u))
                .copied()
                .collect()
        } else {
            ch.members.values().copied().collect()
        };
        let recipients: Vec<SessionId> = recipients
            .into_iter()
            .filter(|&r| r != sid)
            .filter(|r| self.sessions.get(r).is_some_and(|r| r.hears(&from)))
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
}
