//! Screen sharing end to end with the real binary on a private X server (Xvfb with openbox): a
//! host bot shares a test window beside its camera, another shares a region of the display;
//! a viewer bot receives every track and its `--snapshot` shows the window's four coloured
//! quadrants where they belong. `livestage screens` lists the window.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../media/tests/xserver/mod.rs"]
mod xserver;

use std::path::Path;
use std::process::Command;

use common::cli::*;
use serde_json::Value;
use xserver::{QUADRANTS, TestWindow};

/// The colour of pixel `x`,`y` of a PNG file, and its size.
fn pixel(path: &Path, x: u32, y: u32) -> ([u8; 3], (u32, u32)) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let at = ((y * info.width + x) * 4) as usize;
    (
        [buf[at], buf[at + 1], buf[at + 2]],
        (info.width, info.height),
    )
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 24)
}

#[test]
fn a_window_beside_the_camera_and_a_region_reach_a_viewer() {
    let x = xserver::Server::start(1280, 720, true);
    let window = TestWindow::open(&x, "Rules card", (200, 120), (400, 300));
    let (wx, wy) = window.position();

    // `livestage screens` lists the window a game would offer in its picker.
    let listed = Command::new(BIN)
        .args(["screens", "--json"])
        .env("DISPLAY", &x.name)
        .output()
        .unwrap();
    assert!(listed.status.success());
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["displays"][0]["width"], 1280, "{listed}");
    let entry = listed["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == window.id)
        .cloned()
        .unwrap_or_else(|| panic!("window {} not listed: {listed}", window.id));
    assert_eq!(entry["title"], "Rules card");

    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().join("seen");
    let report = |name: &str| dir.path().join(format!("{name}.json"));
    let viewer = bot(
        &server,
        &token("class", "viewer", "join", "600"),
        &["--duration", "7", "--snapshot", snapshots.to_str().unwrap()],
        &report("viewer"),
    );
    std::thread::sleep(std::time::Duration::from_millis(400));
    let teacher_publish = format!(
        "video=testpattern:320x180@15,screen=window:{:#x}@10,audio=tone:440",
        window.id
    );
    let teacher = bot_on(
        &x.name,
        &server,
        &token("class", "teacher", HOST, "600"),
        &[
            "--role",
            "host",
            "--publish",
            &teacher_publish,
            "--duration",
            "5",
        ],
        &report("teacher"),
    );
    // The right half of the window, as a region of the display.
    let region = format!("screen=region:{},{},200,300@10", wx + 200, wy);
    let helper = bot_on(
        &x.name,
        &server,
        &token("class", "helper", HOST, "600"),
        &["--role", "host", "--publish", &region, "--duration", "5"],
        &report("helper"),
    );

    let (ok, t) = finish(teacher, &report("teacher"));
    assert!(ok, "{t}");
    let (ok, h) = finish(helper, &report("helper"));
    assert!(ok, "{h}");
    let (ok, v) = finish(viewer, &report("viewer"));
    assert!(ok, "{v}");

    // Both of the teacher's videos arrive, each its own track; the camera keeps its old key.
    let frames = |key: &str| v["video"][key]["frames"].as_u64().unwrap_or(0);
    assert!(frames("teacher/camera") >= 40, "{v}");
    assert!(frames("teacher/screen") >= 20, "{v}");
    assert_eq!(v["video"]["teacher"], v["video"]["teacher/camera"]);
    assert!(frames("helper/screen") >= 20, "{v}");
    assert!(
        v["audio"]["teacher/microphone"]["frames"].as_u64().unwrap() >= 150,
        "{v}"
    );
    assert_eq!(v["video"]["teacher/screen"]["decode_errors"], 0, "{v}");

    // The window share: 400x300 (never upscaled), the quadrants where the window has them.
    let shot = snapshots.join("teacher-screen.png");
    let (_, size) = pixel(&shot, 0, 0);
    assert_eq!(size, (400, 300));
    for (i, (px, py)) in [(100, 75), (300, 75), (100, 225), (300, 225)]
        .into_iter()
        .enumerate()
    {
        let (got, _) = pixel(&shot, px, py);
        assert!(
            close(got, QUADRANTS[i]),
            "quadrant {i} at {px},{py}: {got:?}"
        );
    }
    // The region share: the right half, so the top-right and bottom-right quadrants.
    let shot = snapshots.join("helper-screen.png");
    let (top, size) = pixel(&shot, 100, 75);
    assert_eq!(size, (200, 300));
    assert!(close(top, QUADRANTS[1]), "{top:?}");
    let (bottom, _) = pixel(&shot, 100, 225);
    assert!(close(bottom, QUADRANTS[3]), "{bottom:?}");
    // The camera's picture is there too.
    assert!(snapshots.join("teacher-camera.png").exists());
}

#[test]
fn a_window_that_does_not_exist_is_a_clear_error_and_nothing_else_breaks() {
    let x = xserver::Server::start(640, 480, false);
    let server = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let run = |publish: &str| {
        let child = bot_on(
            &x.name,
            &server,
            &token("class", "teacher", HOST, "600"),
            &["--role", "host", "--publish", publish, "--duration", "1"],
            &path,
        );
        finish(child, &path)
    };
    let (ok, r) = run("screen=window:0x7fffff0");
    assert!(!ok);
    assert_eq!(r["joined"], true, "{r}");
    assert_eq!(r["error"]["code"], "invalid_input", "{r}");
    let (ok, r) = run("screen=region:600,400,200,200");
    assert!(!ok);
    assert_eq!(r["error"]["code"], "invalid_input", "{r}");
    // No display server at all.
    let child = bot_on(
        ":9999",
        &server,
        &token("class", "teacher", HOST, "600"),
        &[
            "--role",
            "host",
            "--publish",
            "screen=display",
            "--duration",
            "1",
        ],
        &path,
    );
    let (ok, r) = finish(child, &path);
    assert!(!ok);
    assert_eq!(r["error"]["code"], "screen_unavailable", "{r}");
}
