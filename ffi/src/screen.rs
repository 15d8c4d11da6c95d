//! Screen sharing through the C ABI: listing what can be shared, and sharing a display, a
//! window or a region as the screen track (track 2, `screen` source, with a low layer), beside
//! the camera. Capture runs on its own thread (X11; see `livestage_media::video::screen`).
//!
//! A share whose window closes or whose display goes away ends by itself: the engine
//! unpublishes it and the app gets a `track_ended` event with the reason.

use std::ffi::c_char;

use livestage_media::video::ScreenSource;
use livestage_media::video::screen::{self, Options, Rect, ScreenError, Target};
use livestage_net::publish::{Video, VideoSource, screen_error};
use livestage_proto::track::{self, Track};
use serde_json::json;

use crate::args;
use crate::error::{
    Error, LIVESTAGE_ERR_NOT_PUBLISHING, LIVESTAGE_ERR_UNAVAILABLE, Result, guard, write_listing,
};
use crate::{handles, publish};

/// Share a whole display (`id` from `livestage_screens`' `displays`).
pub const LIVESTAGE_SCREEN_DISPLAY: i32 = 0;
/// Share one window (`id` from `livestage_screens`' `windows`), followed as it moves.
pub const LIVESTAGE_SCREEN_WINDOW: i32 = 1;
/// Share a region of the first display.
pub const LIVESTAGE_SCREEN_REGION: i32 = 2;

/// The C error for a screen capture error: `LIVESTAGE_ERR_ARGUMENT` for a target that does not
/// exist, `LIVESTAGE_ERR_UNAVAILABLE` when capture cannot work here or the source went away.
fn error(e: &ScreenError) -> Error {
    publish::source_error(&screen_error(e))
}

/// What can be shared, as the JSON `livestage_screens` writes.
fn list() -> Result<String> {
    let displays = screen::displays().map_err(|e| error(&e))?;
    let windows = screen::windows().map_err(|e| error(&e))?;
    let value = json!({ "displays": displays, "windows": windows });
    Ok(value.to_string())
}

/// Writes what can be shared into `buf` as NUL-terminated UTF-8 JSON:
/// `{"displays":[{"id","name","x","y","width","height"}],"windows":[{"id","title","x","y",
/// "width","height"}]}` (positions and sizes in pixels of the X screen; windows are the ones
/// shown now).
///
/// Returns the size of the JSON in bytes, NUL included. When that is more than `capacity`
/// (or `buf` is null) nothing was written: call again with a buffer at least that large, as
/// with `livestage_last_error`. `LIVESTAGE_ERR_UNAVAILABLE` when screen capture is not
/// possible here (no X server), with the reason in `livestage_last_error`.
///
/// Main thread (any thread but the audio thread); asks the X server, a few milliseconds.
///
/// # Safety
///
/// `buf` must be null or valid for `capacity` bytes of writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_screens(buf: *mut c_char, capacity: usize) -> i32 {
    // SAFETY: the caller's contract.
    guard(|| Ok(unsafe { write_listing(&list()?, buf, capacity) }))
}

/// What `livestage_screen_share`'s arguments ask to capture.
fn target(
    kind: i32,
    id: u32,
    (x, y, width, height): (i32, i32, u32, u32),
) -> Result<(Target, Option<Rect>)> {
    let part = (width > 0 && height > 0).then_some(Rect {
        x,
        y,
        width,
        height,
    });
    match kind {
        LIVESTAGE_SCREEN_DISPLAY if id == u32::MAX => {
            let first = screen::displays()
                .map_err(|e| error(&e))?
                .into_iter()
                .next();
            let first = first.ok_or_else(|| {
                Error::new(
                    LIVESTAGE_ERR_UNAVAILABLE,
                    "the X server has no display to share",
                )
            })?;
            Ok((Target::Display(first.id), part))
        }
        LIVESTAGE_SCREEN_DISPLAY => Ok((Target::Display(id), part)),
        LIVESTAGE_SCREEN_WINDOW => Ok((Target::Window(id), part)),
        LIVESTAGE_SCREEN_REGION => match part {
            Some(r) => Ok((
                Target::Region {
                    x: r.x,
                    y: r.y,
                    width: r.width,
                    height: r.height,
                },
                None,
            )),
            None => Err(Error::argument(format!(
                "a region needs a width and a height above 0, not {width}x{height}"
            ))),
        },
        other => Err(Error::argument(format!(
            "target {other} is not LIVESTAGE_SCREEN_DISPLAY (0), _WINDOW (1) or _REGION (2)"
        ))),
    }
}

/// Shares the screen in a joined channel as the screen track (track 2, source `screen`,
/// with a low layer for viewers on weak links), beside the camera; replaces an earlier share
/// (or another video track 2) of the channel.
///
/// - `target`: `LIVESTAGE_SCREEN_DISPLAY` with a display's `id` from `livestage_screens`
///   (`UINT32_MAX` for the first display), `LIVESTAGE_SCREEN_WINDOW` with a window's `id`
///   (the share follows it and ends when it closes), or `LIVESTAGE_SCREEN_REGION` for the
///   region `x`, `y`, `width` x `height` of the first display (`id` unused).
/// - For a display or a window, a `width` and `height` above 0 share only that part of it
///   (`x`, `y` from its top-left corner); 0 shares all of it.
/// - `fps`: frames captured and sent per second, 1 to 60.
///
/// The picture keeps the captured aspect and is at most 1920x1080. Returns 0,
/// `LIVESTAGE_ERR_ARGUMENT` for a target that does not exist (or a region outside it),
/// `LIVESTAGE_ERR_UNAVAILABLE` when screen capture is not possible here (no X server,
/// Wayland without X), with the reason in `livestage_last_error`. When the window closes or
/// the display goes away later, the share ends with a `track_ended` event (error
/// `source_ended`). The token must grant publishing video and the role must be host.
///
/// Main thread (any thread but the audio thread); connects to the X server.
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_screen_share(
    engine: i64,
    channel: *const c_char,
    target: i32,
    id: u32,
    x: i32,
    y: i32,
    width: u32,
    height: u32,
    fps: f32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        let fps = publish::fps(fps)?;
        publish::publish(engine, channel, || {
            let (target, region) = self::target(target, id, (x, y, width, height))?;
            let options = Options {
                fps,
                region,
                ..Options::default()
            };
            let source = ScreenSource::new(target, options).map_err(|e| error(&e))?;
            let video = Video {
                dual: true,
                ..Video::new(VideoSource::Screen(source), fps).as_track(Track::screen())
            };
            Ok((video, None))
        })
    })
}

/// Stops sharing the screen in a channel (unpublishes video track 2); viewers get
/// `track_unpublished`. `LIVESTAGE_ERR_NOT_PUBLISHING` when nothing is shared.
///
/// Main thread (any thread but the audio thread); waits for the encoder's current frame.
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_screen_stop(engine: i64, channel: *const c_char) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        handles::with(engine, |client| {
            let old = client.channel(channel, |c| c.video.remove(&track::SCREEN))?;
            old.ok_or_else(|| {
                Error::new(
                    LIVESTAGE_ERR_NOT_PUBLISHING,
                    format!("the screen is not shared in {channel:?}"),
                )
            })?;
            Ok(0)
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn targets_are_checked_before_capture_starts() {
        let region = target(LIVESTAGE_SCREEN_REGION, 0, (10, 20, 640, 360)).unwrap();
        assert_eq!(
            region,
            (
                Target::Region {
                    x: 10,
                    y: 20,
                    width: 640,
                    height: 360
                },
                None
            )
        );
        let part = target(LIVESTAGE_SCREEN_WINDOW, 7, (1, 2, 30, 40)).unwrap();
        assert_eq!(part.0, Target::Window(7));
        assert_eq!(part.1.unwrap().width, 30);
        assert_eq!(
            target(LIVESTAGE_SCREEN_DISPLAY, 3, (5, 5, 0, 0)).unwrap(),
            (Target::Display(3), None)
        );
        let empty = target(LIVESTAGE_SCREEN_REGION, 0, (0, 0, 0, 10)).unwrap_err();
        assert_eq!(empty.code(), crate::LIVESTAGE_ERR_ARGUMENT);
        let unknown = target(7, 0, (0, 0, 0, 0)).unwrap_err();
        assert_eq!(unknown.code(), crate::LIVESTAGE_ERR_ARGUMENT);
    }

    #[test]
    fn capture_errors_become_codes_a_caller_can_act_on() {
        let unavailable = error(&ScreenError::Unavailable("no DISPLAY".into()));
        assert_eq!(unavailable.code(), LIVESTAGE_ERR_UNAVAILABLE);
        assert_eq!(
            error(&ScreenError::NoSuchWindow(9)).code(),
            crate::LIVESTAGE_ERR_ARGUMENT
        );
        assert_eq!(
            error(&ScreenError::WindowClosed).code(),
            LIVESTAGE_ERR_UNAVAILABLE
        );
    }
}
