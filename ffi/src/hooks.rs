//! Raw audio hooks through the C ABI: a C function the app installs at one of the four points
//! of the audio path (`LIVESTAGE_HOOK_*`), called on an audio thread with each frame in the
//! format it asked for, which it may rewrite in place.
//!
//! ```text
//! pushed voice ─▶ [CAPTURE] ─▶ voice changer ─▶ + music, effects ─▶ [ENCODE] ─▶ Opus
//! remote voice ─▶ decode ─▶ [REMOTE_VOICE] ─▶ volume ─▶ mix + local music ─▶ [PLAYBACK] ─▶ livestage_audio_read
//! ```
//!
//! A [`Gate`] stands between the engine and the C function: once `livestage_audio_hook`
//! returns, or the `audio_hook_removed` event is queued, the old callback and its `user_data`
//! are never used again.

use std::ffi::c_void;
use std::sync::{Arc, Mutex, MutexGuard};

use livestage_media::audio::hooks::HookFailure;
use livestage_media::audio::{AudioHook, Format, HookFormat, HookInfo, HookPoint};

use crate::client::{Client, lock};
use crate::error::{Error, Result, guard};
use crate::gate::{Gate, UserData, not_in_hook};
use crate::handles;

/// The microphone as pushed, before the voice changer, music and effects (every publisher of
/// the engine).
pub const LIVESTAGE_HOOK_CAPTURE: i32 = 0;
/// What is about to be encoded: the voice (changed) with music and effects (every publisher of
/// the engine).
pub const LIVESTAGE_HOOK_ENCODE: i32 = 1;
/// Each remote user's decoded voice, before volume and mixing (`media_id` says whose).
pub const LIVESTAGE_HOOK_REMOTE_VOICE: i32 = 2;
/// The mixed remote voice with this engine's own music and effects, as it goes to
/// `livestage_audio_read` (or the output device).
pub const LIVESTAGE_HOOK_PLAYBACK: i32 = 3;

/// The format a hook wants its frames in; the engine converts each 20 ms frame of its path to
/// it and back.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivestageHookFormat {
    /// 8000, 16000, 24000, 32000, 44100 or 48000.
    pub sample_rate: u32,
    /// 1 or 2 (interleaved).
    pub channels: u32,
    /// 10 or 20: a 20 ms frame of the path is handed over whole or in two halves.
    pub frame_ms: u32,
}

/// A raw audio hook: reads and may rewrite `len` interleaved samples of `channels` channels at
/// `sample_rate` in place (the format it was installed with). `point` is its
/// `LIVESTAGE_HOOK_*`; `media_id` the remote user's for `LIVESTAGE_HOOK_REMOTE_VOICE`, else 0;
/// `user_data` what was given to `livestage_audio_hook`.
///
/// It runs on an audio thread: no allocation, locks, waits or I/O; return quickly, and do not
/// call into the library. Calls to one installed hook never overlap, but may come from
/// different threads.
pub type LivestageAudioHookFn = Option<
    unsafe extern "C" fn(
        samples: *mut f32,
        len: usize,
        sample_rate: u32,
        channels: u32,
        point: i32,
        media_id: u64,
        user_data: *mut c_void,
    ),
>;

/// A C function as an [`AudioHook`].
struct CHook {
    callback: unsafe extern "C" fn(*mut f32, usize, u32, u32, i32, u64, *mut c_void),
    user_data: UserData,
    format: HookFormat,
    point: i32,
    gate: Arc<Gate>,
}

impl AudioHook for CHook {
    fn format(&self) -> HookFormat {
        self.format
    }

    fn process(&mut self, frame: &mut [f32], info: &HookInfo<'_>) {
        self.gate.call(|| {
            // SAFETY: the caller of livestage_audio_hook gave a function of this signature and
            // promised it (and `user_data`) stay valid until the hook is replaced or removed,
            // which closes the gate and waits for this call; `frame` is valid for its length.
            unsafe {
                (self.callback)(
                    frame.as_mut_ptr(),
                    frame.len(),
                    self.format.sample_rate,
                    u32::from(self.format.channels),
                    self.point,
                    info.media_id.unwrap_or(0),
                    self.user_data.0,
                );
            }
        });
    }
}

/// The gates of the hooks installed now, one per point.
#[derive(Default)]
pub(crate) struct Installed(Mutex<[Option<Arc<Gate>>; 4]>);

impl Installed {
    fn lock(&self) -> MutexGuard<'_, [Option<Arc<Gate>>; 4]> {
        lock(&self.0)
    }

    /// The engine removed the hook at `point` (it failed): its callback is not called again.
    pub(crate) fn removed(&self, point: HookPoint) {
        if let Some(gate) = self.lock()[index(point)].take() {
            gate.close();
        }
    }

    /// Closes every hook (the engine is going).
    pub(crate) fn close_all(&self) {
        for gate in self.lock().iter_mut().filter_map(Option::take) {
            gate.close();
        }
    }
}

fn index(point: HookPoint) -> usize {
    match point {
        HookPoint::Capture => 0,
        HookPoint::Encode => 1,
        HookPoint::RemoteVoice => 2,
        HookPoint::Playback => 3,
    }
}

/// A `LIVESTAGE_HOOK_*` value.
fn point(value: i32) -> Result<HookPoint> {
    match value {
        LIVESTAGE_HOOK_CAPTURE => Ok(HookPoint::Capture),
        LIVESTAGE_HOOK_ENCODE => Ok(HookPoint::Encode),
        LIVESTAGE_HOOK_REMOTE_VOICE => Ok(HookPoint::RemoteVoice),
        LIVESTAGE_HOOK_PLAYBACK => Ok(HookPoint::Playback),
        other => Err(Error::argument(format!(
            "hook point {other} is not LIVESTAGE_HOOK_CAPTURE (0), _ENCODE (1), \
             _REMOTE_VOICE (2) or _PLAYBACK (3)"
        ))),
    }
}

/// The format a hook gets: the one asked for, or by default the path's own (48 kHz mono for
/// the voice points, the mix's channels for playback), 20 ms.
fn format(
    asked: Option<&LivestageHookFormat>,
    point: HookPoint,
    mix: Format,
) -> Result<HookFormat> {
    let Some(asked) = asked else {
        return Ok(match point {
            HookPoint::Playback => HookFormat {
                sample_rate: mix.sample_rate,
                channels: mix.channels,
                frame_ms: 20,
            },
            _ => HookFormat::VOICE,
        });
    };
    let channels = u16::try_from(asked.channels)
        .map_err(|_| Error::argument(format!("{} channels: use 1 or 2", asked.channels)))?;
    Ok(HookFormat {
        sample_rate: asked.sample_rate,
        channels,
        frame_ms: asked.frame_ms,
    })
}

/// Installs `callback` at `point` on `client`, replacing the hook there, or removes it.
fn install(
    client: &Client,
    point: HookPoint,
    hook: Option<(CHook, Arc<Gate>)>,
) -> std::result::Result<(), HookFailure> {
    // Held throughout, so two installs at one point cannot cross.
    let mut installed = client.hooks.lock();
    let (hook, gate) = match hook {
        Some((hook, gate)) => (Some(Box::new(hook) as Box<dyn AudioHook>), Some(gate)),
        None => (None, None),
    };
    match point {
        HookPoint::Capture | HookPoint::Encode => client.controls.set_hook(point, hook)?,
        HookPoint::RemoteVoice | HookPoint::Playback => client.playout.set_hook(point, hook)?,
    }
    if let Some(old) = std::mem::replace(&mut installed[index(point)], gate) {
        old.close();
    }
    Ok(())
}

/// Installs a raw audio hook at `point` (`LIVESTAGE_HOOK_CAPTURE`, `_ENCODE`, `_REMOTE_VOICE`
/// or `_PLAYBACK`), replacing the one there; a null `callback` removes it. `format` is what the
/// hook gets (null: 48 kHz mono 20 ms at the voice points, the mix's 48 kHz and channels at
/// playback); `LIVESTAGE_ERR_ARGUMENT` for a format not offered. Capture and encode hooks run
/// on every voice publisher of the engine, now and later; remote voice on each remote user's
/// voice; playback on the mix.
///
/// The callback runs on an audio thread: no allocation, locks, waits or I/O, no calls into
/// the library, and return quickly. Calls to one installed hook never overlap, but they may come from several threads
/// (capture and encode: one per publisher; remote voice and playback: the engine's voice
/// clock), so `user_data` must be usable from any thread. A hook that takes longer than its
/// frame 5 times in a row is removed and reported by an `audio_hook_removed` event; from then
/// on it is not called.
///
/// When this returns, the hook it replaced or removed is not called again (a call in flight is
/// waited for), so its `user_data` may be freed. Main thread; `LIVESTAGE_ERR_STATE` from inside
/// a hook.
///
/// # Safety
///
/// `format` must be null or valid for reading. `callback`, and `user_data` as it uses it, must
/// stay valid, and be safe to call from any thread, until the hook is replaced, removed, reported
/// removed or the engine freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_audio_hook(
    engine: i64,
    point: i32,
    format: *const LivestageHookFormat,
    callback: LivestageAudioHookFn,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        not_in_hook("livestage_audio_hook")?;
        let point_value = point;
        let point = self::point(point)?;
        // SAFETY: null or valid for reading (the caller's contract).
        let asked = unsafe { format.as_ref() };
        handles::with(engine, |client| {
            let hook = match callback {
                Some(callback) => {
                    let gate = Arc::new(Gate::default());
                    let hook = CHook {
                        callback,
                        user_data: UserData(user_data),
                        format: self::format(asked, point, client.mix_format)?,
                        point: point_value,
                        gate: gate.clone(),
                    };
                    Some((hook, gate))
                }
                None => None,
            };
            install(client, point, hook).map_err(|e| Error::argument(e.to_string()))?;
            Ok(0)
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

    use super::*;
    use crate::gate::in_hook;

    static CALLS: AtomicU32 = AtomicU32::new(0);

    unsafe extern "C" fn halve(
        samples: *mut f32,
        len: usize,
        _rate: u32,
        _channels: u32,
        _point: i32,
        _media_id: u64,
        _user_data: *mut c_void,
    ) {
        CALLS.fetch_add(1, SeqCst);
        assert!(in_hook());
        // SAFETY: the engine passes a frame valid for `len` samples.
        let frame = unsafe { std::slice::from_raw_parts_mut(samples, len) };
        frame.iter_mut().for_each(|s| *s *= 0.5);
    }

    #[test]
    fn a_closed_gate_turns_calls_away() {
        let gate = Arc::new(Gate::default());
        let mut hook = CHook {
            callback: halve,
            user_data: UserData(std::ptr::null_mut()),
            format: HookFormat::VOICE,
            point: LIVESTAGE_HOOK_ENCODE,
            gate: gate.clone(),
        };
        let info = HookInfo {
            point: HookPoint::Encode,
            media_id: None,
            channel: None,
        };
        let mut frame = [1.0f32; 960];
        hook.process(&mut frame, &info);
        assert_eq!(frame[0], 0.5);
        assert!(!in_hook(), "cleared after the call");
        gate.close();
        hook.process(&mut frame, &info);
        assert_eq!(frame[0], 0.5, "not called once closed");
        assert_eq!(CALLS.load(SeqCst), 1);
    }

    #[test]
    fn points_and_formats_are_checked() {
        assert_eq!(point(2).unwrap(), HookPoint::RemoteVoice);
        assert!(point(4).is_err());
        let mix = Format {
            sample_rate: 48_000,
            channels: 2,
        };
        assert_eq!(format(None, HookPoint::Playback, mix).unwrap().channels, 2);
        assert_eq!(
            format(None, HookPoint::Capture, mix).unwrap(),
            HookFormat::VOICE
        );
        let huge = LivestageHookFormat {
            sample_rate: 16_000,
            channels: 70_000,
            frame_ms: 10,
        };
        assert!(format(Some(&huge), HookPoint::Encode, mix).is_err());
    }
}
