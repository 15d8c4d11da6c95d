//! Reading what C passes in: NUL-terminated UTF-8 strings, comma-separated user lists, byte and
//! sample buffers, and the integer constants for roles and layers. Bad input is an error that
//! names the parameter, never undefined behaviour beyond what the caller's pointer contract
//! already rules out.

use std::ffi::{CStr, c_char};

use livestage_proto::id;
use livestage_proto::media::Layer;
use livestage_proto::track::{self, Source, TrackId};
use livestage_proto::wire::Role;

use crate::error::{Error, Result};

/// `Role::Audience`: watch and listen.
pub const LIVESTAGE_ROLE_AUDIENCE: i32 = 0;
/// `Role::Host`: on stage, may publish as the token allows.
pub const LIVESTAGE_ROLE_HOST: i32 = 1;

/// Receive no video from a publisher.
pub const LIVESTAGE_LAYER_NONE: i32 = 0;
/// Receive a publisher's full-resolution video.
pub const LIVESTAGE_LAYER_HIGH: i32 = 1;
/// Receive a publisher's low video layer (a quarter of the area).
pub const LIVESTAGE_LAYER_LOW: i32 = 2;

/// Leave this part (audio or video) of a mute as it is.
pub const LIVESTAGE_MUTE_KEEP: i32 = -1;

/// A track from a camera, or the game's own view of the player.
pub const LIVESTAGE_SOURCE_CAMERA: i32 = 0;
/// A track showing a display, window or region of the screen.
pub const LIVESTAGE_SOURCE_SCREEN: i32 = 1;
/// A voice track (a microphone, or voice the app pushes).
pub const LIVESTAGE_SOURCE_MICROPHONE: i32 = 2;
/// A track of frames or samples the app makes itself.
pub const LIVESTAGE_SOURCE_CUSTOM: i32 = 3;
/// A track of music or sound effects mixed for the channel.
pub const LIVESTAGE_SOURCE_MUSIC: i32 = 4;
/// An external stream pulled into the channel.
pub const LIVESTAGE_SOURCE_INJECT: i32 = 5;

/// A required NUL-terminated UTF-8 string.
///
/// # Safety
///
/// `ptr` must be null or point to a NUL-terminated string that outlives the call.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, name: &str) -> Result<&'a str> {
    // SAFETY: forwarded contract.
    unsafe { optional_text(ptr, name) }?.ok_or_else(|| Error::null(name))
}

/// An optional NUL-terminated UTF-8 string (null is `None`).
///
/// # Safety
///
/// `ptr` must be null or point to a NUL-terminated string that outlives the call.
pub(crate) unsafe fn optional_text<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null, NUL-terminated and alive for the call (the caller's contract).
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map(Some)
        .map_err(|e| Error::argument(format!("`{name}` is not valid UTF-8: {e}")))
}

/// A user id or channel name, checked as the server would.
pub(crate) fn id<'a>(kind: &str, value: &'a str) -> Result<&'a str> {
    id::validate(kind, value).map_err(|e| Error::argument(e.message))?;
    Ok(value)
}

/// A comma-separated list of user ids (`""` is the empty list).
pub(crate) fn users(list: &str) -> Result<Vec<String>> {
    list.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| id("user", u).map(str::to_owned))
        .collect()
}

/// `len` bytes at `ptr`; null is allowed only when `len` is 0.
///
/// # Safety
///
/// `ptr` must be null or valid for `len` bytes of reading for the call.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::null(name));
    }
    // SAFETY: non-null and valid for `len` bytes (the caller's contract).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// `len` samples at `ptr`; null is allowed only when `len` is 0.
///
/// # Safety
///
/// `ptr` must be null or valid for `len` floats of reading for the call.
pub(crate) unsafe fn samples<'a>(ptr: *const f32, len: usize, name: &str) -> Result<&'a [f32]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::null(name));
    }
    if !ptr.is_aligned() {
        return Err(Error::argument(format!(
            "`{name}` is not aligned for floats"
        )));
    }
    // SAFETY: non-null, aligned and valid for `len` floats (the caller's contract).
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A `LIVESTAGE_ROLE_*` value.
pub(crate) fn role(value: i32) -> Result<Role> {
    match value {
        LIVESTAGE_ROLE_AUDIENCE => Ok(Role::Audience),
        LIVESTAGE_ROLE_HOST => Ok(Role::Host),
        other => Err(Error::argument(format!(
            "role {other} is neither LIVESTAGE_ROLE_AUDIENCE (0) nor LIVESTAGE_ROLE_HOST (1)"
        ))),
    }
}

/// A `LIVESTAGE_LAYER_*` value.
pub(crate) fn layer(value: i32) -> Result<Option<Layer>> {
    match value {
        LIVESTAGE_LAYER_NONE => Ok(None),
        LIVESTAGE_LAYER_HIGH => Ok(Some(Layer::High)),
        LIVESTAGE_LAYER_LOW => Ok(Some(Layer::Low)),
        other => Err(Error::argument(format!(
            "layer {other} is not LIVESTAGE_LAYER_NONE (0), _HIGH (1) or _LOW (2)"
        ))),
    }
}

/// A track id: below 16, unique among this client's tracks in a channel.
pub(crate) fn track(value: u8) -> Result<TrackId> {
    if value >= track::MAX_ID {
        return Err(Error::argument(format!(
            "track {value} is out of range: track ids are 0 to {}",
            track::MAX_ID - 1
        )));
    }
    Ok(value)
}

/// A `LIVESTAGE_SOURCE_*` value that a video track may have: camera, screen or custom.
pub(crate) fn video_source(value: i32) -> Result<Source> {
    match value {
        LIVESTAGE_SOURCE_CAMERA => Ok(Source::Camera),
        LIVESTAGE_SOURCE_SCREEN => Ok(Source::Screen),
        LIVESTAGE_SOURCE_CUSTOM => Ok(Source::Custom),
        LIVESTAGE_SOURCE_MICROPHONE | LIVESTAGE_SOURCE_MUSIC | LIVESTAGE_SOURCE_INJECT => {
            Err(Error::argument(format!(
                "source {value} is not a video source; a video track is \
                 LIVESTAGE_SOURCE_CAMERA (0), _SCREEN (1) or _CUSTOM (3)"
            )))
        }
        other => Err(Error::argument(format!(
            "source {other} is unknown; a video track is LIVESTAGE_SOURCE_CAMERA (0), \
             _SCREEN (1) or _CUSTOM (3)"
        ))),
    }
}

/// A mute part: `LIVESTAGE_MUTE_KEEP`, 0 (unmute) or 1 (mute).
pub(crate) fn mute(value: i32, name: &str) -> Result<Option<bool>> {
    match value {
        LIVESTAGE_MUTE_KEEP => Ok(None),
        0 => Ok(Some(false)),
        1 => Ok(Some(true)),
        other => Err(Error::argument(format!(
            "`{name}` is {other}; use 1 to mute, 0 to unmute or LIVESTAGE_MUTE_KEEP (-1)"
        ))),
    }
}

/// A boolean flag: 1 (true) or 0 (false).
pub(crate) fn flag(value: i32, name: &str) -> Result<bool> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Error::argument(format!("`{name}` is {other}; use 1 or 0"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn strings_lists_and_constants_are_checked() {
        // SAFETY: a literal C string and null.
        assert_eq!(unsafe { text(c"alice".as_ptr(), "user") }.unwrap(), "alice");
        // SAFETY: null is allowed.
        assert!(unsafe { text(std::ptr::null(), "user") }.is_err());
        let bad = [0xffu8, 0];
        // SAFETY: NUL-terminated.
        assert!(unsafe { text(bad.as_ptr().cast(), "user") }.is_err());
        assert_eq!(users(" a, b ,,c").unwrap(), ["a", "b", "c"]);
        assert!(users("").unwrap().is_empty());
        assert!(users("a,b c").is_err());
        assert_eq!(role(1).unwrap(), Role::Host);
        assert!(role(2).is_err());
        assert_eq!(layer(2).unwrap(), Some(Layer::Low));
        assert_eq!(mute(-1, "audio").unwrap(), None);
        assert!(mute(3, "audio").is_err());
        assert!(flag(1, "raised").unwrap());
        assert!(flag(-1, "raised").is_err());
        assert_eq!(track(15).unwrap(), 15);
        assert!(track(16).is_err());
        assert_eq!(video_source(1).unwrap(), Source::Screen);
        assert!(video_source(2).is_err());
        assert!(video_source(6).is_err());
        // SAFETY: null with length 0 is allowed; null with a length is refused.
        assert!(unsafe { bytes(std::ptr::null(), 0, "data") }.is_ok());
        // SAFETY: as above.
        assert!(unsafe { samples(std::ptr::null(), 4, "samples") }.is_err());
    }
}
