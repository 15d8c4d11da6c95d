//! Still pictures: a PNG or JPEG as an I420 frame, and a [`StillSource`] that shows it as video
//! (a "be right back" card).
//!
//! [`open`] and [`decode`] read a picture of any size (PNG with the `image` crate, JPEG with
//! `zune-jpeg` in strict mode, so that a truncated file is an error), composite any
//! transparency onto black, scale a picture larger than the limit (3840x2160, or a smaller
//! `max_size`) down into it keeping its aspect ratio (`fast_image_resize`, Lanczos3), crop an
//! odd side by one pixel, and convert to I420. Pictures under 16x16 are refused.
//!
//! ```no_run
//! use livestage_media::video::still::{self, StillSource};
//!
//! let card = still::open("brb.png")?;
//! let mut source = StillSource::new(card, 5.0);
//! if let Some((frame, capture_us)) = source.latest() {
//!     // Hand `frame` to an encoder set up for `source.size()`.
//!     # let _ = (frame, capture_us);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{PixelType, Resizer};
use image::{DynamicImage, ImageError, ImageFormat, ImageReader, RgbImage};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::convert::bgra_to_i420_into;
use super::frame::{I420, MAX_HEIGHT, MAX_WIDTH, MIN_HEIGHT, MIN_WIDTH};
use super::scale;

/// The largest JPEG side decoded (8192x8192 RGB is 200 MB); PNG is limited by `image`'s
/// default of 512 MiB per picture.
const MAX_JPEG_SIDE: usize = 8192;

/// Why a picture could not be used; each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StillError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}; check the path and its permissions")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        reason: String,
    },
    /// The data is not a PNG or JPEG picture.
    #[error("{0} is not a PNG or JPEG picture; use one of those")]
    NotAnImage(String),
    /// The picture is damaged, truncated or too large to decode.
    #[error("{what} cannot be decoded ({reason}); the file may be truncated or damaged")]
    Decode {
        /// The file, or "the picture".
        what: String,
        /// What the decoder said.
        reason: String,
    },
    /// The picture is smaller than the smallest frame.
    #[error(
        "the picture is {width}x{height}; a still must be at least {MIN_WIDTH}x{MIN_HEIGHT} \
         pixels"
    )]
    TooSmall {
        /// The picture's width.
        width: u32,
        /// The picture's height.
        height: u32,
    },
}

/// Reads the PNG or JPEG picture at `path` as an I420 frame of at most 3840x2160.
///
/// # Errors
///
/// [`StillError::Read`] when the file cannot be read; otherwise as [`decode`].
pub fn open(path: impl AsRef<Path>) -> Result<I420, StillError> {
    open_within(path, (MAX_WIDTH, MAX_HEIGHT))
}

/// Reads the PNG or JPEG picture at `path` as an I420 frame that fits `max_size`
/// (`(width, height)`; at most 3840x2160).
///
/// # Errors
///
/// As [`open`].
pub fn open_within(path: impl AsRef<Path>, max_size: (u32, u32)) -> Result<I420, StillError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| StillError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    decode_as(&bytes, max_size, &path.display().to_string())
}

/// Decodes a PNG or JPEG picture held in memory as an I420 frame that fits `max_size`
/// (`(width, height)`; at most 3840x2160).
///
/// # Errors
///
/// [`StillError::NotAnImage`], [`StillError::Decode`] for damaged or truncated data,
/// [`StillError::TooSmall`] under 16x16.
pub fn decode(bytes: &[u8], max_size: (u32, u32)) -> Result<I420, StillError> {
    decode_as(bytes, max_size, "the picture")
}

/// [`decode`], naming the picture `what` in errors.
fn decode_as(bytes: &[u8], max_size: (u32, u32), what: &str) -> Result<I420, StillError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .expect("reading from memory does not fail");
    let picture = match reader.format() {
        Some(ImageFormat::Jpeg) => jpeg(bytes).map_err(|reason| StillError::Decode {
            what: what.to_owned(),
            reason,
        })?,
        Some(ImageFormat::Png) => reader.decode().map_err(|e| match e {
            ImageError::Unsupported(_) => StillError::NotAnImage(what.to_owned()),
            e => StillError::Decode {
                what: what.to_owned(),
                reason: e.to_string(),
            },
        })?,
        _ => return Err(StillError::NotAnImage(what.to_owned())),
    };
    let (width, height) = (picture.width(), picture.height());
    if width < MIN_WIDTH || height < MIN_HEIGHT {
        return Err(StillError::TooSmall { width, height });
    }
    let mut pixels = picture.into_rgba8().into_raw();
    onto_black_as_bgra(&mut pixels);
    let out = scale::fit(width, height, max_size.0, max_size.1);
    let mut frame = I420::new(out.0, out.1).expect("scale::fit always gives a valid size");
    if out == (width & !1, height & !1) {
        // At most an odd column and row to leave out.
        bgra_to_i420_into(&pixels, width * 4, &mut frame)
            .expect("the picture holds width x height BGRA pixels");
    } else {
        let resized = resize(&pixels, (width, height), out);
        bgra_to_i420_into(&resized, out.0 * 4, &mut frame)
            .expect("the resized picture has the frame's size");
    }
    Ok(frame)
}

/// Decodes a JPEG with `zune-jpeg` in strict mode (the decoder `image` uses, which there
/// returns a truncated file's picture, its missing part filled in, rather than an error).
fn jpeg(bytes: &[u8]) -> Result<DynamicImage, String> {
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(MAX_JPEG_SIDE)
        .set_max_height(MAX_JPEG_SIDE)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let pixels = decoder.decode().map_err(|e| e.to_string())?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| "the headers give no picture size".to_owned())?;
    let size = (u32::try_from(width), u32::try_from(height));
    let (Ok(width), Ok(height)) = size else {
        return Err(format!("a {width}x{height} picture is too large"));
    };
    RgbImage::from_raw(width, height, pixels)
        .map(DynamicImage::ImageRgb8)
        .ok_or_else(|| format!("the decoder gave too few pixels for {width}x{height}"))
}

/// Composites RGBA pixels onto black, in place, and swaps them to opaque BGRA.
fn onto_black_as_bgra(pixels: &mut [u8]) {
    for px in pixels.chunks_exact_mut(4) {
        let alpha = u16::from(px[3]);
        // x * alpha / 255, rounded; at most 255.
        let over = |x: u8| ((u16::from(x) * alpha + 127) / 255) as u8;
        let (r, g, b) = (over(px[0]), over(px[1]), over(px[2]));
        px.copy_from_slice(&[b, g, r, 255]);
    }
}

/// `pixels` (opaque BGRA, `from` in size) resized to `to`.
fn resize(pixels: &[u8], from: (u32, u32), to: (u32, u32)) -> Vec<u8> {
    let mut resized = vec![0; to.0 as usize * to.1 as usize * 4];
    let src = ImageRef::new(from.0, from.1, pixels, PixelType::U8x4)
        .expect("the picture holds width x height x 4 bytes");
    let mut dst = Image::from_slice_u8(to.0, to.1, &mut resized, PixelType::U8x4)
        .expect("the buffer was just sized for the destination");
    Resizer::new()
        .resize(&src, &mut dst, None)
        .expect("both pictures are non-empty U8x4 images");
    resized
}

/// One picture shown as video: each tick of its frame rate, [`latest`](Self::latest) hands out
/// a copy with a fresh capture time, so it can be published like a camera.
///
/// Each frame is a copy of the picture (`width * height * 1.5` bytes: 12.4 MB at 3840x2160,
/// 3.1 MB at 1920x1080); [`picture`](Self::picture) gives it without copying.
#[derive(Debug, Clone)]
pub struct StillSource {
    picture: I420,
    period: Duration,
    /// When the next frame is due; `None` before the first.
    due: Option<Instant>,
}

impl StillSource {
    /// Shows `picture` at `fps` frames per second (clamped to 1..=60; 5 when not a number).
    pub fn new(picture: I420, fps: f32) -> Self {
        let fps = if fps.is_finite() {
            fps.clamp(1.0, 60.0)
        } else {
            5.0
        };
        Self {
            picture,
            period: Duration::from_secs_f32(1.0 / fps),
            due: None,
        }
    }

    /// Shows the picture at `path` (see [`open`]) at `fps` frames per second.
    ///
    /// # Errors
    ///
    /// As [`open`].
    pub fn open(path: impl AsRef<Path>, fps: f32) -> Result<Self, StillError> {
        Ok(Self::new(open(path)?, fps))
    }

    /// `(width, height)` of the frames.
    pub fn size(&self) -> (u32, u32) {
        self.picture.size()
    }

    /// The picture, without copying it.
    pub fn picture(&self) -> &I420 {
        &self.picture
    }

    /// A copy of the picture with the capture time now (microseconds since the Unix epoch)
    /// when a frame is due, else `None`. The first call always gives one.
    pub fn latest(&mut self) -> Option<(I420, u64)> {
        let now = Instant::now();
        let due = self.due.unwrap_or(now);
        if now < due {
            return None;
        }
        // Keep the rate when polled coarsely; start over after a long pause.
        let next = due + self.period;
        self.due = Some(if next > now { next } else { now + self.period });
        Some((self.picture.clone(), super::now_us()))
    }

    /// Always `None`: a still never ends. (Here so that it reads like the other sources.)
    pub fn ended(&self) -> Option<StillError> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparency_goes_onto_black() {
        let mut pixels = [255, 128, 0, 255, 255, 128, 0, 0, 200, 100, 50, 128];
        onto_black_as_bgra(&mut pixels);
        assert_eq!(pixels, [0, 128, 255, 255, 0, 0, 0, 255, 25, 50, 100, 255]);
    }

    #[test]
    fn a_still_gives_one_frame_per_tick() {
        let mut source = StillSource::new(I420::new(32, 16).expect("a valid size"), 20.0);
        let (frame, first) = source.latest().expect("the first call gives a frame");
        assert_eq!(frame.size(), (32, 16));
        assert!(source.latest().is_none(), "the next frame is 50 ms away");
        std::thread::sleep(Duration::from_millis(60));
        let (_, second) = source.latest().expect("a frame is due again");
        assert!(second > first, "each frame has a fresh capture time");
        assert_eq!(source.ended(), None);
    }
}
