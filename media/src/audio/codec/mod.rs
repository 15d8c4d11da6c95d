//! Opus encoding and decoding of 20 ms frames, with redundancy that adapts to loss.
//!
//! The encoder uses the VOIP application (speech-tuned) with one 20 ms frame per packet and
//! no extra buffering. The sender feeds the loss measured on its path into
//! [`Encoder::set_expected_loss`], which picks the [`Protection`]: DRED (Opus 1.5's deep
//! redundancy: up to a second of past speech in a few hundred bits per packet) always, a
//! bitrate floor that leaves it room as loss grows, and in-band FEC (a low-bitrate copy of
//! the previous frame) only where the bitrate is too low for DRED. The [`Decoder`] rebuilds a lost frame from any later packet that
//! covers it ([`Decoder::recover`]) and conceals what nothing covers.

use opusic_c::{Application, Bitrate, Channels, InbandFec, SampleRate};

use super::error::{Error, Result};
use super::format::Format;

mod decoder;

pub use decoder::{Decoder, Recovery};

/// The largest packet accepted by [`Decoder`]; a 20 ms Opus packet is at most 1276 bytes.
pub const MAX_PACKET_BYTES: usize = 1500;

/// Bitrates accepted by [`Encoder::new`] and [`Encoder::set_bitrate`], in bits per second.
pub const BITRATES: std::ops::RangeInclusive<u32> = 6_000..=256_000;

/// DRED asked for even on a clean uplink, in milliseconds: a viewer's own lossy downlink is
/// protected only by what the publisher put in each packet (the server never re-encodes), and
/// the publisher cannot raise it for one viewer without raising it for all. What a packet
/// really carries is bounded by the bits ([`Protection::min_bitrate`]): 200 ms at 32 kbit/s.
pub const BASELINE_DRED_MS: u16 = 400;

/// The loss told to libopus while DRED is on, at least: libopus gives DRED a share of the
/// bits above 12 kbit/s that grows with the loss it is told and tops out (80%) at 25%. At a
/// 5% hint a 32 kbit/s stream carried 80 ms of DRED; at 25%, 200 ms for the same bitrate
/// (media/tests/audio_dred.rs measures it).
const DRED_LOSS_HINT: u8 = 25;

/// Below this bitrate DRED does not fit (fewer than two chunks) and in-band FEC protects
/// instead; above it, FEC's copy of the previous frame takes the bits DRED reaches 200 ms
/// and more back with (at 32 kbit/s: 80 ms of DRED with FEC on, 200 ms with it off).
pub const DRED_MIN_BITRATE: u32 = 24_000;

/// How an [`Encoder`] protects its packets at a given expected loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protection {
    /// In-band FEC (each packet carries the previous frame again at a low bitrate) while
    /// loss is expected: used only where DRED is off or does not fit ([`DRED_MIN_BITRATE`]).
    pub fec: bool,
    /// How much past speech DRED may carry in each packet, in milliseconds (0: off).
    pub dred_ms: u16,
    /// The least bitrate while protecting: DRED lives in the bits the frame leaves over, so
    /// more history needs more bits (libopus 1.6, mono 48 kHz, a tone: 32 kbit/s carries
    /// 200 ms, 40 kbit/s 400 ms with a 400 ms duration and 560 ms with 1 s).
    pub min_bitrate: u32,
}

impl Protection {
    /// The protection for `loss_percent` of packets lost on the uplink: DRED always (the
    /// [`BASELINE_DRED_MS`] on a clean path, for lossy downlinks), with a 40 kbit/s floor
    /// from 10% loss (400 ms of history, the most the jitter buffer waits) and a full second
    /// asked for from 30% (560 ms fits at 40 kbit/s; at 48 kbit/s it would be no more).
    /// FEC stands in below [`DRED_MIN_BITRATE`].
    pub fn for_loss(loss_percent: u8) -> Protection {
        let (dred_ms, min_bitrate) = match loss_percent {
            0..10 => (BASELINE_DRED_MS, 0),
            10..30 => (400, 40_000),
            _ => (1_000, 40_000),
        };
        Protection {
            fec: loss_percent > 0,
            dred_ms,
            min_bitrate,
        }
    }
}

fn channels(format: Format) -> Result<Channels> {
    format.validate()?;
    Ok(if format.channels == 1 {
        Channels::Mono
    } else {
        Channels::Stereo
    })
}

fn sample_rate(format: Format) -> Result<SampleRate> {
    format.validate()?;
    Ok(match format.sample_rate {
        16_000 => SampleRate::Hz16000,
        24_000 => SampleRate::Hz24000,
        _ => SampleRate::Hz48000,
    })
}

fn check_bitrate(bitrate_bps: u32) -> Result<u32> {
    if BITRATES.contains(&bitrate_bps) {
        Ok(bitrate_bps)
    } else {
        Err(Error::Bitrate(bitrate_bps))
    }
}

/// An Opus encoder for one stream of 20 ms frames.
pub struct Encoder {
    inner: opusic_c::Encoder,
    format: Format,
    /// The bitrate asked for; the encoder runs at least [`Protection::min_bitrate`].
    bitrate_bps: u32,
    expected_loss: u8,
    protection: Protection,
    packet: Vec<u8>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("format", &self.format)
            .field("bitrate_bps", &self.bitrate_bps)
            .field("protection", &self.protection)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder for `format` at `bitrate_bps` (see [`BITRATES`]; 24000 to 32000 suits
    /// mono speech), protected as for a clean path until
    /// [`set_expected_loss`](Self::set_expected_loss).
    pub fn new(format: Format, bitrate_bps: u32) -> Result<Encoder> {
        let inner =
            opusic_c::Encoder::new(channels(format)?, sample_rate(format)?, Application::Voip)
                .map_err(Error::opus("encoder create"))?;
        let mut encoder = Encoder {
            inner,
            format,
            bitrate_bps: check_bitrate(bitrate_bps)?,
            expected_loss: 0,
            protection: Protection::for_loss(0),
            packet: vec![0; MAX_PACKET_BYTES],
        };
        encoder.apply()?;
        Ok(encoder)
    }

    /// The format this encoder takes.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Encodes exactly one 20 ms frame of interleaved samples into one packet.
    ///
    /// Errors if the frame has the wrong length or holds NaN or infinity.
    pub fn encode(&mut self, frame: &[f32]) -> Result<Vec<u8>> {
        self.format.check_frame(frame)?;
        if let Some(index) = frame.iter().position(|s| !s.is_finite()) {
            return Err(Error::NonFinite { index });
        }
        let len = self
            .inner
            .encode_float_to_slice(frame, &mut self.packet)
            .map_err(Error::opus("encode"))?;
        Ok(self.packet[..len].to_vec())
    }

    /// Changes the target bitrate (see [`BITRATES`]) from the next frame on; while loss is
    /// expected the encoder runs at least at the protection's floor.
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<()> {
        self.bitrate_bps = check_bitrate(bitrate_bps)?;
        self.apply()
    }

    /// The target bitrate asked for, in bits per second.
    pub fn bitrate(&self) -> u32 {
        self.bitrate_bps
    }

    /// The bitrate the encoder runs at: the one asked for, raised to the protection's floor.
    pub fn effective_bitrate(&self) -> u32 {
        self.bitrate_bps.max(self.protection.min_bitrate)
    }

    /// Tells the encoder how much loss the path measures, `0..=100` percent, and protects
    /// the next packets accordingly ([`Protection::for_loss`]).
    pub fn set_expected_loss(&mut self, percent: u8) -> Result<()> {
        self.set_protection(percent, Protection::for_loss(percent))
    }

    /// Like [`set_expected_loss`](Self::set_expected_loss) with a protection of the caller's
    /// choosing (to compare with and without DRED, for example).
    pub fn set_protection(&mut self, percent: u8, protection: Protection) -> Result<()> {
        if percent > 100 {
            return Err(Error::Loss(percent));
        }
        self.expected_loss = percent;
        self.protection = protection;
        self.apply()
    }

    fn apply(&mut self) -> Result<()> {
        let p = self.protection;
        self.inner
            .set_bitrate(Bitrate::Value(self.effective_bitrate()))
            .map_err(Error::opus("set bitrate"))?;
        // libopus sizes DRED by the loss it is told and sends none at 0%.
        let hint = if p.dred_ms > 0 {
            self.expected_loss.max(DRED_LOSS_HINT)
        } else {
            self.expected_loss
        };
        self.inner
            .set_packet_loss(hint)
            .map_err(Error::opus("set packet loss"))?;
        let fec = if self.fec() {
            InbandFec::Mode1
        } else {
            InbandFec::Off
        };
        self.inner
            .set_inband_fec(fec)
            .map_err(Error::opus("set inband fec"))?;
        // libopus counts DRED in 10 ms units, at most 100.
        let units = (p.dred_ms / 10).min(100) as u8;
        self.inner
            .set_dred_duration(units)
            .map_err(Error::opus("set dred duration"))
    }

    /// The expected loss last set, in percent.
    pub fn expected_loss(&self) -> u8 {
        self.expected_loss
    }

    /// The protection in force.
    pub fn protection(&self) -> Protection {
        self.protection
    }

    /// Whether in-band FEC is on: loss is expected and DRED is off or does not fit.
    pub fn fec(&self) -> bool {
        self.protection.fec
            && (self.protection.dred_ms == 0 || self.effective_bitrate() < DRED_MIN_BITRATE)
    }
}
