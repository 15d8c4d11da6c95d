//! Composing a channel's hosts into one picture, for the CDN push (like Agora's
//! `LiveTranscoding`).
//!
//! A [`Compositor`] owns a [`Canvas`] (size and background colour) and draws up to
//! [`MAX_REGIONS`] [`Layer`]s onto it, each a host's picture in its [`Region`]: a rectangle in
//! canvas pixels (any position and size, odd ones included; the part outside the canvas is
//! clipped), a z-order, an alpha and a [`Fit`]. A layer without a picture (the host has sent
//! none yet) shows a placeholder. A [`Watermark`] is drawn on top of everything, through its
//! own alpha channel.
//!
//! Layers are drawn by ascending `z`; layers of equal `z` in the order given. Alpha 1.0 copies
//! (or scales straight into the canvas), 0.0 draws nothing, anything between blends all three
//! planes. Colours are BT.601 limited range, like the rest of [`video`](super).
//!
//! The compositor keeps its canvas, its scratch planes and its scaler, so once it has composed a
//! frame of a given set of sizes, composing another allocates no picture buffers (the scaler
//! still builds its small filter tables for each scale).
//!
//! ```
//! use livestage_media::video::compose::{Canvas, Compositor, Fit, Layer, Region};
//! use livestage_media::video::{I420, TestPattern};
//!
//! let canvas = Canvas { width: 640, height: 360, background: [0, 0, 0] };
//! let mut compositor = Compositor::new(canvas)?;
//! let host = TestPattern::new(320, 180)?.frame(0, 0);
//! let layers = [
//!     Layer::new(Region::new(0, 0, 320, 360).with_fit(Fit::Fit), Some(&host)),
//!     Layer::new(Region::new(320, 0, 320, 360), None), // this host has no picture yet
//! ];
//! let frame: &I420 = compositor.compose(&layers)?;
//! assert_eq!(frame.size(), (640, 360));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod geometry;
mod overlay;

use fast_image_resize::PixelType;

use self::geometry::{Place, Rect};
use self::overlay::Overlay;
use super::convert::rgb_to_yuv;
use super::frame::{FrameError, I420, Rgba, check_size};
use super::scale::Scaler;

/// The most layers one canvas takes (the watermark is not counted).
pub const MAX_REGIONS: usize = 17;

/// The picture composed into: its size (even, within the [`I420`] limits) and the colour shown
/// where no layer draws, and in the bars beside a [`Fit::Fit`] picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canvas {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Background colour, RGB.
    pub background: [u8; 3],
}

/// How a picture whose aspect differs from its region's fills the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Scaled to cover the whole region; what overflows is cut off, equally on both sides.
    #[default]
    Crop,
    /// Scaled to fit inside the region, centred; the bars beside it show the background.
    Fit,
}

/// Where a layer is drawn, in canvas pixels, and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Region {
    /// Left edge; may be negative (the part outside the canvas is clipped).
    pub x: i32,
    /// Top edge; may be negative.
    pub y: i32,
    /// Width, at least 1.
    pub width: u32,
    /// Height, at least 1.
    pub height: u32,
    /// Drawing order: higher is drawn later, on top.
    pub z: i32,
    /// Opacity, 0.0 (invisible) to 1.0 (opaque).
    pub alpha: f32,
    /// How the picture fills the region.
    pub fit: Fit,
}

impl Region {
    /// An opaque region at `z` 0 that crops its picture to fill it.
    pub fn new(x: i32, y: i32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
            z: 0,
            alpha: 1.0,
            fit: Fit::Crop,
        }
    }

    /// The same region at drawing order `z`.
    #[must_use]
    pub fn with_z(self, z: i32) -> Self {
        Self { z, ..self }
    }

    /// The same region with opacity `alpha`.
    #[must_use]
    pub fn with_alpha(self, alpha: f32) -> Self {
        Self { alpha, ..self }
    }

    /// The same region with fit mode `fit`.
    #[must_use]
    pub fn with_fit(self, fit: Fit) -> Self {
        Self { fit, ..self }
    }
}

/// One host on the canvas: its region and its current picture, or `None` for the placeholder.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// Where and how it is drawn.
    pub region: Region,
    /// The host's latest picture, any valid size; `None` shows the placeholder.
    pub picture: Option<&'a I420>,
}

impl<'a> Layer<'a> {
    /// A layer showing `picture` (or the placeholder) in `region`.
    pub fn new(region: Region, picture: Option<&'a I420>) -> Self {
        Self { region, picture }
    }
}

/// An image drawn over all layers, through its own alpha channel (times the region's alpha).
///
/// The region's `z` is not used; its `fit` places the image, and with [`Fit::Fit`] the space
/// beside the image stays transparent.
#[derive(Debug, Clone, PartialEq)]
pub struct Watermark {
    /// The image, straight (not premultiplied) alpha.
    pub image: Rgba,
    /// Where it is drawn.
    pub region: Region,
}

/// What an error is about: a layer (by its index in the slice given) or the watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The layer at this index.
    Layer(usize),
    /// The watermark.
    Watermark,
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Layer(index) => write!(f, "layer {index}"),
            Self::Watermark => f.write_str("the watermark"),
        }
    }
}

/// A canvas or a layout that cannot be composed; the message says what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The canvas size is not a valid frame size.
    #[error("the canvas is unusable: {0}")]
    Canvas(FrameError),
    /// More layers than [`MAX_REGIONS`].
    #[error(
        "{count} layers were given but a canvas takes at most {MAX_REGIONS}; \
         leave out the hosts that are not shown"
    )]
    TooMany {
        /// Layers given.
        count: usize,
    },
    /// A region with no area.
    #[error(
        "{slot} has an empty {width}x{height} region; give it a width and height of at least 1"
    )]
    Empty {
        /// Which region.
        slot: Slot,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// A region that does not touch the canvas.
    #[error(
        "{slot}'s {width}x{height} region at ({x}, {y}) lies entirely outside the \
         {canvas_width}x{canvas_height} canvas; move it onto the canvas (a region partly \
         outside is clipped)"
    )]
    Outside {
        /// Which region.
        slot: Slot,
        /// Its left edge.
        x: i32,
        /// Its top edge.
        y: i32,
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The canvas width.
        canvas_width: u32,
        /// The canvas height.
        canvas_height: u32,
    },
    /// An alpha outside 0.0..=1.0, or not a number.
    #[error("{slot} has alpha {alpha}; use a value from 0.0 (invisible) to 1.0 (opaque)")]
    Alpha {
        /// Which region.
        slot: Slot,
        /// The alpha given.
        alpha: f32,
    },
}

/// Checks a canvas and a layout without composing: what [`Compositor::compose`] would reject.
///
/// # Errors
///
/// The first problem found: the canvas size, too many regions, then each region in order.
pub fn validate(canvas: &Canvas, regions: &[Region]) -> Result<(), Error> {
    check_canvas(canvas)?;
    check_count(regions.len())?;
    regions
        .iter()
        .enumerate()
        .try_for_each(|(index, region)| check_region(Slot::Layer(index), region, canvas))
}

fn check_canvas(canvas: &Canvas) -> Result<(), Error> {
    check_size(canvas.width, canvas.height).map_err(Error::Canvas)
}

fn check_count(count: usize) -> Result<(), Error> {
    if count > MAX_REGIONS {
        return Err(Error::TooMany { count });
    }
    Ok(())
}

fn check_region(slot: Slot, region: &Region, canvas: &Canvas) -> Result<(), Error> {
    let Region {
        x,
        y,
        width,
        height,
        alpha,
        ..
    } = *region;
    if width == 0 || height == 0 {
        return Err(Error::Empty {
            slot,
            width,
            height,
        });
    }
    if !(0.0..=1.0).contains(&alpha) {
        return Err(Error::Alpha { slot, alpha });
    }
    if Rect::of(region).clip(Rect::canvas(canvas)).is_empty() {
        return Err(Error::Outside {
            slot,
            x,
            y,
            width,
            height,
            canvas_width: canvas.width,
            canvas_height: canvas.height,
        });
    }
    Ok(())
}

/// Composes layers onto a canvas, keeping its buffers between frames.
pub struct Compositor {
    canvas: Canvas,
    frame: I420,
    /// Background, YUV.
    background: [u8; 3],
    /// The placeholder colour the caller chose (RGB), if any.
    chosen_placeholder: Option<[u8; 3]>,
    /// Placeholder, YUV.
    placeholder: [u8; 3],
    scaler: Scaler,
    /// Scaled planes waiting to be blended (alpha below 1).
    scratch: Vec<u8>,
    /// Layer indices in drawing order.
    order: Vec<usize>,
    watermark: Option<(Watermark, Overlay)>,
}

impl std::fmt::Debug for Compositor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compositor")
            .field("canvas", &self.canvas)
            .field("watermark", &self.watermark.as_ref().map(|(w, _)| w.region))
            .finish_non_exhaustive()
    }
}

impl Compositor {
    /// A compositor for `canvas`, with the default placeholder and no watermark.
    ///
    /// # Errors
    ///
    /// [`Error::Canvas`] if the size is odd or outside the [`I420`] limits.
    pub fn new(canvas: Canvas) -> Result<Self, Error> {
        check_canvas(&canvas)?;
        let frame = I420::new(canvas.width, canvas.height).map_err(Error::Canvas)?;
        Ok(Self {
            canvas,
            frame,
            background: rgb_to_yuv(canvas.background),
            chosen_placeholder: None,
            placeholder: rgb_to_yuv(darker(canvas.background)),
            scaler: Scaler::new(),
            scratch: Vec::new(),
            order: Vec::with_capacity(MAX_REGIONS),
            watermark: None,
        })
    }

    /// The canvas composed into.
    pub fn canvas(&self) -> Canvas {
        self.canvas
    }

    /// Changes the canvas (size or background). The watermark is placed again on the new one.
    ///
    /// # Errors
    ///
    /// [`Error::Canvas`] for an unusable size, or an error about the watermark's region if it
    /// is off the new canvas; the compositor is then unchanged.
    pub fn set_canvas(&mut self, canvas: Canvas) -> Result<(), Error> {
        check_canvas(&canvas)?;
        let overlay = match &self.watermark {
            Some((watermark, _)) => {
                check_region(Slot::Watermark, &watermark.region, &canvas)?;
                Some(Overlay::new(watermark, &canvas, &mut self.scaler))
            }
            None => None,
        };
        if canvas.width != self.canvas.width || canvas.height != self.canvas.height {
            self.frame = I420::new(canvas.width, canvas.height).map_err(Error::Canvas)?;
        }
        self.canvas = canvas;
        self.background = rgb_to_yuv(canvas.background);
        if let (Some(overlay), Some((_, old))) = (overlay, &mut self.watermark) {
            *old = overlay;
        }
        self.set_placeholder(self.chosen_placeholder);
        Ok(())
    }

    /// The colour (RGB) of a layer without a picture; `None` for the default: the background a
    /// quarter darker, or, on a background too dark to darken visibly (every channel below 64),
    /// a little lighter.
    pub fn set_placeholder(&mut self, colour: Option<[u8; 3]>) {
        self.chosen_placeholder = colour;
        self.placeholder = rgb_to_yuv(colour.unwrap_or_else(|| darker(self.canvas.background)));
    }

    /// Sets or removes the watermark. The image is scaled and converted here, once; each frame
    /// only blends it.
    ///
    /// # Errors
    ///
    /// An error naming [`Slot::Watermark`] if its region is empty, off the canvas or has an
    /// alpha outside 0.0..=1.0; the previous watermark is then kept.
    pub fn set_watermark(&mut self, watermark: Option<Watermark>) -> Result<(), Error> {
        self.watermark = match watermark {
            Some(watermark) => {
                check_region(Slot::Watermark, &watermark.region, &self.canvas)?;
                let overlay = Overlay::new(&watermark, &self.canvas, &mut self.scaler);
                Some((watermark, overlay))
            }
            None => None,
        };
        Ok(())
    }

    /// The last composed frame (black before the first [`compose`](Self::compose) at this size).
    pub fn frame(&self) -> &I420 {
        &self.frame
    }

    /// Draws the background, then `layers` by ascending `z` (equal `z` in the order given),
    /// then the watermark, and returns the frame.
    ///
    /// # Errors
    ///
    /// What [`validate`] reports for these layers' regions; nothing is drawn then.
    pub fn compose(&mut self, layers: &[Layer<'_>]) -> Result<&I420, Error> {
        check_count(layers.len())?;
        for (index, layer) in layers.iter().enumerate() {
            check_region(Slot::Layer(index), &layer.region, &self.canvas)?;
        }
        self.order.clear();
        self.order.extend(0..layers.len());
        // A stable sort, and for at most MAX_REGIONS items an insertion sort that allocates nothing.
        self.order.sort_by_key(|&index| layers[index].region.z);

        let [y, u, v] = self.background;
        let (luma, cb, cr) = self.frame.planes_mut();
        luma.fill(y);
        cb.fill(u);
        cr.fill(v);
        for at in 0..self.order.len() {
            self.draw(&layers[self.order[at]]);
        }
        if let Some((_, overlay)) = &self.watermark {
            overlay.blend(&mut self.frame);
        }
        Ok(&self.frame)
    }

    fn draw(&mut self, layer: &Layer<'_>) {
        let alpha = weight(layer.region.alpha);
        if alpha == 0 {
            return;
        }
        let canvas = Rect::canvas(&self.canvas);
        let area = Rect::of(&layer.region);
        let Some(picture) = layer.picture else {
            fill(&mut self.frame, area.clip(canvas), self.placeholder, alpha);
            return;
        };
        let place = Place::new(area, picture.size(), layer.region.fit);
        for bar in area.without(place.content) {
            fill(&mut self.frame, bar.clip(canvas), self.background, alpha);
        }
        let visible = place.content.clip(canvas);
        if visible.is_empty() {
            return;
        }
        let (canvas_w, canvas_h) = self.frame.size();
        let (src_w, src_h) = picture.size();
        let (luma, cb, cr) = self.frame.planes_mut();
        scale_onto(
            (&mut self.scaler, &mut self.scratch),
            (picture.y(), (src_w, src_h)),
            place.luma(visible),
            (luma, (canvas_w, canvas_h)),
            visible,
            alpha,
        );
        let chroma = visible.chroma();
        if chroma.is_empty() {
            return;
        }
        let area = place.chroma(chroma);
        for (src, dst) in [(picture.u(), cb), (picture.v(), cr)] {
            scale_onto(
                (&mut self.scaler, &mut self.scratch),
                (src, (src_w / 2, src_h / 2)),
                area,
                (dst, (canvas_w / 2, canvas_h / 2)),
                chroma,
                alpha,
            );
        }
    }
}

/// Scales `area` of a source plane into `window` of a canvas plane: straight in when `alpha`
/// is 256 (opaque), else through `scratch` and blended.
fn scale_onto(
    (scaler, scratch): (&mut Scaler, &mut Vec<u8>),
    (src, (src_w, src_h)): (&[u8], (u32, u32)),
    area: [f64; 4],
    (dst, (dst_w, dst_h)): (&mut [u8], (u32, u32)),
    window: Rect,
    alpha: u16,
) {
    let [x, y, w, h] = window.to_u32();
    if alpha == OPAQUE {
        scaler.area(
            PixelType::U8,
            (src, src_w, src_h),
            area,
            (dst, dst_w, dst_h),
            [x, y, w, h],
        );
        return;
    }
    let len = w as usize * h as usize;
    if scratch.len() < len {
        scratch.resize(len, 0);
    }
    let scaled = &mut scratch[..len];
    scaler.area(
        PixelType::U8,
        (src, src_w, src_h),
        area,
        (scaled, w, h),
        [0, 0, w, h],
    );
    let stride = dst_w as usize;
    for (row, line) in window.rows(stride).zip(scaled.chunks_exact(w as usize)) {
        blend(&mut dst[row], line, alpha);
    }
}

/// `alpha` in 1/256ths: what [`OPAQUE`] and [`blend`] use.
fn weight(alpha: f32) -> u16 {
    // Validated to 0.0..=1.0 before, so the cast cannot saturate.
    (alpha * f32::from(OPAQUE)).round() as u16
}

/// Full opacity in 1/256ths.
const OPAQUE: u16 = 256;

/// `dst = src * alpha + dst * (1 - alpha)`, alpha in 1/256ths, rounded.
fn blend(dst: &mut [u8], src: &[u8], alpha: u16) {
    let keep = OPAQUE - alpha;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = ((u16::from(s) * alpha + u16::from(*d) * keep + 128) >> 8) as u8;
    }
}

/// Paints `rect` (luma pixels, already clipped) of `frame` with `yuv` at `alpha`.
fn fill(frame: &mut I420, rect: Rect, [y, u, v]: [u8; 3], alpha: u16) {
    if rect.is_empty() {
        return;
    }
    let width = frame.width() as usize;
    let (luma, cb, cr) = frame.planes_mut();
    let chroma = rect.chroma();
    for (plane, stride, rect, value) in [
        (luma, width, rect, y),
        (cb, width / 2, chroma, u),
        (cr, width / 2, chroma, v),
    ] {
        for row in rect.rows(stride) {
            let line = &mut plane[row];
            if alpha == OPAQUE {
                line.fill(value);
            } else {
                let keep = OPAQUE - alpha;
                let value = u16::from(value) * alpha + 128;
                for d in line {
                    *d = ((value + u16::from(*d) * keep) >> 8) as u8;
                }
            }
        }
    }
}

/// The default placeholder for a background (see [`Compositor::set_placeholder`]).
fn darker(background: [u8; 3]) -> [u8; 3] {
    if background.iter().all(|&c| c < 64) {
        background.map(|c| c + 40)
    } else {
        background.map(|c| c - c / 4)
    }
}
