//! Webcams: listing them, choosing a mode, and capturing I420 frames on a thread.
//!
//! [`devices`] lists the cameras with their modes (pixel format, size, frame rates); a
//! [`CameraSource`] opens one, picks a mode with [`choose`], captures on its own thread,
//! converts each frame to I420 ([`pixel`](super::pixel)) and hands it out like the
//! [`ScreenSource`](super::ScreenSource): [`CameraSource::latest`] takes the newest frame from a
//! one-frame slot that never grows, [`CameraSource::ended`] says why capture stopped (the camera
//! was unplugged...). Dropping the source stops and joins its thread.
//!
//! On Linux cameras are video4linux2 devices (`/dev/videoN`, read through the `v4l` crate, with
//! memory-mapped buffers); on other platforms every call answers
//! [`CameraError::Unavailable`]. [`CameraSource::replay`] plays a [`Recording`] of raw frames
//! through the same conversion and slot, for tests and demos on machines without a camera.
//!
//! Files: `source.rs` holds the thread and the conversion, `v4l2.rs` the Linux devices.
//!
//! ```no_run
//! use livestage_media::video::camera::{self, CameraSource, Options};
//!
//! for device in camera::devices()? {
//!     println!("{}: {} ({} modes)", device.index, device.name, device.modes.len());
//! }
//! let mut source = CameraSource::open(None, Options::default())?;
//! println!("capturing {} at {:?}", source.setting(), source.size());
//! while source.ended().is_none() {
//!     if let Some((frame, capture_us)) = source.latest() {
//!         // Hand `frame` to an encoder set up for `source.size()`.
//!         # let _ = (frame, capture_us);
//!     }
//!     std::thread::sleep(std::time::Duration::from_millis(10));
//! }
//! println!("the camera stopped: {}", source.ended().expect("the loop ran until it ended"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod source;
#[cfg(target_os = "linux")]
mod v4l2;

pub use source::{CameraSource, Recording};

use super::frame::check_size;
pub use super::pixel::Format;

/// A rate within this fraction of the requested one counts as reaching it (29.97 for 30).
const RATE_TOLERANCE: f32 = 0.97;

/// A camera that can be opened; serialized as `{"index", "name", "path", "modes"}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Device {
    /// What [`CameraSource::open`] takes: the `N` of `/dev/videoN` on Linux.
    pub index: u32,
    /// The camera's name, e.g. `"HD Pro Webcam C920"`.
    pub name: String,
    /// Where it is, e.g. `"/dev/video0"`.
    pub path: String,
    /// What it can capture, in the order the driver lists them.
    pub modes: Vec<Mode>,
}

/// One pixel format at one size, with the frame rates the camera offers for it; serialized
/// as `{"format": "MJPEG", "width", "height", "fps": [...]}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Mode {
    /// The pixel format.
    pub format: Format,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second offered at this size, e.g. `[30.0, 15.0]`.
    pub fps: Vec<f32>,
}

/// The mode a source captures in: one format, size and rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// The pixel format.
    pub format: Format,
    /// Width in pixels, as the camera sends it.
    pub width: u32,
    /// Height in pixels, as the camera sends it.
    pub height: u32,
    /// Frames per second.
    pub fps: f32,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}x{} at {} fps",
            self.format, self.width, self.height, self.fps
        )
    }
}

/// What to capture. `Default` asks for 1280x720 at 30 fps, at the camera's size.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The width wanted; [`choose`] says how the mode is picked.
    pub width: u32,
    /// The height wanted.
    pub height: u32,
    /// The frame rate wanted.
    pub fps: f32,
    /// The largest frame size handed out, `(width, height)`: a larger camera picture is scaled
    /// down into it, keeping its aspect ratio. `None`: the camera's size (even, at most
    /// 3840x2160).
    pub max_size: Option<(u32, u32)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 30.0,
            max_size: None,
        }
    }
}

/// Why a camera could not be listed, opened, or went on capturing; each message says what to
/// do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraError {
    /// No camera at all: none plugged in, no permission to open any, or no camera support on
    /// this platform. The product error code is `camera_unavailable`.
    #[error("the camera is unavailable: {0}")]
    Unavailable(String),
    /// No camera with this index (others exist).
    #[error("there is no camera with index {0}; list the cameras again and pick one of those")]
    NoSuchDevice(u32),
    /// Another program holds the camera.
    #[error(
        "the camera is in use by another program ({0}); close that program or pick another \
         camera"
    )]
    Busy(String),
    /// The camera offers no mode that can be used, or refused the one chosen.
    #[error("the camera offers no usable mode: {0}")]
    Format(String),
    /// The camera was unplugged or its driver stopped it; capture has ended.
    #[error("the camera was unplugged or stopped working; plug it in and start the camera again")]
    Disconnected,
    /// Capture failed for another reason.
    #[error("camera capture failed: {0}; start the camera again, and report this if it persists")]
    Capture(String),
}

impl CameraError {
    /// The product error code: `camera_unavailable` for [`CameraError::Unavailable`], and a
    /// code named after the variant otherwise.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "camera_unavailable",
            Self::NoSuchDevice(_) => "no_such_camera",
            Self::Busy(_) => "camera_busy",
            Self::Format(_) => "camera_format",
            Self::Disconnected => "camera_disconnected",
            Self::Capture(_) => "camera_capture_failed",
        }
    }
}

/// The cameras that can be opened, by index.
///
/// # Errors
///
/// [`CameraError::Unavailable`] when there is none (the message says why: no device node, no
/// permission, or no camera support on this platform).
pub fn devices() -> Result<Vec<Device>, CameraError> {
    #[cfg(target_os = "linux")]
    {
        v4l2::devices()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(unsupported())
    }
}

/// The error every camera call gives where this build has no camera backend.
#[cfg(not(target_os = "linux"))]
fn unsupported() -> CameraError {
    CameraError::Unavailable(format!(
        "webcam capture is only implemented on Linux (video4linux2), not on {}",
        std::env::consts::OS
    ))
}

/// Picks the mode to capture in from `modes`, for `options`:
///
/// 1. Only MJPEG, YUYV and NV12 modes whose size, rounded down to even, is a valid frame size
///    (16x16 to 3840x2160) and that offer a rate are considered.
/// 2. Size: the requested size if a mode has it; else the smallest size (by area) at least as
///    large on both sides; else the largest size.
/// 3. Format, at that size: among the modes that reach the requested rate (one of their rates
///    is at least 97% of it, so 29.97 reaches 30), NV12 before YUYV before MJPEG, since raw
///    frames cost the CPU far less than decoding JPEG. When none reaches it (raw modes are often
///    limited to a few frames per second at large sizes), the mode with the highest rate,
///    usually MJPEG.
/// 4. Rate: the lowest offered rate that reaches the request, else the highest offered.
///
/// Returns `None` when no mode qualifies.
pub fn choose(modes: &[Mode], options: &Options) -> Option<Setting> {
    let usable: Vec<&Mode> = modes
        .iter()
        .filter(|m| {
            m.format.is_supported()
                && !m.fps.is_empty()
                && check_size(m.width & !1, m.height & !1).is_ok()
        })
        .collect();
    let area = |m: &Mode| u64::from(m.width) * u64::from(m.height);
    let wanted = (options.width, options.height);
    let size = usable
        .iter()
        .find(|m| (m.width, m.height) == wanted)
        .or_else(|| {
            usable
                .iter()
                .filter(|m| m.width >= wanted.0 && m.height >= wanted.1)
                .min_by_key(|m| area(m))
        })
        .or_else(|| usable.iter().max_by_key(|m| area(m)))
        .map(|m| (m.width, m.height))?;
    let at_size = usable.iter().filter(|m| (m.width, m.height) == size);
    let reaches = |rate: f32| rate >= options.fps * RATE_TOLERANCE;
    let top = |m: &Mode| m.fps.iter().copied().fold(0.0f32, f32::max);
    let cost = |f: Format| match f {
        Format::Nv12 => 0,
        Format::Yuyv => 1,
        _ => 2,
    };
    let mode = at_size
        .clone()
        .filter(|m| reaches(top(m)))
        .min_by_key(|m| cost(m.format))
        .or_else(|| {
            at_size.max_by(|a, b| {
                top(a)
                    .total_cmp(&top(b))
                    .then(cost(b.format).cmp(&cost(a.format)))
            })
        })?;
    let fps = mode
        .fps
        .iter()
        .copied()
        .filter(|&r| reaches(r))
        .min_by(f32::total_cmp)
        .unwrap_or_else(|| top(mode));
    Some(Setting {
        format: mode.format,
        width: mode.width,
        height: mode.height,
        fps,
    })
}

/// A list of `modes` for an error message, e.g. `"YUYV 640x480, MJPEG 1920x1080"`.
fn describe(modes: &[Mode]) -> String {
    if modes.is_empty() {
        return "none".to_owned();
    }
    let listed: Vec<String> = modes
        .iter()
        .take(12)
        .map(|m| format!("{} {}x{}", m.format, m.width, m.height))
        .collect();
    let more = modes.len().saturating_sub(listed.len());
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{}{more}", listed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(format: Format, width: u32, height: u32, fps: &[f32]) -> Mode {
        Mode {
            format,
            width,
            height,
            fps: fps.to_vec(),
        }
    }

    /// A typical USB webcam: raw YUYV is slow at large sizes, MJPEG is not.
    fn webcam() -> Vec<Mode> {
        vec![
            mode(Format::Yuyv, 640, 480, &[30.0, 15.0]),
            mode(Format::Yuyv, 1280, 720, &[10.0, 5.0]),
            mode(Format::Yuyv, 1920, 1080, &[5.0]),
            mode(Format::Mjpeg, 640, 480, &[30.0, 15.0]),
            mode(Format::Mjpeg, 1280, 720, &[60.0, 30.0, 15.0]),
            mode(Format::Mjpeg, 1920, 1080, &[30.0]),
            mode(Format::Other(*b"H264"), 1920, 1080, &[30.0]),
        ]
    }

    fn options(width: u32, height: u32, fps: f32) -> Options {
        Options {
            width,
            height,
            fps,
            max_size: None,
        }
    }

    fn chosen(format: Format, width: u32, height: u32, fps: f32) -> Option<Setting> {
        Some(Setting {
            format,
            width,
            height,
            fps,
        })
    }

    #[test]
    fn raw_is_preferred_when_it_reaches_the_rate() {
        let got = choose(&webcam(), &options(640, 480, 30.0));
        assert_eq!(got, chosen(Format::Yuyv, 640, 480, 30.0));
        let got = choose(&webcam(), &options(1280, 720, 10.0));
        assert_eq!(got, chosen(Format::Yuyv, 1280, 720, 10.0));
    }

    #[test]
    fn mjpeg_is_chosen_when_raw_is_too_slow() {
        let got = choose(&webcam(), &options(1280, 720, 30.0));
        assert_eq!(got, chosen(Format::Mjpeg, 1280, 720, 30.0));
        let got = choose(&webcam(), &options(1920, 1080, 30.0));
        assert_eq!(got, chosen(Format::Mjpeg, 1920, 1080, 30.0));
    }

    #[test]
    fn nv12_beats_yuyv_and_29_97_reaches_30() {
        let modes = [
            mode(Format::Mjpeg, 1280, 720, &[30.0]),
            mode(Format::Yuyv, 1280, 720, &[30.0]),
            mode(Format::Nv12, 1280, 720, &[29.97]),
        ];
        let got = choose(&modes, &options(1280, 720, 30.0));
        assert_eq!(got, chosen(Format::Nv12, 1280, 720, 29.97));
    }

    #[test]
    fn a_missing_size_takes_the_next_larger_then_the_largest() {
        let got = choose(&webcam(), &options(800, 600, 30.0));
        assert_eq!(got, chosen(Format::Mjpeg, 1280, 720, 30.0));
        let got = choose(&webcam(), &options(3840, 2160, 30.0));
        assert_eq!(got, chosen(Format::Mjpeg, 1920, 1080, 30.0));
    }

    #[test]
    fn an_unreachable_rate_takes_the_fastest() {
        let got = choose(&webcam(), &options(1920, 1080, 60.0));
        assert_eq!(got, chosen(Format::Mjpeg, 1920, 1080, 30.0));
    }

    #[test]
    fn unusable_modes_are_skipped() {
        let modes = [
            mode(Format::Other(*b"H264"), 1280, 720, &[30.0]),
            mode(Format::Yuyv, 8, 8, &[30.0]),
            mode(Format::Mjpeg, 4096, 2160, &[30.0]),
            mode(Format::Nv12, 640, 480, &[]),
        ];
        assert_eq!(choose(&modes, &options(1280, 720, 30.0)), None);
        // An odd size is fine: it is cropped to even.
        let odd = [mode(Format::Yuyv, 641, 481, &[15.0])];
        let got = choose(&odd, &options(1280, 720, 30.0));
        assert_eq!(got, chosen(Format::Yuyv, 641, 481, 15.0));
    }

    #[test]
    fn errors_have_codes_and_say_what_to_do() {
        let e = CameraError::Unavailable("no camera found".to_owned());
        assert_eq!(e.code(), "camera_unavailable");
        assert!(e.to_string().contains("no camera found"));
        assert!(CameraError::Disconnected.to_string().contains("plug it in"));
        assert_eq!(describe(&webcam()[..2]), "YUYV 640x480, YUYV 1280x720");
    }
}
