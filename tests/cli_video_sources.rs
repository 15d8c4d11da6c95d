//! The bot's video sources with the real binary: `--publish video=image:PATH@FPS` sends a
//! still picture (what the viewer's `--snapshot` shows is the picture), `--beauty` brightens
//! skin on the way out, `video=file:PATH` plays a video file, and bad sources or beauty values
//! are clear errors before anything is sent.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::cli::*;

/// Four coloured quadrants around a skin-toned centre: red, green, blue, white.
const QUADRANTS: [[u8; 3]; 4] = [[220, 40, 40], [40, 200, 60], [40, 60, 220], [240, 240, 240]];
const SKIN: [u8; 3] = [200, 150, 120];
const W: u32 = 640;
const H: u32 = 360;

fn write_card(path: &Path) {
    let mut rgb = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H {
        for x in 0..W {
            let centre = x.abs_diff(W / 2) < 100 && y.abs_diff(H / 2) < 60;
            let quadrant = usize::from(x >= W / 2) + 2 * usize::from(y >= H / 2);
            rgb.extend_from_slice(if centre { &SKIN } else { &QUADRANTS[quadrant] });
        }
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = png::Encoder::new(file, W, H);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&rgb)
        .unwrap();
}

/// The RGB pixels of a PNG the bot wrote (RGBA), and its size.
fn read_png(path: &Path) -> (Vec<[u8; 3]>, (u32, u32)) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixels = buf.chunks_exact(4).map(|p| [p[0], p[1], p[2]]).collect();
    (pixels, (info.width, info.height))
}

fn at(pixels: &[[u8; 3]], x: u32, y: u32) -> [u8; 3] {
    pixels[(y * W + x) as usize]
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 24)
}

/// Mean luma (BT.601) of the skin patch.
fn skin_luma(pixels: &[[u8; 3]]) -> f64 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in H / 2 - 40..H / 2 + 40 {
        for x in W / 2 - 80..W / 2 + 80 {
            let [r, g, b] = at(pixels, x, y).map(f64::from);
            sum += 0.299 * r + 0.587 * g + 0.114 * b;
            n += 1.0;
        }
    }
    sum / n
}

#[test]
fn a_still_card_reaches_the_viewer_and_beauty_lightens_its_skin() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("brb card.png");
    write_card(&card);
    let snapshots = dir.path().join("seen");
    let report = |name: &str| dir.path().join(format!("{name}.json"));
    let viewer = bot(
        &server,
        &token("show", "viewer", "join", "600"),
        &["--duration", "6", "--snapshot", snapshots.to_str().unwrap()],
        &report("viewer"),
    );
    std::thread::sleep(std::time::Duration::from_millis(400));
    let publish = format!("video=image:{}@10", card.display());
    let host = |user: &str, extra: &[&str]| {
        let mut args = vec!["--role", "host", "--publish", &publish, "--duration", "4"];
        args.extend_from_slice(extra);
        bot(
            &server,
            &token("show", user, HOST, "600"),
            &args,
            &report(user),
        )
    };
    let plain = host("plain", &[]);
    let lit = host("lit", &["--beauty", "lighten=1,smooth=0.5"]);

    for (child, name) in [(plain, "plain"), (lit, "lit")] {
        let (ok, r) = finish(child, &report(name));
        assert!(ok, "{r}");
        let sent = r["published"]["video_frames"].as_u64().unwrap();
        assert!((25..=45).contains(&sent), "about 10 fps for 4 s: {sent}");
    }
    let (ok, v) = finish(viewer, &report("viewer"));
    assert!(ok, "{v}");
    for user in ["plain", "lit"] {
        assert!(v["video"][user]["frames"].as_u64().unwrap() >= 20, "{v}");
        assert_eq!(v["video"][user]["decode_errors"], 0, "{v}");
    }

    // What the viewer saw of the plain card is the card.
    let (plain, size) = read_png(&snapshots.join("plain-camera.png"));
    assert_eq!(size, (W, H));
    for (i, (x, y)) in [(80, 60), (560, 60), (80, 300), (560, 300)]
        .into_iter()
        .enumerate()
    {
        let got = at(&plain, x, y);
        assert!(close(got, QUADRANTS[i]), "quadrant {i}: {got:?}");
    }
    let centre = at(&plain, W / 2, H / 2);
    assert!(close(centre, SKIN), "the skin patch: {centre:?}");

    // Lightening raised the skin's luma; the background kept its colours.
    let (lit, _) = read_png(&snapshots.join("lit-camera.png"));
    let (before, after) = (skin_luma(&plain), skin_luma(&lit));
    assert!(
        after > before + 10.0,
        "lighten=1 raised the skin's luma from {before:.1} to only {after:.1}"
    );
    let green = at(&lit, 560, 60);
    assert!(
        close(green, QUADRANTS[1]),
        "the background is kept: {green:?}"
    );
}

#[test]
fn a_video_file_plays_to_the_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    common::test_clip(&clip, 6, &["-profile:v", "baseline", "-g", "30"]);

    let server = serve(&[]);
    let report = |name: &str| dir.path().join(format!("{name}.json"));
    let viewer = bot(
        &server,
        &token("film", "viewer", "join", "600"),
        &["--duration", "5"],
        &report("viewer"),
    );
    std::thread::sleep(std::time::Duration::from_millis(400));
    let publish = format!("video=file:{}", clip.display());
    let host = bot(
        &server,
        &token("film", "host", HOST, "600"),
        &["--role", "host", "--publish", &publish, "--duration", "4"],
        &report("host"),
    );
    let (ok, h) = finish(host, &report("host"));
    assert!(ok, "{h}");
    let (ok, v) = finish(viewer, &report("viewer"));
    assert!(ok, "{v}");
    let video = &v["video"]["host"];
    let frames = video["frames"].as_u64().unwrap();
    assert!(frames >= 90, "30 fps for about 4 s: {video}");
    assert_eq!(video["in_order"], true, "{video}");
    assert_eq!(video["decode_errors"], 0, "{video}");
}

#[test]
fn bad_sources_and_beauty_values_are_clear_errors() {
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card.png");
    write_card(&card);
    let image = format!("video=image:{}", card.display());
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["--publish", &image, "--beauty", "smooth=2"],
            "invalid_input",
            "smooth",
        ),
        (
            &["--publish", &image, "--beauty", "glow=1"],
            "invalid_input",
            "glow",
        ),
        (
            &["--publish", "video=image:/no/such/card.png"],
            "invalid_input",
            "/no/such/card.png",
        ),
        (
            &["--publish", "video=file:/no/such/clip.mp4"],
            "invalid_input",
            "/no/such/clip.mp4",
        ),
    ];
    for (i, (args, code, named)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.json"));
        let mut all = vec!["--role", "host", "--duration", "3"];
        all.extend_from_slice(args);
        let child = bot(
            &server,
            &token("bad", &format!("b{i}"), HOST, "600"),
            &all,
            &path,
        );
        let (ok, r) = finish(child, &path);
        assert!(!ok, "{args:?} must fail: {r}");
        assert_eq!(r["error"]["code"], code, "{args:?}: {r}");
        let message = r["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{args:?}: {message}");
    }

    // No webcam on a CI machine: `camera_unavailable`, saying why.
    if !Path::new("/dev/video0").exists() {
        let path = dir.path().join("camera.json");
        let args = [
            "--role",
            "host",
            "--duration",
            "3",
            "--publish",
            "video=camera",
        ];
        let (ok, r) = finish(
            bot(&server, &token("bad", "cam", HOST, "600"), &args, &path),
            &path,
        );
        assert!(!ok, "{r}");
        assert_eq!(r["error"]["code"], "camera_unavailable", "{r}");
        let listed = Command::new(BIN).arg("cameras").output().unwrap();
        assert_eq!(listed.status.code(), Some(1));
        let said = String::from_utf8_lossy(&listed.stderr);
        assert!(said.contains("camera_unavailable: "), "{said}");
    }
}
