//! The [`Beauty`] component: skin smoothing, lightening, redness and sharpening of what a
//! channel publishes, applied on the publisher's video thread through the channel's
//! [`VideoControls`](livestage_net::publish::VideoControls).

use bevy::prelude::*;
use livestage_media::video::beauty;

use crate::client::Livestage;
use crate::events::LivestageError;

/// On a channel entity: beauty effects on every picture this client publishes there (its
/// webcam, picture, decoded file, custom frames or game view; not a screen share, and not a
/// forwarded file, which has no pictures), before the
/// [`LocalVideoHook`](crate::LocalVideoHook) and the encoder. Inserting or changing it applies
/// it from the next frame, also to a publisher started later; removing it turns beauty off.
/// A strength outside 0.0 to 1.0 (or NaN) is refused with a [`LivestageError`]
/// (`invalid_input`, naming the field) and the effects stay as they were.
///
/// ```
/// use bevy::prelude::*;
/// use bevy_livestage::prelude::*;
///
/// fn soften(channel: Entity, mut commands: Commands) {
///     commands.entity(channel).insert(Beauty(beauty::Options {
///         smoothness: 0.6,
///         lightening: 0.3,
///         ..default()
///     }));
/// }
/// ```
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub struct Beauty(pub beauty::Options);

/// Hands inserted and changed [`Beauty`] to the channel's video controls.
pub(crate) fn apply_beauty(
    changed: Query<(Entity, &Beauty), Changed<Beauty>>,
    mut client: ResMut<Livestage>,
    mut errors: MessageWriter<LivestageError>,
) {
    for (channel, beauty) in &changed {
        if let Err(e) = client.video_controls(channel).set_beauty(beauty.0) {
            errors.write(LivestageError::local(
                channel,
                format!("beauty refused: {e}"),
            ));
        }
    }
}

/// Turns beauty off when the component goes (replacing it is a change, not a removal).
pub(crate) fn turn_beauty_off(removed: On<Remove, Beauty>, mut client: ResMut<Livestage>) {
    client
        .video_controls(removed.entity)
        .set_beauty(beauty::Options::default())
        .expect("all strengths at 0 (beauty off) are in range");
}
