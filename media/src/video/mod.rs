//! Video: frames, colour conversion, scaling, the beauty filter, H.264 encoding and decoding, and
//! the video sources.
//!
//! - [`frame`]: [`I420`] and [`Rgba`] pictures, size-checked once at construction.
//! - [`convert`]: RGBA <-> I420 (BT.601 limited range, as openh264 expects).
//! - [`beauty`]: the [`Beauty`] filter (skin smoothing, lightening, redness, sharpness), in place
//!   on a publisher's raw frames.
//! - [`compose`]: the [`Compositor`], which draws a channel's hosts into one picture (the CDN
//!   push): regions, z-order, alpha, crop or fit, placeholders and a watermark.
//! - [`pixel`]: camera pixel formats (YUYV, NV12, MJPEG) into I420, padded rows and odd sizes
//!   included.
//! - [`scale`]: the I420 [`Scaler`], [`scale::fit`] (the size a source publishes) and
//!   [`scale::low_layer_size`] (the size of its low layer).
//! - [`encode`]: the low-latency H.264 [`Encoder`] and its [`encode::Config`].
//! - [`decode`]: the [`Decoder`], which never panics on bad input and waits for a keyframe.
//! - [`hooks`]: raw video [`hooks::Hook`]s (before encode, after decode) and the
//!   [`hooks::Runner`] that guards the path against them.
//! - [`pattern`]: the [`TestPattern`] with a stamp (frame number, capture time) that
//!   [`read_stamp`] reads back after decoding.
//! - [`source`]: the [`CustomSource`], fed from any thread through a [`CustomSender`].
//! - [`file`](mod@file): the [`FileSource`], an MP4 or Matroska file with H.264 played in real
//!   time, forwarded as it is or decoded, and its [`file::Demuxer`].
//! - [`screen`]: the X11 [`ScreenSource`] (a display, a window or a region, captured on its own
//!   thread), and the listing of [`screen::displays`] and [`screen::windows`].
//! - [`camera`]: the webcam [`CameraSource`] (video4linux2 on Linux, captured and converted on
//!   its own thread, or a replayed [`camera::Recording`]) and the listing of [`camera::devices`]
//!   with their modes.
//! - [`still`]: a PNG or JPEG picture as a frame ([`still::open`]) and the [`StillSource`] that
//!   shows it as video.
//!
//! A round trip:
//!
//! ```
//! use livestage_media::video::{Decoder, Encoder, TestPattern, encode, read_stamp};
//!
//! let pattern = TestPattern::new(320, 180)?;
//! let mut encoder = Encoder::new(encode::Config::new(320, 180, 30.0, 300_000)?)?;
//! let mut decoder = Decoder::new()?;
//! for n in 0..3 {
//!     let capture_us = 1_700_000_000_000_000 + n * 33_333;
//!     let Some(encoded) = encoder.encode(&pattern.frame(n, capture_us), capture_us)? else {
//!         continue;
//!     };
//!     let frame = decoder.decode(&encoded.data)?.expect("each frame decodes to a picture");
//!     assert_eq!(read_stamp(&frame).map(|s| s.frame_number), Some(n));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod beauty;
pub mod camera;
pub mod compose;
pub mod convert;
pub mod decode;
pub mod encode;
pub mod encoded;
pub mod file;
pub mod frame;
pub mod hooks;
pub mod pattern;
pub mod pixel;
pub mod scale;
pub mod screen;
pub mod source;
pub mod still;

pub use beauty::Beauty;
pub use camera::{CameraError, CameraSource};
pub use compose::Compositor;
pub use decode::Decoder;
pub use encode::{Encoded, Encoder};
pub use encoded::{Access, EncodedSender, EncodedSource, encoded};
pub use file::FileSource;
pub use frame::{FrameError, I420, Rgba};
pub use pattern::{Stamp, TestPattern, read_stamp};
pub use scale::Scaler;
pub use screen::ScreenSource;
pub use source::{CustomSender, CustomSource};
pub use still::{StillError, StillSource};

/// Microseconds since the Unix epoch now: the capture times the sources stamp.
pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
