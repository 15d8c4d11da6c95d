//! Pictures and video files through the C ABI, published as the camera track (track 0): a
//! PNG or JPEG picture sent again at each tick (a "be right back" card, a logo), or an MP4 or
//! Matroska file with H.264 video played in real time, forwarded as it is or decoded and
//! encoded again.
//!
//! A file played once ends by itself at its end: the engine unpublishes it and the app gets a
//! `track_ended` event (error `source_ended`).

use std::ffi::c_char;

use livestage_media::video::file::{Mode, Options};
use livestage_net::publish::{Video, VideoSource};
use livestage_proto::Error as ProductError;

use crate::error::{Error, Result, guard};
use crate::{args, publish};

/// Forward the file's H.264 as it is when it allows it (no B-frames...), else decode it; decode
/// when beauty or a local video hook is on as it starts.
pub const LIVESTAGE_FILE_AUTO: i32 = 0;
/// Forward the file's H.264 as it is (no encoder, no low layer); refused for a file that does
/// not allow it.
pub const LIVESTAGE_FILE_FORWARD: i32 = 1;
/// Decode the file and encode it again, so beauty and the local video hook apply.
pub const LIVESTAGE_FILE_DECODE: i32 = 2;

/// A `LIVESTAGE_FILE_*` value.
fn mode(value: i32) -> Result<Mode> {
    match value {
        LIVESTAGE_FILE_AUTO => Ok(Mode::Auto),
        LIVESTAGE_FILE_FORWARD => Ok(Mode::Forward),
        LIVESTAGE_FILE_DECODE => Ok(Mode::Decode),
        other => Err(Error::argument(format!(
            "mode {other} is not LIVESTAGE_FILE_AUTO (0), _FORWARD (1) or _DECODE (2)"
        ))),
    }
}

/// The C error for a picture or file that cannot be published, naming `path` when the
/// message does not already.
fn error(path: &str, e: &ProductError) -> Error {
    if e.message.contains(path) {
        return publish::source_error(e);
    }
    publish::source_error(&ProductError::new(e.code, format!("{path}: {}", e.message)))
}

/// Publishes the PNG or JPEG picture at `path` in a joined channel as the camera track (track
/// 0, source `camera`), sent `fps` times a second (1 to 60; 1 or 2 is plenty for a still),
/// replacing what the camera track showed; `livestage_video_unpublish` stops it. A picture
/// larger than 3840x2160 is scaled down; the beauty effects (`livestage_beauty`) and the local
/// video hook apply.
///
/// Returns 0, or `LIVESTAGE_ERR_ARGUMENT` when the file cannot be read or decoded, is smaller
/// than 16x16, or `fps` is out of range, with the path and the reason in
/// `livestage_last_error`. The token must grant publishing video and the role must be host.
///
/// Main thread (any thread but the audio thread); reads and decodes the picture on the
/// calling thread (milliseconds for a small one).
///
/// # Safety
///
/// `channel` and `path` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_image_publish(
    engine: i64,
    channel: *const c_char,
    path: *const c_char,
    fps: f32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        // SAFETY: the caller's contract.
        let path = unsafe { args::text(path, "path") }?;
        let fps = publish::fps(fps)?;
        publish::publish(engine, channel, || {
            let source = VideoSource::still(path).map_err(|e| error(path, &e))?;
            Ok((Video::new(source, fps), None))
        })
    })
}

/// Publishes the video file at `path` (MP4 or Matroska with H.264 video; its audio is not
/// sent) in a joined channel as the camera track (track 0, source `camera`), in real time at
/// its own frame rate, replacing what the camera track showed; `livestage_video_unpublish`
/// stops it.
///
/// - `looped`: 1 starts again from the first frame after the last, without end; 0 plays it
///   once, and the track then ends with a `track_ended` event (error `source_ended`).
/// - `mode`: `LIVESTAGE_FILE_FORWARD` sends the file's H.264 as it is (no encoder, no low
///   layer; a viewer's keyframe request waits for the file's next keyframe),
///   `LIVESTAGE_FILE_DECODE` decodes and encodes it again (beauty and the local video hook
///   apply), `LIVESTAGE_FILE_AUTO` forwards when the file allows it and nothing processes
///   the pictures as it starts, and decodes otherwise.
///
/// Returns 0, or `LIVESTAGE_ERR_ARGUMENT` when the file cannot be read, is not MP4 or
/// Matroska, has no H.264 video, cannot be decoded, or cannot be forwarded with
/// `LIVESTAGE_FILE_FORWARD` (B-frames...), with the path and the reason in
/// `livestage_last_error`. The token must grant publishing video and the role must be host.
///
/// Main thread (any thread but the audio thread); reads the file's index on the calling
/// thread.
///
/// # Safety
///
/// `channel` and `path` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_file_publish(
    engine: i64,
    channel: *const c_char,
    path: *const c_char,
    looped: i32,
    mode: i32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        // SAFETY: the caller's contract.
        let path = unsafe { args::text(path, "path") }?;
        let options = Options {
            looped: args::flag(looped, "looped")?,
            mode: self::mode(mode)?,
        };
        publish::publish(engine, channel, || {
            let source = VideoSource::file(path, options).map_err(|e| error(path, &e))?;
            // The file's own rate replaces this one.
            Ok((Video::new(source, 30.0), None))
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn modes_are_checked() {
        assert_eq!(mode(LIVESTAGE_FILE_AUTO).unwrap(), Mode::Auto);
        assert_eq!(mode(LIVESTAGE_FILE_FORWARD).unwrap(), Mode::Forward);
        assert_eq!(mode(LIVESTAGE_FILE_DECODE).unwrap(), Mode::Decode);
        assert_eq!(mode(3).unwrap_err().code(), crate::LIVESTAGE_ERR_ARGUMENT);
    }
}
