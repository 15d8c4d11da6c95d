//! The basic beauty filter: skin smoothing, lightening (with a contrast level), redness and
//! sharpness on an [`I420`] frame, in place; the controls of Agora's `setBeautyEffectOptions`.
//!
//! It is meant for a publisher's raw frames, between the source (camera or custom source) and
//! the encoder, on the thread that feeds the encoder, before the low layer is scaled so both
//! layers carry it. One [`Beauty`] per video track: it keeps work buffers sized for the last
//! frame, so after the first frame of a size it does not allocate. It uses no threads; all four
//! effects cost about 1.3 ms of one core per 720p frame and 3.2 ms per 1080p frame (see
//! "Beauty (issue 14)" in BENCHMARKS.md).
//!
//! How each effect works, all in the frame's own BT.601 limited-range YUV (no RGB round trip):
//!
//! - **Skin mask** (`skin.rs`): per chroma cell (2x2 pixels), a soft-edged box in the Cb/Cr
//!   skin cluster times a luma gate (very dark pixels, such as hair and deep shadow, are not
//!   skin), then averaged over 5x5 cells so its edge is soft. Smoothing, lightening and redness
//!   act only through it: where it is 0 (background, eyes, hair) they leave the pixel bit-exact.
//! - **Smoothness** (`luma.rs`): an edge-preserving local-statistics filter (the guided filter
//!   with the picture as its own guide): `mean + k * (y - mean)` with `k = var / (var + eps)`,
//!   mean and variance over a window about 1/36 of the frame height, from O(1) window sums
//!   (`window.rs`) of 4x4 block sums. Flat, noisy skin (small variance) is pulled to its mean;
//!   edges (eyebrows, eyes, lips: large variance) keep `k` near 1 and stay sharp.
//! - **Lightening** (`tone.rs`): a lifting tone curve, shaped by [`Contrast`], applied to the
//!   local mean with the detail riding on top at the curve's slope. Smoothing and lightening
//!   fold into one gain and offset per block, upsampled bilinearly (`spread.rs`), so both
//!   together cost one pass over the luma plane.
//! - **Redness**: raises Cr (the V plane) of skin by up to [`MAX_REDNESS`] codes.
//! - **Sharpness** (`sharpen.rs`): an unsharp mask (3x3 binomial blur) on the whole luma plane,
//!   after smoothing, so it sharpens edges without bringing back the skin noise removed.
//!
//! Every strength is 0.0 to 1.0. Out-of-range values (and NaN) are refused by [`Beauty::new`],
//! [`Beauty::set`] and [`Options::validate`] with a [`BeautyError`] naming the field, and
//! nothing changes; the filter never clamps a bad value silently. All strengths at 0 (the
//! default) pass frames through bit-exact without touching them.
//!
//! ```
//! use livestage_media::video::I420;
//! use livestage_media::video::beauty::{Beauty, Contrast, Options};
//!
//! let options: Options = "smooth=0.7,lighten=0.5,contrast=high,redness=0.2".parse()?;
//! assert_eq!(options.contrast, Contrast::High);
//! let mut beauty = Beauty::new(options)?;
//! let mut frame = I420::new(320, 180)?;
//! beauty.apply(&mut frame);
//! // A live change, between two frames.
//! beauty.set(Options { sharpness: 0.3, ..options })?;
//! assert!(beauty.set(Options { smoothness: 1.5, ..options }).is_err());
//! assert_eq!(beauty.options().sharpness, 0.3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod luma;
mod sharpen;
mod skin;
mod spread;
mod tone;
mod window;

use std::fmt;
use std::str::FromStr;

use super::frame::I420;

/// How far full redness raises the skin's Cr, in 8-bit codes (typical skin sits near 150).
pub const MAX_REDNESS: f32 = 20.0;

/// The contrast of the lightening curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Contrast {
    /// Flatter: lifts shadows more, highlights less.
    Low,
    /// A plain lift of the mid-tones.
    #[default]
    Normal,
    /// Steeper: the lift plus an S-curve, so bright skin gets brighter and shadows keep depth.
    High,
}

impl fmt::Display for Contrast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        })
    }
}

impl FromStr for Contrast {
    type Err = BeautyError;

    /// `low`, `normal` or `high` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "normal" => Ok(Self::Normal),
            "high" => Ok(Self::High),
            _ => Err(BeautyError::Contrast {
                value: s.to_owned(),
            }),
        }
    }
}

/// Beauty settings. Each strength is 0.0 (off) to 1.0 (strongest); the default is all off.
///
/// A strength that is NaN or outside 0.0..=1.0 is refused ([`BeautyError::OutOfRange`], naming
/// the field) by [`Options::validate`], [`Beauty::new`], [`Beauty::set`] and parsing; a refused
/// [`Beauty::set`] leaves the filter's options as they were.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Options {
    /// How much skin is smoothed (edges, eyes, hair and the background are kept).
    pub smoothness: f32,
    /// How much skin is brightened.
    pub lightening: f32,
    /// The shape of the lightening curve; no effect while `lightening` is 0.
    pub contrast: Contrast,
    /// How much redder skin gets.
    pub redness: f32,
    /// How much the whole picture is sharpened.
    pub sharpness: f32,
}

impl Options {
    /// The strengths by field name, for checking and messages.
    fn strengths(&self) -> [(&'static str, f32); 4] {
        [
            ("smoothness", self.smoothness),
            ("lightening", self.lightening),
            ("redness", self.redness),
            ("sharpness", self.sharpness),
        ]
    }

    /// Checks every strength is a number from 0.0 to 1.0.
    ///
    /// # Errors
    ///
    /// [`BeautyError::OutOfRange`] for the first field that is NaN or outside 0.0..=1.0.
    pub fn validate(&self) -> Result<(), BeautyError> {
        match self
            .strengths()
            .into_iter()
            .find(|(_, value)| !(0.0..=1.0).contains(value))
        {
            Some((field, value)) => Err(BeautyError::OutOfRange { field, value }),
            None => Ok(()),
        }
    }

    /// Whether every effect is off (all strengths 0), so [`Beauty::apply`] changes nothing.
    pub fn is_off(&self) -> bool {
        self.strengths().iter().all(|&(_, value)| value == 0.0)
    }
}

impl fmt::Display for Options {
    /// The form [`Options::from_str`] reads: `smooth=0.7,lighten=0.5,contrast=normal,...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "smooth={},lighten={},contrast={},redness={},sharpen={}",
            self.smoothness, self.lightening, self.contrast, self.redness, self.sharpness
        )
    }
}

impl FromStr for Options {
    type Err = BeautyError;

    /// Reads `key=value` pairs separated by commas, any subset, e.g.
    /// `smooth=0.7,lighten=0.5,redness=0.2,sharpen=0.3,contrast=high`. Keys: `smooth`
    /// (or `smoothness`), `lighten` (`lightening`), `contrast` (`low`, `normal`, `high`),
    /// `redness` (`red`), `sharpen` (`sharpness`). Missing keys stay off; `off` or an empty
    /// string is all off.
    ///
    /// # Errors
    ///
    /// An unknown key, a pair without `=`, a value that is not a number or not in 0.0..=1.0,
    /// or an unknown contrast level, each with a message that says what to write instead.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut options = Self::default();
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("off") {
            return Ok(options);
        }
        for item in s.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let Some((key, value)) = item.split_once('=') else {
                return Err(BeautyError::MissingValue {
                    item: item.to_owned(),
                });
            };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            let field = match key.as_str() {
                "contrast" => {
                    options.contrast = value.parse()?;
                    continue;
                }
                "smooth" | "smoothness" => &mut options.smoothness,
                "lighten" | "lightening" => &mut options.lightening,
                "redness" | "red" => &mut options.redness,
                "sharpen" | "sharpness" => &mut options.sharpness,
                _ => return Err(BeautyError::UnknownKey { key }),
            };
            *field = value.parse().map_err(|_| BeautyError::NotANumber {
                key: key.clone(),
                value: value.to_owned(),
            })?;
        }
        options.validate()?;
        Ok(options)
    }
}

/// Beauty settings that cannot be used; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BeautyError {
    /// A strength is NaN or outside 0.0..=1.0.
    #[error("beauty {field} is {value}; it must be a number from 0.0 (off) to 1.0 (strongest)")]
    OutOfRange {
        /// The field: `"smoothness"`, `"lightening"`, `"redness"` or `"sharpness"`.
        field: &'static str,
        /// The rejected value.
        value: f32,
    },
    /// A key [`Options::from_str`] does not know.
    #[error(
        "unknown beauty option {key:?}; use smooth, lighten, contrast, redness or sharpen, \
         as in \"smooth=0.7,lighten=0.5,contrast=high\""
    )]
    UnknownKey {
        /// The key as written (lower case).
        key: String,
    },
    /// A value that is not a number.
    #[error("beauty option {key}={value:?} is not a number; give a value from 0.0 to 1.0")]
    NotANumber {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
    },
    /// A pair without `=`.
    #[error("beauty option {item:?} has no value; write key=value, e.g. smooth=0.7")]
    MissingValue {
        /// The item as written.
        item: String,
    },
    /// An unknown contrast level.
    #[error("contrast {value:?} is not a contrast level; use low, normal or high")]
    Contrast {
        /// The level as written.
        value: String,
    },
}

/// The beauty filter: [`Options`] and the work buffers of the last frame size.
///
/// Call [`apply`](Self::apply) on each frame; [`set`](Self::set) changes the options between
/// frames. Frames of any valid size can follow each other (the buffers resize).
pub struct Beauty {
    options: Options,
    luma: luma::Smoother,
    skin: skin::Mask,
    sharpen: sharpen::Sharpener,
}

impl Beauty {
    /// A filter with `options`.
    ///
    /// # Errors
    ///
    /// [`BeautyError::OutOfRange`] if a strength is NaN or outside 0.0..=1.0.
    pub fn new(options: Options) -> Result<Self, BeautyError> {
        options.validate()?;
        Ok(Self {
            options,
            luma: luma::Smoother::default(),
            skin: skin::Mask::default(),
            sharpen: sharpen::Sharpener::default(),
        })
    }

    /// Changes the options, live: the next [`apply`](Self::apply) uses them.
    ///
    /// # Errors
    ///
    /// [`BeautyError::OutOfRange`] if a strength is NaN or outside 0.0..=1.0; the filter then
    /// keeps the options it had.
    pub fn set(&mut self, options: Options) -> Result<(), BeautyError> {
        options.validate()?;
        self.options = options;
        Ok(())
    }

    /// The options in use.
    pub fn options(&self) -> Options {
        self.options
    }

    /// Applies the effects to `frame`, in place. With every strength at 0 it returns at once
    /// and the frame is untouched.
    pub fn apply(&mut self, frame: &mut I420) {
        let options = self.options;
        if options.is_off() {
            return;
        }
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let (y, u, v) = frame.planes_mut();
        let smooth_or_lighten = options.smoothness > 0.0 || options.lightening > 0.0;
        if smooth_or_lighten || options.redness > 0.0 {
            self.luma.measure(y, width, height, smooth_or_lighten);
            self.skin
                .build(u, v, self.luma.sums(), width / 2, height / 2);
            if options.redness > 0.0 {
                self.skin.redden(v, options.redness * MAX_REDNESS);
            }
            if smooth_or_lighten {
                let curve = tone::Curve::new(options.lightening, options.contrast);
                self.luma
                    .apply(y, self.skin.cells(), options.smoothness, &curve);
            }
        }
        if options.sharpness > 0.0 {
            self.sharpen.apply(y, width, height, options.sharpness);
        }
    }
}

impl fmt::Debug for Beauty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Beauty")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}
