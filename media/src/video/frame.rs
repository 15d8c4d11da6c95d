//! Raw pictures: [`I420`] (what the codec eats) and [`Rgba`] (what apps and textures hold).
//!
//! Both types check their size once, at construction, so every function that takes one can rely
//! on it: width and height are even and between [`MIN_WIDTH`]x[`MIN_HEIGHT`] and
//! [`MAX_WIDTH`]x[`MAX_HEIGHT`], and the buffers have exactly the right length.

/// Smallest accepted width in pixels.
pub const MIN_WIDTH: u32 = 16;
/// Smallest accepted height in pixels.
pub const MIN_HEIGHT: u32 = 16;
/// Largest accepted width in pixels (4K UHD, the largest size the H.264 encoder takes).
pub const MAX_WIDTH: u32 = 3840;
/// Largest accepted height in pixels (4K UHD, the largest size the H.264 encoder takes).
pub const MAX_HEIGHT: u32 = 2160;

/// A frame or buffer whose size is unusable; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Width or height is odd; 4:2:0 chroma needs both to be even.
    #[error(
        "frame size {width}x{height} has an odd side; width and height must be even \
         (crop or pad the picture by one pixel)"
    )]
    OddSize {
        /// The rejected width.
        width: u32,
        /// The rejected height.
        height: u32,
    },
    /// Width or height is outside the supported range.
    #[error(
        "frame size {width}x{height} is outside the supported range \
         {MIN_WIDTH}x{MIN_HEIGHT} to {MAX_WIDTH}x{MAX_HEIGHT}; scale the picture into that range"
    )]
    OutOfRange {
        /// The rejected width.
        width: u32,
        /// The rejected height.
        height: u32,
    },
    /// A pixel buffer has the wrong number of bytes for the stated size.
    #[error(
        "the {plane} buffer has {actual} bytes but a tightly packed {width}x{height} frame \
         needs {expected}; check the size you passed and that rows have no padding"
    )]
    BufferLength {
        /// Which buffer: `"Y"`, `"U"`, `"V"`, `"RGBA"` or `"BGRA"`.
        plane: &'static str,
        /// Width the buffer was meant for.
        width: u32,
        /// Height the buffer was meant for.
        height: u32,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// A valid frame whose size differs from what the receiver was set up for.
    #[error(
        "frame is {actual_width}x{actual_height} but this {receiver} was set up for \
         {expected_width}x{expected_height}; scale the frame or create a new {receiver} \
         for the new size"
    )]
    SizeMismatch {
        /// What rejected the frame, e.g. `"encoder"`.
        receiver: &'static str,
        /// Width the receiver expects.
        expected_width: u32,
        /// Height the receiver expects.
        expected_height: u32,
        /// Width of the frame given.
        actual_width: u32,
        /// Height of the frame given.
        actual_height: u32,
    },
}

/// Checks that `width`x`height` is a size every video type here accepts.
///
/// # Errors
///
/// [`FrameError::OutOfRange`] or [`FrameError::OddSize`].
pub fn check_size(width: u32, height: u32) -> Result<(), FrameError> {
    if !(MIN_WIDTH..=MAX_WIDTH).contains(&width) || !(MIN_HEIGHT..=MAX_HEIGHT).contains(&height) {
        return Err(FrameError::OutOfRange { width, height });
    }
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        return Err(FrameError::OddSize { width, height });
    }
    Ok(())
}

/// Checks that `frame_size` equals `expected`, naming `receiver` in the error.
pub(crate) fn check_same_size(
    receiver: &'static str,
    expected: (u32, u32),
    frame_size: (u32, u32),
) -> Result<(), FrameError> {
    if expected == frame_size {
        Ok(())
    } else {
        Err(FrameError::SizeMismatch {
            receiver,
            expected_width: expected.0,
            expected_height: expected.1,
            actual_width: frame_size.0,
            actual_height: frame_size.1,
        })
    }
}

fn check_len(
    plane: &'static str,
    (width, height): (u32, u32),
    expected: usize,
    actual: usize,
) -> Result<(), FrameError> {
    if expected == actual {
        Ok(())
    } else {
        Err(FrameError::BufferLength {
            plane,
            width,
            height,
            expected,
            actual,
        })
    }
}

/// A planar YUV 4:2:0 picture, BT.601 limited range, tightly packed.
///
/// The Y plane is `width * height` bytes; U and V are each `(width / 2) * (height / 2)` bytes,
/// rows top to bottom with no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct I420 {
    width: u32,
    height: u32,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl std::fmt::Debug for I420 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "I420({}x{})", self.width, self.height)
    }
}

impl I420 {
    /// A black frame (Y = 16, U = V = 128).
    ///
    /// # Errors
    ///
    /// If the size is odd or out of range (see [`check_size`]).
    pub fn new(width: u32, height: u32) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let (luma, chroma) = plane_lens(width, height);
        Ok(Self {
            width,
            height,
            y: vec![16; luma],
            u: vec![128; chroma],
            v: vec![128; chroma],
        })
    }

    /// Wraps existing, tightly packed planes.
    ///
    /// # Errors
    ///
    /// If the size is odd or out of range, or a plane has the wrong length.
    pub fn from_planes(
        width: u32,
        height: u32,
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    ) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let (luma, chroma) = plane_lens(width, height);
        check_len("Y", (width, height), luma, y.len())?;
        check_len("U", (width, height), chroma, u.len())?;
        check_len("V", (width, height), chroma, v.len())?;
        Ok(Self {
            width,
            height,
            y,
            u,
            v,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// `(width, height)` in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The luma plane, `width` bytes per row.
    pub fn y(&self) -> &[u8] {
        &self.y
    }

    /// The blue-difference chroma plane, `width / 2` bytes per row.
    pub fn u(&self) -> &[u8] {
        &self.u
    }

    /// The red-difference chroma plane, `width / 2` bytes per row.
    pub fn v(&self) -> &[u8] {
        &self.v
    }

    /// All three planes for writing, as `(y, u, v)`. Their lengths cannot change.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        (&mut self.y, &mut self.u, &mut self.v)
    }

    /// Takes the planes out, as `(y, u, v)`.
    pub fn into_planes(self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        (self.y, self.u, self.v)
    }
}

/// Lengths of the luma plane and of each chroma plane for a checked size.
fn plane_lens(width: u32, height: u32) -> (usize, usize) {
    let (w, h) = (width as usize, height as usize);
    (w * h, w.div_ceil(2) * h.div_ceil(2))
}

/// An 8-bit RGBA picture, 4 bytes per pixel, rows top to bottom with no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct Rgba {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl std::fmt::Debug for Rgba {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rgba({}x{})", self.width, self.height)
    }
}

impl Rgba {
    /// An opaque black picture.
    ///
    /// # Errors
    ///
    /// If the size is odd or out of range (see [`check_size`]).
    pub fn new(width: u32, height: u32) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let data = [0, 0, 0, 255].repeat(width as usize * height as usize);
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// Wraps existing pixels, `width * height * 4` bytes.
    ///
    /// # Errors
    ///
    /// If the size is odd or out of range, or `data` has the wrong length.
    pub fn from_data(width: u32, height: u32, data: Vec<u8>) -> Result<Self, FrameError> {
        check_size(width, height)?;
        let expected = width as usize * height as usize * 4;
        check_len("RGBA", (width, height), expected, data.len())?;
        Ok(Self {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// `(width, height)` in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The pixels, `width * 4` bytes per row.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The pixels for writing. The length cannot change.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// The pixel at `(x, y)` as `[r, g, b, a]`, or `None` outside the picture.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let at = (y as usize * self.width as usize + x as usize) * 4;
        self.data.get(at..at + 4)?.try_into().ok()
    }

    /// Takes the pixels out.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}
