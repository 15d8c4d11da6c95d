//! The voice changer: presets that disguise a voice (higher, lower, chipmunk, giant, robot, a
//! room with echo) and a free pitch, built as an [`AudioHook`] on the 48 kHz mono voice.
//!
//! It runs on the voice before music and effects are mixed in (the [`HookPoint::Encode`]
//! stage would shift the backing track too, which no KTV singer wants). Pitch presets use
//! signalsmith-stretch with a short block for a small delay ([`VoiceChanger::latency_ms`]);
//! the robot is a ring modulator (a tone at f comes out at f ± 50 Hz), the room a short
//! Schroeder reverb with a slap-back echo. [`VoicePreset::Off`] passes the voice bit-exact.
//!
//! [`HookPoint::Encode`]: super::hooks::HookPoint::Encode

use signalsmith_stretch::Stretch;

use super::hooks::{AudioHook, HookFormat, HookInfo};

/// A voice changer setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VoicePreset {
    /// The voice as it is.
    Off,
    /// Four semitones up.
    Higher,
    /// Four semitones down.
    Lower,
    /// Nine semitones up, formants up: small and quick.
    Chipmunk,
    /// Seven semitones down, formants down: big and slow.
    Giant,
    /// Metallic: ring-modulated at 50 Hz.
    Robot,
    /// A small room with a slap-back echo.
    Room,
    /// A free pitch shift in semitones, -12 to +12.
    Pitch(f32),
}

impl VoicePreset {
    /// The pitch ratio it applies to a tone (1.0 for the non-pitch presets).
    pub fn ratio(&self) -> f32 {
        2f32.powf(self.semitones() / 12.0)
    }

    fn semitones(&self) -> f32 {
        match *self {
            Self::Higher => 4.0,
            Self::Lower => -4.0,
            Self::Chipmunk => 9.0,
            Self::Giant => -7.0,
            Self::Pitch(s) => s.clamp(-12.0, 12.0),
            Self::Off | Self::Robot | Self::Room => 0.0,
        }
    }

    /// Parses `off`, `higher`, `lower`, `chipmunk`, `giant`, `robot`, `room` or a number of
    /// semitones (`+3`, `-5.5`).
    ///
    /// # Errors
    ///
    /// A message listing the presets.
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "off" | "none" => Self::Off,
            "higher" => Self::Higher,
            "lower" => Self::Lower,
            "chipmunk" => Self::Chipmunk,
            "giant" => Self::Giant,
            "robot" => Self::Robot,
            "room" | "echo" => Self::Room,
            other => match other.parse::<f32>() {
                Ok(s) if (-12.0..=12.0).contains(&s) => Self::Pitch(s),
                _ => {
                    return Err(format!(
                        "unknown voice {name:?}: off, higher, lower, chipmunk, giant, robot, room, or semitones -12 to +12"
                    ));
                }
            },
        })
    }
}

const RATE: u32 = 48_000;
const FRAME: usize = 960;
/// Stretch block and interval: about 43 ms and 11 ms at 48 kHz. Shorter blocks cut the delay but
/// come out sharp (a 1024 block moved 300 Hz four semitones up to 387 Hz instead of 378).
const BLOCK: usize = 2048;
const INTERVAL: usize = 512;

/// Changes a 48 kHz mono voice, 20 ms at a time.
pub struct VoiceChanger {
    preset: VoicePreset,
    stretch: Option<Stretch>,
    out: Vec<f32>,
    ring_phase: f32,
    room: Room,
}

impl VoiceChanger {
    /// A changer at `preset`.
    pub fn new(preset: VoicePreset) -> Self {
        let mut changer = Self {
            preset: VoicePreset::Off,
            stretch: None,
            out: vec![0.0; FRAME],
            ring_phase: 0.0,
            room: Room::new(),
        };
        changer.set_preset(preset);
        changer
    }

    /// Changes the preset live.
    pub fn set_preset(&mut self, preset: VoicePreset) {
        self.preset = preset;
        let semitones = preset.semitones();
        if semitones == 0.0 {
            self.stretch = None;
            return;
        }
        let stretch = self
            .stretch
            .get_or_insert_with(|| Stretch::new(1, BLOCK, INTERVAL));
        stretch.set_transpose_factor_semitones(semitones, None);
        let formant = match preset {
            VoicePreset::Chipmunk => 3.0,
            VoicePreset::Giant => -3.0,
            _ => 0.0,
        };
        stretch.set_formant_factor_semitones(formant, false);
    }

    /// The preset now.
    pub fn preset(&self) -> VoicePreset {
        self.preset
    }

    /// The delay it adds to the voice: the stretcher's for pitch presets, none otherwise.
    pub fn latency_ms(&self) -> f32 {
        self.stretch.as_ref().map_or(0.0, |s| {
            (s.input_latency() + s.output_latency()) as f32 * 1000.0 / RATE as f32
        })
    }

    /// Changes one 20 ms frame in place.
    pub fn process_frame(&mut self, frame: &mut [f32]) {
        match self.preset {
            VoicePreset::Off => {}
            VoicePreset::Robot => {
                let step = std::f32::consts::TAU * 50.0 / RATE as f32;
                for s in frame.iter_mut() {
                    *s *= self.ring_phase.sin();
                    self.ring_phase = (self.ring_phase + step) % std::f32::consts::TAU;
                }
            }
            VoicePreset::Room => self.room.process(frame),
            _ => {
                if let Some(stretch) = &mut self.stretch {
                    self.out.resize(frame.len(), 0.0);
                    stretch.process(&*frame, &mut self.out[..]);
                    frame.copy_from_slice(&self.out);
                }
            }
        }
    }
}

impl AudioHook for VoiceChanger {
    fn format(&self) -> HookFormat {
        HookFormat::VOICE
    }

    fn process(&mut self, frame: &mut [f32], _info: &HookInfo<'_>) {
        self.process_frame(frame);
    }
}

/// A small room: four parallel damped combs and two allpasses (Schroeder), plus a slap-back
/// echo at 120 ms, mixed under the dry voice.
struct Room {
    combs: [Delay; 4],
    allpasses: [Delay; 2],
    echo: Delay,
    damp: [f32; 4],
}

struct Delay {
    buf: Vec<f32>,
    at: usize,
}

impl Delay {
    fn new(len: usize) -> Self {
        Self {
            buf: vec![0.0; len],
            at: 0,
        }
    }

    fn read(&self) -> f32 {
        self.buf[self.at]
    }

    fn write(&mut self, x: f32) {
        self.buf[self.at] = x;
        self.at = (self.at + 1) % self.buf.len();
    }
}

impl Room {
    fn new() -> Self {
        // Mutually prime lengths (in samples at 48 kHz) so the echoes do not pile up.
        Self {
            combs: [1557, 1617, 1491, 1422].map(|n| Delay::new(n * 48 / 44)),
            allpasses: [225, 556].map(|n| Delay::new(n * 48 / 44)),
            echo: Delay::new(RATE as usize * 120 / 1000),
            damp: [0.0; 4],
        }
    }

    fn process(&mut self, frame: &mut [f32]) {
        const FEEDBACK: f32 = 0.78;
        const DAMPING: f32 = 0.3;
        for s in frame.iter_mut() {
            let dry = *s;
            let mut wet = 0.0;
            for (comb, damp) in self.combs.iter_mut().zip(&mut self.damp) {
                let out = comb.read();
                *damp = out * (1.0 - DAMPING) + *damp * DAMPING;
                comb.write(dry * 0.25 + *damp * FEEDBACK);
                wet += out;
            }
            for allpass in &mut self.allpasses {
                let delayed = allpass.read();
                let out = delayed - wet * 0.5;
                allpass.write(wet + delayed * 0.5);
                wet = out;
            }
            let echo = self.echo.read();
            self.echo.write(dry + echo * 0.35);
            *s = dry * 0.8 + wet * 0.3 + echo * 0.3;
        }
    }
}
