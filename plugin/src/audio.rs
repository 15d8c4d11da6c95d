//! This client's own audio work: music and sound effects (through [`Livestage::mix`]), voice
//! processing (echo cancellation, noise suppression, gain), the voice changer and raw audio
//! hooks. Music and effects reach the channel through every
//! publisher's voice and this player through the playout; the voice changer and the capture
//! and encode hooks apply to every publisher of this client, now and later.
//!
//! Requests are events ([`PlayMusic`], [`MusicControl`], [`PreloadEffect`], [`PlayEffect`],
//! [`StopEffect`], [`ChangeVoice`], [`SetVoiceProcessing`]); what happened arrives as messages
//! ([`MusicChanged`], [`EffectFinished`], [`AudioRequestFailed`], [`AudioHookRemoved`]) and the
//! [`MusicStatus`] resource says where the music is. Hooks are code, installed with
//! [`Livestage::set_audio_hook`].
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_livestage::prelude::*;
//! use bevy_livestage::audio::{ChangeVoice, MusicControl, MusicOptions, PlayMusic, VoicePreset};
//!
//! fn karaoke(mut commands: Commands, keys: Res<ButtonInput<KeyCode>>) {
//!     if keys.just_pressed(KeyCode::KeyM) {
//!         // Under the microphone for the channel, quieter for the singer.
//!         let options = MusicOptions { local_volume: 0.4, ..default() };
//!         commands.trigger(PlayMusic::new("assets/backing.mp3", options));
//!     }
//!     if keys.just_pressed(KeyCode::KeyP) {
//!         commands.trigger(MusicControl::Pause);
//!     }
//!     if keys.just_pressed(KeyCode::KeyV) {
//!         commands.trigger(ChangeVoice(VoicePreset::Giant));
//!     }
//! }
//!
//! fn music_state(mut changes: MessageReader<MusicChanged>, status: Res<MusicStatus>) {
//!     for change in changes.read() {
//!         info!("music: {:?} at {} ms", change.0, status.position_ms);
//!     }
//! }
//! # let _ = (karaoke, music_state);
//! ```

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};
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

/// Play music (a path or an http(s) URL) under this client's voice and to this player,
/// replacing what plays. Opening happens on a worker: the outcome arrives as [`MusicChanged`].
#[derive(Event, Clone, Debug)]
pub struct PlayMusic {
    /// A path or an `http(s)://` URL.
    pub source: String,
    /// Loops, start, pitch, speed, volumes, local-only.
    pub options: MusicOptions,
}

impl PlayMusic {
    /// `source` with `options`.
    pub fn new(source: impl Into<String>, options: MusicOptions) -> Self {
        Self {
            source: source.into(),
            options,
        }
    }
}

/// Change the music playing (nothing happens without music).
#[derive(Event, Clone, Copy, Debug, PartialEq)]
pub enum MusicControl {
    /// Pause; the position holds.
    Pause,
    /// Resume after a pause.
    Resume,
    /// Stop (reported as [`MusicState::Stopped`]).
    Stop,
    /// Move to this many milliseconds from the start.
    Seek(u64),
    /// Pitch shift in semitones (-12 to 12).
    Pitch(f32),
    /// Playback speed (0.5 to 4.0).
    Speed(f32),
    /// What the channel and this player hear (0.0 to 1.0 each).
    Volumes {
        /// The channel.
        publish: f32,
        /// This player.
        local: f32,
    },
}

/// Decode a short clip (a path or URL, up to 30 s) as effect `id`, on a background thread.
#[derive(Event, Clone, Debug)]
pub struct PreloadEffect {
    /// The id to play it by.
    pub id: u32,
    /// A path or an `http(s)://` URL.
    pub source: String,
}

/// Play preloaded effect `id` (on top of any sounding copy).
#[derive(Event, Clone, Copy, Debug)]
pub struct PlayEffect {
    /// Which.
    pub id: u32,
    /// Volume, loops, pitch, pan, published or local.
    pub options: EffectOptions,
}

/// Stop effect `id`, or every effect with `None`.
#[derive(Event, Clone, Copy, Debug)]
pub struct StopEffect(pub Option<u32>);

/// Change the voice of every publisher of this client.
#[derive(Event, Clone, Copy, Debug, PartialEq)]
pub struct ChangeVoice(pub VoicePreset);

/// Switch echo cancellation, noise suppression and gain for every publisher of this client
/// (all on for the microphone until this is sent, off for a tone).
#[derive(Event, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetVoiceProcessing(pub VoiceProcessing);

/// A music or effect request was refused (a missing file, a value out of range, an effect not
/// loaded).
#[derive(Message, Clone, Debug, PartialEq, Eq)]
pub struct AudioRequestFailed {
    /// Which request: `play_music`, `music_control`, `preload_effect`, `play_effect`.
    pub request: &'static str,
    /// Why.
    pub error: MusicError,
}

/// Where the music is, updated every frame.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct MusicStatus {
    /// The last state reported, `None` before any music.
    pub state: Option<MusicState>,
    /// Position in milliseconds from the start of the source.
    pub position_ms: u64,
    /// The source's length, once known.
    pub duration_ms: Option<u64>,
}

/// Refusals from background preloads, on their way to [`AudioRequestFailed`].
#[derive(Resource)]
pub(crate) struct Refusals {
    tx: Sender<AudioRequestFailed>,
    rx: Receiver<AudioRequestFailed>,
}

impl Default for Refusals {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(64);
        Self { tx, rx }
    }
}

fn refused(refusals: &Refusals, request: &'static str, error: MusicError) {
    warn!("livestage: {request} refused: {error}");
    let _ = refusals.tx.try_send(AudioRequestFailed { request, error });
}

pub(crate) fn play_music(request: On<PlayMusic>, client: Res<Livestage>, refusals: Res<Refusals>) {
    if let Err(e) = client.mix.start_music(&request.source, request.options) {
        refused(&refusals, "play_music", e);
    }
}

pub(crate) fn music_control(
    request: On<MusicControl>,
    client: Res<Livestage>,
    refusals: Res<Refusals>,
) {
    let control = *request;
    if control == MusicControl::Stop {
        client.mix.stop_music();
        return;
    }
    let done = client.mix.with_music(|m| match control {
        MusicControl::Pause => {
            m.pause();
            Ok(())
        }
        MusicControl::Resume => {
            m.resume();
            Ok(())
        }
        MusicControl::Seek(ms) => {
            m.seek(ms);
            Ok(())
        }
        MusicControl::Pitch(p) => m.set_pitch(p),
        MusicControl::Speed(s) => m.set_speed(s),
        MusicControl::Volumes { publish, local } => m.set_volumes(publish, local),
        MusicControl::Stop => Ok(()),
    });
    if let Some(Err(e)) = done {
        refused(&refusals, "music_control", e);
    }
}

pub(crate) fn preload_effect(
    request: On<PreloadEffect>,
    client: Res<Livestage>,
    refusals: Res<Refusals>,
) {
    // Decoding (or downloading) takes a while: off the main thread.
    let (mix, id, source, tx) = (
        client.mix.clone(),
        request.id,
        request.source.clone(),
        refusals.tx.clone(),
    );
    let spawned = std::thread::Builder::new()
        .name("livestage-preload".into())
        .spawn(move || {
            if let Err(error) = mix.preload_effect(id, &source) {
                let _ = tx.try_send(AudioRequestFailed {
                    request: "preload_effect",
                    error,
                });
            }
        });
    if let Err(e) = spawned {
        refused(&refusals, "preload_effect", MusicError::Io(e.to_string()));
    }
}

pub(crate) fn play_effect(
    request: On<PlayEffect>,
    client: Res<Livestage>,
    refusals: Res<Refusals>,
) {
    if let Err(e) = client.mix.play_effect(request.id, request.options) {
        refused(&refusals, "play_effect", e);
    }
}

pub(crate) fn stop_effect(request: On<StopEffect>, client: Res<Livestage>) {
    let which = request.0;
    client.mix.with_effects(|e| match which {
        Some(id) => e.stop(id),
        None => e.stop_all(),
    });
}

pub(crate) fn change_voice(request: On<ChangeVoice>, client: Res<Livestage>) {
    client.voice.set_preset(request.0);
}

pub(crate) fn set_voice_processing(request: On<SetVoiceProcessing>, client: Res<Livestage>) {
    client.voice.set_processing(request.0);
}

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
    /// Music and effects this client plays, for direct use from a system (the requests above
    /// go through it): `start_music`, `with_music` (pause, resume, seek, pitch, speed, volumes,
    /// position), `preload_effect`, `play_effect`, `with_effects`.
    pub fn mix(&self) -> &LocalMix {
        &self.mix
    }

    /// The voice changer's preset.
    pub fn voice_preset(&self) -> VoicePreset {
        self.voice.preset()
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

/// Music, effect and hook news, as messages, and the music's status.
pub(crate) fn report(
    client: Res<Livestage>,
    refusals: Res<Refusals>,
    mut status: ResMut<MusicStatus>,
    mut music: MessageWriter<MusicChanged>,
    mut effects: MessageWriter<EffectFinished>,
    mut hooks: MessageWriter<AudioHookRemoved>,
    mut failed: MessageWriter<AudioRequestFailed>,
) {
    for refusal in refusals.rx.try_iter() {
        failed.write(refusal);
    }
    if let Some((position_ms, duration_ms)) = client
        .mix
        .with_music(|m| (m.position_ms(), m.duration_ms()))
        && (status.position_ms, status.duration_ms) != (position_ms, duration_ms)
    {
        status.position_ms = position_ms;
        status.duration_ms = duration_ms;
    }
    for event in client.mix.poll_events() {
        match event {
            MixEvent::Music(state) => {
                status.state = Some(state.clone());
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
