//! RGBA <-> I420 colour conversion, BT.601 limited range (what openh264 encodes and decodes).
//!
//! The `*_into` functions write into a buffer the caller keeps, so a per-frame loop does not
//! allocate; the others allocate the result. The pixel work is done by `yuvutils-rs` (SIMD).

use yuvutils_rs::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImage, YuvPlanarImageMut, YuvRange,
    YuvStandardMatrix,
};

use super::frame::{FrameError, I420, Rgba, check_same_size};

const RANGE: YuvRange = YuvRange::Limited;
const MATRIX: YuvStandardMatrix = YuvStandardMatrix::Bt601;

/// Converts `src` into `dst`, which must have the same size. Alpha is ignored.
///
/// # Errors
///
/// [`FrameError::SizeMismatch`] if the sizes differ.
pub fn rgba_to_i420_into(src: &Rgba, dst: &mut I420) -> Result<(), FrameError> {
    check_same_size("I420 buffer", dst.size(), src.size())?;
    let (width, height) = src.size();
    let (y, u, v) = dst.planes_mut();
    let mut planar = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: width,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: width / 2,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: width / 2,
        width,
        height,
    };
    yuvutils_rs::rgba_to_yuv420(
        &mut planar,
        src.data(),
        width * 4,
        RANGE,
        MATRIX,
        YuvConversionMode::Balanced,
    )
    .expect("Rgba and I420 hold checked, equal sizes with tightly packed buffers");
    Ok(())
}

/// Converts BGRA (or BGRX, as X11 and most screen grabbers deliver it) pixels into `dst`,
/// reading `dst`'s size from `bgra`, whose rows are `stride` bytes apart (at least `width * 4`;
/// extra columns on the right are left out). Alpha is ignored.
///
/// # Errors
///
/// [`FrameError::BufferLength`] if `bgra` is too short for `dst`'s size at that stride.
pub fn bgra_to_i420_into(bgra: &[u8], stride: u32, dst: &mut I420) -> Result<(), FrameError> {
    let (width, height) = dst.size();
    let stride = stride.max(width * 4);
    let needed = stride as usize * height as usize;
    if bgra.len() < needed {
        return Err(FrameError::BufferLength {
            plane: "BGRA",
            width,
            height,
            expected: needed,
            actual: bgra.len(),
        });
    }
    let (y, u, v) = dst.planes_mut();
    let mut planar = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: width,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: width / 2,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: width / 2,
        width,
        height,
    };
    yuvutils_rs::bgra_to_yuv420(
        &mut planar,
        bgra,
        stride,
        RANGE,
        MATRIX,
        YuvConversionMode::Balanced,
    )
    .expect("the BGRA length was checked against the I420's checked size");
    Ok(())
}

/// Converts `src` into `dst`, which must have the same size. Alpha is set to 255.
///
/// # Errors
///
/// [`FrameError::SizeMismatch`] if the sizes differ.
pub fn i420_to_rgba_into(src: &I420, dst: &mut Rgba) -> Result<(), FrameError> {
    check_same_size("RGBA buffer", dst.size(), src.size())?;
    let (width, height) = src.size();
    let planar = YuvPlanarImage {
        y_plane: src.y(),
        y_stride: width,
        u_plane: src.u(),
        u_stride: width / 2,
        v_plane: src.v(),
        v_stride: width / 2,
        width,
        height,
    };
    yuvutils_rs::yuv420_to_rgba(&planar, dst.data_mut(), width * 4, RANGE, MATRIX)
        .expect("Rgba and I420 hold checked, equal sizes with tightly packed buffers");
    Ok(())
}

/// Converts `src` to a new I420 frame. Alpha is ignored.
pub fn rgba_to_i420(src: &Rgba) -> I420 {
    let mut dst = I420::new(src.width(), src.height()).expect("an Rgba always has a valid size");
    rgba_to_i420_into(src, &mut dst).expect("dst was created with the size of src");
    dst
}

/// Converts `src` to a new RGBA picture with alpha 255.
pub fn i420_to_rgba(src: &I420) -> Rgba {
    let mut dst = Rgba::new(src.width(), src.height()).expect("an I420 always has a valid size");
    i420_to_rgba_into(src, &mut dst).expect("dst was created with the size of src");
    dst
}

/// The BT.601 limited-range `[Y, Cb, Cr]` of an RGB colour, as the converters above produce
/// for a flat area of it (to fill a plane with a colour, or to check one).
pub fn rgb_to_yuv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let y = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
    let cb = 128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0;
    let cr = 128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0;
    // The coefficients keep each value within 16..=240, so the casts cannot saturate.
    [y.round() as u8, cb.round() as u8, cr.round() as u8]
}
