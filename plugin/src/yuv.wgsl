// I420 planes (BT.601, limited range) to an sRGB RGBA target, drawn as one triangle covering it.
//
// The arithmetic is the one the RGBA path runs on the CPU: yuvutils-rs' x86 SIMD rows (SSE4.1
// and AVX2 alike): 8-bit samples widened to 10 bits, each term multiplied by its 13-bit
// coefficient with a rounding high multiply (`_mm_mulhrs_epi16`), summed and saturated; the
// chroma sample of each 2x2 block serves all four pixels (no interpolation). So both paths give
// the same 8-bit levels (yuvutils' scalar and NEON rows round differently by a level at most).
// The levels are stored as they are: the pass draws into a non-sRGB (`Rgba8Unorm`) view of the
// sRGB texture, so nothing is decoded or encoded on the way.

@group(0) @binding(0) var luma: texture_2d<f32>;
@group(0) @binding(1) var cb: texture_2d<f32>;
@group(0) @binding(2) var cr: texture_2d<f32>;

// yuvutils-rs' INVERSE_BT601_LIMITED_8_PREC13: 255/219, 1.402 * 255/224, 1.772 * 255/224 and
// the two green terms, times 2^13.
const Y_COEF: i32 = 9539;
const CR_COEF: i32 = 13075;
const CB_COEF: i32 = 16525;
const G_CR: i32 = 6660;
const G_CB: i32 = 3209;
// The chroma bias, 128, widened like the samples.
const UV_BIAS: i32 = 514;

@vertex
fn vertex(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    // (-1, -1), (3, -1), (-1, 3): one triangle over the whole target.
    let x = f32(index & 1u) * 4.0 - 1.0;
    let y = f32(index >> 1u) * 4.0 - 1.0;
    return vec4<f32>(x, y, 0.0, 1.0);
}

fn level(plane: texture_2d<f32>, at: vec2<i32>) -> i32 {
    return i32(round(textureLoad(plane, at, 0).r * 255.0));
}

// 8 bits to 10: the byte repeated into 16 bits, shifted right by 6.
fn widen(x: i32) -> i32 {
    return (x * 257) >> 6u;
}

// (a * b + 2^14) >> 15, as `_mm_mulhrs_epi16`.
fn mulhrs(a: i32, b: i32) -> i32 {
    return (a * b + 16384) >> 15u;
}

@fragment
fn fragment(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    // Pixel centres are at .5; row 0 is the picture's top row, as in the planes.
    let at = vec2<i32>(position.xy);
    let y = mulhrs(widen(max(level(luma, at) - 16, 0)), Y_COEF);
    let u = widen(level(cb, at / 2)) - UV_BIAS;
    let v = widen(level(cr, at / 2)) - UV_BIAS;
    let rgb = vec3<i32>(
        y + mulhrs(v, CR_COEF),
        y - (mulhrs(v, G_CR) + mulhrs(u, G_CB)),
        y + mulhrs(u, CB_COEF),
    );
    let levels = clamp(rgb, vec3<i32>(0), vec3<i32>(255));
    return vec4<f32>(vec3<f32>(levels) / 255.0, 1.0);
}
