//! Sound effects: short clips preloaded by id (decoded once into memory at 48 kHz stereo) and
//! played several at once, each with its own volume, loop count, pitch (a playback-rate
//! change, as effect players do), stereo pan, and whether the channel hears it or only this
//! player. Mixing reads memory only; [`LocalMix`](super::LocalMix) calls it on its clock.

use std::collections::HashMap;
use std::sync::Arc;

use super::music::{self, BLOCK_LEN, CHANNELS, Location, Loops, MusicError};

/// The longest clip an effect may be.
pub const MAX_EFFECT_SECS: u32 = 30;
/// Clips held at once.
pub const MAX_EFFECTS: usize = 64;
/// Effects sounding at once; a new one beyond it replaces the oldest.
pub const MAX_PLAYING: usize = 16;
/// Pitches (playback rates) accepted.
pub const EFFECT_PITCH: std::ops::RangeInclusive<f32> = 0.5..=2.0;

/// How to play an effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectOptions {
    /// Loudness, 0.0 to 1.0.
    pub volume: f32,
    /// How many times.
    pub loops: Loops,
    /// Playback rate ([`EFFECT_PITCH`]): 2.0 is an octave up and twice as fast.
    pub pitch: f32,
    /// -1.0 hard left to 1.0 hard right.
    pub pan: f32,
    /// The channel hears it too (else only this player).
    pub publish: bool,
}

impl Default for EffectOptions {
    fn default() -> Self {
        Self {
            volume: 1.0,
            loops: Loops::Count(1),
            pitch: 1.0,
            pan: 0.0,
            publish: true,
        }
    }
}

impl EffectOptions {
    fn validate(&self) -> Result<(), MusicError> {
        music::check_volume("effect volume", self.volume)?;
        if !EFFECT_PITCH.contains(&self.pitch) {
            return Err(MusicError::InvalidArgument(format!(
                "effect pitch {} is outside 0.5 to 2.0",
                self.pitch
            )));
        }
        if !(-1.0..=1.0).contains(&self.pan) {
            return Err(MusicError::InvalidArgument(format!(
                "pan {} is outside -1.0 to 1.0",
                self.pan
            )));
        }
        if self.loops == Loops::Count(0) {
            return Err(MusicError::InvalidArgument(
                "loops must be at least 1 (or forever)".into(),
            ));
        }
        Ok(())
    }
}

/// A sounding effect.
struct Voice {
    id: u32,
    clip: Arc<[f32]>,
    options: EffectOptions,
    /// Read position in frames (fractional with pitch).
    at: f64,
    loops_done: u32,
    /// Left and right gains from the pan (constant power).
    gains: (f32, f32),
}

/// Preloaded clips and the effects sounding now.
#[derive(Default)]
pub struct Effects {
    clips: HashMap<u32, Arc<[f32]>>,
    playing: Vec<Voice>,
}

impl Effects {
    /// Decodes `location` and keeps it as effect `id` (replacing a clip with that id). Runs on
    /// the caller's thread: preload before the moment it is needed.
    ///
    /// # Errors
    ///
    /// As [`music::decode_all`]; [`MusicError::InvalidArgument`] past [`MAX_EFFECTS`] clips.
    pub fn preload(&mut self, id: u32, location: &str) -> Result<(), MusicError> {
        if !self.clips.contains_key(&id) && self.clips.len() >= MAX_EFFECTS {
            return Err(MusicError::InvalidArgument(format!(
                "at most {MAX_EFFECTS} effects are loaded at once; unload one first"
            )));
        }
        let clip = music::decode_all(&Location::parse(location), MAX_EFFECT_SECS)?;
        self.insert(id, clip.into());
        Ok(())
    }

    /// Keeps already decoded 48 kHz stereo samples as effect `id`.
    pub fn insert(&mut self, id: u32, clip: Arc<[f32]>) {
        self.clips.insert(id, clip);
    }

    /// Forgets clip `id` and stops it.
    pub fn unload(&mut self, id: u32) {
        self.clips.remove(&id);
        self.stop(id);
    }

    /// Clips loaded.
    pub fn loaded(&self) -> usize {
        self.clips.len()
    }

    /// Whether clip `id` is loaded.
    pub fn is_loaded(&self, id: u32) -> bool {
        self.clips.contains_key(&id)
    }

    /// Starts effect `id` (again, on top of any sounding copy).
    ///
    /// # Errors
    ///
    /// [`MusicError::InvalidArgument`] for an id that is not loaded or options out of range.
    pub fn play(&mut self, id: u32, options: EffectOptions) -> Result<(), MusicError> {
        options.validate()?;
        let clip = self
            .clips
            .get(&id)
            .ok_or_else(|| MusicError::InvalidArgument(format!("no effect {id} is loaded")))?
            .clone();
        if self.playing.len() >= MAX_PLAYING {
            self.playing.remove(0);
        }
        let angle = (options.pan + 1.0) * std::f32::consts::FRAC_PI_4;
        self.playing.push(Voice {
            id,
            clip,
            options,
            at: 0.0,
            loops_done: 0,
            gains: (
                angle.cos() * std::f32::consts::SQRT_2,
                angle.sin() * std::f32::consts::SQRT_2,
            ),
        });
        Ok(())
    }

    /// Stops every sounding copy of `id`.
    pub fn stop(&mut self, id: u32) {
        self.playing.retain(|v| v.id != id);
    }

    /// Stops everything.
    pub fn stop_all(&mut self) {
        self.playing.clear();
    }

    /// Whether any effect sounds.
    pub fn is_playing(&self) -> bool {
        !self.playing.is_empty()
    }

    /// Adds the next 20 ms of every sounding effect into `publish` (the published ones) and
    /// `local` (all of them); returns the ids that finished.
    pub fn mix(
        &mut self,
        publish: &mut [f32; BLOCK_LEN],
        local: &mut [f32; BLOCK_LEN],
        finished: &mut Vec<u32>,
    ) {
        for voice in &mut self.playing {
            let frames = voice.clip.len() / CHANNELS;
            if frames == 0 {
                voice.loops_done = u32::MAX;
                continue;
            }
            let rate = f64::from(voice.options.pitch);
            for i in 0..BLOCK_LEN / CHANNELS {
                if voice.at >= frames as f64 {
                    voice.loops_done += 1;
                    let again = match voice.options.loops {
                        Loops::Forever => true,
                        Loops::Count(n) => voice.loops_done < n,
                    };
                    if !again {
                        break;
                    }
                    voice.at -= frames as f64;
                }
                // Linear interpolation between neighbouring frames.
                let index = voice.at as usize;
                let frac = (voice.at - index as f64) as f32;
                let next = (index + 1).min(frames - 1);
                for c in 0..CHANNELS {
                    let a = voice.clip[index * CHANNELS + c];
                    let b = voice.clip[next * CHANNELS + c];
                    let gain = if c == 0 { voice.gains.0 } else { voice.gains.1 };
                    let sample = (a + (b - a) * frac) * voice.options.volume * gain;
                    local[i * CHANNELS + c] += sample;
                    if voice.options.publish {
                        publish[i * CHANNELS + c] += sample;
                    }
                }
                voice.at += rate;
            }
        }
        self.playing.retain(|v| {
            let done = match v.options.loops {
                Loops::Forever => v.loops_done == u32::MAX,
                Loops::Count(n) => v.loops_done >= n,
            };
            if done {
                finished.push(v.id);
            }
            !done
        });
    }
}
