//! The Opus decoder with DRED recovery: the one place in audio with `unsafe`, calling libopus
//! through `opusic-sys` because DRED decoding needs the decoder's own state next to a DRED
//! state, at an offset `opusic-c`'s wrapper does not let us choose (it only rebuilds the frame
//! right before a packet; a burst needs the frames further back too).
#![allow(unsafe_code)]

use std::ptr::NonNull;

use opusic_c::ErrorCode;
use opusic_sys as sys;

use super::MAX_PACKET_BYTES;
use crate::audio::error::{Error, Result};
use crate::audio::format::Format;

/// How [`Decoder::recover`] rebuilt a lost frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// From the in-band FEC copy in the next packet.
    Fec,
    /// From DRED, the deep redundancy a later packet carries.
    Dred,
    /// Nothing covered it: extrapolated from what was decoded before.
    Concealed,
}

/// An Opus decoder for one stream of 20 ms packets.
///
/// For each 20 ms slot call exactly one of [`decode`](Self::decode) (the packet arrived),
/// [`recover`](Self::recover) (it is lost but a later one arrived; decode that later packet
/// in its own slot) or [`conceal`](Self::conceal) (nothing to go on). Each returns one frame
/// of interleaved samples.
pub struct Decoder {
    state: NonNull<sys::OpusDecoder>,
    dred_decoder: NonNull<sys::OpusDREDDecoder>,
    dred: NonNull<sys::OpusDRED>,
    /// The packet `dred` was parsed from and the span it covers ([`Self::dred_span`]):
    /// consecutive lost frames recover from one parse.
    parsed: Option<(Vec<u8>, (usize, usize))>,
    format: Format,
    /// The last packet decoded was mono (its TOC byte says so): what DRED and concealment
    /// rebuild for it is made mono too, so a mono voice never drifts apart between the two
    /// sides of a stereo output.
    mono_stream: bool,
}

// SAFETY: the three libopus states are plain heap memory owned by this value alone, with no
// thread affinity; `&mut self` on every call keeps them from being used from two threads.
unsafe impl Send for Decoder {}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

fn check(op: &'static str, code: i32) -> Result<usize> {
    usize::try_from(code).map_err(|_| Error::opus(op)(ErrorCode::from(code)))
}

fn created<T>(op: &'static str, ptr: *mut T, error: i32) -> Result<NonNull<T>> {
    check(op, error)?;
    NonNull::new(ptr).ok_or(Error::opus(op)(ErrorCode::AllocFail))
}

impl Decoder {
    /// A decoder producing `format`.
    pub fn new(format: Format) -> Result<Decoder> {
        format.validate()?;
        let rate = format.sample_rate as i32;
        let channels = i32::from(format.channels);
        let mut error = 0;
        // SAFETY: plain constructors; each result is checked before use and freed in Drop.
        let state = unsafe { sys::opus_decoder_create(rate, channels, &mut error) };
        let state = created("decoder create", state, error)?;
        let dred_decoder = unsafe { sys::opus_dred_decoder_create(&mut error) };
        let dred_decoder = match created("dred decoder create", dred_decoder, error) {
            Ok(d) => d,
            Err(e) => {
                unsafe { sys::opus_decoder_destroy(state.as_ptr()) };
                return Err(e);
            }
        };
        let dred = unsafe { sys::opus_dred_alloc(&mut error) };
        let dred = match created("dred alloc", dred, error) {
            Ok(d) => d,
            Err(e) => {
                unsafe {
                    sys::opus_dred_decoder_destroy(dred_decoder.as_ptr());
                    sys::opus_decoder_destroy(state.as_ptr());
                }
                return Err(e);
            }
        };
        Ok(Decoder {
            state,
            dred_decoder,
            dred,
            parsed: None,
            format,
            mono_stream: true,
        })
    }

    /// The format this decoder produces.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Decodes a packet holding one 20 ms frame.
    ///
    /// A corrupt packet, or one of another duration, is an `Err`; the decoder stays usable.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<f32>> {
        self.check_packet(packet, "decode")?;
        // Bit 2 of the TOC byte: stereo.
        self.mono_stream = packet[0] & 0x04 == 0;
        self.run(packet, false, "decode")
    }

    /// Rebuilds the frame `distance` slots before `later` (a packet that arrived; 1 is the
    /// frame right before it): from its in-band FEC when `distance` is 1 and it carries
    /// some, else from its DRED when that reaches back far enough, else by concealment.
    ///
    /// Call it for lost frames in order; `later` itself is decoded in its own slot afterwards.
    pub fn recover(&mut self, later: &[u8], distance: u32) -> Result<(Vec<f32>, Recovery)> {
        self.check_packet(later, "recover")?;
        if distance == 0 {
            return Ok((self.decode(later)?, Recovery::Fec));
        }
        // SAFETY: `later` is a valid slice of the length given.
        let lbrr = unsafe { sys::opus_packet_has_lbrr(later.as_ptr(), later.len() as i32) };
        if distance == 1 && lbrr == 1 {
            return Ok((self.run(later, true, "decode fec")?, Recovery::Fec));
        }
        let spf = self.format.samples_per_frame();
        let offset = distance as usize * spf;
        let (nearest, farthest) = self.dred_span(later)?;
        if offset <= farthest && offset - spf >= nearest {
            let mut out = vec![0.0; self.format.frame_len()];
            // SAFETY: `dred` was parsed from `later` by `dred_span`; `out` holds one frame
            // of `spf` samples per channel.
            let n = unsafe {
                sys::opus_decoder_dred_decode_float(
                    self.state.as_ptr(),
                    self.dred.as_ptr(),
                    offset as i32,
                    out.as_mut_ptr(),
                    spf as i32,
                )
            };
            self.check_decoded(check("decode dred", n)?)?;
            self.keep_mono(&mut out);
            return Ok((out, Recovery::Dred));
        }
        Ok((self.conceal()?, Recovery::Concealed))
    }

    /// How many frames before `packet` [`recover`](Self::recover) can rebuild from it: from
    /// its DRED, or 1 from its in-band FEC alone; 0 when it carries neither.
    pub fn reach(&mut self, packet: &[u8]) -> Result<u32> {
        self.check_packet(packet, "reach")?;
        let (_, farthest) = self.dred_span(packet)?;
        // SAFETY: `packet` is a valid slice of the length given.
        let lbrr = unsafe { sys::opus_packet_has_lbrr(packet.as_ptr(), packet.len() as i32) };
        let dred = farthest / self.format.samples_per_frame();
        Ok((dred as u32).max(u32::from(lbrr == 1)))
    }

    /// Conceals one missing frame by extrapolating the audio decoded so far (fading out
    /// over consecutive losses; deep PLC where libopus has it).
    pub fn conceal(&mut self) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.format.frame_len()];
        let spf = self.format.samples_per_frame() as i32;
        // SAFETY: a null packet of length 0 asks libopus to conceal `spf` samples into `out`,
        // which holds that many per channel.
        let n = unsafe {
            sys::opus_decode_float(
                self.state.as_ptr(),
                std::ptr::null(),
                0,
                out.as_mut_ptr(),
                spf,
                0,
            )
        };
        self.check_decoded(check("conceal", n)?)?;
        self.keep_mono(&mut out);
        Ok(out)
    }

    /// Makes both sides of a stereo frame their mean when the stream is mono.
    fn keep_mono(&self, frame: &mut [f32]) {
        if self.format.channels == 2 && self.mono_stream {
            for lr in frame.chunks_exact_mut(2) {
                let mid = (lr[0] + lr[1]) * 0.5;
                lr.fill(mid);
            }
        }
    }

    /// The span before `packet` its DRED covers, as `(nearest, farthest)` offsets in
    /// samples per channel (`(0, 0)`: none), parsing it unless it is the packet parsed last.
    fn dred_span(&mut self, packet: &[u8]) -> Result<(usize, usize)> {
        if let Some((parsed, span)) = &self.parsed
            && parsed == packet
        {
            return Ok(*span);
        }
        let rate = self.format.sample_rate as i32;
        let mut end = 0;
        // SAFETY: all three pointers are live states owned by self; `packet` is a valid
        // slice. At most one second of history is parsed.
        let reach = unsafe {
            sys::opus_dred_parse(
                self.dred_decoder.as_ptr(),
                self.dred.as_ptr(),
                packet.as_ptr(),
                packet.len() as i32,
                rate,
                rate,
                &mut end,
                0,
            )
        };
        // A packet without DRED, or one it cannot parse, covers nothing (no error: the frame
        // is concealed instead). The `end` samples nearest the packet are not encoded.
        let covered = match (usize::try_from(reach), usize::try_from(end)) {
            (Ok(reach), Ok(end)) if reach > end => (end, reach),
            _ => (0, 0),
        };
        self.parsed = Some((packet.to_vec(), covered));
        Ok(covered)
    }

    fn check_packet(&self, packet: &[u8], op: &'static str) -> Result<()> {
        if packet.is_empty() {
            return Err(Error::EmptyPacket);
        }
        if packet.len() > MAX_PACKET_BYTES {
            return Err(Error::PacketSize(packet.len()));
        }
        let expected = self.format.samples_per_frame();
        // SAFETY: `packet` is a valid slice of the length given.
        let actual = unsafe {
            sys::opus_packet_get_nb_samples(
                packet.as_ptr(),
                packet.len() as i32,
                self.format.sample_rate as i32,
            )
        };
        let actual = check(op, actual)?;
        if actual != expected {
            return Err(Error::PacketDuration { expected, actual });
        }
        Ok(())
    }

    fn run(&mut self, packet: &[u8], fec: bool, op: &'static str) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.format.frame_len()];
        let spf = self.format.samples_per_frame() as i32;
        // SAFETY: `packet` is a checked, non-empty slice; `out` holds `spf` samples per channel.
        let n = unsafe {
            sys::opus_decode_float(
                self.state.as_ptr(),
                packet.as_ptr(),
                packet.len() as i32,
                out.as_mut_ptr(),
                spf,
                i32::from(fec),
            )
        };
        self.check_decoded(check(op, n)?)?;
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

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: each state was created in `new`, is owned by self alone and freed once.
        unsafe {
            sys::opus_dred_free(self.dred.as_ptr());
            sys::opus_dred_decoder_destroy(self.dred_decoder.as_ptr());
            sys::opus_decoder_destroy(self.state.as_ptr());
        }
    }
}
