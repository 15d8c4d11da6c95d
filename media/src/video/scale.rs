//! Scaling [`I420`] pictures, and choosing the size to scale to.
//!
//! [`fit`] picks an output size for a source (aspect kept, never upscaled), [`low_layer_size`]
//! the size of the low simulcast layer, and a [`Scaler`] scales each plane with
//! `fast_image_resize` (SIMD, bilinear). A [`Scaler`] keeps its work buffers, so a per-frame loop
//! that reuses one and calls [`Scaler::scale_into`] does not allocate; [`scale`] and
//! [`scale_into`] are the one-off forms.
//!
//! ```
//! use livestage_media::video::{I420, scale};
//!
//! let (width, height) = scale::fit(1920, 1080, 1280, 1280);
//! assert_eq!((width, height), (1280, 720));
//! assert_eq!(scale::low_layer_size(width, height), (640, 360));
//! let small = scale::scale(&I420::new(1920, 1080)?, width, height)?;
//! assert_eq!(small.size(), (1280, 720));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use fast_image_resize::images::{CroppedImageMut, Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::frame::{FrameError, I420, MAX_HEIGHT, MAX_WIDTH, MIN_HEIGHT, MIN_WIDTH};

/// The largest size within `max_width`x`max_height` (and within [`MAX_WIDTH`]x[`MAX_HEIGHT`])
/// that keeps the aspect ratio of `src_width`x`src_height`, never larger than the source.
///
/// Both sides are even and at least [`MIN_WIDTH`]x[`MIN_HEIGHT`], so the result is always a
/// valid [`I420`] size; a source smaller than that minimum (or empty) gets the minimum.
pub fn fit(src_width: u32, src_height: u32, max_width: u32, max_height: u32) -> (u32, u32) {
    let max_width = u64::from(max_width.min(MAX_WIDTH));
    let max_height = u64::from(max_height.min(MAX_HEIGHT));
    let (src_width, src_height) = (u64::from(src_width), u64::from(src_height));
    let (width, height) = if src_width <= max_width && src_height <= max_height {
        (src_width, src_height)
    } else if src_width * max_height <= src_height * max_width {
        // Height is the limit.
        (src_width * max_height / src_height, max_height)
    } else {
        (max_width, src_height * max_width / src_width)
    };
    (even(width).max(MIN_WIDTH), even(height).max(MIN_HEIGHT))
}

/// The size of the low layer published beside a `width`x`height` video: half of each side
/// (a quarter of the area), rounded down to even and at least [`MIN_WIDTH`]x[`MIN_HEIGHT`].
pub fn low_layer_size(width: u32, height: u32) -> (u32, u32) {
    (
        even(u64::from(width / 2)).max(MIN_WIDTH),
        even(u64::from(height / 2)).max(MIN_HEIGHT),
    )
}

/// `value` rounded down to even, as a `u32` (callers pass values at most [`MAX_WIDTH`]).
fn even(value: u64) -> u32 {
    u32::try_from(value & !1).unwrap_or(u32::MAX - 1)
}

/// Scales I420 pictures, keeping its work buffers between calls.
pub struct Scaler {
    resizer: Resizer,
    options: ResizeOptions,
}

impl std::fmt::Debug for Scaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scaler")
    }
}

impl Default for Scaler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scaler {
    /// A bilinear scaler, using the best SIMD extensions of this CPU.
    pub fn new() -> Self {
        Self {
            resizer: Resizer::new(),
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        }
    }

    /// Scales `src` to the size of `dst` (any valid size, up or down), writing into `dst`.
    pub fn scale_into(&mut self, src: &I420, dst: &mut I420) {
        let (src_w, src_h) = src.size();
        let (dst_w, dst_h) = dst.size();
        let (y, u, v) = dst.planes_mut();
        self.plane((src_w, src_h), src.y(), (dst_w, dst_h), y);
        let (src_cw, src_ch, dst_cw, dst_ch) = (src_w / 2, src_h / 2, dst_w / 2, dst_h / 2);
        self.plane((src_cw, src_ch), src.u(), (dst_cw, dst_ch), u);
        self.plane((src_cw, src_ch), src.v(), (dst_cw, dst_ch), v);
    }

    /// Scales `src` to a new `width`x`height` picture.
    ///
    /// # Errors
    ///
    /// If the size is odd or out of range (see [`super::frame::check_size`]).
    pub fn scale(&mut self, src: &I420, width: u32, height: u32) -> Result<I420, FrameError> {
        let mut dst = I420::new(width, height)?;
        self.scale_into(src, &mut dst);
        Ok(dst)
    }

    /// Scales the `area` of `src` (`[left, top, width, height]` in its pixels, fractions allowed,
    /// clamped to the picture) into the `window` (`[left, top, width, height]`) of `dst`.
    ///
    /// `src` and `dst` are `(pixels, width, height)`, tightly packed, both of `kind` (`U8` for a
    /// plane, `U8x4` for RGBA, whose alpha is then respected). The window must lie inside `dst`
    /// and not be empty. An area of the window's size at whole pixels is a plain copy.
    pub(crate) fn area(
        &mut self,
        kind: PixelType,
        src: (&[u8], u32, u32),
        area: [f64; 4],
        dst: (&mut [u8], u32, u32),
        window: [u32; 4],
    ) {
        /// The narrowest area kept, in source pixels: fast_image_resize rejects an empty one.
        const MIN_SPAN: f64 = 1e-3;
        /// Kept between the area's far edge and the picture's, against rounding past it.
        const MARGIN: f64 = 1e-9;
        let (src_pixels, src_w, src_h) = src;
        let (dst_pixels, dst_w, dst_h) = dst;
        let (w, h) = (f64::from(src_w), f64::from(src_h));
        let [left, top, width, height] = area;
        let left = left.clamp(0.0, w - MIN_SPAN);
        let top = top.clamp(0.0, h - MIN_SPAN);
        let inside = |start: f64, span: f64, end: f64| {
            let span = span.max(MIN_SPAN / 2.0);
            if start + span <= end {
                span
            } else {
                end - start - MARGIN
            }
        };
        let width = inside(left, width, w);
        let height = inside(top, height, h);
        let src = ImageRef::new(src_w, src_h, src_pixels, kind)
            .expect("the caller passes a tightly packed picture of the stated size and kind");
        let mut dst = Image::from_slice_u8(dst_w, dst_h, dst_pixels, kind)
            .expect("the caller passes a tightly packed picture of the stated size and kind");
        let [x, y, window_w, window_h] = window;
        let mut window = CroppedImageMut::new(&mut dst, x, y, window_w, window_h)
            .expect("the caller passes a window inside the destination");
        let options = self.options.crop(left, top, width, height);
        self.resizer
            .resize(&src, &mut window, &options)
            .expect("the area was clamped inside a non-empty source of the same kind");
    }

    fn plane(&mut self, src_size: (u32, u32), src: &[u8], dst_size: (u32, u32), dst: &mut [u8]) {
        if src_size == dst_size {
            dst.copy_from_slice(src);
            return;
        }
        let src = ImageRef::new(src_size.0, src_size.1, src, PixelType::U8)
            .expect("an I420 plane holds exactly its checked size, and U8 needs no alignment");
        let mut dst = Image::from_slice_u8(dst_size.0, dst_size.1, dst, PixelType::U8)
            .expect("an I420 plane holds exactly its checked size, and U8 needs no alignment");
        self.resizer
            .resize(&src, &mut dst, &self.options)
            .expect("both planes are non-empty U8 images");
    }
}

/// Scales `src` to the size of `dst`, writing into `dst`. A loop should keep a [`Scaler`].
pub fn scale_into(src: &I420, dst: &mut I420) {
    Scaler::new().scale_into(src, dst);
}

/// Scales `src` to a new `width`x`height` picture. A loop should keep a [`Scaler`].
///
/// # Errors
///
/// If the size is odd or out of range (see [`super::frame::check_size`]).
pub fn scale(src: &I420, width: u32, height: u32) -> Result<I420, FrameError> {
    Scaler::new().scale(src, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_the_aspect_and_never_upscales() {
        assert_eq!(fit(1920, 1080, 1920, 1080), (1920, 1080));
        assert_eq!(fit(3840, 2160, 1920, 1080), (1920, 1080));
        assert_eq!(fit(1280, 720, 1920, 1080), (1280, 720));
        assert_eq!(fit(1080, 1920, 1920, 1080), (606, 1080));
        assert_eq!(fit(2560, 1440, 1000, 1000), (1000, 562));
        assert_eq!(fit(801, 601, 1920, 1080), (800, 600));
        assert_eq!(fit(5120, 1440, 7680, 4320), (3840, 1080));
    }

    #[test]
    fn fit_never_goes_below_the_minimum() {
        assert_eq!(fit(10, 4, 1920, 1080), (MIN_WIDTH, MIN_HEIGHT));
        assert_eq!(fit(0, 0, 1920, 1080), (MIN_WIDTH, MIN_HEIGHT));
        assert_eq!(fit(1920, 1080, 0, 0), (MIN_WIDTH, MIN_HEIGHT));
        assert_eq!(fit(4000, 10, 1920, 1080), (1920, MIN_HEIGHT));
    }

    #[test]
    fn the_low_layer_is_a_quarter_of_the_area() {
        assert_eq!(low_layer_size(1920, 1080), (960, 540));
        assert_eq!(low_layer_size(1280, 720), (640, 360));
        assert_eq!(low_layer_size(606, 1080), (302, 540));
        assert_eq!(low_layer_size(16, 16), (MIN_WIDTH, MIN_HEIGHT));
    }
}
