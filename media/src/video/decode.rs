//! H.264 decoding that survives anything the network hands it.
//!
//! The decoder starts, and restarts after any error, in a "waiting for a keyframe" state: until
//! a packet with an IDR slice decodes, packets with other slices are refused with
//! [`Error::NeedKeyframe`] (ask the sender for a keyframe) and never reach openh264, so no
//! picture built on a missing reference is ever returned.
//!
//! openh264's Rust wrapper has no panicking path for bad input (checked for 0.9: decode errors
//! come back as `Err`, null pictures as `None`), so there is no `catch_unwind` here.

use openh264::decoder::{DecodedYUV, Flush};
use openh264::formats::YUVSource;
use openh264::{OpenH264API, nal_units};

use super::frame::{FrameError, I420, check_size};

/// NAL unit type of a slice of an IDR picture.
const NAL_IDR: u8 = 5;
/// NAL unit types 1..=5 carry picture slices.
const NAL_SLICES: std::ops::RangeInclusive<u8> = 1..=5;

/// Why a packet produced no picture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The packet is not an Annex B H.264 stream (e.g. empty, or no start code).
    #[error("not an H.264 Annex B packet: {0}")]
    Malformed(&'static str),
    /// The decoder has no valid reference (start of stream or after an error) and the packet
    /// has no IDR slice. Ask the sender for a keyframe.
    #[error("waiting for a keyframe; ask the sender for one")]
    NeedKeyframe,
    /// openh264 rejected the packet; the decoder now waits for a keyframe.
    #[error("corrupt H.264 data, waiting for a keyframe: {0}")]
    Corrupt(String),
    /// The stream decoded to a picture size this crate does not handle.
    #[error("decoded picture is unusable: {0}")]
    Picture(#[from] FrameError),
}

/// An H.264 decoder for one stream. Feed it whole access units (one [`Encoded`] each).
///
/// [`Encoded`]: super::Encoded
pub struct Decoder {
    inner: openh264::decoder::Decoder,
    waiting_for_keyframe: bool,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("waiting_for_keyframe", &self.waiting_for_keyframe)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// Creates a decoder that waits for its first keyframe, for streams without B-frames
    /// (what [`Encoder`](super::Encoder) makes): each access unit gives its picture at once.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if openh264 cannot be set up (not expected).
    pub fn new() -> Result<Self, Error> {
        Self::with_flush(Flush::Flush)
    }

    /// Creates a decoder for streams with B-frames (files): pictures come out in display
    /// order, a few access units late, and [`flush`](Self::flush) gives the last ones at the
    /// end of the stream. (openh264 0.9's default, flushing a picture after each access unit
    /// that gave none, hands B-frame streams out in decode order and then fails.)
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if openh264 cannot be set up (not expected).
    pub fn reordering() -> Result<Self, Error> {
        Self::with_flush(Flush::NoFlush)
    }

    fn with_flush(flush: Flush) -> Result<Self, Error> {
        let config = openh264::decoder::DecoderConfig::new().flush_after_decode(flush);
        let inner = openh264::decoder::Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(Self {
            inner,
            waiting_for_keyframe: true,
        })
    }

    /// `true` until a keyframe decodes, and again after any error.
    pub fn waiting_for_keyframe(&self) -> bool {
        self.waiting_for_keyframe
    }

    /// Decodes one access unit (Annex B). Returns `None` if it held no complete picture
    /// (e.g. only parameter sets).
    ///
    /// # Errors
    ///
    /// See [`Error`]; after any error except [`Error::Malformed`] the decoder waits for the next
    /// keyframe. It never panics on bad input.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Option<I420>, Error> {
        let (has_slice, has_idr) = scan(packet)?;
        if self.waiting_for_keyframe && has_slice && !has_idr {
            return Err(Error::NeedKeyframe);
        }
        let picture = match self.inner.decode(packet) {
            Ok(Some(yuv)) => copy_picture(&yuv),
            // With B-frames a keyframe's picture can come later; it decoded, so stop waiting.
            Ok(None) => {
                if has_idr {
                    self.waiting_for_keyframe = false;
                }
                return Ok(None);
            }
            Err(e) => Err(Error::Corrupt(describe(&e))),
        };
        match picture {
            Ok(frame) if has_idr => {
                self.waiting_for_keyframe = false;
                Ok(Some(frame))
            }
            // A picture flushed by a non-slice packet while waiting cannot be trusted.
            Ok(_) if self.waiting_for_keyframe => Ok(None),
            Ok(frame) => Ok(Some(frame)),
            Err(e) => {
                self.waiting_for_keyframe = true;
                Err(e)
            }
        }
    }

    /// Hands out the pictures openh264 still holds (with B-frames it keeps a few to put them in
    /// display order); call at the end of a stream. The decoder then waits for a keyframe.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if openh264 fails to flush, [`Error::Picture`] for an unusable picture.
    pub fn flush(&mut self) -> Result<Vec<I420>, Error> {
        let waiting = std::mem::replace(&mut self.waiting_for_keyframe, true);
        let pictures = self
            .inner
            .flush_remaining()
            .map_err(|e| Error::Corrupt(describe(&e)))?;
        if waiting {
            return Ok(Vec::new());
        }
        pictures.iter().map(copy_picture).collect()
    }
}

/// Checks the Annex B framing and reports `(has a slice, has an IDR slice)`.
fn scan(packet: &[u8]) -> Result<(bool, bool), Error> {
    if packet.is_empty() {
        return Err(Error::Malformed("empty packet"));
    }
    let mut any = false;
    let (mut has_slice, mut has_idr) = (false, false);
    // Each unit starts with 00 00 01 (a leading zero of a 4-byte start code ends the previous
    // unit), so the NAL header is the byte after the start code.
    for unit in nal_units(packet) {
        let Some(&header) = unit.get(3) else {
            return Err(Error::Malformed("NAL unit without a header"));
        };
        if header & 0x80 != 0 {
            return Err(Error::Malformed("forbidden_zero_bit is set"));
        }
        any = true;
        let kind = header & 0x1f;
        has_slice |= NAL_SLICES.contains(&kind);
        has_idr |= kind == NAL_IDR;
    }
    if any {
        Ok((has_slice, has_idr))
    } else {
        Err(Error::Malformed("no start code"))
    }
}

/// Names the flags of an openh264 decoding state (`DECODING_STATE` in `codec_def.h`).
fn describe(error: &openh264::Error) -> String {
    const FLAGS: [(i64, &str); 7] = [
        (0x01, "frame pending"),
        (0x02, "reference frame lost"),
        (0x04, "bitstream error"),
        (0x08, "dependent layer lost"),
        (0x10, "no SPS/PPS yet"),
        (0x20, "error concealed"),
        (0x40, "reference list empty"),
    ];
    let code = error.native_code();
    let names: Vec<&str> = FLAGS
        .iter()
        .filter(|(flag, _)| code & flag != 0)
        .map(|(_, name)| *name)
        .collect();
    if names.is_empty() {
        error.to_string()
    } else {
        names.join(", ")
    }
}

/// Copies openh264's strided picture into a tightly packed [`I420`].
fn copy_picture(yuv: &DecodedYUV<'_>) -> Result<I420, Error> {
    let (width, height) = yuv.dimensions();
    let (w, h) = (
        u32::try_from(width).map_err(|_| Error::Corrupt("picture width overflows".into()))?,
        u32::try_from(height).map_err(|_| Error::Corrupt("picture height overflows".into()))?,
    );
    check_size(w, h)?;
    let mut frame = I420::new(w, h)?;
    let (y_stride, u_stride, v_stride) = yuv.strides();
    let (y, u, v) = frame.planes_mut();
    copy_plane(yuv.y(), y_stride, y, width)?;
    copy_plane(yuv.u(), u_stride, u, width / 2)?;
    copy_plane(yuv.v(), v_stride, v, width / 2)?;
    Ok(frame)
}

/// Copies rows of `width` bytes from `src` (rows `stride` apart) into the packed `dst`.
fn copy_plane(src: &[u8], stride: usize, dst: &mut [u8], width: usize) -> Result<(), Error> {
    if stride < width {
        return Err(Error::Corrupt(
            "picture stride is smaller than its width".into(),
        ));
    }
    for (row, out) in dst.chunks_exact_mut(width).enumerate() {
        let start = row * stride;
        let line = src
            .get(start..start + width)
            .ok_or_else(|| Error::Corrupt("picture buffer is shorter than its size".into()))?;
        out.copy_from_slice(line);
    }
    Ok(())
}
