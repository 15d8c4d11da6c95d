//! Smoothing and lightening of the luma plane, through the skin mask.
//!
//! The statistics are taken per block of 4x4 pixels (2x2 chroma cells), sixteen times cheaper
//! than per pixel, which is what makes the budget: the sums of each block's luma and of its
//! square, then their window sums ([`Windows`]) give each block the mean and variance of the
//! pixels around it. With those, the filter at a block is affine in the pixel value `y`:
//!
//! - smoothing, `y1 = y + w (1 - k) (mean - y)` with `k = var / (var + eps)` and
//!   `w = mask * smoothness`: the local-statistics (Lee) filter, the guided filter with the
//!   picture as its own guide. Where the variance is small next to `eps` (skin noise) `k` is
//!   near 0 and the pixel moves to the mean; across an edge the variance is large, `k` is near
//!   1 and the pixel stays.
//! - lightening, `y2 = y1 + mask (C(y1) - y1)` with the tone curve `C` taken as its tangent at
//!   the local mean: the base layer follows the curve exactly, the detail on top is scaled by
//!   the curve's slope.
//!
//! So each block gets one gain and one offset, `y2 = gain * y + offset`. Both vary slowly (they
//! follow window means and the soft mask), so they are upsampled bilinearly, blocks to cells to
//! pixels, and applied in a single pass over the plane, streamed a row at a time (no plane of
//! gains is stored). Where the mask is 0 around a pixel the gain is exactly 1 and the offset
//! exactly 0, and the pixel comes out bit-exact.
//!
//! The per-pixel loops use `wide` (SSE2 on any x86-64, NEON on aarch64), 16 pixels at a time;
//! a row's last partial group goes through the same code from a padded copy.

use bytemuck::cast;
use wide::{f32x4, i16x8, i32x4, u8x16, u16x8};

use super::tone::Curve;
use super::window::Windows;

// The even and odd pixels of a 16-pixel group are split by reading it as eight u16 lanes.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "luma lanes assume little endian"
);

/// `sqrt(eps)` at full smoothness, in luma codes: texture with a standard deviation well below
/// this is smoothed away, well above it is kept. Camera noise on skin is typically 2 to 6.
const EPS_SIGMA: f32 = 14.0;
/// Gains are stored in Q13 (1.0 is 8192), so below 4; the curves' slopes stay below 3.
const GAIN_ONE: f32 = 8192.0;
/// Offsets are stored in 1/32 codes, plus 16 (so the final shift rounds), plus 0x8000 (so rows
/// can be averaged as unsigned numbers).
const OFFSET_SCALE: f32 = 32.0;
const OFFSET_BIAS: u16 = 0x8000;

/// A cell row's filters spread to its pixels horizontally, even and odd pixels apart (a pixel
/// is 3/4 its own cell and 1/4 the neighbouring cell on its side).
#[derive(Default)]
struct Spread {
    gain_even: Vec<u16>,
    gain_odd: Vec<u16>,
    offset_even: Vec<u16>,
    offset_odd: Vec<u16>,
}

impl Spread {
    fn resize(&mut self, cells: usize) {
        for row in self.rows_mut() {
            row.resize(cells, 0);
        }
    }

    fn rows_mut(&mut self) -> [&mut Vec<u16>; 4] {
        [
            &mut self.gain_even,
            &mut self.gain_odd,
            &mut self.offset_even,
            &mut self.offset_odd,
        ]
    }

    fn rows(&self) -> [&[u16]; 4] {
        [
            &self.gain_even,
            &self.gain_odd,
            &self.offset_even,
            &self.offset_odd,
        ]
    }

    /// Fills `self` from one padded cell row (`cells[0]` and everything after the last cell
    /// replicate the ends).
    fn spread(&mut self, gains: &[u16], offsets: &[u16]) {
        for (cells, (even, odd)) in [gains, offsets].into_iter().zip([
            (&mut self.gain_even, &mut self.gain_odd),
            (&mut self.offset_even, &mut self.offset_odd),
        ]) {
            let n = even.len();
            let (left, own, right) = (&cells[..n], &cells[1..=n], &cells[2..n + 2]);
            for ((e, &c), &l) in even.iter_mut().zip(own).zip(left) {
                *e = three_quarters(c, l);
            }
            for ((o, &c), &r) in odd.iter_mut().zip(own).zip(right) {
                *o = three_quarters(c, r);
            }
        }
    }

    /// Fills `self` with `3/4 near + 1/4 far`, row by row.
    fn blend(&mut self, near: &Spread, far: &Spread) {
        for ((out, near), far) in self.rows_mut().into_iter().zip(near.rows()).zip(far.rows()) {
            for ((o, &n), &f) in out.iter_mut().zip(near).zip(far) {
                *o = three_quarters(n, f);
            }
        }
    }
}

/// About `3/4 a + 1/4 b`, as two rounding averages (one instruction each); exactly `a` when
/// `a == b`.
#[inline(always)]
fn three_quarters(a: u16, b: u16) -> u16 {
    let half = (u32::from(a) + u32::from(b) + 1) >> 1;
    ((u32::from(a) + half + 1) >> 1) as u16
}

/// One row of filters (gains and offsets in their stored forms).
#[derive(Default)]
struct Filters {
    gain: Vec<u16>,
    offset: Vec<u16>,
}

/// Smooths and lightens luma; keeps its work buffers between frames.
#[derive(Default)]
pub(super) struct Smoother {
    /// Chroma cells (2x2 pixels) across and down.
    cells: (usize, usize),
    /// Blocks (2x2 cells, 4x4 pixels) across and down; a last odd cell makes a block alone.
    blocks: (usize, usize),
    /// Per cell: the sum of its 2x2 luma pixels and of their squares.
    sums: Vec<u16>,
    squares: Vec<u32>,
    /// Per block: the sums of its cells' luma, squares and mask.
    block_sums: Vec<u32>,
    block_squares: Vec<u32>,
    block_mask: Vec<u32>,
    sum_windows: Windows,
    square_windows: Windows,
    /// One block row of window sums and of mask, padded to a multiple of 8 blocks.
    sum_row: Vec<u32>,
    square_row: Vec<u32>,
    mask_row: Vec<u32>,
    /// The filters of the last three block rows made, at row number modulo 3.
    block_filters: [Filters; 3],
    made: usize,
    /// Two block rows blended for one cell row, with a replicated block at each end.
    block_line: Filters,
    /// That row spread to cells, two cells packed per u32 (the left one in the low half).
    pairs: Vec<u32>,
    /// One cell row of filters, with a replicated cell at each end.
    cell_line: Filters,
    /// The spread rows of the cell rows above, at and below the pixel rows being filtered.
    above: Spread,
    here: Spread,
    below: Spread,
    /// `here` blended with `above` or `below`: one pixel row's filters.
    blended: Spread,
}

impl Smoother {
    /// Takes the 2x2 sums of the `width`x`height` luma plane `y` (and of the squares when
    /// `squares`: smoothing and lightening need them, the skin mask alone does not).
    pub fn measure(&mut self, y: &[u8], width: usize, height: usize, squares: bool) {
        let (cw, ch) = (width / 2, height / 2);
        self.cells = (cw, ch);
        self.sums.resize(cw * ch, 0);
        if squares {
            self.squares.resize(cw * ch, 0);
        }
        for (j, rows) in y.chunks_exact(2 * width).enumerate() {
            let (top, bottom) = rows.split_at(width);
            let sums = &mut self.sums[j * cw..][..cw];
            for_groups(top, bottom, sums, sums8);
            if squares {
                let squares = &mut self.squares[j * cw..][..cw];
                for_groups(top, bottom, squares, squares8);
            }
        }
    }

    /// The 2x2 luma sums of the last [`measure`](Self::measure), one per chroma cell.
    pub fn sums(&self) -> &[u16] {
        &self.sums
    }

    /// Smooths skin by `smoothness` and lightens it along `curve`, through `mask` (one value
    /// per cell), in place. Needs a [`measure`](Self::measure) of this plane with squares.
    pub fn apply(&mut self, y: &mut [u8], mask: &[u8], smoothness: f32, curve: &Curve) {
        let (cw, ch) = self.cells;
        let (bw, bh) = (cw.div_ceil(2), ch.div_ceil(2));
        self.blocks = (bw, bh);
        pool(&self.sums, self.cells, &mut self.block_sums);
        pool(&self.squares, self.cells, &mut self.block_squares);
        pool(mask, self.cells, &mut self.block_mask);

        // About 1/36 of the frame height across: 20 pixels at 720p, 28 at 1080p.
        let radius = (bh / 90).max(1);
        let filters = Params {
            inv_pixels: 1.0 / (16 * (2 * radius + 1) * (2 * radius + 1)) as f32,
            // The +1 keeps k finite on a flat window when smoothing is off (lightening alone).
            eps: EPS_SIGMA * EPS_SIGMA * smoothness + 1.0,
            smoothness,
            curve: (!curve.is_identity()).then_some(*curve),
        };
        let (padded_blocks, padded_cells) = (bw.next_multiple_of(8), cw.next_multiple_of(8));
        for row in [&mut self.sum_row, &mut self.square_row, &mut self.mask_row] {
            row.resize(padded_blocks, 0);
        }
        for filters in self.block_filters.iter_mut() {
            filters.gain.resize(padded_blocks, 0);
            filters.offset.resize(padded_blocks, 0);
        }
        self.block_line.gain.resize(bw + 2, 0);
        self.block_line.offset.resize(bw + 2, 0);
        self.pairs.resize(bw, 0);
        self.cell_line.gain.resize(padded_cells + 2, 0);
        self.cell_line.offset.resize(padded_cells + 2, 0);
        for spread in [
            &mut self.above,
            &mut self.here,
            &mut self.below,
            &mut self.blended,
        ] {
            spread.resize(padded_cells);
        }
        self.sum_windows.start(&self.block_sums, bw, bh, radius);
        self.square_windows
            .start(&self.block_squares, bw, bh, radius);
        self.made = 0;

        // Rows are made in order: block rows one ahead of the cell rows that need them, cell
        // rows one ahead of the pixel rows.
        self.next_cell_row(&filters, 0);
        std::mem::swap(&mut self.here, &mut self.below);
        let width = 2 * cw;
        for (j, rows) in y.chunks_exact_mut(2 * width).enumerate() {
            if j == 0 {
                copy_spread(&mut self.above, &self.here);
            } else {
                std::mem::swap(&mut self.above, &mut self.here);
                std::mem::swap(&mut self.here, &mut self.below);
            }
            if j + 1 < ch {
                self.next_cell_row(&filters, j + 1);
            } else {
                copy_spread(&mut self.below, &self.here);
            }
            let (top, bottom) = rows.split_at_mut(width);
            self.blended.blend(&self.here, &self.above);
            filter_row(top, &self.blended);
            self.blended.blend(&self.here, &self.below);
            filter_row(bottom, &self.blended);
        }
    }

    /// Makes cell row `j`'s filters from the block rows around it (a cell sits a quarter of a
    /// block from its block's centre) and spreads them into `below`. Rows come in order.
    fn next_cell_row(&mut self, filters: &Params, j: usize) {
        let (cw, _) = self.cells;
        let (bw, bh) = self.blocks;
        let near = j / 2;
        let far = if j.is_multiple_of(2) {
            near.saturating_sub(1)
        } else {
            (near + 1).min(bh - 1)
        };
        while self.made <= near.max(far) {
            self.make_block_row(filters);
        }
        let (near, far) = (&self.block_filters[near % 3], &self.block_filters[far % 3]);
        let lines = [
            (&mut self.block_line.gain, &near.gain, &far.gain),
            (&mut self.block_line.offset, &near.offset, &far.offset),
        ];
        let cells = [&mut self.cell_line.gain, &mut self.cell_line.offset];
        for ((line, near, far), cells) in lines.into_iter().zip(cells) {
            for ((o, &n), &f) in line[1..=bw].iter_mut().zip(near.iter()).zip(far.iter()) {
                *o = three_quarters(n, f);
            }
            (line[0], line[bw + 1]) = (line[1], line[bw]);
            let (left, own, right) = (&line[..bw], &line[1..=bw], &line[2..]);
            let spread = self.pairs.iter_mut().zip(own).zip(left).zip(right);
            for (((pair, &c), &l), &r) in spread {
                *pair = u32::from(three_quarters(c, l)) | u32::from(three_quarters(c, r)) << 16;
            }
            let pairs: &[u16] = bytemuck::cast_slice(&self.pairs);
            cells[1..=cw].copy_from_slice(&pairs[..cw]);
            cells[0] = cells[1];
            let last = cells[cw];
            cells[cw + 1..].fill(last);
        }
        self.below
            .spread(&self.cell_line.gain, &self.cell_line.offset);
    }

    /// Makes the filters of the next block row.
    fn make_block_row(&mut self, filters: &Params) {
        let (bw, _) = self.blocks;
        let n = self.made;
        self.made += 1;
        self.sum_windows
            .next_row(&self.block_sums, &mut self.sum_row[..bw]);
        self.square_windows
            .next_row(&self.block_squares, &mut self.square_row[..bw]);
        self.mask_row[..bw].copy_from_slice(&self.block_mask[n * bw..][..bw]);
        let out = &mut self.block_filters[n % 3];
        let groups = out
            .gain
            .as_chunks_mut::<8>()
            .0
            .iter_mut()
            .zip(out.offset.as_chunks_mut::<8>().0)
            .zip(self.sum_row.as_chunks::<8>().0)
            .zip(self.square_row.as_chunks::<8>().0)
            .zip(self.mask_row.as_chunks::<8>().0);
        for ((((gain, offset), sums), squares), mask) in groups {
            (*gain, *offset) = filters.filters(*sums, *squares, *mask);
        }
    }
}

/// Sums 2x2 cells of a `cells.0`x`cells.1` plane into blocks; an odd last row or column of
/// cells counts twice, so every block stands for 16 pixels.
fn pool<T: Copy + Into<u32>>(plane: &[T], (cw, ch): (usize, usize), out: &mut Vec<u32>) {
    let (bw, bh) = (cw.div_ceil(2), ch.div_ceil(2));
    out.resize(bw * bh, 0);
    for (jb, row) in out.chunks_exact_mut(bw).enumerate() {
        let top = &plane[2 * jb * cw..][..cw];
        let bottom = &plane[(2 * jb + 1).min(ch - 1) * cw..][..cw];
        let pairs = top.as_chunks::<2>().0.iter().zip(bottom.as_chunks::<2>().0);
        for (o, (t, b)) in row.iter_mut().zip(pairs) {
            *o = t[0].into() + t[1].into() + b[0].into() + b[1].into();
        }
        if cw % 2 == 1 {
            row[bw - 1] = 2 * (top[cw - 1].into() + bottom[cw - 1].into());
        }
    }
}

/// What every block's filter depends on besides its own statistics.
struct Params {
    /// 1 / pixels in a window.
    inv_pixels: f32,
    eps: f32,
    smoothness: f32,
    /// The lightening curve, if lightening is on.
    curve: Option<Curve>,
}

impl Params {
    /// The gains (Q13) and offsets (stored form) of eight blocks from their window sums of luma
    /// and of its square, and their mask sums (0 to 4 * 255).
    #[inline(always)]
    fn filters(&self, sums: [u32; 8], squares: [u32; 8], mask: [u32; 8]) -> ([u16; 8], [u16; 8]) {
        let halves = |v: [u32; 8]| -> [i32x4; 2] { cast(v) };
        let ([s0, s1], [q0, q1], [m0, m1]) = (halves(sums), halves(squares), halves(mask));
        let (g0, o0) = self.four(s0, q0, m0);
        let (g1, o1) = self.four(s1, q1, m1);
        // Gains are at least 0 (pull <= 1, the curves' slopes > 0), so only the top saturates.
        let gain = i16x8::from_i32x8_saturate(cast([g0, g1]));
        let offset = i16x8::from_i32x8_saturate(cast([o0, o1]));
        (
            cast(gain),
            cast(cast::<_, u16x8>(offset) ^ u16x8::splat(OFFSET_BIAS)),
        )
    }

    /// Four blocks' gains (Q13) and offsets (in 1/32 codes, plus 16), unsaturated.
    #[inline(always)]
    fn four(&self, sums: i32x4, squares: i32x4, mask: i32x4) -> (i32x4, i32x4) {
        // Window sums fit an i32: at most 16 * 25 * 25 * 255^2 for the largest window.
        let inv = f32x4::splat(self.inv_pixels);
        let mean = f32x4::from_i32x4(sums) * inv;
        let var = (f32x4::from_i32x4(squares) * inv - mean * mean).max(f32x4::ZERO);
        let m = f32x4::from_i32x4(mask) * f32x4::splat(1.0 / (4.0 * 255.0));
        // pull = m * smoothness * (1 - k), with 1 - k = eps / (var + eps).
        let pull = m * f32x4::splat(self.smoothness * self.eps) / (var + f32x4::splat(self.eps));
        // Smoothed: y1 = (1 - pull) y + pull mean.
        let (mut gain, mut offset) = (f32x4::ONE - pull, pull * mean);
        if let Some(curve) = &self.curve {
            // y2 = y1 + m (C(mean) + C'(mean) (y1 - mean) - y1).
            let (value, slope) = curve.at(mean);
            let scale = f32x4::ONE + m * (slope - f32x4::ONE);
            gain *= scale;
            offset = offset * scale + m * (value - slope * mean);
        }
        (
            (gain * f32x4::splat(GAIN_ONE)).fast_round_int(),
            (offset * f32x4::splat(OFFSET_SCALE) + f32x4::splat(16.0)).fast_round_int(),
        )
    }
}

/// Filters one row of pixels with one row of (blended) filters, 16 pixels at a time.
fn filter_row(pixels: &mut [u8], filters: &Spread) {
    let [gain_even, gain_odd, offset_even, offset_odd] =
        filters.rows().map(|row| row.as_chunks::<8>().0);
    let (groups, tail) = pixels.as_chunks_mut::<16>();
    for (n, group) in groups.iter_mut().enumerate() {
        *group = filter16(
            *group,
            [gain_even[n], gain_odd[n], offset_even[n], offset_odd[n]],
        );
    }
    if !tail.is_empty() {
        let n = groups.len();
        let mut group = [0; 16];
        group[..tail.len()].copy_from_slice(tail);
        let group = filter16(
            group,
            [gain_even[n], gain_odd[n], offset_even[n], offset_odd[n]],
        );
        tail.copy_from_slice(&group[..tail.len()]);
    }
}

/// `gain * y + offset`, rounded and clamped to 0..=255, for 16 pixels; the filters are
/// `[gain even, gain odd, offset even, offset odd]`, 8 each.
#[inline(always)]
fn filter16(
    pixels: [u8; 16],
    [gain_even, gain_odd, offset_even, offset_odd]: [[u16; 8]; 4],
) -> [u8; 16] {
    let pairs: u16x8 = cast(pixels);
    // Each pixel times 256: the even ones are the low bytes, the odd ones the high bytes.
    let even = pairs << 8;
    let odd = pairs & u16x8::splat(0xff00);
    let one = |gain: [u16; 8], offset: [u16; 8], y256: u16x8| {
        // Q13 gain times 256 y, over 65536: 32 * gain * y, at most 32639.
        let scaled: i16x8 = cast(u16x8::from(gain).mul_keep_high(y256));
        let offset: i16x8 = cast(u16x8::from(offset) ^ u16x8::splat(OFFSET_BIAS));
        let rounded: i16x8 = scaled.saturating_add(offset) >> 5_u32;
        rounded.max(i16x8::ZERO).min(i16x8::splat(255))
    };
    let even: u16x8 = cast(one(gain_even, offset_even, even));
    let odd: u16x8 = cast(one(gain_odd, offset_odd, odd));
    cast(even | (odd << 8))
}

/// Runs `kernel` on the 16-pixel groups of two rows, writing 8 cells each into `out` (one
/// cell per 2x2 pixels); a last partial group is padded.
fn for_groups<T: Copy>(
    top: &[u8],
    bottom: &[u8],
    out: &mut [T],
    kernel: fn([u8; 16], [u8; 16]) -> [T; 8],
) {
    let (top_groups, top_tail) = top.as_chunks::<16>();
    let (bottom_groups, bottom_tail) = bottom.as_chunks::<16>();
    let (out_groups, out_tail) = out.as_chunks_mut::<8>();
    for ((o, &t), &b) in out_groups.iter_mut().zip(top_groups).zip(bottom_groups) {
        *o = kernel(t, b);
    }
    if !out_tail.is_empty() {
        let pad = |tail: &[u8]| {
            let mut group = [0; 16];
            group[..tail.len()].copy_from_slice(tail);
            group
        };
        let cells = kernel(pad(top_tail), pad(bottom_tail));
        out_tail.copy_from_slice(&cells[..out_tail.len()]);
    }
}

/// The 2x2 sums of 16 pixels of two rows.
#[inline(always)]
fn sums8(top: [u8; 16], bottom: [u8; 16]) -> [u16; 8] {
    let (top, bottom): (u16x8, u16x8) = (cast(top), cast(bottom));
    let low = u16x8::splat(0xff);
    cast((top & low) + (top >> 8) + (bottom & low) + (bottom >> 8))
}

/// The 2x2 sums of squares of 16 pixels of two rows.
#[inline(always)]
fn squares8(top: [u8; 16], bottom: [u8; 16]) -> [u32; 8] {
    let (top, bottom) = (u8x16::from(top), u8x16::from(bottom));
    // `dot` multiplies lane by lane and adds neighbouring pairs: a^2 + b^2 per horizontal pair.
    let pairs = |half: i16x8| half.dot(half);
    let first = pairs(i16x8::from_u8x16_low(top)) + pairs(i16x8::from_u8x16_low(bottom));
    let second = pairs(i16x8::from_u8x16_high(top)) + pairs(i16x8::from_u8x16_high(bottom));
    cast([first, second])
}

fn copy_spread(to: &mut Spread, from: &Spread) {
    for (to, from) in to.rows_mut().into_iter().zip(from.rows()) {
        to.copy_from_slice(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_kernels_match_plain_arithmetic() {
        let top: [u8; 16] = std::array::from_fn(|i| (i * 37 + 200) as u8);
        let bottom: [u8; 16] = std::array::from_fn(|i| (i * 91 + 3) as u8);
        let sums = sums8(top, bottom);
        let squares = squares8(top, bottom);
        for c in 0..8 {
            let px = [top[2 * c], top[2 * c + 1], bottom[2 * c], bottom[2 * c + 1]];
            assert_eq!(sums[c], px.iter().map(|&p| u16::from(p)).sum::<u16>());
            assert_eq!(
                squares[c],
                px.iter().map(|&p| u32::from(p).pow(2)).sum::<u32>()
            );
        }

        let pixels: [u8; 16] = std::array::from_fn(|i| (i * 17) as u8);
        let gains = [8192, 0, 16384, 4096, 32767, 8192, 12000, 8192];
        let offsets = [0.0, 100.0, -20.0, 3.3, 0.0, -300.0, 10.0, 0.49];
        let stored = offsets.map(|o: f32| ((o * 32.0).round() as i32 + 16 + 0x8000) as u16);
        let out = filter16(pixels, [gains, gains, stored, stored]);
        for (i, (&p, &o)) in pixels.iter().zip(&out).enumerate() {
            let (g, off) = (f32::from(gains[i / 2]) / 8192.0, offsets[i / 2]);
            let want = (g * f32::from(p) + off).round().clamp(0.0, 255.0);
            assert!(
                (f32::from(o) - want).abs() <= 1.0,
                "pixel {i}: {o} vs {want}"
            );
        }
        // Gain 1, offset 0: bit-exact.
        let identity = filter16(
            pixels,
            [[8192; 8], [8192; 8], [16 + 0x8000; 8], [16 + 0x8000; 8]],
        );
        assert_eq!(identity, pixels);
    }
}
