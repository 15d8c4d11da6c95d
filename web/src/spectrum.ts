/** Dominant frequency of mono PCM: a Hann-windowed FFT (fft.js) with parabolic peak refinement. */
import FFT from 'fft.js';

/**
 * The strongest frequency in `samples` (above 20 Hz), in Hz, or null for silence or too few
 * samples. Uses the last power-of-two samples (up to 65536).
 */
export function dominantFrequency(samples: Float32Array, sampleRate: number): number | null {
  let n = 1;
  while (n * 2 <= samples.length && n < 65536) n *= 2;
  if (n < 256) return null;
  const offset = samples.length - n;
  const windowed = new Array<number>(n);
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const s = samples[offset + i];
    energy += s * s;
    windowed[i] = s * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  }
  if (energy / n < 1e-8) return null;
  const fft = new FFT(n);
  const spectrum = fft.createComplexArray();
  fft.realTransform(spectrum, windowed);
  const first = Math.max(1, Math.ceil((20 * n) / sampleRate));
  const mag = new Float64Array(n / 2);
  for (let k = 0; k < n / 2; k++) mag[k] = Math.hypot(spectrum[2 * k], spectrum[2 * k + 1]);
  let peak = first;
  for (let k = first; k < n / 2; k++) if (mag[k] > mag[peak]) peak = k;
  let shift = 0;
  if (peak > 0 && peak < n / 2 - 1) {
    const [a, b, c] = [mag[peak - 1], mag[peak], mag[peak + 1]];
    const den = a - 2 * b + c;
    if (den !== 0) shift = (0.5 * (a - c)) / den;
  }
  return ((peak + shift) * sampleRate) / n;
}
