//! From per-block filters to pixels: each cell row's gains and offsets spread to its even and
//! odd pixels, two cell rows blended for each pixel row (bilinear, 3/4 and 1/4 each way), and
//! `gain * y + offset` applied to 16 pixels at a time with `wide` lanes.
//!
//! Gains are in Q13 (1.0 is 8192). Offsets are in 1/32 codes plus 16 (so the final shift
//! rounds) plus [`OFFSET_BIAS`] (so rows can be averaged as unsigned numbers). Averaging equal
//! values gives them back exactly, so gain 1 and offset 0 all around leave a pixel bit-exact.

use bytemuck::cast;
use wide::{i16x8, u16x8};

// The even and odd pixels of a 16-pixel group are split by reading it as eight u16 lanes.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "luma lanes assume little endian"
);

/// Added to stored offsets so that they average as unsigned numbers.
pub(super) const OFFSET_BIAS: u16 = 0x8000;

/// A cell row's filters spread to its pixels horizontally, even and odd pixels apart (a pixel
/// is 3/4 its own cell and 1/4 the neighbouring cell on its side).
#[derive(Default)]
pub(super) struct Spread {
    gain_even: Vec<u16>,
    gain_odd: Vec<u16>,
    offset_even: Vec<u16>,
    offset_odd: Vec<u16>,
}

impl Spread {
    /// Sizes every row for `cells` cells.
    pub fn resize(&mut self, cells: usize) {
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
    pub fn spread(&mut self, gains: &[u16], offsets: &[u16]) {
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
    pub fn blend(&mut self, near: &Spread, far: &Spread) {
        for ((out, near), far) in self.rows_mut().into_iter().zip(near.rows()).zip(far.rows()) {
            for ((o, &n), &f) in out.iter_mut().zip(near).zip(far) {
                *o = three_quarters(n, f);
            }
        }
    }

    /// Copies `from`, which has the same size.
    pub fn copy_from(&mut self, from: &Spread) {
        for (to, from) in self.rows_mut().into_iter().zip(from.rows()) {
            to.copy_from_slice(from);
        }
    }
}

/// About `3/4 a + 1/4 b`, as two rounding averages (one instruction each); exactly `a` when
/// `a == b`.
#[inline(always)]
pub(super) fn three_quarters(a: u16, b: u16) -> u16 {
    let half = (u32::from(a) + u32::from(b) + 1) >> 1;
    ((u32::from(a) + half + 1) >> 1) as u16
}

/// Filters one row of pixels with one row of (blended) filters, 16 pixels at a time.
pub(super) fn filter_row(pixels: &mut [u8], filters: &Spread) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_kernel_matches_plain_arithmetic() {
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
