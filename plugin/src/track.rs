//! Tracks in the ECS: every track a participant publishes (a camera, a screen share, a
//! microphone) is an entity related to the participant ([`TrackOf`] / [`Tracks`], despawned
//! with it) carrying [`Track`] and [`TrackSource`]. A remote video track gets a
//! [`RemoteVideo`](crate::RemoteVideo) when its first picture arrives.
//!
//! The camera of each participant, in one query:
//!
//! ```
//! use bevy::prelude::*;
//! use bevy_livestage::prelude::*;
//!
//! fn faces(videos: Query<(&RemoteVideo, &TrackSource, &TrackOf)>, people: Query<&Participant>) {
//!     for (video, source, of) in &videos {
//!         if *source == TrackSource::CAMERA && let Ok(who) = people.get(of.0) {
//!             info!("{} shows {}x{}", who.user, video.size.x, video.size.y);
//!         }
//!     }
//! }
//! ```

use bevy::prelude::*;
use livestage_proto::track::{self, Source, TrackId};

/// One published track.
#[derive(Component, Clone, Debug, PartialEq, Eq)]
pub struct Track {
    /// The publisher's id for it (unique among its tracks).
    pub id: TrackId,
    /// Audio or video.
    pub kind: track::Kind,
    /// A name for pickers, possibly empty.
    pub name: String,
    /// A video track that also sends the low layer.
    pub low_layer: bool,
}

/// Where a track's media comes from.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrackSource(pub Source);

impl TrackSource {
    /// A camera (or the game's view of the player).
    pub const CAMERA: Self = Self(Source::Camera);
    /// A screen share.
    pub const SCREEN: Self = Self(Source::Screen);
    /// A microphone.
    pub const MICROPHONE: Self = Self(Source::Microphone);
}

/// A moderator muted this track: nothing arrives from it.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrackMuted;

/// The tracks of a participant entity. Despawned with the participant.
#[derive(Component, Debug, Default)]
#[relationship_target(relationship = TrackOf, linked_spawn)]
pub struct Tracks(Vec<Entity>);

impl Tracks {
    /// The track entities.
    pub fn entities(&self) -> &[Entity] {
        &self.0
    }
}

/// The participant a track entity belongs to.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
#[relationship(relationship_target = Tracks)]
pub struct TrackOf(pub Entity);

/// The first track of `participant` from `source` (e.g. its camera), for code that holds a
/// `World`; systems query `(&RemoteVideo, &TrackSource, &TrackOf)` instead.
pub fn track_of(world: &World, participant: Entity, source: TrackSource) -> Option<Entity> {
    world
        .get::<Tracks>(participant)?
        .entities()
        .iter()
        .copied()
        .find(|&t| world.get::<TrackSource>(t) == Some(&source))
}

/// Brings the track entities of `participant` in line with what it publishes; returns the
/// ids of the tracks that ended.
pub(crate) fn sync(
    world: &mut World,
    participant: Entity,
    published: &[track::Track],
) -> Vec<TrackId> {
    let existing: Vec<(Entity, TrackId)> = world
        .get::<Tracks>(participant)
        .map(|t| t.entities().to_vec())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| world.get::<Track>(e).map(|t| (e, t.id)))
        .collect();
    let mut ended = Vec::new();
    for &(entity, id) in &existing {
        if !published.iter().any(|t| t.id == id) {
            world.despawn(entity);
            ended.push(id);
        }
    }
    for t in published {
        let component = Track {
            id: t.id,
            kind: t.kind,
            name: t.name.clone(),
            low_layer: t.low_layer,
        };
        let entity = match existing.iter().find(|(_, id)| *id == t.id) {
            // A track id published again with another kind or source is another track.
            Some(&(e, _))
                if world.get::<Track>(e).is_some_and(|c| c.kind == t.kind)
                    && world.get::<TrackSource>(e) == Some(&TrackSource(t.source)) =>
            {
                e
            }
            Some(&(e, _)) => {
                world.despawn(e);
                world.spawn(TrackOf(participant)).id()
            }
            None => world.spawn(TrackOf(participant)).id(),
        };
        let mut e = world.entity_mut(entity);
        if e.get::<Track>() != Some(&component) {
            e.insert(component);
        }
        e.insert(TrackSource(t.source));
        if t.muted {
            e.insert(TrackMuted);
        } else {
            e.remove::<TrackMuted>();
        }
    }
    ended
}
