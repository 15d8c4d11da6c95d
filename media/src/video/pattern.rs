//! The test pattern: a solid background, a moving bar, and a stamp that survives H.264.
//!
//! The stamp is a band at the top of the picture: [`COLUMNS`] x [`ROWS`] square blocks, each
//! one bit, black (luma 16) or white (luma 235). The 160 bits are, in reading order (left to
//! right, top to bottom, most significant bit first): an 8-bit start marker, the 64-bit frame
//! number, the 64-bit capture timestamp, a CRC-16 of those 16 bytes and an 8-bit end marker.
//! [`read_stamp`] averages the centre of each block after decoding, so blurred block edges do
//! not matter, and returns `None` unless both markers and the CRC match.
//!
//! Blocks are `min(width / 40, height / 10)` pixels (8 at 320x180, 32 at 1280x720), so the
//! band takes the top tenth of the picture at most. The bar moves along the bottom quarter;
//! the middle of the picture always shows the background colour.
//!
//! ```
//! use livestage_media::video::{TestPattern, read_stamp, Stamp};
//!
//! let pattern = TestPattern::new(320, 180)?.with_colour([200, 40, 40]);
//! let frame = pattern.frame(7, 1_700_000_000_123_456);
//! let stamp = read_stamp(&frame);
//! assert_eq!(stamp, Some(Stamp { frame_number: 7, capture_us: 1_700_000_000_123_456 }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::convert::rgb_to_yuv;
use super::frame::{FrameError, I420, check_same_size, check_size};

/// Blocks per stamp row.
pub const COLUMNS: u32 = 40;
/// Stamp rows.
pub const ROWS: u32 = 4;
/// Smallest block side in pixels; smaller pictures cannot carry a stamp.
const MIN_BLOCK: u32 = 4;
const BLACK: u8 = 16;
const WHITE: u8 = 235;
const GREY: u8 = 128;
/// Luma above this reads as a 1.
const THRESHOLD: u32 = 126;
const START: u8 = 0b1011_0010;
const END: u8 = 0b0100_1101;
const BITS: usize = (COLUMNS * ROWS) as usize;

/// What a stamp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// The frame number passed to [`TestPattern::frame`].
    pub frame_number: u64,
    /// The capture time passed to [`TestPattern::frame`] (microseconds since the Unix epoch).
    pub capture_us: u64,
}

/// Why a test pattern cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The size is not a valid frame size.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The size is valid but too small for the stamp's blocks.
    #[error(
        "{width}x{height} is too small for the test pattern's stamp; use at least {}x{}",
        COLUMNS * MIN_BLOCK,
        10 * MIN_BLOCK
    )]
    TooSmall {
        /// The rejected width.
        width: u32,
        /// The rejected height.
        height: u32,
    },
}

/// A generator of stamped test frames of one size and colour.
#[derive(Debug, Clone)]
pub struct TestPattern {
    colour: [u8; 3],
    block: u32,
    textured: bool,
    /// Background and empty band, copied into each frame before drawing.
    base: I420,
}

impl TestPattern {
    /// The default background, a medium blue (RGB).
    pub const DEFAULT_COLOUR: [u8; 3] = [40, 90, 200];

    /// A pattern of `width`x`height` on [`DEFAULT_COLOUR`](Self::DEFAULT_COLOUR).
    ///
    /// # Errors
    ///
    /// If the size is not a valid frame size or is smaller than 160x40.
    pub fn new(width: u32, height: u32) -> Result<Self, Error> {
        Self::check(width, height)?;
        let base = I420::new(width, height)?;
        let block = block_size(width, height).ok_or(Error::TooSmall { width, height })?;
        let mut pattern = Self {
            colour: Self::DEFAULT_COLOUR,
            block,
            textured: false,
            base,
        };
        pattern.paint_base();
        Ok(pattern)
    }

    /// Checks that a pattern of `width`x`height` can be made, without painting one.
    ///
    /// # Errors
    ///
    /// What [`new`](Self::new) would return.
    pub fn check(width: u32, height: u32) -> Result<(), Error> {
        check_size(width, height)?;
        block_size(width, height).ok_or(Error::TooSmall { width, height })?;
        Ok(())
    }

    /// The same pattern on background `rgb`.
    #[must_use]
    pub fn with_colour(mut self, rgb: [u8; 3]) -> Self {
        self.colour = rgb;
        self.paint_base();
        self
    }

    /// Adds low-amplitude luma noise that changes every frame below the stamp band, so the
    /// encoder spends its whole bitrate, like game footage (the flat pattern compresses to
    /// almost nothing, which would make bandwidth measurements meaningless).
    pub fn with_texture(mut self, textured: bool) -> Self {
        self.textured = textured;
        self
    }

    /// The background colour (RGB).
    pub fn colour(&self) -> [u8; 3] {
        self.colour
    }

    /// `(width, height)` of the frames.
    pub fn size(&self) -> (u32, u32) {
        self.base.size()
    }

    /// Height of the stamp band at the top, in pixels.
    pub fn band_height(&self) -> u32 {
        self.block * ROWS
    }

    /// A new frame stamped with `frame_number` and `capture_us`.
    pub fn frame(&self, frame_number: u64, capture_us: u64) -> I420 {
        let mut frame = self.base.clone();
        self.draw(&mut frame, frame_number, capture_us);
        frame
    }

    /// Writes the frame into `out`, reusing its buffers.
    ///
    /// # Errors
    ///
    /// [`FrameError::SizeMismatch`] if `out` has another size.
    pub fn frame_into(
        &self,
        frame_number: u64,
        capture_us: u64,
        out: &mut I420,
    ) -> Result<(), FrameError> {
        check_same_size("test pattern", self.size(), out.size())?;
        let (y, u, v) = out.planes_mut();
        y.copy_from_slice(self.base.y());
        u.copy_from_slice(self.base.u());
        v.copy_from_slice(self.base.v());
        self.draw(out, frame_number, capture_us);
        Ok(())
    }

    /// Paints the background colour and the empty (grey) band into `base`.
    fn paint_base(&mut self) {
        let width = self.base.width() as usize;
        let [luma, cb, cr] = rgb_to_yuv(self.colour);
        let band_rows = (self.block * ROWS) as usize;
        let (y, u, v) = self.base.planes_mut();
        y.fill(luma);
        u.fill(cb);
        v.fill(cr);
        fill_rect(y, width, 0..width, 0..band_rows, GREY);
        let cw = width / 2;
        fill_rect(u, cw, 0..cw, 0..band_rows / 2, GREY);
        fill_rect(v, cw, 0..cw, 0..band_rows / 2, GREY);
    }

    /// Draws the moving bar and the stamp over a copy of `base`.
    fn draw(&self, frame: &mut I420, frame_number: u64, capture_us: u64) {
        let (width, height) = (frame.width() as usize, frame.height() as usize);
        let (y, u, v) = frame.planes_mut();

        // A white bar, 1/16 of the width, crossing the bottom quarter left to right.
        let bar = (width / 16).max(2) & !1;
        let step = (width / 128).max(2) as u64;
        let travel = (width - bar) as u64;
        let x0 = ((frame_number.wrapping_mul(step)) % travel) as usize & !1;
        let top = (height * 3 / 4) & !1;
        fill_rect(y, width, x0..x0 + bar, top..height, WHITE);
        let cw = width / 2;
        fill_rect(u, cw, x0 / 2..(x0 + bar) / 2, top / 2..height / 2, GREY);
        fill_rect(v, cw, x0 / 2..(x0 + bar) / 2, top / 2..height / 2, GREY);

        if self.textured {
            let band_rows = (self.block * ROWS) as usize;
            add_noise(&mut y[band_rows * width..], frame_number);
        }

        let block = self.block as usize;
        for (i, bit) in bits(Stamp {
            frame_number,
            capture_us,
        })
        .into_iter()
        .enumerate()
        {
            let (bx, by) = block_origin(i, block);
            let level = if bit { WHITE } else { BLACK };
            fill_rect(y, width, bx..bx + block, by..by + block, level);
        }
    }
}

/// Adds up to ±6 of xorshift noise, seeded by the frame number, to every luma sample.
fn add_noise(luma: &mut [u8], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in luma.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for (i, px) in chunk.iter_mut().enumerate() {
            let delta = ((x >> (i * 8)) & 0x0f) as i16 - 6;
            *px = (i16::from(*px) + delta).clamp(16, 235) as u8;
        }
    }
}

/// Reads the stamp of a (decoded) test-pattern frame, or `None` if there is no valid stamp.
pub fn read_stamp(frame: &I420) -> Option<Stamp> {
    let block = block_size(frame.width(), frame.height())? as usize;
    let width = frame.width() as usize;
    let luma = frame.y();
    let inset = block / 4;
    let side = block - 2 * inset;
    let mut read = [false; BITS];
    for (i, bit) in read.iter_mut().enumerate() {
        let (bx, by) = block_origin(i, block);
        let (x0, y0) = (bx + inset, by + inset);
        let mut sum = 0u32;
        for row in y0..y0 + side {
            let line = luma.get(row * width + x0..row * width + x0 + side)?;
            sum += line.iter().map(|&l| u32::from(l)).sum::<u32>();
        }
        *bit = sum > THRESHOLD * (side * side) as u32;
    }
    let mut at = 0;
    let mut take = |count: usize| -> u64 {
        let value = read[at..at + count]
            .iter()
            .fold(0u64, |acc, &b| acc << 1 | u64::from(b));
        at += count;
        value
    };
    let start = take(8);
    let frame_number = take(64);
    let capture_us = take(64);
    let crc = take(16);
    let end = take(8);
    let stamp = Stamp {
        frame_number,
        capture_us,
    };
    let valid =
        start == u64::from(START) && end == u64::from(END) && crc == u64::from(crc16(&stamp));
    valid.then_some(stamp)
}

/// Block side for a frame size, or `None` if the stamp does not fit.
fn block_size(width: u32, height: u32) -> Option<u32> {
    let block = (width / COLUMNS).min(height / 10) & !1;
    (block >= MIN_BLOCK).then_some(block)
}

/// Top-left pixel of block `index`.
fn block_origin(index: usize, block: usize) -> (usize, usize) {
    let columns = COLUMNS as usize;
    ((index % columns) * block, (index / columns) * block)
}

/// The stamp's 160 bits in reading order.
fn bits(stamp: Stamp) -> [bool; BITS] {
    let fields: [(u64, usize); 5] = [
        (u64::from(START), 8),
        (stamp.frame_number, 64),
        (stamp.capture_us, 64),
        (u64::from(crc16(&stamp)), 16),
        (u64::from(END), 8),
    ];
    let mut out = [false; BITS];
    let mut at = 0;
    for (value, count) in fields {
        for shift in (0..count).rev() {
            out[at] = (value >> shift) & 1 == 1;
            at += 1;
        }
    }
    out
}

/// CRC-16/CCITT-FALSE of the frame number and capture time (big endian).
fn crc16(stamp: &Stamp) -> u16 {
    let mut crc = 0xffffu16;
    let bytes = stamp
        .frame_number
        .to_be_bytes()
        .into_iter()
        .chain(stamp.capture_us.to_be_bytes());
    for byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Sets the pixels in `xs` x `ys` of a plane with rows `stride` bytes long to `value`.
fn fill_rect(
    plane: &mut [u8],
    stride: usize,
    xs: std::ops::Range<usize>,
    ys: std::ops::Range<usize>,
    value: u8,
) {
    for row in ys {
        if let Some(line) = plane.get_mut(row * stride + xs.start..row * stride + xs.end) {
            line.fill(value);
        }
    }
}
