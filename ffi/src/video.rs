//! Video through the C ABI: the newest picture of a remote user's video track in the caller's
//! buffers (copied only when it changed), as RGBA or as I420 planes, and the burned-in stamp of
//! the test pattern for measuring latency. Publishing is in `publish.rs`, screen sharing in
//! `screen.rs`, hooks and renderers in `video_hooks.rs`.
//!
//! RGBA is 4 bytes a pixel, tightly packed, rows top to bottom; with `LIVESTAGE_FLIP_Y` rows go
//! bottom to top, as Unity's textures hold them (I420 planes likewise).

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

/// What `livestage_video_frame`, `livestage_video_frame_track` and `livestage_video_frame_i420`
/// report about the newest picture.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LivestageFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes of the picture tightly packed in the format asked for: `width * height * 4` for
    /// RGBA, `width * height * 3 / 2` for I420.
    pub size: u64,
    /// Counts the pictures this engine has handed out for this user's track, from 1; it changes
    /// exactly when a newer picture arrived (the same count whichever format is asked for).
    /// 0 when there is none yet.
    pub seq: u64,
    /// The publisher's frame number.
    pub frame: u64,
    /// When the publisher captured it, microseconds since the Unix epoch (its clock).
    pub capture_us: u64,
}

/// The caller's buffers for the three planes of an I420 picture
/// (`livestage_video_frame_i420`). A stride of 0 is the plane's width (tightly packed).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LivestagePlanes {
    /// The Y plane: `height` rows of `width` bytes, `y_stride` apart.
    pub y: *mut u8,
    /// The U plane: `height / 2` rows of `width / 2` bytes, `u_stride` apart.
    pub u: *mut u8,
    /// The V plane: `height / 2` rows of `width / 2` bytes, `v_stride` apart.
    pub v: *mut u8,
    /// Bytes `y` holds: at least `y_stride * (height - 1) + width`.
    pub y_capacity: usize,
    /// Bytes `u` holds: at least `u_stride * (height / 2 - 1) + width / 2`.
    pub u_capacity: usize,
    /// Bytes `v` holds: at least `v_stride * (height / 2 - 1) + width / 2`.
    pub v_capacity: usize,
    /// Bytes from one row of Y to the next (0: `width`).
    pub y_stride: u32,
    /// Bytes from one row of U to the next (0: `width / 2`).
    pub u_stride: u32,
    /// Bytes from one row of V to the next (0: `width / 2`).
    pub v_stride: u32,
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

/// The newest picture handed out for one (channel, user, track), and its RGBA once fetched so.
pub(crate) struct Picture {
    frame: Arc<VideoFrame>,
    seq: u64,
    /// `frame` converted to RGBA by the first RGBA fetch of it (`converted`: its `seq`).
    rgba: Option<Rgba>,
    converted: u64,
}

impl Picture {
    fn info(&self, size: fn(u32, u32) -> u64) -> LivestageFrame {
        let (width, height) = self.frame.picture.size();
        LivestageFrame {
            width,
            height,
            size: size(width, height),
            seq: self.seq,
            frame: self.frame.frame,
            capture_us: self.frame.capture_us,
        }
    }

    /// The picture as RGBA, converted here once per picture.
    fn rgba(&mut self) -> Result<&Rgba> {
        let picture = &self.frame.picture;
        let (mut rgba, stale) = match self.rgba.take() {
            Some(rgba) if rgba.size() == picture.size() => (rgba, self.converted != self.seq),
            _ => {
                let rgba = Rgba::new(picture.width(), picture.height()).map_err(Error::internal)?;
                (rgba, true)
            }
        };
        if stale {
            convert::i420_to_rgba_into(picture, &mut rgba).map_err(Error::internal)?;
            self.converted = self.seq;
        }
        Ok(self.rgba.insert(rgba))
    }
}

/// Bytes of a tightly packed RGBA picture.
fn rgba_size(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * 4
}

/// Bytes of a tightly packed I420 picture.
fn i420_size(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * 3 / 2
}

/// Copies `src`'s rows (each `row` bytes, tightly packed) into `dst`, where rows start
/// `stride` bytes apart, reversing their order when `flip`.
pub(crate) fn copy_rows(src: &[u8], dst: &mut [u8], row: usize, stride: usize, flip: bool) {
    if !flip && stride == row {
        dst[..src.len()].copy_from_slice(src);
        return;
    }
    let rows = src.len() / row.max(1);
    for (i, s) in src.chunks_exact(row).enumerate() {
        let at = if flip { rows - 1 - i } else { i } * stride;
        dst[at..at + row].copy_from_slice(s);
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
) -> Result<Option<&'a mut Picture>> {
    let key = (channel.to_owned(), user.to_owned(), track);
    let media_id = match client.media_id(channel, user) {
        Ok(id) => id,
        Err(e) => {
            pictures.retain(|(c, u, _), _| c != channel || u != user);
            return Err(e);
        }
    };
    let Some(latest) = client.playout.latest_video(channel, media_id, track) else {
        return Ok(pictures.get_mut(&key));
    };
    let picture = match pictures.entry(key) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(Picture {
            frame: latest.clone(),
            seq: 0,
            rgba: None,
            converted: 0,
        }),
    };
    if picture.seq == 0 || !Arc::ptr_eq(&picture.frame, &latest) {
        picture.frame = latest;
        picture.seq += 1;
    }
    Ok(Some(picture))
}

/// The body of the fetches: reports the newest picture of `user`'s track in `*out` (with
/// `size` for its bytes in the format fetched) and, when it is newer than `last_seq`, hands it
/// to `copy`. Returns 1 when it was copied, 0 when there is nothing newer.
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings; `out` null or valid for writing a
/// `LivestageFrame`.
unsafe fn fetch(
    engine: i64,
    (channel, user, track): (*const c_char, *const c_char, u8),
    last_seq: u64,
    out: *mut LivestageFrame,
    size: fn(u32, u32) -> u64,
    copy: impl FnOnce(&mut Picture, &LivestageFrame) -> Result<()>,
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
            let info = picture.as_ref().map(|p| p.info(size)).unwrap_or_default();
            // SAFETY: `out` is non-null and valid (the caller's contract).
            unsafe { out.write(info) };
            let Some(picture) = picture.filter(|p| p.seq != last_seq) else {
                return Ok(0);
            };
            copy(picture, &info)?;
            Ok(1)
        })
    })
}

/// `LIVESTAGE_ERR_BUFFER_TOO_SMALL` for a picture of `info`'s size.
fn too_small(info: &LivestageFrame, what: &str) -> Error {
    Error::new(
        LIVESTAGE_ERR_BUFFER_TOO_SMALL,
        format!(
            "a {}x{} picture does not fit: {what}",
            info.width, info.height
        ),
    )
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
    let copy = |picture: &mut Picture, info: &LivestageFrame| {
        let size = info.size as usize;
        if buf.is_null() || capacity < size {
            let need = format!("RGBA needs {size} bytes; the buffer holds {capacity}");
            return Err(too_small(info, &need));
        }
        // SAFETY: `buf` is valid for `capacity >= size` bytes (the caller's contract).
        let dst = unsafe { std::slice::from_raw_parts_mut(buf, size) };
        let row = info.width as usize * 4;
        copy_rows(
            picture.rgba()?.data(),
            dst,
            row,
            row,
            flags & LIVESTAGE_FLIP_Y != 0,
        );
        Ok(())
    };
    // SAFETY: the caller's contract.
    unsafe {
        fetch(
            engine,
            (channel, user, track),
            last_seq,
            out,
            rgba_size,
            copy,
        )
    }
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

/// Where one plane goes in the caller's memory: checks its stride and capacity for `rows` rows
/// of `row` bytes.
///
/// # Safety
///
/// `data` must be null or valid for `capacity` bytes of writing.
unsafe fn plane<'a>(
    (data, capacity, stride): (*mut u8, usize, u32),
    name: &str,
    (row, rows): (usize, usize),
    info: &LivestageFrame,
) -> Result<(&'a mut [u8], usize)> {
    let stride = if stride == 0 { row } else { stride as usize };
    if stride < row {
        return Err(Error::argument(format!(
            "{name}_stride {stride} is less than the {name} plane's {row} bytes a row"
        )));
    }
    let need = stride * (rows.max(1) - 1) + row;
    if data.is_null() || capacity < need {
        let what =
            format!("the {name} plane needs {need} bytes at stride {stride}; it holds {capacity}");
        return Err(too_small(info, &what));
    }
    // SAFETY: non-null and valid for `capacity >= need` bytes (the caller's contract).
    Ok((
        unsafe { std::slice::from_raw_parts_mut(data, need) },
        stride,
    ))
}

/// Copies the newest picture of one video track of `user` in `channel` into the caller's three
/// planes as I420 (the decoder's own format, nothing converted), if it is newer than
/// `last_seq`: `livestage_video_frame_track`'s contract, with planes instead of a buffer and
/// `out->size` the tightly packed I420 size. Each plane is copied row by row at the stride the
/// caller gave (0: its width); `LIVESTAGE_ERR_BUFFER_TOO_SMALL` when `planes` is null (ask for
/// the size so) or a plane is too small for the picture (with strides of 0, planes of
/// `width * height`, `width * height / 4` and `width * height / 4` bytes always fit),
/// `LIVESTAGE_ERR_ARGUMENT` for a stride less than its plane's width. `flags`:
/// `LIVESTAGE_FLIP_Y` copies every plane's rows bottom to top.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `channel` and `user` must be NUL-terminated strings; `planes` null or valid for reading,
/// each of its pointers null or valid for its capacity in bytes of writing; `out` valid for
/// writing a `LivestageFrame`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_video_frame_i420(
    engine: i64,
    channel: *const c_char,
    user: *const c_char,
    track: u8,
    last_seq: u64,
    flags: u32,
    planes: *const LivestagePlanes,
    out: *mut LivestageFrame,
) -> i32 {
    let copy = |picture: &mut Picture, info: &LivestageFrame| {
        // SAFETY: null or valid for reading (the caller's contract).
        let Some(planes) = (unsafe { planes.as_ref() }) else {
            let need = format!("I420 needs {} bytes and no planes were given", info.size);
            return Err(too_small(info, &need));
        };
        let (width, height) = (info.width as usize, info.height as usize);
        let (luma, chroma) = ((width, height), (width / 2, height / 2));
        // SAFETY (the three planes): each pointer is null or valid for its capacity (the
        // caller's contract).
        let (y, y_stride) = unsafe {
            plane(
                (planes.y, planes.y_capacity, planes.y_stride),
                "y",
                luma,
                info,
            )
        }?;
        // SAFETY: as above.
        let (u, u_stride) = unsafe {
            plane(
                (planes.u, planes.u_capacity, planes.u_stride),
                "u",
                chroma,
                info,
            )
        }?;
        // SAFETY: as above.
        let (v, v_stride) = unsafe {
            plane(
                (planes.v, planes.v_capacity, planes.v_stride),
                "v",
                chroma,
                info,
            )
        }?;
        let flip = flags & LIVESTAGE_FLIP_Y != 0;
        let src = &picture.frame.picture;
        copy_rows(src.y(), y, width, y_stride, flip);
        copy_rows(src.u(), u, width / 2, u_stride, flip);
        copy_rows(src.v(), v, width / 2, v_stride, flip);
        Ok(())
    };
    // SAFETY: the caller's contract.
    unsafe {
        fetch(
            engine,
            (channel, user, track),
            last_seq,
            out,
            i420_size,
            copy,
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
    let row = width as usize * 4;
    copy_rows(pixels, &mut data, row, row, flags & LIVESTAGE_FLIP_Y != 0);
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
        copy_rows(rgba.data(), &mut flipped, 320 * 4, 320 * 4, true);
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
