//! Music through the C ABI: a file or an `http(s)://` URL the engine plays under the voice of
//! every publisher (the channel hears it) and into its own mix (this player hears it), each at
//! its own volume. Opening and decoding happen on a worker; what becomes of it arrives as
//! `music_state` events.

use std::ffi::c_char;

use livestage_media::audio::music::{Loops, MusicError, MusicOptions, MusicPlayer};

use crate::client::Client;
use crate::error::{
    Error, LIVESTAGE_ERR_ARGUMENT, LIVESTAGE_ERR_IO, LIVESTAGE_ERR_NOT_FOUND, LIVESTAGE_ERR_STATE,
    LIVESTAGE_ERR_UNSUPPORTED, Result, guard,
};
use crate::{args, handles};

/// `livestage_music_position`'s duration while it is not known (yet): a stream without a
/// length, or before the worker opened the file.
pub const LIVESTAGE_DURATION_UNKNOWN: u64 = u64::MAX;

/// How to play music (`livestage_music_start`); `livestage_music_options_default` gives the
/// defaults noted on each field.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LivestageMusicOptions {
    /// Where the first play starts, in milliseconds (later loops start at 0). Default 0.
    pub start_ms: u64,
    /// How many times to play it; 0 plays it until stopped. Default 1.
    pub loops: u32,
    /// Pitch shift in semitones, -12 to +12, the speed unchanged. Default 0.
    pub pitch: f32,
    /// Playback speed, 0.5 to 4.0, the pitch unchanged. Default 1.
    pub speed: f32,
    /// How loud the channel hears it, 0 to 1. Default 1.
    pub publish_volume: f32,
    /// How loud this player hears it (in `livestage_audio_read`), 0 to 1. Default 1.
    pub local_volume: f32,
    /// 1: only this player hears it, nothing is sent; 0: the channel hears it too. Default 0.
    pub local_only: i32,
}

impl From<MusicOptions> for LivestageMusicOptions {
    fn from(o: MusicOptions) -> Self {
        Self {
            start_ms: o.start_ms,
            loops: match o.loops {
                Loops::Count(n) => n,
                Loops::Forever => 0,
            },
            pitch: o.pitch,
            speed: o.speed,
            publish_volume: o.publish_volume,
            local_volume: o.local_volume,
            local_only: i32::from(o.local_only),
        }
    }
}

impl LivestageMusicOptions {
    fn options(&self) -> Result<MusicOptions> {
        Ok(MusicOptions {
            loops: loops(self.loops),
            start_ms: self.start_ms,
            pitch: self.pitch,
            speed: self.speed,
            publish_volume: self.publish_volume,
            local_volume: self.local_volume,
            local_only: args::flag(self.local_only, "local_only")?,
        })
    }
}

/// A C loop count: 0 is forever.
pub(crate) fn loops(count: u32) -> Loops {
    match count {
        0 => Loops::Forever,
        n => Loops::Count(n),
    }
}

/// The C error for a music or effect error: not found, unsupported (a format or data that does
/// not decode), I/O, or a bad argument.
pub(crate) fn error(e: &MusicError) -> Error {
    let code = match e {
        MusicError::NotFound(_) => LIVESTAGE_ERR_NOT_FOUND,
        MusicError::Unsupported(_) | MusicError::Decode(_) => LIVESTAGE_ERR_UNSUPPORTED,
        MusicError::Io(_) | MusicError::Seek(_) => LIVESTAGE_ERR_IO,
        MusicError::TooLong(_) | MusicError::InvalidArgument(_) => LIVESTAGE_ERR_ARGUMENT,
    };
    Error::new(code, e.to_string())
}

/// Runs `f` on the music of `engine`; `LIVESTAGE_ERR_STATE` when none was started.
fn with_music(engine: i64, f: impl FnOnce(&mut MusicPlayer) -> Result<()>) -> i32 {
    guard(|| {
        handles::with(engine, |client: &Client| {
            client.mix.with_music(f).unwrap_or_else(|| {
                Err(Error::new(
                    LIVESTAGE_ERR_STATE,
                    "no music was started (or it was stopped); call livestage_music_start first",
                ))
            })?;
            Ok(0)
        })
    })
}

/// The default music options: once from the start, no pitch shift, normal speed, full volume
/// for the channel and for this player.
#[unsafe(no_mangle)]
pub extern "C" fn livestage_music_options_default() -> LivestageMusicOptions {
    MusicOptions::default().into()
}

/// Plays music from a local path or an `http(s)://` URL (MP3, AAC/M4A, FLAC, Ogg Vorbis, WAV),
/// replacing the music playing (which reports `stopped`), with `options` (null for the
/// defaults). The channel hears it under the voice of every voice publisher of the engine
/// (pushed voice must keep coming: the music goes out with it); this player hears it in
/// `livestage_audio_read`. Opening and decoding happen on a worker: `music_state` events tell
/// `playing`, then `completed` (or `failed` with the reason).
///
/// `LIVESTAGE_ERR_NOT_FOUND` for a local file that does not exist, `LIVESTAGE_ERR_ARGUMENT`
/// for options out of range; a URL or a file that cannot be decoded fails later, as a `failed`
/// event.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `path_or_url` must be a NUL-terminated string; `options` null or valid for reading.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_music_start(
    engine: i64,
    path_or_url: *const c_char,
    options: *const LivestageMusicOptions,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let location = unsafe { args::text(path_or_url, "path_or_url") }?;
        // SAFETY: null or valid for reading (the caller's contract).
        let options = match unsafe { options.as_ref() } {
            Some(options) => options.options()?,
            None => MusicOptions::default(),
        };
        handles::with(engine, |client| {
            client
                .mix
                .start_music(location, options)
                .map_err(|e| error(&e))?;
            Ok(0)
        })
    })
}

/// Pauses the music (a `paused` event); its position holds. `LIVESTAGE_ERR_STATE` when no
/// music was started.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_music_pause(engine: i64) -> i32 {
    with_music(engine, |m| {
        m.pause();
        Ok(())
    })
}

/// Resumes paused music (a `playing` event). `LIVESTAGE_ERR_STATE` when no music was started.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_music_resume(engine: i64) -> i32 {
    with_music(engine, |m| {
        m.resume();
        Ok(())
    })
}

/// Stops the music (a `stopped` event when some was playing); stopping nothing is not an
/// error.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_music_stop(engine: i64) -> i32 {
    guard(|| {
        handles::with(engine, |client| {
            client.mix.stop_music();
            Ok(0)
        })
    })
}

/// Moves the music to `ms` milliseconds from the start; what was decoded ahead is dropped, so
/// it is heard within about 20 ms. A source that cannot seek there reports a `failed` event
/// and plays on. `LIVESTAGE_ERR_STATE` when no music was started.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_music_seek(engine: i64, ms: u64) -> i32 {
    with_music(engine, |m| {
        m.seek(ms);
        Ok(())
    })
}

/// Shifts the music's pitch by `semitones` (-12 to +12) while it plays, the speed unchanged.
/// `LIVESTAGE_ERR_STATE` when no music was started.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_music_set_pitch(engine: i64, semitones: f32) -> i32 {
    with_music(engine, |m| m.set_pitch(semitones).map_err(|e| error(&e)))
}

/// Changes the music's speed (0.5 to 4.0) while it plays, the pitch unchanged.
/// `LIVESTAGE_ERR_STATE` when no music was started.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_music_set_speed(engine: i64, speed: f32) -> i32 {
    with_music(engine, |m| m.set_speed(speed).map_err(|e| error(&e)))
}

/// Changes how loud the channel (`publish`) and this player (`local`) hear the music, 0 to 1
/// each. `LIVESTAGE_ERR_STATE` when no music was started.
///
/// Main thread (any thread but the audio thread).
#[unsafe(no_mangle)]
pub extern "C" fn livestage_music_set_volumes(engine: i64, publish: f32, local: f32) -> i32 {
    with_music(engine, |m| {
        m.set_volumes(publish, local).map_err(|e| error(&e))
    })
}

/// Writes where the music is (milliseconds from the start of the source) to `*position_ms`
/// and its length to `*duration_ms` (`LIVESTAGE_DURATION_UNKNOWN` while not known); either may
/// be null. Returns 1, or 0 when no music was started (0 and `LIVESTAGE_DURATION_UNKNOWN`
/// are written then).
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `position_ms` and `duration_ms` must each be null or valid for writing a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_music_position(
    engine: i64,
    position_ms: *mut u64,
    duration_ms: *mut u64,
) -> i32 {
    guard(|| {
        if !position_ms.is_aligned() || !duration_ms.is_aligned() {
            return Err(Error::argument(
                "`position_ms` or `duration_ms` is not aligned for a uint64_t",
            ));
        }
        handles::with(engine, |client| {
            let found = client
                .mix
                .with_music(|m| (m.position_ms(), m.duration_ms()));
            let (position, duration) = found.unwrap_or((0, None));
            // SAFETY: each is null or valid for writing (the caller's contract), and aligned.
            unsafe {
                if let Some(out) = position_ms.as_mut() {
                    *out = position;
                }
                if let Some(out) = duration_ms.as_mut() {
                    *out = duration.unwrap_or(LIVESTAGE_DURATION_UNKNOWN);
                }
            }
            Ok(i32::from(found.is_some()))
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn options_round_trip_and_errors_map_to_codes() {
        let defaults = livestage_music_options_default();
        assert_eq!(defaults.options().unwrap(), MusicOptions::default());
        let forever = LivestageMusicOptions {
            loops: 0,
            ..defaults
        };
        assert_eq!(forever.options().unwrap().loops, Loops::Forever);
        let bad = LivestageMusicOptions {
            local_only: 2,
            ..defaults
        };
        assert!(bad.options().is_err());
        let code = |e: MusicError| error(&e).code();
        assert_eq!(
            code(MusicError::NotFound("a".into())),
            LIVESTAGE_ERR_NOT_FOUND
        );
        assert_eq!(
            code(MusicError::Decode("a".into())),
            LIVESTAGE_ERR_UNSUPPORTED
        );
        assert_eq!(code(MusicError::Io("a".into())), LIVESTAGE_ERR_IO);
        assert_eq!(code(MusicError::TooLong(30)), LIVESTAGE_ERR_ARGUMENT);
    }
}
