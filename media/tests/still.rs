//! Still pictures: PNG and JPEG decode to the right size and colours, large pictures are scaled
//! into 4K keeping their shape, odd sides are cropped, transparency lands on black, and a
//! missing, foreign or damaged file is an error that says so.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use image::{Rgb, RgbImage, Rgba, RgbaImage};
use livestage_media::video::I420;
use livestage_media::video::convert::i420_to_rgba;
use livestage_media::video::still::{self, StillError, StillSource};

const RED: [u8; 3] = [230, 20, 20];
const BLUE: [u8; 3] = [20, 40, 220];
/// Per channel, after JPEG and the limited-range round trip.
const TOLERANCE: u8 = 30;

/// A `width`x`height` blue picture with a red square in its middle half.
fn red_on_blue(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let inside =
            (width / 4..width * 3 / 4).contains(&x) && (height / 4..height * 3 / 4).contains(&y);
        Rgb(if inside { RED } else { BLUE })
    })
}

fn save(dir: &Path, name: &str, picture: &RgbImage) -> PathBuf {
    let path = dir.join(name);
    picture.save(&path).unwrap();
    path
}

/// The colour at a fraction of the frame's width and height.
fn colour_at(frame: &I420, fx: f32, fy: f32) -> [u8; 3] {
    let rgba = i420_to_rgba(frame);
    let x = (frame.width() as f32 * fx) as u32;
    let y = (frame.height() as f32 * fy) as u32;
    let [r, g, b, _] = rgba.pixel(x, y).unwrap();
    [r, g, b]
}

fn assert_close(got: [u8; 3], expected: [u8; 3], what: &str) {
    assert!(
        got.iter()
            .zip(expected)
            .all(|(&a, b)| a.abs_diff(b) <= TOLERANCE),
        "{what}: got {got:?}, expected about {expected:?}"
    );
}

fn assert_red_on_blue(frame: &I420, what: &str) {
    assert_close(colour_at(frame, 0.5, 0.5), RED, what);
    assert_close(colour_at(frame, 0.1, 0.1), BLUE, what);
    assert_close(colour_at(frame, 0.9, 0.9), BLUE, what);
}

#[test]
fn png_and_jpeg_decode_to_their_size_and_colours() {
    let dir = tempfile::tempdir().unwrap();
    let picture = red_on_blue(320, 240);
    for name in ["card.png", "card.jpg"] {
        let frame = still::open(save(dir.path(), name, &picture)).unwrap();
        assert_eq!(frame.size(), (320, 240), "{name}");
        assert_red_on_blue(&frame, name);
    }
}

#[test]
fn a_picture_larger_than_4k_is_scaled_to_fit_keeping_its_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(dir.path(), "huge.png", &red_on_blue(5000, 3000));
    let frame = still::open(&path).unwrap();
    // 5000x3000 is 5:3; the height is the limit.
    assert_eq!(frame.size(), (3600, 2160));
    assert_red_on_blue(&frame, "5000x3000");
    let small = still::open_within(&path, (640, 640)).unwrap();
    assert_eq!(small.size(), (640, 384));
    assert_red_on_blue(&small, "into 640x640");
}

#[test]
fn odd_sides_are_cropped_to_even() {
    let dir = tempfile::tempdir().unwrap();
    let frame = still::open(save(dir.path(), "odd.png", &red_on_blue(641, 479))).unwrap();
    assert_eq!(frame.size(), (640, 478));
    assert_red_on_blue(&frame, "641x479");
}

#[test]
fn transparency_is_composited_onto_black() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alpha.png");
    // Left half clear, right half white at half opacity.
    RgbaImage::from_fn(64, 32, |x, _| {
        Rgba(if x < 32 {
            [255, 0, 0, 0]
        } else {
            [255, 255, 255, 128]
        })
    })
    .save(&path)
    .unwrap();
    let frame = still::open(&path).unwrap();
    assert_close(colour_at(&frame, 0.25, 0.5), [0, 0, 0], "clear");
    assert_close(colour_at(&frame, 0.75, 0.5), [128, 128, 128], "half white");
}

#[test]
fn a_tiny_picture_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = still::open(save(dir.path(), "tiny.png", &red_on_blue(15, 40))).unwrap_err();
    assert_eq!(
        err,
        StillError::TooSmall {
            width: 15,
            height: 40
        }
    );
    assert!(err.to_string().contains("at least 16x16"), "{err}");
    assert!(still::open(save(dir.path(), "ok.png", &red_on_blue(16, 16))).is_ok());
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let err = still::open(&missing).unwrap_err();
    assert!(matches!(err, StillError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.png"), "{err}");

    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not a picture at all").unwrap();
    let err = still::open(&text).unwrap_err();
    assert!(matches!(err, StillError::NotAnImage(_)), "{err}");
    assert!(
        err.to_string().contains("notes.png is not a PNG or JPEG"),
        "{err}"
    );

    let gif = dir.path().join("anim.gif");
    std::fs::write(&gif, b"GIF89a\x10\x00\x10\x00\x00\x00\x00;").unwrap();
    let err = still::open(&gif).unwrap_err();
    assert!(matches!(err, StillError::NotAnImage(_)), "{err}");

    for name in ["cut.png", "cut.jpg"] {
        let whole = std::fs::read(save(dir.path(), name, &red_on_blue(320, 240))).unwrap();
        let path = dir.path().join(format!("truncated-{name}"));
        std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
        let err = still::open(&path).unwrap_err();
        assert!(matches!(err, StillError::Decode { .. }), "{name}: {err}");
        assert!(
            err.to_string().contains("truncated or damaged"),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_still_source_hands_out_the_picture_at_each_tick() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(dir.path(), "brb.png", &red_on_blue(320, 180));
    let mut source = StillSource::open(&path, 25.0).unwrap();
    assert_eq!(source.size(), (320, 180));
    let mut times = Vec::new();
    let started = std::time::Instant::now();
    for _ in 0..30 {
        if let Some((frame, capture_us)) = source.latest() {
            assert_eq!(&frame, source.picture());
            times.push(capture_us);
        }
        thread::sleep(Duration::from_millis(10));
    }
    // One frame each 40 ms, each with a later capture time.
    let most = started.elapsed().as_millis() as usize / 40 + 1;
    assert!(
        (3..=most).contains(&times.len()),
        "{} frames, at most {most}",
        times.len()
    );
    assert!(times.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(source.ended(), None);
}
