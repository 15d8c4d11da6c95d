//! Opus encoding and decoding of 20 ms frames, with loss-adaptive in-band FEC.
//!
//! The encoder uses the VOIP application (speech-tuned, and the only mode whose SILK layer
//! carries in-band FEC) with one 20 ms frame per packet and no extra buffering. The sender
//! feeds the loss it measures into [`Encoder::set_expected_loss`]; above 0% the encoder adds
//! a low-bitrate copy of each frame to the next packet, which the receiver decodes with
//! [`Decoder::decode_fec`] when a packet is missing.

use opus::{Application, Bitrate, Channels};

use super::error::{Error, Result};
use super::format::Format;

/// The largest packet accepted by [`Decoder`]; a 20 ms Opus packet is at most 1276 bytes.
pub const MAX_PACKET_BYTES: usize = 1500;

/// Bitrates accepted by [`Encoder::new`] and [`Encoder::set_bitrate`], in bits per second.
pub const BITRATES: std::ops::RangeInclusive<u32> = 6_000..=256_000;

fn channels(format: Format) -> Result<Channels> {
    format.validate()?;
    Ok(if format.channels == 1 {
        Channels::Mono
    } else {
        Channels::Stereo
    })
}

fn check_bitrate(bitrate_bps: u32) -> Result<i32> {
    if BITRATES.contains(&bitrate_bps) {
        // Within 6000..=256000, so it fits an i32.
        Ok(bitrate_bps as i32)
    } else {
        Err(Error::Bitrate(bitrate_bps))
    }
}

/// An Opus encoder for one stream of 20 ms frames.
#[derive(Debug)]
pub struct Encoder {
    inner: opus::Encoder,
    format: Format,
    bitrate_bps: u32,
    expected_loss: u8,
    packet: Vec<u8>,
}

impl Encoder {
    /// An encoder for `format` at `bitrate_bps` (see [`BITRATES`]; 24000 to 32000 suits
    /// mono speech). FEC is off until [`set_expected_loss`](Self::set_expected_loss).
    pub fn new(format: Format, bitrate_bps: u32) -> Result<Encoder> {
        let channels = channels(format)?;
        let bits = check_bitrate(bitrate_bps)?;
        let mut inner = opus::Encoder::new(format.sample_rate, channels, Application::Voip)
            .map_err(Error::opus("encoder create"))?;
        inner
            .set_bitrate(Bitrate::Bits(bits))
            .map_err(Error::opus("set bitrate"))?;
        inner
            .set_inband_fec(false)
            .map_err(Error::opus("set inband fec"))?;
        inner
            .set_packet_loss_perc(0)
            .map_err(Error::opus("set packet loss"))?;
        Ok(Encoder {
            inner,
            format,
            bitrate_bps,
            expected_loss: 0,
            packet: vec![0; MAX_PACKET_BYTES],
        })
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
            .encode_float(frame, &mut self.packet)
            .map_err(Error::opus("encode"))?;
        Ok(self.packet[..len].to_vec())
    }

    /// Changes the target bitrate (see [`BITRATES`]) from the next frame on.
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<()> {
        let bits = check_bitrate(bitrate_bps)?;
        self.inner
            .set_bitrate(Bitrate::Bits(bits))
            .map_err(Error::opus("set bitrate"))?;
        self.bitrate_bps = bitrate_bps;
        Ok(())
    }

    /// The target bitrate in bits per second.
    pub fn bitrate(&self) -> u32 {
        self.bitrate_bps
    }

    /// Tells the encoder how much loss the receivers measure, `0..=100` percent.
    ///
    /// Above 0 in-band FEC is on and sized for that loss; at 0 it is off, so a clean
    /// network spends no bits on it.
    pub fn set_expected_loss(&mut self, percent: u8) -> Result<()> {
        if percent > 100 {
            return Err(Error::Loss(percent));
        }
        self.inner
            .set_packet_loss_perc(i32::from(percent))
            .map_err(Error::opus("set packet loss"))?;
        self.inner
            .set_inband_fec(percent > 0)
            .map_err(Error::opus("set inband fec"))?;
        self.expected_loss = percent;
        Ok(())
    }

    /// The expected loss last set, in percent.
    pub fn expected_loss(&self) -> u8 {
        self.expected_loss
    }

    /// Whether in-band FEC is on (expected loss above 0).
    pub fn fec(&self) -> bool {
        self.expected_loss > 0
    }
}

/// An Opus decoder for one stream of 20 ms packets.
///
/// For each 20 ms slot call exactly one of [`decode`](Self::decode) (the packet arrived),
/// [`decode_fec`](Self::decode_fec) (it is lost but the next one arrived; decode that next
/// packet normally in the following slot) or [`conceal`](Self::conceal) (nothing to go on).
/// Each returns one frame of interleaved samples.
#[derive(Debug)]
pub struct Decoder {
    inner: opus::Decoder,
    format: Format,
}

impl Decoder {
    /// A decoder producing `format`.
    pub fn new(format: Format) -> Result<Decoder> {
        let channels = channels(format)?;
        let inner = opus::Decoder::new(format.sample_rate, channels)
            .map_err(Error::opus("decoder create"))?;
        Ok(Decoder { inner, format })
    }

    /// The format this decoder produces.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Decodes a packet holding one 20 ms frame.
    ///
    /// A corrupt packet, or one of another duration, is an `Err`; the decoder stays usable.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<f32>> {
        self.run(packet, false, "decode")
    }

    /// Recovers the frame lost just before `next_packet` from its in-band FEC data.
    ///
    /// When `next_packet` carries no FEC data (the sender had FEC off) this is concealment.
    pub fn decode_fec(&mut self, next_packet: &[u8]) -> Result<Vec<f32>> {
        self.run(next_packet, true, "decode fec")
    }

    /// Conceals one missing frame by extrapolating the audio decoded so far (fading out
    /// over consecutive losses).
    pub fn conceal(&mut self) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.format.frame_len()];
        // An empty input tells libopus the packet is lost; the output length sets the
        // duration to conceal.
        let n = self
            .inner
            .decode_float(&[], &mut out, false)
            .map_err(Error::opus("conceal"))?;
        self.check_decoded(n)?;
        Ok(out)
    }

    fn run(&mut self, packet: &[u8], fec: bool, op: &'static str) -> Result<Vec<f32>> {
        if packet.is_empty() {
            return Err(Error::EmptyPacket);
        }
        if packet.len() > MAX_PACKET_BYTES {
            return Err(Error::PacketSize(packet.len()));
        }
        let expected = self.format.samples_per_frame();
        let actual = opus::packet::get_nb_samples(packet, self.format.sample_rate)
            .map_err(Error::opus(op))?;
        if actual != expected {
            return Err(Error::PacketDuration { expected, actual });
        }
        let mut out = vec![0.0; self.format.frame_len()];
        let n = self
            .inner
            .decode_float(packet, &mut out, fec)
            .map_err(Error::opus(op))?;
        self.check_decoded(n)?;
        Ok(out)
    }

    fn check_decoded(&self, samples_per_channel: usize) -> Result<()> {
        let expected = self.format.samples_per_frame();
        if samples_per_channel == expected {
            Ok(())
        } else {
            Err(Error::PacketDuration {
                expected,
                actual: samples_per_channel,
            })
        }
    }
}
