//! What a player sees: examples rendered under Xvfb with Mesa's software Vulkan, screenshotted,
//! and checked: the bots' test-pattern tiles in `basic`, a camera's view after a round trip in
//! `game_view`, and the same remote picture through both video upload paths in `video_upload`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use livestage_media::video::TestPattern;

/// An example binary built next to this test (`cargo test` builds the examples).
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let path = deps.parent().unwrap().join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing; run `cargo test -p bevy_livestage` (it builds the examples)",
        path.display()
    );
    path
}

/// Runs an example under `xvfb-run` until it saves its screenshot and exits.
fn screenshot(name: &str, args: &[&str], out: &Path) {
    let mut child = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x900x24"])
        .arg(example(name))
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
            assert!(status.success(), "{name} exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name} did not finish within 240 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        out.exists(),
        "{name} exited without writing {}",
        out.display()
    );
}

/// RGB pixels of a PNG.
fn pixels(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let bytes = std::fs::read(path).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, px)
}

fn close(a: [u8; 3], b: [u8; 3], tolerance: i32) -> bool {
    (0..3).all(|c| (i32::from(a[c]) - i32::from(b[c])).abs() <= tolerance)
}

#[test]
fn basic_shows_a_tile_per_bot_in_the_test_pattern_colour() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("basic.png");
    screenshot("basic", &["--frames", "240", "--bots", "3"], &out);
    let (w, h, px) = pixels(&out);
    let colour = TestPattern::DEFAULT_COLOUR;
    let matching = px.iter().filter(|&&p| close(p, colour, 10)).count();
    // Each 300x169 tile shows the background colour over most of its area.
    let tile = 300 * 169;
    assert!(
        matching >= 3 * tile / 2,
        "{matching} pixels of the pattern colour in a {w}x{h} screenshot; expected three tiles"
    );
    // Three separate tiles: count runs of pattern colour along the row through their middles.
    // The first row of tiles is centred 180 px above the window's middle.
    let row = h as usize / 2 - 180;
    let line = &px[row * w as usize..(row + 1) * w as usize];
    let runs = line
        .windows(2)
        .filter(|pair| !close(pair[0], colour, 10) && close(pair[1], colour, 10))
        .count();
    assert!(runs >= 3, "{runs} tiles along row {row}");
}

#[test]
fn game_view_shows_the_camera_view_after_a_round_trip_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("game_view.png");
    screenshot("game_view", &["--frames", "200"], &out);
    let (w, _h, px) = pixels(&out);
    // The scene's three squares (red, green, blue) on the streamed camera's background, once
    // as the local preview (left half) and once as received from the server (right half).
    let (left, right): (Vec<_>, Vec<_>) = px
        .iter()
        .enumerate()
        .partition(|(i, _)| (*i as u32 % w) < w / 2);
    for colour in [[230, 77, 51], [51, 204, 102], [77, 128, 255]] {
        let count = |half: &[(usize, &[u8; 3])]| {
            half.iter().filter(|(_, p)| close(**p, colour, 24)).count()
        };
        let (l, r) = (count(&left), count(&right));
        assert!(l > 4000, "{l} pixels of {colour:?} in the preview");
        assert!(r > 4000, "{r} pixels of {colour:?} in the received stream");
    }
}

/// The pixels of a `width`x`height` region centred in a screenshot.
fn centred(path: &Path, width: u32, height: u32) -> Vec<[u8; 3]> {
    let (w, h, px) = pixels(path);
    let (x0, y0) = ((w - width) / 2, (h - height) / 2);
    (y0..y0 + height)
        .flat_map(|y| (x0..x0 + width).map(move |x| (y * w + x) as usize))
        .map(|i| px[i])
        .collect()
}

#[test]
fn the_yuv_shader_path_renders_the_same_picture_as_the_rgba_path() {
    let dir = tempfile::tempdir().unwrap();
    // One bot's still 320x240 test pattern, drawn 1:1 in the middle of the window.
    let (width, height) = (320, 240);
    let tile = |upload: &str| {
        let out = dir.path().join(format!("{upload}.png"));
        screenshot(
            "video_upload",
            &[
                "--frames", "150", "--bots", "1", "--size", "320x240", "--upload", upload,
            ],
            &out,
        );
        centred(&out, width, height)
    };
    let rgba = tile("rgba");
    let yuv = tile("yuv");

    let pattern = TestPattern::new(width, height).unwrap();
    for (name, px) in [("rgba", &rgba), ("yuv", &yuv)] {
        // The pattern, not a black or half-drawn texture: the background colour over the
        // middle, black and white stamp blocks in the band at the top.
        let at = |x: u32, y: u32| px[(y * width + x) as usize];
        let centre = at(width / 2, height / 2);
        assert!(
            close(centre, TestPattern::DEFAULT_COLOUR, 10),
            "{name}: centre {centre:?}"
        );
        let band = &px[..(pattern.band_height() * width) as usize];
        let black = band.iter().filter(|p| close(**p, [0, 0, 0], 16)).count();
        let white = band
            .iter()
            .filter(|p| close(**p, [255, 255, 255], 16))
            .count();
        assert!(
            black > 1000 && white > 1000,
            "{name}: {black} black and {white} white pixels in the stamp band"
        );
    }

    let diffs: Vec<i32> = rgba
        .iter()
        .zip(&yuv)
        .flat_map(|(a, b)| (0..3).map(move |c| (i32::from(a[c]) - i32::from(b[c])).abs()))
        .collect();
    let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
    let max = diffs.iter().copied().max().unwrap();
    println!("YUV shader vs RGBA over {width}x{height}: mean {mean:.3}, max {max} levels");
    // The shader repeats the CPU conversion's integer arithmetic, so on x86 the two pictures
    // are the same to the level (measured: mean 0, max 0); the bounds leave room for another
    // CPU's conversion rounding (a level) and the encoder refining the still differently.
    assert!(mean <= 1.0, "mean difference {mean:.3} levels per channel");
    assert!(max <= 16, "largest difference {max} levels");
}
