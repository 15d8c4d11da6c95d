//! What frequencies a signal holds: the strongest one ([`dominant_frequency`]) and the few
//! strongest peaks ([`peaks`]), from a Hann-windowed real FFT (realfft) with Gaussian
//! interpolation between bins. Tests and the CLI bot's report use it to check what arrived.

use std::f64::consts::TAU;

use realfft::RealFftPlanner;

/// Below this RMS a signal counts as silence (-60 dBFS).
const SILENCE_RMS: f64 = 1e-3;

/// Smallest transform; short signals are zero-padded to it for finer interpolation.
const MIN_FFT: usize = 8192;

/// A magnitude spectrum of mono samples.
struct Spectrum {
    magnitudes: Vec<f64>,
    /// Hz per bin.
    bin_hz: f64,
    /// The first bin outside the window's main lobe around DC.
    first: usize,
}

impl Spectrum {
    /// `None` for silence, NaN samples, or less than 10 ms.
    fn of(samples: &[f32], sample_rate: u32) -> Option<Self> {
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
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
        let mut input = fft.make_input_vec();
        for (i, &s) in samples.iter().enumerate() {
            let hann = 0.5 - 0.5 * (TAU * i as f64 / (len - 1) as f64).cos();
            input[i] = (f64::from(s) - mean) * hann;
        }
        let mut output = fft.make_output_vec();
        fft.process(&mut input, &mut output).ok()?;
        Some(Self {
            magnitudes: output.iter().map(|c| c.norm()).collect(),
            bin_hz: f64::from(sample_rate) / n as f64,
            // Two bins of the unpadded signal each side of DC.
            first: 1 + 2 * n / len,
        })
    }

    /// The interpolated frequency of the peak at bin `k`.
    fn frequency(&self, k: usize) -> f32 {
        let m = |i: usize| self.magnitudes[i].max(f64::MIN_POSITIVE).ln();
        let offset = if k > self.first && k + 1 < self.magnitudes.len() {
            let (a, b, c) = (m(k - 1), m(k), m(k + 1));
            let denominator = a - 2.0 * b + c;
            if denominator.abs() > f64::EPSILON {
                (0.5 * (a - c) / denominator).clamp(-0.5, 0.5)
            } else {
                0.0
            }
        } else {
            0.0
        };
        ((k as f64 + offset) * self.bin_hz) as f32
    }
}

/// The frequency with the most energy in mono `samples` at `sample_rate`, or `None` for
/// silence (below -60 dBFS), a signal shorter than 10 ms, or NaN samples. For a pure tone over
/// 100 ms or more it is well within 1%. Pass interleaved audio through
/// [`to_mono`](super::format::to_mono) first.
pub fn dominant_frequency(samples: &[f32], sample_rate: u32) -> Option<f32> {
    let spectrum = Spectrum::of(samples, sample_rate)?;
    let m = &spectrum.magnitudes;
    let peak = (spectrum.first..m.len()).max_by(|&a, &b| m[a].total_cmp(&m[b]))?;
    Some(spectrum.frequency(peak))
}

/// Up to `count` spectral peaks of mono `samples`, strongest first: local maxima at least
/// 1/30 of the strongest in magnitude (-30 dB) and more than 5% apart in frequency. Empty for
/// silence.
pub fn peaks(samples: &[f32], sample_rate: u32, count: usize) -> Vec<f32> {
    let Some(spectrum) = Spectrum::of(samples, sample_rate) else {
        return Vec::new();
    };
    let m = &spectrum.magnitudes;
    let top = m[spectrum.first..].iter().copied().fold(0.0, f64::max);
    let mut candidates: Vec<usize> = (spectrum.first.max(1)..m.len() - 1)
        .filter(|&k| m[k] >= m[k - 1] && m[k] > m[k + 1] && m[k] >= top / 30.0)
        .collect();
    candidates.sort_by(|&a, &b| m[b].total_cmp(&m[a]));
    let mut found: Vec<f32> = Vec::new();
    for k in candidates {
        let f = spectrum.frequency(k);
        if found.iter().all(|&g| (f - g).abs() > 0.05 * g.max(f)) {
            found.push(f);
            if found.len() == count {
                break;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, amplitude: f32) -> impl Fn(usize) -> f32 {
        move |i| amplitude * (std::f32::consts::TAU * hz * i as f32 / 48_000.0).sin()
    }

    #[test]
    fn finds_the_tone_and_both_peaks_of_a_chord() {
        let (a, b) = (tone(440.0, 0.4), tone(660.0, 0.2));
        let chord: Vec<f32> = (0..9600).map(|i| a(i) + b(i)).collect();
        let f = dominant_frequency(&chord, 48_000).expect("a chord is not silence");
        assert!((f - 440.0).abs() < 2.0, "{f}");
        let p = peaks(&chord, 48_000, 4);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            (p[0] - 440.0).abs() < 2.0 && (p[1] - 660.0).abs() < 3.0,
            "{p:?}"
        );
        assert!(peaks(&[0.0; 9600], 48_000, 3).is_empty());
    }
}
