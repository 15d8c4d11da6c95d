//! Scaling: a picture keeps its colours and their positions at the new size, and a 1080p frame
//! scales to the low layer in a few milliseconds.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use livestage_media::video::convert::{i420_to_rgba, rgba_to_i420};
use livestage_media::video::scale::{self, Scaler};
use livestage_media::video::{I420, Rgba};

const RED: [u8; 3] = [220, 30, 30];
const GREEN: [u8; 3] = [30, 200, 60];
const BLUE: [u8; 3] = [40, 40, 220];
const WHITE: [u8; 3] = [240, 240, 240];

/// Four quadrants: red, green on top; blue, white below.
fn quadrants(width: u32, height: u32) -> I420 {
    let mut rgba = Rgba::new(width, height).unwrap();
    for (i, px) in rgba.data_mut().chunks_exact_mut(4).enumerate() {
        let (x, y) = (i as u32 % width, i as u32 / width);
        let colour = match (x < width / 2, y < height / 2) {
            (true, true) => RED,
            (false, true) => GREEN,
            (true, false) => BLUE,
            (false, false) => WHITE,
        };
        px[..3].copy_from_slice(&colour);
    }
    rgba_to_i420(&rgba)
}

fn assert_near(frame: &Rgba, (x, y): (u32, u32), expected: [u8; 3]) {
    let pixel = frame.pixel(x, y).unwrap();
    let close = pixel
        .iter()
        .zip(expected)
        .all(|(&a, b)| a.abs_diff(b) <= 12);
    assert!(
        close,
        "pixel at {x},{y} is {pixel:?}, expected about {expected:?}"
    );
}

fn assert_quadrants(frame: &I420) {
    let rgba = i420_to_rgba(frame);
    let (w, h) = frame.size();
    assert_near(&rgba, (w / 4, h / 4), RED);
    assert_near(&rgba, (3 * w / 4, h / 4), GREEN);
    assert_near(&rgba, (w / 4, 3 * h / 4), BLUE);
    assert_near(&rgba, (3 * w / 4, 3 * h / 4), WHITE);
    // Just inside each corner, away from the chroma-blended edges between quadrants.
    assert_near(&rgba, (2, 2), RED);
    assert_near(&rgba, (w - 3, 2), GREEN);
    assert_near(&rgba, (2, h - 3), BLUE);
    assert_near(&rgba, (w - 3, h - 3), WHITE);
}

#[test]
fn a_pattern_scaled_down_keeps_colours_and_positions() {
    let source = quadrants(1280, 720);
    for (w, h) in [(640, 360), (320, 180), (426, 240), (16, 16)] {
        assert_quadrants(&scale::scale(&source, w, h).unwrap());
    }
}

#[test]
fn a_pattern_scaled_up_keeps_colours_and_positions() {
    let source = quadrants(320, 180);
    assert_quadrants(&scale::scale(&source, 1920, 1080).unwrap());
}

#[test]
fn the_edge_between_quadrants_stays_where_it_was() {
    let scaled = scale::scale(&quadrants(1280, 720), 640, 360).unwrap();
    let rgba = i420_to_rgba(&scaled);
    // The red/green edge is at x = 320; two pixels either side are already the pure colours.
    assert_near(&rgba, (317, 90), RED);
    assert_near(&rgba, (322, 90), GREEN);
}

#[test]
fn same_size_is_a_copy() {
    let source = quadrants(64, 32);
    let mut dst = I420::new(64, 32).unwrap();
    scale::scale_into(&source, &mut dst);
    assert_eq!(dst, source);
}

#[test]
fn a_bad_target_size_is_an_error() {
    let source = quadrants(64, 32);
    assert!(scale::scale(&source, 63, 32).is_err());
    assert!(scale::scale(&source, 8, 8).is_err());
}

/// Prints the time to scale a 1080p frame to the low layer (960x540) with a kept [`Scaler`].
#[test]
fn time_to_scale_1080p_to_the_low_layer() {
    let source = quadrants(1920, 1080);
    let (w, h) = scale::low_layer_size(1920, 1080);
    let mut dst = I420::new(w, h).unwrap();
    let mut scaler = Scaler::new();
    scaler.scale_into(&source, &mut dst);
    let runs = 20;
    let start = Instant::now();
    for _ in 0..runs {
        scaler.scale_into(&source, &mut dst);
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
    println!("scale 1920x1080 -> {w}x{h}: {ms:.2} ms per frame (mean of {runs})");
    assert_quadrants(&dst);
}
