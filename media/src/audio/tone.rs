//! A sine tone source, and measuring which frequency dominates a signal.
//!
//! The tone is the test signal of the demo and the bot; [`dominant_frequency`] is how the
//! receiving end checks that the tone arrived intact.

use std::f64::consts::TAU;

use super::error::{Error, Result};
use super::format::Format;

/// A sine tone producing successive 20 ms frames with continuous phase.
///
/// Every channel carries the same tone.
#[derive(Debug, Clone)]
pub struct Tone {
    format: Format,
    freq_hz: f32,
    amplitude: f32,
    /// Phase in cycles, in `0.0..1.0`.
    phase: f64,
}

impl Tone {
    /// A tone of `freq_hz` (above 0, below half the sample rate) and `amplitude`
    /// (`0.0..=1.0`).
    pub fn new(format: Format, freq_hz: f32, amplitude: f32) -> Result<Tone> {
        format.validate()?;
        let nyquist = format.sample_rate as f32 / 2.0;
        if !(freq_hz > 0.0 && freq_hz < nyquist) {
            return Err(Error::Tone {
                what: "frequency",
                value: freq_hz,
                expected: "use a frequency above 0 and below half the sample rate",
            });
        }
        if !(0.0..=1.0).contains(&amplitude) {
            return Err(Error::Tone {
                what: "amplitude",
                value: amplitude,
                expected: "use 0.0..=1.0",
            });
        }
        Ok(Tone {
            format,
            freq_hz,
            amplitude,
            phase: 0.0,
        })
    }

    /// The format of the frames.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The frequency in hertz.
    pub fn frequency(&self) -> f32 {
        self.freq_hz
    }

    /// The next 20 ms frame of interleaved samples.
    pub fn next_frame(&mut self) -> Vec<f32> {
        let mut frame = vec![0.0; self.format.frame_len()];
        self.fill(&mut frame);
        frame
    }

    /// Writes the tone into `out` (interleaved, any whole number of sample groups),
    /// continuing from where the previous call stopped.
    pub fn fill(&mut self, out: &mut [f32]) {
        let step = f64::from(self.freq_hz) / f64::from(self.format.sample_rate);
        let amplitude = f64::from(self.amplitude);
        for group in out.chunks_mut(usize::from(self.format.channels)) {
            let sample = (amplitude * (TAU * self.phase).sin()) as f32;
            group.fill(sample);
            self.phase = (self.phase + step).fract();
        }
    }
}

pub use super::spectrum::dominant_frequency;
