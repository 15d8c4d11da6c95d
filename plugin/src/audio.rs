//! This client's own audio work: music and sound effects (through [`Livestage::mix`]), voice
//! processing (echo cancellation, noise suppression, gain), the voice changer and raw audio
//! hooks. Music and effects reach the channel through every
//! publisher's voice and this player through the playout; the voice changer and the capture
//! and encode hooks apply to every publisher of this client, now and later.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_livestage::prelude::*;
//! use bevy_livestage::audio::{MusicOptions, VoicePreset};
//!
//! fn karaoke(livestage: Res<Livestage>, keys: Res<ButtonInput<KeyCode>>) {
//!     if keys.just_pressed(KeyCode::KeyM) {
//!         // Under the microphone for the channel, quieter for the singer.
//!         let options = MusicOptions { local_volume: 0.4, ..default() };
//!         if let Err(e) = livestage.mix().start_music("assets/backing.mp3", options) {
//!             warn!("no music: {e}");
//!         }
//!     }
//!     if keys.just_pressed(KeyCode::KeyV) {
//!         livestage.set_voice_preset(VoicePreset::Giant);
//!     }
//! }
//!
//! fn music_state(mut changes: MessageReader<MusicChanged>) {
//!     for change in changes.read() {
//!         info!("music: {:?}", change.0);
//!     }
//! }
//! # let _ = (karaoke, music_state);
//! ```

use bevy::prelude::*;
use livestage_media::audio::MixEvent;
pub use livestage_media::audio::effects::EffectOptions;
pub use livestage_media::audio::hooks::{HookFailure, hook_fn};
pub use livestage_media::audio::music::{Loops, MusicError, MusicOptions, MusicState};
pub use livestage_media::audio::processing::Settings as VoiceProcessing;
pub use livestage_media::audio::{
    AudioHook, HookFormat, HookInfo, HookPoint, LocalMix, VoicePreset,
};
use livestage_net::playout::PlayoutEvent;

use crate::client::Livestage;

/// The music's state changed (playing, paused, stopped, completed, failed with the reason).
#[derive(Message, Clone, Debug, PartialEq, Eq)]
pub struct MusicChanged(pub MusicState);

/// A sound effect finished its last loop.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub struct EffectFinished(pub u32);

/// An audio hook failed (it panicked or overran its frames) and was removed; the audio plays
/// on without it.
#[derive(Message, Clone, Debug, PartialEq, Eq)]
pub struct AudioHookRemoved {
    /// Which hook.
    pub point: HookPoint,
    /// Why.
    pub reason: HookFailure,
}

impl Livestage {
    /// Music and effects this client plays: `start_music`, `with_music` (pause, resume, seek,
    /// pitch, speed, volumes, position), `preload_effect`, `play_effect`, `with_effects`.
    pub fn mix(&self) -> &LocalMix {
        &self.mix
    }

    /// Sets the voice changer of every publisher of this client.
    pub fn set_voice_preset(&self, preset: VoicePreset) {
        self.voice.set_preset(preset);
    }

    /// The voice changer's preset.
    pub fn voice_preset(&self) -> VoicePreset {
        self.voice.preset()
    }

    /// Switches echo cancellation, noise suppression and automatic gain for every publisher
    /// (all on for [`LocalAudio::Microphone`](crate::LocalAudio) until this is called, off for
    /// a tone). The echo canceller hears what this client's playout plays.
    pub fn set_voice_processing(&self, settings: VoiceProcessing) {
        self.voice.set_processing(settings);
    }

    /// Installs `hook` at `point` (replacing the hook there), or removes it with `None`:
    /// [`HookPoint::Capture`] and [`HookPoint::Encode`] on every publisher of this client,
    /// [`HookPoint::RemoteVoice`] and [`HookPoint::Playback`] on the playout. It runs on an
    /// audio thread (no blocking); a failure later arrives as [`AudioHookRemoved`].
    ///
    /// # Errors
    ///
    /// [`HookFailure::Format`] for a format hooks are not offered in.
    pub fn set_audio_hook(
        &self,
        point: HookPoint,
        hook: Option<Box<dyn AudioHook>>,
    ) -> Result<(), HookFailure> {
        match point {
            HookPoint::Capture | HookPoint::Encode => self.voice.set_hook(point, hook),
            HookPoint::RemoteVoice | HookPoint::Playback => self.playout.set_hook(point, hook),
        }
    }
}

/// Music, effect and hook news, as messages.
pub(crate) fn report(
    client: Res<Livestage>,
    mut music: MessageWriter<MusicChanged>,
    mut effects: MessageWriter<EffectFinished>,
    mut hooks: MessageWriter<AudioHookRemoved>,
) {
    for event in client.mix.poll_events() {
        match event {
            MixEvent::Music(state) => {
                music.write(MusicChanged(state));
            }
            MixEvent::EffectFinished(id) => {
                effects.write(EffectFinished(id));
            }
        }
    }
    for (point, reason) in client.voice.failures().try_iter() {
        hooks.write(AudioHookRemoved { point, reason });
    }
}

/// A playout event about a hook, as a message (speaking is handled with the channel events).
pub(crate) fn playout_hook_removed(world: &mut World, event: &PlayoutEvent) {
    if let PlayoutEvent::HookRemoved { point, reason } = event {
        world.write_message(AudioHookRemoved {
            point: *point,
            reason: reason.clone(),
        });
    }
}
