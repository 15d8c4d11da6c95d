//! Video through the C ABI: the newest picture of a remote user's video track as RGBA in the
//! caller's buffer (copied only when it changed), and the burned-in stamp of the test pattern
//! for measuring latency. Publishing is in `publish.rs`, screen sharing in `screen.rs`.
//!
//! Pixels are RGBA, 4 bytes each, tightly packed, rows top to bottom; with
//! `LIVESTAGE_FLIP_Y` rows go bottom to top, as Unity's textures hold them.

use std::ffi::c_char;
use std::sync::Arc;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use livestage_media::video::{self, I420, Rgba, convert, read_stamp};
use livestage_net::playout::VideoFrame;
use livestage_proto::track::{self, TrackId};

use crate::args;
use crate::client::{Client, lock};
use crate::error::{Error, LIVESTAGE_ERR_BUFFER_TOO_SMALL, LIVESTAGE_ERR_NULL, Result, guard};
use crate::handles;

/// Rows bottom to top (Unity's texture order) instead of top to bottom.
pub const LIVESTAGE_FLIP_Y: u32 = 1;

/// What `livestage_video_frame` and `livestage_video_frame_track` report about the newest
/// picture.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LivestageFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes of RGBA: `width * height * 4`.
    pub size: u64,
    /// Counts the pictures this engine has handed out for this user's track, from 1; it changes
    /// exactly when a newer picture arrived. 0 when there is none yet.
    pub seq: u64,
    /// The publisher's frame number.
    pub frame: u64,
    /// When the publisher captured it, microseconds since the Unix epoch (its clock).
    pub capture_us: u64,
}

/// The stamp burned into the test pattern's frames (see `livestage_read_stamp`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LivestageStamp {
    /// The frame number the publisher stamped.
    pub frame_number: u64,
    /// The capture time the publisher stamped, microseconds since the Unix epoch.
    pub capture_us: u64,
}

/// The newest picture handed out for one (channel, user, track), kept converted to RGBA.
pub(crate) struct Picture {
    frame: Arc<VideoFrame>,
    seq: u64,
    rgba: Rgba,
}

impl Picture {
    fn info(&self) -> LivestageFrame {
        let (width, height) = self.rgba.size();
        LivestageFrame {
            width,
            height,
            size: self.rgba.data().len() as u64,
            seq: self.seq,
            frame: self.frame.frame,
            capture_us: self.frame.capture_us,
        }
    }
}

/// Copies `src` rows into `dst`, reversing their order when `flip`.
pub(crate) fn copy_rows(src: &[u8], dst: &mut [u8], row: usize, flip: bool) {
    if flip {
        for (d, s) in dst.chunks_exact_mut(row).zip(src.chunks_exact(row).rev()) {
            d.copy_from_slice(s);
        }
    } else {
        dst.copy_from_slice(src);
    }
}

/// Brings the (channel, user, track) picture up to date with the playout's newest; `None`
/// when the track has not shown a picture yet.
fn refresh<'a>(
    client: &Client,
    pictures: &'a mut HashMap<(String, String, TrackId), Picture>,
    channel: &str,
    user: &str,
    track: TrackId,
) -> Result<Option<&'a Picture>> {
    let key = (channel.to_owned(), user.to_owned(), track);
    let media_id = match client.media_id(channel, user) {
        Ok(id) => id,
        Err(e) => {
            pictures.retain(|(c, u, _), _| c != channel || u != user);
            return Err(e);
        }
    };
    let Some(latest) = client.playout.latest_video(channel, media_id, track) else {
        return Ok(pictures.get(&key));
    };
    let picture = match pictures.entry(key) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(Picture {
            rgba: Rgba::new(latest.picture.width(), latest.picture.height())
                .map_err(Error::internal)?,
            frame: latest.clone(),
            seq: 0,
        }),
    };
    if picture.seq == 0 || !Arc::ptr_eq(&picture.frame, &latest) {
        if picture.rgba.size() != latest.picture.size() {
            picture.rgba = Rgba::new(latest.picture.width(), latest.picture.height())
                .map_err(Error::internal)?;
        }
        convert::i420_to_rgba_into(&latest.picture, &mut picture.rgba).map_err(Error::internal)?;
        picture.frame = latest;
        picture.seq += 1;
    }
    Ok(Some(picture))
}

/// The body of `livestage_video_frame_track`.
///
/// # Safety
///
/// As `livestage_video_frame_track`.
unsafe fn frame(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    track: u8,
    last_seq: u64,
    flags: u32,
    buf: *mut u8,
    capacity: usize,
    out: *mut LivestageFrame,
) -> i32 {
    guard(|| {
        if out.is_null() {
            return Err(Error::null("out"));
        }
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        // SAFETY: the caller's contract.
        let user = unsafe { args::text(user, "user") }?;
        let track = args::track(track)?;
        handles::with(engine, |client| {
            let mut pictures = lock(&client.pictures);
            let picture = refresh(client, &mut pictures, channel, user, track)?;
            let info = picture.map(Picture::info).unwrap_or_default();
            // SAFETY: `out` is non-null and valid (the caller's contract).
            unsafe { out.write(info) };
            let Some(picture) = picture.filter(|p| p.seq != last_seq) else {
                return Ok(0);
            };
            let size = picture.rgba.data().len();
            if buf.is_null() || capacity < size {
                return Err(Error::new(
                    LIVESTAGE_ERR_BUFFER_TOO_SMALL,
                    format!(
                        "a {}x{} RGBA picture needs {size} bytes; the buffer holds {capacity}",
                        info.width, info.height
                    ),
                ));
            }
            // SAFETY: `buf` is valid for `capacity >= size` bytes (the caller's contract).
            let dst = unsafe { std::slice::from_raw_parts_mut(buf, size) };
            let row = info.width as usize * 4;
            copy_rows(picture.rgba.data(), dst, row, flags & LIVESTAGE_FLIP_Y != 0);
            Ok(1)
        })
    })
}

/// Copies the newest picture of `user`'s camera track (`track` 0) in `channel` into `buf`
/// as RGBA, if it is newer than `last_seq`: `livestage_video_frame_track` with track 0.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings; `buf` null or valid for `capacity`
/// bytes of writing; `out` valid for writing a `LivestageFrame`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_frame(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    last_seq: u64,
    flags: u32,
    buf: *mut u8,
    capacity: usize,
    out: *mut LivestageFrame,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        frame(
            engine,
            channel,
            user,
            track::CAMERA,
            last_seq,
            flags,
            buf,
            capacity,
            out,
        )
    }
}

/// Copies the newest picture of one video track of `user` in `channel` into `buf` as RGBA,
/// if it is newer than `last_seq` (pass 0 the first time, then the `seq` it reported). Track
/// ids are in the participant's `tracks` (the camera is 0 and a screen share 2 by default).
///
/// Returns 1 when a newer picture was copied, 0 when there is nothing newer (or no picture
/// yet; `out->seq` is then 0), or a negative code: `LIVESTAGE_ERR_BUFFER_TOO_SMALL` when
/// `capacity` is less than `out->size` (pass a null `buf` to ask for the size),
/// `LIVESTAGE_ERR_NOT_FOUND` for a user not in the channel, `LIVESTAGE_ERR_ARGUMENT` for a
/// track id of 16 or more. `*out` describes the newest picture in every case but errors
/// before it was found. `flags`: `LIVESTAGE_FLIP_Y`.
///
/// Main thread (any thread but the audio thread). Converting a new picture to RGBA happens
/// here, once per picture, whoever asks first.
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings; `buf` null or valid for `capacity`
/// bytes of writing; `out` valid for writing a `LivestageFrame`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_frame_track(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    track: u8,
    last_seq: u64,
    flags: u32,
    buf: *mut u8,
    capacity: usize,
    out: *mut LivestageFrame,
) -> i32 {
    // SAFETY: the caller's contract.
    unsafe {
        frame(
            engine, channel, user, track, last_seq, flags, buf, capacity, out,
        )
    }
}

/// Checks and copies caller pixels into an [`Rgba`] (rows top to bottom).
pub(crate) fn rgba_frame(pixels: &[u8], width: u32, height: u32, flags: u32) -> Result<Rgba> {
    video::frame::check_size(width, height).map_err(|e| Error::argument(e.to_string()))?;
    let size = width as usize * height as usize * 4;
    if pixels.len() != size {
        return Err(Error::argument(format!(
            "a {width}x{height} RGBA frame is {size} bytes, but {} were given",
            pixels.len()
        )));
    }
    let mut data = vec![0; size];
    copy_rows(
        pixels,
        &mut data,
        width as usize * 4,
        flags & LIVESTAGE_FLIP_Y != 0,
    );
    Rgba::from_data(width, height, data).map_err(|e| Error::argument(e.to_string()))
}

/// Reads the stamp the test pattern burns into its frames (frame number and capture time)
/// from an RGBA picture, e.g. one from `livestage_video_frame`. Returns 1 and fills `*out`
/// when a valid stamp is there, 0 when there is none. With `livestage_now_us`
/// this measures glass-to-glass latency: `now - capture_us`.
///
/// Any thread but the audio thread.
///
/// # Safety
///
/// `rgba` must be valid for `len` bytes of reading; `out` valid for writing a
/// `LivestageStamp`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_read_stamp(
    rgba: *const u8,
    len: usize,
    width: u32,
    height: u32,
    flags: u32,
    out: *mut LivestageStamp,
) -> i32 {
    guard(|| {
        if out.is_null() {
            return Err(Error::new(LIVESTAGE_ERR_NULL, "`out` is a null pointer"));
        }
        // SAFETY: the caller's contract.
        let pixels = unsafe { args::bytes(rgba, len, "rgba") }?;
        let frame: I420 = convert::rgba_to_i420(&rgba_frame(pixels, width, height, flags)?);
        let Some(stamp) = read_stamp(&frame) else {
            return Ok(0);
        };
        let stamp = LivestageStamp {
            frame_number: stamp.frame_number,
            capture_us: stamp.capture_us,
        };
        // SAFETY: non-null and valid (the caller's contract).
        unsafe { out.write(stamp) };
        Ok(1)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use livestage_media::video::TestPattern;

    #[test]
    fn the_stamp_reads_back_through_rgba_in_either_row_order() {
        let pattern = TestPattern::new(320, 240).unwrap();
        let rgba = convert::i420_to_rgba(&pattern.frame(42, 1_700_000_000_000_123));
        let mut stamp = LivestageStamp::default();
        // SAFETY: the buffer and `stamp` are valid.
        let found = unsafe {
            livestage_read_stamp(
                rgba.data().as_ptr(),
                rgba.data().len(),
                320,
                240,
                0,
                &mut stamp,
            )
        };
        assert_eq!(found, 1);
        assert_eq!(
            (stamp.frame_number, stamp.capture_us),
            (42, 1_700_000_000_000_123)
        );

        let mut flipped = vec![0; rgba.data().len()];
        copy_rows(rgba.data(), &mut flipped, 320 * 4, true);
        // SAFETY: as above.
        let found = unsafe {
            livestage_read_stamp(
                flipped.as_ptr(),
                flipped.len(),
                320,
                240,
                LIVESTAGE_FLIP_Y,
                &mut stamp,
            )
        };
        assert_eq!(found, 1);
        // SAFETY: as above; read as top-down, the stamp is at the bottom and unreadable.
        let found = unsafe {
            livestage_read_stamp(flipped.as_ptr(), flipped.len(), 320, 240, 0, &mut stamp)
        };
        assert_eq!(found, 0);
    }

    #[test]
    fn a_frame_of_the_wrong_size_is_refused() {
        let mut stamp = LivestageStamp::default();
        let pixels = [0u8; 100];
        // SAFETY: the buffer and `stamp` are valid.
        let code =
            unsafe { livestage_read_stamp(pixels.as_ptr(), pixels.len(), 320, 240, 0, &mut stamp) };
        assert_eq!(code, crate::LIVESTAGE_ERR_ARGUMENT);
        // SAFETY: null `out` is refused before anything is read.
        let code = unsafe {
            livestage_read_stamp(pixels.as_ptr(), 100, 320, 240, 0, std::ptr::null_mut())
        };
        assert_eq!(code, LIVESTAGE_ERR_NULL);
    }
}
