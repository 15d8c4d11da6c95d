//! Decode only what is on screen: an entity that shows a remote video track (a sprite, a UI
//! image, a mesh with the texture) carries [`ShowsVideo`]; while none of a track's displays is
//! visible the track's video is unsubscribed, so the server stops sending it and playout stops
//! decoding it, and it is subscribed again (from a keyframe the server asks for) as soon as one
//! is visible. A track nobody marked is received as before: the plugin cannot know where a
//! texture is used, so it never pauses what it cannot see.
//!
//! Visible means Bevy's own answer: `ViewVisibility` for what cameras cull (sprites, meshes,
//! anything with a `VisibilityClass`), `InheritedVisibility` for the rest (UI nodes). Data flow:
//! reads visibility after `CheckVisibility` in `PostUpdate`, writes subscriptions to the engine.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_livestage::prelude::*;
//!
//! fn show(mut commands: Commands, new: Query<(Entity, &RemoteVideo), Added<RemoteVideo>>) {
//!     for (track, video) in &new {
//!         // Scrolled out of view or hidden, this tile costs no bandwidth and no decoding.
//!         commands.spawn((Sprite::from_image(video.image.clone()), ShowsVideo(track)));
//!     }
//! }
//! ```

use std::time::Duration;

use bevy::camera::visibility::VisibilityClass;
use bevy::prelude::*;

use crate::channel::{LocalParticipant, Participant, ParticipantOf};
use crate::client::Livestage;
use crate::track::{Track, TrackOf};
use livestage_proto::media::Layer;

/// How long every display of a track must stay hidden before its video is paused, so a tile
/// that blinks or scrolls past does not cost a keyframe each time.
pub const HIDDEN_GRACE: Duration = Duration::from_millis(250);

/// This entity shows the video of a track entity. Despawn it, or remove the component, and the
/// track counts it no more.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
#[relationship(relationship_target = ShownBy)]
pub struct ShowsVideo(pub Entity);

/// The entities that show a track's video (on the track entity).
#[derive(Component, Debug, Default)]
#[relationship_target(relationship = ShowsVideo)]
pub struct ShownBy(Vec<Entity>);

impl ShownBy {
    /// The display entities.
    pub fn entities(&self) -> &[Entity] {
        &self.0
    }
}

/// The track's video is paused because none of its displays is visible.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VideoPaused;

/// What the game last chose for a participant with [`Subscribe`](crate::Subscribe): a paused
/// track resumes at this layer, and stays off when the game chose no video.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChosenVideo(pub Option<Layer>);

/// Since when every display of a track has been hidden.
#[derive(Component, Clone, Copy, Debug)]
pub(crate) struct HiddenSince(Duration);

type Displays<'w, 's> = Query<
    'w,
    's,
    (
        Option<&'static InheritedVisibility>,
        Option<&'static ViewVisibility>,
        Has<VisibilityClass>,
    ),
>;

fn visible(displays: &Displays, entity: Entity) -> bool {
    match displays.get(entity) {
        Ok((_, Some(view), true)) => view.get(),
        Ok((Some(inherited), _, _)) => inherited.get(),
        // Something without visibility components: it cannot be hidden.
        _ => true,
    }
}

#[allow(clippy::type_complexity)]
pub(crate) fn pause_hidden(
    mut commands: Commands,
    client: Res<Livestage>,
    time: Res<Time<Real>>,
    tracks: Query<(
        Entity,
        &Track,
        &TrackOf,
        &ShownBy,
        Has<VideoPaused>,
        Option<&HiddenSince>,
    )>,
    participants: Query<
        (&Participant, &ParticipantOf, Option<&ChosenVideo>),
        Without<LocalParticipant>,
    >,
    displays: Displays,
) {
    let now = time.elapsed();
    for (entity, track, of, shown_by, paused, hidden_since) in &tracks {
        let Ok((participant, channel, chosen)) = participants.get(of.0) else {
            continue;
        };
        let Some(link) = client.link_of(channel.0) else {
            continue;
        };
        let layer = chosen.map_or(Some(Layer::High), |c| c.0);
        let shown = shown_by.entities().iter().any(|&d| visible(&displays, d));
        let mut track_entity = commands.entity(entity);
        if shown {
            track_entity.remove::<HiddenSince>();
            if paused {
                track_entity.remove::<VideoPaused>();
                if layer.is_some() {
                    client
                        .engine
                        .subscribe_track(link, &participant.user, track.id, false, layer);
                }
            }
            continue;
        }
        match hidden_since {
            None => {
                track_entity.insert(HiddenSince(now));
            }
            Some(since) if !paused && now.saturating_sub(since.0) >= HIDDEN_GRACE => {
                track_entity.insert(VideoPaused);
                client
                    .engine
                    .subscribe_track(link, &participant.user, track.id, false, None);
            }
            Some(_) => {}
        }
    }
}

/// A track nobody shows any more (its last display despawned) resumes: the plugin no longer
/// knows whether it is wanted.
pub(crate) fn resume_unshown(
    mut removed: RemovedComponents<ShownBy>,
    mut commands: Commands,
    client: Res<Livestage>,
    tracks: Query<(&Track, &TrackOf), With<VideoPaused>>,
    participants: Query<(&Participant, &ParticipantOf, Option<&ChosenVideo>)>,
) {
    for entity in removed.read() {
        let Ok((track, of)) = tracks.get(entity) else {
            continue;
        };
        commands
            .entity(entity)
            .remove::<(VideoPaused, HiddenSince)>();
        let Ok((participant, channel, chosen)) = participants.get(of.0) else {
            continue;
        };
        let layer = chosen.map_or(Some(Layer::High), |c| c.0);
        if let (Some(link), Some(_)) = (client.link_of(channel.0), layer) {
            client
                .engine
                .subscribe_track(link, &participant.user, track.id, false, layer);
        }
    }
}
