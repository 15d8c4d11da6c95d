//! AAC-LC encoding for RTMP/FLV output (CDN push), over the pure-Rust `rusty_aac`.
//!
//! `rusty_aac`'s encoder works on a whole buffered stream: it decides every frame's window
//! sequence (long or eight short blocks) in a pre-pass and only encodes on `finish`. Its
//! frames are otherwise independent (no bit reservoir; frame `b` is a function of blocks
//! `b - 1` and `b` and the window decisions), so this wrapper streams it in chunks: every
//! [`CHUNK_FRAMES`] new 1024-sample frames it encodes them together with
//! [`HISTORY_FRAMES`] frames before (the MDCT overlap and the transient detector's running
//! average) and [`LOOKAHEAD_FRAMES`] after (the window sequence looks one frame ahead, and a
//! lone long frame between two short runs is merged, which looks two). Each output frame is
//! therefore encoded as the whole-stream encoder would have, up to the detector's
//! clip-relative floor, at 2x its CPU cost and [`latency_samples`](Encoder::latency_samples)
//! of buffering.
//!
//! ```
//! use livestage_media::audio::aac::{Config, Encoder};
//!
//! let mut encoder = Encoder::new(Config { sample_rate: 48_000, channels: 2, bitrate_bps: 128_000 })?;
//! assert_eq!(encoder.audio_specific_config(), [0x11, 0x90]); // AAC-LC, 48 kHz, stereo
//! let mut packets = Vec::new();
//! let second = vec![0.0f32; 48_000 * 2];
//! encoder.push(&second, &mut packets)?;
//! assert!(!packets.is_empty());
//! assert_eq!(packets[1].pts, 1024); // in samples per channel
//! # Ok::<(), livestage_media::audio::aac::Error>(())
//! ```

use rusty_aac::{AacEncoder, AacEncoderConfig};

/// Samples per channel in one AAC-LC frame (access unit).
pub const FRAME_SAMPLES: usize = 1024;

/// New frames encoded together in one call of the underlying encoder.
pub const CHUNK_FRAMES: usize = 4;

/// Frames before a chunk given to the encoder as context.
pub const HISTORY_FRAMES: usize = 2;

/// Frames after a chunk the encoder must see before the chunk is encoded.
pub const LOOKAHEAD_FRAMES: usize = 2;

/// The sample rates accepted (what RTMP ingest servers and players agree on).
pub const SAMPLE_RATES: [u32; 3] = [32_000, 44_100, 48_000];

/// Lowest bitrate accepted, in bits per second.
pub const MIN_BITRATE_BPS: u32 = 16_000;

/// Highest bitrate accepted, in bits per second.
pub const MAX_BITRATE_BPS: u32 = 320_000;

/// Why an encoder could not be made or fed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A sample rate other than 32000, 44100 or 48000 Hz.
    #[error("AAC sample rate {0} Hz is not supported; use 32000, 44100 or 48000")]
    SampleRate(u32),
    /// A channel count other than 1 or 2.
    #[error("AAC with {0} channel(s) is not supported; use 1 (mono) or 2 (stereo)")]
    Channels(u16),
    /// A bitrate outside [`MIN_BITRATE_BPS`]..=[`MAX_BITRATE_BPS`].
    #[error("AAC bitrate {0} bps is out of range; use {MIN_BITRATE_BPS}..={MAX_BITRATE_BPS}")]
    Bitrate(u32),
    /// Interleaved samples whose count is not a multiple of the channel count.
    #[error("{samples} interleaved samples do not divide into {channels} channel(s)")]
    Interleave {
        /// Samples given.
        samples: usize,
        /// The configured channel count.
        channels: u16,
    },
    /// The encoder itself refused (not expected for a validated configuration).
    #[error("the AAC encoder failed: {0}")]
    Codec(String),
}

/// What to encode. Checked by [`Encoder::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// 32000, 44100 or 48000 Hz.
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo, interleaved left, right).
    pub channels: u16,
    /// Target bitrate of the whole stream, [`MIN_BITRATE_BPS`]..=[`MAX_BITRATE_BPS`].
    pub bitrate_bps: u32,
}

impl Default for Config {
    /// 48 kHz stereo at 128 kbps, a common CDN ingest setting.
    fn default() -> Self {
        Self {
            sample_rate: 48_000,
            channels: 2,
            bitrate_bps: 128_000,
        }
    }
}

impl Config {
    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`Error::SampleRate`], [`Error::Channels`] or [`Error::Bitrate`] naming what is wrong.
    pub fn check(&self) -> Result<(), Error> {
        if !SAMPLE_RATES.contains(&self.sample_rate) {
            return Err(Error::SampleRate(self.sample_rate));
        }
        if !(1..=2).contains(&self.channels) {
            return Err(Error::Channels(self.channels));
        }
        if !(MIN_BITRATE_BPS..=MAX_BITRATE_BPS).contains(&self.bitrate_bps) {
            return Err(Error::Bitrate(self.bitrate_bps));
        }
        Ok(())
    }
}

/// One encoded access unit: a raw AAC `raw_data_block` (no ADTS header), as FLV carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The access unit.
    pub data: Vec<u8>,
    /// Its first sample, counted per channel from the first sample pushed (a multiple of
    /// [`FRAME_SAMPLES`]). A decoder's output lags this by one frame (the MDCT overlap).
    pub pts: u64,
}

/// A streaming AAC-LC encoder: push interleaved `f32` samples of any length, get whole
/// access units out as they are ready.
pub struct Encoder {
    config: Config,
    /// Interleaved samples from frame `next - HISTORY_FRAMES` on (zeros before the start).
    buffer: Vec<f32>,
    /// Index of the next frame to emit.
    next: u64,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("config", &self.config)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder for `config`.
    ///
    /// # Errors
    ///
    /// As [`Config::check`].
    pub fn new(config: Config) -> Result<Self, Error> {
        config.check()?;
        let frame = FRAME_SAMPLES * usize::from(config.channels);
        let capacity = frame * (HISTORY_FRAMES + CHUNK_FRAMES + LOOKAHEAD_FRAMES + 1);
        let mut buffer = Vec::with_capacity(capacity);
        buffer.resize(frame * HISTORY_FRAMES, 0.0);
        Ok(Self {
            config,
            buffer,
            next: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> Config {
        self.config
    }

    /// The 2-byte AudioSpecificConfig (AAC-LC, rate, channels): the body of FLV's AAC
    /// sequence header and MP4's `esds` decoder info.
    pub fn audio_specific_config(&self) -> Vec<u8> {
        rusty_aac::audio_specific_config_bytes(self.config.sample_rate, self.config.channels)
    }

    /// The most samples per channel held back before their frame is emitted.
    pub fn latency_samples(&self) -> usize {
        (CHUNK_FRAMES + LOOKAHEAD_FRAMES) * FRAME_SAMPLES
    }

    /// Buffers interleaved samples in [-1, 1] (NaN is encoded as silence, larger values are
    /// clamped) and appends every access unit now complete to `out`. The buffer is reused;
    /// each packet's bytes are allocated by the underlying encoder.
    ///
    /// # Errors
    ///
    /// [`Error::Interleave`] if `interleaved` is not whole samples of every channel (nothing
    /// is buffered); [`Error::Codec`] if the encoder fails.
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<Packet>) -> Result<(), Error> {
        let channels = usize::from(self.config.channels);
        if !interleaved.len().is_multiple_of(channels) {
            return Err(Error::Interleave {
                samples: interleaved.len(),
                channels: self.config.channels,
            });
        }
        let frame = FRAME_SAMPLES * channels;
        let window = HISTORY_FRAMES + CHUNK_FRAMES + LOOKAHEAD_FRAMES;
        let mut rest = interleaved;
        while !rest.is_empty() {
            let room = window * frame - self.buffer.len();
            let (take, after) = rest.split_at(room.min(rest.len()));
            self.buffer.extend_from_slice(take);
            rest = after;
            if self.buffer.len() == window * frame {
                self.encode_chunk(CHUNK_FRAMES, out)?;
            }
        }
        Ok(())
    }

    /// Encodes what is buffered, padded with silence to whole frames, so the stream ends
    /// with every sample pushed (plus the decoder's one-frame lag). The encoder stays usable;
    /// what is pushed next starts a frame later.
    ///
    /// # Errors
    ///
    /// [`Error::Codec`] if the encoder fails.
    pub fn flush(&mut self, out: &mut Vec<Packet>) -> Result<(), Error> {
        let frame = FRAME_SAMPLES * usize::from(self.config.channels);
        let pending = self.buffer.len() - HISTORY_FRAMES * frame;
        // One more frame than the samples cover: its packet carries the last frame's tail.
        let frames = pending.div_ceil(frame) + 1;
        let mut left = frames;
        while left > 0 {
            let now = left.min(CHUNK_FRAMES);
            let total = (HISTORY_FRAMES + now + LOOKAHEAD_FRAMES) * frame;
            if self.buffer.len() < total {
                self.buffer.resize(total, 0.0);
            }
            self.encode_chunk(now, out)?;
            left -= now;
        }
        self.buffer.truncate(HISTORY_FRAMES * frame);
        Ok(())
    }

    /// Encodes frames `next..next + count` from the buffer and drops `count` frames from its
    /// front. The buffer holds at least `HISTORY + count + LOOKAHEAD` frames.
    fn encode_chunk(&mut self, count: usize, out: &mut Vec<Packet>) -> Result<(), Error> {
        let channels = self.config.channels;
        let frame = FRAME_SAMPLES * usize::from(channels);
        let used = (HISTORY_FRAMES + count + LOOKAHEAD_FRAMES) * frame;
        let mut inner = AacEncoder::new(AacEncoderConfig {
            bitrate_bps: self.config.bitrate_bps,
            ..AacEncoderConfig::default()
        });
        inner
            .push_pcm(&self.buffer[..used], channels, self.config.sample_rate)
            .map_err(|e| Error::Codec(e.to_string()))?;
        inner.finish();
        let mut index = 0;
        while let Ok(packet) = inner.next_packet() {
            if (HISTORY_FRAMES..HISTORY_FRAMES + count).contains(&index) {
                out.push(Packet {
                    data: packet.data,
                    pts: self.next * FRAME_SAMPLES as u64,
                });
                self.next += 1;
            }
            index += 1;
        }
        if index < HISTORY_FRAMES + count {
            return Err(Error::Codec(format!(
                "expected {} packets, got {index}",
                HISTORY_FRAMES + count
            )));
        }
        self.buffer.drain(..count * frame);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{Level, dominant_frequency};

    fn tone(rate: u32, channels: u16, freq: f32, amplitude: f32, seconds: f32) -> Vec<f32> {
        let frames = (rate as f32 * seconds) as usize;
        let mut out = Vec::with_capacity(frames * usize::from(channels));
        for i in 0..frames {
            let s = amplitude * (std::f32::consts::TAU * freq * i as f32 / rate as f32).sin();
            out.extend(std::iter::repeat_n(s, usize::from(channels)));
        }
        out
    }

    fn decode(asc: &[u8], packets: &[Packet]) -> Vec<f32> {
        let mut decoder = rusty_aac::AacDecoder::with_config_bytes(asc).expect("valid ASC");
        let mut pcm = Vec::new();
        for p in packets {
            pcm.extend(decoder.decode(&p.data, None).expect("decodable AU").samples);
        }
        pcm
    }

    fn mono(interleaved: &[f32], channels: usize) -> Vec<f32> {
        interleaved.iter().step_by(channels).copied().collect()
    }

    #[test]
    fn a_1khz_tone_decodes_back_at_its_frequency_and_level() {
        for (rate, channels) in [(48_000, 2), (44_100, 1), (32_000, 2)] {
            let config = Config {
                sample_rate: rate,
                channels,
                bitrate_bps: 128_000,
            };
            let mut encoder = Encoder::new(config).expect("valid config");
            let input = tone(rate, channels, 1000.0, 0.5, 1.0);
            let mut packets = Vec::new();
            // Odd-sized pushes, as a mixer's 20 ms frames would come.
            for chunk in input.chunks(960 * usize::from(channels) + 2 * usize::from(channels)) {
                encoder.push(chunk, &mut packets).expect("push");
            }
            encoder.flush(&mut packets).expect("flush");
            for (i, p) in packets.iter().enumerate() {
                assert_eq!(p.pts, i as u64 * FRAME_SAMPLES as u64);
            }
            let decoded = decode(&encoder.audio_specific_config(), &packets);
            let ch = usize::from(channels);
            // The decoder lags one frame; skip it and the ramp-in, compare the steady part.
            let steady = &decoded[4 * FRAME_SAMPLES * ch..(rate as usize - FRAME_SAMPLES) * ch];
            let freq = dominant_frequency(&mono(steady, ch), rate).expect("a tone");
            assert!(
                (freq - 1000.0).abs() < 5.0,
                "{rate} Hz x{channels}: {freq} Hz"
            );
            let input_db = Level::measure(&input[4 * FRAME_SAMPLES * ch..]).dbfs;
            let output_db = Level::measure(steady).dbfs;
            assert!(
                (output_db - input_db).abs() < 0.5,
                "{rate} Hz x{channels}: level {output_db:.2} dBFS, input {input_db:.2} dBFS"
            );
        }
    }

    #[test]
    fn chunked_output_matches_the_whole_stream_encoder() {
        let config = Config::default();
        let input = tone(48_000, 2, 440.0, 0.3, 0.5);
        let mut encoder = Encoder::new(config).expect("valid config");
        let mut packets = Vec::new();
        encoder.push(&input, &mut packets).expect("push");
        encoder.flush(&mut packets).expect("flush");
        let mut whole = AacEncoder::new(AacEncoderConfig {
            bitrate_bps: 128_000,
            ..AacEncoderConfig::default()
        });
        whole.push_pcm(&input, 2, 48_000).expect("push");
        whole.finish();
        let mut reference = Vec::new();
        while let Ok(p) = whole.next_packet() {
            reference.push(p.data);
        }
        assert_eq!(packets.len(), reference.len());
        // Past the first frames (whose context differs: leading zeros vs no history) the
        // access units are identical.
        let same = packets
            .iter()
            .zip(&reference)
            .filter(|(a, b)| a.data == **b)
            .count();
        assert!(same + 2 >= reference.len(), "{same} of {}", reference.len());
    }

    #[test]
    fn bad_configurations_say_what_to_use() {
        let bad = [
            Config {
                sample_rate: 22_050,
                ..Config::default()
            },
            Config {
                channels: 6,
                ..Config::default()
            },
            Config {
                bitrate_bps: 1_000_000,
                ..Config::default()
            },
        ];
        for config in bad {
            let message = Encoder::new(config).expect_err("refused").to_string();
            assert!(message.contains("use"), "{message}");
        }
        let mut encoder = Encoder::new(Config::default()).expect("valid config");
        let err = encoder.push(&[0.0; 3], &mut Vec::new()).expect_err("odd");
        assert!(matches!(err, Error::Interleave { .. }));
    }

    #[test]
    fn the_audio_specific_config_names_aac_lc() {
        let encoder = Encoder::new(Config {
            sample_rate: 44_100,
            channels: 1,
            bitrate_bps: 64_000,
        })
        .expect("valid config");
        // object type 2 (5 bits), rate index 4 (4 bits), 1 channel (4 bits), 3 zero bits.
        assert_eq!(encoder.audio_specific_config(), [0x12, 0x08]);
    }
}
