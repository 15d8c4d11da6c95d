//! Raw video hooks and custom renderers through the C ABI: C functions the app installs on the
//! video path, called on a media thread with each picture in the pixel format it asked for.
//!
//! ```text
//! pushed frames, screen ─▶ [LOCAL hook] ─▶ layers ─▶ H.264 encoder
//! H.264 decoder ─▶ [REMOTE hook] ─▶ renderers, livestage_video_frame*
//! ```
//!
//! A hook may rewrite the picture in place or drop it; a renderer reads every picture a remote
//! track shows. Each C function sits behind a [`Gate`], as the audio hooks do: once the call
//! that replaced or removed it returns, or its `video_hook_removed` event is queued, it is
//! never called again.

use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, MutexGuard};

use livestage_media::video::hooks::{Format, Hook, Point, Renderer};
use livestage_net::playout::Playout;
use livestage_net::publish::VideoControls;
use livestage_proto::track::TrackId;

use crate::args;
use crate::client::lock;
use crate::error::{Error, Result, guard};
use crate::gate::{Gate, UserData, not_in_hook};
use crate::handles;
use crate::video_callbacks::{CHook, CRenderer, LivestageVideoHookFn, LivestageVideoRendererFn};

/// Every video this engine publishes (pushed frames, screen shares), after the source and
/// before it is scaled into layers and encoded.
pub const LIVESTAGE_VIDEO_LOCAL: i32 = 0;
/// Each remote video track's decoded pictures, before renderers and
/// `livestage_video_frame*` get them.
pub const LIVESTAGE_VIDEO_REMOTE: i32 = 1;

/// Planar YUV 4:2:0 (BT.601, limited range): the path's own format, nothing is converted.
pub const LIVESTAGE_PIXELS_I420: i32 = 0;
/// 8-bit RGBA, 4 bytes a pixel, rows top to bottom (converted there and back: about 1 ms per
/// 720p picture, counted in a hook's budget).
pub const LIVESTAGE_PIXELS_RGBA: i32 = 1;

/// How long a remote hook may take per picture, in milliseconds (a local hook has one frame
/// interval of its publisher).
pub const LIVESTAGE_VIDEO_REMOTE_BUDGET_MS: u32 = 33;

/// A callback ready to install.
enum Callback {
    Hook(Box<dyn Hook>),
    Renderer(Box<dyn Renderer>),
}

/// Where the app installed a callback.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Slot {
    /// The local hook.
    Local,
    /// A remote hook (`renderer` false) or renderer, for one user's track (channel, user,
    /// track) or for every track without one of its own (`None`).
    Remote {
        target: Option<(String, String, TrackId)>,
        renderer: bool,
    },
}

/// One installed callback: its gate, and the media id its user had when it was installed.
struct Entry {
    gate: Arc<Gate>,
    media_id: u64,
}

/// The video hooks and renderers of one engine: the stage every video publisher shares, the
/// playout's, and the gates of what is installed.
pub(crate) struct Installed {
    /// The pre-encode stage; every video publisher of the engine gets a clone.
    pub(crate) controls: VideoControls,
    playout: Arc<Playout>,
    entries: Mutex<HashMap<Slot, Entry>>,
}

impl Installed {
    pub(crate) fn new(playout: Arc<Playout>) -> Self {
        Self {
            controls: VideoControls::default(),
            playout,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Slot, Entry>> {
        lock(&self.entries)
    }

    /// Puts `callback` (or nothing) into the engine at `slot`, for `media_id`'s track.
    fn apply(&self, slot: &Slot, media_id: u64, callback: Option<Callback>) {
        let hook = |c: Option<Callback>| match c {
            Some(Callback::Hook(h)) => Some(h),
            _ => None,
        };
        match slot {
            Slot::Local => self.controls.set_hook(hook(callback)),
            Slot::Remote { target, renderer } => {
                let target = target.as_ref().map(|(c, _, t)| (c.as_str(), media_id, *t));
                if *renderer {
                    let renderer = match callback {
                        Some(Callback::Renderer(r)) => Some(r),
                        _ => None,
                    };
                    self.playout.set_renderer(target, renderer);
                } else {
                    self.playout.set_video_hook(target, hook(callback));
                }
            }
        }
    }

    /// Installs `callback` at `slot` for `media_id` (replacing what is there), or removes what
    /// is there; what it replaced or removed is not called again when this returns. Returns
    /// whether something was there.
    fn install(&self, slot: Slot, media_id: u64, callback: Option<(Callback, Arc<Gate>)>) -> bool {
        // Held throughout, so two installs at one slot cannot cross.
        let mut entries = self.lock();
        let (old, replaced) = match callback {
            Some((callback, gate)) => {
                self.apply(&slot, media_id, Some(callback));
                (entries.insert(slot.clone(), Entry { gate, media_id }), true)
            }
            None => (entries.remove(&slot), false),
        };
        let Some(old) = old else {
            return false;
        };
        // Removed, or installed for the user's earlier media id (it joined again since).
        if !replaced || old.media_id != media_id {
            self.apply(&slot, old.media_id, None);
        }
        old.gate.close();
        true
    }

    /// The engine removed the local hook (it failed): the slot is emptied, and its C function
    /// is not called again. False when the app had removed it first (nothing to report).
    ///
    /// The engine does not say which hook failed: one that the app installed in its place just
    /// then goes too, and the event reports it, so the app and the library agree on what is
    /// installed.
    pub(crate) fn local_failed(&self) -> bool {
        self.install(Slot::Local, 0, None)
    }

    /// The engine removed the remote hook or renderer at `target` (channel, media id, track),
    /// as [`local_failed`](Self::local_failed). `None` when nothing the app installed is there
    /// (nothing to report); else the user it was installed for (`None` for every track).
    pub(crate) fn remote_failed(
        &self,
        target: Option<(&str, u64, TrackId)>,
        renderer: bool,
    ) -> Option<Option<String>> {
        let entries = self.lock();
        let slot = entries.iter().find_map(|(slot, entry)| {
            let Slot::Remote {
                target: at,
                renderer: r,
            } = slot
            else {
                return None;
            };
            let same = match (at, target) {
                (None, None) => true,
                (Some((c, _, t)), Some((channel, media_id, track))) => {
                    c == channel && *t == track && entry.media_id == media_id
                }
                _ => false,
            };
            (same && *r == renderer).then(|| slot.clone())
        })?;
        drop(entries);
        let user = match &slot {
            Slot::Remote {
                target: Some((_, user, _)),
                ..
            } => Some(user.clone()),
            _ => None,
        };
        self.install(slot, 0, None).then_some(user)
    }

    /// Closes every gate (the engine is going).
    pub(crate) fn close_all(&self) {
        for (_, entry) in self.lock().drain() {
            entry.gate.close();
        }
    }
}

/// A `LIVESTAGE_VIDEO_*` value.
fn point(value: i32) -> Result<Point> {
    match value {
        LIVESTAGE_VIDEO_LOCAL => Ok(Point::Local),
        LIVESTAGE_VIDEO_REMOTE => Ok(Point::Remote),
        other => Err(Error::argument(format!(
            "video hook point {other} is neither LIVESTAGE_VIDEO_LOCAL (0) nor \
             LIVESTAGE_VIDEO_REMOTE (1)"
        ))),
    }
}

/// A `LIVESTAGE_PIXELS_*` value.
fn format(value: i32) -> Result<Format> {
    match value {
        LIVESTAGE_PIXELS_I420 => Ok(Format::I420),
        LIVESTAGE_PIXELS_RGBA => Ok(Format::Rgba),
        other => Err(Error::argument(format!(
            "pixel format {other} is neither LIVESTAGE_PIXELS_I420 (0) nor \
             LIVESTAGE_PIXELS_RGBA (1)"
        ))),
    }
}

/// The remote slot for `channel`, `user` and `track`: every track when `channel` is null.
///
/// # Safety
///
/// `channel` and `user` must be null or NUL-terminated strings.
unsafe fn remote(
    channel: *const c_char,
    user: *const c_char,
    track: u8,
    renderer: bool,
) -> Result<Slot> {
    // SAFETY: the caller's contract.
    let target = match unsafe { args::optional_text(channel, "channel") }? {
        None => None,
        Some(channel) => {
            // SAFETY: the caller's contract.
            let user = unsafe { args::text(user, "user") }?;
            Some((channel.to_owned(), user.to_owned(), args::track(track)?))
        }
    };
    Ok(Slot::Remote { target, renderer })
}

/// Installs `callback` at `slot` of the engine (null: removes what is there).
fn set(engine: i64, slot: Slot, callback: Option<(Callback, Arc<Gate>)>) -> Result<i32> {
    handles::with(engine, |client| {
        let media_id = match (&slot, &callback) {
            (
                Slot::Remote {
                    target: Some((channel, user, _)),
                    ..
                },
                Some(_),
            ) => client.media_id(channel, user)?,
            _ => 0,
        };
        client.video_hooks.install(slot, media_id, callback);
        Ok(0)
    })
}

/// Installs a raw video hook, replacing the one at the same place; a null `callback` removes
/// it. `callback` gets each picture as a `LivestageVideoFrame` in `format`
/// (`LIVESTAGE_PIXELS_I420` or `_RGBA`), may rewrite its pixels in place, and returns 1 to keep
/// it or 0 to drop it.
///
/// - `LIVESTAGE_VIDEO_LOCAL`: every video this engine publishes, now and later (pushed frames,
///   screen shares; one hook for all), before it is encoded. `channel` must be null; `user`
///   and `track` are ignored. Budget: one frame interval of the publisher.
/// - `LIVESTAGE_VIDEO_REMOTE`: the decoded pictures of `user`'s video track `track` in
///   `channel`, or, with a null `channel` (`user` and `track` then ignored), of every track
///   without a hook of its own; a dropped picture is not shown (nor handed to renderers and
///   `livestage_video_frame*`). Budget: `LIVESTAGE_VIDEO_REMOTE_BUDGET_MS`. `user` must be in
///   the channel (`LIVESTAGE_ERR_NOT_FOUND`); the hook follows the media id it has now, so
///   install it again if the user joins again.
///
/// The callback runs on a media thread: no waits or I/O, no calls into the library. Calls to
/// one hook never overlap, but may come from several threads (one per publisher or track), so
/// `user_data` must be usable from any thread. The picture keeps its size. A hook that takes
/// longer than its budget leaves that picture as it came; after 5 such pictures in a row it is
/// removed and reported by a `video_hook_removed` event, and from then on it is not called.
///
/// When this returns, the hook it replaced or removed is not called again (a call in flight is
/// waited for), so its `user_data` may be freed. Main thread; `LIVESTAGE_ERR_STATE` from
/// inside a hook.
///
/// # Safety
///
/// `channel` and `user` must be null or NUL-terminated strings. `callback`, and `user_data` as
/// it uses it, must stay valid, and be safe to call from any thread, until the hook is
/// replaced, removed, reported removed or the engine freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_hook(
    engine: i64,
    point: i32,
    channel: *const c_char,
    user: *const c_char,
    track: u8,
    format: i32,
    callback: LivestageVideoHookFn,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        not_in_hook("livestage_video_hook")?;
        let slot = match self::point(point)? {
            Point::Local if !channel.is_null() => {
                return Err(Error::argument(
                    "a local video hook runs on every video this engine publishes: pass a null \
                     channel",
                ));
            }
            Point::Local => Slot::Local,
            // SAFETY: the caller's contract.
            Point::Remote => unsafe { remote(channel, user, track, false) }?,
        };
        let callback = match callback {
            Some(callback) => {
                let gate = Arc::new(Gate::default());
                let user_data = UserData(user_data);
                let hook = CHook::new(callback, user_data, self::format(format)?, gate.clone());
                Some((Callback::Hook(Box::new(hook)), gate))
            }
            None => None,
        };
        set(engine, slot, callback)
    })
}

/// Installs a custom renderer, replacing the one at the same place; a null `callback` removes
/// it. It gets every decoded picture (after the remote hook, if any) of `user`'s video track
/// `track` in `channel`, or, with a null `channel` (`user` and `track` then ignored), of every
/// track without a renderer of its own, read-only in `format` (`LIVESTAGE_PIXELS_I420`: the
/// decoder's planes, nothing converted; or `_RGBA`), as `livestage_video_frame*` still do.
/// `user` must be in the channel (`LIVESTAGE_ERR_NOT_FOUND`).
///
/// The callback runs on the track's decoder thread: copy what it needs and return; no waits or
/// I/O, no calls into the library. Calls to one renderer never overlap, but may come from
/// several threads (one per track), so `user_data` must be usable from any thread.
///
/// When this returns, the renderer it replaced or removed is not called again (a call in flight
/// is waited for), so its `user_data` may be freed. Main thread; `LIVESTAGE_ERR_STATE` from
/// inside a hook or renderer.
///
/// # Safety
///
/// `channel` and `user` must be null or NUL-terminated strings. `callback`, and `user_data` as
/// it uses it, must stay valid, and be safe to call from any thread, until the renderer is
/// replaced, removed, reported removed or the engine freed; it must not write to the pixels.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_renderer(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    track: u8,
    format: i32,
    callback: LivestageVideoRendererFn,
    user_data: *mut c_void,
) -> i32 {
    guard(|| {
        not_in_hook("livestage_video_renderer")?;
        // SAFETY: the caller's contract.
        let slot = unsafe { remote(channel, user, track, true) }?;
        let callback = match callback {
            Some(callback) => {
                let gate = Arc::new(Gate::default());
                let user_data = UserData(user_data);
                let renderer =
                    CRenderer::new(callback, user_data, self::format(format)?, gate.clone());
                Some((Callback::Renderer(Box::new(renderer)), gate))
            }
            None => None,
        };
        set(engine, slot, callback)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::ptr::null;

    use livestage_net::playout::REMOTE_BUDGET;

    use super::*;

    #[test]
    fn the_remote_budget_is_the_playouts() {
        assert_eq!(
            u128::from(LIVESTAGE_VIDEO_REMOTE_BUDGET_MS),
            REMOTE_BUDGET.as_millis()
        );
    }

    #[test]
    fn points_formats_and_targets_are_checked() {
        assert_eq!(point(1).unwrap(), Point::Remote);
        assert!(point(2).is_err());
        assert_eq!(format(1).unwrap(), Format::Rgba);
        assert!(format(-1).is_err());
        // SAFETY: literal C strings and null.
        unsafe {
            assert_eq!(
                remote(null(), null(), 99, true).unwrap(),
                Slot::Remote {
                    target: None,
                    renderer: true
                }
            );
            assert!(remote(c"show".as_ptr(), null(), 0, false).is_err());
            assert!(remote(c"show".as_ptr(), c"ann".as_ptr(), 16, false).is_err());
        }
    }
}
