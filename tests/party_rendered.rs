//! What a player sees: the party game rendered under Xvfb with Mesa's software Vulkan and
//! screenshotted from the narrator's point of view; each bot's avatar arrives as a video tile
//! in its own colour.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The avatar colours in seating order (`PALETTE` in `examples/party/seat.rs`).
const PALETTE: [[u8; 3]; 8] = [
    [230, 60, 60],
    [60, 170, 75],
    [65, 105, 225],
    [240, 200, 40],
    [170, 80, 210],
    [40, 200, 200],
    [245, 130, 40],
    [240, 110, 190],
];

/// Runs the game under `xvfb-run` until it saves its screenshot and exits.
fn screenshot(args: &[&str], out: &Path) {
    let mut child = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(common::party::binary())
        .args(["--screenshot", out.to_str().unwrap()])
        .args(args)
        .env("WGPU_BACKEND", "vulkan")
        // winit looks here for a Wayland socket; an empty private directory means "none".
        .env("XDG_RUNTIME_DIR", out.parent().unwrap())
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("xvfb-run is installed (Debian package xvfb; ./dev setup installs it)");
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "party exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("party did not finish within 240 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        out.exists(),
        "party exited without writing {}",
        out.display()
    );
}

/// RGB pixels of a PNG.
fn pixels(path: &Path) -> Vec<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

#[test]
fn the_stage_shows_one_video_tile_per_player() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("party.png");
    screenshot(
        &["--bots", "6", "--spectators", "0", "--frames", "200"],
        &out,
    );
    let pixels = pixels(&out);
    let near = |p: &[u8; 3], c: &[u8; 3]| p.iter().zip(c).all(|(a, b)| a.abs_diff(*b) <= 24);
    let area: Vec<usize> = PALETTE
        .iter()
        .map(|c| pixels.iter().filter(|p| near(p, c)).count())
        .collect();
    // A tile is ~250x190 px at this window size; its name and counter cover a little of it.
    for (seat, px) in area.iter().enumerate().take(6) {
        assert!(
            *px > 20_000,
            "seat {seat}'s tile is missing ({px} px of its colour): {area:?}"
        );
    }
    for (seat, px) in area.iter().enumerate().skip(6) {
        assert!(*px < 1_000, "an empty seat {seat} shows a tile: {area:?}");
    }
}
