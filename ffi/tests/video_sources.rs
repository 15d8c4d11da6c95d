//! Video sources and beauty through the C ABI, against an in-process server: a host engine
//! publishes a PNG it wrote as its camera track, a viewer engine receives it.
//!
//! - The viewer sees the picture as sent; with beauty's lightening at 1 the skin-toned
//!   picture's luma rises on the viewer's screen, and with beauty off (null) it comes back.
//! - A video file (made by ffmpeg) forwarded once reaches the viewer, then ends its track with
//!   a `track_ended` event (`source_ended`).
//! - Beauty out of range is refused, naming the value, and changes nothing.
//! - Without a webcam (CI), listing and publishing cameras give `LIVESTAGE_ERR_UNAVAILABLE`
//!   (`camera_unavailable`) with the reason; a missing picture or video file is
//!   `LIVESTAGE_ERR_ARGUMENT` naming the path.
// Calling a C ABI from Rust takes unsafe blocks; each says why its pointers are valid.
#![allow(unsafe_code, clippy::unwrap_used)]

mod common;

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use common::{HOST, join_engine, last_error, wait_event};
use livestage_ffi::*;
use livestage_server::{Config, Embedded};

const W: u32 = 320;
const H: u32 = 240;
/// Skin: BT.601 Y 150, Cb 110, Cr 150 as RGB, inside beauty's skin mask.
const SKIN: [u8; 3] = [191, 145, 120];

/// The luma BT.601 (limited range) gives `rgb`.
fn luma_of(rgb: [u8; 3]) -> f64 {
    let [r, g, b] = rgb.map(f64::from);
    16.0 + 0.257 * r + 0.504 * g + 0.098 * b
}

/// A `W` x `H` PNG of skin with a little noise, written to a fresh file; returns its path.
fn skin_png(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ffi_video_sources");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut encoder = png::Encoder::new(file, W, H);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let pixels: Vec<u8> = (0..(W * H) as usize)
        .flat_map(|i| SKIN.map(|c| c + (i * 7919 % 5) as u8))
        .collect();
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    path
}

fn c_path(path: &Path) -> CString {
    CString::new(path.to_str().unwrap()).unwrap()
}

/// The mean luma of the newest picture of `cam`'s camera track on the viewer, when there is
/// one newer than `last` (its `seq` with it).
fn newest_luma(viewer: i64, last: u64) -> Option<(u64, f64)> {
    let (mut y, mut u, mut v) = (vec![0u8; 1 << 20], vec![0u8; 1 << 18], vec![0u8; 1 << 18]);
    let planes = LivestagePlanes {
        y: y.as_mut_ptr(),
        u: u.as_mut_ptr(),
        v: v.as_mut_ptr(),
        y_capacity: y.len(),
        u_capacity: u.len(),
        v_capacity: v.len(),
        y_stride: 0,
        u_stride: 0,
        v_stride: 0,
    };
    let mut out = LivestageFrame::default();
    // SAFETY: literal C strings; the planes are valid for their capacities; `out` is valid.
    let rc = unsafe {
        livestage_video_frame_i420(
            viewer,
            c"show".as_ptr(),
            c"cam".as_ptr(),
            0,
            last,
            0,
            &planes,
            &mut out,
        )
    };
    assert!(rc >= 0, "{}", last_error());
    if rc == 0 {
        return None;
    }
    let luma = &y[..(out.width * out.height) as usize];
    let mean = luma.iter().map(|&p| f64::from(p)).sum::<f64>() / luma.len() as f64;
    Some((out.seq, mean))
}

/// Waits up to `limit` for a picture whose mean luma `fits`; returns the last mean seen.
fn wait_luma(viewer: i64, limit: Duration, fits: impl Fn(f64) -> bool) -> f64 {
    let end = Instant::now() + limit;
    let (mut seq, mut mean) = (0, f64::NAN);
    while Instant::now() < end {
        if let Some((s, m)) = newest_luma(viewer, seq) {
            (seq, mean) = (s, m);
            if fits(mean) {
                return mean;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    mean
}

fn set_beauty(engine: i64, options: Option<LivestageBeautyOptions>) -> i32 {
    let options = options.as_ref().map_or(null(), std::ptr::from_ref);
    // SAFETY: null or a valid struct.
    unsafe { livestage_beauty(engine, options) }
}

#[test]
fn a_published_picture_reaches_the_viewer_and_lightening_raises_its_luma() {
    let server = Embedded::start(Config::default()).unwrap();
    let host = join_engine(&server, "cam", HOST, LIVESTAGE_ROLE_HOST, 2).0;
    let viewer = join_engine(&server, "viewer", "join", LIVESTAGE_ROLE_AUDIENCE, 2).0;
    let path = c_path(&skin_png("skin.png"));
    // SAFETY: NUL-terminated strings.
    let rc = unsafe { livestage_image_publish(host, c"show".as_ptr(), path.as_ptr(), 15.0) };
    assert_eq!(rc, 0, "{}", last_error());
    let event = wait_event(viewer, Duration::from_secs(10), |e| {
        e["type"] == "participant"
            && e["participant"]["user"] == "cam"
            && !e["participant"]["tracks"].as_array().unwrap().is_empty()
    });
    let track = &event["participant"]["tracks"][0];
    assert_eq!(
        (&track["id"], &track["source"]),
        (&0.into(), &"camera".into())
    );

    let sent = luma_of(SKIN) + 2.0; // The noise adds 0 to 4 to each channel.
    let seen = wait_luma(viewer, Duration::from_secs(10), |m| (m - sent).abs() < 4.0);
    assert!(
        (seen - sent).abs() < 4.0,
        "the viewer sees the picture as sent: sent {sent:.1}, seen {seen:.1}"
    );

    let lighten = LivestageBeautyOptions {
        lightening: 1.0,
        ..livestage_beauty_options_default()
    };
    assert_eq!(set_beauty(host, Some(lighten)), 0, "{}", last_error());
    let lit = wait_luma(viewer, Duration::from_secs(10), |m| m > sent + 10.0);
    assert!(
        lit > sent + 10.0,
        "lightening raised the skin's luma on the viewer's screen: sent {sent:.1}, seen {lit:.1}"
    );

    // Null turns beauty off, live: the viewer soon sees the picture as sent again.
    assert_eq!(set_beauty(host, None), 0, "{}", last_error());
    let back = wait_luma(viewer, Duration::from_secs(10), |m| (m - sent).abs() < 4.0);
    assert!(
        (back - sent).abs() < 4.0,
        "with beauty off the viewer sees the picture as sent: sent {sent:.1}, seen {back:.1}"
    );

    // The picture is the camera track: the call that stops pushed frames stops it.
    // SAFETY: a literal C string.
    assert_eq!(
        unsafe { livestage_video_unpublish(host, c"show".as_ptr()) },
        0
    );
    wait_event(viewer, Duration::from_secs(10), |e| {
        e["type"] == "track_unpublished"
    });
    // SAFETY: a literal C string.
    let again = unsafe { livestage_video_unpublish(host, c"show".as_ptr()) };
    assert_eq!(again, LIVESTAGE_ERR_NOT_PUBLISHING);
    assert_eq!(livestage_engine_free(viewer), 0);
    assert_eq!(livestage_engine_free(host), 0);
}

/// A 2 s 320x240 H.264 MP4 at 30 fps without B-frames (forwardable), made by ffmpeg.
fn clip() -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ffi_video_sources/clip.mp4");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=30",
        ])
        .args(["-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .args(["-profile:v", "baseline", "-g", "15", "-bf", "0"])
        .arg(&path)
        .status()
        .expect("ffmpeg (./dev setup installs it; CI has it)");
    assert!(status.success(), "ffmpeg made no clip");
    path
}

#[test]
fn a_file_played_once_reaches_the_viewer_and_then_ends_its_track() {
    let path = c_path(&clip());
    let server = Embedded::start(Config::default()).unwrap();
    let host = join_engine(&server, "cam", HOST, LIVESTAGE_ROLE_HOST, 2).0;
    let viewer = join_engine(&server, "viewer", "join", LIVESTAGE_ROLE_AUDIENCE, 2).0;
    // SAFETY: NUL-terminated strings.
    let rc = unsafe {
        livestage_file_publish(
            host,
            c"show".as_ptr(),
            path.as_ptr(),
            0,
            LIVESTAGE_FILE_FORWARD,
        )
    };
    assert_eq!(rc, 0, "{}", last_error());
    let ended = wait_event(host, Duration::from_secs(10), |e| {
        e["type"] == "track_ended"
    });
    assert_eq!(
        (&ended["track"], &ended["error"]["code"]),
        (&0.into(), &"source_ended".into())
    );
    let mut stats = LivestageStats::default();
    // SAFETY: literal C strings; `stats` is valid.
    let rc =
        unsafe { livestage_stats_track(viewer, c"show".as_ptr(), c"cam".as_ptr(), 0, &mut stats) };
    assert_eq!(rc, 1, "{}", last_error());
    // 60 frames in the file; the viewer joined first, so it decodes from the first keyframe.
    assert!(
        (50..=60).contains(&stats.video_frames),
        "the viewer decoded {} of the file's 60 frames",
        stats.video_frames
    );
    assert_eq!(livestage_engine_free(viewer), 0);
    assert_eq!(livestage_engine_free(host), 0);
}

#[test]
fn beauty_out_of_range_is_refused_naming_the_value() {
    let engine = livestage_engine_new(48_000, 2, 0);
    assert!(engine > 0, "{}", last_error());
    let defaults = livestage_beauty_options_default();
    assert_eq!(defaults.contrast, LIVESTAGE_CONTRAST_NORMAL);
    let bad = [
        (
            LivestageBeautyOptions {
                smoothness: 1.5,
                ..defaults
            },
            "smoothness",
        ),
        (
            LivestageBeautyOptions {
                lightening: f32::NAN,
                ..defaults
            },
            "lightening",
        ),
        (
            LivestageBeautyOptions {
                redness: -0.1,
                ..defaults
            },
            "redness",
        ),
        (
            LivestageBeautyOptions {
                contrast: 3,
                ..defaults
            },
            "contrast",
        ),
    ];
    for (options, field) in bad {
        assert_eq!(set_beauty(engine, Some(options)), LIVESTAGE_ERR_ARGUMENT);
        assert!(last_error().contains(field), "{field}: {}", last_error());
    }
    let good = LivestageBeautyOptions {
        smoothness: 0.7,
        lightening: 0.5,
        contrast: LIVESTAGE_CONTRAST_HIGH,
        redness: 0.2,
        sharpness: 1.0,
    };
    assert_eq!(set_beauty(engine, Some(good)), 0, "{}", last_error());
    assert_eq!(set_beauty(engine, None), 0, "{}", last_error());
    assert_eq!(livestage_engine_free(engine), 0);
    assert_eq!(set_beauty(engine, None), LIVESTAGE_ERR_HANDLE);
}

#[test]
fn cameras_and_files_that_cannot_be_used_are_clear_errors() {
    let server = Embedded::start(Config::default()).unwrap();
    let host = join_engine(&server, "cam", HOST, LIVESTAGE_ROLE_HOST, 2).0;
    let show = c"show".as_ptr();

    // No webcam on a CI machine: the listing and the camera say so, with the reason. Where
    // one exists, the listing names it and an index far beyond any is an argument error.
    // SAFETY: a null buffer asks for the size only.
    let listed = unsafe { livestage_cameras(null_mut(), 0) };
    // SAFETY: a literal C string.
    let far = unsafe { livestage_camera_publish(host, show, 9999, 640, 360, 30.0) };
    if listed == LIVESTAGE_ERR_UNAVAILABLE {
        assert_eq!(far, LIVESTAGE_ERR_UNAVAILABLE);
        assert!(
            last_error().contains("camera is unavailable"),
            "{}",
            last_error()
        );
        // SAFETY: a literal C string.
        let first = unsafe { livestage_camera_publish(host, show, -1, 0, 0, 30.0) };
        assert_eq!(first, LIVESTAGE_ERR_UNAVAILABLE, "{}", last_error());
    } else {
        assert!(listed > 0, "{}", last_error());
        let mut json = vec![0 as std::ffi::c_char; listed as usize];
        // SAFETY: the buffer is valid for its length.
        let size = unsafe { livestage_cameras(json.as_mut_ptr(), json.len()) };
        assert_eq!(size, listed);
        // SAFETY: NUL-terminated by livestage_cameras.
        let text = unsafe { std::ffi::CStr::from_ptr(json.as_ptr()) }
            .to_str()
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert!(value["cameras"].is_array(), "{value}");
        assert_eq!(far, LIVESTAGE_ERR_ARGUMENT, "{}", last_error());
    }
    // Arguments are checked before any camera is opened.
    // SAFETY: a literal C string.
    let bad_index = unsafe { livestage_camera_publish(host, show, -2, 0, 0, 30.0) };
    assert_eq!(bad_index, LIVESTAGE_ERR_ARGUMENT);
    // SAFETY: a literal C string.
    let bad_fps = unsafe { livestage_camera_publish(host, show, -1, 0, 0, 0.0) };
    assert_eq!(bad_fps, LIVESTAGE_ERR_ARGUMENT);

    // Missing files are named.
    let clip = c"/nonexistent/clip.mp4";
    // SAFETY: literal C strings.
    let rc = unsafe { livestage_file_publish(host, show, clip.as_ptr(), 0, LIVESTAGE_FILE_AUTO) };
    assert_eq!(rc, LIVESTAGE_ERR_ARGUMENT);
    assert!(
        last_error().contains("/nonexistent/clip.mp4"),
        "{}",
        last_error()
    );
    let card = c"/nonexistent/card.png";
    // SAFETY: literal C strings.
    let rc = unsafe { livestage_image_publish(host, show, card.as_ptr(), 2.0) };
    assert_eq!(rc, LIVESTAGE_ERR_ARGUMENT);
    assert!(
        last_error().contains("/nonexistent/card.png"),
        "{}",
        last_error()
    );
    // A file that is not a picture names itself too.
    let source = c_path(
        Path::new(file!())
            .canonicalize()
            .as_deref()
            .unwrap_or(Path::new(file!())),
    );
    // SAFETY: NUL-terminated strings.
    let rc = unsafe { livestage_image_publish(host, show, source.as_ptr(), 2.0) };
    assert_eq!(rc, LIVESTAGE_ERR_ARGUMENT);
    assert!(
        last_error().contains("video_sources.rs"),
        "{}",
        last_error()
    );
    // Bad modes and flags; a channel not joined is refused before the file is opened.
    // SAFETY: literal C strings.
    let rc = unsafe { livestage_file_publish(host, show, clip.as_ptr(), 0, 7) };
    assert_eq!(rc, LIVESTAGE_ERR_ARGUMENT);
    assert!(
        last_error().contains("LIVESTAGE_FILE_AUTO"),
        "{}",
        last_error()
    );
    // SAFETY: literal C strings.
    let rc = unsafe { livestage_file_publish(host, show, clip.as_ptr(), 2, 0) };
    assert_eq!(rc, LIVESTAGE_ERR_ARGUMENT);
    // SAFETY: literal C strings.
    let rc = unsafe { livestage_file_publish(host, c"lobby".as_ptr(), clip.as_ptr(), 0, 0) };
    assert_eq!(rc, LIVESTAGE_ERR_NOT_JOINED);
    // SAFETY: a literal C string; a null path is refused.
    let rc = unsafe { livestage_image_publish(host, show, null(), 2.0) };
    assert_eq!(rc, LIVESTAGE_ERR_NULL);

    // Nothing was published by any of these.
    // SAFETY: a literal C string.
    let rc = unsafe { livestage_video_unpublish(host, show) };
    assert_eq!(rc, LIVESTAGE_ERR_NOT_PUBLISHING);
    assert_eq!(livestage_engine_free(host), 0);
}
