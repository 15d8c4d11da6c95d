//! A synthetic portrait for the beauty filter: a skin-tone face (an ellipse) with noise, a dark
//! eyebrow band crossing it with sharp edges, on a noisy blue-grey background, and the regions
//! the tests measure. Shared by `tests/beauty.rs` and `examples/beauty_cost.rs`.
#![allow(dead_code, clippy::unwrap_used)]

use std::ops::Range;

use livestage_media::video::convert::rgba_to_i420;
use livestage_media::video::{I420, Rgba};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Light skin, as sRGB.
pub const SKIN: [u8; 3] = [224, 172, 140];
/// A dark brown eyebrow (its colour is inside the skin cluster, only darker, so the mask does
/// not protect it: the smoother itself must keep its edges).
pub const BROW: [u8; 3] = [90, 60, 45];
/// The background.
pub const BLUE_GREY: [u8; 3] = [110, 125, 145];
/// Luma noise: uniform in -AMPLITUDE..=AMPLITUDE (standard deviation about 5.2).
pub const AMPLITUDE: i16 = 9;

/// Where things are in a portrait, in pixels.
#[derive(Clone, Debug)]
pub struct Layout {
    pub width: usize,
    pub height: usize,
    /// The face: centre and semi-axes.
    pub centre: (f32, f32),
    pub axes: (f32, f32),
    /// The eyebrow band: its rows, and the columns it spans (inside the face).
    pub band_rows: Range<usize>,
    pub band_cols: Range<usize>,
    /// A patch of cheek, away from the band and the face's edge.
    pub cheek_rows: Range<usize>,
    pub cheek_cols: Range<usize>,
}

impl Layout {
    pub fn new(width: usize, height: usize) -> Self {
        let (w, h) = (width as f32, height as f32);
        let centre = (w / 2.0, h / 2.0);
        let axes = (0.18 * w, 0.38 * h);
        let band_top = (centre.1 - 0.35 * axes.1) as usize;
        let band_rows = band_top..band_top + height / 30;
        let half = (0.55 * axes.0) as usize;
        let band_cols = width / 2 - half..width / 2 + half;
        let cheek_top = (centre.1 + 0.1 * axes.1) as usize;
        let cheek_rows = cheek_top..(centre.1 + 0.5 * axes.1) as usize;
        let cheek_half = (0.45 * axes.0) as usize;
        let cheek_cols = width / 2 - cheek_half..width / 2 + cheek_half;
        Self {
            width,
            height,
            centre,
            axes,
            band_rows,
            band_cols,
            cheek_rows,
            cheek_cols,
        }
    }

    /// Whether `(x, y)` is inside the face grown by `margin` pixels on each axis.
    pub fn in_face(&self, x: usize, y: usize, margin: f32) -> bool {
        let dx = (x as f32 + 0.5 - self.centre.0) / (self.axes.0 + margin);
        let dy = (y as f32 + 0.5 - self.centre.1) / (self.axes.1 + margin);
        dx * dx + dy * dy <= 1.0
    }

    pub fn in_band(&self, x: usize, y: usize) -> bool {
        self.band_rows.contains(&y) && self.band_cols.contains(&x)
    }
}

/// The Y, Cb and Cr of an sRGB colour, by the crate's own conversion.
pub fn ycbcr(rgb: [u8; 3]) -> [u8; 3] {
    let mut rgba = Rgba::new(16, 16).unwrap();
    for px in rgba.data_mut().chunks_exact_mut(4) {
        px[..3].copy_from_slice(&rgb);
    }
    let frame = rgba_to_i420(&rgba);
    [frame.y()[0], frame.u()[0], frame.v()[0]]
}

/// A `width`x`height` portrait with noise from `seed`, and its layout.
pub fn portrait(width: u32, height: u32, seed: u64) -> (I420, Layout) {
    let layout = Layout::new(width as usize, height as usize);
    let (w, h) = (width as usize, height as usize);
    let [skin, brow, back] = [SKIN, BROW, BLUE_GREY].map(ycbcr);
    let colour = |x: usize, y: usize| {
        if layout.in_band(x, y) {
            brow
        } else if layout.in_face(x, y, 0.0) {
            skin
        } else {
            back
        }
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut noisy = |base: u8, amplitude: i16| {
        (i16::from(base) + rng.gen_range(-amplitude..=amplitude)).clamp(0, 255) as u8
    };
    let mut luma = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            luma.push(noisy(colour(x, y)[0], AMPLITUDE));
        }
    }
    let (mut u, mut v) = (Vec::new(), Vec::new());
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            // The chroma of the cell's top-left pixel, with a little noise of its own.
            let [_, cb, cr] = colour(2 * x, 2 * y);
            u.push(noisy(cb, 2));
            v.push(noisy(cr, 2));
        }
    }
    (
        I420::from_planes(width, height, luma, u, v).unwrap(),
        layout,
    )
}

/// The mean of `plane` (`width` wide) over `rows` x `cols`.
pub fn mean(plane: &[u8], width: usize, rows: Range<usize>, cols: Range<usize>) -> f64 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in rows {
        for &v in &plane[y * width..][cols.clone()] {
            sum += f64::from(v);
            n += 1.0;
        }
    }
    sum / n
}

/// The variance of `plane` (`width` wide) over `rows` x `cols`.
pub fn variance(plane: &[u8], width: usize, rows: Range<usize>, cols: Range<usize>) -> f64 {
    let m = mean(plane, width, rows.clone(), cols.clone());
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in rows {
        for &v in &plane[y * width..][cols.clone()] {
            sum += (f64::from(v) - m).powi(2);
            n += 1.0;
        }
    }
    sum / n
}
