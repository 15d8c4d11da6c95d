//! H.264 encoding for low latency: constrained baseline (no B-frames), one slice, real-time
//! rate control, an IDR on request and at least every [`KEYFRAME_INTERVAL_US`].
//!
//! ```
//! use livestage_media::video::{encode, Encoder, TestPattern};
//!
//! let config = encode::Config::new(320, 180, 30.0, 300_000)?;
//! let mut encoder = Encoder::new(config)?;
//! let pattern = TestPattern::new(320, 180)?;
//! let frame = pattern.frame(0, 1_700_000_000_000_000);
//! let encoded = encoder.encode(&frame, 1_700_000_000_000_000)?.expect("the first frame is kept");
//! assert!(encoded.keyframe);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use openh264::encoder::{
    BitRate, Complexity, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, UsageType, VuiConfig,
};
use openh264::formats::YUVSource;
use openh264::{OpenH264API, Timestamp};

use super::frame::{FrameError, I420, check_same_size, check_size};

/// Largest width for [`Config::new`], the limit of the built-in sources.
pub const MAX_WIDTH: u32 = 1920;
/// Largest height for [`Config::new`], the limit of the built-in sources.
pub const MAX_HEIGHT: u32 = 1080;
/// Lowest accepted frame rate.
pub const MIN_FPS: f32 = 1.0;
/// Highest accepted frame rate.
pub const MAX_FPS: f32 = 60.0;
/// Lowest accepted target bitrate in bits per second.
pub const MIN_BITRATE_BPS: u32 = 20_000;
/// Highest accepted target bitrate in bits per second.
pub const MAX_BITRATE_BPS: u32 = 100_000_000;
/// The encoder makes an IDR frame at least this often (in capture time), so a viewer that
/// joins or loses data recovers without asking.
pub const KEYFRAME_INTERVAL_US: u64 = 2_000_000;

/// Why a configuration or a frame was rejected, or the codec failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The frame size is unusable, or differs from the configured size.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// Larger than [`Config::new`] allows.
    #[error(
        "{width}x{height} is larger than the {MAX_WIDTH}x{MAX_HEIGHT} the built-in sources \
         support; use encode::Config::custom for up to 3840x2160"
    )]
    TooLarge {
        /// The rejected width.
        width: u32,
        /// The rejected height.
        height: u32,
    },
    /// Frame rate outside [`MIN_FPS`]..=[`MAX_FPS`].
    #[error("frame rate {0} fps is not between {MIN_FPS} and {MAX_FPS} fps")]
    Fps(f32),
    /// Bitrate outside [`MIN_BITRATE_BPS`]..=[`MAX_BITRATE_BPS`].
    #[error("bitrate {0} bps is not between {MIN_BITRATE_BPS} and {MAX_BITRATE_BPS} bps")]
    Bitrate(u32),
    /// openh264 reported an error.
    #[error("the H.264 encoder failed: {0}")]
    Codec(String),
}

/// A checked encoder configuration. Build one with [`Config::new`] or [`Config::custom`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    width: u32,
    height: u32,
    fps: f32,
    bitrate_bps: u32,
}

impl Config {
    /// A configuration for up to [`MAX_WIDTH`]x[`MAX_HEIGHT`], the built-in sources' limit.
    ///
    /// # Errors
    ///
    /// If the size is odd, below 16x16 or above 1920x1080, or the frame rate or bitrate is out
    /// of range.
    pub fn new(width: u32, height: u32, fps: f32, bitrate_bps: u32) -> Result<Self, Error> {
        check_size(width, height)?;
        if width > MAX_WIDTH || height > MAX_HEIGHT {
            return Err(Error::TooLarge { width, height });
        }
        Self::custom(width, height, fps, bitrate_bps)
    }

    /// A configuration for any frame size up to 3840x2160 (for custom sources).
    ///
    /// # Errors
    ///
    /// If the size is odd or out of range, or the frame rate or bitrate is out of range.
    pub fn custom(width: u32, height: u32, fps: f32, bitrate_bps: u32) -> Result<Self, Error> {
        check_size(width, height)?;
        check_fps(fps)?;
        check_bitrate(bitrate_bps)?;
        Ok(Self {
            width,
            height,
            fps,
            bitrate_bps,
        })
    }

    /// Frame width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Nominal frame rate, used by rate control to spread the bitrate over frames.
    pub fn fps(&self) -> f32 {
        self.fps
    }

    /// Target bitrate in bits per second.
    pub fn bitrate_bps(&self) -> u32 {
        self.bitrate_bps
    }
}

fn check_fps(fps: f32) -> Result<(), Error> {
    if (MIN_FPS..=MAX_FPS).contains(&fps) {
        Ok(())
    } else {
        Err(Error::Fps(fps))
    }
}

fn check_bitrate(bps: u32) -> Result<(), Error> {
    if (MIN_BITRATE_BPS..=MAX_BITRATE_BPS).contains(&bps) {
        Ok(())
    } else {
        Err(Error::Bitrate(bps))
    }
}

/// One encoded frame: an Annex B byte stream (start codes, then NAL units).
///
/// A keyframe carries its SPS and PPS, so a decoder can start from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// `true` for an IDR frame, which decodes without earlier frames.
    pub keyframe: bool,
    /// The capture timestamp passed to [`Encoder::encode`].
    pub timestamp_us: u64,
    /// Annex B NAL units.
    pub data: Vec<u8>,
}

/// An H.264 encoder for one stream of fixed-size frames.
///
/// openh264 (0.9) does not expose changing the bitrate or frame rate of a running encoder
/// without `unsafe` FFI, so [`set_bitrate`](Self::set_bitrate) and [`set_fps`](Self::set_fps)
/// rebuild it before the next frame, which therefore is an IDR (larger than a P-frame).
/// Change them every few seconds at most, not on every congestion signal.
pub struct Encoder {
    config: Config,
    inner: openh264::encoder::Encoder,
    /// `inner` has not encoded a frame yet (its first frame is an IDR anyway).
    fresh: bool,
    /// Settings changed; rebuild `inner` before the next frame.
    rebuild: bool,
    keyframe_requested: bool,
    /// Timestamp of the first frame; openh264 gets times relative to it.
    first_us: Option<u64>,
    last_keyframe_us: Option<u64>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// Creates an encoder for `config`.
    ///
    /// # Errors
    ///
    /// [`Error::Codec`] if openh264 cannot be set up.
    pub fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            config,
            inner: build(&config)?,
            fresh: true,
            rebuild: false,
            keyframe_requested: false,
            first_us: None,
            last_keyframe_us: None,
        })
    }

    /// The current configuration, including changes made while running.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Encodes `frame`, captured at `timestamp_us` (microseconds, any epoch, normally rising).
    ///
    /// Returns `None` if the encoder dropped the frame (rate control); the next frame is
    /// encoded normally.
    ///
    /// # Errors
    ///
    /// [`Error::Frame`] if the frame size differs from the configured size (nothing is
    /// encoded, the encoder stays usable); [`Error::Codec`] if openh264 fails.
    pub fn encode(&mut self, frame: &I420, timestamp_us: u64) -> Result<Option<Encoded>, Error> {
        check_same_size(
            "encoder",
            (self.config.width, self.config.height),
            frame.size(),
        )?;
        if self.rebuild {
            self.inner = build(&self.config)?;
            self.fresh = true;
            self.rebuild = false;
        }
        let first_us = *self.first_us.get_or_insert(timestamp_us);
        let keyframe_due = self
            .last_keyframe_us
            .is_none_or(|last| timestamp_us.saturating_sub(last) >= KEYFRAME_INTERVAL_US);
        if (self.keyframe_requested || keyframe_due) && !self.fresh {
            self.inner.force_intra_frame();
        }
        let stream_ms = timestamp_us.saturating_sub(first_us) / 1000;
        let bits = self
            .inner
            .encode_at(&Source(frame), Timestamp::from_millis(stream_ms))
            .map_err(|e| Error::Codec(e.to_string()))?;
        self.fresh = false;
        let frame_type = bits.frame_type();
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        let data = bits.to_vec();
        if data.is_empty() {
            return Ok(None);
        }
        let keyframe = frame_type == FrameType::IDR;
        if keyframe {
            self.keyframe_requested = false;
            self.last_keyframe_us = Some(timestamp_us);
        }
        Ok(Some(Encoded {
            keyframe,
            timestamp_us,
            data,
        }))
    }

    /// Makes the next encoded frame an IDR (e.g. a viewer joined or reported loss).
    pub fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    /// Changes the target bitrate from the next frame on; that frame will be an IDR (see the
    /// type docs). Setting the current value does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Bitrate`] if out of range; the old bitrate stays.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), Error> {
        check_bitrate(bps)?;
        if bps != self.config.bitrate_bps {
            self.config.bitrate_bps = bps;
            self.rebuild = true;
        }
        Ok(())
    }

    /// Changes the nominal frame rate from the next frame on; that frame will be an IDR (see
    /// the type docs). Setting the current value does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Fps`] if out of range; the old frame rate stays.
    pub fn set_fps(&mut self, fps: f32) -> Result<(), Error> {
        check_fps(fps)?;
        if fps != self.config.fps {
            self.config.fps = fps;
            self.rebuild = true;
        }
        Ok(())
    }
}

/// Creates an openh264 encoder with Livestage's low-latency settings.
fn build(config: &Config) -> Result<openh264::encoder::Encoder, Error> {
    let settings = EncoderConfig::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .profile(Profile::Baseline)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(config.bitrate_bps))
        .max_frame_rate(FrameRate::from_hz(config.fps))
        // openh264 only holds the bitrate if it may drop frames; without this a hard scene
        // overshoots the target many times over. A dropped frame is `Ok(None)`.
        .skip_frames(true)
        .complexity(Complexity::Medium)
        // No periodic IDR from openh264; `Encoder::encode` schedules them by capture time.
        .intra_frame_period(IntraFramePeriod::from_num_frames(0))
        .vui(VuiConfig::bt601());
    openh264::encoder::Encoder::with_api_config(OpenH264API::from_source(), settings)
        .map_err(|e| Error::Codec(e.to_string()))
}

/// Lends an [`I420`] to openh264 without making openh264 part of its public API.
struct Source<'a>(&'a I420);

impl YUVSource for Source<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width() as usize, self.0.height() as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        let width = self.0.width() as usize;
        (width, width / 2, width / 2)
    }

    fn y(&self) -> &[u8] {
        self.0.y()
    }

    fn u(&self) -> &[u8] {
        self.0.u()
    }

    fn v(&self) -> &[u8] {
        self.0.v()
    }
}
