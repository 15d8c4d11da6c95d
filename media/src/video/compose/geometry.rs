//! Where things go on the canvas: pixel rectangles, their chroma, and the part of a picture
//! each region shows.

use super::{Canvas, Fit, Region};

/// A rectangle of pixels, `x0..x1` by `y0..y1`; empty when either range is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rect {
    pub(super) x0: i64,
    pub(super) y0: i64,
    pub(super) x1: i64,
    pub(super) y1: i64,
}

impl Rect {
    /// Covers nothing (a watermark wholly in its bars, or transparent).
    pub(super) const EMPTY: Self = Self {
        x0: 0,
        y0: 0,
        x1: 0,
        y1: 0,
    };

    pub(super) fn of(region: &Region) -> Self {
        let (x, y) = (i64::from(region.x), i64::from(region.y));
        Self {
            x0: x,
            y0: y,
            x1: x + i64::from(region.width),
            y1: y + i64::from(region.height),
        }
    }

    pub(super) fn canvas(canvas: &Canvas) -> Self {
        Self {
            x0: 0,
            y0: 0,
            x1: i64::from(canvas.width),
            y1: i64::from(canvas.height),
        }
    }

    pub(super) fn width(self) -> i64 {
        self.x1 - self.x0
    }

    pub(super) fn height(self) -> i64 {
        self.y1 - self.y0
    }

    pub(super) fn is_empty(self) -> bool {
        self.width() <= 0 || self.height() <= 0
    }

    pub(super) fn clip(self, other: Self) -> Self {
        Self {
            x0: self.x0.max(other.x0),
            y0: self.y0.max(other.y0),
            x1: self.x1.min(other.x1),
            y1: self.y1.min(other.y1),
        }
    }

    /// The chroma samples of these luma pixels: each edge halved, rounded up. Every edge is
    /// rounded the same way, so rectangles that tile the luma plane tile the chroma planes.
    pub(super) fn chroma(self) -> Self {
        let half = |edge: i64| (edge + 1).div_euclid(2);
        Self {
            x0: half(self.x0),
            y0: half(self.y0),
            x1: half(self.x1),
            y1: half(self.y1),
        }
    }

    /// The up to four bands of `self` outside `inner` (which lies within it).
    pub(super) fn without(self, inner: Self) -> [Self; 4] {
        [
            Self {
                y1: inner.y0,
                ..self
            },
            Self {
                y0: inner.y1,
                ..self
            },
            Self {
                y0: inner.y0,
                x1: inner.x0,
                y1: inner.y1,
                ..self
            },
            Self {
                x0: inner.x1,
                y0: inner.y0,
                y1: inner.y1,
                ..self
            },
        ]
    }

    /// `[x, y, width, height]` of a non-empty rectangle inside a canvas.
    pub(super) fn to_u32(self) -> [u32; 4] {
        let cast = |v: i64| u32::try_from(v).expect("a clipped rectangle lies inside the canvas");
        [
            cast(self.x0),
            cast(self.y0),
            cast(self.width()),
            cast(self.height()),
        ]
    }

    /// The index range of each row of a non-empty rectangle inside a plane `stride` wide.
    pub(super) fn rows(self, stride: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        let [x, y, w, h] = self.to_u32().map(|v| v as usize);
        (y..y + h).map(move |row| row * stride + x..row * stride + x + w)
    }
}

/// Where a picture goes in its region: the `content` rectangle (the whole region, or less for
/// [`Fit::Fit`]) and the `source` area shown in it, `[left, top, width, height]` in source
/// luma pixels.
pub(super) struct Place {
    pub(super) content: Rect,
    pub(super) source: [f64; 4],
}

impl Place {
    pub(super) fn new(area: Rect, (src_w, src_h): (u32, u32), fit: Fit) -> Self {
        let (w, h) = (area.width() as f64, area.height() as f64);
        let (sw, sh) = (f64::from(src_w), f64::from(src_h));
        match fit {
            Fit::Crop => {
                let scale = (w / sw).max(h / sh);
                let (shown_w, shown_h) = ((w / scale).min(sw), (h / scale).min(sh));
                Self {
                    content: area,
                    source: [(sw - shown_w) / 2.0, (sh - shown_h) / 2.0, shown_w, shown_h],
                }
            }
            Fit::Fit => {
                let scale = (w / sw).min(h / sh);
                let fitted = |side: f64, room: i64| (side * scale).round().clamp(1.0, room as f64);
                let (fw, fh) = (fitted(sw, area.width()), fitted(sh, area.height()));
                let (fw, fh) = (fw as i64, fh as i64);
                let (x0, y0) = (
                    area.x0 + (area.width() - fw) / 2,
                    area.y0 + (area.height() - fh) / 2,
                );
                Self {
                    content: Rect {
                        x0,
                        y0,
                        x1: x0 + fw,
                        y1: y0 + fh,
                    },
                    source: [0.0, 0.0, sw, sh],
                }
            }
        }
    }

    /// The source position (luma pixels) shown at canvas position `x`, `y`.
    pub(super) fn at(&self, x: i64, y: i64) -> (f64, f64) {
        let [left, top, width, height] = self.source;
        (
            left + (x - self.content.x0) as f64 * width / self.content.width() as f64,
            top + (y - self.content.y0) as f64 * height / self.content.height() as f64,
        )
    }

    /// The source area (luma pixels) shown in the luma pixels `rect` of the content.
    pub(super) fn luma(&self, rect: Rect) -> [f64; 4] {
        let (left, top) = self.at(rect.x0, rect.y0);
        let (right, bottom) = self.at(rect.x1, rect.y1);
        [left, top, right - left, bottom - top]
    }

    /// The source area (chroma pixels) shown in the chroma samples `rect` of the content.
    pub(super) fn chroma(&self, rect: Rect) -> [f64; 4] {
        let (left, top) = self.at(2 * rect.x0, 2 * rect.y0);
        let (right, bottom) = self.at(2 * rect.x1, 2 * rect.y1);
        [
            left / 2.0,
            top / 2.0,
            (right - left) / 2.0,
            (bottom - top) / 2.0,
        ]
    }
}
