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
//! The spreading and the per-pixel pass are in `spread.rs`. The per-pixel loops use `wide`
//! (SSE2 on any x86-64, NEON on aarch64), 16 pixels at a time; a row's last partial group goes
//! through the same code from a padded copy.

use bytemuck::cast;
use wide::{f32x4, i16x8, i32x4, u8x16, u16x8};

use super::spread::{OFFSET_BIAS, Spread, filter_row, three_quarters};
use super::tone::Curve;
use super::window::Windows;

/// `sqrt(eps)` at full smoothness, in luma codes: texture with a standard deviation well below
/// this is smoothed away, well above it is kept. Camera noise on skin is typically 2 to 6.
const EPS_SIGMA: f32 = 14.0;
/// Gains are stored in Q13 (1.0 is 8192), so below 4; the curves' slopes stay below 3.
const GAIN_ONE: f32 = 8192.0;
/// Offsets are stored in 1/32 codes, plus 16 (so the final shift rounds), plus 0x8000 (so rows
/// can be averaged as unsigned numbers).
const OFFSET_SCALE: f32 = 32.0;

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
    /// Per cell: the sum of its 2x2 luma pixels; for one cell row, the sums of their squares.
    sums: Vec<u16>,
    square_cells: Vec<u32>,
    /// Per block: the sums of its pixels' luma, their squares, and its cells' mask.
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
    /// Takes the 2x2 sums of the `width`x`height` luma plane `y`, and when `blocks` (smoothing
    /// and lightening need them, the skin mask alone does not) the 4x4 block sums of luma and
    /// of its square.
    pub fn measure(&mut self, y: &[u8], width: usize, height: usize, blocks: bool) {
        let (cw, ch) = (width / 2, height / 2);
        let (bw, bh) = (cw.div_ceil(2), ch.div_ceil(2));
        self.cells = (cw, ch);
        self.sums.resize(cw * ch, 0);
        if blocks {
            self.square_cells.resize(cw, 0);
            self.block_sums.resize(bw * bh, 0);
            self.block_squares.resize(bw * bh, 0);
        }
        for (j, rows) in y.chunks_exact(2 * width).enumerate() {
            let (top, bottom) = rows.split_at(width);
            let sums = &mut self.sums[j * cw..][..cw];
            for_groups(top, bottom, sums, sums8);
            if !blocks {
                continue;
            }
            for_groups(top, bottom, &mut self.square_cells, squares8);
            let at = j / 2 * bw;
            let block_sums = &mut self.block_sums[at..][..bw];
            let block_squares = &mut self.block_squares[at..][..bw];
            // The first cell row of a block row writes, the second adds; a lone last row
            // counts twice, so every block stands for 16 pixels.
            let first = j.is_multiple_of(2);
            pool_row(sums, block_sums, first);
            pool_row(&self.square_cells, block_squares, first);
            if first && j + 1 == ch {
                pool_row(sums, block_sums, false);
                pool_row(&self.square_cells, block_squares, false);
            }
        }
    }

    /// The 2x2 luma sums of the last [`measure`](Self::measure), one per chroma cell.
    pub fn sums(&self) -> &[u16] {
        &self.sums
    }

    /// Smooths skin by `smoothness` and lightens it along `curve`, through `mask` (one value
    /// per cell), in place. Needs a [`measure`](Self::measure) of this plane with blocks.
    pub fn apply(&mut self, y: &mut [u8], mask: &[u8], smoothness: f32, curve: &Curve) {
        let (cw, ch) = self.cells;
        let (bw, bh) = (cw.div_ceil(2), ch.div_ceil(2));
        self.blocks = (bw, bh);
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
                self.above.copy_from(&self.here);
            } else {
                std::mem::swap(&mut self.above, &mut self.here);
                std::mem::swap(&mut self.here, &mut self.below);
            }
            if j + 1 < ch {
                self.next_cell_row(&filters, j + 1);
            } else {
                self.below.copy_from(&self.here);
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
        pool_row(&plane[2 * jb * cw..][..cw], row, true);
        pool_row(&plane[(2 * jb + 1).min(ch - 1) * cw..][..cw], row, false);
    }
}

/// Writes (`first`) or adds the sums of horizontal pairs of `cells` into `blocks`; an odd last
/// cell counts twice.
fn pool_row<T: Copy + Into<u32>>(cells: &[T], blocks: &mut [u32], first: bool) {
    let pairs = blocks.iter_mut().zip(cells.as_chunks::<2>().0);
    if first {
        for (b, &[l, r]) in pairs {
            *b = l.into() + r.into();
        }
    } else {
        for (b, &[l, r]) in pairs {
            *b += l.into() + r.into();
        }
    }
    if let [.., last] = cells
        && cells.len() % 2 == 1
    {
        let pair = 2 * (*last).into();
        let block = &mut blocks[cells.len() / 2];
        *block = if first { pair } else { *block + pair };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sums_cover_4x4_pixels_and_repeat_an_odd_last_cell() {
        // 26x14 pixels: 13x7 cells, so the last block column and row hold one cell each.
        let (width, height) = (26, 14);
        let y: Vec<u8> = (0..width * height).map(|i| (i * 29 % 251) as u8).collect();
        let mut smoother = Smoother::default();
        smoother.measure(&y, width, height, true);
        let (bw, bh) = (7, 4);
        assert_eq!(smoother.block_sums.len(), bw * bh);
        for jb in 0..bh {
            for ib in 0..bw {
                let (mut sum, mut squares) = (0, 0);
                for dy in 0..4 {
                    for dx in 0..4 {
                        // Past the edge, the last cell again (pixels 2 back).
                        let x = 4 * ib + dx - if 4 * ib + dx >= width { 2 } else { 0 };
                        let yy = 4 * jb + dy - if 4 * jb + dy >= height { 2 } else { 0 };
                        let p = u32::from(y[yy * width + x]);
                        (sum, squares) = (sum + p, squares + p * p);
                    }
                }
                assert_eq!(smoother.block_sums[jb * bw + ib], sum, "block {ib},{jb}");
                assert_eq!(
                    smoother.block_squares[jb * bw + ib],
                    squares,
                    "block {ib},{jb}"
                );
            }
        }
        let cells: Vec<u8> = (0..13 * 7).map(|i| i as u8).collect();
        let mut pooled = Vec::new();
        pool(&cells, (13, 7), &mut pooled);
        // Cells 0, 1, 13 and 14.
        assert_eq!(pooled[0], 1 + 13 + 14);
        assert_eq!(pooled[6], 2 * (12 + 25));
        assert_eq!(pooled[3 * 7 + 6], 4 * 90);
    }

    #[test]
    fn the_sums_match_plain_arithmetic() {
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
    }
}
