//! `livestage bot --moderate`: moderator actions from the command line, sent once joined, and
//! each one's result matched to the server's answer by its request sequence number.
//!
//! The client session numbers requests 1, 2, 3, … in the order the engine receives them, and
//! the server answers a refused one with `Event::Refused { request: seq, .. }`. The engine does
//! not hand out those numbers, so [`Requests`] sends every request of the bot (the media
//! verifier's keyframe requests and loss reports too) under one lock and counts them the same
//! way. After the actions the bot renews its own token: the server answers every renewal, and
//! handles requests in order, so once that answer arrives every action without a refusal was
//! applied.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};
use livestage_net::Engine;
use livestage_proto::wire::{self, Action, Request};
use livestage_proto::{Error, id};
use serde::Serialize;

/// The actions `--moderate` knows, by their command-line names.
const VERBS: [&str; 8] = [
    "promote",
    "demote",
    "kick",
    "unban",
    "mute-audio",
    "mute-video",
    "unmute-audio",
    "unmute-video",
];

/// One `ACTION:USER` of `--moderate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// One of [`VERBS`].
    verb: &'static str,
    /// The target.
    user: String,
}

/// Parses `promote:alice,kick:bob`: known actions, valid user ids, at least one.
pub fn parse(spec: &str) -> anyhow::Result<Vec<Planned>> {
    let mut plan = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (verb, user) = part
            .split_once(':')
            .with_context(|| format!("{part:?} is not ACTION:USER, e.g. kick:alice"))?;
        let Some(verb) = VERBS.into_iter().find(|v| *v == verb) else {
            bail!(
                "unknown moderator action {verb:?}; use one of {}",
                VERBS.join(", ")
            );
        };
        id::validate("user id", user).map_err(|e| anyhow::anyhow!("--moderate {part}: {e}"))?;
        plan.push(Planned {
            verb,
            user: user.to_owned(),
        });
    }
    if plan.is_empty() {
        bail!("--moderate needs at least one ACTION:USER, e.g. promote:alice");
    }
    Ok(plan)
}

impl Planned {
    /// The wire action.
    fn action(&self) -> Action {
        let user = self.user.clone();
        let mute = |user, audio, video| Action::Mute { user, audio, video };
        match self.verb {
            "promote" => Action::Promote(user),
            "demote" => Action::Demote(user),
            "kick" => Action::Kick { user, until: None },
            "unban" => Action::Unban(user),
            "mute-audio" => mute(user, Some(true), None),
            "mute-video" => mute(user, None, Some(true)),
            "unmute-audio" => mute(user, Some(false), None),
            "unmute-video" => mute(user, None, Some(false)),
            other => unreachable!("parse admits only known verbs, not {other}"),
        }
    }
}

/// Sends the bot's requests on one channel, numbering them as the client session does.
pub struct Requests {
    engine: Arc<Engine>,
    channel: String,
    /// Requests numbered so far; held while a request is handed to the engine, so numbers
    /// follow the engine's order even when two threads send.
    numbered: Mutex<u64>,
}

impl Requests {
    /// Requests on `channel` through `engine`.
    pub fn new(engine: Arc<Engine>, channel: &str) -> Self {
        Self {
            engine,
            channel: channel.to_owned(),
            numbered: Mutex::new(0),
        }
    }

    /// Sends a request; returns the sequence number the server will know it by, or `None` when
    /// the client refuses it before numbering (a data message over the size limit).
    pub fn send(&self, request: Request) -> Option<u64> {
        let mut numbered = self.numbered.lock().unwrap_or_else(PoisonError::into_inner);
        let numbers =
            !matches!(&request, Request::Data { payload, .. } if payload.len() > wire::MAX_DATA);
        let (engine, ch) = (&self.engine, self.channel.as_str());
        match request {
            Request::Leave => engine.leave(ch),
            Request::SetRole(role) => engine.set_role(ch, role),
            Request::Data { to, payload } => engine.send_data(ch, to, payload),
            Request::Moderate(action) => engine.moderate(ch, action),
            Request::RenewToken(token) => engine.renew_token(ch, &token),
            Request::Subscribe {
                user,
                track: None,
                audio,
                video,
            } => engine.subscribe(ch, &user, audio, video),
            Request::Subscribe {
                user,
                track: Some(track),
                audio,
                video,
            } => engine.subscribe_track(ch, &user, track, audio, video),
            Request::Publish(track) => engine.publish_track(ch, track),
            Request::Unpublish(id) => engine.unpublish_track(ch, id),
            Request::RequestKeyframe {
                media_id,
                track,
                layer,
            } => engine.request_keyframe(ch, media_id, track, layer),
            Request::RaiseHand(raised) => engine.raise_hand(ch, raised),
            Request::Push(request) => engine.push(ch, *request),
            Request::Inject(request) => engine.inject(ch, *request),
            Request::Relay(request) => engine.relay(ch, *request),
        }
        numbers.then(|| {
            *numbered += 1;
            *numbered
        })
    }
}

/// One action's line in the report.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The action, as on the command line.
    pub action: &'static str,
    /// The target.
    pub user: String,
    /// `ok`, the server's error code (`unknown_user`, `not_permitted`, …), `unanswered` when
    /// the session ended before the server answered, or `not_sent` when the bot never got
    /// into the channel.
    pub result: String,
    /// The server's message for a refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Report lines for actions never sent (the bot did not get into the channel).
pub fn not_sent(plan: &[Planned]) -> Vec<Outcome> {
    plan.iter()
        .map(|p| Outcome {
            action: p.verb,
            user: p.user.clone(),
            result: "not_sent".into(),
            message: None,
        })
        .collect()
}

/// The actions sent and what became of them.
#[derive(Default)]
pub struct Moderation {
    outcomes: Vec<Outcome>,
    /// Request number to index in `outcomes`, for actions not yet answered.
    waiting: BTreeMap<u64, usize>,
    /// The renewal sent after the actions, until it is answered.
    fence: Option<u64>,
}

impl Moderation {
    /// Sends the actions, then the renewal of `token` that tells when all were handled.
    pub fn start(plan: &[Planned], requests: &Requests, token: &str) -> Self {
        let mut m = Self::default();
        for p in plan {
            let seq = requests
                .send(Request::Moderate(p.action()))
                .expect("moderator actions are always numbered");
            m.waiting.insert(seq, m.outcomes.len());
            m.outcomes.push(Outcome {
                action: p.verb,
                user: p.user.clone(),
                result: "unanswered".into(),
                message: None,
            });
        }
        m.fence = requests.send(Request::RenewToken(token.to_owned()));
        m
    }

    /// A refusal of request `seq`; true when it answered one of ours (an action or the fence).
    pub fn refused(&mut self, seq: u64, error: &Error) -> bool {
        if let Some(i) = self.waiting.remove(&seq) {
            let outcome = &mut self.outcomes[i];
            outcome.result = error.code.to_string();
            outcome.message = Some(error.message.clone());
            return true;
        }
        if self.fence == Some(seq) {
            self.all_handled();
            return true;
        }
        false
    }

    /// The token renewal was accepted: the fence is answered.
    pub fn renewed(&mut self) {
        if self.fence.is_some() {
            self.all_handled();
        }
    }

    /// Every action sent before the fence was handled; those not refused were applied.
    fn all_handled(&mut self) {
        self.fence = None;
        for (_, i) in std::mem::take(&mut self.waiting) {
            self.outcomes[i].result = "ok".into();
        }
    }

    /// Whether every action is answered (refused or applied).
    pub fn answered(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Whether every action was applied.
    pub fn all_ok(&self) -> bool {
        self.outcomes.iter().all(|o| o.result == "ok")
    }

    /// The report lines, in the order the actions were asked for.
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_specs() {
        let plan = parse("promote:alice, mute-audio:bob,kick:c.d_e-1").expect("valid");
        assert_eq!(plan.len(), 3);
        assert_eq!(
            plan[1].action(),
            Action::Mute {
                user: "bob".into(),
                audio: Some(true),
                video: None
            }
        );
        assert_eq!(
            plan[2].action(),
            Action::Kick {
                user: "c.d_e-1".into(),
                until: None
            }
        );
        let err = parse("ban:alice").expect_err("unknown action").to_string();
        assert!(err.contains("unknown moderator action \"ban\""), "{err}");
        assert!(parse("kick:has space").is_err());
        assert!(parse("kick:").is_err());
        assert!(parse("kick").is_err());
        assert!(parse(" , ").is_err());
    }
}
