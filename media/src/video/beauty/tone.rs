//! The lightening curve: a lift of the mid-tones, shaped by the [`Contrast`] level.
//!
//! On the limited-range luma scale `x = (y - 16) / 219` it is `s(b(x))`, two polynomials (so
//! they vectorise and need no table):
//!
//! - the lift `b(x) = x + LIFT * L * x * (1 - x)`, which keeps black and white where they are
//!   and raises a mid-grey by `LIFT * L / 4` (typical skin, x = 0.72, by 26 codes at full
//!   strength);
//! - the contrast S-curve `s(b) = b + 2 * c * b * (1 - b) * (2b - 1)` with `c = ±SHAPE * L`
//!   (0 for [`Contrast::Normal`]), whose slope at mid-grey is `1 + c`: steeper for
//!   [`Contrast::High`], flatter for [`Contrast::Low`]. Both stay increasing for `|c| < 0.5`.
//!
//! The strength `L` scales both, so lightening 0 is the identity at every contrast level.

use wide::f32x4;

use super::Contrast;

/// How much full lightening lifts: a mid-grey goes up by `LIFT / 4` of the range.
const LIFT: f32 = 0.6;
/// The S-curve's strength at full lightening (below 0.5 keeps the curve increasing).
const SHAPE: f32 = 0.35;

/// The curve for one lightening strength and contrast level.
#[derive(Clone, Copy, Debug)]
pub(super) struct Curve {
    lift: f32,
    shape: f32,
}

impl Curve {
    /// The curve at `strength` (0.0 to 1.0) and `contrast`.
    pub fn new(strength: f32, contrast: Contrast) -> Self {
        let shape = match contrast {
            Contrast::Low => -SHAPE,
            Contrast::Normal => 0.0,
            Contrast::High => SHAPE,
        };
        Self {
            lift: LIFT * strength,
            shape: shape * strength,
        }
    }

    /// Whether the curve is the identity (lightening off).
    pub fn is_identity(&self) -> bool {
        self.lift == 0.0
    }

    /// The curve and its slope at luma `y` (8-bit codes, limited range; clamped to 16..=235),
    /// as `(value, slope)` with the value in codes; four at a time.
    #[inline(always)]
    pub fn at(&self, y: f32x4) -> (f32x4, f32x4) {
        let one = f32x4::ONE;
        let two = f32x4::splat(2.0);
        let (lift, shape) = (f32x4::splat(self.lift), f32x4::splat(2.0 * self.shape));
        let x = ((y - f32x4::splat(16.0)) * f32x4::splat(1.0 / 219.0))
            .max(f32x4::ZERO)
            .min(one);
        let b = x + lift * x * (one - x);
        let db = one + lift * (one - two * x);
        // h(b) = b (1 - b) (2b - 1) = -2b^3 + 3b^2 - b, h'(b) = -6b^2 + 6b - 1.
        let h = b * (one - b) * (two * b - one);
        let dh = (f32x4::splat(6.0) - f32x4::splat(6.0) * b) * b - one;
        let s = b + shape * h;
        let ds = one + shape * dh;
        (f32x4::splat(16.0) + f32x4::splat(219.0) * s, ds * db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Curve {
        fn at1(&self, y: f32) -> (f32, f32) {
            let (value, slope) = self.at(f32x4::splat(y));
            (value.to_array()[0], slope.to_array()[0])
        }
    }

    #[test]
    fn off_is_the_identity_at_every_contrast() {
        for contrast in [Contrast::Low, Contrast::Normal, Contrast::High] {
            let curve = Curve::new(0.0, contrast);
            for y in 16..=235 {
                let (value, slope) = curve.at1(y as f32);
                assert!(
                    (value - y as f32).abs() < 1e-3,
                    "{contrast} at {y}: {value}"
                );
                assert!((slope - 1.0).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn full_strength_lifts_keeps_the_ends_and_stays_increasing() {
        for contrast in [Contrast::Low, Contrast::Normal, Contrast::High] {
            let curve = Curve::new(1.0, contrast);
            assert!((curve.at1(16.0).0 - 16.0).abs() < 1e-3);
            assert!((curve.at1(235.0).0 - 235.0).abs() < 1e-3);
            let mut last = 16.0;
            for y in 17..=235 {
                let (value, slope) = curve.at1(y as f32);
                assert!(value > last && slope > 0.0, "{contrast} at {y}");
                // The slope is the derivative.
                let numeric = curve.at1(y as f32 + 0.01).0 - curve.at1(y as f32 - 0.01).0;
                assert!((numeric / 0.02 - slope).abs() < 0.01 || y == 235);
                last = value;
            }
            assert!(curve.at1(174.0).0 > 184.0, "{contrast}: skin lifted");
        }
        let skin = |c| Curve::new(1.0, c).at1(174.0).0;
        assert!(skin(Contrast::Low) < skin(Contrast::Normal));
        assert!(skin(Contrast::Normal) < skin(Contrast::High));
    }
}
