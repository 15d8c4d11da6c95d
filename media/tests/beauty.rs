//! The beauty filter on a synthetic portrait (tests/portrait): smoothing takes the noise out of
//! skin but keeps an eyebrow's edge and leaves the background bit-exact; lightening and
//! redness act on skin only; sharpness steepens edges; all off is bit-exact; options change
//! live, bad options are refused, frames may change size, and after the first frame of a size
//! filtering does not allocate.
#![allow(clippy::unwrap_used)]

mod portrait;

use std::alloc::{GlobalAlloc, System};
use std::cell::Cell;

use livestage_media::video::I420;
use livestage_media::video::beauty::{Beauty, BeautyError, Contrast, MAX_REDNESS, Options};
use portrait::{Layout, mean, portrait, variance};

thread_local! {
    /// Allocations made by this thread (each test runs on its own thread).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting each thread's allocations.
struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// const-initialised thread-local, which never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller meets `alloc`'s contract, which is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from the system allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: as for `dealloc`, and the caller meets `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 360;
/// Pixels further than this outside the face must come out bit-exact: the mask's soft edge
/// (5x5 chroma cells) and the bilinear spread of the cell filters reach about 6.
const MARGIN: f32 = 8.0;

fn filtered(options: Options, frame: &I420) -> I420 {
    let mut out = frame.clone();
    Beauty::new(options).unwrap().apply(&mut out);
    out
}

/// Asserts every luma pixel more than [`MARGIN`] outside the face is unchanged, and every
/// chroma cell whose pixels all are.
fn assert_background_unchanged(layout: &Layout, before: &I420, after: &I420) {
    let (w, h) = (layout.width, layout.height);
    let mut checked = 0;
    for y in 0..h {
        for x in 0..w {
            if layout.in_face(x, y, MARGIN) {
                continue;
            }
            let at = y * w + x;
            assert_eq!(after.y()[at], before.y()[at], "luma at {x},{y} changed");
            checked += 1;
        }
    }
    assert!(checked > w * h / 2, "most of the frame is background");
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            if layout.in_face(2 * x, 2 * y, MARGIN + 2.0) {
                continue;
            }
            let at = y * w / 2 + x;
            assert_eq!(after.u()[at], before.u()[at], "Cb at cell {x},{y} changed");
            assert_eq!(after.v()[at], before.v()[at], "Cr at cell {x},{y} changed");
        }
    }
}

/// Mean luma of the skin just above and below the eyebrow band minus that of the band's
/// middle rows, over the band's columns.
fn eyebrow_contrast(layout: &Layout, frame: &I420) -> f64 {
    let (rows, cols, w) = (&layout.band_rows, &layout.band_cols, layout.width);
    let above = mean(frame.y(), w, rows.start - 14..rows.start - 6, cols.clone());
    let below = mean(frame.y(), w, rows.end + 6..rows.end + 14, cols.clone());
    let band = mean(frame.y(), w, rows.start + 3..rows.end - 3, cols.clone());
    (above + below) / 2.0 - band
}

/// The mean luma step across the top edge of the eyebrow band (the largest difference
/// between vertical neighbours within two rows of it), over the band's columns.
fn eyebrow_gradient(layout: &Layout, frame: &I420) -> f64 {
    let (w, top) = (layout.width, layout.band_rows.start);
    let y = frame.y();
    let steps: Vec<f64> = layout
        .band_cols
        .clone()
        .map(|x| {
            (top - 2..top + 2)
                .map(|r| f64::from(y[r * w + x]) - f64::from(y[(r + 1) * w + x]))
                .fold(f64::MIN, f64::max)
        })
        .collect();
    steps.iter().sum::<f64>() / steps.len() as f64
}

fn cheek_mean(layout: &Layout, plane: &[u8], width: usize) -> f64 {
    let (rows, cols) = if width == layout.width {
        (layout.cheek_rows.clone(), layout.cheek_cols.clone())
    } else {
        let half = |r: &std::ops::Range<usize>| r.start / 2..r.end / 2;
        (half(&layout.cheek_rows), half(&layout.cheek_cols))
    };
    mean(plane, width, rows, cols)
}

#[test]
fn smoothing_halves_skin_noise_keeps_the_eyebrow_edge_and_the_background() {
    let (frame, layout) = portrait(WIDTH, HEIGHT, 1);
    let out = filtered(
        Options {
            smoothness: 1.0,
            ..Options::default()
        },
        &frame,
    );
    let w = layout.width;
    let noise = |f: &I420| {
        variance(
            f.y(),
            w,
            layout.cheek_rows.clone(),
            layout.cheek_cols.clone(),
        )
    };
    let (before, after) = (noise(&frame), noise(&out));
    println!("cheek noise variance {before:.1} -> {after:.1}");
    assert!(
        after <= 0.5 * before,
        "noise variance {before:.1} -> {after:.1}"
    );

    let (edge_before, edge_after) = (
        eyebrow_contrast(&layout, &frame),
        eyebrow_contrast(&layout, &out),
    );
    println!("eyebrow contrast {edge_before:.1} -> {edge_after:.1}");
    assert!(
        edge_before > 80.0,
        "the test's edge is strong: {edge_before:.1}"
    );
    assert!(
        edge_after >= 0.9 * edge_before,
        "eyebrow contrast {edge_before:.1} -> {edge_after:.1}"
    );

    assert_background_unchanged(&layout, &frame, &out);
    assert_eq!(out.u(), frame.u(), "smoothing leaves chroma alone");
    assert_eq!(out.v(), frame.v(), "smoothing leaves chroma alone");
}

#[test]
fn lightening_brightens_skin_not_the_background_and_contrast_levels_differ() {
    let (frame, layout) = portrait(WIDTH, HEIGHT, 2);
    let w = layout.width;
    let before = cheek_mean(&layout, frame.y(), w);
    let lit = |lightening, contrast| {
        filtered(
            Options {
                lightening,
                contrast,
                ..Options::default()
            },
            &frame,
        )
    };

    let out = lit(0.6, Contrast::Normal);
    let after = cheek_mean(&layout, out.y(), w);
    println!("cheek luma {before:.1} -> {after:.1} at lightening 0.6");
    assert!(
        after >= before + 8.0,
        "cheek luma {before:.1} -> {after:.1}"
    );
    assert_background_unchanged(&layout, &frame, &out);

    let levels = [Contrast::Low, Contrast::Normal, Contrast::High]
        .map(|contrast| cheek_mean(&layout, lit(1.0, contrast).y(), w));
    println!("cheek luma at full lightening, low / normal / high contrast: {levels:.1?}");
    // Bright skin (above mid-grey) lifts less at low contrast and more at high.
    assert!(levels[0] + 3.0 <= levels[1], "{levels:?}");
    assert!(levels[1] + 3.0 <= levels[2], "{levels:?}");
    assert!(levels[0] >= before + 8.0, "{levels:?}");
}

#[test]
fn redness_raises_the_cr_of_skin_only() {
    let (frame, layout) = portrait(WIDTH, HEIGHT, 3);
    let out = filtered(
        Options {
            redness: 1.0,
            ..Options::default()
        },
        &frame,
    );
    let half = layout.width / 2;
    let (before, after) = (
        cheek_mean(&layout, frame.v(), half),
        cheek_mean(&layout, out.v(), half),
    );
    println!("cheek Cr {before:.1} -> {after:.1}");
    assert!(
        after >= before + 0.9 * f64::from(MAX_REDNESS),
        "cheek Cr {before:.1} -> {after:.1}"
    );
    assert_eq!(out.y(), frame.y(), "redness leaves luma alone");
    assert_eq!(out.u(), frame.u(), "redness leaves Cb alone");
    assert_background_unchanged(&layout, &frame, &out);
}

#[test]
fn sharpness_steepens_the_eyebrow_edge() {
    let (frame, layout) = portrait(WIDTH, HEIGHT, 4);
    let out = filtered(
        Options {
            sharpness: 1.0,
            ..Options::default()
        },
        &frame,
    );
    let (before, after) = (
        eyebrow_gradient(&layout, &frame),
        eyebrow_gradient(&layout, &out),
    );
    println!("eyebrow edge step {before:.1} -> {after:.1}");
    assert!(after >= 1.3 * before, "edge step {before:.1} -> {after:.1}");
    assert_eq!(out.u(), frame.u());
    assert_eq!(out.v(), frame.v());
}

#[test]
fn all_off_is_bit_exact() {
    let (frame, _) = portrait(WIDTH, HEIGHT, 5);
    assert!(Options::default().is_off());
    let mut beauty = Beauty::new(Options::default()).unwrap();
    let mut out = frame.clone();
    for _ in 0..3 {
        beauty.apply(&mut out);
    }
    assert_eq!(out, frame);
    // Off again after being on.
    beauty
        .set(Options {
            smoothness: 0.5,
            ..Options::default()
        })
        .unwrap();
    beauty.set(Options::default()).unwrap();
    beauty.apply(&mut out);
    assert_eq!(out, frame);
}

#[test]
fn options_changed_between_frames_take_effect_on_the_next_frame() {
    let (frame, _) = portrait(WIDTH, HEIGHT, 6);
    let smooth = Options {
        smoothness: 0.8,
        ..Options::default()
    };
    let all = Options {
        smoothness: 0.3,
        lightening: 0.7,
        contrast: Contrast::High,
        redness: 0.4,
        sharpness: 0.5,
    };
    let mut beauty = Beauty::new(smooth).unwrap();
    let mut first = frame.clone();
    beauty.apply(&mut first);
    assert_eq!(first, filtered(smooth, &frame));

    beauty.set(all).unwrap();
    assert_eq!(beauty.options(), all);
    let mut second = frame.clone();
    beauty.apply(&mut second);
    assert_eq!(
        second,
        filtered(all, &frame),
        "the new options, and only them"
    );
    assert_ne!(second, first);
}

#[test]
fn out_of_range_options_are_refused_naming_the_field_and_nothing_changes() {
    let good = Options {
        smoothness: 0.5,
        ..Options::default()
    };
    let mut beauty = Beauty::new(good).unwrap();
    for field in ["smoothness", "lightening", "redness", "sharpness"] {
        for bad in [1.5, -0.1, f32::NAN, f32::INFINITY] {
            let mut options = good;
            *match field {
                "smoothness" => &mut options.smoothness,
                "lightening" => &mut options.lightening,
                "redness" => &mut options.redness,
                _ => &mut options.sharpness,
            } = bad;
            let err = beauty.set(options).unwrap_err();
            assert!(
                matches!(err, BeautyError::OutOfRange { field: f, .. } if f == field),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(
                message.contains(field) && message.contains("0.0") && message.contains("1.0"),
                "{message}"
            );
            assert_eq!(beauty.options(), good, "a refused set changes nothing");
            assert!(Beauty::new(options).is_err());
            assert!(options.validate().is_err());
        }
    }
    assert_eq!(good.validate(), Ok(()));
}

#[test]
fn options_parse_from_the_cli_form_and_bad_input_is_refused() {
    let parsed: Options = "smooth=0.7,lighten=0.5,redness=0.2,sharpen=0.3,contrast=high"
        .parse()
        .unwrap();
    assert_eq!(
        parsed,
        Options {
            smoothness: 0.7,
            lightening: 0.5,
            contrast: Contrast::High,
            redness: 0.2,
            sharpness: 0.3,
        }
    );
    assert_eq!(parsed.to_string().parse::<Options>().unwrap(), parsed);
    let subset: Options = " Sharpen = 0.4 ".parse().unwrap();
    assert_eq!(
        subset,
        Options {
            sharpness: 0.4,
            ..Options::default()
        }
    );
    assert_eq!("off".parse::<Options>().unwrap(), Options::default());
    assert_eq!("".parse::<Options>().unwrap(), Options::default());

    let refused = |s: &str| s.parse::<Options>().unwrap_err();
    let err = refused("smooth=2");
    assert!(
        matches!(
            err,
            BeautyError::OutOfRange {
                field: "smoothness",
                ..
            }
        ),
        "{err:?}"
    );
    let err = refused("smooth=0.5,glow=0.3");
    assert!(matches!(err, BeautyError::UnknownKey { .. }), "{err:?}");
    assert!(err.to_string().contains("glow") && err.to_string().contains("smooth, lighten"));
    let err = refused("redness=lots");
    assert!(matches!(err, BeautyError::NotANumber { .. }), "{err:?}");
    assert!(err.to_string().contains("lots"));
    assert!(matches!(
        refused("redness=NaN"),
        BeautyError::OutOfRange {
            field: "redness",
            ..
        }
    ));
    let err = refused("contrast=extreme");
    assert!(matches!(err, BeautyError::Contrast { .. }), "{err:?}");
    assert!(err.to_string().contains("low, normal or high"));
    assert!(matches!(
        refused("smooth"),
        BeautyError::MissingValue { .. }
    ));
}

#[test]
fn frames_of_another_size_resize_the_work_buffers() {
    let options = Options {
        smoothness: 0.6,
        lightening: 0.4,
        redness: 0.3,
        sharpness: 0.4,
        ..Options::default()
    };
    let mut beauty = Beauty::new(options).unwrap();
    // 650x362 has an odd number of chroma cells each way and rows that are not a multiple of
    // 16 pixels.
    let sizes = [(640, 360), (650, 362), (16, 16), (1280, 720), (640, 360)];
    for (n, (width, height)) in sizes.into_iter().enumerate() {
        let (frame, _) = portrait(width, height, 10 + n as u64);
        let mut out = frame.clone();
        beauty.apply(&mut out);
        assert_eq!(out, filtered(options, &frame), "{width}x{height}");
        assert_ne!(out, frame, "{width}x{height} was filtered");
    }
}

#[test]
fn after_the_first_frame_of_a_size_filtering_does_not_allocate() {
    let (frame, _) = portrait(WIDTH, HEIGHT, 7);
    let all = Options {
        smoothness: 0.8,
        lightening: 0.5,
        contrast: Contrast::Low,
        redness: 0.3,
        sharpness: 0.6,
    };
    let mut beauty = Beauty::new(all).unwrap();
    let mut work = frame.clone();
    let first = allocations();
    beauty.apply(&mut work);
    assert!(allocations() > first, "the first frame sizes the buffers");
    let before = allocations();
    for _ in 0..3 {
        beauty.apply(&mut work);
    }
    beauty
        .set(Options {
            contrast: Contrast::High,
            ..all
        })
        .unwrap();
    beauty.apply(&mut work);
    assert_eq!(allocations() - before, 0, "allocations while filtering");
}
