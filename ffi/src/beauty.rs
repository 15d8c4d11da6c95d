//! The beauty filter through the C ABI: skin smoothing, lightening (with a contrast level),
//! redness and sharpness on every picture this engine publishes, set live. It runs on each
//! video publisher's thread before the local video hook (see `video_hooks.rs`), on pushed
//! frames, a webcam, a picture, a decoded file and a screen share alike.

use livestage_media::video::beauty::{Contrast, Options};

use crate::error::{Error, Result, guard};
use crate::handles;

/// A flatter lightening curve: lifts shadows more, highlights less.
pub const LIVESTAGE_CONTRAST_LOW: i32 = 0;
/// A plain lift of the mid-tones (the default).
pub const LIVESTAGE_CONTRAST_NORMAL: i32 = 1;
/// A steeper curve: bright skin gets brighter and shadows keep their depth.
pub const LIVESTAGE_CONTRAST_HIGH: i32 = 2;

/// The beauty effects (`livestage_beauty`); `livestage_beauty_options_default` gives them all
/// off. Each strength is 0 (off) to 1 (strongest).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LivestageBeautyOptions {
    /// How much skin is smoothed (edges, eyes, hair and the background are kept). Default 0.
    pub smoothness: f32,
    /// How much skin is brightened. Default 0.
    pub lightening: f32,
    /// The shape of the lightening curve: `LIVESTAGE_CONTRAST_LOW`, `_NORMAL` or `_HIGH`; no
    /// effect while `lightening` is 0. Default `LIVESTAGE_CONTRAST_NORMAL`.
    pub contrast: i32,
    /// How much redder skin gets. Default 0.
    pub redness: f32,
    /// How much the whole picture is sharpened. Default 0.
    pub sharpness: f32,
}

impl From<Options> for LivestageBeautyOptions {
    fn from(o: Options) -> Self {
        Self {
            smoothness: o.smoothness,
            lightening: o.lightening,
            contrast: match o.contrast {
                Contrast::Low => LIVESTAGE_CONTRAST_LOW,
                Contrast::Normal => LIVESTAGE_CONTRAST_NORMAL,
                Contrast::High => LIVESTAGE_CONTRAST_HIGH,
            },
            redness: o.redness,
            sharpness: o.sharpness,
        }
    }
}

impl LivestageBeautyOptions {
    /// The options, checked: a strength that is NaN or outside 0 to 1, or an unknown contrast,
    /// is `LIVESTAGE_ERR_ARGUMENT` naming it.
    fn options(&self) -> Result<Options> {
        let contrast = match self.contrast {
            LIVESTAGE_CONTRAST_LOW => Contrast::Low,
            LIVESTAGE_CONTRAST_NORMAL => Contrast::Normal,
            LIVESTAGE_CONTRAST_HIGH => Contrast::High,
            other => {
                return Err(Error::argument(format!(
                    "beauty contrast {other} is not LIVESTAGE_CONTRAST_LOW (0), _NORMAL (1) or \
                     _HIGH (2)"
                )));
            }
        };
        let options = Options {
            smoothness: self.smoothness,
            lightening: self.lightening,
            contrast,
            redness: self.redness,
            sharpness: self.sharpness,
        };
        options
            .validate()
            .map_err(|e| Error::argument(e.to_string()))?;
        Ok(options)
    }
}

/// The default beauty options: every effect off, normal contrast.
#[unsafe(no_mangle)]
pub extern "C" fn livestage_beauty_options_default() -> LivestageBeautyOptions {
    Options::default().into()
}

/// Sets the beauty effects on every picture this engine publishes (pushed frames, a webcam, a
/// picture, a decoded file, a screen share), now and for publishers started later; a change
/// reaches each publisher before its next picture. `options` null (or every strength 0) turns
/// beauty off. It runs before the local video hook, on each publisher's video thread (about
/// 1.3 ms per 720p picture with every effect on).
///
/// A video file published with `LIVESTAGE_FILE_AUTO` is forwarded without decoding unless
/// beauty (or a local video hook) is on when it starts; publish it with
/// `LIVESTAGE_FILE_DECODE` to change beauty on it later.
///
/// `LIVESTAGE_ERR_ARGUMENT` for a strength that is NaN or outside 0 to 1, or an unknown
/// contrast, with the field named in `livestage_last_error`; nothing changes then.
///
/// Main thread (any thread but the audio thread).
///
/// # Safety
///
/// `options` must be null or valid for reading.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn livestage_beauty(
    engine: i64,
    options: *const LivestageBeautyOptions,
) -> i32 {
    guard(|| {
        // SAFETY: null or valid for reading (the caller's contract).
        let options = match unsafe { options.as_ref() } {
            Some(options) => options.options()?,
            None => Options::default(),
        };
        handles::with(engine, |client| {
            client
                .video_hooks
                .controls
                .set_beauty(options)
                .map_err(|e| Error::argument(e.to_string()))?;
            Ok(0)
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn options_round_trip_and_bad_values_are_named() {
        let defaults = livestage_beauty_options_default();
        assert_eq!(defaults.options().unwrap(), Options::default());
        assert_eq!(defaults.contrast, LIVESTAGE_CONTRAST_NORMAL);
        let high = LivestageBeautyOptions {
            lightening: 0.5,
            contrast: LIVESTAGE_CONTRAST_HIGH,
            ..defaults
        };
        assert_eq!(high.options().unwrap().contrast, Contrast::High);
        let bad = LivestageBeautyOptions {
            redness: 1.5,
            ..defaults
        };
        let error = bad.options().unwrap_err();
        assert_eq!(error.code(), crate::LIVESTAGE_ERR_ARGUMENT);
        let nan = LivestageBeautyOptions {
            sharpness: f32::NAN,
            ..defaults
        };
        assert!(nan.options().is_err());
        let contrast = LivestageBeautyOptions {
            contrast: 3,
            ..defaults
        };
        assert!(contrast.options().is_err());
    }
}
