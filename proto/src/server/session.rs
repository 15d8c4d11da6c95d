//! One session's state on the server: who it is, what it may do, what it receives from whom,
//! and the events it has not acknowledged yet. Only the server's modules touch it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::id::{ChannelId, UserId};
use crate::media::{Kind, Layer};
use crate::rate::{DataRate, RequestRate};
use crate::token::{Claims, Grant};
use crate::track::{Track, TrackId};
use crate::wire::{Event, Participant, Role};

use super::ConnId;
use super::links::Path;

pub(super) struct Session {
    pub media_id: u64,
    pub key: u64,
    pub channel: ChannelId,
    pub claims: Claims,
    pub role: Role,
    pub audio_muted: bool,
    pub video_muted: bool,
    /// Asked to be invited on stage; only ever true for the audience.
    pub hand_raised: bool,
    /// `None` hears everyone.
    pub hears: Option<BTreeSet<UserId>>,
    pub conn: Option<ConnId>,
    pub lost_at: Option<u64>,
    pub last_event: u64,
    pub backlog: VecDeque<(u64, Event)>,
    /// The backlog overflowed during this step: no more events are queued and the session
    /// ends when the step is over (never in the middle of one).
    pub overflowed: bool,
    pub applied: u64,
    pub ack_due: bool,
    pub data_seq: u64,
    pub rate: DataRate,
    pub requests: RequestRate,
    pub warned: bool,
    /// As a host: the tracks it publishes, by id (at most the per-kind caps).
    pub tracks: BTreeMap<TrackId, Track>,
    /// What this session receives from each publisher, when not the default.
    pub subscriptions: HashMap<UserId, Subscription>,
    /// When a keyframe of each (track, layer) was last asked of this publisher.
    pub keyframe_asked: HashMap<(TrackId, Layer), u64>,
    /// When this session was last told its media was refused.
    pub media_refused_at: Option<u64>,
    /// As a publisher: when each track last sent low-layer video.
    pub low_layer_at: HashMap<TrackId, u64>,
    /// Its path to the server, for network quality.
    pub path: Path,
    /// As a subscriber: when each publisher track's high layer last congested its path.
    pub congested_at: HashMap<(u64, TrackId), u64>,
}

/// Most publishers a session may hold a non-default subscription for.
pub(super) const MAX_SUBSCRIPTIONS: usize = 256;

impl Session {
    pub fn participant(&self) -> Participant {
        Participant {
            user: self.claims.sub.clone(),
            role: self.role,
            moderator: self.claims.allows(Grant::Moderator),
            audio_muted: self.audio_muted,
            video_muted: self.video_muted,
            hand_raised: self.hand_raised,
            media_id: self.media_id,
            tracks: self.tracks.values().cloned().collect(),
        }
    }

    pub fn user(&self) -> &str {
        &self.claims.sub
    }

    pub fn hears(&self, user: &str) -> bool {
        self.hears.as_ref().is_none_or(|set| set.contains(user))
    }

    pub fn is_host(&self) -> bool {
        self.role == Role::Host
    }

    /// Whether `track` is one of its published video tracks (congestion, keyframes and layer
    /// choices only mean something for those).
    pub fn publishes_video(&self, track: TrackId) -> bool {
        self.tracks.get(&track).is_some_and(|t| t.is_video())
    }
}

/// What a subscriber receives from one publisher: a choice for all its tracks, and choices
/// for single tracks that take precedence (at most one per track id, so bounded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Subscription {
    pub all: Choice,
    pub tracks: BTreeMap<TrackId, Choice>,
}

impl Subscription {
    pub fn wants(&self, track: TrackId, kind: Kind) -> bool {
        self.tracks.get(&track).unwrap_or(&self.all).wants(kind)
    }

    /// The choice in force for `track`.
    pub fn choice(&self, track: TrackId) -> Choice {
        self.tracks.get(&track).copied().unwrap_or(self.all)
    }
}

/// Audio on or off, and which video layer (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Choice {
    pub audio: bool,
    pub video: Option<Layer>,
}

impl Default for Choice {
    fn default() -> Self {
        Self {
            audio: true,
            video: Some(Layer::High),
        }
    }
}

impl Choice {
    pub fn wants(&self, kind: Kind) -> bool {
        match kind {
            Kind::Audio => self.audio,
            Kind::Video(layer) => self.video == Some(layer),
        }
    }
}
