//! Publishing video through the C ABI: frames the app pushes (a camera's render texture read
//! back, a minimap, a rules card), as the camera track or as any other video track of its
//! choosing. A channel keeps its video publishers by track id; a screen share (`screen.rs`), a
//! webcam (`camera.rs`), a picture or a video file (`file.rs`) is one of them, each started
//! through [`publish`], the one path every video publishing call takes.

use std::ffi::c_char;

use livestage_media::video::{CustomSender, CustomSource};
use livestage_net::engine::now_us;
use livestage_net::publish::{Publisher, Video, VideoSource};
use livestage_proto::track::{self, Kind, Track, TrackId};
use livestage_proto::{Error as ProductError, ErrorCode};

use crate::args;
use crate::client::Client;
use crate::error::{
    Error, LIVESTAGE_ERR_ARGUMENT, LIVESTAGE_ERR_NOT_PUBLISHING, LIVESTAGE_ERR_UNAVAILABLE, Result,
    guard,
};
use crate::handles;
use crate::video::{LIVESTAGE_FLIP_Y, rgba_frame};

/// Checks a publishing frame rate: 1 to 60.
pub(crate) fn fps(fps: f32) -> Result<f32> {
    if !(1.0..=60.0).contains(&fps) {
        return Err(Error::argument(format!(
            "fps {fps} is outside 1 to 60 frames per second"
        )));
    }
    Ok(fps)
}

/// Starts `video` in a joined `channel` (with the `sender` its frames are pushed through, if
/// any), replacing the channel's publisher of the same track id. The old publisher is stopped
/// first: stopping unpublishes its track, which must not undo the new one's publication. Every
/// video publisher of the engine shares its video chain (the local hook).
fn start(client: &Client, channel: &str, video: Video, sender: Option<CustomSender>) -> Result<()> {
    let video = Video {
        controls: client.video_hooks.controls.clone(),
        ..video
    };
    let id = video.track.id;
    let old = client.channel(channel, |c| {
        let audio = c.audio.as_ref().map_or(&[][..], |(p, _)| p.tracks());
        if let Some(t) = audio.iter().find(|t| t.id == id) {
            return Err(Error::argument(format!(
                "track {id} is this client's {} track in {channel:?}; pick another id for video",
                t.source
            )));
        }
        if !c.video.contains_key(&id) && c.video.len() >= track::MAX_VIDEO {
            return Err(Error::argument(format!(
                "{} video tracks are published in {channel:?} already, the most there may be; \
                 unpublish one first",
                track::MAX_VIDEO
            )));
        }
        Ok(c.video.remove(&id))
    })??;
    drop(old);
    let publisher = Publisher::start(client.engine.clone(), channel, Some(video), None)
        .map_err(Error::internal)?;
    let old = client.channel(channel, |c| c.video.insert(id, (publisher, sender)))?;
    drop(old); // Another call raced this one to the same track: the later one wins.
    Ok(())
}

/// The C error for a video source that could not be opened (a screen, a camera, a picture or
/// a file), from its product error: `LIVESTAGE_ERR_ARGUMENT` for `invalid_input` (a target,
/// camera index or file that does not exist or cannot be used), `LIVESTAGE_ERR_UNAVAILABLE`
/// otherwise (`screen_unavailable`, `camera_unavailable`, a source that went away).
pub(crate) fn source_error(e: &ProductError) -> Error {
    let code = match e.code {
        ErrorCode::InvalidInput => LIVESTAGE_ERR_ARGUMENT,
        _ => LIVESTAGE_ERR_UNAVAILABLE,
    };
    Error::new(code, e.message.clone())
}

/// Starts publishing in a joined `channel` the video `open` makes (with the sender of a pushed
/// source), once the engine and the channel are known: every video publishing call goes
/// through here, so a source that is slow to open (a camera, a file) is not opened for a
/// channel that is not joined.
pub(crate) fn publish(
    engine: i64,
    channel: &str,
    open: impl FnOnce() -> Result<(Video, Option<CustomSender>)>,
) -> Result<i32> {
    handles::with(engine, |client| {
        client.channel(channel, |_| ())?;
        let (video, sender) = open()?;
        start(client, channel, video, sender)?;
        Ok(0)
    })
}

/// Starts publishing pushed frames as `track` (`livestage_video_publish_track`).
fn publish_pushed(
    engine: i64,
    channel: &str,
    track: Track,
    (width, height): (u32, u32),
    fps: f32,
    bitrate_bps: u32,
) -> Result<i32> {
    let fps = self::fps(fps)?;
    let (source, sender) =
        CustomSource::new(width, height).map_err(|e| Error::argument(e.to_string()))?;
    publish(engine, channel, || {
        let video = Video {
            bitrate_bps: (bitrate_bps > 0).then_some(bitrate_bps),
            ..Video::new(VideoSource::Custom(source), fps).as_track(track)
        };
        Ok((video, Some(sender)))
    })
}

/// Starts publishing frames the app pushes (`livestage_video_push`) as the camera track
/// (track 0, `LIVESTAGE_SOURCE_CAMERA`) in a joined channel: `livestage_video_publish_track`
/// with track 0.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_publish(
    engine: i64,
    channel: *const c_char,
    width: u32,
    height: u32,
    fps: f32,
    bitrate_bps: u32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        let track = Track::camera();
        publish_pushed(engine, channel, track, (width, height), fps, bitrate_bps)
    })
}

/// Starts publishing frames the app pushes (`livestage_video_push_track`) as video track
/// `track` (0 to 15) in a joined channel, labelled with `source` (`LIVESTAGE_SOURCE_CAMERA`,
/// `_SCREEN` or `_CUSTOM`) so viewers can tell a face from a screen: `width` x `height` (even,
/// 16x16 to 3840x2160) at up to `fps` frames per second (1 to 60), H.264 at `bitrate_bps` (0
/// picks one for the size). The newest pushed frame is encoded at each tick. Replaces an
/// earlier video publisher of the same track in the channel; up to 4 video tracks at once,
/// and not on the id of a voice track (the microphone is 1). The token must grant publishing
/// video and the role must be host, or the server refuses the frames.
///
/// Viewers see the track in the participant's `tracks` and fetch it with
/// `livestage_video_frame_track`.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_publish_track(
    engine: i64,
    channel: *const c_char,
    track: u8,
    source: i32,
    width: u32,
    height: u32,
    fps: f32,
    bitrate_bps: u32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        let track = Track::new(
            args::track(track)?,
            Kind::Video,
            args::video_source(source)?,
        );
        publish_pushed(engine, channel, track, (width, height), fps, bitrate_bps)
    })
}

/// Pushes a frame to video track `track` of `channel` (`livestage_video_push_track`).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string; `rgba` valid for `len` bytes of reading.
unsafe fn push(
    engine: i64,
    channel: *const c_char,
    track: u8,
    (rgba, len): (*const u8, usize),
    (width, height): (u32, u32),
    flags: u32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        // SAFETY: the caller's contract.
        let pixels = unsafe { args::bytes(rgba, len, "rgba") }?;
        let track = args::track(track)?;
        let frame = rgba_frame(pixels, width, height, flags & LIVESTAGE_FLIP_Y)?;
        handles::with(engine, |client| {
            let sender =
                client.channel(channel, |c| c.video.get(&track).map(|(_, s)| s.clone()))?;
            let sender = match sender {
                Some(Some(sender)) => sender,
                Some(None) => {
                    return Err(Error::argument(format!(
                        "video track {track} in {channel:?} makes its own frames (a screen share, \
                         a camera, a picture or a file); push to a track published with \
                         livestage_video_publish or livestage_video_publish_track"
                    )));
                }
                None => return Err(not_publishing(channel, track)),
            };
            sender
                .push_rgba(frame, now_us())
                .map_err(|e| Error::argument(e.to_string()))?;
            Ok(0)
        })
    })
}

/// `LIVESTAGE_ERR_NOT_PUBLISHING` for video track `track`.
fn not_publishing(channel: &str, track: TrackId) -> Error {
    let call = if track == track::CAMERA {
        "livestage_video_publish"
    } else {
        "livestage_video_publish_track"
    };
    Error::new(
        LIVESTAGE_ERR_NOT_PUBLISHING,
        format!("video track {track} is not published in {channel:?}; call {call} first"),
    )
}

/// Pushes one RGBA frame to the camera track: `livestage_video_push_track` with track 0.
///
/// Main thread, or any thread that has the pixels; converts to I420 on the calling thread.
///
/// # Safety
///
/// `channel` must be a NUL-terminated string; `rgba` valid for `len` bytes of reading.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_push(
    engine: i64,
    channel: *const c_char,
    rgba: *const u8,
    len: usize,
    width: u32,
    height: u32,
    flags: u32,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        push(
            engine,
            channel,
            track::CAMERA,
            (rgba, len),
            (width, height),
            flags,
        )
    }
}

/// Pushes one RGBA frame (`len` = `width * height * 4` bytes, the size the track was
/// published with) to video track `track` of the channel, stamped with the current time as
/// its capture time. It replaces a pushed frame not yet encoded; never blocks. `flags`:
/// `LIVESTAGE_FLIP_Y` for rows bottom to top (a Unity texture read back).
/// `LIVESTAGE_ERR_NOT_PUBLISHING` when the track is not published.
///
/// Main thread, or any thread that has the pixels; converts to I420 on the calling thread.
///
/// # Safety
///
/// `channel` must be a NUL-terminated string; `rgba` valid for `len` bytes of reading.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_push_track(
    engine: i64,
    channel: *const c_char,
    track: u8,
    rgba: *const u8,
    len: usize,
    width: u32,
    height: u32,
    flags: u32,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { push(engine, channel, track, (rgba, len), (width, height), flags) }
}

/// Stops publishing video track `track` in `channel` (`livestage_video_unpublish_track`).
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
pub(crate) unsafe fn unpublish(engine: i64, channel: *const c_char, track: u8) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        let track = args::track(track)?;
        handles::with(engine, |client| {
            let old = client.channel(channel, |c| c.video.remove(&track))?;
            old.ok_or_else(|| {
                Error::new(
                    LIVESTAGE_ERR_NOT_PUBLISHING,
                    format!("video track {track} is not published in {channel:?}"),
                )
            })?;
            Ok(0)
        })
    })
}

/// Stops publishing the camera track, whatever it shows (pushed frames, a webcam, a picture or
/// a file): `livestage_video_unpublish_track` with track 0.
///
/// Main thread (any thread but the audio thread); waits for the encoder's current frame.
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_unpublish(engine: i64, channel: *const c_char) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { unpublish(engine, channel, track::CAMERA) }
}

/// Stops publishing video track `track` in a channel (pushed frames, the screen share, a
/// webcam, a picture or a file);
/// viewers get `track_unpublished`. `LIVESTAGE_ERR_NOT_PUBLISHING` when it is not published.
///
/// Main thread (any thread but the audio thread); waits for the encoder's current frame.
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_unpublish_track(
    engine: i64,
    channel: *const c_char,
    track: u8,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe { unpublish(engine, channel, track) }
}
