//! Sound effects through the C ABI: short clips (up to 30 s, 64 at once) preloaded by the app's
//! own ids and played from memory, several at once, each with its volume, loops, pitch, pan,
//! and whether the channel hears it or only this player. An effect that ends by itself
//! reports an `effect_finished` event.

use std::ffi::c_char;

use livestage_media::audio::effects::EffectOptions;
use livestage_media::audio::music::Loops;

use crate::error::{Error, LIVESTAGE_ERR_NOT_FOUND, Result, guard};
use crate::music::{error, loops};
use crate::{args, handles};

/// How to play an effect (`livestage_effect_play`); `livestage_effect_options_default` gives
/// the defaults noted on each field.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LivestageEffectOptions {
    /// Loudness, 0 to 1. Default 1.
    pub volume: f32,
    /// How many times to play it; 0 plays it until stopped. Default 1.
    pub loops: u32,
    /// Playback rate, 0.5 to 2.0: 2.0 is an octave up and twice as fast. Default 1.
    pub pitch: f32,
    /// -1 hard left to 1 hard right. Default 0.
    pub pan: f32,
    /// 1: the channel hears it too; 0: only this player. Default 1.
    pub publish: i32,
}

impl From<EffectOptions> for LivestageEffectOptions {
    fn from(o: EffectOptions) -> Self {
        Self {
            volume: o.volume,
            loops: match o.loops {
                Loops::Count(n) => n,
                Loops::Forever => 0,
            },
            pitch: o.pitch,
            pan: o.pan,
            publish: i32::from(o.publish),
        }
    }
}

impl LivestageEffectOptions {
    fn options(&self) -> Result<EffectOptions> {
        Ok(EffectOptions {
            volume: self.volume,
            loops: loops(self.loops),
            pitch: self.pitch,
            pan: self.pan,
            publish: args::flag(self.publish, "publish")?,
        })
    }
}

/// The default effect options: once, full volume, normal pitch, centred, heard by the channel.
#[unsafe(no_mangle)]
pub extern "C" fn livestage_effect_options_default() -> LivestageEffectOptions {
    EffectOptions::default().into()
}

/// Decodes a clip (a local path or an `http(s)://` URL, at most 30 s) into memory as effect
/// `id`, replacing a clip with that id; up to 64 are loaded at once. It decodes on the calling
/// thread (a few milliseconds for a short local file; a URL waits for the network): preload
/// before the moment it is needed.
///
/// `LIVESTAGE_ERR_NOT_FOUND` for a file that does not exist (or a 404),
/// `LIVESTAGE_ERR_UNSUPPORTED` for one that is not audio Livestage decodes, `LIVESTAGE_ERR_IO`
/// when it cannot be read, `LIVESTAGE_ERR_ARGUMENT` for a clip too long or a 65th clip.
///
/// Main thread or a worker (not the audio thread).
///
/// # Safety
///
/// `path_or_url` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_effect_preload(
    engine: i64,
    id: u32,
    path_or_url: *const c_char,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let location = unsafe { args::text(path_or_url, "path_or_url") }?;
        handles::with(engine, |client| {
            client
                .mix
                .preload_effect(id, location)
                .map_err(|e| error(&e))?;
            Ok(0)
        })
    })
}

/// Plays effect `id` with `options` (null for the defaults), on top of any copy of it still
/// sounding; past 16 effects sounding at once the oldest stops. The channel hears it through
/// every voice publisher of the engine (when `publish`), this player in
/// `livestage_audio_read`. When its last loop ends, an `effect_finished` event tells.
///
/// `LIVESTAGE_ERR_NOT_FOUND` when no effect `id` is loaded, `LIVESTAGE_ERR_ARGUMENT` for
/// options out of range.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `options` must be null or valid for reading.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_effect_play(
    engine: i64,
    id: u32,
    options: *const LivestageEffectOptions,
) -> i32 {
    guard(|| {
        // SAFETY: null or valid for reading (the caller's contract).
        let options = match unsafe { options.as_ref() } {
            Some(options) => options.options()?,
            None => EffectOptions::default(),
        };
        handles::with(engine, |client| {
            if !client.mix.with_effects(|e| e.is_loaded(id)) {
                return Err(Error::new(
                    LIVESTAGE_ERR_NOT_FOUND,
                    format!("no effect {id} is loaded; call livestage_effect_preload first"),
                ));
            }
            client.mix.play_effect(id, options).map_err(|e| error(&e))?;
            Ok(0)
        })
    })
}

/// Stops every sounding copy of effect `id` (no `effect_finished` event); the clip stays
/// loaded. Stopping an effect that does not sound is not an error.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_effect_stop(engine: i64, id: u32) -> i32 {
    guard(|| {
        handles::with(engine, |client| {
            client.mix.with_effects(|e| e.stop(id));
            Ok(0)
        })
    })
}

/// Stops every sounding effect (no `effect_finished` events); the clips stay loaded.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_effect_stop_all(engine: i64) -> i32 {
    guard(|| {
        handles::with(engine, |client| {
            client.mix.with_effects(|e| e.stop_all());
            Ok(0)
        })
    })
}

/// Stops effect `id` and frees its clip; unloading an id that is not loaded is not an error.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_effect_unload(engine: i64, id: u32) -> i32 {
    guard(|| {
        handles::with(engine, |client| {
            client.mix.with_effects(|e| e.unload(id));
            Ok(0)
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn options_round_trip() {
        let defaults = livestage_effect_options_default();
        assert_eq!(defaults.options().unwrap(), EffectOptions::default());
        let bad = LivestageEffectOptions {
            publish: -1,
            ..defaults
        };
        assert!(bad.options().is_err());
    }
}
