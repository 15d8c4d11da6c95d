//! Video sources through the whole path (publisher -> server -> viewer's decoder): a video
//! file forwarded without re-encoding and one decoded and re-encoded, a still picture with
//! beauty applied before encode, a webcam's recorded YUYV frames, and the errors a bad source
//! gives. File fixtures are made by ffmpeg at test time.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use livestage::net::engine::EventKind;
use livestage::net::playout::{Config, Playout};
use livestage::net::publish::{Publisher, Video, VideoControls, VideoSource, camera_error};
use livestage::proto::track::CAMERA;
use livestage::proto::wire::Role;
use livestage::proto::{ErrorCode, track};
use livestage::server::Config as ServerConfig;
use livestage_media::video::I420;
use livestage_media::video::beauty;
use livestage_media::video::camera::{self, CameraSource, Format, Recording};
use livestage_media::video::file::{Mode, Options};

fn playout(viewer: &Arc<livestage::net::Engine>) -> Playout {
    Playout::start(
        viewer.clone(),
        Config {
            device: false,
            ..Config::default()
        },
    )
    .unwrap()
}

/// A 320x240 H.264 test video of `secs` seconds at 30 fps made by ffmpeg with `args`.
fn fixture(name: &str, secs: u32, args: &[&str]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("video_sources");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    test_clip(&path, secs, args);
    path
}

/// Publishes `video` from a host and waits until the viewer decoded `frames` pictures of the
/// camera track or `limit` passed; gives the viewer's playout, the host and the publisher.
struct Watched {
    _server: livestage::server::Embedded,
    _viewer: Arc<livestage::net::Engine>,
    host: Arc<livestage::net::Engine>,
    publisher: Publisher,
    playout: Playout,
    host_id: u64,
}

fn publish_and_watch(video: Video, frames: u64, limit: Duration) -> Watched {
    let server = server(ServerConfig::default());
    let host = Arc::new(join(&server, server.addr, "host", HOST, Role::Host));
    let (viewer, host_id) = join_watching(&server, "viewer", "join", Role::Audience, "host");
    let viewer = Arc::new(viewer);
    let playout = playout(&viewer);
    let publisher = Publisher::start(host.clone(), CHANNEL, Some(video), None).unwrap();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let decoded = playout
            .stats(CHANNEL, host_id, CAMERA)
            .map_or(0, |s| s.video_frames);
        if decoded >= frames {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Watched {
        _server: server,
        _viewer: viewer,
        host,
        publisher,
        playout,
        host_id,
    }
}

fn decoded(w: &Watched) -> u64 {
    w.playout
        .stats(CHANNEL, w.host_id, CAMERA)
        .map_or(0, |s| s.video_frames)
}

#[test]
fn a_file_without_b_frames_is_forwarded_and_a_played_once_file_ends_its_track() {
    let path = fixture(
        "forward.mp4",
        2,
        &["-profile:v", "baseline", "-g", "15", "-bf", "0"],
    );
    let source = VideoSource::file(
        &path,
        Options {
            looped: false,
            mode: Mode::Forward,
        },
    )
    .unwrap();
    let w = publish_and_watch(Video::new(source, 30.0), 45, Duration::from_secs(10));
    let seen = wait(
        &w.host,
        Duration::from_secs(10),
        |k| matches!(k, EventKind::TrackEnded { track: track::CAMERA, error } if error.code == ErrorCode::SourceEnded),
    );
    assert!(seen.is_ok(), "a file played once ends its track: {seen:?}");
    std::thread::sleep(Duration::from_millis(300));
    let frames = decoded(&w);
    // 60 frames in the file; the viewer joined first, so it decodes from the first keyframe.
    assert!(
        (55..=60).contains(&frames),
        "the viewer decoded {frames} of the file's 60 frames"
    );
    let latest = w.playout.latest_video(CHANNEL, w.host_id, CAMERA).unwrap();
    assert_eq!(latest.picture.size(), (320, 240));
    drop(w.publisher);
}

#[test]
fn a_file_with_b_frames_is_decoded_and_re_encoded() {
    let path = fixture(
        "b_frames.mkv",
        3,
        &["-profile:v", "high", "-g", "30", "-bf", "2"],
    );
    let source = VideoSource::file(
        &path,
        Options {
            looped: true,
            mode: Mode::Auto,
        },
    )
    .unwrap();
    let w = publish_and_watch(Video::new(source, 30.0), 45, Duration::from_secs(10));
    let frames = decoded(&w);
    assert!(frames >= 45, "the viewer decoded {frames} frames");
    let latest = w.playout.latest_video(CHANNEL, w.host_id, CAMERA).unwrap();
    assert_eq!(latest.picture.size(), (320, 240));
    w.publisher.stop().unwrap();

    let refused = VideoSource::file(
        &path,
        Options {
            looped: false,
            mode: Mode::Forward,
        },
    )
    .err()
    .unwrap();
    assert_eq!(refused.code, ErrorCode::InvalidInput);
    assert!(refused.message.contains("B-frames"), "{}", refused.message);
}

/// A flat skin-toned picture (Y 150, Cb 110, Cr 150) with a little noise.
fn skin(width: u32, height: u32) -> I420 {
    let mut picture = I420::new(width, height).unwrap();
    let (y, u, v) = picture.planes_mut();
    for (i, y) in y.iter_mut().enumerate() {
        *y = 150 + (i * 7919 % 5) as u8;
    }
    u.fill(110);
    v.fill(150);
    picture
}

fn mean_luma(picture: &I420) -> f64 {
    picture.y().iter().map(|&y| f64::from(y)).sum::<f64>() / picture.y().len() as f64
}

#[test]
fn beauty_set_on_the_controls_reaches_the_viewer_and_changes_live() {
    let still = skin(320, 240);
    let sent_luma = mean_luma(&still);
    let controls = VideoControls::default();
    controls
        .set_beauty(beauty::Options {
            lightening: 1.0,
            ..beauty::Options::default()
        })
        .unwrap();
    let video = Video {
        controls: controls.clone(),
        ..Video::new(VideoSource::Still(still), 15.0)
    };
    let w = publish_and_watch(video, 10, Duration::from_secs(10));
    let lit = mean_luma(
        &w.playout
            .latest_video(CHANNEL, w.host_id, CAMERA)
            .unwrap()
            .picture,
    );
    assert!(
        lit > sent_luma + 10.0,
        "lightening raised the skin's luma on the viewer's screen: sent {sent_luma:.1}, seen {lit:.1}"
    );

    // Off again, live: the viewer soon sees the picture as it was.
    controls.set_beauty(beauty::Options::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = lit;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        seen = mean_luma(
            &w.playout
                .latest_video(CHANNEL, w.host_id, CAMERA)
                .unwrap()
                .picture,
        );
        if (seen - sent_luma).abs() < 3.0 {
            break;
        }
    }
    assert!(
        (seen - sent_luma).abs() < 3.0,
        "with beauty off the viewer sees the still as sent: sent {sent_luma:.1}, seen {seen:.1}"
    );
    w.publisher.stop().unwrap();
}

#[test]
fn a_webcams_yuyv_frames_reach_the_viewer() {
    // Two recorded 640x360 YUYV frames: grey and white, alternating.
    let (width, height) = (640u32, 360u32);
    let frame = |luma: u8| {
        (0..width * height / 2)
            .flat_map(|_| [luma, 128, luma, 128])
            .collect::<Vec<u8>>()
    };
    let recording = Recording {
        format: Format::Yuyv,
        width,
        height,
        stride: 0,
        fps: 30.0,
        frames: vec![frame(100), frame(200)],
        repeat: true,
    };
    let source = CameraSource::replay(recording, &camera::Options::default()).unwrap();
    let w = publish_and_watch(
        Video::new(VideoSource::Camera(source), 30.0),
        30,
        Duration::from_secs(10),
    );
    assert!(
        decoded(&w) >= 30,
        "the viewer decoded {} frames",
        decoded(&w)
    );
    let picture = w
        .playout
        .latest_video(CHANNEL, w.host_id, CAMERA)
        .unwrap()
        .picture
        .clone();
    assert_eq!(picture.size(), (width, height));
    let luma = mean_luma(&picture);
    assert!(
        (luma - 100.0).abs() < 4.0 || (luma - 200.0).abs() < 4.0,
        "the viewer sees one of the recorded frames, mean luma {luma:.1}"
    );
    w.publisher.stop().unwrap();
}

#[test]
fn bad_sources_are_clear_errors() {
    let missing = VideoSource::file("/nonexistent/clip.mp4", Options::default())
        .err()
        .unwrap();
    assert_eq!(missing.code, ErrorCode::InvalidInput);
    assert!(
        missing.message.contains("/nonexistent/clip.mp4"),
        "{}",
        missing.message
    );

    let not_a_picture = VideoSource::still(file!()).err().unwrap();
    assert_eq!(not_a_picture.code, ErrorCode::InvalidInput);

    // No webcam on a CI machine: opening one is `camera_unavailable` (or, where one exists,
    // a camera index far beyond any is `invalid_input`).
    let error =
        camera_error(&CameraSource::open(Some(9999), camera::Options::default()).unwrap_err());
    assert!(
        matches!(
            error.code,
            ErrorCode::CameraUnavailable | ErrorCode::InvalidInput
        ),
        "{error}"
    );
    if camera::devices().is_err() {
        assert_eq!(error.code, ErrorCode::CameraUnavailable, "{error}");
        assert_eq!(error.code.as_str(), "camera_unavailable");
    }
}
