//! [`LivestageSystems::Send`](crate::LivestageSystems): per-participant voice settings the
//! game changed this frame go to playout's mixer.

use bevy::prelude::*;

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
