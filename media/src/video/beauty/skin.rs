//! The skin mask, one value per chroma cell (2x2 pixels): how sure we are that a cell is skin,
//! 0 to 255, from its colour and brightness alone.
//!
//! Skin of every complexion falls in a compact Cb/Cr cluster (BT.601: Cb about 80 to 122, Cr
//! about 139 to 170); the mask is a box over that cluster with 8-code soft sides, so a colour
//! just outside fades out instead of flipping. Neutral colours (the whites of eyes, grey, black),
//! blue and green backgrounds fall outside. Brown hair and eyebrows can sit inside the cluster,
//! so cells darker than luma 48 fade out (fully at 32). The raw mask is then averaged over 5x5
//! cells, which fills speckles and gives it a soft edge about 4 pixels wide.

/// Cb: 0 at or below, full from.
const CB_LOW: (i16, i16) = (72, 80);
/// Cb: full up to, 0 at or above.
const CB_HIGH: (i16, i16) = (122, 130);
/// Cr: 0 at or below, full from.
const CR_LOW: (i16, i16) = (131, 139);
/// Cr: full up to, 0 at or above.
const CR_HIGH: (i16, i16) = (170, 178);
/// Mean luma (as a 2x2 sum, 4x the mean): 0 at or below 32, full from 48.
const DARK: (i16, i16) = (4 * 32, 4 * 48);
/// Radius of the averaging window, in cells (the sum below has five terms).
const SOFT_RADIUS: usize = 2;
/// Cells in the averaging window.
const SOFT_CELLS: u16 = 25;

/// The skin mask of the last frame, and its work buffers.
#[derive(Default)]
pub(super) struct Mask {
    raw: Vec<u8>,
    cells: Vec<u8>,
    /// Sums of the raw mask down the 5 rows around one row, with 2 replicated columns at each
    /// end.
    column: Vec<u16>,
}

impl Mask {
    /// Builds the mask of a frame from its chroma planes and `luma_sums` (the 2x2 sums of its
    /// luma, one per chroma cell), all `width`x`height` cells.
    pub fn build(&mut self, u: &[u8], v: &[u8], luma_sums: &[u16], width: usize, height: usize) {
        let cells = width * height;
        debug_assert!(u.len() == cells && v.len() == cells && luma_sums.len() == cells);
        self.raw.resize(cells, 0);
        for (((m, &cb), &cr), &sum) in self.raw.iter_mut().zip(u).zip(v).zip(luma_sums) {
            let colour = product(
                band(i16::from(cb), CB_LOW, CB_HIGH),
                band(i16::from(cr), CR_LOW, CR_HIGH),
            );
            // A 2x2 sum is at most 1020, so it fits an i16.
            let bright = ramp(sum as i16, DARK);
            *m = product(colour, bright) as u8;
        }

        self.soften(width, height);
    }

    /// Averages the raw mask over 5x5 cells (edges replicated) into `cells`.
    fn soften(&mut self, width: usize, height: usize) {
        const R: usize = SOFT_RADIUS;
        self.cells.resize(width * height, 0);
        self.column.resize(width + 2 * R, 0);
        self.column.fill(0);
        let row = |j: usize| &self.raw[j.min(height - 1) * width..][..width];
        for d in 0..=2 * R {
            add_row(&mut self.column[R..R + width], row(d.saturating_sub(R)));
        }
        for (j, out) in self.cells.chunks_exact_mut(width).enumerate() {
            let (first, last) = (self.column[R], self.column[R + width - 1]);
            self.column[..R].fill(first);
            self.column[R + width..].fill(last);
            let c = &self.column;
            let windows = out
                .iter_mut()
                .zip(&c[..width])
                .zip(&c[1..])
                .zip(&c[2..])
                .zip(&c[3..])
                .zip(&c[4..]);
            for (((((o, &a), &b), &m), &d), &e) in windows {
                // At most 25 * 255, so a u16 holds it.
                *o = ((a + b + m + d + e + SOFT_CELLS / 2) / SOFT_CELLS) as u8;
            }
            // Slide down a row: the row below the window enters, the top one leaves.
            let (enter, leave) = (row(j + R + 1), row(j.saturating_sub(R)));
            for ((c, &e), &l) in self.column[R..R + width].iter_mut().zip(enter).zip(leave) {
                *c = c.wrapping_add(u16::from(e)).wrapping_sub(u16::from(l));
            }
        }
    }

    /// The mask, 0 (not skin) to 255 (skin), one per chroma cell, rows top to bottom.
    pub fn cells(&self) -> &[u8] {
        &self.cells
    }

    /// Raises the Cr of skin cells in `v` by up to `codes` (at mask 255), rounding to the
    /// nearest code and stopping at 255.
    pub fn redden(&self, v: &mut [u8], codes: f32) {
        // Q16 of codes per mask step: at most 20 * 65536 / 255, so a u16 holds it.
        let per_step = (codes * 65536.0 / 255.0).round() as u16;
        for (c, &m) in v.iter_mut().zip(&self.cells) {
            let add = (u32::from(m) * u32::from(per_step) + 32768) >> 16;
            *c = (u32::from(*c) + add).min(255) as u8;
        }
    }
}

fn add_row(sums: &mut [u16], row: &[u8]) {
    for (s, &v) in sums.iter_mut().zip(row) {
        *s += u16::from(v);
    }
}

/// 0 at or below `zero`, 255 at or above `full` (8 codes above `zero`), linear between.
#[inline(always)]
fn ramp(x: i16, (zero, full): (i16, i16)) -> u16 {
    let scale = 256 / (full - zero);
    ((x - zero) * scale).clamp(0, 255) as u16
}

/// 255 inside `low.1..=high.0`, ramping to 0 at `low.0` and `high.1`.
#[inline(always)]
fn band(x: i16, low: (i16, i16), high: (i16, i16)) -> u16 {
    ramp(x, low).min(ramp(-x, (-high.1, -high.0)))
}

/// The product of two 0..=255 weights, 0..=255 (255 * 255 rounds up to 255).
#[inline(always)]
fn product(a: u16, b: u16) -> u16 {
    (a * b + 255) >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(cb: u8, cr: u8, y: u8) -> u8 {
        let mut mask = Mask::default();
        let sums = [u16::from(y) * 4; 64];
        mask.build(&[cb; 64], &[cr; 64], &sums, 8, 8);
        mask.cells()[27]
    }

    #[test]
    fn skin_colours_are_in_and_neutral_blue_green_and_dark_are_out() {
        // BT.601 limited range of light, medium and dark skin, and of a pale and a tanned one.
        for (cb, cr) in [(106, 153), (111, 144), (98, 156), (109, 148), (117, 142)] {
            assert_eq!(weight(cb, cr, 170), 255, "skin ({cb}, {cr})");
        }
        for (cb, cr) in [(128, 128), (139, 120), (160, 110), (90, 100), (128, 200)] {
            assert_eq!(weight(cb, cr, 170), 0, "not skin ({cb}, {cr})");
        }
        assert_eq!(weight(106, 153, 30), 0, "too dark");
        let edge = weight(106, 135, 170);
        assert!(edge > 0 && edge < 255, "soft side: {edge}");
    }
}
