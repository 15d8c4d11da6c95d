//! Co-hosting across channels (PK), as it crosses the wire: a host whose token grants `relay`
//! asks the server to relay its own tracks into 1 to [`MAX_DESTINATIONS`] other channels, each
//! named by a [`Destination`] (the channel, a token for it that names the same user and grants
//! publishing, and the server it lives on when not this one). In each destination the host
//! appears as a host participant under its own user id; that channel's host cap, moderators
//! and hearing sets apply to it like to anyone.
//!
//! States come back per destination as [`Event::Relay`](crate::wire::Event::Relay) with a
//! [`State`]: connecting, running, paused, recovering (a remote server went away; retried with
//! backoff), failed with the destination's own error (`token_invalid`, `too_many_hosts`,
//! `kicked`...), stopped.
//!
//! Everything here is checked by [`Request::validate`] before the server acts on it.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode};
use crate::id::{self, ChannelId};

/// Most destinations one host relays into at once (the vendor's limit too).
pub const MAX_DESTINATIONS: usize = 6;
/// Longest destination token, in bytes.
pub const MAX_TOKEN_LEN: usize = 2048;
/// Longest reason carried in a state, in characters, so an event always fits a control frame.
pub const MAX_REASON: usize = 600;

/// Where a destination channel lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Remote {
    /// The other `livestage serve`'s UDP address.
    pub addr: SocketAddr,
    /// The SHA-256 digest of its certificate (DER), the only certificate trusted for it.
    pub pin: [u8; 32],
}

/// Which destination: a channel on this server (`server: None`) or on another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Target {
    /// The destination channel.
    pub channel: ChannelId,
    /// Its server, when not this one.
    pub server: Option<Remote>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.server {
            None => f.write_str(&self.channel),
            Some(remote) => write!(f, "{}@{}", self.channel, remote.addr),
        }
    }
}

/// One destination of a relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// Where.
    pub target: Target,
    /// A token for `target.channel`, bound to the relaying host's own user id, granting join
    /// and publishing there (checked by the destination's server when the relay joins).
    pub token: String,
}

/// What a host asks of its relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
// A name unique among the wire types: the browser's schema (web/schema) is keyed by it.
#[serde(rename = "RelayRequest")]
pub enum Request {
    /// Start relaying into `destinations` (none may be running yet).
    Start {
        /// One to [`MAX_DESTINATIONS`], no two the same target.
        destinations: Vec<Destination>,
    },
    /// Change a running relay: start some destinations, stop others.
    Update {
        /// Destinations to start.
        add: Vec<Destination>,
        /// Destinations to stop (each reports [`State::Stopped`]).
        remove: Vec<Target>,
    },
    /// Stop sending into every destination, staying in them ([`State::Paused`]).
    Pause,
    /// Send again after [`Request::Pause`]; each destination asks for a keyframe first.
    Resume,
    /// Stop the relay: every destination reports [`State::Stopped`] and is left.
    Stop,
}

impl Request {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Self::Start { destinations } => {
                if destinations.is_empty() {
                    return Err(invalid("a relay needs at least one destination"));
                }
                check_destinations(destinations)
            }
            Self::Update { add, remove } => {
                check_destinations(add)?;
                if remove.len() > MAX_DESTINATIONS {
                    return Err(invalid(format!(
                        "{} destinations to remove; a relay has at most {MAX_DESTINATIONS}",
                        remove.len()
                    )));
                }
                remove.iter().try_for_each(check_target)
            }
            Self::Pause | Self::Resume | Self::Stop => Ok(()),
        }
    }
}

fn check_destinations(destinations: &[Destination]) -> Result<(), Error> {
    if destinations.len() > MAX_DESTINATIONS {
        return Err(invalid(format!(
            "{} destinations; a relay sends to at most {MAX_DESTINATIONS}",
            destinations.len()
        )));
    }
    for (i, d) in destinations.iter().enumerate() {
        check_target(&d.target)?;
        if d.token.is_empty() || d.token.len() > MAX_TOKEN_LEN || !d.token.is_ascii() {
            return Err(invalid(format!(
                "the token for {} must be 1 to {MAX_TOKEN_LEN} ASCII bytes",
                d.target
            )));
        }
        if destinations[..i].iter().any(|e| e.target == d.target) {
            return Err(invalid(format!("{} is named twice", d.target)));
        }
    }
    Ok(())
}

fn check_target(target: &Target) -> Result<(), Error> {
    id::validate("destination channel", &target.channel)
}

/// Where one destination of a relay stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Joining the destination for the first time.
    Connecting,
    /// A host there, sending the relayed tracks.
    Running,
    /// A host there, sending nothing until resumed.
    Paused,
    /// The destination's server went away or could not be reached; joining again with
    /// backoff.
    Recovering {
        /// Tries so far.
        attempt: u32,
        /// What went wrong last.
        reason: String,
    },
    /// Given up on this destination: the destination's own error (`token_invalid`,
    /// `too_many_hosts`, `kicked`, `not_permitted` when demoted there...). Others keep running.
    Failed(Error),
    /// Stopped as asked, or the relay ended (its host left or was demoted at home).
    Stopped,
}

impl State {
    /// The stable snake_case name, e.g. `recovering`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Recovering { .. } => "recovering",
            Self::Failed(_) => "failed",
            Self::Stopped => "stopped",
        }
    }

    /// Whether the destination is done (failed or stopped).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Failed(_) | Self::Stopped)
    }

    /// A failure with `code`, its message cut to [`MAX_REASON`] characters.
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        let message: String = message.into();
        Self::Failed(Error::new(
            code,
            message.chars().take(MAX_REASON).collect::<String>(),
        ))
    }

    /// Recovering, the reason cut to [`MAX_REASON`] characters.
    pub fn recovering(attempt: u32, reason: impl Into<String>) -> Self {
        let reason: String = reason.into();
        Self::Recovering {
            attempt,
            reason: reason.chars().take(MAX_REASON).collect(),
        }
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn dest(channel: &str) -> Destination {
        Destination {
            target: Target {
                channel: channel.into(),
                server: None,
            },
            token: "t".into(),
        }
    }

    #[test]
    fn at_most_six_destinations_each_named_once() {
        let six: Vec<_> = (0..6).map(|i| dest(&format!("c{i}"))).collect();
        let start = |destinations| Request::Start { destinations };
        assert!(start(six.clone()).validate().is_ok());
        let mut seven = six.clone();
        seven.push(dest("c6"));
        assert_eq!(
            start(seven).validate().unwrap_err().code,
            ErrorCode::InvalidInput
        );
        assert!(start(vec![dest("a"), dest("a")]).validate().is_err());
        assert!(start(vec![]).validate().is_err());
        assert!(start(vec![dest("bad channel")]).validate().is_err());
        let mut long = dest("a");
        long.token = "x".repeat(MAX_TOKEN_LEN + 1);
        assert!(start(vec![long]).validate().is_err());
    }

    #[test]
    fn a_channel_here_and_on_another_server_are_two_targets() {
        let mut remote = dest("a");
        remote.target.server = Some(Remote {
            addr: "127.0.0.1:4443".parse().unwrap(),
            pin: [7; 32],
        });
        let request = Request::Start {
            destinations: vec![dest("a"), remote.clone()],
        };
        assert!(request.validate().is_ok());
        assert_eq!(remote.target.to_string(), "a@127.0.0.1:4443");
    }

    #[test]
    fn long_reasons_are_cut() {
        let State::Failed(e) = State::failed(ErrorCode::Kicked, "x".repeat(5000)) else {
            unreachable!()
        };
        assert_eq!(e.message.chars().count(), MAX_REASON);
    }
}
