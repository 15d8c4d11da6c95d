//! [`LivestageSystems::Send`](crate::LivestageSystems): per-participant voice settings go to
//! playout's mixer — volume when the game changes it, and each frame the placement of voices
//! whose participant entity stands in the world (proximity voice).

use bevy::prelude::*;
use livestage_net::playout::Placement;

use crate::channel::Participant;
use crate::client::Livestage;

/// A remote participant's voice volume (0.0 to 2.0; 1.0 when absent).
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct VoiceVolume(pub f32);

impl Default for VoiceVolume {
    fn default() -> Self {
        Self(1.0)
    }
}

pub(crate) fn apply_volume(
    client: Res<Livestage>,
    changed: Query<(&Participant, &VoiceVolume), Changed<VoiceVolume>>,
    mut removed: RemovedComponents<VoiceVolume>,
    participants: Query<&Participant>,
) {
    for (participant, volume) in &changed {
        client.playout.set_volume(participant.media_id, volume.0);
    }
    for entity in removed.read() {
        if let Ok(participant) = participants.get(entity) {
            client.playout.set_volume(participant.media_id, 1.0);
        }
    }
}

/// The ears for proximity voice: the entity (a player, the camera) whose transform the
/// [`SpatialVoice`] participants are heard from. One per app.
#[derive(Component, Clone, Copy, Debug, Default)]
#[require(Transform)]
pub struct VoiceListener;

/// Hear this remote participant from where its entity stands: panned left or right of the
/// [`VoiceListener`] and faded with distance — full level within `reference`, silent beyond
/// `range`, linear in between. Move the participant entity's `Transform` to move the voice.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
#[require(Transform)]
pub struct SpatialVoice {
    /// Distance within which the voice is at full level.
    pub reference: f32,
    /// Distance beyond which the voice is silent.
    pub range: f32,
}

impl Default for SpatialVoice {
    fn default() -> Self {
        Self {
            reference: 100.0,
            range: 1000.0,
        }
    }
}

impl SpatialVoice {
    /// The placement of a voice at `speaker` for a listener at `listener` (its right is +x).
    pub fn placement(&self, listener: &GlobalTransform, speaker: Vec3) -> Placement {
        let local = listener.affine().inverse().transform_point3(speaker);
        let distance = local.length();
        let gain = if distance <= self.reference {
            1.0
        } else if distance >= self.range {
            0.0
        } else {
            (self.range - distance) / (self.range - self.reference).max(f32::EPSILON)
        };
        // Pan by direction, reaching the side fully only at a right angle to the listener.
        let pan = if distance > f32::EPSILON {
            local.x / distance
        } else {
            0.0
        };
        Placement::new(pan, gain)
    }
}

pub(crate) fn place_voices(
    client: Res<Livestage>,
    listener: Query<&GlobalTransform, With<VoiceListener>>,
    voices: Query<(&Participant, &SpatialVoice, &GlobalTransform)>,
    mut removed: RemovedComponents<SpatialVoice>,
    participants: Query<&Participant>,
) {
    for entity in removed.read() {
        if let Ok(participant) = participants.get(entity) {
            client.playout.set_placement(participant.media_id, None);
        }
    }
    let Ok(listener) = listener.single() else {
        return; // No listener (or several): voices stay where they are.
    };
    for (participant, voice, transform) in &voices {
        let placement = voice.placement(listener, transform.translation());
        client
            .playout
            .set_placement(participant.media_id, Some(placement));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32, y: f32) -> Vec3 {
        Vec3::new(x, y, 0.0)
    }

    #[test]
    fn a_voice_on_the_right_is_in_the_right_ear_and_fades_with_distance() {
        let voice = SpatialVoice {
            reference: 10.0,
            range: 110.0,
        };
        let listener = GlobalTransform::from_translation(at(5.0, 5.0));
        let close_right = voice.placement(&listener, at(10.0, 5.0));
        assert_eq!((close_right.left, close_right.right), (0.0, 1.0));
        let ahead = voice.placement(&listener, at(5.0, 65.0));
        assert!(
            (ahead.left - 0.5).abs() < 1e-5 && (ahead.right - 0.5).abs() < 1e-5,
            "{ahead:?}"
        );
        let far = voice.placement(&listener, at(5.0, 500.0));
        assert_eq!((far.left, far.right), (0.0, 0.0));
    }

    #[test]
    fn turning_the_listener_around_swaps_the_ears() {
        let voice = SpatialVoice::default();
        let turned = GlobalTransform::from(Transform::from_rotation(Quat::from_rotation_z(
            std::f32::consts::PI,
        )));
        let p = voice.placement(&turned, at(50.0, 0.0));
        assert!(p.left > 0.99 && p.right < 0.01, "{p:?}");
    }
}
