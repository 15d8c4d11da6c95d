//! The voice chain through the C ABI: the voice changer (a `LIVESTAGE_VOICE_*` preset) and
//! voice processing (`LIVESTAGE_PROCESSING_*`: echo cancellation, noise suppression, gain) for
//! the voice of every publisher of the engine, applied before music and effects are mixed in
//! (the backing track keeps its key and is never cancelled as echo).

use livestage_media::audio::VoicePreset;
use livestage_media::audio::processing::Settings;

use crate::error::{Error, Result, guard};
use crate::handles;

/// The voice as it is (bit-exact).
pub const LIVESTAGE_VOICE_OFF: i32 = 0;
/// Four semitones up.
pub const LIVESTAGE_VOICE_HIGHER: i32 = 1;
/// Four semitones down.
pub const LIVESTAGE_VOICE_LOWER: i32 = 2;
/// Nine semitones up, formants up: small and quick.
pub const LIVESTAGE_VOICE_CHIPMUNK: i32 = 3;
/// Seven semitones down, formants down: big and slow.
pub const LIVESTAGE_VOICE_GIANT: i32 = 4;
/// Metallic: ring-modulated at 50 Hz (a tone at f comes out at f - 50 and f + 50 Hz).
pub const LIVESTAGE_VOICE_ROBOT: i32 = 5;
/// A small room with a slap-back echo.
pub const LIVESTAGE_VOICE_ROOM: i32 = 6;
/// A free pitch shift by `semitones`, -12 to +12.
pub const LIVESTAGE_VOICE_PITCH: i32 = 7;

/// A `LIVESTAGE_VOICE_*` value (with `semitones` for `LIVESTAGE_VOICE_PITCH`).
fn preset(value: i32, semitones: f32) -> Result<VoicePreset> {
    Ok(match value {
        LIVESTAGE_VOICE_OFF => VoicePreset::Off,
        LIVESTAGE_VOICE_HIGHER => VoicePreset::Higher,
        LIVESTAGE_VOICE_LOWER => VoicePreset::Lower,
        LIVESTAGE_VOICE_CHIPMUNK => VoicePreset::Chipmunk,
        LIVESTAGE_VOICE_GIANT => VoicePreset::Giant,
        LIVESTAGE_VOICE_ROBOT => VoicePreset::Robot,
        LIVESTAGE_VOICE_ROOM => VoicePreset::Room,
        LIVESTAGE_VOICE_PITCH if (-12.0..=12.0).contains(&semitones) => {
            VoicePreset::Pitch(semitones)
        }
        LIVESTAGE_VOICE_PITCH => {
            return Err(Error::argument(format!(
                "{semitones} semitones is outside -12 to +12"
            )));
        }
        other => {
            return Err(Error::argument(format!(
                "voice preset {other} is not one of LIVESTAGE_VOICE_OFF (0), _HIGHER, _LOWER, \
                 _CHIPMUNK, _GIANT, _ROBOT, _ROOM or _PITCH (7)"
            )));
        }
    })
}

/// Sets the voice changer of every voice publisher of the engine, now and later:
/// `LIVESTAGE_VOICE_OFF`, `_HIGHER`, `_LOWER`, `_CHIPMUNK`, `_GIANT`, `_ROBOT`, `_ROOM`, or
/// `_PITCH` with `semitones` (-12 to +12; ignored by the others). The pitch presets delay the
/// voice by about 43 ms. Running publishers change before their next frame.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_voice_preset(engine: i64, preset: i32, semitones: f32) -> i32 {
    guard(|| {
        let preset = self::preset(preset, semitones)?;
        handles::with(engine, |client| {
            client.controls.set_preset(preset);
            Ok(0)
        })
    })
}

/// Echo cancellation: takes what this engine's playout plays out of the voice.
pub const LIVESTAGE_PROCESSING_ECHO: u32 = 1;
/// Noise suppression: about 12 dB less steady background noise.
pub const LIVESTAGE_PROCESSING_NOISE: u32 = 2;
/// Automatic gain: speech at a steady level (a digital gain and a limiter).
pub const LIVESTAGE_PROCESSING_GAIN: u32 = 4;

/// Switches voice processing for every voice publisher of the engine, now and later: a set of
/// `LIVESTAGE_PROCESSING_*` bits, 0 for none. Pushed voice starts with none (a game engine's
/// microphone is often processed already); with `LIVESTAGE_PROCESSING_ECHO` the voice loses
/// what this engine's playout plays (the echo of the other players through the speakers). All
/// three cost about 0.45 ms per 20 ms frame and delay the voice by 15 ms; any change restarts
/// the echo canceller's convergence (a few seconds). Other bits are refused
/// (`LIVESTAGE_ERR_ARGUMENT`).
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_voice_processing(engine: i64, stages: u32) -> i32 {
    guard(|| {
        let all =
            LIVESTAGE_PROCESSING_ECHO | LIVESTAGE_PROCESSING_NOISE | LIVESTAGE_PROCESSING_GAIN;
        if stages & !all != 0 {
            return Err(Error::argument(format!(
                "processing stages {stages:#x} hold bits other than LIVESTAGE_PROCESSING_ECHO (1), _NOISE (2) and _GAIN (4)"
            )));
        }
        let settings = Settings {
            echo_cancellation: stages & LIVESTAGE_PROCESSING_ECHO != 0,
            noise_suppression: stages & LIVESTAGE_PROCESSING_NOISE != 0,
            auto_gain: stages & LIVESTAGE_PROCESSING_GAIN != 0,
        };
        handles::with(engine, |client| {
            client.controls.set_processing(settings);
            Ok(0)
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn presets_are_checked() {
        assert_eq!(preset(1, 99.0).unwrap(), VoicePreset::Higher);
        assert_eq!(preset(7, -3.5).unwrap(), VoicePreset::Pitch(-3.5));
        assert!(preset(7, 13.0).is_err());
        assert!(preset(7, f32::NAN).is_err());
        assert!(preset(8, 0.0).is_err());
    }
}
