//! The watermark, scaled, converted and clipped once per canvas, and blended each frame.

use fast_image_resize::PixelType;

use super::geometry::{Place, Rect};
use super::{Canvas, OPAQUE, Watermark, weight};
use crate::video::convert::rgb_to_yuv;
use crate::video::frame::I420;
use crate::video::scale::Scaler;

/// A watermark scaled, converted and clipped for one canvas: YUV with an alpha per sample.
#[derive(Debug)]
pub(super) struct Overlay {
    /// Luma pixels covered.
    luma: Rect,
    y: Vec<u8>,
    /// Alpha per luma pixel, 0..=256.
    luma_alpha: Vec<u16>,
    /// Chroma samples covered (partly covered ones included).
    chroma: Rect,
    u: Vec<u8>,
    v: Vec<u8>,
    /// Alpha per chroma sample: the mean of its four luma pixels', 0..=256.
    chroma_alpha: Vec<u16>,
}

impl Overlay {
    pub(super) fn new(watermark: &Watermark, canvas: &Canvas, scaler: &mut Scaler) -> Self {
        let region = &watermark.region;
        let image = &watermark.image;
        let place = Place::new(Rect::of(region), image.size(), region.fit);
        let luma = place.content.clip(Rect::canvas(canvas));
        let mut overlay = Self {
            luma,
            y: Vec::new(),
            luma_alpha: Vec::new(),
            chroma: luma,
            u: Vec::new(),
            v: Vec::new(),
            chroma_alpha: Vec::new(),
        };
        let region_alpha = weight(region.alpha);
        if luma.is_empty() || region_alpha == 0 {
            overlay.luma = Rect::EMPTY;
            overlay.chroma = Rect::EMPTY;
            return overlay;
        }
        let [_, _, w, h] = luma.to_u32();
        let mut rgba = vec![0; w as usize * h as usize * 4];
        scaler.area(
            PixelType::U8x4,
            (image.data(), image.width(), image.height()),
            place.luma(luma),
            (&mut rgba, w, h),
            [0, 0, w, h],
        );
        // Full-resolution YUV and alpha, then the chroma planes from them.
        let pixels: Vec<([u8; 3], u16)> = rgba
            .chunks_exact(4)
            .map(|p| {
                let alpha = (u32::from(p[3]) * u32::from(region_alpha) + 127) / 255;
                (rgb_to_yuv([p[0], p[1], p[2]]), alpha as u16)
            })
            .collect();
        overlay.y = pixels.iter().map(|(yuv, _)| yuv[0]).collect();
        overlay.luma_alpha = pixels.iter().map(|&(_, a)| a).collect();

        let half_down = |edge: i64| edge.div_euclid(2);
        let half_up = |edge: i64| (edge + 1).div_euclid(2);
        let chroma = Rect {
            x0: half_down(luma.x0),
            y0: half_down(luma.y0),
            x1: half_up(luma.x1),
            y1: half_up(luma.y1),
        };
        overlay.chroma = chroma;
        for cy in chroma.y0..chroma.y1 {
            for cx in chroma.x0..chroma.x1 {
                let (mut weight_sum, mut u_sum, mut v_sum) = (0u32, 0u32, 0u32);
                for (px, py) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (x, y) = (2 * cx + px, 2 * cy + py);
                    if !(luma.x0..luma.x1).contains(&x) || !(luma.y0..luma.y1).contains(&y) {
                        continue;
                    }
                    let at = ((y - luma.y0) * luma.width() + (x - luma.x0)) as usize;
                    let ([_, u, v], alpha) = pixels[at];
                    let alpha = u32::from(alpha);
                    weight_sum += alpha;
                    u_sum += alpha * u32::from(u);
                    v_sum += alpha * u32::from(v);
                }
                let mean = |sum: u32| {
                    (sum + weight_sum / 2)
                        .checked_div(weight_sum)
                        .map_or(128, |mean| mean as u8)
                };
                overlay.u.push(mean(u_sum));
                overlay.v.push(mean(v_sum));
                overlay.chroma_alpha.push(((weight_sum + 2) / 4) as u16);
            }
        }
        overlay
    }

    /// Blends the watermark onto `frame`, which has the canvas size it was made for.
    pub(super) fn blend(&self, frame: &mut I420) {
        if self.luma.is_empty() {
            return;
        }
        let width = frame.width() as usize;
        let (luma, cb, cr) = frame.planes_mut();
        let over = |dst: &mut [u8], rect: Rect, stride: usize, src: &[u8], alpha: &[u16]| {
            let w = rect.width() as usize;
            let lines = src.chunks_exact(w).zip(alpha.chunks_exact(w));
            for (row, (line, alpha)) in rect.rows(stride).zip(lines) {
                for ((d, &s), &a) in dst[row].iter_mut().zip(line).zip(alpha) {
                    *d = ((u16::from(s) * a + u16::from(*d) * (OPAQUE - a) + 128) >> 8) as u8;
                }
            }
        };
        over(luma, self.luma, width, &self.y, &self.luma_alpha);
        over(cb, self.chroma, width / 2, &self.u, &self.chroma_alpha);
        over(cr, self.chroma, width / 2, &self.v, &self.chroma_alpha);
    }
}
