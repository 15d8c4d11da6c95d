//! Webcams through the C ABI: listing them, and publishing one as the camera track (track 0),
//! captured on its own thread (video4linux2 on Linux; see `livestage_media::video::camera`).
//!
//! A camera that is unplugged while it is published ends by itself: the engine unpublishes it
//! and the app gets a `track_ended` event with the reason.

use std::ffi::c_char;

use livestage_media::video::camera::{self, CameraError, CameraSource, Device, Options};
use livestage_media::video::frame::check_size;
use livestage_net::publish::{Video, VideoSource, camera_error};
use serde_json::json;

use crate::error::{Error, Result, guard, write_listing};
use crate::{args, publish};

/// The C error for a camera error: `LIVESTAGE_ERR_UNAVAILABLE` when no camera can be used here
/// (`camera_unavailable`: none, no permission, another program holds it),
/// `LIVESTAGE_ERR_ARGUMENT` for an index or a mode that does not exist.
fn error(e: &CameraError) -> Error {
    publish::source_error(&camera_error(e))
}

/// The JSON of the cameras `livestage_cameras` writes (the shape `livestage cameras --json`
/// prints).
fn listing(devices: &[Device]) -> String {
    json!({ "cameras": devices }).to_string()
}

/// Writes the cameras that can be opened into `buf` as NUL-terminated UTF-8 JSON:
/// `{"cameras":[{"index","name","path","modes":[{"format","width","height","fps":[...]}]}]}`
/// (`index` is what `livestage_camera_publish` takes; `format` is `"MJPEG"`, `"YUYV"`,
/// `"NV12"` or another FourCC; `fps` the rates offered at that size).
///
/// Returns the size of the JSON in bytes, NUL included. When that is more than `capacity`
/// (or `buf` is null) nothing was written: call again with a buffer at least that large, as
/// with `livestage_screens`. `LIVESTAGE_ERR_UNAVAILABLE` when no camera can be used here (the
/// product error `camera_unavailable`: none plugged in, no permission, or no camera support on
/// this platform), with the reason in `livestage_last_error`.
///
/// Main thread (any thread but the audio thread); asks each camera's driver, a few
/// milliseconds.
///
/// # Safety
///
/// `buf` must be null or valid for `capacity` bytes of writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_cameras(buf: *mut c_char, capacity: usize) -> i32 {
    guard(|| {
        let devices = camera::devices().map_err(|e| error(&e))?;
        // SAFETY: the caller's contract.
        Ok(unsafe { write_listing(&listing(&devices), buf, capacity) })
    })
}

/// What `livestage_camera_publish`'s arguments ask to capture: the device (`None`: the
/// first) and the options.
fn request(device: i32, width: u32, height: u32, fps: f32) -> Result<(Option<u32>, Options)> {
    let device = match device {
        -1 => None,
        d => Some(u32::try_from(d).map_err(|_| {
            Error::argument(format!(
                "camera {d} is not an index from livestage_cameras, nor -1 for the first camera"
            ))
        })?),
    };
    let fps = publish::fps(fps)?;
    let defaults = Options::default();
    let (width, height, max_size) = match (width, height) {
        (0, 0) => (defaults.width, defaults.height, None),
        (w, h) => {
            check_size(w, h).map_err(|e| Error::argument(e.to_string()))?;
            (w, h, Some((w, h)))
        }
    };
    let options = Options {
        width,
        height,
        fps,
        max_size,
    };
    Ok((device, options))
}

/// Publishes a webcam in a joined channel as the camera track (track 0, source `camera`),
/// replacing what the camera track showed (pushed frames, a picture, a file, another camera);
/// `livestage_video_unpublish` stops it.
///
/// - `device`: an `index` from `livestage_cameras`, or -1 for the first camera.
/// - `width` x `height`: the size wanted; the camera's mode of that size is used, else the
///   smallest larger one (else its largest), and a larger picture is scaled down to fit
///   within `width` x `height`, keeping its aspect. 0 x 0 asks for 1280x720 and publishes the
///   camera's own size.
/// - `fps`: the frame rate wanted, 1 to 60; the camera captures at the nearest rate it offers
///   and the track keeps that rate.
///
/// Returns 0, `LIVESTAGE_ERR_UNAVAILABLE` when no camera can be used here (the product error
/// `camera_unavailable`: none, no permission, another program holds it), or
/// `LIVESTAGE_ERR_ARGUMENT` for an index that does not exist, a camera without a usable mode
/// or a size or rate out of range, with the reason in `livestage_last_error`. When the camera
/// is unplugged later, the track ends with a `track_ended` event (error `source_ended`). The
/// beauty effects (`livestage_beauty`) and the local video hook apply. The token must grant
/// publishing video and the role must be host.
///
/// Main thread (any thread but the audio thread); opens the camera, which can take a few
/// hundred milliseconds.
///
/// # Safety
///
/// `channel` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_camera_publish(
    engine: i64,
    channel: *const c_char,
    device: i32,
    width: u32,
    height: u32,
    fps: f32,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract.
        let channel = unsafe { args::text(channel, "channel") }?;
        let (device, options) = request(device, width, height, fps)?;
        let fps = options.fps;
        publish::publish(engine, channel, || {
            let source = CameraSource::open(device, options).map_err(|e| error(&e))?;
            Ok((Video::new(VideoSource::Camera(source), fps), None))
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use livestage_media::video::camera::{Format, Mode};

    use super::*;
    use crate::{LIVESTAGE_ERR_ARGUMENT, LIVESTAGE_ERR_UNAVAILABLE};

    #[test]
    fn requests_are_checked_before_a_camera_is_opened() {
        let (device, options) = request(-1, 0, 0, 30.0).unwrap();
        assert_eq!(device, None);
        assert_eq!(options, Options::default());
        let (device, options) = request(2, 640, 360, 15.0).unwrap();
        assert_eq!(device, Some(2));
        assert_eq!(options.max_size, Some((640, 360)));
        for bad in [
            request(-2, 0, 0, 30.0),
            request(0, 8, 8, 30.0),
            request(0, 0, 0, 0.0),
        ] {
            assert_eq!(bad.unwrap_err().code(), LIVESTAGE_ERR_ARGUMENT);
        }
    }

    #[test]
    fn camera_errors_become_codes_a_caller_can_act_on() {
        let none = error(&CameraError::Unavailable("no /dev/video*".into()));
        assert_eq!(none.code(), LIVESTAGE_ERR_UNAVAILABLE);
        let busy = error(&CameraError::Busy("/dev/video0".into()));
        assert_eq!(busy.code(), LIVESTAGE_ERR_UNAVAILABLE);
        assert_eq!(
            error(&CameraError::NoSuchDevice(9)).code(),
            LIVESTAGE_ERR_ARGUMENT
        );
    }

    #[test]
    fn the_listing_names_each_camera_and_its_modes() {
        let devices = [Device {
            index: 0,
            name: "Webcam".into(),
            path: "/dev/video0".into(),
            modes: vec![Mode {
                format: Format::Yuyv,
                width: 640,
                height: 480,
                fps: vec![30.0, 15.0],
            }],
        }];
        let json: serde_json::Value = serde_json::from_str(&listing(&devices)).unwrap();
        let camera = &json["cameras"][0];
        assert_eq!(camera["index"], 0);
        assert_eq!(camera["path"], "/dev/video0");
        assert_eq!(camera["modes"][0]["format"], "YUYV");
        assert_eq!(camera["modes"][0]["fps"][1], 15.0);
    }
}
