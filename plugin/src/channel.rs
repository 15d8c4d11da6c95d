//! The ECS face of a channel: the channel entity, its connection state, and its participants
//! with their roles and live state. The receive systems write these; games read them.

use bevy::prelude::*;
use livestage_net::engine::LinkStats;
use livestage_proto::error::Error;
use livestage_proto::media::Layer;
use livestage_proto::quality::Quality;

/// A live channel. Spawn one, then trigger [`Join`](crate::Join) on it; several channels may
/// be joined at once, and the same channel may be joined by two entities (as two users).
#[derive(Component, Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// The channel's name on the server.
    pub name: String,
}

impl Channel {
    /// A channel entity for `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

/// Connection state of a channel entity: exactly one of [`Connecting`], [`Connected`],
/// [`Reconnecting`] or [`Disconnected`] is present once a join was asked for.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connecting;

/// Joined and live.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connected;

/// The path was lost; the same session is being resumed (peers keep their entities).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reconnecting;

/// Not in the channel: left, refused, kicked or unreachable. `error` says why when it was not
/// asked for; a new [`Join`](crate::Join) may be triggered on the same entity.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct Disconnected {
    /// Why the channel ended, if it ended badly.
    pub error: Option<Error>,
}

/// Everyone this client can see in a channel (everyone sees the hosts; hosts also see the
/// audience members with a raised hand; the rest of the audience is an [`AudienceCount`]),
/// this client included. Despawned with the channel.
#[derive(Component, Debug, Default)]
#[relationship_target(relationship = ParticipantOf, linked_spawn)]
pub struct Participants(Vec<Entity>);

impl Participants {
    /// The participant entities.
    pub fn entities(&self) -> &[Entity] {
        &self.0
    }
}

/// How many of a channel's members are audience: set on join, kept current (about once a
/// second) while this client is a host.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AudienceCount(pub u32);

/// The path to the server for this channel, updated each second while connected: round trip,
/// uplink loss (QUIC's own measure), downlink loss (as the server measures it), available
/// bandwidth, voice copies, and the path's [`Quality`] (see
/// [`LinkStats`](livestage_net::engine::LinkStats)). On the channel entity; read the fields
/// through it (`link.rtt_ms`).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Deref)]
pub struct Link(pub LinkStats);

/// The channel a participant entity belongs to.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
#[relationship(relationship_target = Participants)]
pub struct ParticipantOf(pub Entity);

/// A participant in a channel.
#[derive(Component, Clone, Debug, PartialEq, Eq)]
#[require(AudioLevel, NetworkQuality, MediaStats)]
pub struct Participant {
    /// The user id from the participant's token.
    pub user: String,
    /// The id the participant's media carries.
    pub media_id: u64,
}

/// This client's own participant entity in a channel.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalParticipant;

/// On stage: may publish audio and video.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Host;

/// Watching and listening; never publishes.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Audience;

/// The participant's token grants moderation (promote, demote, mute, kick, hearing sets).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moderator;

/// A moderator muted this participant's audio.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AudioMuted;

/// A moderator muted this participant's video.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VideoMuted;

/// An audience member asked to be invited on stage (see [`RaiseHand`](crate::RaiseHand)).
/// Removed when the hand is lowered and when the participant goes on stage. This client sees
/// it on itself and, as a host, on the audience; the audience does not see each other.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandRaised;

/// The participant's voice is above the speaking threshold (with hysteresis).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Speaking;

/// Whom the local participant hears, as a moderator set it (`None`: everyone).
#[derive(Component, Clone, Debug, Default, PartialEq, Eq)]
pub struct Hearing(pub Option<Vec<String>>);

/// The latest voice level of a remote participant, in dBFS (-100 when silent or unknown).
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct AudioLevel(pub f32);

impl Default for AudioLevel {
    fn default() -> Self {
        Self(-100.0)
    }
}

/// How well a remote participant's media arrives, graded each second from the share of its
/// voice that had to be rebuilt or concealed and the delay of its video
/// ([`Quality::of_media`]), on the same scale as the channel's own [`Link`].
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deref)]
pub struct NetworkQuality(pub Quality);

/// Receive statistics of a remote participant over the last second.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub struct MediaStats {
    /// Video frames decoded per second.
    pub video_fps: f32,
    /// Video bitrate received, kbit/s.
    pub video_kbps: f32,
    /// Capture to decode, for the newest frame (publisher and viewer clocks assumed in sync).
    pub video_delay_ms: f32,
    /// Video frames the decoder refused (since joining).
    pub video_errors: u64,
    /// Voice frames per second that were concealed or recovered, as a share (0..1).
    pub audio_loss: f32,
    /// Voice frames played (since joining).
    pub audio_frames: u64,
    /// The video layer being received.
    pub layer: Option<Layer>,
    /// The participant's own round trip to the server, as the server measures it (hosts only;
    /// 0 until known).
    pub rtt_ms: u32,
    /// Its packets that did not reach the server, percent, as it reported.
    pub uplink_loss_percent: u8,
    /// The server's packets that did not reach it, percent.
    pub downlink_loss_percent: u8,
    /// Its uplink graded ([`Quality::of_path`]): how well what it sends reaches the server,
    /// before the path from the server to this client. [`Quality::Unknown`] until known.
    pub uplink: Quality,
}
