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

/// Below this RMS a signal counts as silence (-60 dBFS).
const SILENCE_RMS: f64 = 1e-3;

/// Smallest transform; short signals are zero-padded to it for finer interpolation.
const MIN_FFT: usize = 8192;

/// The frequency with the most energy in mono `samples` at `sample_rate`, or `None` for
/// silence (below -60 dBFS), a signal shorter than 10 ms, or NaN samples.
///
/// Finds the peak of a Hann-windowed spectrum and interpolates between bins; for a pure tone
/// over 100 ms or more it is well within 1%. Pass interleaved audio through
/// [`to_mono`](super::format::to_mono) first.
pub fn dominant_frequency(samples: &[f32], sample_rate: u32) -> Option<f32> {
    let len = samples.len();
    if sample_rate == 0 || len < (sample_rate / 100).max(4) as usize {
        return None;
    }
    if samples.iter().any(|s| !s.is_finite()) {
        return None;
    }
    let mean = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / len as f64;
    let power = samples
        .iter()
        .map(|&s| (f64::from(s) - mean).powi(2))
        .sum::<f64>()
        / len as f64;
    if power.sqrt() < SILENCE_RMS {
        return None;
    }

    let n = len.next_power_of_two().max(MIN_FFT);
    let mut re = vec![0.0; n];
    let mut im = vec![0.0; n];
    for (i, &s) in samples.iter().enumerate() {
        let hann = 0.5 - 0.5 * (TAU * i as f64 / (len - 1) as f64).cos();
        re[i] = (f64::from(s) - mean) * hann;
    }
    fft(&mut re, &mut im);

    // Skip the window's main lobe around DC (2 bins of the unpadded signal each side).
    let first = 1 + 2 * n / len;
    let magnitude = |k: usize| (re[k] * re[k] + im[k] * im[k]).sqrt();
    let peak = (first..n / 2).max_by(|&a, &b| magnitude(a).total_cmp(&magnitude(b)))?;
    // Gaussian interpolation: fit a parabola to the log magnitudes around the peak.
    let offset = if peak > first && peak + 1 < n / 2 {
        let (a, b, c) = (
            magnitude(peak - 1).max(f64::MIN_POSITIVE).ln(),
            magnitude(peak).max(f64::MIN_POSITIVE).ln(),
            magnitude(peak + 1).max(f64::MIN_POSITIVE).ln(),
        );
        let denominator = a - 2.0 * b + c;
        if denominator.abs() > f64::EPSILON {
            (0.5 * (a - c) / denominator).clamp(-0.5, 0.5)
        } else {
            0.0
        }
    } else {
        0.0
    };
    Some(((peak as f64 + offset) * f64::from(sample_rate) / n as f64) as f32)
}

/// In-place iterative radix-2 FFT; `re.len()` is a power of two equal to `im.len()`.
fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    if n < 2 {
        return;
    }
    let bits = n.trailing_zeros();
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    // Twiddle factors e^(-2πik/n) for k < n/2; a stage of `size` uses every (n/size)-th.
    let twiddles: Vec<(f64, f64)> = (0..n / 2)
        .map(|k| (-TAU * k as f64 / n as f64).sin_cos())
        .collect();
    let mut size = 2;
    while size <= n {
        let half = size / 2;
        let stride = n / size;
        for start in (0..n).step_by(size) {
            for k in 0..half {
                let (sin, cos) = twiddles[k * stride];
                let (a, b) = (start + k, start + k + half);
                let tr = re[b] * cos - im[b] * sin;
                let ti = re[b] * sin + im[b] * cos;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        size *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_finds_a_bin_centred_tone() {
        let mut re: Vec<f64> = (0..64)
            .map(|i| (TAU * 5.0 * i as f64 / 64.0).cos())
            .collect();
        let mut im = vec![0.0; 64];
        fft(&mut re, &mut im);
        assert!((re[5] - 32.0).abs() < 1e-9 && (re[59] - 32.0).abs() < 1e-9);
        assert!(
            re.iter()
                .enumerate()
                .all(|(k, v)| k == 5 || k == 59 || v.abs() < 1e-9)
        );
    }
}
