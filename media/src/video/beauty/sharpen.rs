//! Sharpness: an unsharp mask on the luma plane, `y + amount * (y - blur(y))`, with the 3x3
//! binomial blur (1 2 1 on each axis), edges replicated.
//!
//! It works in place, one row at a time, keeping copies of the original row above and of the
//! row itself; the row below is still original when it is read.

use bytemuck::cast;
use wide::{i16x8, u8x16};

/// `amount` at full sharpness: detail finer than the blur comes out this much plus one times
/// as strong.
const MAX_AMOUNT: f32 = 1.5;

/// Sharpens luma; keeps its row buffers between frames.
#[derive(Default)]
pub(super) struct Sharpener {
    above: Vec<u8>,
    here: Vec<u8>,
    /// The vertical 1 2 1 sums of a row, with one replicated column at each end.
    column: Vec<u16>,
    /// The 3x3 sums (16 times the blur) of a row, padded to a multiple of 16.
    blur: Vec<u16>,
}

impl Sharpener {
    /// Sharpens the `width`x`height` plane `y` by `strength` (0.0 to 1.0), in place.
    pub fn apply(&mut self, y: &mut [u8], width: usize, height: usize, strength: f32) {
        // Q4; at most 24, so `detail * amount` below stays within an i16.
        let amount = (strength * MAX_AMOUNT * 16.0).round() as i16;
        if amount == 0 {
            return;
        }
        let amount = i16x8::splat(amount);
        self.above.clear();
        self.above.extend_from_slice(&y[..width]);
        self.here.clear();
        self.here.extend_from_slice(&y[..width]);
        self.column.resize(width + 2, 0);
        self.blur.resize(width.next_multiple_of(16), 0);
        for row in 0..height {
            let below = &y[(row + 1).min(height - 1) * width..][..width];
            let sums = self.column[1..=width]
                .iter_mut()
                .zip(&self.above)
                .zip(&self.here)
                .zip(below);
            for (((c, &a), &h), &b) in sums {
                *c = u16::from(a) + 2 * u16::from(h) + u16::from(b);
            }
            self.column[0] = self.column[1];
            self.column[width + 1] = self.column[width];
            let (left, centre, right) = (
                &self.column[..width],
                &self.column[1..=width],
                &self.column[2..],
            );
            for (((b, &l), &c), &r) in self.blur.iter_mut().zip(left).zip(centre).zip(right) {
                *b = l + 2 * c + r;
            }

            let out = &mut y[row * width..][..width];
            let blur = self.blur.as_chunks::<8>().0;
            let (groups, tail) = out.as_chunks_mut::<16>();
            let here = self.here.as_chunks::<16>().0;
            for (n, (o, &h)) in groups.iter_mut().zip(here).enumerate() {
                *o = sharpen16(h, [blur[2 * n], blur[2 * n + 1]], amount);
            }
            if !tail.is_empty() {
                let n = groups.len();
                let mut group = [0; 16];
                group[..tail.len()].copy_from_slice(&self.here[16 * n..]);
                let group = sharpen16(group, [blur[2 * n], blur[2 * n + 1]], amount);
                tail.copy_from_slice(&group[..tail.len()]);
            }

            std::mem::swap(&mut self.above, &mut self.here);
            if row + 1 < height {
                self.here.copy_from_slice(&y[(row + 1) * width..][..width]);
            }
        }
    }
}

/// `y + amount * (y - blur / 16)` for 16 pixels, rounded and clamped to 0..=255; `amount` in
/// Q4, `blur` the 3x3 sums.
#[inline(always)]
fn sharpen16(here: [u8; 16], blur: [[u16; 8]; 2], amount: i16x8) -> [u8; 16] {
    let here = u8x16::from(here);
    let one = |y: i16x8, blur: [u16; 8]| {
        // 4 (y - blur / 16), rounded: at most 1020 either way.
        let detail = ((y << 4) - cast::<_, i16x8>(blur) + i16x8::splat(2)) >> 2;
        y + ((detail * amount + i16x8::splat(32)) >> 6)
    };
    let low = one(i16x8::from_u8x16_low(here), blur[0]);
    let high = one(i16x8::from_u8x16_high(here), blur[1]);
    // Narrowing saturates: below 0 becomes 0, above 255 becomes 255.
    u8x16::narrow_i16x8(low, high).to_array()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_plane_stays_flat_and_a_step_gets_steeper() {
        let (width, height) = (40, 6);
        let mut flat = vec![100; width * height];
        Sharpener::default().apply(&mut flat, width, height, 1.0);
        assert!(flat.iter().all(|&y| y == 100));

        let row: Vec<u8> = (0..width).map(|x| if x < 21 { 180 } else { 80 }).collect();
        let mut step = row.repeat(height);
        Sharpener::default().apply(&mut step, width, height, 1.0);
        let out = &step[2 * width..3 * width];
        // 1.5 * (180 - (180 * 3 + 80) / 4) = 37.5 over the bright side, the same under the dark.
        assert_eq!(&out[..20], &[180; 20]);
        assert_eq!(out[20], 218);
        assert_eq!(out[21], 43);
        assert_eq!(&out[22..], &[80; 18]);
    }
}
