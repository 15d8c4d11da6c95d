//! Camera pixel formats into [`I420`]: YUYV (YUY2), NV12 and MJPEG.
//!
//! Each conversion reads a `width`x`height` picture whose rows may be padded (`stride` bytes
//! apart) and writes it into an [`I420`] the caller keeps, of the picture's size rounded down to
//! even: a picture with an odd side loses its last column or row. Bad data (a short buffer, a
//! stride too small for a row, a damaged JPEG) is an [`Error`], never a panic.
//!
//! - YUYV: luma is copied, chroma is the mean of each pair of rows (4:2:2 to 4:2:0). Written
//!   here rather than taken from `yuvutils-rs` 0.8, whose YUYV converters take no row padding
//!   and, tried here (0.8.3, AVX2, 1280-pixel rows), left the last 16 pixels of each row
//!   unwritten.
//! - NV12: luma is copied, the interleaved chroma plane is split into U and V.
//! - MJPEG: decoded by `zune-jpeg` to RGB, then converted to I420 by `yuvutils-rs` (SIMD). JPEG
//!   is full-range YCbCr and the I420 here is limited range, so the samples change range either
//!   way; going through RGB lets both crates use their SIMD paths. Webcam frames that leave out
//!   the Huffman tables (as Motion JPEG allows) are decoded with the standard tables.
//!
//! YUYV and NV12 are BT.601 limited range already and are not colour-converted.
//!
//! ```
//! use livestage_media::video::I420;
//! use livestage_media::video::pixel::{Converter, Format};
//!
//! // A 17x16 white YUYV picture whose rows are padded to 40 bytes: the odd column goes.
//! let row = [[235u8, 128, 235, 128].repeat(9), vec![0; 4]].concat();
//! let yuyv = row.repeat(16);
//! let mut frame = I420::new(16, 16)?;
//! Converter::new().convert(Format::Yuyv, &yuyv, 17, 16, 40, &mut frame)?;
//! assert!(frame.y().iter().all(|&y| y == 235));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::frame::{I420, MAX_HEIGHT, MAX_WIDTH};

/// A pixel format a camera delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Motion JPEG: each frame a JPEG picture (usually 4:2:2 YCbCr).
    Mjpeg,
    /// Packed 4:2:2, `Y0 U Y1 V` (also called YUY2), 2 bytes per pixel.
    Yuyv,
    /// 4:2:0 with a luma plane followed by one interleaved `U V` plane.
    Nv12,
    /// Any other format, by its four-character code; listed, but not converted.
    Other([u8; 4]),
}

impl Format {
    /// The format with this four-character code (`*b"MJPG"`, `*b"YUYV"`, `*b"NV12"`...).
    pub fn from_fourcc(code: [u8; 4]) -> Self {
        match &code {
            b"MJPG" => Self::Mjpeg,
            b"YUYV" | b"YUY2" => Self::Yuyv,
            b"NV12" => Self::Nv12,
            _ => Self::Other(code),
        }
    }

    /// The four-character code video4linux uses for this format.
    pub fn fourcc(&self) -> [u8; 4] {
        match self {
            Self::Mjpeg => *b"MJPG",
            Self::Yuyv => *b"YUYV",
            Self::Nv12 => *b"NV12",
            Self::Other(code) => *code,
        }
    }

    /// `true` for the formats a [`Converter`] turns into I420.
    pub fn is_supported(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

/// As its name (`"MJPEG"`, `"YUYV"`, `"NV12"`, or the FourCC of another format).
impl serde::Serialize for Format {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Mjpeg => f.write_str("MJPEG"),
            Self::Yuyv => f.write_str("YUYV"),
            Self::Nv12 => f.write_str("NV12"),
            Self::Other(code) => f.write_str(&String::from_utf8_lossy(code)),
        }
    }
}

/// Why a camera picture could not be converted; the message says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The format is not one of those converted here.
    #[error("{0} pictures cannot be converted; use MJPEG, YUYV or NV12")]
    Unsupported(Format),
    /// The I420 does not have the picture's size rounded down to even.
    #[error(
        "a {width}x{height} {format} picture goes into a {even_width}x{even_height} I420, \
         not {dst_width}x{dst_height}; create the I420 at that size"
    )]
    Size {
        /// The picture's format.
        format: Format,
        /// The picture's width.
        width: u32,
        /// The picture's height.
        height: u32,
        /// The width the I420 must have.
        even_width: u32,
        /// The height the I420 must have.
        even_height: u32,
        /// The I420's width.
        dst_width: u32,
        /// The I420's height.
        dst_height: u32,
    },
    /// Rows are closer together than a row's pixels need.
    #[error(
        "a stride of {stride} bytes is too small for a {width}-pixel {format} row, which needs \
         {needed}; pass the distance between the starts of two rows"
    )]
    Stride {
        /// The picture's format.
        format: Format,
        /// The picture's width.
        width: u32,
        /// The stride given.
        stride: u32,
        /// The smallest stride for this width.
        needed: usize,
    },
    /// The buffer is shorter than the size and stride say.
    #[error(
        "the {format} buffer has {actual} bytes but {width}x{height} at a stride of {stride} \
         needs {expected}; the frame is incomplete or the size is wrong"
    )]
    Short {
        /// The picture's format.
        format: Format,
        /// The picture's width.
        width: u32,
        /// The picture's height.
        height: u32,
        /// The stride given.
        stride: u32,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The JPEG data is damaged, truncated or of a kind the decoder does not take.
    #[error("the MJPEG frame cannot be decoded: {0}")]
    Jpeg(String),
}

/// Converts camera pictures into I420, keeping its work buffer (the decoded JPEG) between
/// frames so that a capture loop does not allocate for it.
#[derive(Debug, Default)]
pub struct Converter {
    /// MJPEG frames decoded to RGB, and patched frames (see [`with_standard_tables`]).
    rgb: Vec<u8>,
    patched: Vec<u8>,
}

impl Converter {
    /// A converter with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Converts a `width`x`height` picture in `format` whose rows are `stride` bytes apart
    /// (ignored for MJPEG, whose size is read from the JPEG and must match) into `dst`, which
    /// must be `width`x`height` rounded down to even.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for [`Format::Other`]; otherwise as [`yuyv_to_i420_into`],
    /// [`nv12_to_i420_into`] and [`Converter::mjpeg_into`].
    pub fn convert(
        &mut self,
        format: Format,
        data: &[u8],
        width: u32,
        height: u32,
        stride: u32,
        dst: &mut I420,
    ) -> Result<(), Error> {
        match format {
            Format::Yuyv => yuyv_to_i420_into(data, width, height, stride, dst),
            Format::Nv12 => nv12_to_i420_into(data, width, height, stride, dst),
            Format::Mjpeg => {
                let size = self.mjpeg_into(data, dst)?;
                if size != (width, height) {
                    return Err(Error::Jpeg(format!(
                        "the frame is {}x{} but the camera said {width}x{height}",
                        size.0, size.1
                    )));
                }
                Ok(())
            }
            Format::Other(_) => Err(Error::Unsupported(format)),
        }
    }

    /// Decodes the JPEG picture `jpeg` into `dst`, which must have its size rounded down to
    /// even, and returns the JPEG's size.
    ///
    /// # Errors
    ///
    /// [`Error::Jpeg`] for damaged or truncated data, or a JPEG larger than 4K UHD;
    /// [`Error::Size`] when `dst` does not have its size.
    pub fn mjpeg_into(&mut self, jpeg: &[u8], dst: &mut I420) -> Result<(u32, u32), Error> {
        let jpeg = with_standard_tables(jpeg, &mut self.patched);
        // One spare pixel on each side: an odd-sized frame is cropped to even.
        let options = DecoderOptions::default()
            .set_strict_mode(true)
            .set_max_width(MAX_WIDTH as usize + 1)
            .set_max_height(MAX_HEIGHT as usize + 1)
            .jpeg_set_out_colorspace(ColorSpace::RGB);
        let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
        decoder
            .decode_headers()
            .map_err(|e| Error::Jpeg(e.to_string()))?;
        let (width, height) = decoder
            .dimensions()
            .and_then(|(w, h)| Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?)))
            .ok_or_else(|| Error::Jpeg("the headers give no picture size".to_owned()))?;
        check_dst(Format::Mjpeg, width, height, dst)?;
        let len = decoder
            .output_buffer_size()
            .ok_or_else(|| Error::Jpeg("the headers give no picture size".to_owned()))?;
        self.rgb.resize(len, 0);
        decoder
            .decode_into(&mut self.rgb)
            .map_err(|e| Error::Jpeg(e.to_string()))?;
        if len != width as usize * height as usize * 3 {
            return Err(Error::Jpeg(format!(
                "{len} bytes of RGB for a {width}x{height} picture"
            )));
        }
        let (w, h) = dst.size();
        let (y, u, v) = dst.planes_mut();
        let mut planar = YuvPlanarImageMut {
            y_plane: BufferStoreMut::Borrowed(y),
            y_stride: w,
            u_plane: BufferStoreMut::Borrowed(u),
            u_stride: w / 2,
            v_plane: BufferStoreMut::Borrowed(v),
            v_stride: w / 2,
            width: w,
            height: h,
        };
        yuvutils_rs::rgb_to_yuv420(
            &mut planar,
            &self.rgb,
            width * 3,
            YuvRange::Limited,
            YuvStandardMatrix::Bt601,
            YuvConversionMode::Balanced,
        )
        .expect("the RGB holds width x height pixels and the I420 is its even crop");
        Ok((width, height))
    }
}

/// Checks that `dst` is `width`x`height` rounded down to even.
fn check_dst(format: Format, width: u32, height: u32, dst: &I420) -> Result<(), Error> {
    let even = (width & !1, height & !1);
    if dst.size() == even {
        return Ok(());
    }
    Err(Error::Size {
        format,
        width,
        height,
        even_width: even.0,
        even_height: even.1,
        dst_width: dst.width(),
        dst_height: dst.height(),
    })
}

/// Checks the stride and the length of a picture of `rows` rows of `row_bytes` bytes each.
fn check_layout(
    format: Format,
    data: &[u8],
    (width, height): (u32, u32),
    stride: u32,
    (row_bytes, rows): (usize, usize),
) -> Result<(), Error> {
    if (stride as usize) < row_bytes {
        return Err(Error::Stride {
            format,
            width,
            stride,
            needed: row_bytes,
        });
    }
    // The last row need not be padded.
    let expected = stride as usize * (rows - 1) + row_bytes;
    if data.len() < expected {
        return Err(Error::Short {
            format,
            width,
            height,
            stride,
            expected,
            actual: data.len(),
        });
    }
    Ok(())
}

/// Converts a YUYV (YUY2) picture, `width`x`height` with rows `stride` bytes apart (at least
/// `2 * width`, rounded up to whole pixel pairs), into `dst`, which must be its size rounded
/// down to even. The chroma of each pair of rows is averaged.
///
/// # Errors
///
/// [`Error::Size`], [`Error::Stride`] or [`Error::Short`].
pub fn yuyv_to_i420_into(
    data: &[u8],
    width: u32,
    height: u32,
    stride: u32,
    dst: &mut I420,
) -> Result<(), Error> {
    check_dst(Format::Yuyv, width, height, dst)?;
    let row_bytes = width.div_ceil(2) as usize * 4;
    check_layout(
        Format::Yuyv,
        data,
        (width, height),
        stride,
        (row_bytes, height as usize),
    )?;
    let w = dst.width() as usize;
    let stride = stride as usize;
    let (y, u, v) = dst.planes_mut();
    let chroma_rows = u.chunks_exact_mut(w / 2).zip(v.chunks_exact_mut(w / 2));
    for (pair, (luma, (u, v))) in y.chunks_exact_mut(2 * w).zip(chroma_rows).enumerate() {
        let top = &data[2 * pair * stride..][..2 * w];
        let bottom = &data[(2 * pair + 1) * stride..][..2 * w];
        let (luma_top, luma_bottom) = luma.split_at_mut(w);
        // Four pixels at a time in a u64 (the baseline x86-64 target does not vectorise the
        // byte shuffles well: this halves the time), then the last pair if the width is 4n + 2.
        let quads = top.chunks_exact(8).zip(bottom.chunks_exact(8));
        let luma = luma_top
            .chunks_exact_mut(4)
            .zip(luma_bottom.chunks_exact_mut(4));
        let chroma = u.chunks_exact_mut(2).zip(v.chunks_exact_mut(2));
        for ((t, b), ((yt, yb), (u, v))) in quads.zip(luma.zip(chroma)) {
            let t = u64::from_le_bytes(t.try_into().expect("chunks of 8 bytes"));
            let b = u64::from_le_bytes(b.try_into().expect("chunks of 8 bytes"));
            yt.copy_from_slice(&even_bytes(t).to_le_bytes());
            yb.copy_from_slice(&even_bytes(b).to_le_bytes());
            // 16-bit lanes [U0, V0, U1, V1]: the rounded mean of the two rows.
            let c = ((((t >> 8) & LOW_BYTES) + ((b >> 8) & LOW_BYTES) + ONES) >> 1) & LOW_BYTES;
            (u[0], v[0], u[1], v[1]) = (c as u8, (c >> 16) as u8, (c >> 32) as u8, (c >> 48) as u8);
        }
        let done = w / 4 * 4;
        if done < w {
            let (t, b) = (&top[done * 2..], &bottom[done * 2..]);
            (luma_top[done], luma_top[done + 1]) = (t[0], t[2]);
            (luma_bottom[done], luma_bottom[done + 1]) = (b[0], b[2]);
            (u[done / 2], v[done / 2]) = (mean(t[1], b[1]), mean(t[3], b[3]));
        }
    }
    Ok(())
}

/// Converts an NV12 picture, `width`x`height` with both planes' rows `stride` bytes apart (at
/// least `width` rounded up to even) and the chroma plane starting right after `height` luma
/// rows (as video4linux lays it out), into `dst`, which must be its size rounded down to even.
///
/// # Errors
///
/// [`Error::Size`], [`Error::Stride`] or [`Error::Short`].
pub fn nv12_to_i420_into(
    data: &[u8],
    width: u32,
    height: u32,
    stride: u32,
    dst: &mut I420,
) -> Result<(), Error> {
    check_dst(Format::Nv12, width, height, dst)?;
    let row_bytes = width.div_ceil(2) as usize * 2;
    let rows = height as usize + height.div_ceil(2) as usize;
    check_layout(
        Format::Nv12,
        data,
        (width, height),
        stride,
        (row_bytes, rows),
    )?;
    let w = dst.width() as usize;
    let stride = stride as usize;
    let (y, u, v) = dst.planes_mut();
    for (row, luma) in y.chunks_exact_mut(w).enumerate() {
        luma.copy_from_slice(&data[row * stride..][..w]);
    }
    let chroma = &data[height as usize * stride..];
    let rows = u.chunks_exact_mut(w / 2).zip(v.chunks_exact_mut(w / 2));
    for (row, (u, v)) in rows.enumerate() {
        let uv = &chroma[row * stride..][..w];
        for ((u, v), pair) in u.iter_mut().zip(v.iter_mut()).zip(uv.chunks_exact(2)) {
            *u = pair[0];
            *v = pair[1];
        }
    }
    Ok(())
}

/// The low byte of each 16-bit lane.
const LOW_BYTES: u64 = 0x00FF_00FF_00FF_00FF;
/// One in each 16-bit lane.
const ONES: u64 = 0x0001_0001_0001_0001;

/// Bytes 0, 2, 4 and 6 of `x` (little endian), packed.
fn even_bytes(x: u64) -> u32 {
    let lanes = x & LOW_BYTES;
    let pairs = (lanes | (lanes >> 8)) & 0x0000_FFFF_0000_FFFF;
    // The high half is cleared above; the cast keeps the four packed bytes.
    (pairs | (pairs >> 16)) as u32
}

/// The mean of two samples, rounded half up.
fn mean(a: u8, b: u8) -> u8 {
    // (a + b + 1) / 2 without widening: at most 255.
    (a | b) - ((a ^ b) >> 1)
}

/// `jpeg` itself when it defines Huffman tables before its first scan; otherwise a copy in
/// `patched` with an `AVI1` APP0 segment after the start marker, which tells the decoder to use
/// the standard tables, as Motion JPEG frames without tables expect.
fn with_standard_tables<'a>(jpeg: &'a [u8], patched: &'a mut Vec<u8>) -> &'a [u8] {
    if !jpeg.starts_with(&[0xFF, 0xD8]) || defines_huffman_tables(jpeg) {
        return jpeg;
    }
    const AVI1: [u8; 9] = [0xFF, 0xE0, 0x00, 0x07, b'A', b'V', b'I', b'1', 0x00];
    patched.clear();
    patched.extend_from_slice(&jpeg[..2]);
    patched.extend_from_slice(&AVI1);
    patched.extend_from_slice(&jpeg[2..]);
    patched
}

/// `true` when a DHT segment (or an `AVI1` APP0 segment) comes before the first scan; also
/// `true` when the markers cannot be followed, leaving the error to the decoder.
fn defines_huffman_tables(jpeg: &[u8]) -> bool {
    let mut at = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while jpeg.get(at) == Some(&0xFF) && jpeg.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (jpeg.get(at), jpeg.get(at + 1)) else {
            return true;
        };
        at += 2;
        match marker {
            0xC4 => return true,
            0xDA | 0xD9 => return false,
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = jpeg.get(at..at + 2) else {
            return true;
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if marker == 0xE0 && jpeg.get(at + 2..at + 7) == Some(b"AVI1\0") {
            return true;
        }
        if len < 2 {
            return true;
        }
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_rounds_half_up() {
        for (a, b) in [(0, 0), (0, 1), (1, 2), (254, 255), (255, 255), (16, 240)] {
            let expected = ((u16::from(a) + u16::from(b)).div_ceil(2)) as u8;
            assert_eq!(mean(a, b), expected, "mean of {a} and {b}");
        }
    }

    #[test]
    fn yuyv_matches_a_plain_conversion_at_every_width() {
        for width in [16u32, 18, 20, 22, 35] {
            let (height, stride) = (16u32, width.div_ceil(2) * 4 + 6);
            let data: Vec<u8> = (0..stride * height).map(|i| (i * 31 % 251) as u8).collect();
            let mut frame = I420::new(width & !1, height).expect("a valid size");
            yuyv_to_i420_into(&data, width, height, stride, &mut frame).expect("whole data");
            let (w, s) = ((width & !1) as usize, stride as usize);
            for row in 0..height as usize {
                for x in 0..w {
                    let expected = data[row * s + 2 * x];
                    assert_eq!(frame.y()[row * w + x], expected, "{width}: Y at {x},{row}");
                }
            }
            for row in 0..height as usize / 2 {
                for x in 0..w / 2 {
                    let at = |r: usize, k: usize| data[(2 * row + r) * s + 4 * x + k];
                    let i = row * w / 2 + x;
                    assert_eq!(frame.u()[i], mean(at(0, 1), at(1, 1)), "{width}: U at {x}");
                    assert_eq!(frame.v()[i], mean(at(0, 3), at(1, 3)), "{width}: V at {x}");
                }
            }
        }
    }

    #[test]
    fn fourcc_round_trips() {
        for format in [
            Format::Mjpeg,
            Format::Yuyv,
            Format::Nv12,
            Format::Other(*b"GREY"),
        ] {
            assert_eq!(Format::from_fourcc(format.fourcc()), format);
        }
        assert_eq!(Format::Other(*b"GREY").to_string(), "GREY");
    }

    #[test]
    fn tables_are_found_or_added() {
        // SOI, DQT (length 4), DHT (length 2), SOS.
        let with = [
            0xFF, 0xD8, 0xFF, 0xDB, 0, 4, 1, 2, 0xFF, 0xC4, 0, 2, 0xFF, 0xDA,
        ];
        let mut patched = Vec::new();
        assert_eq!(with_standard_tables(&with, &mut patched), &with[..]);
        let without = [0xFF, 0xD8, 0xFF, 0xDB, 0, 4, 1, 2, 0xFF, 0xDA, 0, 2];
        let out = with_standard_tables(&without, &mut patched).to_vec();
        assert_eq!(&out[2..11], b"\xFF\xE0\x00\x07AVI1\x00");
        assert_eq!(&out[11..], &without[2..]);
        // Garbage is left to the decoder, whatever its length field says.
        for garbage in [&[0xFF, 0xD8, 0xFF][..], &[0xFF, 0xD8, 0xFF, 0xE1, 0xFF]] {
            assert_eq!(with_standard_tables(garbage, &mut patched), garbage);
        }
    }
}
