//! How loud a frame is, and whether someone is speaking.

/// The level reported for digital silence.
pub const SILENCE_DBFS: f32 = -100.0;

/// The loudness of one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    /// RMS in dB relative to full scale: 0 for a full-scale square wave, about -3 for a
    /// full-scale sine, [`SILENCE_DBFS`] or above.
    pub dbfs: f32,
    /// RMS as a linear amplitude, `0.0..=1.0`.
    pub linear: f32,
}

impl Level {
    /// Measures interleaved `samples`; NaN or infinite samples count as silence.
    pub fn measure(samples: &[f32]) -> Level {
        if samples.is_empty() {
            return Level::SILENCE;
        }
        let sum: f64 = samples
            .iter()
            .filter(|s| s.is_finite())
            .map(|&s| f64::from(s) * f64::from(s))
            .sum();
        let rms = (sum / samples.len() as f64).sqrt();
        let dbfs = (20.0 * rms.log10()).max(f64::from(SILENCE_DBFS)) as f32;
        Level {
            dbfs,
            linear: rms.min(1.0) as f32,
        }
    }

    /// Digital silence.
    pub const SILENCE: Level = Level {
        dbfs: SILENCE_DBFS,
        linear: 0.0,
    };

    /// A 0..=1 value for a level meter: -60 dBFS and below is 0, 0 dBFS is 1, linear in dB
    /// between (so quiet speech still moves the meter).
    pub fn meter(&self) -> f32 {
        ((self.dbfs + 60.0) / 60.0).clamp(0.0, 1.0)
    }
}

/// Thresholds of a [`SpeakingDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hysteresis {
    /// A frame above this level counts as voice.
    pub threshold_dbfs: f32,
    /// Consecutive voice frames before speaking starts (2 frames: 40 ms).
    pub start_frames: u32,
    /// Consecutive quiet frames before speaking stops (15 frames: 300 ms), so the gaps
    /// between words do not flicker the indicator.
    pub stop_frames: u32,
}

impl Default for Hysteresis {
    fn default() -> Self {
        Hysteresis {
            threshold_dbfs: -40.0,
            start_frames: 2,
            stop_frames: 15,
        }
    }
}

/// Decides, frame by frame, whether a stream is someone speaking.
///
/// Deterministic: the answer depends only on the levels fed to [`update`](Self::update).
#[derive(Debug, Clone)]
pub struct SpeakingDetector {
    config: Hysteresis,
    speaking: bool,
    /// Consecutive frames on the other side of the threshold from the current state.
    run: u32,
}

impl Default for SpeakingDetector {
    fn default() -> Self {
        Self::new(Hysteresis::default())
    }
}

impl SpeakingDetector {
    /// A detector that starts not speaking.
    pub fn new(config: Hysteresis) -> SpeakingDetector {
        SpeakingDetector {
            config,
            speaking: false,
            run: 0,
        }
    }

    /// The thresholds.
    pub fn config(&self) -> Hysteresis {
        self.config
    }

    /// Feeds the level of the next 20 ms frame; returns whether the stream is speaking now.
    pub fn update(&mut self, level: Level) -> bool {
        let voice = level.dbfs > self.config.threshold_dbfs;
        if voice == self.speaking {
            self.run = 0;
        } else {
            self.run += 1;
            let needed = if self.speaking {
                self.config.stop_frames
            } else {
                self.config.start_frames
            };
            if self.run >= needed {
                self.speaking = voice;
                self.run = 0;
            }
        }
        self.speaking
    }

    /// Whether the stream is speaking.
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }
}
