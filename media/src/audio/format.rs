//! The audio format: sample rate, channel count and the 20 ms frame.
//!
//! Samples are interleaved `f32` in `-1.0..=1.0` everywhere in this module tree.

use std::time::Duration;

use super::error::{Error, Result};

/// Duration of one audio frame, in milliseconds. Every component works in 20 ms frames.
pub const FRAME_MS: u32 = 20;

/// Sample rates accepted by [`Format::new`].
pub const SAMPLE_RATES: [u32; 3] = [16_000, 24_000, 48_000];

/// A sample rate and channel count.
///
/// Build one with [`Format::new`], which checks it; components that take a `Format` check it
/// again because the fields are public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Format {
    /// Samples per second per channel: 16000, 24000 or 48000.
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo, interleaved left then right).
    pub channels: u16,
}

impl Default for Format {
    /// 48 kHz mono, the usual voice format.
    fn default() -> Self {
        Self::MONO_48K
    }
}

impl Format {
    /// 48 kHz mono.
    pub const MONO_48K: Format = Format {
        sample_rate: 48_000,
        channels: 1,
    };
    /// 48 kHz stereo.
    pub const STEREO_48K: Format = Format {
        sample_rate: 48_000,
        channels: 2,
    };

    /// A checked format: `sample_rate` one of [`SAMPLE_RATES`], `channels` 1 or 2.
    pub fn new(sample_rate: u32, channels: u16) -> Result<Format> {
        let format = Format {
            sample_rate,
            channels,
        };
        format.validate()?;
        Ok(format)
    }

    /// Checks a format built from its public fields.
    pub fn validate(&self) -> Result<()> {
        if SAMPLE_RATES.contains(&self.sample_rate) && matches!(self.channels, 1 | 2) {
            Ok(())
        } else {
            Err(Error::Format {
                sample_rate: self.sample_rate,
                channels: self.channels,
            })
        }
    }

    /// Samples per channel in one 20 ms frame (960 at 48 kHz) of a valid format.
    pub const fn samples_per_frame(&self) -> usize {
        (self.sample_rate / 1000 * FRAME_MS) as usize
    }

    /// Interleaved samples in one 20 ms frame: `samples_per_frame() * channels`.
    pub const fn frame_len(&self) -> usize {
        self.samples_per_frame() * self.channels as usize
    }

    /// The duration of one frame.
    pub const fn frame_duration() -> Duration {
        Duration::from_millis(FRAME_MS as u64)
    }

    /// Checks that `samples` is exactly one interleaved frame of this format.
    pub fn check_frame(&self, samples: &[f32]) -> Result<()> {
        let expected = self.frame_len();
        if samples.len() == expected {
            Ok(())
        } else {
            Err(Error::FrameLength {
                expected,
                actual: samples.len(),
            })
        }
    }
}

/// Averages interleaved channels into one mono signal (a copy for one channel).
///
/// A trailing partial group of samples is ignored; `channels == 0` gives an empty signal.
pub fn to_mono(interleaved: &[f32], channels: u16) -> Vec<f32> {
    let channels = usize::from(channels);
    if channels == 0 {
        return Vec::new();
    }
    interleaved
        .chunks_exact(channels)
        .map(|group| group.iter().sum::<f32>() / channels as f32)
        .collect()
}
