//! A push's sound: the viewer's mixed voice (48 kHz, 20 ms frames) resampled to the layout's
//! rate when it differs, encoded to AAC-LC, timed in milliseconds from the push's start.

use anyhow::Context as _;
use livestage_media::audio::aac;
use livestage_proto::push;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

/// The rate the viewer mixes at.
pub const MIX_RATE: u32 = 48_000;
/// Samples per channel in one mixed frame (20 ms).
const MIX_FRAME: usize = MIX_RATE as usize / 50;

/// Mixed voice in, AAC access units out.
pub struct Sound {
    encoder: aac::Encoder,
    channels: usize,
    rate: u32,
    /// 48 kHz to the layout's rate, one 20 ms frame at a time.
    resampler: Option<(Fft<f32>, Vec<f32>)>,
    packets: Vec<aac::Packet>,
}

impl Sound {
    /// An encoder for `audio`'s rate, channels and bitrate.
    pub fn new(audio: &push::Audio) -> anyhow::Result<Self> {
        let channels = u16::from(audio.channels);
        let encoder = aac::Encoder::new(aac::Config {
            sample_rate: audio.sample_rate,
            channels,
            bitrate_bps: audio.bitrate_kbps * 1000,
        })
        .context("AAC encoder")?;
        let channels = usize::from(channels);
        let resampler = if audio.sample_rate == MIX_RATE {
            None
        } else {
            let out = audio.sample_rate as usize / 50 * channels;
            let fft = Fft::<f32>::new(
                MIX_RATE as usize,
                audio.sample_rate as usize,
                MIX_FRAME,
                channels,
                FixedSync::Both,
            )
            .context("resampler")?;
            Some((fft, vec![0.0; out]))
        };
        Ok(Self {
            encoder,
            channels,
            rate: audio.sample_rate,
            resampler,
            packets: Vec::new(),
        })
    }

    /// The AudioSpecificConfig for the FLV sequence header.
    pub fn config(&self) -> Vec<u8> {
        self.encoder.audio_specific_config()
    }

    /// Encodes one mixed 20 ms frame (interleaved, 48 kHz, this sound's channel count);
    /// calls `out` with each finished access unit and its time in ms from the first frame.
    pub fn push(&mut self, frame: &[f32], mut out: impl FnMut(u32, Vec<u8>)) {
        if frame.len() != MIX_FRAME * self.channels {
            return; // Not a frame of the format the viewer was opened with.
        }
        let samples: &[f32] = match &mut self.resampler {
            None => frame,
            Some((fft, buf)) => {
                let frames_out = buf.len() / self.channels;
                let (Ok(src), Ok(mut dst)) = (
                    InterleavedSlice::new(frame, self.channels, MIX_FRAME),
                    InterleavedSlice::new_mut(buf.as_mut_slice(), self.channels, frames_out),
                ) else {
                    return;
                };
                if fft.process_into_buffer(&src, &mut dst, None).is_err() {
                    buf.fill(0.0);
                }
                buf
            }
        };
        if let Err(e) = self.encoder.push(samples, &mut self.packets) {
            tracing::warn!("AAC encoding failed: {e}");
        }
        for packet in self.packets.drain(..) {
            let ms = packet.pts * 1000 / u64::from(self.rate);
            out(u32::try_from(ms).unwrap_or(u32::MAX), packet.data);
        }
    }
}
