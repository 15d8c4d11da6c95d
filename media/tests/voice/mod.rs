//! Synthetic voices and a synthetic room for the voice processing test and its cost example:
//! a seeded speech-like talker, a room that feeds the playout back into the microphone, and
//! the measures (power, the level of one tone, the delay between two signals).
//!
//! Shared by `tests/voice_processing.rs` and `examples/processing_cost.rs`, so the figures the
//! example prints come from the same scenario the test asserts on.
#![allow(dead_code)]

use std::f64::consts::TAU;

use livestage_media::audio::processing::{FarEnd, Settings, VoiceProcessor};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Samples per second.
pub const RATE: usize = 48_000;
/// Samples in one 20 ms frame.
pub const FRAME: usize = 960;

/// Harmonics of a voiced syllable.
const HARMONICS: usize = 8;

/// A speech-like signal: voiced syllables (a gliding pitch of 100-250 Hz with 8 harmonics
/// falling off as 1/k, plus breath noise) of 150-350 ms under a raised-sine envelope, with
/// 40-160 ms pauses between them. Deterministic for a seed.
#[derive(Debug, Clone)]
pub struct Talker {
    rng: SmallRng,
    peak: f32,
    /// Samples of the current syllable, and how far into it we are.
    syllable: usize,
    position: usize,
    /// Samples of silence left before the next syllable.
    pause: usize,
    f0_start: f64,
    f0_end: f64,
    phases: [f64; HARMONICS],
}

impl Talker {
    /// A talker whose syllables peak near `peak` (full scale is 1.0). Pitches whose harmonics
    /// would come within 25 Hz of `avoid_hz` are never used, so that a near-end tone there can be
    /// measured through double talk.
    pub fn new(seed: u64, peak: f32) -> Talker {
        Talker {
            rng: SmallRng::seed_from_u64(seed),
            peak,
            syllable: 0,
            position: 0,
            pause: 0,
            f0_start: 0.0,
            f0_end: 0.0,
            phases: [0.0; HARMONICS],
        }
    }

    /// The next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [f32]) {
        for sample in out {
            *sample = self.next_sample();
        }
    }

    fn next_sample(&mut self) -> f32 {
        if self.pause > 0 {
            self.pause -= 1;
            return 0.0;
        }
        if self.position >= self.syllable {
            self.start_syllable();
            return 0.0;
        }
        let progress = self.position as f64 / self.syllable as f64;
        let f0 = self.f0_start + (self.f0_end - self.f0_start) * progress;
        let mut voiced = 0.0;
        for (k, phase) in self.phases.iter_mut().enumerate() {
            let harmonic = (k + 1) as f64;
            *phase = (*phase + TAU * f0 * harmonic / RATE as f64) % TAU;
            voiced += phase.sin() / harmonic;
        }
        // The 1/k series up to 8 sums to about 2.7; keep voiced peaks near 1.
        let breath: f64 = self.rng.gen_range(-1.0..1.0);
        let envelope = (std::f64::consts::PI * progress).sin();
        self.position += 1;
        (f64::from(self.peak) * envelope * (0.4 * voiced + 0.15 * breath)) as f32
    }

    fn start_syllable(&mut self) {
        self.syllable = self.rng.gen_range(150..=350) * RATE / 1000;
        self.pause = self.rng.gen_range(40..=160) * RATE / 1000;
        self.position = 0;
        loop {
            let start: f64 = self.rng.gen_range(100.0..250.0);
            let end = start * self.rng.gen_range(0.9..1.15);
            let near_440 = (1..=HARMONICS).any(|k| {
                let (low, high) = (start.min(end) * k as f64, start.max(end) * k as f64);
                low < 440.0 + 25.0 && high > 440.0 - 25.0
            });
            if !near_440 {
                (self.f0_start, self.f0_end) = (start, end);
                break;
            }
        }
    }
}

/// A room: the playout comes back into the microphone `delay_ms` later, `gain` quieter, through
/// a 10 ms impulse response (a direct path, then a seeded noise tail decaying with a 2.5 ms
/// time constant).
#[derive(Debug, Clone)]
pub struct Room {
    delay: usize,
    response: Vec<f32>,
    /// Every far-end sample played so far.
    played: Vec<f32>,
}

impl Room {
    /// A room with this delay (ms), gain (linear, applied to the whole response) and seed.
    pub fn new(delay_ms: usize, gain: f32, seed: u64) -> Room {
        let mut rng = SmallRng::seed_from_u64(seed);
        let len = RATE / 100;
        let mut response: Vec<f32> = (0..len)
            .map(|n| {
                let tail = (-(n as f32) / (RATE as f32 * 0.0025)).exp();
                if n == 0 {
                    1.0
                } else {
                    0.5 * tail * rng.gen_range(-1.0..1.0)
                }
            })
            .collect();
        let energy = response.iter().map(|h| h * h).sum::<f32>().sqrt();
        for h in &mut response {
            *h *= gain / energy;
        }
        Room {
            delay: delay_ms * RATE / 1000,
            response,
            played: Vec::new(),
        }
    }

    /// Plays `far` (the next samples of the playout) and writes the echo the microphone picks up
    /// meanwhile into `echo`.
    pub fn play(&mut self, far: &[f32], echo: &mut [f32]) {
        let start = self.played.len();
        self.played.extend_from_slice(far);
        for (i, out) in echo.iter_mut().enumerate() {
            let now = start + i;
            *out = self
                .response
                .iter()
                .enumerate()
                .filter_map(|(k, h)| {
                    let t = now.checked_sub(self.delay + k)?;
                    Some(h * self.played[t])
                })
                .sum();
        }
    }
}

/// Mean square of `x`.
pub fn power(x: &[f32]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len().max(1) as f64
}

/// `10 log10(ratio)`.
pub fn db(ratio: f64) -> f64 {
    10.0 * ratio.max(1e-20).log10()
}

/// The power of the `freq` component of `x`: its DFT bin, exact when `x` holds a whole number of
/// cycles (0.5 s of 440 Hz or 1 kHz does).
pub fn tone_power(x: &[f32], freq: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &s) in x.iter().enumerate() {
        let phase = TAU * freq * n as f64 / RATE as f64;
        re += f64::from(s) * phase.cos();
        im += f64::from(s) * phase.sin();
    }
    let n = x.len() as f64;
    // A sine of amplitude A gives |X| = A n / 2; its power is A^2 / 2.
    2.0 * (re * re + im * im) / (n * n)
}

/// The power of a tone and its keying sidebands (the DFT bins within 10 Hz of `freq`) over the
/// power of everything else, in dB. `x` must be a whole number of seconds (1 Hz bins).
pub fn snr_db(x: &[f32], freq: f64) -> f64 {
    assert_eq!(
        x.len() % RATE,
        0,
        "whole seconds, so that the bins are 1 Hz apart"
    );
    let tone: f64 = (-10..=10)
        .map(|offset| tone_power(x, freq + f64::from(offset)))
        .sum();
    db(tone / (power(x) - tone).max(1e-20))
}

/// The lag (0..=`max_lag` samples) at which `output` best matches `input`: the peak of their
/// cross-correlation.
pub fn delay(input: &[f32], output: &[f32], max_lag: usize) -> usize {
    let len = input.len().min(output.len()) - max_lag;
    (0..=max_lag)
        .max_by(|&a, &b| {
            let corr = |lag: usize| -> f64 {
                (0..len)
                    .map(|n| f64::from(input[n]) * f64::from(output[n + lag]))
                    .sum()
            };
            corr(a).total_cmp(&corr(b))
        })
        .unwrap_or(0)
}

/// A voice processing chain under test: the playout's end and the microphone's end.
pub trait Chain {
    /// The playout plays `frame` (20 ms).
    fn play(&mut self, frame: &[f32]);
    /// Processes one 20 ms microphone frame in place.
    fn process(&mut self, frame: &mut [f32]);
    /// The chain's own ERLE estimate, dB, if it has one.
    fn erle_estimate(&self) -> Option<f64>;
}

/// Livestage's chain: a [`VoiceProcessor`] and the [`FarEnd`] its playout writes to.
#[derive(Debug)]
pub struct Livestage {
    /// The capture side.
    pub processor: VoiceProcessor,
    /// The playout side.
    pub far_end: FarEnd,
}

impl Livestage {
    /// A fresh processor with `settings`.
    pub fn new(settings: Settings) -> Livestage {
        let (processor, far_end) =
            VoiceProcessor::new(settings).expect("48 kHz mono processing builds");
        Livestage { processor, far_end }
    }
}

impl Chain for Livestage {
    fn play(&mut self, frame: &[f32]) {
        self.far_end.push(frame);
    }

    fn process(&mut self, frame: &mut [f32]) {
        self.processor.process(frame);
    }

    fn erle_estimate(&self) -> Option<f64> {
        self.processor.stats().echo_return_loss_enhancement_db
    }
}

/// The echo scenario: [`FAR_ONLY_S`] of far-end speech played into a [`Room`] (60 ms, -10 dB),
/// then [`DOUBLE_TALK_S`] with a 440 Hz near-end tone added to the microphone, then
/// [`NEAR_ONLY_S`] of the tone alone.
pub const FAR_ONLY_S: usize = 8;
/// Seconds of double talk in the echo scenario.
pub const DOUBLE_TALK_S: usize = 2;
/// Seconds of near end alone in the echo scenario.
pub const NEAR_ONLY_S: usize = 2;
/// The near-end tone: 440 Hz at amplitude 0.1 (-23 dBFS).
pub const NEAR_HZ: f64 = 440.0;
const NEAR_AMPLITUDE: f64 = 0.1;
/// Length of the windows ERLE is reported over.
pub const WINDOW_MS: usize = 500;

/// ERLE over one window of far-end-only audio.
#[derive(Debug, Clone, Copy)]
pub struct ErleWindow {
    /// When the window starts, seconds from the first far-end frame.
    pub start_s: f64,
    /// The echo in the microphone, dBFS.
    pub echo_dbfs: f64,
    /// What is left of it after processing, dBFS.
    pub residual_dbfs: f64,
    /// `echo - residual`: 10 log10(echo power in / residual power out).
    pub erle_db: f64,
    /// The processor's own ERLE estimate of its linear filter at the window's end.
    pub estimate_db: Option<f64>,
}

/// What the echo scenario measured.
#[derive(Debug, Clone)]
pub struct EchoReport {
    /// ERLE per [`WINDOW_MS`] over the far-end-only part.
    pub windows: Vec<ErleWindow>,
    /// The near-end tone's level as it goes into the microphone, dBFS (of the tone's bin).
    pub near_in_dbfs: f64,
    /// Its level out of the processor over the last second of double talk.
    pub near_double_talk_dbfs: f64,
    /// Its level out of the processor over the last second of near end alone.
    pub near_alone_dbfs: f64,
}

/// Runs the echo scenario through `chain`.
pub fn echo_scenario(chain: &mut impl Chain) -> EchoReport {
    let mut talker = Talker::new(7, 0.5);
    let mut room = Room::new(60, 0.316, 11);
    let frames_per_window = WINDOW_MS * RATE / 1000 / FRAME;
    let total = (FAR_ONLY_S + DOUBLE_TALK_S + NEAR_ONLY_S) * RATE / FRAME;
    let near_from = FAR_ONLY_S * RATE / FRAME;
    let far_until = (FAR_ONLY_S + DOUBLE_TALK_S) * RATE / FRAME;

    let (mut far, mut echo, mut mic) = ([0.0; FRAME], [0.0; FRAME], [0.0; FRAME]);
    let (mut echo_window, mut out_window) = (Vec::new(), Vec::new());
    let (mut near_in, mut out) = (Vec::new(), Vec::new());
    let mut windows = Vec::new();
    for i in 0..total {
        if i < far_until {
            talker.fill(&mut far);
        } else {
            far = [0.0; FRAME];
        }
        chain.play(&far);
        room.play(&far, &mut echo);
        let mut near = [0.0; FRAME];
        if i >= near_from {
            for (n, s) in near.iter_mut().enumerate() {
                let t = (i * FRAME + n) as f64 / RATE as f64;
                *s = (NEAR_AMPLITUDE * (TAU * NEAR_HZ * t).sin()) as f32;
            }
        }
        for n in 0..FRAME {
            mic[n] = echo[n] + near[n];
        }
        chain.process(&mut mic);
        near_in.extend_from_slice(&near);
        out.extend_from_slice(&mic);

        if i < near_from {
            echo_window.extend_from_slice(&echo);
            out_window.extend_from_slice(&mic);
            if (i + 1) % frames_per_window == 0 {
                let (echo_dbfs, residual_dbfs) = (db(power(&echo_window)), db(power(&out_window)));
                windows.push(ErleWindow {
                    start_s: (i + 1 - frames_per_window) as f64 * FRAME as f64 / RATE as f64,
                    echo_dbfs,
                    residual_dbfs,
                    erle_db: echo_dbfs - residual_dbfs,
                    estimate_db: chain.erle_estimate(),
                });
                echo_window.clear();
                out_window.clear();
            }
        }
    }
    let second = |end_s: usize| (end_s - 1) * RATE..end_s * RATE;
    let double_talk = second(FAR_ONLY_S + DOUBLE_TALK_S);
    let alone = second(FAR_ONLY_S + DOUBLE_TALK_S + NEAR_ONLY_S);
    EchoReport {
        windows,
        near_in_dbfs: db(tone_power(&near_in[alone.clone()], NEAR_HZ)),
        near_double_talk_dbfs: db(tone_power(&out[double_talk], NEAR_HZ)),
        near_alone_dbfs: db(tone_power(&out[alone], NEAR_HZ)),
    }
}

/// The noise scenario: a 1 kHz tone (amplitude 0.1, -23 dBFS while on) keyed like syllables,
/// 250 ms on (a raised-sine envelope) and 250 ms off, in continuous white noise of RMS 0.05
/// (-26 dBFS), for `seconds`. Seeded. The tone is keyed because WebRTC's noise suppressor learns
/// any stationary sound as noise, a steady tone included.
pub fn tone_in_noise(seconds: usize) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(3);
    // Uniform noise in -a..a has RMS a / sqrt(3).
    let a = 0.05 * 3f64.sqrt();
    (0..seconds * RATE)
        .map(|n| {
            let t = n as f64 / RATE as f64;
            let on = (t % 0.5) / 0.25;
            let key = if on < 1.0 {
                (std::f64::consts::PI * on).sin()
            } else {
                0.0
            };
            (key * 0.1 * (TAU * TONE_HZ * t).sin() + rng.gen_range(-a..a)) as f32
        })
        .collect()
}

/// The tone of the noise scenario.
pub const TONE_HZ: f64 = 1000.0;

/// The delay `chain` adds to the microphone, in samples: the cross-correlation peak (up to
/// 20 ms) between its input and its output over 2 s of white-noise bursts (100 ms on, 100 ms
/// off, RMS 0.1), after 1 s to settle, with a silent playout. Noise correlates only with
/// itself at the true lag, where a voiced signal would also match a pitch period later.
pub fn latency(chain: &mut impl Chain) -> usize {
    let mut rng = SmallRng::seed_from_u64(21);
    let a = 0.1 * 3f32.sqrt();
    let input: Vec<f32> = (0..3 * RATE)
        .map(|n| {
            if n % (RATE / 5) < RATE / 10 {
                rng.gen_range(-a..a)
            } else {
                0.0
            }
        })
        .collect();
    let mut output = input.clone();
    for frame in output.chunks_exact_mut(FRAME) {
        chain.play(&[0.0; FRAME]);
        chain.process(frame);
    }
    delay(&input[RATE..], &output[RATE..], FRAME)
}

/// The time `chain` takes for each 20 ms microphone frame over `seconds` of the echo scenario's
/// room with a near-end talker added (double talk throughout), in nanoseconds; the playout's
/// push is not timed.
pub fn frame_times(chain: &mut impl Chain, seconds: usize) -> hdrhistogram::Histogram<u64> {
    let mut histogram =
        hdrhistogram::Histogram::<u64>::new(3).expect("3 significant figures is valid");
    let (mut far_talker, mut near_talker) = (Talker::new(7, 0.5), Talker::new(8, 0.3));
    let mut room = Room::new(60, 0.316, 11);
    let (mut far, mut echo, mut mic) = ([0.0; FRAME], [0.0; FRAME], [0.0; FRAME]);
    for _ in 0..seconds * RATE / FRAME {
        far_talker.fill(&mut far);
        chain.play(&far);
        room.play(&far, &mut echo);
        near_talker.fill(&mut mic);
        for (m, e) in mic.iter_mut().zip(&echo) {
            *m += e;
        }
        let start = std::time::Instant::now();
        chain.process(&mut mic);
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        histogram
            .record(ns)
            .expect("a frame takes less than the histogram's range");
    }
    histogram
}
