//! Mixing the frames of several remote users into one output frame.

use super::error::{Error, Result};
use super::format::Format;

/// Per-user volumes accepted by [`Mixer::mix`]: silent to twice as loud.
pub const VOLUMES: std::ops::RangeInclusive<f32> = 0.0..=2.0;

/// Where the soft clip starts bending: samples within `-KNEE..=KNEE` pass unchanged.
pub const KNEE: f32 = 0.8;

/// Sums 20 ms frames with per-user volume and soft-clips the sum into `-1.0..=1.0`.
///
/// The output buffer is allocated once, so mixing does not allocate.
#[derive(Debug, Clone)]
pub struct Mixer {
    format: Format,
    out: Vec<f32>,
}

impl Mixer {
    /// A mixer for frames of `format`.
    pub fn new(format: Format) -> Result<Mixer> {
        format.validate()?;
        Ok(Mixer {
            format,
            out: vec![0.0; format.frame_len()],
        })
    }

    /// The format of the frames.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Mixes `(frame, volume)` pairs (each frame one 20 ms interleaved frame, volume in
    /// [`VOLUMES`]) into one frame. No input gives silence.
    ///
    /// The sum passes unchanged within `-KNEE..=KNEE` and is bent smoothly towards ±1 above
    /// it, so loud sums never exceed full scale and quiet ones are not coloured. A wrong
    /// frame length or volume is an `Err` naming it.
    pub fn mix<'a>(
        &mut self,
        inputs: impl IntoIterator<Item = (&'a [f32], f32)>,
    ) -> Result<&[f32]> {
        self.out.fill(0.0);
        for (frame, volume) in inputs {
            if !VOLUMES.contains(&volume) {
                return Err(Error::Volume(volume));
            }
            self.format.check_frame(frame)?;
            for (out, &sample) in self.out.iter_mut().zip(frame) {
                // A NaN or infinite input sample counts as silence rather than poisoning
                // the whole mix.
                if sample.is_finite() {
                    *out += sample * volume;
                }
            }
        }
        for sample in &mut self.out {
            *sample = soft_clip(*sample);
        }
        Ok(&self.out)
    }
}

/// Identity within `-KNEE..=KNEE`, then a tanh curve with matching slope approaching ±1.
pub fn soft_clip(x: f32) -> f32 {
    let magnitude = x.abs();
    if magnitude <= KNEE {
        return x;
    }
    let room = 1.0 - KNEE;
    let bent = KNEE + room * ((magnitude - KNEE) / room).tanh();
    bent.copysign(x)
}
